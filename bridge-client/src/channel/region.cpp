// The region's allocator (first fit over coalesced free lists, one per
// segment), its growth and its resident budget (freed blocks keep their
// pages up to it, the least recently freed go first past it); the platform
// parts make, map and discard segments (region_posix.cpp, region_win.cpp).
#include "channel/region.hpp"

#include "channel/environment.hpp"

#include <algorithm>
#include <cstdlib>
#include <iterator>

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
      unkeep(i, offset, need);
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
  Segment& s = segments_[segment];
  std::lock_guard lock(mu_);
  keep(segment, offset, size);
  trim();
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

void Region::unkeep(std::uint32_t segment, std::uint64_t offset, std::uint64_t size) {
  auto& kept = segments_[segment].kept;
  const std::uint64_t end = offset + size;
  auto it = kept.upper_bound(offset);
  if (it != kept.begin()) --it;  // the last kept range that starts at or before `offset`
  while (it != kept.end() && it->first < end) {
    const std::uint64_t at = it->first, stop = at + it->second.first, stamp = it->second.second;
    if (stop <= offset) {
      ++it;
      continue;
    }
    by_age_.erase({stamp, segment, at});
    kept_bytes_ -= it->second.first;
    it = kept.erase(it);
    // What lies outside the new block stays kept, as old as it was.
    for (auto [from, to] : {std::pair{at, std::min(stop, offset)}, std::pair{std::max(at, end), stop}}) {
      if (from >= to) continue;
      kept.emplace(from, std::pair{to - from, stamp});
      by_age_.emplace(stamp, segment, from);
      kept_bytes_ += to - from;
    }
  }
}

void Region::keep(std::uint32_t segment, std::uint64_t offset, std::uint64_t size) {
  const std::uint64_t stamp = ++stamp_;
  segments_[segment].kept.emplace(offset, std::pair{size, stamp});
  by_age_.emplace(stamp, segment, offset);
  kept_bytes_ += size;
}

void Region::trim() noexcept {
  constexpr std::uint64_t kPage = 4096;  // a partly given back range ends on a page boundary
  while (kept_bytes_ > budget_) {
    const auto oldest = by_age_.begin();
    const auto [stamp, segment, offset] = *oldest;
    Segment& s = segments_[segment];
    const auto it = s.kept.find(offset);
    const std::uint64_t end = offset + it->second.first, excess = kept_bytes_ - budget_;
    // Give back [from, end): the whole range, or the pages of its tail that bring it within budget.
    const std::uint64_t from =
        excess >= it->second.first ? offset : std::max(offset, (end - excess) / kPage * kPage);
    discard(s, from, end - from);
    kept_bytes_ -= end - from;
    if (from == offset) {
      s.kept.erase(it);
      by_age_.erase(oldest);
    } else {
      it->second.first = from - offset;
    }
  }
}

void Region::set_resident_budget(std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  budget_ = bytes;
  trim();
}

std::uint64_t Region::resident_budget() const {
  std::lock_guard lock(mu_);
  return budget_;
}

std::uint64_t Region::kept_bytes() const {
  std::lock_guard lock(mu_);
  return kept_bytes_;
}

BridgeRegion::BridgeRegion(bool enabled, std::optional<std::uint64_t> budget)
    : budget_(budget ? *budget : env_bytes("DLLBRIDGE_REGION_BUDGET").value_or(kDefaultResidentBudget)) {
  // Off for this bridge when DLLBRIDGE_SHARED_REGION=off (comparisons, debugging).
  tried_ = !enabled || !env_switch("DLLBRIDGE_SHARED_REGION").value_or(true);
}

std::shared_ptr<Region> BridgeRegion::get() {
  std::lock_guard lock(mu_);
  if (!tried_) {
    tried_ = true;
    region_ = Region::create();
    if (region_) region_->set_resident_budget(budget_);
  }
  return region_;
}

}  // namespace dllbridge::detail
