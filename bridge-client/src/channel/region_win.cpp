// The region on Windows: not yet (docs/architecture.md): calls frame their buffers.
#include "channel/region.hpp"

namespace dllbridge::detail {

bool Region::make_segment(std::uint64_t, Segment&) { return false; }
void Region::drop_segment(Segment&) noexcept {}
void Region::discard(const Segment&, std::uint64_t, std::uint64_t) noexcept {}

}  // namespace dllbridge::detail
