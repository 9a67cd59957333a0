// The shared region's resident budget (channel/region.hpp) against the real
// surrogates: with a budget of 0 every freed block gives its pages back (for
// the surrogate's mapping too: they are the memory object's), with a small
// one some are kept and some are not; either way a block used again by the
// next call carries that call's bytes, in and out, every byte checked.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dllbridge/bridge.hpp"
#include "test_support.hpp"

using namespace dllbridge;

namespace {

class RegionBudget : public ::testing::TestWithParam<test::Target> {
 protected:
  // A bridge made while DLLBRIDGE_REGION_BUDGET is `budget`.
  static Bridge bridge_with_budget(const test::Target& t, const char* budget) {
    ::setenv("DLLBRIDGE_REGION_BUDGET", budget, 1);
    Bridge b(test::options_for(t));
    ::unsetenv("DLLBRIDGE_REGION_BUDGET");
    return b;
  }

  // A bridge made with BridgeOptions::region_budget `budget`.
  static Bridge bridge_with_budget_option(const test::Target& t, std::uint64_t budget) {
    BridgeOptions o = test::options_for(t);
    o.region_budget = budget;
    return Bridge(o);
  }

  // xor_u8 over `bytes` bytes (a caller's vector: copied into the region and
  // back) with key `k`; how many bytes came back wrong.
  static std::size_t wrong_after_round_trip(Library& lib, std::size_t bytes, std::uint8_t k) {
    auto fn = lib.function<void(InOut<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
    std::vector<std::uint8_t> v(bytes);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(i * 13 + k);
    fn(inout(v), static_cast<std::int32_t>(v.size()), k);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < v.size(); ++i)
      wrong += v[i] != static_cast<std::uint8_t>(static_cast<std::uint8_t>(i * 13 + k) ^ k);
    return wrong;
  }
};

}  // namespace

TEST_P(RegionBudget, BlocksUsedAgainCarryEachCallsBytesWhetherTheirPagesWereKeptOrGivenBack) {
  DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam());
  // None kept (BridgeOptions::region_budget); one 16 MiB block kept, the
  // next pushes it out (DLLBRIDGE_REGION_BUDGET).
  for (const char* budget : {"0", "20M"}) {
    SCOPED_TRACE(std::string("budget ") + budget);
    Bridge bridge = budget == std::string("0") ? bridge_with_budget_option(GetParam(), 0)
                                               : bridge_with_budget(GetParam(), budget);
    Library lib = bridge.load(GetParam().sample);
    std::uint8_t k = 1;
    for (int round = 0; round < 3; ++round) {
      EXPECT_EQ(wrong_after_round_trip(lib, std::size_t{16} << 20, k++), 0u);
      EXPECT_EQ(wrong_after_round_trip(lib, std::size_t{1} << 20, k++), 0u);
      EXPECT_EQ(wrong_after_round_trip(lib, (std::size_t{12} << 20) + 4096 + 64, k++), 0u);
    }
  }
}

// BridgeOptions::shared_region = false: every buffer travels in the frames,
// so a buffer past their element cap (16 Mi) is refused before anything is
// sent, while a bridge with the region carries it; smaller ones still
// cross, and alloc() gives ordinary memory that calls copy.
TEST_P(RegionBudget, WithoutTheSharedRegionBuffersAreFramedAndTheFramesCapsApply) {
  DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam());
  const std::size_t past_the_element_cap = (std::size_t{16} << 20) + 1;
  BridgeOptions o = test::options_for(GetParam());
  o.shared_region = false;
  Bridge framed(o);
  Library lib = framed.load(GetParam().sample);
  EXPECT_EQ(wrong_after_round_trip(lib, std::size_t{1} << 20, 5), 0u);
  const Error e = test::error_of([&] { wrong_after_round_trip(lib, past_the_element_cap, 6); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument) << e.what();
  SharedBuffer<std::uint8_t> shared = framed.alloc<std::uint8_t>(std::size_t{1} << 16);
  for (std::size_t i = 0; i < shared.size(); ++i) shared[i] = static_cast<std::uint8_t>(i);
  auto fn = lib.function<void(InOut<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
  fn(inout(shared), static_cast<std::int32_t>(shared.size()), std::uint8_t{0x5a});
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < shared.size(); ++i)
    wrong += shared[i] != static_cast<std::uint8_t>(static_cast<std::uint8_t>(i) ^ 0x5a);
  EXPECT_EQ(wrong, 0u) << "alloc memory is copied like any buffer";
  EXPECT_EQ(framed.stats().restarts, 0u) << "the refusal cost the surrogate nothing";

  Bridge with_region(test::options_for(GetParam()));
  Library lib2 = with_region.load(GetParam().sample);
  EXPECT_EQ(wrong_after_round_trip(lib2, past_the_element_cap, 7), 0u);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, RegionBudget, ::testing::ValuesIn(test::kTargets),
                         [](const auto& info) { return std::string(info.param.name); });
