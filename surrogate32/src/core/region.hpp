// The surrogate's mapping of its client's shared region, a list of
// segments (docs/architecture.md, "The shared region"): segment 0 comes with
// the Hello (Hello.region_size), later ones with MapSegment, in order.
// Buffers the client placed in it (Value.region) are handed to the DLL as
// pointers into this mapping, after a check that they lie inside one
// segment. One file per platform.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace dllbridge::surrogate {

class RegionMap {
 public:
  // Most segments, and most bytes of all of them (address space: a 32-bit
  // surrogate has 4 GiB for everything).
  static constexpr std::uint32_t kMaxSegments = 16;
  static constexpr std::uint64_t kMaxTotal =
      sizeof(void*) == 4 ? std::uint64_t{1} << 30 : std::uint64_t{64} << 30;

  RegionMap() = default;
  ~RegionMap();
  RegionMap(const RegionMap&) = delete;
  RegionMap& operator=(const RegionMap&) = delete;

  // Maps `size` bytes of `native` as segment `index` (POSIX: a memfd the
  // client passed, owned from now on and closed here; Windows: a
  // file-mapping handle value). Refuses (and closes it) an index that is not
  // the next one, a total past kMaxTotal, and what is not a sealed memory
  // object of at least that size. Returns why it could not map, or "" when
  // mapped. Thread-safe; a mapped segment stays.
  std::string map(std::uint32_t index, std::intptr_t native, std::uint64_t size);
  // What map() takes for a segment that came with a request (platform
  // part): POSIX the descriptor passed with the frame (`passed_fd`, -1 when
  // none), Windows the handle value the client duplicated into this process.
  static std::intptr_t received(std::uint64_t handle, int passed_fd);

  bool mapped() const { return count_.load(std::memory_order_acquire) != 0; }
  // `length` bytes at `offset` of `segment`, checked in 64 bits against
  // that segment's mapping; null when any of them lies outside it (or it is
  // not mapped).
  unsigned char* at(std::uint64_t segment, std::uint64_t offset, std::uint64_t length) const {
    if (segment >= count_.load(std::memory_order_acquire)) return nullptr;
    const Segment& s = segments_[segment];
    if (offset > s.size || length > s.size - offset) return nullptr;
    return s.base + offset;
  }

 private:
  struct Segment {
    unsigned char* base = nullptr;
    std::uint64_t size = 0;
  };
  // Platform part: maps `native` (taking it) into `out`, or says why not.
  static std::string map_native(std::intptr_t native, std::uint64_t size, Segment& out);
  static void unmap(const Segment& s) noexcept;

  std::mutex mu_;  // one mapping at a time
  std::array<Segment, kMaxSegments> segments_;
  std::atomic<std::uint32_t> count_{0};  // [0, count_) mapped; fixed once published
  std::uint64_t total_ = 0;              // mu_
};

}  // namespace dllbridge::surrogate
