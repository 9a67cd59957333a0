// The size caps both ends enforce: the client before it sends, the surrogate
// again on what it receives. One place, so that a value the client accepts
// is never one the surrogate refuses for its size.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dllbridge::rules {

inline constexpr std::uint64_t kMaxElements = 1u << 24;  // elements of one buffer (pointee)
// Elements of one buffer in the shared region (Value.region): its bytes are
// bounded by the region's size, checked by the surrogate against its mapping.
inline constexpr std::uint64_t kMaxRegionElements = std::uint64_t{1} << 32;
inline constexpr int kMaxDepth = 8;                             // nested pointers / structs / arrays
inline constexpr std::size_t kMaxTypeNodes = 4096;              // type nodes of one function
inline constexpr std::uint32_t kMaxArrayLength = 1u << 20;      // a fixed array inside a struct
inline constexpr std::size_t kMaxStructSize = 16u << 20;        // bytes of one struct / array
inline constexpr std::size_t kMaxCallMemory = 64u << 20;        // buffers of one call, all together
inline constexpr std::size_t kMaxAggregateElements = 1u << 22;  // array elements of one function's types
inline constexpr std::size_t kMaxReturnedText = 1u << 20;  // units of a char* / wchar_t* return read back

}  // namespace dllbridge::rules
