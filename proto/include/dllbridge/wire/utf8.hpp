// UTF-8 encoding shared by client and surrogate: text travels as UTF-8 and
// each end converts to its own wchar_t width (UTF-16 on Windows, UTF-32 on
// Linux).
#pragma once

#include <cstdint>
#include <string>

namespace dllbridge::wire {

// Appends code point `cp` to `out` as UTF-8 (invalid ones as U+FFFD).
inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | cp >> 6);
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | cp >> 12);
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | cp >> 18);
    out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes the code point of UTF-8 `text` (`n` bytes) at byte `i` and moves
// `i` past it. An invalid or cut sequence is U+FFFD and moves `i` one byte,
// as are overlong forms, surrogates and values above U+10FFFF.
inline std::uint32_t next_code_point(const char* text, std::size_t n, std::size_t& i) {
  const auto* s = reinterpret_cast<const unsigned char*>(text);
  const unsigned char c = s[i];
  if (c < 0x80) {
    ++i;
    return c;
  }
  if ((c >> 5) == 0x6 || (c >> 4) == 0xE || (c >> 3) == 0x1E) {
    const std::size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
    std::uint32_t v = c & (0x7F >> len);
    bool ok = i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (s[i + k] & 0xC0) == 0x80;
      v = v << 6 | (s[i + k] & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (ok && v >= kMin[len] && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF)) {
      i += len;
      return v;
    }
  }
  ++i;
  return 0xFFFD;
}

// Whether `text` is valid UTF-8 (what a proto3 string field must hold).
inline bool is_valid_utf8(const std::string& text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t at = i;
    if (next_code_point(text.data(), text.size(), i) == 0xFFFD && i == at + 1) return false;
  }
  return true;
}

// UTF-16 or UTF-32 units (by sizeof(Unit)) to UTF-8; unpaired surrogates
// become U+FFFD.
template <class Unit>
std::string utf8_from_units(const Unit* text, std::size_t n) {
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t cp = static_cast<std::uint32_t>(text[i]);
    if constexpr (sizeof(Unit) == 2) {
      cp &= 0xFFFF;
      if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < n) {
        const std::uint32_t lo = static_cast<std::uint32_t>(text[i + 1]) & 0xFFFF;
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          ++i;
        }
      }
    }
    append_utf8(out, cp);
  }
  return out;
}

// UTF-8 to UTF-16 or UTF-32 units (by sizeof(Unit)); invalid sequences
// become U+FFFD.
template <class Unit>
std::basic_string<Unit> units_from_utf8(const std::string& text) {
  std::basic_string<Unit> out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = next_code_point(text.data(), text.size(), i);
    if constexpr (sizeof(Unit) == 2) {
      if (cp >= 0x10000) {
        cp -= 0x10000;
        out.push_back(static_cast<Unit>(0xD800 + (cp >> 10)));
        out.push_back(static_cast<Unit>(0xDC00 + (cp & 0x3FF)));
        continue;
      }
    }
    out.push_back(static_cast<Unit>(cp));
  }
  return out;
}

}  // namespace dllbridge::wire
