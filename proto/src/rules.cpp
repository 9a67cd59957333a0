#include "dllbridge/rules/counts.hpp"

#include "dllbridge/wire/utf8.hpp"

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
  // What wire::units_from_utf8 makes, counted instead of converted.
  std::size_t units = 0;
  for (std::size_t i = 0; i < text.size();) {
    const std::uint32_t cp = wire::next_code_point(text.data(), text.size(), i);
    units += unit_size == 2 && cp >= 0x10000 ? 2 : 1;
  }
  return units;
}

}  // namespace dllbridge::rules
