#include "dllbridge/rules/counts.hpp"

namespace dllbridge::rules {

std::string count_problem(std::int64_t n) {
  if (n < 0) return "negative element count " + std::to_string(n);
  return count_problem(static_cast<std::uint64_t>(n));
}

std::string count_problem(std::uint64_t n) {
  if (n <= kMaxElements) return {};
  return "buffer of " + std::to_string(n) + " elements is too large (the limit is " +
         std::to_string(kMaxElements) + ")";
}

std::size_t text_units(std::string_view text, unsigned unit_size) {
  if (unit_size == 1) return text.size();
  // The decoder of wire::units_from_utf8, counting instead of converting.
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t units = 0;
  for (std::size_t i = 0; i < n;) {
    std::uint32_t cp = 0xFFFD;
    std::size_t len = 1;
    const unsigned char c = s[i];
    if (c < 0x80) {
      cp = c;
    } else if ((c >> 5) == 0x6 || (c >> 4) == 0xE || (c >> 3) == 0x1E) {
      len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
      std::uint32_t v = c & (0x7F >> len);
      bool ok = i + len <= n;
      for (std::size_t k = 1; ok && k < len; ++k) {
        ok = (s[i + k] & 0xC0) == 0x80;
        v = v << 6 | (s[i + k] & 0x3F);
      }
      static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      if (ok && v >= kMin[len] && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF)) {
        cp = v;
      } else {
        len = 1;
      }
    }
    i += len;
    units += unit_size == 2 && cp >= 0x10000 ? 2 : 1;
  }
  return units;
}

}  // namespace dllbridge::rules
