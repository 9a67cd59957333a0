// The region on Windows: not yet (docs/architecture.md): calls frame their buffers.
#include "channel/region.hpp"

namespace dllbridge::detail {

std::shared_ptr<Region> Region::create() { return nullptr; }
Region::~Region() = default;
void Region::discard(std::uint64_t, std::uint64_t) noexcept {}

}  // namespace dllbridge::detail
