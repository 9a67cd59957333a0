#include "core/text.hpp"

#include "dllbridge/wire/utf8.hpp"

namespace dllbridge::surrogate {

std::wstring utf8_to_wide(const std::string& text) { return wire::units_from_utf8<wchar_t>(text); }

std::string wide_to_utf8(const wchar_t* text, std::size_t n) { return wire::utf8_from_units(text, n); }

}  // namespace dllbridge::surrogate
