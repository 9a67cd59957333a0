// Text conversions between the wire (UTF-8) and the DLL's native text.
#pragma once

#include <cstddef>
#include <string>

namespace dllbridge::surrogate {

// UTF-8 to wchar_t text: UTF-32 where wchar_t is 4 bytes (Linux), UTF-16
// where it is 2 (Windows). Invalid sequences become U+FFFD.
std::wstring utf8_to_wide(const std::string& text);

// The other way: `n` wchar_t units (UTF-32 or UTF-16 by the width of
// wchar_t) to UTF-8. Unpaired surrogates and invalid code points become U+FFFD.
std::string wide_to_utf8(const wchar_t* text, std::size_t n);

}  // namespace dllbridge::surrogate
