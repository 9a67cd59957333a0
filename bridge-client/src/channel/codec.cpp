#include "channel/codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>

#include "dllbridge/error.hpp"
#include "dllbridge/rules/counts.hpp"
#include "dllbridge/rules/reply.hpp"
#include "dllbridge/wire/ready_word.hpp"

namespace dllbridge::detail {

// The public enums are the wire's, value for value: the codec converts by cast.
#define DLLBRIDGE_SAME(pub, w) static_assert(static_cast<int>(pub) == static_cast<int>(w), #pub " != " #w)
DLLBRIDGE_SAME(Scalar::Void, wire::SCALAR_VOID);
DLLBRIDGE_SAME(Scalar::Bool, wire::BOOL);
DLLBRIDGE_SAME(Scalar::Char, wire::CHAR);
DLLBRIDGE_SAME(Scalar::SChar, wire::SCHAR);
DLLBRIDGE_SAME(Scalar::UChar, wire::UCHAR);
DLLBRIDGE_SAME(Scalar::Short, wire::SHORT);
DLLBRIDGE_SAME(Scalar::UShort, wire::USHORT);
DLLBRIDGE_SAME(Scalar::Int, wire::INT);
DLLBRIDGE_SAME(Scalar::UInt, wire::UINT);
DLLBRIDGE_SAME(Scalar::Long, wire::LONG);
DLLBRIDGE_SAME(Scalar::ULong, wire::ULONG);
DLLBRIDGE_SAME(Scalar::LongLong, wire::LONGLONG);
DLLBRIDGE_SAME(Scalar::ULongLong, wire::ULONGLONG);
DLLBRIDGE_SAME(Scalar::Float, wire::FLOAT);
DLLBRIDGE_SAME(Scalar::Double, wire::DOUBLE);
DLLBRIDGE_SAME(Scalar::Int8, wire::INT8);
DLLBRIDGE_SAME(Scalar::Int16, wire::INT16);
DLLBRIDGE_SAME(Scalar::Int32, wire::INT32);
DLLBRIDGE_SAME(Scalar::Int64, wire::INT64);
DLLBRIDGE_SAME(Scalar::UInt8, wire::UINT8);
DLLBRIDGE_SAME(Scalar::UInt16, wire::UINT16);
DLLBRIDGE_SAME(Scalar::UInt32, wire::UINT32);
DLLBRIDGE_SAME(Scalar::UInt64, wire::UINT64);
DLLBRIDGE_SAME(Scalar::SizeT, wire::SIZE_T);
DLLBRIDGE_SAME(Scalar::WChar, wire::WCHAR);
DLLBRIDGE_SAME(Scalar::BOOL, wire::WIN_BOOL);
DLLBRIDGE_SAME(Scalar::BYTE, wire::WIN_BYTE);
DLLBRIDGE_SAME(Scalar::WORD, wire::WIN_WORD);
DLLBRIDGE_SAME(Scalar::DWORD, wire::WIN_DWORD);
DLLBRIDGE_SAME(Scalar::Handle, wire::HANDLE);
static_assert(static_cast<int>(Scalar::Handle) + 1 == wire::STRING, "a new Scalar needs its wire kind");
DLLBRIDGE_SAME(CallConv::Cdecl, wire::CONV_CDECL);
DLLBRIDGE_SAME(CallConv::Stdcall, wire::CONV_STDCALL);
DLLBRIDGE_SAME(CallConv::Fastcall, wire::CONV_FASTCALL);
DLLBRIDGE_SAME(CallConv::Thiscall, wire::CONV_THISCALL);
DLLBRIDGE_SAME(Dir::none, wire::DIR_NONE);
DLLBRIDGE_SAME(Dir::in, wire::DIR_IN);
DLLBRIDGE_SAME(Dir::out, wire::DIR_OUT);
DLLBRIDGE_SAME(Dir::inout, wire::DIR_INOUT);
// ErrorKind has no "unspecified": each kind is its wire value less one.
#define DLLBRIDGE_SAME_KIND(pub, w) \
  static_assert(static_cast<int>(pub) + 1 == static_cast<int>(w), #pub " != " #w)
DLLBRIDGE_SAME_KIND(ErrorKind::timeout, wire::TIMEOUT);
DLLBRIDGE_SAME_KIND(ErrorKind::crashed, wire::CRASHED);
DLLBRIDGE_SAME_KIND(ErrorKind::circuit_open, wire::CIRCUIT_OPEN);
DLLBRIDGE_SAME_KIND(ErrorKind::bad_signature, wire::BAD_SIGNATURE);
DLLBRIDGE_SAME_KIND(ErrorKind::bad_argument, wire::BAD_ARGUMENT);
DLLBRIDGE_SAME_KIND(ErrorKind::symbol_not_found, wire::SYMBOL_NOT_FOUND);
DLLBRIDGE_SAME_KIND(ErrorKind::library_load_failed, wire::LIBRARY_LOAD_FAILED);
DLLBRIDGE_SAME_KIND(ErrorKind::surrogate_start_failed, wire::SURROGATE_START_FAILED);
DLLBRIDGE_SAME_KIND(ErrorKind::protocol, wire::PROTOCOL);
DLLBRIDGE_SAME_KIND(ErrorKind::unauthorized, wire::UNAUTHORIZED);
DLLBRIDGE_SAME_KIND(ErrorKind::callback_failed, wire::CALLBACK_FAILED);
static_assert(static_cast<int>(ErrorKind::callback_failed) + 2 == wire::ErrorKind_ARRAYSIZE,
              "a new ErrorKind needs its wire kind");
#undef DLLBRIDGE_SAME
#undef DLLBRIDGE_SAME_KIND

namespace {

using Kind = TypeDecl::Kind;

wire::Scalar to_wire(Scalar s) { return static_cast<wire::Scalar>(s); }

bool is_text_unit(const TypeDecl& t) {
  return t.kind == Kind::scalar && rules::is_text_unit(to_wire(t.scalar));
}

bool is_integer(const TypeDecl& t) {
  return t.kind == Kind::scalar && rules::scalar(to_wire(t.scalar), rules::Abi{}).integer();
}

// The index of the sibling named `name`, or -1.
template <class List>
int find_sibling(const List& siblings, const std::string& name) {
  for (std::size_t i = 0; i < siblings.size(); ++i) {
    if (siblings[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

// ---------------------------------------------------------------- checking

[[noreturn]] void unsupported(const std::string& who, const std::string& why) {
  throw Error(ErrorKind::bad_signature, who + ": " + why);
}

enum class Place { Param, Field, Element, Return, CallbackParam };

// The checks of a declaration, whoever built it (parser or typed API); they
// match what the surrogate refuses at registration (core/marshal.cpp).
struct Checker {
  std::size_t nodes = 0;

  template <class Siblings>
  void type(const std::string& path, const TypeDecl& t, Place place, const Siblings* siblings, int depth) {
    const std::string who = "'" + path + "'";
    if (depth > rules::kMaxDepth) {
      unsupported(who, "types nest deeper than " + std::to_string(rules::kMaxDepth) + " levels");
    }
    if (++nodes > rules::kMaxTypeNodes) {
      unsupported(who, "more than " + std::to_string(rules::kMaxTypeNodes) + " type nodes");
    }
    switch (t.kind) {
      case Kind::scalar:
        if (rules::scalar(to_wire(t.scalar), rules::Abi{}).cls == rules::Class::unknown)
          unsupported(who, "unknown scalar");
        if (t.scalar == Scalar::Void && place != Place::Return) unsupported(who, "void is not a value");
        return;
      case Kind::array:
        if (place == Place::Param || place == Place::CallbackParam)
          unsupported(who, "a parameter cannot be an array");
        if (place != Place::Field) unsupported(who, "fixed arrays exist only inside structs");
        if (t.size == 0 || t.size > rules::kMaxArrayLength) unsupported(who, "array length out of range");
        if (!t.elem) unsupported(who, "an array needs an element type");
        if (t.elem->kind == Kind::pointer || t.elem->kind == Kind::array) {
          unsupported(who, "arrays of pointers or arrays are not supported");
        }
        if (t.text && !is_text_unit(*t.elem)) unsupported(who, "text needs char or wchar_t elements");
        type<Siblings>(path, *t.elem, Place::Field, nullptr, depth + 1);
        return;
      case Kind::structure:
        if (t.fields.empty()) unsupported(who, "struct " + t.struct_name + " has no fields");
        for (const FieldDecl& f : t.fields)
          type(path + "." + f.name, f.type, Place::Field, &t.fields, depth + 1);
        return;
      case Kind::pointer: pointer(path, t, place, siblings, depth); return;
      case Kind::callback: callback(path, t, place, depth); return;
    }
    unsupported(who, "unknown type kind");
  }

  // A function pointer: a parameter or a struct field whose own parameters
  // the DLL passes to it ([in] ones read from the DLL, [out] / [in, out] ones
  // written back) and whose return it gets back (a scalar, a struct or void).
  void callback(const std::string& path, const TypeDecl& t, Place place, int depth) {
    const std::string who = "'" + path + "'";
    if (place == Place::Return) unsupported(who, "a function cannot return a callback");
    if (place == Place::Element || place == Place::CallbackParam)
      unsupported(who, "a callback's parameters and pointees cannot be callbacks");
    if (!t.callback) unsupported(who, "a callback needs its declaration");
    const FunctionDecl& fn = *t.callback;
    if (fn.variadic) unsupported(who, "a callback cannot be variadic");
    const TypeDecl& r = fn.ret;
    if (r.kind == Kind::pointer) {
      unsupported(who, "a callback returns a scalar, a struct or void (not text or a pointer: " +
                           std::string("return a handle instead)"));
    }
    if (r.kind == Kind::array || r.kind == Kind::callback)
      unsupported(who, "a callback returns a scalar, a struct or void");
    type<std::vector<ParamDecl>>(path + " return", r, Place::Return, nullptr, depth + 1);
    for (const ParamDecl& p : fn.params) {
      const std::string at = path + "." + p.name;
      if (p.type.kind == Kind::pointer && p.type.size_is == "*") {
        unsupported("'" + at + "'",
                    "a callback's pointer is counted by [size(N)] or [size_is(sibling)], not by its value");
      }
      if (p.type.kind == Kind::callback)
        unsupported("'" + at + "'", "a callback's parameters cannot be callbacks");
      type(at, p.type, Place::CallbackParam, &fn.params, depth + 1);
    }
  }

  template <class Siblings>
  void pointer(const std::string& path, const TypeDecl& t, Place place, const Siblings* siblings, int depth) {
    const std::string who = "'" + path + "'";
    if (!t.elem) unsupported(who, "a pointer needs an element type");
    const TypeDecl& e = *t.elem;
    if (place == Place::Return) {
      if (!t.text || !is_text_unit(e)) unsupported(who, "a function returns a scalar, text or a struct");
      return;
    }
    if (place == Place::Element) unsupported(who, "pointers to pointers to data are not supported");
    if (t.dir == Dir::none) unsupported(who, "a pointer to data needs a direction: [in], [out] or [in, out]");
    if (e.kind == Kind::pointer) {
      unsupported(who, "pointers to pointers to data are not supported (only void** / HANDLE* handles)");
    }
    if (e.kind == Kind::scalar && e.scalar == Scalar::Void) {
      unsupported(who, "a void* with a direction has no element type; use a typed pointer");
    }
    if (e.kind == Kind::array) unsupported(who, "pointer to an array");
    if (t.nul_terminated && !t.text) unsupported(who, "[string] needs a char or wchar_t pointer");
    if (t.text && !is_text_unit(e)) unsupported(who, "text needs char or wchar_t elements");
    const bool counted = t.size != 0 || !t.size_is.empty();
    if (t.text && !counted && t.dir != Dir::in) {
      unsupported(who, "an [out] text buffer needs [size_is(n)] or [size(N)]");
    }
    if (t.size > rules::kMaxElements) unsupported(who, rules::count_problem(std::uint64_t{t.size}));
    if (!t.size_is.empty() && t.size_is != "*") {
      const int i = siblings ? find_sibling(*siblings, t.size_is) : -1;
      if (i < 0) unsupported(who, "size_is(" + t.size_is + ") names nothing");
      if (!is_integer((*siblings)[static_cast<std::size_t>(i)].type)) {
        unsupported(who, "size_is(" + t.size_is + ") must name an integer");
      }
    }
    using None = std::vector<FieldDecl>;
    type<None>(path, e, Place::Element, nullptr, depth + 1);
  }
};

// ---------------------------------------------------------------- registration

// The wire tree of `t`; `label` names the node in the surrogate's messages.
// `siblings` resolve size_is names to positions.
template <class Siblings>
wire::TypeNode to_wire_node(const TypeDecl& t, const std::string& label, const Siblings* siblings) {
  wire::TypeNode n;
  n.set_name(label);
  switch (t.kind) {
    case Kind::scalar:
      n.set_kind(wire::TypeNode::SCALAR);
      n.set_scalar(to_wire(t.scalar));
      return n;
    case Kind::structure:
      n.set_kind(wire::TypeNode::STRUCT);
      for (const FieldDecl& f : t.fields) *n.add_fields() = to_wire_node(f.type, f.name, &t.fields);
      return n;
    case Kind::array:
      n.set_kind(wire::TypeNode::ARRAY);
      n.set_count(t.size);
      n.set_text(t.text);
      *n.mutable_elem() = to_wire_node<Siblings>(*t.elem, label, nullptr);
      return n;
    case Kind::callback: {
      n.set_kind(wire::TypeNode::FUNCTION_POINTER);
      const FunctionDecl& fn = *t.callback;
      wire::CallbackType* cb = n.mutable_callback();
      cb->set_conv(static_cast<wire::CallConv>(fn.conv));
      *cb->mutable_ret() = to_wire_node<std::vector<ParamDecl>>(fn.ret, label + " return", nullptr);
      for (const ParamDecl& p : fn.params) *cb->add_params() = to_wire_node(p.type, p.name, &fn.params);
      cb->set_persistent(t.persistent);
      return n;
    }
    case Kind::pointer: break;
  }
  n.set_kind(wire::TypeNode::POINTER);
  n.set_dir(static_cast<wire::Direction>(t.dir));
  n.set_text(t.text);
  n.set_nul_terminated(t.nul_terminated);
  n.set_count(t.size);
  if (t.size_is == "*") {
    n.set_count_from_value(true);
  } else if (!t.size_is.empty() && siblings) {
    n.set_count_ref(static_cast<std::uint32_t>(find_sibling(*siblings, t.size_is) + 1));
  }
  *n.mutable_elem() = to_wire_node<Siblings>(*t.elem, label, nullptr);
  return n;
}

// A return type: text pointers travel as the STRING / WSTRING scalar kinds.
wire::TypeNode return_node(const TypeDecl& t, const std::string& label) {
  if (t.kind == Kind::pointer) {
    wire::TypeNode n;
    n.set_kind(wire::TypeNode::SCALAR);
    n.set_scalar(t.elem->scalar == Scalar::WChar ? wire::WSTRING : wire::STRING);
    n.set_name(label);
    return n;
  }
  return to_wire_node<std::vector<FieldDecl>>(t, label, nullptr);
}

// ---------------------------------------------------------------- encoding

[[noreturn]] void bad(const std::string& who, const std::string& why) {
  throw Error(ErrorKind::bad_argument, "parameter '" + who + "': " + why);
}

const char* type_of(const Value& v) {
  switch (v.index()) {
    case 0: return "null";
    case 1: return "a boolean";
    case 2:
    case 3: return "an integer";
    case 4: return "a floating-point number";
    case 5: return "text";
    case 6: return "a list";
    case 7: return "an object";
    case 8: return "a buffer";
    default: return "a callback";
  }
}

// The integer in `v` as a checked value of the scalar's size and signedness.
wire::Value encode_integer(const std::string& who, Scalar kind, const rules::ScalarRule& si, const Value& v) {
  wire::Value out;
  const unsigned bits = si.size * 8;
  if (const auto* b = std::get_if<bool>(&v); b && (kind == Scalar::BOOL || kind == Scalar::Int)) {
    out.set_i(*b ? 1 : 0);
    return out;
  }
  std::int64_t s = 0;
  std::uint64_t u = 0;
  bool negative = false;
  if (const auto* i = std::get_if<std::int64_t>(&v)) {
    s = *i;
    negative = *i < 0;
    u = static_cast<std::uint64_t>(*i);
  } else if (const auto* x = std::get_if<std::uint64_t>(&v)) {
    u = *x;
    s = static_cast<std::int64_t>(*x);
  } else if (const auto* d = std::get_if<double>(&v);
             d && std::isfinite(*d) && std::trunc(*d) == *d && std::fabs(*d) < 9.007199254740992e15) {
    s = static_cast<std::int64_t>(*d);
    negative = s < 0;
    u = static_cast<std::uint64_t>(s);
  } else if (kind == Scalar::Handle && std::holds_alternative<Null>(v)) {
    out.set_u(0);
    return out;
  } else {
    bad(who, std::string("expects an integer, got ") + type_of(v));
  }
  if (si.cls == rules::Class::signed_int) {
    const std::int64_t lo =
        bits >= 64 ? std::numeric_limits<std::int64_t>::min() : -(std::int64_t{1} << (bits - 1));
    const std::int64_t hi =
        bits >= 64 ? std::numeric_limits<std::int64_t>::max() : (std::int64_t{1} << (bits - 1)) - 1;
    const bool too_big = !negative && u > static_cast<std::uint64_t>(hi);
    if (too_big || s < lo) {
      bad(who, "value out of range for a " + std::to_string(bits) + "-bit signed integer [" +
                   std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    out.set_i(s);
  } else {
    const std::uint64_t hi =
        bits >= 64 ? std::numeric_limits<std::uint64_t>::max() : (std::uint64_t{1} << bits) - 1;
    if (negative || u > hi) {
      bad(who, "value out of range for a " + std::to_string(bits) + "-bit unsigned integer [0, " +
                   std::to_string(hi) + "]");
    }
    out.set_u(u);
  }
  return out;
}

wire::Value encode_scalar(const std::string& who, Scalar kind, const TargetAbi& abi, const Value& v) {
  const rules::ScalarRule si = rules::scalar(to_wire(kind), abi);
  wire::Value out;
  switch (si.cls) {
    case rules::Class::boolean:
      if (const auto* b = std::get_if<bool>(&v)) {
        out.set_i(*b);
      } else if (const auto* i = std::get_if<std::int64_t>(&v); i && (*i == 0 || *i == 1)) {
        out.set_i(*i);
      } else if (const auto* u = std::get_if<std::uint64_t>(&v); u && *u <= 1) {
        out.set_i(static_cast<std::int64_t>(*u));  // 0 / 1 read as unsigned (JSON's positive numbers)
      } else {
        bad(who, std::string("expects a boolean (true, false, 0 or 1), got ") + type_of(v));
      }
      return out;
    case rules::Class::floating:
      if (const auto* d = std::get_if<double>(&v)) {
        if (si.size == 4 && std::isfinite(*d) && std::fabs(*d) > std::numeric_limits<float>::max()) {
          bad(who, "value out of range for a float");
        }
        out.set_f(*d);
      } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
        out.set_f(static_cast<double>(*i));
      } else if (const auto* u = std::get_if<std::uint64_t>(&v)) {
        out.set_f(static_cast<double>(*u));
      } else {
        bad(who, std::string("expects a number, got ") + type_of(v));
      }
      return out;
    case rules::Class::signed_int:
    case rules::Class::unsigned_int: return encode_integer(who, kind, si, v);
    default: bad(who, "has no value of its own");
  }
}

// Values next to the one being encoded (the arguments, or a struct's fields),
// by position, with their declarations' names for size_is.
// A vector of pointers that keeps its first N in itself: the parameters or
// fields of a call of a few allocate nothing (docs/performance.md).
template <class T, std::size_t N = 8>
class SmallVec {
 public:
  SmallVec() = default;
  SmallVec(const SmallVec&) = delete;
  SmallVec& operator=(const SmallVec&) = delete;
  void push_back(T v) {
    if (size_ < N) {
      inline_[size_++] = v;
      return;
    }
    if (size_ == N) heap_.assign(inline_, inline_ + N);
    heap_.push_back(v);
    ++size_;
  }
  void assign(std::size_t n, T v) {
    size_ = 0;
    heap_.clear();
    for (std::size_t i = 0; i < n; ++i) push_back(v);
  }
  T& operator[](std::size_t i) { return size_ <= N ? inline_[i] : heap_[i]; }
  const T& operator[](std::size_t i) const { return size_ <= N ? inline_[i] : heap_[i]; }
  std::size_t size() const { return size_; }

 private:
  T inline_[N]{};
  std::vector<T> heap_;  // all of them, once there are more than N
  std::size_t size_ = 0;
};

struct Siblings {
  SmallVec<const std::string*> names;
  SmallVec<const Value*> values;
  const Value* find(const std::string& name) const {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (*names[i] == name) return values[i];
    }
    return nullptr;
  }
};

// Element `i` of buffer `b` as a Value (for elements whose layout differs
// from the target's: converted and range-checked one by one).
Value element(const Buffer& b, std::size_t i) {
  const auto* p = static_cast<const unsigned char*>(b.in) + i * b.size;
  switch (b.number) {
    case Buffer::Number::boolean: return *p != 0;
    case Buffer::Number::floating: {
      if (b.size == sizeof(float)) {
        float f;
        std::memcpy(&f, p, sizeof f);
        return static_cast<double>(f);
      }
      double d;
      std::memcpy(&d, p, sizeof d);
      return d;
    }
    case Buffer::Number::unsigned_int: {
      std::uint64_t u = 0;
      std::memcpy(&u, p, std::min<std::size_t>(b.size, sizeof u));
      return u;
    }
    case Buffer::Number::signed_int: break;
  }
  std::uint64_t bits = 0;
  std::memcpy(&bits, p, std::min<std::size_t>(b.size, sizeof bits));
  const unsigned shift = 64 - 8 * std::min<unsigned>(b.size, 8);
  return static_cast<std::int64_t>(bits << shift) >> shift;
}

// Whether buffer `b`'s elements are already in the target's layout for `si`.
bool same_layout(const Buffer& b, const rules::ScalarRule& si) {
  if (b.size != si.size) return false;
  switch (b.number) {
    case Buffer::Number::signed_int: return si.cls == rules::Class::signed_int;
    case Buffer::Number::unsigned_int: return si.cls == rules::Class::unsigned_int;
    case Buffer::Number::floating: return si.cls == rules::Class::floating;
    case Buffer::Number::boolean: return si.cls == rules::Class::boolean;
  }
  return false;
}

// A checked scalar wire value into `si.size` bytes at `dst` (little-endian).
void put_scalar(const wire::Value& w, const rules::ScalarRule& si, unsigned char* dst) {
  if (w.v_case() == wire::Value::kF) {
    if (si.size == sizeof(float)) {
      const auto f = static_cast<float>(w.f());
      std::memcpy(dst, &f, sizeof f);
    } else {
      const double d = w.f();
      std::memcpy(dst, &d, sizeof d);
    }
    return;
  }
  const std::uint64_t bits = w.v_case() == wire::Value::kU ? w.u() : static_cast<std::uint64_t>(w.i());
  std::memcpy(dst, &bits, si.size);
}

struct Encoder {
  const TargetAbi& abi;
  CallbackUse* uses = nullptr;  // where the call's callback bindings go (none: no callbacks here)
  Region* region = nullptr;     // where a call's large buffers go (null: all are framed)
  std::vector<RegionLease>* leases = nullptr;  // the call's blocks of the region
  bool* placed = nullptr;                      // set when a value goes in the region
  std::uint32_t* segments = nullptr;           // raised past each segment a value names
  // Where copies into the region wait for the send (null: done at once).
  std::vector<ReplyPlan::Pending>* pending = nullptr;
  const Buffer* out_sink = nullptr;  // the parameter being encoded: its [out] memory, if given

  // Puts `bytes` of `from` (null: zeroes) at `to`, in the region: after the
  // send when it can wait for it, else now.
  void fill(unsigned char* to, const void* from, std::size_t bytes) const {
    if (pending) {
      pending->push_back({to, static_cast<const unsigned char*>(from), bytes});
    } else if (from) {
      std::memcpy(to, from, bytes);
    } else {
      std::memset(to, 0, bytes);
    }
  }

  // Whether `bytes` bytes of the caller's memory at `p` are in the region
  // already (Bridge::alloc): then `out` names them and nothing is copied.
  bool in_region(const void* p, std::uint64_t bytes, wire::Value& out) const {
    RegionPlace where;
    if (!region || !placed || !p || !region->place_of(p, bytes, where)) return false;
    name(where.segment, where.offset, bytes, out);
    return true;
  }

  // `out` is the `bytes` at `offset` of `segment`.
  void name(std::uint32_t segment, std::uint64_t offset, std::uint64_t bytes, wire::Value& out) const {
    out.mutable_region()->set_segment(segment);
    out.mutable_region()->set_offset(offset);
    out.mutable_region()->set_length(bytes);
    *placed = true;
    *segments = std::max(*segments, segment + 1);
  }

  // The count cap of a top-level buffer (`placeable`): the region's when
  // there is one, else the frame's.
  std::string count_problem(std::uint64_t n, bool placeable) const {
    if (placeable && region) {
      if (n <= rules::kMaxRegionElements) return {};
      return "buffer of " + std::to_string(n) + " elements is too large (the limit is " +
             std::to_string(rules::kMaxRegionElements) + ")";
    }
    return rules::count_problem(n);
  }
  std::string count_problem(std::int64_t n, bool placeable) const {
    if (n < 0) return rules::count_problem(n);
    return count_problem(static_cast<std::uint64_t>(n), placeable);
  }

  // A block of the region for `bytes` of a top-level buffer when they go
  // there (at least kRegionThreshold, and room for them); else null: framed.
  unsigned char* place(std::uint64_t bytes, wire::Value& out) const {
    if (!region || !leases || !placed || bytes < kRegionThreshold) return nullptr;
    RegionLease lease = region->allocate(bytes);
    if (!lease.data()) return nullptr;
    name(lease.segment(), lease.offset(), bytes, out);
    unsigned char* data = lease.data();
    leases->push_back(std::move(lease));
    return data;
  }

  // The element count a size_is / size gives, or -1 when none does.
  std::int64_t declared_count(const TypeDecl& t, const std::string& who, const Siblings* sib,
                              bool placeable = false) const {
    if (t.size) return t.size;
    if (t.size_is.empty() || t.size_is == "*") return -1;
    const Value* n = sib ? sib->find(t.size_is) : nullptr;
    std::string problem = "its size_is count is missing or not a count";
    if (n) {
      if (const auto* i = std::get_if<std::int64_t>(n)) problem = count_problem(*i, placeable);
      if (const auto* u = std::get_if<std::uint64_t>(n)) problem = count_problem(*u, placeable);
      if (const auto* d = std::get_if<double>(n);
          d && std::trunc(*d) == *d && std::fabs(*d) < 9.007199254740992e15) {
        problem = count_problem(static_cast<std::int64_t>(*d), placeable);
      }
    }
    if (!problem.empty()) bad(who, problem);
    if (const auto* i = std::get_if<std::int64_t>(n)) return *i;
    if (const auto* u = std::get_if<std::uint64_t>(n)) return static_cast<std::int64_t>(*u);
    return static_cast<std::int64_t>(std::get<double>(*n));
  }

  std::size_t text_units(const TypeDecl& elem, const std::string& s) const {
    return rules::text_units(s, rules::scalar(to_wire(elem.scalar), abi).size);
  }

  const std::string& text_of(const std::string& who, const Value& v) const {
    const auto* s = std::get_if<std::string>(&v);
    if (!s) bad(who, std::string("expects text, got ") + type_of(v));
    if (s->find('\0') != std::string::npos) bad(who, "text contains a NUL character");
    return *s;
  }

  const List& list_of(const std::string& who, const Value& v) const {
    const auto* l = std::get_if<List>(&v);
    if (!l) bad(who, std::string("expects a list, got ") + type_of(v));
    return *l;
  }

  wire::Value elements(const TypeDecl& elem, const std::string& who, const List& items) const {
    wire::Value out;
    wire::ValueList* list = out.mutable_list();
    list->mutable_items()->Reserve(static_cast<int>(items.size()));
    for (std::size_t i = 0; i < items.size(); ++i) {
      try {
        *list->add_items() = encode(elem, items[i], who, nullptr);
      } catch (const Error&) {
        encode(elem, items[i], who + "[" + std::to_string(i) + "]", nullptr);  // throws, with the index
        throw;
      }
    }
    return out;
  }

  // Numbers `v` (a List, or a Buffer of the caller's memory) for elements
  // of `elem`, packed in the target's layout: exactly `exact` elements when
  // it is not negative, else at most `most`. One pass; an element's name
  // ("buf[3]") is built only for an error.
  // `placeable`: a top-level buffer, which may go through the region.
  wire::Value packed(const TypeDecl& elem, const Value& v, const std::string& who, std::int64_t exact,
                     std::uint64_t most, bool placeable = false) const {
    const rules::ScalarRule si = rules::scalar(to_wire(elem.scalar), abi);
    const auto* buf = std::get_if<Buffer>(&v);
    const List* list = buf ? nullptr : &list_of(who, v);
    const std::size_t n = buf ? buf->count : list->size();
    if (exact >= 0 && n != static_cast<std::uint64_t>(exact))
      bad(who, "has " + std::to_string(n) + " elements, its size says " + std::to_string(exact));
    if (buf && !buf->in && n != 0) bad(who, "a buffer with no elements to send");
    wire::Value out;
    const bool fits = placeable && count_problem(std::uint64_t{n}, true).empty();
    if (fits && buf && same_layout(*buf, si) && in_region(buf->in, std::uint64_t{n} * si.size, out))
      return out;  // zero copies: the caller's memory is in the region
    unsigned char* dst = nullptr;
    if (fits) dst = place(std::uint64_t{n} * si.size, out);
    if (dst && buf && same_layout(*buf, si)) {
      fill(dst, buf->in, n * si.size);  // the one copy, once the call is on its way
      return out;
    }
    if (!dst) {
      if (n > most) bad(who, "has " + std::to_string(n) + " elements, the array " + std::to_string(most));
      if (const std::string problem = rules::count_problem(std::uint64_t{n}); !problem.empty())
        bad(who, problem);
      std::string& bytes = *out.mutable_packed();
      bytes.resize(n * si.size);
      dst = reinterpret_cast<unsigned char*>(bytes.data());
    }
    if (buf && same_layout(*buf, si)) {
      if (n != 0) std::memcpy(dst, buf->in, n * si.size);  // the one copy
      return out;
    }
    static const std::string kUnnamed;
    for (std::size_t i = 0; i < n; ++i) {
      const Value converted = buf ? element(*buf, i) : Value();
      const Value& item = buf ? converted : (*list)[i];
      wire::Value w;
      try {
        w = encode_scalar(kUnnamed, elem.scalar, abi, item);
      } catch (const Error&) {
        encode_scalar(who + "[" + std::to_string(i) + "]", elem.scalar, abi, item);  // throws, named
        throw;
      }
      put_scalar(w, si, dst + i * si.size);
    }
    return out;
  }

  // `placeable`: a parameter (not a field), whose numbers may go through the region.
  wire::Value pointer(const TypeDecl& t, const Value& v, const std::string& who, const Siblings* sib,
                      bool placeable = false) const {
    wire::Value out;
    const bool from_value = t.size_is == "*";
    placeable = placeable && region && !t.text && t.elem && t.elem->kind == Kind::scalar;
    const std::int64_t count = declared_count(t, who, sib, placeable);
    if (t.dir == Dir::out) {
      std::int64_t n = count;
      if (const auto* buf = std::get_if<Buffer>(&v); from_value && buf) {  // the caller's memory: its size
        const std::string problem = count_problem(std::uint64_t{buf->count}, placeable);
        if (!problem.empty()) bad(who, problem);
        out.set_u(buf->count);
        n = static_cast<std::int64_t>(buf->count);
      } else if (from_value && !std::holds_alternative<Null>(v)) {
        out = encode_scalar(who, Scalar::UInt64, abi, v);
        const std::string problem = count_problem(out.u(), placeable);
        if (!problem.empty()) bad(who, problem);
        n = static_cast<std::int64_t>(out.u());
      } else {
        if (!std::holds_alternative<Null>(v) && !from_value) bad(who, "is [out]: it takes no value");
        out.set_null(true);
      }
      if (placeable && n > 0) {
        const rules::ScalarRule si = rules::scalar(to_wire(t.elem->scalar), abi);
        const std::uint64_t bytes = static_cast<std::uint64_t>(n) * si.size;
        const auto* own = std::get_if<Buffer>(&v);
        const Buffer* sink = own ? own : out_sink;
        wire::Value placed;
        if (sink && sink->out && same_layout(*sink, si) && sink->count >= static_cast<std::uint64_t>(n) &&
            in_region(sink->out, bytes, placed))
          return placed;  // the DLL writes straight into the caller's memory
        if (unsigned char* dst = place(bytes, placed)) {
          fill(dst, nullptr, static_cast<std::size_t>(bytes));  // what call memory gives an [out] buffer
          return placed;
        }
      }
      // Framed: the frame's cap.
      if (n > 0 && static_cast<std::uint64_t>(n) > rules::kMaxElements)
        bad(who, rules::count_problem(static_cast<std::uint64_t>(n)));
      return out;
    }
    if (std::holds_alternative<Null>(v)) {  // an optional pointer left out
      out.set_null(true);
      return out;
    }
    if (t.text) {
      const std::string& s = text_of(who, v);
      const std::size_t need = text_units(*t.elem, s) + (t.nul_terminated ? 1 : 0);
      if (count >= 0 && need > static_cast<std::uint64_t>(count)) {
        bad(who, "text needs " + std::to_string(need) + " units" + (t.nul_terminated ? " with its NUL" : "") +
                     ", the buffer holds " + std::to_string(count));
      }
      out.set_text(s);
      return out;
    }
    if (count < 0 && !from_value) return encode(*t.elem, v, who, nullptr);  // one element
    if (t.elem->kind == Kind::scalar) return packed(*t.elem, v, who, count, rules::kMaxElements, placeable);
    const List& items = list_of(who, v);
    if (count >= 0 && items.size() != static_cast<std::uint64_t>(count)) {
      bad(who, "has " + std::to_string(items.size()) + " elements, its size says " + std::to_string(count));
    }
    const std::string problem = rules::count_problem(std::uint64_t{items.size()});
    if (!problem.empty()) bad(who, problem);
    return elements(*t.elem, who, items);
  }

  wire::Value structure(const TypeDecl& t, const Value& v, const std::string& who) const {
    const auto* obj = std::get_if<Object>(&v);
    if (!obj) bad(who, std::string("expects an object with the struct's fields, got ") + type_of(v));
    for (const auto& [key, value] : *obj) {
      if (find_sibling(t.fields, key) < 0) bad(who, "the struct has no field '" + key + "'");
    }
    static const Value kNull;
    Siblings fields;
    for (const FieldDecl& f : t.fields) {
      fields.names.push_back(&f.name);
      auto it = obj->find(f.name);
      if (it != obj->end()) {
        fields.values.push_back(&it->second);
      } else if (f.type.kind == Kind::pointer) {
        fields.values.push_back(&kNull);  // a pointer field left out is null
      } else {
        bad(who, "field '" + f.name + "' is missing");
      }
    }
    wire::Value out;
    wire::ValueList* list = out.mutable_list();
    for (std::size_t i = 0; i < t.fields.size(); ++i) {
      *list->add_items() = encode(t.fields[i].type, *fields.values[i], who + "." + t.fields[i].name, &fields);
    }
    return out;
  }

  wire::Value encode(const TypeDecl& t, const Value& v, const std::string& who, const Siblings* sib,
                     bool placeable = false) const {
    switch (t.kind) {
      case Kind::pointer: return pointer(t, v, who, sib, placeable);
      case Kind::structure: return structure(t, v, who);
      case Kind::array: {
        if (t.text) {
          const std::string& s = text_of(who, v);
          if (text_units(*t.elem, s) > t.size) {
            bad(who, "text of " + std::to_string(text_units(*t.elem, s)) + " units does not fit char[" +
                         std::to_string(t.size) + "]");
          }
          wire::Value out;
          out.set_text(s);
          return out;
        }
        if (t.elem->kind == Kind::scalar) return packed(*t.elem, v, who, -1, t.size);
        const List& items = list_of(who, v);
        if (items.size() > t.size) {
          bad(who, "has " + std::to_string(items.size()) + " elements, the array " + std::to_string(t.size));
        }
        return elements(*t.elem, who, items);
      }
      case Kind::callback: return callback(t, v, who);
      case Kind::scalar: break;
    }
    return encode_scalar(who, t.scalar, abi, v);
  }

  // A function pointer: the id of the callable, bound for the call (or, for
  // a persistent one, for as long as the callable lives); null for none.
  wire::Value callback(const TypeDecl& t, const Value& v, const std::string& who) const {
    wire::Value out;
    const auto* cb = std::get_if<Callback>(&v);
    if (std::holds_alternative<Null>(v) || (cb && !*cb)) {
      out.set_null(true);
      return out;
    }
    if (!cb) bad(who, std::string("expects a callback, got ") + type_of(v));
    if (!uses) bad(who, "a callback cannot be passed here");
    out.set_u(t.persistent ? bind_persistent(*cb, t.callback, abi, *uses)
                           : bind_scoped(*cb, t.callback, abi, *uses));
    return out;
  }
};

// The type of a variadic extra argument by its JSON key ({"int": 3}), with
// C's default argument promotions applied.
TypeDecl extra_type(const std::string& key, const std::string& who) {
  struct Entry {
    const char* key;
    Scalar kind;
  };
  static constexpr Entry kScalars[] = {{"int", Scalar::Int},
                                       {"char", Scalar::Int},
                                       {"short", Scalar::Int},
                                       {"bool", Scalar::Int},
                                       {"int32_t", Scalar::Int},
                                       {"unsigned int", Scalar::UInt},
                                       {"uint32_t", Scalar::UInt},
                                       {"unsigned", Scalar::UInt},
                                       {"long", Scalar::Long},
                                       {"unsigned long", Scalar::ULong},
                                       {"long long", Scalar::LongLong},
                                       {"int64_t", Scalar::LongLong},
                                       {"unsigned long long", Scalar::ULongLong},
                                       {"uint64_t", Scalar::ULongLong},
                                       {"size_t", Scalar::SizeT},
                                       {"double", Scalar::Double},
                                       {"float", Scalar::Double},
                                       {"pointer", Scalar::Handle},
                                       {"handle", Scalar::Handle},
                                       {"HANDLE", Scalar::Handle}};
  for (const Entry& e : kScalars) {
    if (key == e.key) return decl::scalar(e.kind);
  }
  if (key == "string" || key == "wstring") {
    TypeDecl t = decl::pointer(Dir::in, decl::scalar(key == "string" ? Scalar::Char : Scalar::WChar));
    t.text = true;
    t.nul_terminated = true;
    return t;
  }
  bad(who, "unknown variadic type '" + key +
               "' (int, unsigned int, long, long long, uint64_t, size_t, double, "
               "string, wstring, pointer, ...)");
}

bool single_element(const TypeDecl& t) {
  return t.kind == Kind::pointer && !t.text && t.size == 0 && t.size_is.empty();
}

}  // namespace

std::size_t wide_units(const std::string& text, const TargetAbi& abi) {
  return rules::text_units(text, rules::wchar_size(abi));
}

Signature make_signature(FunctionDecl fn, const TargetAbi& abi) {
  Checker check;
  if (fn.variadic && fn.conv != CallConv::Cdecl) {
    // The callee pops a stdcall / fastcall / thiscall function's arguments:
    // it cannot know how many extra ones a call brought.
    unsupported("'" + fn.name + "'", "a variadic function is __cdecl (its caller pops the arguments)");
  }
  {
    const std::string who = "return type of '" + fn.name + "'";
    const TypeDecl& r = fn.ret;
    if (r.kind == Kind::array) unsupported(who, "a function cannot return an array");
    if (r.kind == Kind::pointer && (!r.text || !r.elem || !is_text_unit(*r.elem))) {
      unsupported(who, "a function returns a scalar, text or a struct");
    }
    check.type<std::vector<ParamDecl>>(fn.name, r, Place::Return, nullptr, 0);
  }
  Signature out;
  for (std::size_t i = 0; i < fn.params.size(); ++i) {
    const ParamDecl& p = fn.params[i];
    check.type(p.name, p.type, Place::Param, &fn.params, 0);
    if (!(p.type.kind == Kind::pointer && p.type.dir == Dir::out && p.type.size_is != "*"))
      out.inputs.push_back(i);
  }
  out.abi = abi;
  out.fn = std::move(fn);
  encode_register(out, out.types);
  return out;
}

void encode_register(const Signature& s, wire::RegisterFunction& reg) {
  reg.set_conv(static_cast<wire::CallConv>(s.fn.conv));
  *reg.mutable_ret() = return_node(s.fn.ret, s.fn.name);
  reg.clear_params();
  for (const ParamDecl& p : s.fn.params) *reg.add_params() = to_wire_node(p.type, p.name, &s.fn.params);
  reg.set_variadic(s.fn.variadic);
}

namespace {

// Gives the call a ready word (Call.ready) for its pending bytes: a block
// of its own in the region, pending (0) until place_pending. Without room
// for one, the bytes are put in place now and the call has none.
void name_ready(wire::Call& call, ReplyPlan& plan) {
  RegionLease word = plan.region->allocate(sizeof(wire::ReadyWord));
  if (!word.data()) {
    place_pending(plan);
    return;
  }
  plan.ready = word.data();
  new (plan.ready) wire::ReadyWord(wire::kReadyPending);
  wire::Region& r = *call.mutable_ready();
  r.set_segment(word.segment());
  r.set_offset(word.offset());
  r.set_length(sizeof(wire::ReadyWord));
  // The thread that encodes is the one that sends and then copies.
  const int cpu = wire::current_cpu();
  call.set_copier_cpu(cpu >= 0 ? static_cast<std::uint32_t>(cpu) + 1 : 0);
  plan.segments = std::max(plan.segments, word.segment() + 1);
  plan.leases.push_back(std::move(word));
}

}  // namespace

ReplyPlan encode_call(const Signature& s, Span<Value> args, wire::Call& call, Span<Buffer> out_buffers,
                      std::shared_ptr<Region> region) {
  const std::size_t fixed = s.inputs.size();
  const auto& params = s.fn.params;
  if (args.size() < fixed || (!s.fn.variadic && args.size() != fixed)) {
    std::string names;
    for (std::size_t i : s.inputs) names += (names.empty() ? "" : ", ") + params[i].name;
    throw Error(ErrorKind::bad_argument, s.fn.name + " takes " + std::to_string(fixed) +
                                             (s.fn.variadic ? " or more" : "") + " argument(s) (" + names +
                                             "), got " + std::to_string(args.size()));
  }
  static const Value kNull;
  Siblings values;
  values.values.assign(params.size(), &kNull);
  for (const ParamDecl& p : params) values.names.push_back(&p.name);
  for (std::size_t k = 0; k < fixed; ++k) values.values[s.inputs[k]] = &args[k];
  ReplyPlan plan;
  plan.region = std::move(region);
  Encoder enc{s.abi, &plan.callbacks, plan.region.get(), &plan.leases, &plan.placed, &plan.segments};
  if (plan.region && wire::ready_word_wakes_other_processes()) enc.pending = &plan.pending;
  call.clear_args();
  call.clear_extra_types();
  call.clear_ready();
  call.clear_copier_cpu();
  for (std::size_t i = 0; i < params.size(); ++i) {
    enc.out_sink = i < out_buffers.size() ? &out_buffers[i] : nullptr;
    *call.add_args() = enc.encode(params[i].type, *values.values[i], params[i].name, &values, true);
  }
  enc.out_sink = nullptr;
  for (std::size_t k = fixed; k < args.size(); ++k) {
    const std::string who = "extra argument " + std::to_string(k - fixed + 1);
    const auto* obj = std::get_if<Object>(&args[k]);
    if (!obj || obj->size() != 1)
      bad(who, "a variadic argument is typed: {\"int\": 3}, {\"double\": 1.5}, {\"string\": \"x\"}");
    const TypeDecl t = extra_type(obj->begin()->first, who);
    *call.add_args() = enc.encode(t, obj->begin()->second, who, nullptr);
    *call.add_extra_types() = to_wire_node<std::vector<FieldDecl>>(t, who, nullptr);
  }
  // The surrogate refuses the same before calling; refused here, nothing runs.
  const std::uint64_t bound = rules::call_reply_bound(s.types.ret(), s.types.params(), call, s.abi);
  if (const std::string why = rules::reply_problem(bound); !why.empty())
    throw Error(ErrorKind::bad_argument, s.fn.name + ": " + why);
  plan.budget = std::max(bound, rules::kMinReplyBudget);
  if (!plan.pending.empty()) name_ready(call, plan);
  // plan.sinks stays empty (no allocation) unless a parameter has one.
  for (std::size_t i = 0; i < params.size(); ++i) {
    const TypeDecl& t = params[i].type;
    if (t.kind != Kind::pointer || t.text || t.elem->kind != Kind::scalar ||
        (t.dir != Dir::out && t.dir != Dir::inout))
      continue;
    const Buffer* sink = std::get_if<Buffer>(values.values[i]);
    if (!sink && i < out_buffers.size()) sink = &out_buffers[i];
    if (!sink || !sink->out) continue;
    const std::int64_t need = rules::pointee_count(s.types.params(static_cast<int>(i)),
                                                   call.args(static_cast<int>(i)), &call.args(), s.abi);
    if (need > 0 && static_cast<std::uint64_t>(need) > sink->count) {
      bad(params[i].name, "the buffer holds " + std::to_string(sink->count) + " elements, its size says " +
                              std::to_string(need));
    }
    if (plan.sinks.empty()) plan.sinks.assign(params.size(), nullptr);
    plan.sinks[i] = sink;
  }
  return plan;
}

void place_pending(ReplyPlan& plan) noexcept {
  if (plan.pending.empty()) return;
  for (const ReplyPlan::Pending& p : plan.pending) {
    if (p.from) {
      std::memcpy(p.to, p.from, p.bytes);
    } else {
      std::memset(p.to, 0, p.bytes);
    }
  }
  plan.pending.clear();
  if (plan.ready) wire::publish_ready(wire::ready_word_at(plan.ready));
}

void frame_placed(const Signature& s, wire::Call& call, ReplyPlan& plan) {
  if (!plan.placed) return;
  place_pending(plan);  // the frame takes the bytes from the blocks
  call.clear_ready();
  call.clear_copier_cpu();
  plan.placed = false;
  const auto& params = s.fn.params;
  for (std::size_t i = 0; i < params.size() && i < static_cast<std::size_t>(call.args_size()); ++i) {
    wire::Value& v = *call.mutable_args(static_cast<int>(i));
    if (v.v_case() != wire::Value::kRegion) continue;
    const TypeDecl& t = params[i].type;
    const std::uint64_t length = v.region().length();
    const unsigned char* data =
        plan.region ? plan.region->at(v.region().segment(), v.region().offset(), length) : nullptr;
    if (!data || t.kind != Kind::pointer || !t.elem) continue;  // not ours: left for the surrogate to refuse
    const unsigned unit = rules::scalar(to_wire(t.elem->scalar), s.abi).size;
    const std::uint64_t count = unit ? length / unit : 0;
    if (const std::string problem = rules::count_problem(count); !problem.empty())
      bad(params[i].name, problem + " without a shared region (this surrogate did not map one)");
    if (t.dir == Dir::out) {
      if (t.size_is == "*") {
        v.set_u(count);
      } else {
        v.set_null(true);
      }
    } else {
      v.set_packed(data, static_cast<std::size_t>(length));
    }
  }
  const std::uint64_t bound = rules::call_reply_bound(s.types.ret(), s.types.params(), call, s.abi);
  if (const std::string why = rules::reply_problem(bound); !why.empty())
    throw Error(ErrorKind::bad_argument,
                s.fn.name + ": " + why + " (this surrogate did not map the shared region)");
  plan.budget = std::max(bound, rules::kMinReplyBudget);
}

namespace {

[[noreturn]] void bad_reply(const std::string& who, const std::string& why) {
  throw Error(ErrorKind::protocol, "the surrogate's reply for '" + who + "' " + why);
}

const char* wire_kind(const wire::Value& v) {
  switch (v.v_case()) {
    case wire::Value::kI:
    case wire::Value::kU: return "an integer";
    case wire::Value::kF: return "a number";
    case wire::Value::kText: return "text";
    case wire::Value::kNull: return "null";
    case wire::Value::kList: return "a list";
    default: return "nothing";
  }
}

// Packed elements of `elem` (the target's layout) as Values: the dynamic
// API's List form (integers keep their signedness, bool is bool).
List unpack(const unsigned char* p, std::size_t length, const rules::ScalarRule& si) {
  const std::size_t n = si.size ? length / si.size : 0;
  List list;
  list.reserve(n);
  for (std::size_t i = 0; i < n; ++i, p += si.size) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, p, si.size);
    switch (si.cls) {
      case rules::Class::floating:
        if (si.size == sizeof(float)) {
          float f;
          std::memcpy(&f, p, sizeof f);
          list.push_back(static_cast<double>(f));
        } else {
          double d;
          std::memcpy(&d, p, sizeof d);
          list.push_back(d);
        }
        break;
      case rules::Class::boolean: list.push_back(bits != 0); break;
      case rules::Class::signed_int: {
        const unsigned shift = 64 - 8 * si.size;
        list.push_back(static_cast<std::int64_t>(bits << shift) >> shift);
        break;
      }
      default: list.push_back(bits); break;
    }
  }
  return list;
}

// Packed elements into the caller's memory `sink` (at most sink.count
// elements, checked before sending): one copy when the layouts agree,
// else element by element.
void unpack_into(const Buffer& sink, const unsigned char* bytes, std::size_t length,
                 const rules::ScalarRule& si) {
  const std::size_t n = std::min(sink.count, si.size ? length / si.size : 0);
  if (same_layout(sink, si)) {
    if (n != 0 && sink.out != bytes)
      std::memcpy(sink.out, bytes, n * si.size);  // the one copy back (none in place)
    return;
  }
  const List values = unpack(bytes, n * si.size, si);
  auto* dst = static_cast<unsigned char*>(sink.out);
  for (std::size_t i = 0; i < n; ++i, dst += sink.size) {
    const Value& x = values[i];
    switch (sink.number) {
      case Buffer::Number::floating: {
        const double d = std::holds_alternative<double>(x) ? std::get<double>(x) : 0.0;
        if (sink.size == sizeof(float)) {
          const auto f = static_cast<float>(d);
          std::memcpy(dst, &f, sizeof f);
        } else {
          std::memcpy(dst, &d, sizeof d);
        }
        break;
      }
      case Buffer::Number::boolean: *dst = std::holds_alternative<bool>(x) && std::get<bool>(x); break;
      default: {
        std::uint64_t bits = 0;
        if (const auto* i = std::get_if<std::int64_t>(&x)) bits = static_cast<std::uint64_t>(*i);
        if (const auto* u = std::get_if<std::uint64_t>(&x)) bits = *u;
        if (const auto* b = std::get_if<bool>(&x)) bits = *b;
        std::memcpy(dst, &bits, std::min<std::size_t>(sink.size, sizeof bits));
      }
    }
  }
}

const unsigned char* bytes_of(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

struct Decoder {
  const TargetAbi& abi;
  const Region* region = nullptr;  // where the call placed its large buffers

  // `v` as a value of `t`; `who` names it in messages.
  Value decode(const TypeDecl& t, const wire::Value& v, const std::string& who) const {
    const auto expect = [&](bool ok, const char* what) {
      if (!ok) bad_reply(who, std::string("is ") + wire_kind(v) + ", expected " + what);
    };
    const auto c = v.v_case();
    switch (t.kind) {
      case Kind::scalar: {
        const rules::Class cls = rules::scalar(to_wire(t.scalar), abi).cls;
        if (cls == rules::Class::none) return Null{};
        if (cls == rules::Class::floating) {
          expect(c == wire::Value::kF, "a number");
          return v.f();
        }
        expect(c == wire::Value::kI || c == wire::Value::kU, "an integer");
        const bool is_bool = t.scalar == Scalar::Bool;
        if (c == wire::Value::kI) return is_bool ? Value(v.i() != 0) : Value(v.i());
        return is_bool ? Value(v.u() != 0) : Value(v.u());
      }
      case Kind::structure: {
        expect(c == wire::Value::kList, "a struct's fields");
        const wire::ValueList& items = v.list();
        if (static_cast<std::size_t>(items.items_size()) != t.fields.size())
          bad_reply(who, "has " + std::to_string(items.items_size()) + " fields, the struct " +
                             std::to_string(t.fields.size()));
        Object obj;
        for (std::size_t i = 0; i < t.fields.size(); ++i) {
          const FieldDecl& f = t.fields[i];
          obj.emplace(f.name, decode(f.type, items.items(static_cast<int>(i)), who + "." + f.name));
        }
        return obj;
      }
      case Kind::array:
        if (t.text) {
          expect(c == wire::Value::kText, "text");
          return v.text();
        }
        return elements(t, v, who, t.size);
      case Kind::pointer:
        // A pointer inside a struct: its elements when the surrogate passed a
        // buffer, else the address the DLL left there.
        if (c == wire::Value::kNull) return Null{};
        if (c == wire::Value::kU || c == wire::Value::kI)
          return c == wire::Value::kU ? Value(v.u()) : Value(v.i());
        if (t.text) {
          expect(c == wire::Value::kText, "text");
          return v.text();
        }
        if (single_element(t)) return decode(*t.elem, v, who);
        return elements(t, v, who, -1);
      case Kind::callback: return Null{};  // a function pointer read back: nothing to call here
    }
    return Null{};
  }

  // Checks that `v` holds packed elements of `si`: `count` of them when not negative.
  static void check_packed(const wire::Value& v, const rules::ScalarRule& si, const std::string& who,
                           std::int64_t count) {
    const std::size_t bytes = v.v_case() == wire::Value::kPacked ? v.packed().size() : 0;
    if (v.v_case() != wire::Value::kPacked || si.size == 0 || bytes % si.size != 0 ||
        (count >= 0 && bytes / si.size != static_cast<std::uint64_t>(count))) {
      bad_reply(who, std::string("is ") + wire_kind(v) +
                         (bytes ? " of " + std::to_string(bytes) + " bytes" : "") + ", expected " +
                         (count >= 0 ? std::to_string(count) : std::string("whole")) + " " +
                         std::to_string(si.size) + "-byte elements");
    }
  }

  // The elements of pointer / array `t`: `count` of them when not negative.
  Value elements(const TypeDecl& t, const wire::Value& v, const std::string& who, std::int64_t count) const {
    const TypeDecl& e = *t.elem;
    if (e.kind == Kind::scalar) {
      const rules::ScalarRule si = rules::scalar(to_wire(e.scalar), abi);
      check_packed(v, si, who, count);
      return unpack(bytes_of(v.packed()), v.packed().size(), si);
    }
    if (v.v_case() != wire::Value::kList || (count >= 0 && v.list().items_size() != count)) {
      bad_reply(who,
                std::string("is ") + wire_kind(v) +
                    (v.v_case() == wire::Value::kList ? " of " + std::to_string(v.list().items_size()) : "") +
                    ", expected a list" + (count >= 0 ? " of " + std::to_string(count) : std::string()));
    }
    const wire::ValueList& items = v.list();
    List list;
    list.reserve(static_cast<std::size_t>(items.items_size()));
    for (int i = 0; i < items.items_size(); ++i) list.push_back(decode(e, items.items(i), who));
    return list;
  }

  // An [out] / [in, out] buffer the reply says is in place in the region:
  // exactly the block `sent` placed it in, read from there.
  Value in_place(const ParamDecl& p, const wire::Value& v, const wire::Value* sent,
                 const Buffer* sink) const {
    const TypeDecl& t = p.type;
    if (!sent || sent->v_case() != wire::Value::kRegion || !region || t.elem->kind != Kind::scalar ||
        v.region().segment() != sent->region().segment() || v.region().offset() != sent->region().offset() ||
        v.region().length() != sent->region().length()) {
      bad_reply(p.name, "names a block of the shared region the call did not place it in");
    }
    const unsigned char* data = region->at(v.region().segment(), v.region().offset(), v.region().length());
    if (!data) bad_reply(p.name, "names bytes outside the shared region");
    const rules::ScalarRule si = rules::scalar(to_wire(t.elem->scalar), abi);
    const auto length = static_cast<std::size_t>(v.region().length());
    if (sink) {  // straight into the caller's memory
      unpack_into(*sink, data, length, si);
      return Value(*sink);
    }
    return unpack(data, length, si);
  }

  // An [out] / [in, out] parameter's value; `expected` is its pointee count
  // as sent (rules::pointee_count), or nullptr when unknown; `sink` the
  // caller's memory its elements go to, or nullptr; `sent` what the call sent for it.
  Value out(const ParamDecl& p, const wire::Value& v, const std::int64_t* expected, const Buffer* sink,
            const wire::Value* sent = nullptr) const {
    const TypeDecl& t = p.type;
    const auto c = v.v_case();
    if (c == wire::Value::kNull) return Null{};
    if (c == wire::Value::kRegion) return in_place(p, v, sent, sink);
    if (sent && sent->v_case() == wire::Value::kRegion)
      bad_reply(p.name,
                std::string("is ") + wire_kind(v) + ", expected the buffer in place in the shared region");
    if (!expected) return single_element(t) ? decode(*t.elem, v, p.name) : decode(t, v, p.name);
    if (*expected == rules::kNullPointee) bad_reply(p.name, "has a value, the pointer was null");
    if (t.text) {
      if (c != wire::Value::kText) bad_reply(p.name, std::string("is ") + wire_kind(v) + ", expected text");
      const std::size_t units = rules::text_units(v.text(), rules::scalar(to_wire(t.elem->scalar), abi).size);
      if (units > static_cast<std::uint64_t>(*expected)) {
        bad_reply(p.name,
                  "has " + std::to_string(units) + " units of text, its buffer " + std::to_string(*expected));
      }
      return v.text();
    }
    if (*expected == rules::kSinglePointee) return decode(*t.elem, v, p.name);
    if (sink && t.elem->kind == Kind::scalar) {  // straight into the caller's memory
      const rules::ScalarRule si = rules::scalar(to_wire(t.elem->scalar), abi);
      check_packed(v, si, p.name, *expected);
      unpack_into(*sink, bytes_of(v.packed()), v.packed().size(), si);
      return Value(*sink);
    }
    return elements(t, v, p.name, *expected);
  }
};

}  // namespace

Value decode_value(const TypeDecl& t, const wire::Value& v, const TargetAbi& abi) {
  return Decoder{abi}.decode(t, v, "value");
}

std::vector<Value> decode_invoke(const FunctionDecl& fn, const wire::Invoke& invoke, const TargetAbi& abi) {
  if (static_cast<std::size_t>(invoke.args_size()) != fn.params.size()) {
    throw Error(ErrorKind::protocol, "the surrogate called callback '" + fn.name + "' with " +
                                         std::to_string(invoke.args_size()) + " arguments, it takes " +
                                         std::to_string(fn.params.size()));
  }
  const Decoder dec{abi};
  std::vector<Value> args;
  args.reserve(fn.params.size());
  for (std::size_t i = 0; i < fn.params.size(); ++i) {
    const ParamDecl& p = fn.params[i];
    args.push_back(dec.decode(p.type, invoke.args(static_cast<int>(i)), fn.name + " " + p.name));
  }
  return args;
}

void encode_invoke_outs(const FunctionDecl& fn, const std::vector<Value>& args, const TargetAbi& abi,
                        wire::InvokeReply& reply) {
  const Encoder enc{abi};
  Siblings sib;
  for (std::size_t i = 0; i < fn.params.size(); ++i) {
    sib.names.push_back(&fn.params[i].name);
    sib.values.push_back(&args.at(i));
  }
  reply.clear_out();
  for (std::size_t i = 0; i < fn.params.size(); ++i) {
    const TypeDecl& t = fn.params[i].type;
    wire::Value* o = reply.add_out();
    const bool is_out = t.kind == Kind::pointer && (t.dir == Dir::out || t.dir == Dir::inout);
    if (!is_out || std::holds_alternative<Null>(args[i])) {
      o->set_null(true);  // nothing to write: the DLL's memory stays as it is
      continue;
    }
    const std::string who = "callback '" + fn.name + "' " + fn.params[i].name;
    const std::int64_t count = enc.declared_count(t, who, &sib);  // -1: one element
    if (t.text) {
      const std::string& text = enc.text_of(who, args[i]);
      const std::size_t need = enc.text_units(*t.elem, text) + 1;
      if (count >= 0 && need > static_cast<std::uint64_t>(count)) {
        bad(who, "text needs " + std::to_string(need) + " units with its NUL, the DLL's buffer holds " +
                     std::to_string(count));
      }
      o->set_text(text);
    } else if (count < 0) {
      *o = enc.encode(*t.elem, args[i], who, nullptr);
    } else if (t.elem->kind == Kind::scalar) {
      *o = enc.packed(*t.elem, args[i], who, -1, static_cast<std::uint64_t>(count));
    } else {
      const List& items = enc.list_of(who, args[i]);
      if (items.size() > static_cast<std::uint64_t>(count)) {
        bad(who,
            "has " + std::to_string(items.size()) + " elements, the DLL's buffer " + std::to_string(count));
      }
      *o = enc.elements(*t.elem, who, items);
    }
  }
}

wire::Value encode_invoke_return(const FunctionDecl& fn, const Value& v, const TargetAbi& abi) {
  wire::Value out;
  if (fn.ret.kind == Kind::scalar && fn.ret.scalar == Scalar::Void) {
    out.set_null(true);  // whatever the callable returned: the DLL gets nothing
    return out;
  }
  const std::string who = "return value of callback '" + fn.name + "'";
  if (std::holds_alternative<Null>(v)) bad(who, "the callback returned nothing, it returns a value");
  return Encoder{abi}.encode(fn.ret, v, who, nullptr);
}

CallResult decode_reply(const Signature& s, const wire::CallReply& r, const wire::Call* sent,
                        const std::vector<const Buffer*>* sinks, const Region* region) {
  const Decoder dec{s.abi, region};
  CallResult out;
  const TypeDecl& ret = s.fn.ret;
  if (ret.kind == Kind::pointer) {  // text
    if (r.ret().v_case() != wire::Value::kText && r.ret().v_case() != wire::Value::kNull)
      bad_reply("return value", std::string("is ") + wire_kind(r.ret()) + ", expected text");
    if (r.ret().v_case() == wire::Value::kText) out.ret = r.ret().text();
  } else {
    out.ret = dec.decode(ret, r.ret(), "return value");
  }
  const auto& params = s.fn.params;
  if (static_cast<std::size_t>(r.out_size()) != params.size()) {
    throw Error(ErrorKind::protocol, "the surrogate's reply has " + std::to_string(r.out_size()) +
                                         " out values for " + std::to_string(params.size()) + " parameters");
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    const ParamDecl& p = params[i];
    const wire::Value& v = r.out(static_cast<int>(i));
    const bool is_out = p.type.kind == Kind::pointer && (p.type.dir == Dir::out || p.type.dir == Dir::inout);
    if (!is_out) {
      if (v.v_case() != wire::Value::kNull) bad_reply(p.name, "has a value, the parameter is not [out]");
      continue;
    }
    std::int64_t expected = 0;
    if (sent) {
      expected = rules::pointee_count(s.types.params(static_cast<int>(i)), sent->args(static_cast<int>(i)),
                                      &sent->args(), s.abi);
    }
    const Buffer* sink = sinks && i < sinks->size() ? (*sinks)[i] : nullptr;
    out.out.emplace(p.name, dec.out(p, v, sent ? &expected : nullptr, sink,
                                    sent ? &sent->args(static_cast<int>(i)) : nullptr));
  }
  out.last_error = r.last_error();
  out.elapsed = std::chrono::nanoseconds(r.elapsed_ns());
  return out;
}

}  // namespace dllbridge::detail
