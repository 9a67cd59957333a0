// SupervisionPolicy::warm_spare against real surrogates: the spare is a live,
// separate process; a crash, Bridge::restart() and recycling take it over
// (the new surrogate's pid is the spare's); on-restart hooks, events and the
// restart count work as without it; no process is left behind.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "os.hpp"
#include "test_support.hpp"

using namespace dllbridge;
using namespace dllbridge::test;

namespace {

class WarmSpare : public ::testing::TestWithParam<Target> {
 protected:
  BridgeOptions opts() {
    BridgeOptions o = options_for(GetParam());
    o.policy.breaker.enabled = false;
    o.policy.warm_spare = true;
    return o;
  }
  void SetUp() override { DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam()); }
};

// The spare's pid once the monitor has one ready (0 when none came).
std::uint32_t ready_spare(const Bridge& b) {
  std::uint32_t pid = 0;
  eventually([&] { return (pid = b.stats().spare_pid) != 0; });
  return pid;
}

}  // namespace

TEST_P(WarmSpare, ACrashHandsTheCallsToTheSpare) {
  std::mutex mu;
  std::vector<BridgeEvent> events;
  Bridge b(opts());
  b.subscribe([&](const BridgeEvent& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
  });
  std::atomic<int> hooks{0};
  b.on_restart([&] { ++hooks; });
  Library lib = b.load(GetParam().sample);
  auto add = lib.function<std::int32_t(std::int32_t, std::int32_t)>("add");
  ASSERT_EQ(add(2, 3), 5);
  const std::uint32_t first = b.stats().pid;
  const std::uint32_t spare = ready_spare(b);
  ASSERT_NE(spare, 0u) << "no spare was started";
  EXPECT_NE(spare, first);
  EXPECT_FALSE(os::process_gone(spare)) << "the spare is a live process";

  EXPECT_THROW(lib.function<std::int32_t()>("crash_segv")(), Error);
  EXPECT_EQ(add(20, 22), 42) << "the library was loaded again into the spare";
  const BridgeStats s = b.stats();
  EXPECT_EQ(s.pid, spare) << "the spare took over";
  EXPECT_EQ(s.restarts, 1u);
  EXPECT_EQ(hooks.load(), 1) << "on-restart hooks ran in the spare";
  EXPECT_TRUE(eventually([&] { return os::process_gone(first); }));

  // A new spare follows, and takes over the next time.
  const std::uint32_t second = ready_spare(b);
  ASSERT_NE(second, 0u);
  EXPECT_NE(second, spare);
  b.restart();
  EXPECT_EQ(add(1, 1), 2);
  EXPECT_EQ(b.stats().pid, second) << "Bridge::restart() takes the spare too";
  EXPECT_EQ(b.stats().restarts, 2u);

  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    int restarted = 0;
    for (const BridgeEvent& e : events) restarted += e.kind == BridgeEvent::Kind::restarted;
    return restarted == 2;
  }));
  std::lock_guard lock(mu);
  std::vector<std::uint32_t> started;
  for (const BridgeEvent& e : events) {
    // The first start may come before subscribe() (the constructor starts it).
    if (e.kind == BridgeEvent::Kind::started && e.pid != first) started.push_back(e.pid);
  }
  EXPECT_EQ(started, (std::vector<std::uint32_t>{spare, second}))
      << "started names each spare once, when it begins to serve";
}

TEST_P(WarmSpare, ASpareThatDiesIsNotUsedAndStoppingEndsIt) {
  std::uint32_t spare = 0, last_spare = 0;
  {
    Bridge b(opts());
    Library lib = b.load(GetParam().sample);
    auto add = lib.function<std::int32_t(std::int32_t, std::int32_t)>("add");
    ASSERT_EQ(add(1, 2), 3);  // a function call: the spare starts after one
    spare = ready_spare(b);
    ASSERT_NE(spare, 0u);
    ASSERT_TRUE(os::kill_process(spare));
    EXPECT_TRUE(eventually([&] { return b.stats().spare_pid == 0; })) << "a dead spare is let go";
    const std::uint32_t first = b.stats().pid;
    b.restart();
    EXPECT_EQ(add(3, 4), 7);
    EXPECT_NE(b.stats().pid, spare) << "the dead spare did not take over";
    EXPECT_EQ(b.stats().restarts, 1u) << "one start after restart(): the dead spare was not counted";
    EXPECT_NE(b.stats().pid, first);
    last_spare = ready_spare(b);
    ASSERT_NE(last_spare, 0u) << "the next start brings a new spare";
  }
  EXPECT_TRUE(eventually([&] { return os::process_gone(last_spare); })) << "the bridge's end ends its spare";
}

TEST_P(WarmSpare, OffByDefault) {
  Bridge b(options_for(GetParam()));
  Library lib = b.load(GetParam().sample);
  EXPECT_EQ(lib.function<std::int32_t(std::int32_t, std::int32_t)>("add")(1, 2), 3);
  EXPECT_EQ(b.stats().spare_pid, 0u);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, WarmSpare, ::testing::ValuesIn(kTargets),
                         [](const auto& info) { return std::string(info.param.name); });
