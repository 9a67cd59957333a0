// Protobuf's base-128 varints, for the few places that look into a frame's
// bytes without parsing it (frame.cpp, peer.cpp). Internal to proto/src.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dllbridge::wire::detail {

// Reads a varint at `i` of `s`; false when cut or longer than 10 bytes.
inline bool read_varint(const std::string& s, std::size_t& i, std::uint64_t& v) {
  v = 0;
  for (unsigned shift = 0; shift < 70 && i < s.size(); shift += 7) {
    const auto b = static_cast<unsigned char>(s[i++]);
    v |= std::uint64_t{b & 0x7Fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace dllbridge::wire::detail
