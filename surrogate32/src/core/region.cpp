// The order and limits of the region's segments; the platform parts map
// them (region_posix.cpp, region_win.cpp).
#include "core/region.hpp"

namespace dllbridge::surrogate {

std::string RegionMap::map(std::uint32_t index, std::intptr_t native, std::uint64_t size) {
  std::lock_guard lock(mu_);
  const std::uint32_t n = count_.load(std::memory_order_relaxed);
  std::string problem;
  if (index != n) {
    problem = "segment " + std::to_string(index) + " is not the next one (" + std::to_string(n) + " mapped)";
  } else if (n == kMaxSegments) {
    problem = "a region of more than " + std::to_string(kMaxSegments) + " segments";
  } else if (size == 0 || size > kMaxTotal - total_) {
    problem = "a segment of " + std::to_string(size) + " bytes (at most " +
              std::to_string(kMaxTotal - total_) + " more in this surrogate)";
  }
  Segment s;
  if (problem.empty()) {
    problem = map_native(native, size, s);
  } else {
    map_native(native, 0, s);  // only closes a descriptor (POSIX)
  }
  if (!problem.empty()) return problem;
  segments_[n] = s;
  total_ += size;
  count_.store(n + 1, std::memory_order_release);  // readers see it whole
  return {};
}

RegionMap::~RegionMap() {
  for (std::uint32_t i = 0; i < count_.load(); ++i) unmap(segments_[i]);
}

}  // namespace dllbridge::surrogate
