#include "core/region.hpp"

namespace dllbridge::surrogate {

// Not yet on Windows: the client frames its buffers.
std::string RegionMap::map(std::intptr_t, std::uint64_t) { return "no shared region on Windows yet"; }
RegionMap::~RegionMap() = default;

}  // namespace dllbridge::surrogate
