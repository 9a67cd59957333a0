// The shared region for bulk data (docs/architecture.md, "The shared
// region"): one memory object of this process, mapped here and by each
// surrogate that accepted it in its handshake. A buffer of a call above
// kRegionThreshold bytes is placed in it (Value.region) instead of being
// framed: the surrogate hands the DLL a pointer into its own mapping, and
// [out] / [in, out] data comes back in place. Linux: an anonymous memfd
// (never a name another user could open), passed over the socket with
// SCM_RIGHTS. One file per platform (region_posix.cpp / region_win.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace dllbridge::detail {

// Buffers of at least this many bytes go through the region.
inline constexpr std::size_t kRegionThreshold = 32u << 10;
// The region's size: what all calls in flight may place at once (address
// space in each surrogate; pages are used only as buffers touch them).
inline constexpr std::uint64_t kRegionSize = 256u << 20;

class Region;

// A block of the region lent to one call; returned to the region when the
// lease ends (after the reply was read, or the call failed).
class RegionLease {
 public:
  RegionLease() = default;
  RegionLease(std::shared_ptr<Region> region, std::uint64_t offset, std::uint64_t size, unsigned char* data)
      : region_(std::move(region)), offset_(offset), size_(size), data_(data) {}
  ~RegionLease();
  RegionLease(RegionLease&& o) noexcept { *this = std::move(o); }
  RegionLease& operator=(RegionLease&& o) noexcept;
  RegionLease(const RegionLease&) = delete;
  RegionLease& operator=(const RegionLease&) = delete;

  std::uint64_t offset() const { return offset_; }
  std::uint64_t size() const { return size_; }
  unsigned char* data() const { return data_; }
  // Keeps the block out of use for good: a call that timed out may still
  // have a DLL writing into it.
  void abandon() noexcept { region_.reset(); }

 private:
  std::shared_ptr<Region> region_;
  std::uint64_t offset_ = 0;
  std::uint64_t size_ = 0;
  unsigned char* data_ = nullptr;
};

class Region : public std::enable_shared_from_this<Region> {
 public:
  // The process's region, created on first use; null when this platform or
  // process cannot make one, and while the environment variable
  // DLLBRIDGE_SHARED_REGION is "off" (calls then frame their buffers).
  static std::shared_ptr<Region> shared();

  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  // A block of `bytes` (aligned to 64), or an empty lease (data() null)
  // when the region has no room now. Thread-safe.
  RegionLease allocate(std::uint64_t bytes);
  // The mapping, for reading back [out] data: `length` bytes at `offset`,
  // or null when that is not inside the region.
  const unsigned char* at(std::uint64_t offset, std::uint64_t length) const;
  // Whether the `length` bytes at `p` lie inside the region (memory from
  // Bridge::alloc): then their offset.
  bool offset_of(const void* p, std::uint64_t length, std::uint64_t& offset) const;
  std::uint64_t size() const { return size_; }
  // The descriptor (POSIX) / handle value (Windows) that is passed to surrogates.
  std::intptr_t native() const { return native_; }

 private:
  friend class RegionLease;
  Region(std::intptr_t native, unsigned char* base, std::uint64_t size);
  void release(std::uint64_t offset, std::uint64_t size) noexcept;
  // Gives the pages of a large freed block back to the system (platform part).
  void discard(std::uint64_t offset, std::uint64_t size) noexcept;
  static std::shared_ptr<Region> create();  // platform part

  const std::intptr_t native_;
  unsigned char* const base_;
  const std::uint64_t size_;
  std::mutex mu_;
  std::map<std::uint64_t, std::uint64_t> free_;  // offset -> size, coalesced
};

}  // namespace dllbridge::detail
