#include "core/region.hpp"

namespace dllbridge::surrogate {

// Not yet on Windows: the client frames its buffers.
std::string RegionMap::map_native(std::intptr_t, std::uint64_t, Segment&) {
  return "no shared region on Windows yet";
}
void RegionMap::unmap(const Segment&) noexcept {}

}  // namespace dllbridge::surrogate
