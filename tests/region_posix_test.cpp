// A bridge's shared region (channel/region.hpp): its allocator hands out
// disjoint aligned blocks, takes them back when leases end (merging
// neighbours), grows by a new segment (at least the size needed and twice
// the last) when no segment has room, stops at its cap, and finds memory
// that lies inside one of its segments; freed blocks keep their pages up to
// the resident budget, the least recently freed given back past it.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "channel/region.hpp"
#include "dllbridge/error.hpp"

using dllbridge::detail::BridgeRegion;
using dllbridge::detail::Region;
using dllbridge::detail::RegionLease;
using dllbridge::detail::RegionPlace;

namespace {
constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

// Bytes of the `length` at `p` (page aligned) whose pages are in memory
// (mincore: for the region's shared memory, whether the memory object holds them).
std::uint64_t resident(const unsigned char* p, std::uint64_t length) {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in_core((length + page - 1) / page);
  if (::mincore(const_cast<unsigned char*>(p), length, in_core.data()) != 0) return ~std::uint64_t{0};
  std::uint64_t n = 0;
  for (unsigned char c : in_core) n += (c & 1) ? page : 0;
  return n;
}

// Every byte of `length` at `p` set to `fill + i * 7`.
void fill(unsigned char* p, std::uint64_t length, unsigned char k) {
  for (std::uint64_t i = 0; i < length; ++i) p[i] = static_cast<unsigned char>(k + i * 7);
}
// How many bytes of `length` at `p` differ from what fill(p, length, k) wrote.
std::uint64_t wrong(const unsigned char* p, std::uint64_t length, unsigned char k) {
  std::uint64_t n = 0;
  for (std::uint64_t i = 0; i < length; ++i) n += p[i] != static_cast<unsigned char>(k + i * 7);
  return n;
}
}  // namespace

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

TEST(Region, FreedBlocksKeepTheirPagesWithinTheBudgetTheOldestGoFirst) {
  std::shared_ptr<Region> region = Region::create(32 * kMiB, 32 * kMiB);
  ASSERT_TRUE(region);
  region->set_resident_budget(6 * kMiB);
  EXPECT_EQ(region->resident_budget(), 6 * kMiB);
  const unsigned char* base = region->at(0, 0, 32 * kMiB);
  ASSERT_NE(base, nullptr);
  EXPECT_EQ(resident(base, 32 * kMiB), 0u) << "a new segment has no pages yet";
  {
    std::vector<RegionLease> blocks;
    for (int i = 0; i < 4; ++i) {
      blocks.push_back(region->allocate(4 * kMiB));  // at 0, 4, 8, 12 MiB
      ASSERT_EQ(blocks.back().offset(), static_cast<std::uint64_t>(i) * 4 * kMiB);
      fill(blocks.back().data(), 4 * kMiB, static_cast<unsigned char>(i));
    }
    EXPECT_EQ(resident(base, 32 * kMiB), 16 * kMiB) << "blocks in use keep their pages, whatever the budget";
    EXPECT_EQ(region->kept_bytes(), 0u);
    // Freed in order 0, 1, 2, 3: 16 MiB freed, 6 kept, the most recently freed.
    for (RegionLease& b : blocks) b = RegionLease();
  }
  EXPECT_EQ(region->kept_bytes(), 6 * kMiB);
  EXPECT_EQ(resident(base, 32 * kMiB), 6 * kMiB);
  EXPECT_EQ(resident(base + 12 * kMiB, 4 * kMiB), 4 * kMiB) << "the last one freed is kept whole";
  EXPECT_EQ(resident(base + 8 * kMiB, 2 * kMiB), 2 * kMiB) << "the one before it keeps its head";
  EXPECT_EQ(resident(base + 10 * kMiB, 2 * kMiB), 0u) << "and gave back its tail";
  EXPECT_EQ(resident(base, 8 * kMiB), 0u) << "the first two freed gave back all";

  // Reused blocks deliver what is written into them, kept pages or given back.
  RegionLease again = region->allocate(16 * kMiB);  // first fit: over all four
  ASSERT_EQ(again.offset(), 0u);
  EXPECT_EQ(region->kept_bytes(), 0u) << "a block in use is not kept";
  EXPECT_EQ(wrong(again.data() + 12 * kMiB, 4 * kMiB, 3), 0u) << "kept pages still hold their bytes";
  EXPECT_EQ(again.data()[0], 0) << "a page given back comes back zero";
  fill(again.data(), 16 * kMiB, 0x40);
  EXPECT_EQ(wrong(again.data(), 16 * kMiB, 0x40), 0u);
  // Freed past the budget: its head is kept. Blocks taken from a kept range
  // leave the rest of it kept, with its bytes.
  again = RegionLease();
  EXPECT_EQ(region->kept_bytes(), 6 * kMiB);
  RegionLease head = region->allocate(1 * kMiB);
  EXPECT_EQ(head.offset(), 0u);
  EXPECT_EQ(wrong(head.data(), 1 * kMiB, 0x40), 0u);
  EXPECT_EQ(region->kept_bytes(), 5 * kMiB);
  RegionLease next = region->allocate(2 * kMiB);
  EXPECT_EQ(next.offset(), 1 * kMiB);
  EXPECT_EQ(region->kept_bytes(), 3 * kMiB);
  EXPECT_EQ(wrong(region->at(0, 3 * kMiB, 3 * kMiB), 3 * kMiB, 0x40), 0u);
  EXPECT_EQ(resident(base, 32 * kMiB), 6 * kMiB);
}

TEST(Region, ABudgetOfZeroGivesBackEveryFreedBlockAndALowerBudgetAppliesAtOnce) {
  std::shared_ptr<Region> region = Region::create(8 * kMiB, 8 * kMiB);
  ASSERT_TRUE(region);
  EXPECT_EQ(region->resident_budget(), dllbridge::detail::kDefaultResidentBudget);
  const unsigned char* base = region->at(0, 0, 8 * kMiB);
  {
    RegionLease a = region->allocate(3 * kMiB);
    RegionLease b = region->allocate(100);  // a block of part of a page, at 3 MiB
    fill(a.data(), 3 * kMiB, 1);
    fill(b.data(), 100, 2);
    a = RegionLease();  // freed first: the older
  }
  EXPECT_EQ(region->kept_bytes(), 3 * kMiB + 128) << "within the default budget: both kept";
  EXPECT_EQ(resident(base, 8 * kMiB), 3 * kMiB + 4096);
  region->set_resident_budget(1 * kMiB);
  EXPECT_EQ(region->kept_bytes(), 1 * kMiB - 4096 + 128)
      << "the oldest gave back whole pages past the budget";
  EXPECT_EQ(resident(base, 8 * kMiB), 1 * kMiB);
  region->set_resident_budget(0);
  EXPECT_EQ(region->kept_bytes(), 0u);
  // Only whole pages are given back: the one the small block shares with
  // free memory around it stays (with its bytes).
  EXPECT_EQ(resident(base, 8 * kMiB), 4096u);
  EXPECT_EQ(wrong(base + 3 * kMiB, 100, 2), 0u);
  for (int round = 0; round < 3; ++round) {  // each reuse starts from fresh pages and holds its bytes
    RegionLease c = region->allocate(5 * kMiB);
    ASSERT_EQ(c.offset(), 0u);
    EXPECT_EQ(c.data()[5 * kMiB - 1], 0);
    fill(c.data(), 5 * kMiB, static_cast<unsigned char>(round));
    EXPECT_EQ(wrong(c.data(), 5 * kMiB, static_cast<unsigned char>(round)), 0u);
  }
  EXPECT_EQ(resident(base, 8 * kMiB), 0u);
}

TEST(Region, TheOptionsTurnItOffAndSetTheBudgetBeforeTheEnvironment) {
  ::setenv("DLLBRIDGE_REGION_BUDGET", "12M", 1);
  BridgeRegion none(true, 0);
  BridgeRegion three(true, 3 * kMiB);
  BridgeRegion from_environment(true, std::nullopt);
  BridgeRegion off(false, 3 * kMiB);
  ::unsetenv("DLLBRIDGE_REGION_BUDGET");
  ASSERT_TRUE(none.get() && three.get() && from_environment.get());
  EXPECT_EQ(none.get()->resident_budget(), 0u);
  EXPECT_EQ(three.get()->resident_budget(), 3 * kMiB);
  EXPECT_EQ(from_environment.get()->resident_budget(), 12 * kMiB);
  EXPECT_EQ(off.get(), nullptr);
  ::setenv("DLLBRIDGE_SHARED_REGION", "off", 1);
  BridgeRegion environment_says_off(true, 3 * kMiB);
  ::unsetenv("DLLBRIDGE_SHARED_REGION");
  EXPECT_EQ(environment_says_off.get(), nullptr) << "the environment's off wins: a switch for debugging";
}

TEST(Region, TheBudgetComesFromTheEnvironmentAsTheBridgeIsMade) {
  ::setenv("DLLBRIDGE_REGION_BUDGET", "12M", 1);
  BridgeRegion twelve;
  ::setenv("DLLBRIDGE_REGION_BUDGET", "4096", 1);
  BridgeRegion bytes;
  ::setenv("DLLBRIDGE_REGION_BUDGET", "", 1);
  BridgeRegion empty;
  ::setenv("DLLBRIDGE_REGION_BUDGET", "lots", 1);
  EXPECT_THROW(BridgeRegion nonsense, dllbridge::Error)
      << "a budget that is not one is an error, not the default";
  ::unsetenv("DLLBRIDGE_REGION_BUDGET");
  ASSERT_TRUE(twelve.get() && bytes.get() && empty.get());
  EXPECT_EQ(twelve.get()->resident_budget(), 12 * kMiB);
  EXPECT_EQ(bytes.get()->resident_budget(), 4096u);
  EXPECT_EQ(empty.get()->resident_budget(), dllbridge::detail::kDefaultResidentBudget);
}
