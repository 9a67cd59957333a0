// The client's shared region (channel/region.hpp): its allocator hands out
// disjoint aligned blocks, takes them back when leases end (merging
// neighbours), says when it is full, and finds memory that lies inside it.
#include <gtest/gtest.h>

#include <cstdlib>

#include "channel/region.hpp"

using dllbridge::detail::kRegionSize;
using dllbridge::detail::Region;
using dllbridge::detail::RegionLease;

TEST(Region, BlocksAreDisjointAlignedAndComeBackMerged) {
  std::shared_ptr<Region> region = Region::shared();
  ASSERT_TRUE(region) << "memfd_create failed on this machine";
  {
    RegionLease a = region->allocate(100);
    RegionLease b = region->allocate(kRegionSize / 2);
    ASSERT_TRUE(a.data() && b.data());
    EXPECT_EQ(a.offset() % 64, 0u);
    EXPECT_EQ(b.offset() % 64, 0u);
    EXPECT_GE(b.offset(), a.offset() + 100);  // disjoint
    // What is left is under half the region: a second half does not fit.
    EXPECT_EQ(region->allocate(kRegionSize / 2).data(), nullptr);
    std::uint64_t offset = 0;
    EXPECT_TRUE(region->offset_of(b.data() + 10, 20, offset));
    EXPECT_EQ(offset, b.offset() + 10);
    int outside = 0;
    EXPECT_FALSE(region->offset_of(&outside, sizeof outside, offset));
    EXPECT_FALSE(region->offset_of(b.data(), kRegionSize, offset)) << "runs past the end";
  }
  // Both back and merged with the rest: the whole region is one block again.
  RegionLease all = region->allocate(kRegionSize);
  EXPECT_NE(all.data(), nullptr);
  RegionLease moved = std::move(all);
  EXPECT_EQ(all.data(), nullptr);
  EXPECT_NE(moved.data(), nullptr);
}

TEST(Region, OffWhileTheEnvironmentSaysSo) {
  ::setenv("DLLBRIDGE_SHARED_REGION", "off", 1);
  EXPECT_EQ(Region::shared(), nullptr);
  ::unsetenv("DLLBRIDGE_SHARED_REGION");
  EXPECT_NE(Region::shared(), nullptr);
}
