// Text conversions between the wire (UTF-8) and the DLL's native text.
#pragma once

#include <string>

namespace dllbridge::surrogate {

// UTF-8 to wchar_t text: UTF-32 where wchar_t is 4 bytes (Linux), UTF-16
// where it is 2 (Windows). Invalid sequences become U+FFFD.
std::wstring utf8_to_wide(const std::string& text);

}  // namespace dllbridge::surrogate
