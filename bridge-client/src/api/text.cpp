// Text conversions of the typed API (std::wstring / std::u16string <-> UTF-8).
#include "dllbridge/typed.hpp"
#include "dllbridge/wire/utf8.hpp"

namespace dllbridge::detail {

std::string to_utf8(const std::wstring& text) { return wire::utf8_from_units(text.data(), text.size()); }
std::string to_utf8(const std::u16string& text) { return wire::utf8_from_units(text.data(), text.size()); }
std::wstring to_wstring(const std::string& utf8) { return wire::units_from_utf8<wchar_t>(utf8); }
std::u16string to_u16string(const std::string& utf8) { return wire::units_from_utf8<char16_t>(utf8); }

}  // namespace dllbridge::detail
