// The shared region for bulk data (docs/architecture.md, "The shared
// region"): one per Bridge, a list of memory segments mapped here and by
// each surrogate of that bridge (every pool member, every restart). A buffer
// of a call above kRegionThreshold bytes is placed in it (Value.region:
// segment, offset, length) instead of being framed: the surrogate hands the
// DLL a pointer into its own mapping, and [out] / [in, out] data comes back
// in place. The first segment goes with the Hello; a segment added later
// reaches a live surrogate (MapSegment) before the first call that uses it.
// Linux: anonymous sealed memfds (never a name another user could open),
// passed over the socket with SCM_RIGHTS. One file per platform
// (region_posix.cpp / region_win.cpp).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>

namespace dllbridge::rpc {
class Transport;
}

namespace dllbridge::detail {

// Buffers of at least this many bytes go through the region.
inline constexpr std::size_t kRegionThreshold = 32u << 10;
// The first segment's size; each later one is at least the size a block
// needs and twice the last one's.
inline constexpr std::uint64_t kFirstSegmentSize = std::uint64_t{64} << 20;
// What all segments of one bridge may add up to: address space in each
// surrogate (pages are used only as buffers touch them). A 32-bit
// surrogate has 4 GiB of it for everything; a 64-bit one has room to spare.
inline constexpr std::uint64_t kRegionCap32 = std::uint64_t{1} << 30;
inline constexpr std::uint64_t kRegionCap64 = std::uint64_t{4} << 30;
// Most segments a region has (the surrogate refuses more).
inline constexpr std::uint32_t kMaxSegments = 16;
// How many bytes of freed blocks a region keeps resident by default (their
// pages stay mapped and filled, so the next call that uses them does not
// fault them in again); past it, the least recently freed are given back to
// the system. DLLBRIDGE_REGION_BUDGET (bytes, or with a K, M or G suffix)
// sets it for a bridge made while it is set.
inline constexpr std::uint64_t kDefaultResidentBudget = std::uint64_t{64} << 20;

class Region;

// A block of the region lent to one call; returned to the region when the
// lease ends (after the reply was read, or the call failed).
class RegionLease {
 public:
  RegionLease() = default;
  RegionLease(std::shared_ptr<Region> region, std::uint32_t segment, std::uint64_t offset, std::uint64_t size,
              unsigned char* data)
      : region_(std::move(region)), segment_(segment), offset_(offset), size_(size), data_(data) {}
  ~RegionLease();
  RegionLease(RegionLease&& o) noexcept { *this = std::move(o); }
  RegionLease& operator=(RegionLease&& o) noexcept;
  RegionLease(const RegionLease&) = delete;
  RegionLease& operator=(const RegionLease&) = delete;

  std::uint32_t segment() const { return segment_; }
  std::uint64_t offset() const { return offset_; }
  std::uint64_t size() const { return size_; }
  unsigned char* data() const { return data_; }
  // Keeps the block out of use for good: a call that timed out may still
  // have a DLL writing into it.
  void abandon() noexcept { region_.reset(); }

 private:
  std::shared_ptr<Region> region_;
  std::uint32_t segment_ = 0;
  std::uint64_t offset_ = 0;
  std::uint64_t size_ = 0;
  unsigned char* data_ = nullptr;
};

// Where bytes of the region are: a segment and an offset in it.
struct RegionPlace {
  std::uint32_t segment = 0;
  std::uint64_t offset = 0;
};

class Region : public std::enable_shared_from_this<Region> {
 public:
  // A new region with its first segment of `first` bytes, growing up to
  // `cap` bytes in all; null when this platform or process cannot make one.
  static std::shared_ptr<Region> create(std::uint64_t first = kFirstSegmentSize,
                                        std::uint64_t cap = kRegionCap32);

  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  // A block of `bytes` (aligned to 64) in the first segment with room,
  // adding a segment when none has (within the cap); an empty lease (data()
  // null) when the region cannot hold it now. Thread-safe.
  RegionLease allocate(std::uint64_t bytes);
  // The mapping, for reading back [out] data: `length` bytes at `offset` of
  // `segment`, or null when that is not inside the region (checked in 64 bits).
  const unsigned char* at(std::uint32_t segment, std::uint64_t offset, std::uint64_t length) const;
  // Whether the `length` bytes at `p` lie inside one segment (memory from
  // Bridge::alloc): then where.
  bool place_of(const void* p, std::uint64_t length, RegionPlace& where) const;

  // Segments made so far (they stay until the region goes).
  std::uint32_t segments() const { return count_.load(std::memory_order_acquire); }
  // Size and descriptor (POSIX) / handle value (Windows) of segment `i` < segments().
  std::uint64_t segment_size(std::uint32_t i) const { return segments_[i].size; }
  std::intptr_t native(std::uint32_t i) const { return segments_[i].native; }
  // Gives segment `i` to the surrogate at the other end of `transport`
  // (platform part). POSIX: its memfd goes with the next frame sent
  // (SCM_RIGHTS), `handle` 0. Windows: its section handle is duplicated into
  // process `pid` (0: not known yet), `handle` the value there. False when
  // it cannot be given.
  bool give(std::uint32_t i, rpc::Transport& transport, long pid, std::uint64_t& handle) const;
  // Bytes of all segments together, and the most they may grow to.
  std::uint64_t total() const;
  std::uint64_t cap() const { return cap_.load(std::memory_order_relaxed); }
  // Lowers (or raises) the cap, e.g. to what the bridge's surrogate can map;
  // segments made already stay.
  void set_cap(std::uint64_t cap) { cap_.store(cap, std::memory_order_relaxed); }

  // The resident budget: at most this many bytes of freed blocks keep their
  // pages; a block freed past it gives back the pages of the least recently
  // freed ones (a lowered budget at once). 0: every freed block gives its
  // pages back. Windows keeps them all (its discard does nothing yet).
  void set_resident_budget(std::uint64_t bytes);
  std::uint64_t resident_budget() const;
  // Bytes of freed blocks that may still have pages (counted whole, from the
  // time a block is freed until it is used again or given back): never more
  // than the budget once a free returned.
  std::uint64_t kept_bytes() const;

 private:
  friend class RegionLease;
  struct Segment {
    std::intptr_t native = -1;
    unsigned char* base = nullptr;
    std::uint64_t size = 0;
    std::map<std::uint64_t, std::uint64_t> free;  // offset -> size, coalesced (mu_)
    // The parts of `free` that may still have pages: offset -> {size, stamp
    // of the free that made them}, not coalesced (mu_).
    std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> kept;
  };
  explicit Region(std::uint64_t cap) : cap_(cap) {}
  // Adds a segment of `size` bytes (mu_ held); false when none could be made.
  bool grow(std::uint64_t size);
  void release(std::uint32_t segment, std::uint64_t offset, std::uint64_t size) noexcept;
  // The budget's accounting (mu_ held): bytes taken by a new block are no
  // longer kept; a freed block is, and the oldest kept bytes past the budget
  // are discarded.
  void unkeep(std::uint32_t segment, std::uint64_t offset, std::uint64_t size);
  void keep(std::uint32_t segment, std::uint64_t offset, std::uint64_t size);
  void trim() noexcept;
  // Platform parts: make a segment (memory object mapped here), unmap and
  // close one, give the whole pages of a freed range back to the system
  // (for this process and every surrogate mapping it: the pages are the
  // memory object's).
  static bool make_segment(std::uint64_t size, Segment& out);
  static void drop_segment(Segment& s) noexcept;
  static void discard(const Segment& s, std::uint64_t offset, std::uint64_t size) noexcept;

  std::atomic<std::uint64_t> cap_;
  mutable std::mutex mu_;
  std::uint64_t budget_ = kDefaultResidentBudget;  // mu_
  std::uint64_t kept_bytes_ = 0;                   // mu_: sum of all segments' `kept`
  std::uint64_t stamp_ = 0;                        // mu_: frees so far
  std::set<std::tuple<std::uint64_t, std::uint32_t, std::uint64_t>>
      by_age_;                                  // mu_: {stamp, segment, offset} of `kept`
  std::array<Segment, kMaxSegments> segments_;  // [0, count_) are made; fixed once published
  std::atomic<std::uint32_t> count_{0};
};

// A bridge's region, made when first asked for (its first session's
// Hello, its first call or alloc): a bridge that never starts a surrogate
// costs nothing. Off for good when `enabled` is false or
// DLLBRIDGE_SHARED_REGION was "off" as the bridge was made. Its resident
// budget is `budget` when given, else DLLBRIDGE_REGION_BUDGET's as the
// bridge was made, else kDefaultResidentBudget
// (BridgeOptions::shared_region, region_budget). Throws Error(bad_argument)
// when either variable holds what it cannot be (env_switch, env_bytes).
class BridgeRegion {
 public:
  explicit BridgeRegion(bool enabled = true, std::optional<std::uint64_t> budget = std::nullopt);
  // The region, or null (off, or it could not be made). Thread-safe.
  std::shared_ptr<Region> get();

 private:
  std::mutex mu_;
  bool tried_;
  std::uint64_t budget_;
  std::shared_ptr<Region> region_;
};

}  // namespace dllbridge::detail
