// A bridge's shared region (channel/region.hpp): its allocator hands out
// disjoint aligned blocks, takes them back when leases end (merging
// neighbours), grows by a new segment (at least the size needed and twice
// the last) when no segment has room, stops at its cap, and finds memory
// that lies inside one of its segments.
#include <gtest/gtest.h>

#include <cstdlib>

#include "channel/region.hpp"

using dllbridge::detail::BridgeRegion;
using dllbridge::detail::Region;
using dllbridge::detail::RegionLease;
using dllbridge::detail::RegionPlace;

namespace {
constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
}

TEST(Region, BlocksAreDisjointAlignedAndComeBackMerged) {
  std::shared_ptr<Region> region = Region::create(4 * kMiB, 4 * kMiB);  // no room to grow
  ASSERT_TRUE(region) << "memfd_create failed on this machine";
  {
    RegionLease a = region->allocate(100);
    RegionLease b = region->allocate(2 * kMiB);
    ASSERT_TRUE(a.data() && b.data());
    EXPECT_EQ(a.offset() % 64, 0u);
    EXPECT_EQ(b.offset() % 64, 0u);
    EXPECT_GE(b.offset(), a.offset() + 100);  // disjoint
    // What is left is under half the region: a second half does not fit.
    EXPECT_EQ(region->allocate(2 * kMiB).data(), nullptr);
    EXPECT_EQ(region->segments(), 1u);
    RegionPlace where;
    EXPECT_TRUE(region->place_of(b.data() + 10, 20, where));
    EXPECT_EQ(where.segment, 0u);
    EXPECT_EQ(where.offset, b.offset() + 10);
    int outside = 0;
    EXPECT_FALSE(region->place_of(&outside, sizeof outside, where));
    EXPECT_FALSE(region->place_of(b.data(), 4 * kMiB, where)) << "runs past the end";
  }
  // Both back and merged with the rest: the whole region is one block again.
  RegionLease all = region->allocate(4 * kMiB);
  EXPECT_NE(all.data(), nullptr);
  RegionLease moved = std::move(all);
  EXPECT_EQ(all.data(), nullptr);
  EXPECT_NE(moved.data(), nullptr);
}

TEST(Region, GrowsBySegmentsUpToItsCap) {
  std::shared_ptr<Region> region = Region::create(4 * kMiB, 40 * kMiB);
  ASSERT_TRUE(region);
  RegionLease a = region->allocate(3 * kMiB);
  // No room in the first: a second segment, twice the first.
  RegionLease b = region->allocate(3 * kMiB);
  ASSERT_TRUE(b.data());
  EXPECT_EQ(b.segment(), 1u);
  ASSERT_EQ(region->segments(), 2u);
  EXPECT_EQ(region->segment_size(1), 8 * kMiB);
  // Larger than twice the last: a segment of the size needed (whole MiB).
  RegionLease c = region->allocate(20 * kMiB + 5);
  ASSERT_TRUE(c.data());
  EXPECT_EQ(c.segment(), 2u);
  EXPECT_EQ(region->segment_size(2), 21 * kMiB);
  EXPECT_EQ(region->total(), 33 * kMiB);
  // Past the cap (7 MiB left): nothing, and no segment is made.
  EXPECT_EQ(region->allocate(8 * kMiB).data(), nullptr);
  EXPECT_EQ(region->segments(), 3u);
  // What fits in the rest of the cap gets a last segment of that rest.
  RegionLease d = region->allocate(6 * kMiB);
  ASSERT_TRUE(d.data());
  EXPECT_EQ(region->segment_size(3), 7 * kMiB);
  // Each segment's memory is found in it, and the segments are distinct memory.
  RegionPlace where;
  ASSERT_TRUE(region->place_of(c.data() + 64, 64, where));
  EXPECT_EQ(where.segment, 2u);
  EXPECT_EQ(where.offset, c.offset() + 64);
  EXPECT_EQ(region->at(2, c.offset(), 20 * kMiB), c.data());
  EXPECT_EQ(region->at(2, c.offset(), 22 * kMiB), nullptr) << "past the segment's end";
  EXPECT_EQ(region->at(4, 0, 1), nullptr) << "no such segment";
  EXPECT_EQ(region->at(0, ~std::uint64_t{0}, 2), nullptr) << "offset + length wraps";
  a.data()[0] = 1;
  b.data()[0] = 2;
  EXPECT_EQ(a.data()[0], 1);
}

TEST(Region, OffForABridgeMadeWhileTheEnvironmentSaysSo) {
  ::setenv("DLLBRIDGE_SHARED_REGION", "off", 1);
  BridgeRegion off;
  ::unsetenv("DLLBRIDGE_SHARED_REGION");
  EXPECT_EQ(off.get(), nullptr);
  BridgeRegion on;
  std::shared_ptr<Region> r = on.get();
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(on.get(), r) << "made once";
  EXPECT_NE(BridgeRegion().get(), r) << "each bridge has its own";
}
