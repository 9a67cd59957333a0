// The typed API: a C++ function type names the signature at compile time and
// converts arguments and results; underneath it is the dynamic API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dllbridge/error.hpp"
#include "dllbridge/types.hpp"

namespace dllbridge {

class Function;

namespace detail {

// The signature-language spelling of a C++ parameter / return type.
template <class T, class = void>
struct spelling;
#define DLLBRIDGE_SPELL(T, S) \
  template <>                 \
  struct spelling<T> {        \
    static constexpr const char* value = S; \
  }
DLLBRIDGE_SPELL(void, "void");
DLLBRIDGE_SPELL(bool, "bool");
DLLBRIDGE_SPELL(char, "char");
DLLBRIDGE_SPELL(std::int8_t, "int8_t");
DLLBRIDGE_SPELL(std::uint8_t, "uint8_t");
DLLBRIDGE_SPELL(std::int16_t, "int16_t");
DLLBRIDGE_SPELL(std::uint16_t, "uint16_t");
DLLBRIDGE_SPELL(std::int32_t, "int32_t");
DLLBRIDGE_SPELL(std::uint32_t, "uint32_t");
DLLBRIDGE_SPELL(std::int64_t, "int64_t");
DLLBRIDGE_SPELL(std::uint64_t, "uint64_t");
DLLBRIDGE_SPELL(float, "float");
DLLBRIDGE_SPELL(double, "double");
DLLBRIDGE_SPELL(const char*, "const char*");
DLLBRIDGE_SPELL(std::string, "const char*");
DLLBRIDGE_SPELL(std::wstring, "const wchar_t*");
#undef DLLBRIDGE_SPELL

template <class T>
using bare = std::remove_cv_t<std::remove_reference_t<T>>;

// "R __conv name(A0, A1, ...)" for R(A...).
template <class Signature>
struct declaration;
template <class R, class... A>
struct declaration<R(A...)> {
  static std::string make(const std::string& name, CallConv conv) {
    static constexpr const char* kConv[] = {"__cdecl", "__stdcall", "__fastcall", "__thiscall"};
    std::string text = std::string(spelling<bare<R>>::value) + " " +
                       kConv[static_cast<int>(conv)] + " " + name + "(";
    const char* params[] = {spelling<bare<A>>::value..., nullptr};
    for (std::size_t i = 0; i < sizeof...(A); ++i) text += (i ? ", " : "") + std::string(params[i]);
    return text + ")";
  }
};

template <class Signature>
std::string typed_declaration(const std::string& name, CallConv conv) {
  return declaration<Signature>::make(name, conv);
}

// C++ argument -> Value.
template <class T>
Value to_value(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v;
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<double>(v);
  } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
    return static_cast<std::uint64_t>(v);
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<std::int64_t>(v);
  } else if constexpr (std::is_same_v<T, const char*>) {
    return v ? Value(std::string(v)) : Value(Null{});
  } else if constexpr (std::is_same_v<T, std::wstring>) {
    // Sent as UTF-8; the surrogate converts to its own wchar_t.
    std::string out;
    for (wchar_t wc : v) {
      auto cp = static_cast<std::uint32_t>(wc);
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | cp >> 6);
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | cp >> 12);
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | cp >> 18);
        out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    }
    return out;
  } else {
    return std::string(v);
  }
}

// Value -> C++ result.
template <class R>
R from_value(const Value& v) {
  if constexpr (std::is_void_v<R>) {
    return;
  } else if constexpr (std::is_same_v<R, bool>) {
    return std::get<bool>(v);
  } else if constexpr (std::is_floating_point_v<R>) {
    return static_cast<R>(std::get<double>(v));
  } else if constexpr (std::is_integral_v<R>) {
    if (auto* s = std::get_if<std::int64_t>(&v)) return static_cast<R>(*s);
    return static_cast<R>(std::get<std::uint64_t>(v));
  }
}

// Calls through the dynamic API; defined in the library.
DLLBRIDGE_API CallResult call_function(const Function& f, std::vector<Value>&& args);

}  // namespace detail

// A function of type R(A...) in the surrogate. Calling it sends the
// arguments and returns the result; errors throw dllbridge::Error.
template <class Signature>
class TypedFunction;

template <class R, class... A>
class TypedFunction<R(A...)> {
 public:
  explicit TypedFunction(Function f);

  // Calls the function; throws Error as Function::call does.
  R operator()(A... args) const {
    std::vector<Value> values{detail::to_value<detail::bare<A>>(args)...};
    CallResult r = detail::call_function(*function_, std::move(values));
    last_error_ = r.last_error;
    return detail::from_value<R>(r.ret);
  }

  // errno / GetLastError() of the most recent call made through this object
  // (not synchronized: read it on the thread that made the call).
  std::int64_t last_error() const { return last_error_; }

 private:
  std::shared_ptr<Function> function_;
  mutable std::int64_t last_error_ = 0;
};

}  // namespace dllbridge
