// The region's allocator (first fit over coalesced free lists, one per
// segment) and its growth; the platform parts make, map and discard
// segments (region_posix.cpp, region_win.cpp).
#include "channel/region.hpp"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <string_view>

namespace dllbridge::detail {

RegionLease::~RegionLease() {
  if (region_ && data_) region_->release(segment_, offset_, size_);
}

RegionLease& RegionLease::operator=(RegionLease&& o) noexcept {
  if (this != &o) {
    if (region_ && data_) region_->release(segment_, offset_, size_);
    region_ = std::move(o.region_);
    segment_ = o.segment_;
    offset_ = o.offset_;
    size_ = o.size_;
    data_ = o.data_;
    o.data_ = nullptr;
    o.region_.reset();
  }
  return *this;
}

std::shared_ptr<Region> Region::create(std::uint64_t first, std::uint64_t cap) {
  std::shared_ptr<Region> region(new Region(cap));
  std::lock_guard lock(region->mu_);
  if (!region->grow(first)) return nullptr;
  return region;
}

Region::~Region() {
  for (std::uint32_t i = 0; i < count_.load(); ++i) drop_segment(segments_[i]);
}

std::uint64_t Region::total() const {
  std::uint64_t sum = 0;
  for (std::uint32_t i = 0, n = segments(); i < n; ++i) sum += segments_[i].size;
  return sum;
}

bool Region::grow(std::uint64_t size) {
  const std::uint32_t n = count_.load(std::memory_order_relaxed);
  if (n == kMaxSegments || size == 0) return false;
  Segment& s = segments_[n];
  if (!make_segment(size, s)) return false;
  s.free.clear();
  s.free.emplace(0, s.size);
  count_.store(n + 1, std::memory_order_release);  // readers see it whole
  return true;
}

RegionLease Region::allocate(std::uint64_t bytes) {
  constexpr std::uint64_t kAlign = 64;
  if (bytes > (std::uint64_t{1} << 62)) return {};
  const std::uint64_t need = (std::max<std::uint64_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
  std::lock_guard lock(mu_);
  auto take = [&](std::uint32_t i) -> RegionLease {
    Segment& s = segments_[i];
    for (auto it = s.free.begin(); it != s.free.end(); ++it) {
      if (it->second < need) continue;
      const std::uint64_t offset = it->first;
      const std::uint64_t left = it->second - need;
      s.free.erase(it);
      if (left != 0) s.free.emplace(offset + need, left);
      return RegionLease(shared_from_this(), i, offset, need, s.base + offset);
    }
    return {};
  };
  const std::uint32_t n = count_.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < n; ++i) {
    if (RegionLease lease = take(i); lease.data()) return lease;
  }
  // No room: a new segment, at least `need` (whole MiB) and twice the last,
  // within the cap.
  constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
  const std::uint64_t used = total(), limit = cap();
  const std::uint64_t at_least = (need + kMiB - 1) / kMiB * kMiB;
  if (n == 0 || used >= limit || at_least > limit - used) return {};
  const std::uint64_t size = std::min(std::max(at_least, 2 * segments_[n - 1].size), limit - used);
  if (!grow(size)) return {};
  return take(n);
}

const unsigned char* Region::at(std::uint32_t segment, std::uint64_t offset, std::uint64_t length) const {
  if (segment >= segments()) return nullptr;
  const Segment& s = segments_[segment];
  if (offset > s.size || length > s.size - offset) return nullptr;
  return s.base + offset;
}

bool Region::place_of(const void* p, std::uint64_t length, RegionPlace& where) const {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  for (std::uint32_t i = 0, n = segments(); i < n; ++i) {
    const Segment& s = segments_[i];
    const auto b = reinterpret_cast<std::uintptr_t>(s.base);
    if (a < b || a - b > s.size || length > s.size - (a - b)) continue;
    where = RegionPlace{i, a - b};
    return true;
  }
  return false;
}

void Region::release(std::uint32_t segment, std::uint64_t offset, std::uint64_t size) noexcept {
  constexpr std::uint64_t kDiscardFrom = 8u << 20;  // larger blocks give their pages back
  Segment& s = segments_[segment];
  if (size >= kDiscardFrom) discard(s, offset, size);
  std::lock_guard lock(mu_);
  auto next = s.free.lower_bound(offset);
  if (next != s.free.end() && offset + size == next->first) {
    size += next->second;
    next = s.free.erase(next);
  }
  if (next != s.free.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += size;
      return;
    }
  }
  s.free.emplace(offset, size);
}

BridgeRegion::BridgeRegion() {
  // Off for this bridge when DLLBRIDGE_SHARED_REGION=off (comparisons, debugging).
  const char* e = std::getenv("DLLBRIDGE_SHARED_REGION");
  tried_ = e && std::string_view(e) == "off";
}

std::shared_ptr<Region> BridgeRegion::get() {
  std::lock_guard lock(mu_);
  if (!tried_) {
    tried_ = true;
    region_ = Region::create();
  }
  return region_;
}

}  // namespace dllbridge::detail
