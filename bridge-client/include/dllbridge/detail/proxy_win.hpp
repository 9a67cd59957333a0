// Windows part of dllbridge/proxy.hpp: the proxy's directory, GetLastError(), the codes.
#pragma once

#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#  define NOMINMAX
#endif
#include <windows.h>

#include <cstdint>
#include <string>

namespace dllbridge::proxy::detail {

// The directory of the DLL holding `anchor` as UTF-8 ("" when unknown).
inline std::string proxy_directory(const void* anchor) {
  HMODULE module = nullptr;
  if (!::GetModuleHandleExW(
          GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
          static_cast<LPCWSTR>(anchor), &module)) {
    return {};
  }
  wchar_t path[32768];
  const DWORD n = ::GetModuleFileNameW(module, path, 32768);
  if (n == 0 || n >= 32768) return {};
  std::wstring w(path, n);
  const auto slash = w.find_last_of(L"\\/");
  w = slash == std::wstring::npos ? std::wstring(L".") : w.substr(0, slash);
  const int bytes =
      ::WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), nullptr, 0, nullptr, nullptr);
  std::string out(static_cast<std::size_t>(bytes), '\0');
  ::WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), out.data(), bytes, nullptr,
                        nullptr);
  return out;
}

inline void set_last_error(std::int64_t value) { ::SetLastError(static_cast<DWORD>(value)); }

// GetLastError() code for each dllbridge::ErrorKind (in its order),
// ERROR_GEN_FAILURE for anything else.
inline int proxy_code(int kind) {
  static constexpr int kCodes[] = {
      ERROR_TIMEOUT,             // timeout (1460)
      ERROR_PROCESS_ABORTED,     // crashed (1067)
      ERROR_RETRY,               // circuit_open (1237)
      ERROR_INVALID_PARAMETER,   // bad_signature (87)
      ERROR_INVALID_PARAMETER,   // bad_argument (87)
      ERROR_PROC_NOT_FOUND,      // symbol_not_found (127)
      ERROR_MOD_NOT_FOUND,       // library_load_failed (126)
      ERROR_SERVICE_NOT_ACTIVE,  // surrogate_start_failed (1062)
      ERROR_INVALID_DATA,        // protocol (13)
      ERROR_ACCESS_DENIED,       // unauthorized (5)
      ERROR_CANCELLED,           // callback_failed (1223)
  };
  return kind >= 0 && kind < static_cast<int>(sizeof kCodes / sizeof kCodes[0]) ? kCodes[kind]
                                                                                : ERROR_GEN_FAILURE;
}

}  // namespace dllbridge::proxy::detail
