#include <windows.h>
#include <shellapi.h>

#include "args.hpp"

namespace dllbridge::tools {

std::vector<std::string> utf8_arguments(int argc, char** argv) {
  ::SetConsoleOutputCP(CP_UTF8);
  int n = 0;
  LPWSTR* wide = ::CommandLineToArgvW(::GetCommandLineW(), &n);
  if (wide == nullptr) return {argv, argv + argc};
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    const int len = ::WideCharToMultiByte(CP_UTF8, 0, wide[i], -1, nullptr, 0, nullptr, nullptr);
    std::string s(static_cast<std::size_t>(len > 0 ? len - 1 : 0), '\0');
    if (len > 1) ::WideCharToMultiByte(CP_UTF8, 0, wide[i], -1, s.data(), len, nullptr, nullptr);
    out.push_back(std::move(s));
  }
  ::LocalFree(wide);
  return out;
}

}  // namespace dllbridge::tools
