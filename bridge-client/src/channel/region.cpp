// The region's allocator (first fit over a coalesced free list); the
// platform parts create, map and discard (region_posix.cpp, region_win.cpp).
#include "channel/region.hpp"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <string_view>

namespace dllbridge::detail {

RegionLease::~RegionLease() {
  if (region_ && data_) region_->release(offset_, size_);
}

RegionLease& RegionLease::operator=(RegionLease&& o) noexcept {
  if (this != &o) {
    if (region_ && data_) region_->release(offset_, size_);
    region_ = std::move(o.region_);
    offset_ = o.offset_;
    size_ = o.size_;
    data_ = o.data_;
    o.data_ = nullptr;
    o.region_.reset();
  }
  return *this;
}

Region::Region(std::intptr_t native, unsigned char* base, std::uint64_t size)
    : native_(native), base_(base), size_(size) {
  free_.emplace(0, size);
}

std::shared_ptr<Region> Region::shared() {
  // Off for this process while DLLBRIDGE_SHARED_REGION=off (comparisons, debugging).
  if (const char* e = std::getenv("DLLBRIDGE_SHARED_REGION"); e && std::string_view(e) == "off")
    return nullptr;
  static std::mutex mu;
  static std::shared_ptr<Region> region;
  static bool tried = false;
  std::lock_guard lock(mu);
  if (!tried) {
    tried = true;
    region = create();
  }
  return region;
}

RegionLease Region::allocate(std::uint64_t bytes) {
  constexpr std::uint64_t kAlign = 64;
  const std::uint64_t need = (std::max<std::uint64_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
  std::lock_guard lock(mu_);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < need) continue;
    const std::uint64_t offset = it->first;
    const std::uint64_t left = it->second - need;
    free_.erase(it);
    if (left != 0) free_.emplace(offset + need, left);
    return RegionLease(shared_from_this(), offset, need, base_ + offset);
  }
  return {};
}

const unsigned char* Region::at(std::uint64_t offset, std::uint64_t length) const {
  if (offset > size_ || length > size_ - offset) return nullptr;
  return base_ + offset;
}

bool Region::offset_of(const void* p, std::uint64_t length, std::uint64_t& offset) const {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  const auto b = reinterpret_cast<std::uintptr_t>(base_);
  if (a < b || a - b > size_ || length > size_ - (a - b)) return false;
  offset = a - b;
  return true;
}

void Region::release(std::uint64_t offset, std::uint64_t size) noexcept {
  constexpr std::uint64_t kDiscardFrom = 8u << 20;  // larger blocks give their pages back
  if (size >= kDiscardFrom) discard(offset, size);
  std::lock_guard lock(mu_);
  auto next = free_.lower_bound(offset);
  if (next != free_.end() && offset + size == next->first) {
    size += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += size;
      return;
    }
  }
  free_.emplace(offset, size);
}

}  // namespace dllbridge::detail
