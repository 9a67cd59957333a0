// The typed API: a C++ function type names the signature at compile time and
// converts arguments and results; underneath it is the dynamic API.
//
//   struct Point { int32_t x, y; };
//   DLLBRIDGE_DESCRIBE(Point, "point", DLLBRIDGE_FIELD(Point, x), DLLBRIDGE_FIELD(Point, y));
//
//   auto sum = lib.function<int32_t(dllbridge::In<int32_t>, int32_t)>("sum_i32");
//   sum(dllbridge::in(values), int32_t(values.size()));
//   auto make = lib.function<Point(int32_t, int32_t)>("point_make");
//   auto divmod = lib.function<int32_t(int32_t, int32_t, Out<int32_t>, Out<int32_t>)>("divmod");
//   int32_t q, r;
//   divmod(17, 5, dllbridge::out(q), dllbridge::out(r));
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "dllbridge/declaration.hpp"
#include "dllbridge/error.hpp"
#include "dllbridge/types.hpp"

namespace dllbridge {

class Function;

// An opaque pointer of the surrogate's process (void*, HANDLE): a number
// that only means something when passed back to the same session.
struct Handle {
  std::uint64_t value = 0;
  explicit operator bool() const noexcept { return value != 0; }
  friend bool operator==(Handle a, Handle b) noexcept { return a.value == b.value; }
  friend bool operator!=(Handle a, Handle b) noexcept { return a.value != b.value; }
};

// C types whose size is the DLL's, not this program's: `size_t` and `long`
// are 4 bytes in a 32-bit DLL, `BOOL` is a 4-byte int. Use these where the
// C declaration says so (a plain std::size_t would be spelled uint64_t).
template <class Rep, char Tag>
struct Native {
  Rep value{};
  Native() = default;
  Native(Rep v) : value(v) {}  // NOLINT: converts like the C type would
  operator Rep() const noexcept { return value; }
};
using SizeT = Native<std::uint64_t, 's'>;
using Long = Native<std::int64_t, 'l'>;
using ULong = Native<std::uint64_t, 'L'>;
using WinBool = Native<std::int32_t, 'B'>;

// Pointer parameters with their direction: the memory behind the pointer, in
// this process. `Count` names the parameter (by position, from 0) that holds
// the element count, as [size_is(argCount)]; by default the count is the
// span's size. A null `data` passes a null pointer.
//
// Text buffers (char, wchar_t, char16_t elements) travel as text: an Out or
// InOut one comes back NUL-terminated within its size. Give an InOut text
// buffer its Count parameter so the DLL sees the whole buffer, not just the
// text in it.
template <class T, Dir D, int Count>
struct Pointer {
  using pointer = std::conditional_t<D == Dir::in, const T*, T*>;
  pointer data = nullptr;
  std::size_t size = 0;
  Pointer() = default;
  Pointer(pointer d, std::size_t n) : data(d), size(n) {}
  template <int Other>  // what in() / out() / inout() make binds to any Count
  Pointer(const Pointer<T, D, Other>& o) : data(o.data), size(o.size) {}
};
template <class T, int Count = -1>
using In = Pointer<T, Dir::in, Count>;
template <class T, int Count = -1>
using Out = Pointer<T, Dir::out, Count>;
template <class T, int Count = -1>
using InOut = Pointer<T, Dir::inout, Count>;

// The wrappers from a vector, a C array, pointer + size, or one object.
template <class T>
In<T> in(const std::vector<T>& v) {
  return {v.data(), v.size()};
}
template <class T, std::size_t N>
In<T> in(const T (&a)[N]) {
  return {a, N};
}
template <class T>
In<T> in(const T* p, std::size_t n) {
  return {p, n};
}
template <class T>
In<T> in(const T& one) {
  return {&one, 1};
}
template <class T>
Out<T> out(std::vector<T>& v) {
  return {v.data(), v.size()};
}
template <class T, std::size_t N>
Out<T> out(T (&a)[N]) {
  return {a, N};
}
template <class T>
Out<T> out(T* p, std::size_t n) {
  return {p, n};
}
template <class T>
Out<T> out(T& one) {
  return {&one, 1};
}
template <class T>
In<T> in(const SharedBuffer<T>& b) {
  return {b.data(), b.size()};
}
template <class T>
Out<T> out(SharedBuffer<T>& b) {
  return {b.data(), b.size()};
}
template <class T>
InOut<T> inout(SharedBuffer<T>& b) {
  return {b.data(), b.size()};
}
template <class T>
InOut<T> inout(std::vector<T>& v) {
  return {v.data(), v.size()};
}
template <class T, std::size_t N>
InOut<T> inout(T (&a)[N]) {
  return {a, N};
}
template <class T>
InOut<T> inout(T* p, std::size_t n) {
  return {p, n};
}
template <class T>
InOut<T> inout(T& one) {
  return {&one, 1};
}

// A struct described once (DLLBRIDGE_DESCRIBE) and used by value, through
// In / Out / InOut, in other described structs and as a return value.
template <class S>
struct Describe;

template <class S, class F>
struct FieldDesc {
  const char* name;
  F S::*member;
};
template <class S, class F>
constexpr FieldDesc<S, F> field(const char* name, F S::*member) {
  return {name, member};
}

// A pointer field to `count` elements, `count` naming an integer field of
// the same struct ([size_is(count)]). The elements are sent with the
// struct and, for Out / InOut structs, copied back into the memory the
// pointer points to.
template <class S, class E>
struct SizedFieldDesc {
  const char* name;
  E* S::*member;
  const char* count;
};
template <class S, class E>
constexpr SizedFieldDesc<S, E> sized_field(const char* name, E* S::*member, const char* count) {
  return {name, member, count};
}

// DLLBRIDGE_DESCRIBE(S, "c_name", DLLBRIDGE_FIELD(S, a), DLLBRIDGE_FIELD(S, b), ...)
// at namespace scope: the fields in their C order; `c_name` is the struct's
// name in signatures. Fields are scalars, fixed arrays, Handle, described
// structs, function pointers (Fn: called back while the call runs, like an
// Fn parameter; a struct that comes back keeps its callable), and pointers
// with a count field: DLLBRIDGE_SIZED_FIELD(S, pts, n).
#define DLLBRIDGE_FIELD(S, f) ::dllbridge::field(#f, &S::f)
#define DLLBRIDGE_SIZED_FIELD(S, f, count) ::dllbridge::sized_field(#f, &S::f, #count)
#define DLLBRIDGE_DESCRIBE(S, NAME, ...)                                    \
  template <>                                                               \
  struct dllbridge::Describe<S> {                                           \
    static constexpr const char* name = NAME;                               \
    static constexpr auto fields() { return std::make_tuple(__VA_ARGS__); } \
  }

// A function-pointer parameter of the typed API (defined below): any C++
// callable with the signature R(A...), called when the DLL calls back.
template <class Signature, CallConv Conv = CallConv::Cdecl, bool Persistent = false>
class Fn;
// The same for a [persistent] parameter: the DLL may keep the function
// pointer and call it after the call, until the last copy of this object
// (and of the Callback it holds) is destroyed.
template <class Signature, CallConv Conv = CallConv::Cdecl>
using PersistentFn = Fn<Signature, Conv, true>;

namespace detail {

template <class T>
struct is_fn : std::false_type {};
template <class Signature, CallConv Conv, bool Persistent>
struct is_fn<Fn<Signature, Conv, Persistent>> : std::true_type {};

DLLBRIDGE_API std::string to_utf8(const std::wstring& text);
DLLBRIDGE_API std::string to_utf8(const std::u16string& text);
DLLBRIDGE_API std::wstring to_wstring(const std::string& utf8);
DLLBRIDGE_API std::u16string to_u16string(const std::string& utf8);

template <class T>
using bare = std::remove_cv_t<std::remove_reference_t<T>>;

template <class T, class = void>
struct is_described : std::false_type {};
template <class T>
struct is_described<T, std::void_t<decltype(Describe<T>::name)>> : std::true_type {};

template <class T>
constexpr bool is_text_unit =
    std::is_same_v<T, char> || std::is_same_v<T, wchar_t> || std::is_same_v<T, char16_t>;

template <class T>
struct direction {
  static constexpr int value = 0;
  static constexpr int count = -1;
};
template <class T, Dir D, int C>
struct direction<Pointer<T, D, C>> {
  static constexpr int value = static_cast<int>(D);
  static constexpr int count = C;
  using elem = T;
};

// The Native types by their scalar kind.
template <class T>
struct native_scalar {
  static constexpr bool value = false;
};
template <>
struct native_scalar<SizeT> {
  static constexpr bool value = true;
  static constexpr Scalar kind = Scalar::SizeT;
};
template <>
struct native_scalar<Long> {
  static constexpr bool value = true;
  static constexpr Scalar kind = Scalar::Long;
};
template <>
struct native_scalar<ULong> {
  static constexpr bool value = true;
  static constexpr Scalar kind = Scalar::ULong;
};
template <>
struct native_scalar<WinBool> {
  static constexpr bool value = true;
  static constexpr Scalar kind = Scalar::BOOL;
};

// The scalar kind of a C++ value type (not a struct).
template <class T>
constexpr Scalar scalar_kind() {
  if constexpr (native_scalar<T>::value) {
    return native_scalar<T>::kind;
  } else if constexpr (std::is_same_v<T, Handle>) {
    return Scalar::Handle;
  } else if constexpr (std::is_same_v<T, void>) {
    return Scalar::Void;
  } else if constexpr (std::is_same_v<T, bool>) {
    return Scalar::Bool;
  } else if constexpr (std::is_same_v<T, char>) {
    return Scalar::Char;
  } else if constexpr (std::is_same_v<T, wchar_t> || std::is_same_v<T, char16_t>) {
    return Scalar::WChar;  // text: converted to the DLL's wchar_t in the surrogate
  } else if constexpr (std::is_same_v<T, float>) {
    return Scalar::Float;
  } else if constexpr (std::is_same_v<T, double>) {
    return Scalar::Double;
  } else if constexpr (std::is_integral_v<T>) {
    static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8,
                  "no integer type of this size");
    constexpr Scalar kSigned[] = {Scalar::Void, Scalar::Int8, Scalar::Int16, Scalar::Void, Scalar::Int32,
                                  Scalar::Void, Scalar::Void, Scalar::Void,  Scalar::Int64};
    constexpr Scalar kUnsigned[] = {Scalar::Void, Scalar::UInt8,  Scalar::UInt16,
                                    Scalar::Void, Scalar::UInt32, Scalar::Void,
                                    Scalar::Void, Scalar::Void,   Scalar::UInt64};
    return std::is_signed_v<T> ? kSigned[sizeof(T)] : kUnsigned[sizeof(T)];
  } else {
    static_assert(sizeof(T) == 0, "this C++ type has no C type (describe structs with DLLBRIDGE_DESCRIBE)");
    return Scalar::Void;
  }
}

// Described structs whose trees are being built (a struct that reaches
// itself through a sized field cannot be marshaled).
using Building = std::vector<const char*>;

template <class T>
TypeDecl value_decl(Building& building);

template <class S, class F>
FieldDecl field_decl(Building& building, const FieldDesc<S, F>& f) {
  if constexpr (is_fn<F>::value) {
    return {f.name, F::declaration()};
  } else if constexpr (std::is_array_v<F>) {
    using E = std::remove_all_extents_t<F>;
    TypeDecl t = decl::array(static_cast<std::uint32_t>(std::extent_v<F>), value_decl<E>(building));
    t.text = is_text_unit<E>;
    return {f.name, std::move(t)};
  } else {
    return {f.name, value_decl<F>(building)};
  }
}

// A sized field: an [in, out] pointer counted by another field.
template <class S, class E>
FieldDecl field_decl(Building& building, const SizedFieldDesc<S, E>& f) {
  using B = std::remove_const_t<E>;
  TypeDecl t = decl::pointer(Dir::inout, value_decl<B>(building));
  t.text = is_text_unit<B>;
  t.size_is = f.count;
  return {f.name, std::move(t)};
}

template <class T>
TypeDecl value_decl(Building& building) {
  if constexpr (is_described<T>::value) {
    for (const char* name : building) {
      if (std::string(name) == Describe<T>::name) {
        throw Error(ErrorKind::bad_signature, std::string("struct ") + name + " cannot contain itself");
      }
    }
    building.push_back(Describe<T>::name);
    TypeDecl t;
    t.kind = TypeDecl::Kind::structure;
    t.struct_name = Describe<T>::name;
    std::apply([&](const auto&... f) { (t.fields.push_back(field_decl(building, f)), ...); },
               Describe<T>::fields());
    building.pop_back();
    return t;
  } else {
    return decl::scalar(scalar_kind<T>());
  }
}

// NUL-terminated [in] text: std::string, const char*, and the wide forms.
template <class T>
constexpr bool is_narrow_text = std::is_same_v<T, std::string> || std::is_same_v<T, const char*>;
template <class T>
constexpr bool is_wide_text = std::is_same_v<T, std::wstring> || std::is_same_v<T, std::u16string> ||
                              std::is_same_v<T, const wchar_t*> || std::is_same_v<T, const char16_t*>;

// A parameter's type: scalars and structs by value, text as [in, string],
// In / Out / InOut as pointers counted by their Count parameter ("argN") or
// by their value ([size_is(*)]).
template <class T>
TypeDecl param_decl(Building& building) {
  if constexpr (is_fn<T>::value) {
    return T::declaration();
  } else if constexpr (is_narrow_text<T> || is_wide_text<T>) {
    TypeDecl t = decl::pointer(Dir::in, decl::scalar(is_narrow_text<T> ? Scalar::Char : Scalar::WChar));
    t.text = true;
    t.nul_terminated = true;
    return t;
  } else if constexpr (direction<T>::value != 0) {
    using E = bare<typename direction<T>::elem>;
    constexpr int count = direction<T>::count;
    TypeDecl t = decl::pointer(static_cast<Dir>(direction<T>::value), value_decl<E>(building));
    t.text = is_text_unit<E>;
    t.size_is = count < 0 ? "*" : "arg" + std::to_string(count);
    return t;
  } else {
    return value_decl<T>(building);
  }
}

template <class R>
TypeDecl return_decl(Building& building) {
  if constexpr (std::is_same_v<R, std::string>) {
    return decl::text_return(Scalar::Char);
  } else if constexpr (std::is_same_v<R, std::wstring> || std::is_same_v<R, std::u16string>) {
    return decl::text_return(Scalar::WChar);
  } else {
    return value_decl<R>(building);
  }
}

// The declaration of R(A...): built from the C++ types once per signature;
// Library::function checks it like a parsed one.
template <class Signature>
struct declaration;
template <class R, class... A>
struct declaration<R(A...)> {
  static const FunctionDecl& shape() {
    static const FunctionDecl d = [] {
      FunctionDecl out;
      Building building;
      out.ret = return_decl<bare<R>>(building);
      std::size_t i = 0;
      ((out.params.push_back(ParamDecl{"arg" + std::to_string(i++), param_decl<bare<A>>(building)})), ...);
      return out;
    }();
    return d;
  }
};

template <class Signature>
FunctionDecl typed_declaration(const std::string& name, CallConv conv, bool variadic = false) {
  FunctionDecl d = declaration<Signature>::shape();
  d.name = name;
  d.conv = conv;
  d.variadic = variadic;
  return d;
}

template <class T>
Value to_value(const T& v);

// Numbers: element types that travel as packed bytes (Buffer), not as a Value each.
template <class E>
constexpr bool is_number =
    !is_text_unit<E> && (std::is_arithmetic_v<E> || native_scalar<E>::value || std::is_same_v<E, Handle>);

// Whether T is a pointer wrapper (In / Out / InOut) to numbers.
template <class T, class = void>
struct points_to_numbers : std::false_type {};
template <class T>
struct points_to_numbers<T, std::void_t<typename direction<T>::elem>>
    : std::bool_constant<is_number<std::remove_const_t<typename direction<T>::elem>>> {};

// A view of `n` numbers of type E: sent from `in`, returned into `out`.
template <class E>
Buffer buffer_of(const E* in, E* out, std::size_t n) {
  Buffer b;
  b.in = in;
  b.out = out;
  b.count = n;
  b.size = static_cast<std::uint8_t>(sizeof(E));
  if constexpr (std::is_same_v<E, bool>) {
    b.number = Buffer::Number::boolean;
  } else if constexpr (std::is_floating_point_v<E>) {
    b.number = Buffer::Number::floating;
  } else if constexpr (std::is_integral_v<E>) {
    b.number = std::is_signed_v<E> ? Buffer::Number::signed_int : Buffer::Number::unsigned_int;
  } else if constexpr (std::is_same_v<E, Handle>) {
    b.number = Buffer::Number::unsigned_int;
  } else {  // Native<Rep>: laid out as its Rep
    static_assert(sizeof(E) == sizeof(typename std::remove_reference_t<decltype(E{}.value)>));
    b.number =
        std::is_signed_v<decltype(E{}.value)> ? Buffer::Number::signed_int : Buffer::Number::unsigned_int;
  }
  return b;
}

// Elements of a span or array: text for text units, a view of the memory
// for numbers, a list otherwise.
template <class E>
Value elements_value(const E* p, std::size_t n) {
  if constexpr (is_text_unit<E>) {
    std::size_t len = 0;
    while (len < n && p[len] != 0) ++len;  // up to the first NUL
    if constexpr (std::is_same_v<E, char>) {
      return std::string(p, len);
    } else {
      return to_utf8(std::basic_string<E>(p, len));
    }
  } else if constexpr (is_number<E>) {
    return buffer_of<E>(p, nullptr, n);
  } else {
    List list;
    list.reserve(n);
    for (std::size_t i = 0; i < n; ++i) list.push_back(to_value(p[i]));
    return list;
  }
}

// The element count a sized field's count field holds in `obj`.
inline std::size_t count_in(const Object& obj, const char* count) {
  auto it = obj.find(count);
  if (it == obj.end()) return 0;
  if (const auto* i = std::get_if<std::int64_t>(&it->second))
    return *i > 0 ? static_cast<std::size_t>(*i) : 0;
  if (const auto* u = std::get_if<std::uint64_t>(&it->second)) return static_cast<std::size_t>(*u);
  return 0;
}

template <class S, class F>
void put_field(Object& obj, const S& v, const FieldDesc<S, F>& f) {
  obj.emplace(f.name, to_value(v.*(f.member)));
}
template <class S, class E>
void put_field(Object&, const S&, const SizedFieldDesc<S, E>&) {}
template <class S, class F>
void put_sized_field(Object&, const S&, const FieldDesc<S, F>&) {}
template <class S, class E>
void put_sized_field(Object& obj, const S& v, const SizedFieldDesc<S, E>& f) {
  const E* p = v.*(f.member);
  obj.emplace(f.name, p ? elements_value(p, count_in(obj, f.count)) : Value(Null{}));
}

// C++ argument -> Value.
template <class T>
Value to_value(const T& v) {
  if constexpr (is_fn<T>::value) {
    return v.callback();
  } else if constexpr (std::is_same_v<T, bool>) {
    return v;
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<double>(v);
  } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
    return static_cast<std::uint64_t>(v);
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<std::int64_t>(v);
  } else if constexpr (std::is_same_v<T, Handle> || native_scalar<T>::value) {
    return v.value;
  } else if constexpr (std::is_same_v<T, const char*>) {
    return v ? Value(std::string(v)) : Value(Null{});
  } else if constexpr (std::is_same_v<T, const wchar_t*> || std::is_same_v<T, const char16_t*>) {
    return v ? to_utf8(std::basic_string<std::remove_const_t<std::remove_pointer_t<T>>>(v)) : Value(Null{});
  } else if constexpr (std::is_same_v<T, std::wstring> || std::is_same_v<T, std::u16string>) {
    return to_utf8(v);  // the surrogate converts to its own wchar_t
  } else if constexpr (std::is_same_v<T, std::string>) {
    return v;
  } else if constexpr (std::is_array_v<T>) {
    return elements_value(v, std::extent_v<T>);
  } else if constexpr (is_described<T>::value) {
    Object obj;
    std::apply([&](const auto&... f) { (put_field(obj, v, f), ...); }, Describe<T>::fields());
    std::apply([&](const auto&... f) { (put_sized_field(obj, v, f), ...); }, Describe<T>::fields());
    return obj;
  } else if constexpr (direction<T>::value == 2) {  // Out: the element count (numbers: the memory), or null
    if (v.data == nullptr) return Null{};
    using E = std::remove_const_t<typename direction<T>::elem>;
    if constexpr (is_number<E>) {
      return buffer_of<E>(nullptr, v.data, v.size);
    } else {
      return static_cast<std::uint64_t>(v.size);
    }
  } else if constexpr (direction<T>::value == 3 && points_to_numbers<T>::value) {
    if (v.data == nullptr) return Null{};
    return buffer_of(v.data, v.data, v.size);  // sent from and returned into the caller's memory
  } else if constexpr (direction<T>::value != 0) {
    if (v.data == nullptr) return Null{};
    return elements_value(v.data, v.size);
  } else {
    static_assert(sizeof(T) == 0, "this C++ type cannot be passed");
  }
}

template <class T>
void assign(T& target, const Value& v);

// A result that does not fit the C++ type it is read into: Error(protocol)
// (the surrogate answered something the declaration does not allow).
[[noreturn]] inline void wrong_result(const char* expected, const Value& v) {
  static constexpr const char* kGot[] = {"null", "a boolean", "an integer", "an integer", "a number",
                                         "text", "a list",    "an object",  "a buffer"};
  throw Error(ErrorKind::protocol, std::string("result: expected ") + expected + ", got " + kGot[v.index()]);
}

// Text `v` (null: empty) as UTF-8.
inline const std::string& text_result(const Value& v) {
  static const std::string kEmpty;
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (std::holds_alternative<Null>(v)) return kEmpty;  // a null char* return
  wrong_result("text", v);
}

// Text `v` into `n` units at `p`, NUL-terminated within them.
template <class E>
void assign_text(E* p, std::size_t n, const Value& v) {
  if (n == 0) return;
  const std::string& s = text_result(v);
  std::basic_string<E> units;
  if constexpr (std::is_same_v<E, char>) {
    units = s;
  } else if constexpr (std::is_same_v<E, wchar_t>) {
    units = to_wstring(s);
  } else {
    units = to_u16string(s);
  }
  const std::size_t len = units.size() < n ? units.size() : n - 1;
  std::memcpy(p, units.data(), len * sizeof(E));
  p[len] = 0;
}

template <class E>
void assign_elements(E* p, std::size_t n, const Value& v) {
  if constexpr (is_text_unit<E>) {
    assign_text(p, n, v);
  } else if (const auto* list = std::get_if<List>(&v)) {
    for (std::size_t i = 0; i < n && i < list->size(); ++i) assign(p[i], (*list)[i]);
  } else if (n == 1) {
    assign(p[0], v);
  }
}

template <class S, class F>
void assign_field(S& target, const Object& obj, const FieldDesc<S, F>& f) {
  auto it = obj.find(f.name);
  if (it != obj.end()) assign(target.*(f.member), it->second);
}
// A sized field keeps its pointer; what it points to gets the elements back
// (up to the count the struct had when it was sent).
template <class S, class E>
void assign_field(S& target, const Object& obj, const SizedFieldDesc<S, E>& f) {
  E* p = target.*(f.member);
  auto it = obj.find(f.name);
  if constexpr (!std::is_const_v<E>) {
    if (p != nullptr && it != obj.end()) {
      const auto* list = std::get_if<List>(&it->second);
      assign_elements(p, list ? list->size() : 1, it->second);
    }
  }
}

// Value -> C++ object, in place. Throws Error(protocol) when `v` is not a
// value of T's kind.
template <class T>
void assign(T& target, const Value& v) {
  if constexpr (is_fn<T>::value) {
    // A function pointer that comes back (a field of an [out] struct) is
    // the library's, not a C++ callable: the field keeps the one it had.
    (void)target;
    (void)v;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (const auto* b = std::get_if<bool>(&v))
      target = *b;
    else if (const auto* i = std::get_if<std::int64_t>(&v))
      target = *i != 0;
    else if (const auto* u = std::get_if<std::uint64_t>(&v))
      target = *u != 0;
    else
      wrong_result("a boolean", v);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (const auto* d = std::get_if<double>(&v))
      target = static_cast<T>(*d);
    else if (const auto* i = std::get_if<std::int64_t>(&v))
      target = static_cast<T>(*i);
    else if (const auto* u = std::get_if<std::uint64_t>(&v))
      target = static_cast<T>(*u);
    else
      wrong_result("a number", v);
  } else if constexpr (std::is_integral_v<T>) {
    if (const auto* s = std::get_if<std::int64_t>(&v))
      target = static_cast<T>(*s);
    else if (const auto* u = std::get_if<std::uint64_t>(&v))
      target = static_cast<T>(*u);
    else if (const auto* b = std::get_if<bool>(&v))
      target = static_cast<T>(*b);
    else
      wrong_result("an integer", v);
  } else if constexpr (std::is_same_v<T, Handle>) {
    if (const auto* u = std::get_if<std::uint64_t>(&v))
      target = Handle{*u};
    else if (const auto* s = std::get_if<std::int64_t>(&v))
      target = Handle{static_cast<std::uint64_t>(*s)};
    else if (std::holds_alternative<Null>(v))
      target = Handle{};
    else
      wrong_result("a handle", v);
  } else if constexpr (native_scalar<T>::value) {
    assign(target.value, v);
  } else if constexpr (std::is_array_v<T>) {
    assign_elements(target, std::extent_v<T>, v);
  } else if constexpr (is_described<T>::value) {
    const auto* obj = std::get_if<Object>(&v);
    if (!obj) wrong_result((std::string("struct ") + Describe<T>::name).c_str(), v);
    std::apply([&](const auto&... f) { (assign_field(target, *obj, f), ...); }, Describe<T>::fields());
  } else if constexpr (std::is_same_v<T, std::string>) {
    target = text_result(v);
  } else if constexpr (std::is_same_v<T, std::wstring>) {
    target = to_wstring(text_result(v));
  } else if constexpr (std::is_same_v<T, std::u16string>) {
    target = to_u16string(text_result(v));
  } else {
    static_assert(sizeof(T) == 0, "this C++ type cannot be a result");
  }
}

// Value -> C++ result.
template <class R>
R from_value(const Value& v) {
  if constexpr (std::is_void_v<R>) {
    return;
  } else {
    R r{};
    assign(r, v);
    return r;
  }
}

// Copies an [out] / [in, out] parameter's result into the caller's memory
// (numbers are there already: the reply was decoded into it).
template <class T>
void store_out(const T& arg, const Object& out, std::size_t index) {
  if constexpr (direction<T>::value >= 2 && !points_to_numbers<T>::value) {
    if (arg.data == nullptr) return;
    auto it = out.find("arg" + std::to_string(index));
    if (it != out.end()) assign_elements(arg.data, arg.size, it->second);
  }
}

// An [out] buffer of numbers with a Count parameter takes no argument: its
// memory goes to the call beside the arguments, one entry per parameter.
template <class T>
constexpr bool counted_out = direction<T>::value == 2 && direction<T>::count >= 0;
template <class T>
Buffer out_buffer(const T& arg) {
  if constexpr (counted_out<T>) {
    using E = std::remove_const_t<typename direction<T>::elem>;
    if constexpr (is_number<E>) {
      if (arg.data != nullptr) return buffer_of<E>(nullptr, arg.data, arg.size);
    }
  }
  return Buffer{};
}

template <class T>
void append_argument(Value* values, std::size_t& n, const T& arg) {
  if constexpr (direction<T>::value != 2 || direction<T>::count < 0) values[n++] = to_value(arg);
}

// Calls through the dynamic API with `args` (one per parameter that takes
// a value, then the variadic extras); defined in the library. The typed
// API keeps its arguments on its own stack: no vector per call.
DLLBRIDGE_API CallResult call_function(const Function& f, Span<Value> args);
// The same, with the memory of [out] numbers that take no argument, one
// entry per parameter (Buffer::out null for none): filled from the reply.
DLLBRIDGE_API CallResult call_function(const Function& f, Span<Value> args, Span<Buffer> out_buffers);

// The C type of a variadic extra argument ({"int": 3}), after C's default
// argument promotions.
template <class X>
const char* extra_key() {
  if constexpr (std::is_same_v<X, std::string> || std::is_same_v<X, const char*>) {
    return "string";
  } else if constexpr (std::is_same_v<X, std::wstring> || std::is_same_v<X, std::u16string> ||
                       std::is_same_v<X, const wchar_t*>) {
    return "wstring";
  } else if constexpr (std::is_floating_point_v<X>) {
    return "double";
  } else if constexpr (std::is_same_v<X, Handle>) {
    return "pointer";
  } else if constexpr (std::is_integral_v<X> && sizeof(X) <= 4) {
    return std::is_signed_v<X> || sizeof(X) < 4 ? "int" : "unsigned int";
  } else if constexpr (std::is_integral_v<X>) {
    return std::is_signed_v<X> ? "int64_t" : "uint64_t";
  } else {
    static_assert(sizeof(X) == 0, "this C++ type cannot be a variadic argument");
  }
}

// A string literal is a `const char*` extra argument.
template <class X>
using extra_t = std::conditional_t<std::is_array_v<X>, const std::remove_extent_t<X>*, std::decay_t<X>>;

template <class X>
Value extra_value(const X& x) {
  return Object{{extra_key<X>(), to_value<X>(x)}};
}

template <class R, class... A>
class TypedBase {
 protected:
  explicit TypedBase(Function f);

  template <class... X>
  R invoke(const A&... args, const X&... extra) const {
    // On the stack (one slot more: no zero-sized array for a call without arguments).
    Value values[sizeof...(A) + sizeof...(X) + 1];
    std::size_t n = 0;
    (append_argument<bare<A>>(values, n, args), ...);  // [out] ones with a Count parameter take no value
    ((values[n++] = extra_value<extra_t<X>>(extra)), ...);
    CallResult r;
    if constexpr ((false || ... || counted_out<bare<A>>)) {
      const Buffer outs[] = {out_buffer<bare<A>>(args)...};
      r = call_function(*function_, Span<Value>(values, n), Span<Buffer>(outs, sizeof...(A)));
    } else {
      r = call_function(*function_, Span<Value>(values, n));
    }
    {
      std::lock_guard<std::mutex> lock(last_errors_->mu);
      last_errors_->by_thread[std::this_thread::get_id()] = r.last_error;
    }
    std::size_t i = 0;
    ((store_out<bare<A>>(args, r.out, i), ++i), ...);
    return from_value<R>(r.ret);
  }

 public:
  // errno / GetLastError() of the most recent call the calling thread made
  // through this object (or a copy of it), like errno itself: calls on other
  // threads do not change it. 0 before the thread's first call. (A thread
  // that reuses the id of an ended one may see that thread's last value.)
  std::int64_t last_error() const {
    std::lock_guard<std::mutex> lock(last_errors_->mu);
    auto it = last_errors_->by_thread.find(std::this_thread::get_id());
    return it == last_errors_->by_thread.end() ? 0 : it->second;
  }

 private:
  struct LastErrors {
    std::mutex mu;
    std::map<std::thread::id, std::int64_t> by_thread;
  };
  std::shared_ptr<Function> function_;
  std::shared_ptr<LastErrors> last_errors_ = std::make_shared<LastErrors>();
};

}  // namespace detail

// A function of type R(A...) in the surrogate. Calling it sends the
// arguments and returns the result; Out / InOut arguments are filled in
// place; errors throw dllbridge::Error.
template <class Signature>
class TypedFunction;

template <class R, class... A>
class TypedFunction<R(A...)> : public detail::TypedBase<R, A...> {
 public:
  explicit TypedFunction(Function f);
  // Calls the function; throws Error as Function::call does.
  R operator()(A... args) const { return this->template invoke<>(args...); }
};

// A variadic (cdecl) function with fixed parameters A...: the extra
// arguments are typed by their C++ types (int, double, std::string, ...).
template <class Signature>
class VariadicFunction;

template <class R, class... A>
class VariadicFunction<R(A...)> : public detail::TypedBase<R, A...> {
 public:
  explicit VariadicFunction(Function f);
  template <class... X>
  R operator()(A... args, const X&... extra) const {
    return this->template invoke<X...>(args..., extra...);
  }
};

namespace detail {

// A callback parameter's type: as a function's, but a pointer is [in]
// unless it says Out / InOut (the DLL passes it; the callable reads it, or
// fills it): `const T*` is one element, In / Out / InOut<T, N> are counted by
// the callback's parameter N (one element without N).
template <class T>
TypeDecl callback_param_decl(Building& building) {
  if constexpr (std::is_pointer_v<T> && !is_narrow_text<T> && !is_wide_text<T>) {
    using E = std::remove_const_t<std::remove_pointer_t<T>>;
    static_assert(!std::is_void_v<E>, "a void* callback parameter is a Handle");
    return decl::pointer(Dir::in, value_decl<E>(building));
  } else if constexpr (direction<T>::value != 0) {
    using E = bare<typename direction<T>::elem>;
    TypeDecl t = decl::pointer(static_cast<Dir>(direction<T>::value), value_decl<E>(building));
    t.text = is_text_unit<E>;
    if (direction<T>::count >= 0) t.size_is = "arg" + std::to_string(direction<T>::count);
    return t;
  } else {
    return param_decl<T>(building);
  }
}

// A callback argument as the C++ type the callable takes, with the storage
// it points into (valid while the callable runs); store() puts what the
// callable wrote ([out] / [in, out]) back for the DLL.
template <class T, class = void>
struct CallbackArg {
  T value{};
  CallbackArg(const std::vector<Value>& args, std::size_t i) { assign(value, args[i]); }
  T get() const { return value; }
  void store(std::vector<Value>&, std::size_t) const {}
};
template <>
struct CallbackArg<const char*> {
  std::string text;
  bool null;
  CallbackArg(const std::vector<Value>& args, std::size_t i) : null(std::holds_alternative<Null>(args[i])) {
    if (!null) text = text_result(args[i]);
  }
  const char* get() const { return null ? nullptr : text.c_str(); }
  void store(std::vector<Value>&, std::size_t) const {}
};
template <class T>
struct CallbackArg<T, std::enable_if_t<std::is_pointer_v<T> && !is_narrow_text<T> && !is_wide_text<T>>> {
  std::remove_const_t<std::remove_pointer_t<T>> value{};
  bool null;
  CallbackArg(const std::vector<Value>& args, std::size_t i) : null(std::holds_alternative<Null>(args[i])) {
    if (!null) assign(value, args[i]);
  }
  T get() const { return null ? nullptr : &value; }
  void store(std::vector<Value>&, std::size_t) const {}
};
template <class E, Dir D, int C>
struct CallbackArg<Pointer<E, D, C>> {
  using Elem = std::remove_const_t<E>;
  std::vector<Elem> items;
  bool null;
  CallbackArg(const std::vector<Value>& args, std::size_t i)
      : null(D != Dir::out && std::holds_alternative<Null>(args[i])) {
    if (D == Dir::out) {
      // Room for what the DLL's buffer holds: its count parameter's value (one element without one).
      std::int64_t n = 1;
      if (C >= 0 && static_cast<std::size_t>(C) < args.size()) assign(n, args[static_cast<std::size_t>(C)]);
      if (n < 0 || n > (std::int64_t{1} << 24)) {
        throw Error(ErrorKind::bad_argument,
                    "a callback's [out] buffer of " + std::to_string(n) + " elements");
      }
      items.resize(static_cast<std::size_t>(n));
      return;
    }
    if (null) return;
    const Value& v = args[i];
    if constexpr (is_text_unit<Elem>) {
      std::int64_t n = -1;
      if (C >= 0 && static_cast<std::size_t>(C) < args.size()) assign(n, args[static_cast<std::size_t>(C)]);
      const std::string& s = text_result(v);
      items.assign(n > 0 ? static_cast<std::size_t>(n) : s.size() + 1, Elem{});
      assign_text(items.data(), items.size(), v);
    } else if (const auto* list = std::get_if<List>(&v)) {
      items.resize(list->size());
      for (std::size_t k = 0; k < list->size(); ++k) assign(items[k], (*list)[k]);
    } else {
      items.resize(1);
      assign(items[0], v);
    }
  }
  Pointer<E, D, C> get() {
    using P = typename Pointer<E, D, C>::pointer;
    return null ? Pointer<E, D, C>() : Pointer<E, D, C>(static_cast<P>(items.data()), items.size());
  }
  void store(std::vector<Value>& args, std::size_t i) const {
    if constexpr (D == Dir::in) {
      return;
    } else {
      if (null) return;
      if constexpr (is_text_unit<Elem>) {
        std::size_t len = 0;
        while (len < items.size() && items[len] != 0) ++len;
        if constexpr (std::is_same_v<Elem, char>) {
          args[i] = std::string(items.data(), len);
        } else {
          args[i] = to_utf8(std::basic_string<Elem>(items.data(), len));
        }
      } else if (C < 0 && items.size() == 1) {
        args[i] = to_value(items[0]);
      } else {
        List list;
        list.reserve(items.size());
        for (const Elem& x : items) list.push_back(to_value(x));
        args[i] = std::move(list);
      }
    }
  }
};

}  // namespace detail

template <class R, class... A, CallConv Conv, bool Persistent>
class Fn<R(A...), Conv, Persistent> {
 public:
  // A null function pointer.
  Fn() = default;
  Fn(std::nullptr_t) {}  // NOLINT: a null function pointer, as in C
  // Wraps `f`, callable as R(A...) (its result converts to R). A callable
  // that throws makes the DLL see the default return (zero) and the call
  // fail with callback_failed.
  template <class F, class = std::enable_if_t<!std::is_same_v<detail::bare<F>, Fn> &&
                                              !std::is_same_v<detail::bare<F>, std::nullptr_t>>>
  Fn(F f)  // NOLINT: a lambda is passed where the C function pointer goes
      : callback_([f = std::move(f)](std::vector<Value>& args) mutable -> Value {
          return call(f, args, std::index_sequence_for<A...>{});
        }) {}

  // The dynamic form (what travels).
  const Callback& callback() const noexcept { return callback_; }
  explicit operator bool() const noexcept { return static_cast<bool>(callback_); }

  // The callback's declaration, as the signature language would give it.
  static TypeDecl declaration() {
    FunctionDecl d;
    detail::Building building;
    d.conv = Conv;
    d.ret = detail::value_decl<detail::bare<R>>(building);
    std::size_t i = 0;
    ((d.params.push_back(
         ParamDecl{"arg" + std::to_string(i++), detail::callback_param_decl<detail::bare<A>>(building)})),
     ...);
    return decl::callback(std::move(d), Persistent);
  }

 private:
  template <class F, std::size_t... I>
  static Value call(F& f, std::vector<Value>& args, std::index_sequence<I...>) {
    if (args.size() != sizeof...(A)) {
      throw Error(ErrorKind::protocol, "a callback of " + std::to_string(sizeof...(A)) + " parameters got " +
                                           std::to_string(args.size()) + " arguments");
    }
    std::tuple<detail::CallbackArg<detail::bare<A>>...> held{
        detail::CallbackArg<detail::bare<A>>(args, I)...};
    Value result;
    if constexpr (std::is_void_v<R>) {
      f(std::get<I>(held).get()...);
    } else {
      result = detail::to_value<detail::bare<R>>(static_cast<R>(f(std::get<I>(held).get()...)));
    }
    (std::get<I>(held).store(args, I), ...);  // what the callable wrote into [out] / [in, out] ones
    return result;
  }

  Callback callback_;
};

}  // namespace dllbridge
