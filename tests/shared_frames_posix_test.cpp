// Frames through shared memory (BridgeOptions::shared_frames, Linux) against
// the real surrogates: a surrogate a bridge starts maps the frame rings
// (seen in its /proc/PID/maps) unless the option or DLLBRIDGE_SHARED_FRAMES
// says off, through a fork server too; calls give the same answers either way.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "dllbridge/bridge.hpp"
#include "test_support.hpp"

using namespace dllbridge;

namespace {

// Whether process `pid` maps the frame rings' memory object.
bool maps_frame_rings(std::uint32_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  bool found = false;
  while (std::getline(maps, line)) found = found || line.find("dllbridge-frames") != std::string::npos;
  return found;
}

// add(a, b) and a 100 KB [in, out] buffer (its bytes in the region, or in
// the frames when the region is off) answered right.
void calls_answer_right(Bridge& b, const test::Target& t) {
  Library lib = b.load(t.sample);
  auto add = lib.function<std::int32_t(std::int32_t, std::int32_t)>("add");
  EXPECT_EQ(add(40, 2), 42);
  auto xor_u8 = lib.function<void(InOut<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
  std::vector<std::uint8_t> v(100000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(i * 7);
  xor_u8(inout(v), static_cast<std::int32_t>(v.size()), 0x5a);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < v.size(); ++i) wrong += v[i] != static_cast<std::uint8_t>((i * 7) ^ 0x5a);
  EXPECT_EQ(wrong, 0u);
}

class SharedFrames : public ::testing::TestWithParam<test::Target> {
 protected:
  void TearDown() override { ::unsetenv("DLLBRIDGE_SHARED_FRAMES"); }
};

}  // namespace

TEST_P(SharedFrames, ASurrogateABridgeStartsTakesItsFramesThroughSharedMemory) {
  DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam());
  for (const bool region : {true, false}) {
    SCOPED_TRACE(region ? "with the shared region" : "without the shared region");
    BridgeOptions o = test::options_for(GetParam());
    o.shared_region = region;
    Bridge b(o);
    calls_answer_right(b, GetParam());
    EXPECT_TRUE(maps_frame_rings(b.surrogate().pid));
  }
}

TEST_P(SharedFrames, OffTheFramesGoThroughTheSocket) {
  DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam());
  BridgeOptions o = test::options_for(GetParam());
  o.shared_frames = false;
  Bridge off(o);
  calls_answer_right(off, GetParam());
  EXPECT_FALSE(maps_frame_rings(off.surrogate().pid));

  // The environment overrides the option, either way.
  ::setenv("DLLBRIDGE_SHARED_FRAMES", "on", 1);
  Bridge on(o);
  EXPECT_TRUE(maps_frame_rings(on.surrogate().pid));
  ::setenv("DLLBRIDGE_SHARED_FRAMES", "off", 1);
  Bridge env_off(test::options_for(GetParam()));
  calls_answer_right(env_off, GetParam());
  EXPECT_FALSE(maps_frame_rings(env_off.surrogate().pid));
}

TEST_P(SharedFrames, ASurrogateFromTheForkServerTakesThemToo) {
  DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam());
  BridgeOptions o = test::options_for(GetParam());
  o.fork_server = true;
  for (int i = 0; i < 2; ++i) {  // the server's first child, then a later one
    Bridge b(o);
    calls_answer_right(b, GetParam());
    EXPECT_TRUE(maps_frame_rings(b.surrogate().pid));
  }
}

INSTANTIATE_TEST_SUITE_P(Surrogates, SharedFrames, ::testing::ValuesIn(test::kTargets),
                         [](const auto& info) { return std::string(info.param.name); });
