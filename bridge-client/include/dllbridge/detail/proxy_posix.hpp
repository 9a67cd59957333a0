// POSIX part of dllbridge/proxy.hpp: the proxy's directory, errno, the codes.
#pragma once

#include <dlfcn.h>

#include <cerrno>
#include <cstdint>
#include <string>

namespace dllbridge::proxy::detail {

// The directory of the shared object holding `anchor` ("" when unknown).
inline std::string proxy_directory(const void* anchor) {
  Dl_info info{};
  if (::dladdr(anchor, &info) == 0 || info.dli_fname == nullptr) return {};
  std::string path = info.dli_fname;
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

inline void set_last_error(std::int64_t value) { errno = static_cast<int>(value); }

// errno for each dllbridge::ErrorKind (in its order), EIO for anything else.
inline int proxy_code(int kind) {
  static constexpr int kCodes[] = {
      ETIMEDOUT,   // timeout
      ECONNRESET,  // crashed
      EAGAIN,      // circuit_open
      EINVAL,      // bad_signature
      EINVAL,      // bad_argument
      ENOSYS,      // symbol_not_found
      ELIBACC,     // library_load_failed
      ECHILD,      // surrogate_start_failed
      EPROTO,      // protocol
      EACCES,      // unauthorized
      ECANCELED,   // callback_failed
  };
  return kind >= 0 && kind < static_cast<int>(sizeof kCodes / sizeof kCodes[0]) ? kCodes[kind] : EIO;
}

}  // namespace dllbridge::proxy::detail
