// The surrogate's mapping of the client's shared region (Hello.region_size;
// docs/architecture.md, "The shared region"). Buffers the client placed in
// it (Value.region) are handed to the DLL as pointers into this mapping,
// after a check that they lie inside it. One file per platform.
#pragma once

#include <cstdint>
#include <string>

namespace dllbridge::surrogate {

class RegionMap {
 public:
  RegionMap() = default;
  ~RegionMap();
  RegionMap(const RegionMap&) = delete;
  RegionMap& operator=(const RegionMap&) = delete;

  // Maps `size` bytes of `native` (POSIX: a memfd the client passed, owned
  // from now on and closed here; Windows: a file-mapping handle value).
  // Refuses (and closes it) what is not a sealed memory object of at least
  // that size. Returns why it could not map, or "" when mapped. Once: a
  // mapped region stays.
  std::string map(std::intptr_t native, std::uint64_t size);

  bool mapped() const { return base_ != nullptr; }
  // `length` bytes at `offset`, checked in 64 bits against the mapping; null
  // when any of them lies outside it (or nothing is mapped).
  unsigned char* at(std::uint64_t offset, std::uint64_t length) const {
    if (!base_ || offset > size_ || length > size_ - offset) return nullptr;
    return base_ + offset;
  }

 private:
  unsigned char* base_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace dllbridge::surrogate
