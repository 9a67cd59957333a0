// Element-count rules: how many elements the buffer behind a pointer has,
// and how many units a text needs. The client checks a call's values with
// these before sending; the surrogate sizes its call memory with the same.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dllbridge/rules/limits.hpp"

namespace dllbridge::rules {

// Where a pointer's element count comes from, in this order of precedence.
enum class CountSource : std::uint8_t {
  fixed,        // [size(N)]: N
  sibling,      // [size_is(x)]: the integer value of sibling parameter / field x
  from_value,   // [size_is(*)]: the length of the value sent (an [out] one sends the count itself)
  text_length,  // [in, string] text without a count: its units and the NUL
  single,       // no count: one element, sent as a value rather than a list
};

// The source for a pointer with these wire fields (TypeNode count,
// count_ref, count_from_value, text).
constexpr CountSource count_source(std::uint32_t fixed, std::uint32_t sibling_ref, bool from_value,
                                   bool text) noexcept {
  if (fixed != 0) return CountSource::fixed;
  if (sibling_ref != 0) return CountSource::sibling;
  if (from_value) return CountSource::from_value;
  if (text) return CountSource::text_length;
  return CountSource::single;
}

// Why `n` cannot be the element count of one buffer (negative, or above
// kMaxElements), or an empty string when it can.
std::string count_problem(std::int64_t n);
std::string count_problem(std::uint64_t n);

// The units of UTF-8 `text` in a buffer of `unit_size`-byte units: bytes (1),
// UTF-16 units with surrogate pairs (2, wchar_t on Windows), code points (4,
// wchar_t elsewhere). Invalid sequences count as one U+FFFD each, exactly as
// wire::units_from_utf8 converts them.
std::size_t text_units(std::string_view text, unsigned unit_size);

// The units a text buffer needs for `text`, with its NUL when `nul`.
inline std::uint64_t text_need(std::string_view text, unsigned unit_size, bool nul) {
  return text_units(text, unit_size) + (nul ? 1u : 0u);
}

}  // namespace dllbridge::rules
