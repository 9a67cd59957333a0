// The runtime every proxy library made by dllbridge-gen shares (docs/proxy.md),
// header-only so that a generated project needs nothing but the installed
// package. A proxy exports the vendor header's C functions; each forwards
// through one process-wide bridge started on first use, sets errno /
// GetLastError() to the DLL's value, and on a bridge failure returns the
// failure value (zero, NULL, a zeroed struct), sets the last error to the
// kind's code (error_code()), keeps the message for NAME_bridge_last_error()
// and calls the handler set with NAME_bridge_set_error_handler().
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "dllbridge/bridge.hpp"

#if defined(_WIN32)
#  include "dllbridge/detail/proxy_win.hpp"
#else
#  include "dllbridge/detail/proxy_posix.hpp"
#endif

namespace dllbridge::proxy {

// Spells a C type where a declarator would need the name inside it
// (function pointers, arrays): type_t<int (*)(int)> f.
template <class T>
using type_t = T;

// The return and parameter types of a C function type (the header's
// declaration: decltype(::name)), so that a proxy's definition has exactly
// the declared prototype.
template <class F>
struct fn_traits;
template <class R, class... A>
struct fn_traits<R(A...)> {
  using ret = R;
  using params = std::tuple<A...>;
};
template <class R, class... A>
struct fn_traits<R(A...) noexcept> : fn_traits<R(A...)> {};
template <class F>
using ret_t = typename fn_traits<F>::ret;
template <class F, std::size_t I>
using param_t = std::tuple_element_t<I, typename fn_traits<F>::params>;

// The handler an application may set (NAME_bridge_set_error_handler): called
// on the calling thread after a bridge failure, before the function returns
// its failure value. `kind` is the dllbridge::ErrorKind as an int (docs/errors.md
// order, timeout = 0), -1 for a failure that is not a dllbridge::Error;
// `code` the last-error code just set; `function` the C function's name.
extern "C" typedef void (*ErrorHandler)(int kind, int code, const char* message, const char* function);

// The last-error code a failed forward leaves: errno values on POSIX,
// GetLastError() values on Windows (docs/proxy.md has the table).
inline int error_code(int kind) { return detail::proxy_code(kind); }

// A pointer to an integer count as the element count of a buffer (negative: 0).
template <class T>
std::size_t count(T n) {
  if constexpr (std::is_signed_v<T>) {
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  } else {
    return static_cast<std::size_t>(n);
  }
}

template <class T>
struct is_native : std::false_type {};
template <class Rep, char Tag>
struct is_native<Native<Rep, Tag>> : std::true_type {};

// Whether T and C are a C struct and its mirror (the same layout).
template <class T, class C>
constexpr bool same_layout =
    std::is_class_v<T>&& std::is_class_v<C> &&
    sizeof(T) == sizeof(C) && std::is_trivially_copyable_v<T>&& std::is_trivially_copyable_v<C>;

// Copies `src` into `dst` byte for byte: a field of a C struct and the same
// field of its mirror (the same size, the same representation).
template <class A, class B>
void copy_bytes(A& dst, const B& src) {
  static_assert(sizeof(A) == sizeof(B), "a field and its mirror differ in size");
  std::memcpy(static_cast<void*>(&dst), static_cast<const void*>(&src), sizeof(A));
}

// Converts a C struct C with function-pointer fields to the mirror T the
// typed API describes (whose function pointers are dllbridge::Fn, so its
// layout is not C's) and back. dllbridge-gen specialises it for each such
// struct of a header, with
//   static T to_typed(const C& c);  // fields copied, function pointers wrapped
//   static void back(const T& t, C& c);  // fields back; c's function pointers kept
template <class T, class C>
struct Converter;

template <class T, class C, class = void>
struct has_converter : std::false_type {};
template <class T, class C>
struct has_converter<T, C, std::void_t<decltype(Converter<T, C>::to_typed(std::declval<const C&>()))>>
    : std::true_type {};

// C value -> the typed API's type T (Handle for pointers, Native for long /
// size_t, a generated mirror for a struct the typed API cannot describe as is).
template <class T, class C>
T to_typed(const C& c) {
  if constexpr (std::is_same_v<T, C>) {
    return c;
  } else if constexpr (has_converter<T, C>::value) {
    return Converter<T, C>::to_typed(c);
  } else if constexpr (same_layout<T, C>) {
    T t;
    std::memcpy(&t, &c, sizeof t);
    return t;
  } else if constexpr (std::is_same_v<T, Handle>) {
    return Handle{static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(c))};
  } else if constexpr (is_native<T>::value) {
    return T(static_cast<decltype(T{}.value)>(c));
  } else {
    return static_cast<T>(c);
  }
}

// The typed API's value -> the C type C.
template <class C, class T>
C to_c(const T& t) {
  if constexpr (std::is_same_v<T, C>) {
    return t;
  } else if constexpr (same_layout<C, T>) {
    C c;
    std::memcpy(&c, &t, sizeof c);
    return c;
  } else if constexpr (std::is_same_v<T, Handle>) {
    return reinterpret_cast<C>(static_cast<std::uintptr_t>(t.value));
  } else if constexpr (is_native<T>::value) {
    return static_cast<C>(t.value);
  } else {
    return static_cast<C>(t);
  }
}

// The caller's memory behind a pointer parameter as the typed API's
// Pointer<T, D, K>: the same memory when the C element is T, else a copy
// converted each way (finish() writes [out] / [in, out] ones back).
template <class T, Dir D, int K, class C>
class Span {
 public:
  Span(C* p, std::size_t n) : p_(p), n_(p ? n : 0) {
    if constexpr (!same) {
      if (p_ && D != Dir::out) {
        copy_.reserve(n_);
        for (std::size_t i = 0; i < n_; ++i) copy_.push_back(to_typed<T>(p_[i]));
      } else {
        copy_.resize(n_);
      }
    }
  }
  Pointer<T, D, K> arg() {
    if (p_ == nullptr) return {};
    if constexpr (same) {
      return {p_, n_};
    } else {
      return {copy_.data(), n_};
    }
  }
  // The converted copy (empty when the caller's memory is used as is).
  const std::vector<T>& copies() const { return copy_; }
  void finish() {
    if constexpr (!same && D != Dir::in) {
      if (!p_) return;
      using CC = std::remove_const_t<C>;
      for (std::size_t i = 0; i < n_; ++i) {
        if constexpr (has_converter<T, CC>::value) {
          Converter<T, CC>::back(copy_[i], p_[i]);  // the application's function pointers stay
        } else {
          p_[i] = to_c<CC>(copy_[i]);
        }
      }
    }
  }

 private:
  static constexpr bool same = std::is_same_v<std::remove_const_t<C>, T>;
  C* p_;
  std::size_t n_;
  std::vector<T> copy_;
};

// The span of a pointer parameter `p` (a `void*` one annotated as a buffer
// of T: its memory as T).
template <class T, Dir D, int K, class P>
auto span(P* p, std::size_t n) {
  if constexpr (std::is_void_v<std::remove_const_t<P>>) {
    using E = std::conditional_t<std::is_const_v<P>, const T, T>;
    return Span<T, D, K, E>(static_cast<E*>(p), n);
  } else {
    return Span<T, D, K, P>(p, n);
  }
}

// A callback argument as the parameter type C of the application's function
// pointer: pointers from In / Out / InOut, handles as pointers, text as is.
template <class C, class A>
C callback_arg(A&& a) {
  using T = std::remove_cv_t<std::remove_reference_t<A>>;
  if constexpr (dllbridge::detail::direction<T>::value != 0) {
    return (C)(a.data);  // NOLINT: the element may be a mirror of the C struct (same layout)
  } else if constexpr (std::is_pointer_v<T> && std::is_pointer_v<C>) {
    return (C)(a);  // NOLINT: likewise
  } else {
    return to_c<C>(a);
  }
}

// Calls the application's function pointer `f` with the typed API's callback
// arguments `a`, returning the result as the typed API's type R.
template <class R, class CR, class... CA, class... A>
R call_back(CR (*f)(CA...), A&&... a) {
  if constexpr (std::is_void_v<R>) {
    f(callback_arg<CA>(std::forward<A>(a))...);
  } else {
    return to_typed<R>(f(callback_arg<CA>(std::forward<A>(a))...));
  }
}

// Keeps the latest value given to a [persistent] callback parameter alive
// until the next call replaces it (the DLL may call it after the call).
template <class F>
class Keep {
 public:
  void set(const F& f) {
    std::lock_guard<std::mutex> lock(mu_);
    kept_ = f;
  }

 private:
  std::mutex mu_;
  F kept_;
};

// A typed function of a bindings class, resolved on first use (lookups of
// exports the application never calls are never made). Thread-safe.
template <class F>
class Lazy {
 public:
  template <class Make>
  const F& get(Make&& make) {
    if (const F* f = ready_.load(std::memory_order_acquire)) return *f;
    std::lock_guard<std::mutex> lock(mu_);
    if (!held_) {
      held_ = std::make_unique<F>(make());
      ready_.store(held_.get(), std::memory_order_release);
    }
    return *held_;
  }

 private:
  std::mutex mu_;
  std::unique_ptr<F> held_;
  std::atomic<const F*> ready_{nullptr};
};

// errno / GetLastError() of this thread's most recent call through any
// generated bindings class (what the proxy hands on to its caller).
inline std::int64_t& dll_last_error() {
  static thread_local std::int64_t value = 0;
  return value;
}

// Text returned by a function (const char* / const wchar_t*): kept per
// function and thread until that thread's next call of it.
template <class Tag, class S>
const typename S::value_type* keep_text(S&& s) {
  static thread_local S kept;
  kept = std::forward<S>(s);
  return kept.c_str();
}

// One proxy library's process-wide state: its bridge, its 32-bit library,
// its bindings object (B, constructed from a dllbridge::Library), the
// error text per thread and the error handler.
template <class B>
class Proxy {
 public:
  // `name`: the proxy's name (DLLBRIDGE_<NAME>_LIBRARY, NAME.dllbridge);
  // `default_library`: the --library path given at generation; `anchor`: an
  // address inside the proxy (to find the file beside it).
  Proxy(std::string name, std::string default_library, const void* anchor)
      : name_(std::move(name)), default_library_(std::move(default_library)), anchor_(anchor) {}

  // The 32-bit library to load: $DLLBRIDGE_<NAME>_LIBRARY (NAME upper-case),
  // else the first line of NAME.dllbridge beside the proxy, else the
  // generation's --library path.
  std::string library_path() const {
    if (const char* v = std::getenv(variable("LIBRARY").c_str()); v && *v) return v;
    std::string dir = detail::proxy_directory(anchor_);
    if (!dir.empty()) {
      std::ifstream in(dir + "/" + name_ + ".dllbridge");
      std::string line;
      if (in && std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) return line;
      }
    }
    return default_library_;
  }

  // The bindings; starts the bridge and loads the library on first use (a
  // failure is not kept: the next call tries again). Throws dllbridge::Error.
  B& get() {
    if (B* b = ready_.load(std::memory_order_acquire)) return *b;
    std::lock_guard<std::mutex> lock(mu_);
    if (!bridge_) {
      BridgeOptions options;
      // $DLLBRIDGE_<NAME>_TIMEOUT_MS: each call's deadline (default: the policy's, 30 s).
      if (const char* v = std::getenv(variable("TIMEOUT_MS").c_str()); v && *v) {
        char* end = nullptr;
        const long long ms = std::strtoll(v, &end, 10);
        if (*end != '\0' || ms <= 0)
          throw Error(ErrorKind::bad_argument,
                      variable("TIMEOUT_MS") + "=" + v + ": not a positive number of ms");
        options.policy.call_timeout = std::chrono::milliseconds(ms);
      }
      bridge_ = std::make_unique<Bridge>(std::move(options));
    }
    if (!bindings_) {
      bindings_ = std::make_unique<B>(bridge_->load(library_path()));
      ready_.store(bindings_.get(), std::memory_order_release);
    }
    return *bindings_;
  }

  // Runs `body(bindings)` for the C function `function`: on success sets
  // the DLL's errno / GetLastError() in the caller and returns the result;
  // on any failure returns R{} (failure()). Never throws.
  template <class R, class Body>
  R forward(const char* function, Body&& body) noexcept {
    try {
      if constexpr (std::is_void_v<R>) {
        body(get());
        detail::set_last_error(dll_last_error());
      } else {
        R r = body(get());
        detail::set_last_error(dll_last_error());
        return r;
      }
    } catch (const Error& e) {
      failed(static_cast<int>(e.kind()), e.what(), function);
    } catch (const std::exception& e) {
      failed(-1, e.what(), function);
    } catch (...) {
      failed(-1, "an unknown exception", function);
    }
    if constexpr (!std::is_void_v<R>) return R{};
  }

  // This thread's last failure message ("" when none yet).
  const char* last_error_text() const noexcept { return text().c_str(); }

  void set_handler(ErrorHandler h) noexcept { handler_.store(h); }

 private:
  // DLLBRIDGE_<NAME>_<what>, NAME upper-case ('-' as '_').
  std::string variable(const char* what) const {
    std::string var = "DLLBRIDGE_";
    for (char c : name_)
      var += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : (c == '-' ? '_' : c);
    return var + "_" + what;
  }

  static std::string& text() {
    static thread_local std::string t;
    return t;
  }

  void failed(int kind, const char* message, const char* function) noexcept {
    const int code = detail::proxy_code(kind);
    try {
      text() = std::string(function) + ": " + message;
    } catch (...) {
    }
    if (ErrorHandler h = handler_.load()) h(kind, code, message, function);
    detail::set_last_error(code);  // last, so that the handler cannot change it
  }

  std::string name_;
  std::string default_library_;
  const void* anchor_;
  std::mutex mu_;
  std::unique_ptr<Bridge> bridge_;
  std::unique_ptr<B> bindings_;
  std::atomic<B*> ready_{nullptr};
  std::atomic<ErrorHandler> handler_{nullptr};
};

}  // namespace dllbridge::proxy
