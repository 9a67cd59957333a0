// A pool of surrogates (BridgeOptions::pool_size) against the real
// surrogates and the sample library: calls spread over the members, a crash
// costs one member's call only, on-restart hooks initialise every member,
// statistics add up, a member failing fast or in a crash loop is skipped,
// and bad sizes are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "os.hpp"
#include "test_support.hpp"

using namespace dllbridge;
using namespace dllbridge::test;
using std::chrono::milliseconds;

namespace {

// Records events for assertions.
struct EventLog {
  std::mutex mu;
  std::vector<BridgeEvent> events;
  void attach(Bridge& b) {
    b.subscribe([this](const BridgeEvent& e) {
      std::lock_guard lock(mu);
      events.push_back(e);
    });
  }
  std::vector<BridgeEvent> of(BridgeEvent::Kind k) {
    std::lock_guard lock(mu);
    std::vector<BridgeEvent> out;
    for (const auto& e : events) {
      if (e.kind == k) out.push_back(e);
    }
    return out;
  }
};

std::vector<std::uint32_t> member_pids(const Bridge& b) {
  std::vector<std::uint32_t> pids;
  for (const BridgeStats& m : b.member_stats()) pids.push_back(m.pid);
  return pids;
}

bool all_ready(const Bridge& b) {
  for (const BridgeStats& m : b.member_stats()) {
    if (m.state != SurrogateState::ready) return false;
  }
  return true;
}

class Pool : public ::testing::TestWithParam<Target> {
 protected:
  BridgeOptions opts(std::size_t size) {
    BridgeOptions o = options_for(GetParam());
    o.pool_size = size;
    o.policy.breaker.enabled = false;  // tests of other rules must not trip it
    return o;
  }
  void SetUp() override { DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam()); }
};

}  // namespace

TEST_P(Pool, CallsFromManyThreadsSpreadOverEveryMemberAndTheStatsAddUp) {
  Bridge b(opts(3));
  const std::vector<std::uint32_t> pids = member_pids(b);
  ASSERT_EQ(pids.size(), 3u);
  EXPECT_EQ(std::set<std::uint32_t>(pids.begin(), pids.end()).size(), 3u) << "three processes";
  for (const std::uint32_t pid : pids) EXPECT_NE(pid, 0u);

  Library lib = b.load(GetParam().sample);
  auto get_pid = lib.function<std::int32_t()>("get_pid");
  constexpr int kThreads = 6, kCalls = 20;
  std::mutex mu;
  std::set<std::uint32_t> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCalls; ++i) {
        const auto pid = static_cast<std::uint32_t>(get_pid());
        std::lock_guard lock(mu);
        seen.insert(pid);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen, std::set<std::uint32_t>(pids.begin(), pids.end())) << "every member answered, none other";

  const BridgeStats total = b.stats();
  std::uint64_t ok = 0, starts = 0;
  for (const BridgeStats& m : b.member_stats()) {
    EXPECT_GT(m.calls_ok, 0u);
    EXPECT_EQ(m.state, SurrogateState::ready);
    ok += m.calls_ok;
    starts += m.starts;
  }
  EXPECT_EQ(total.calls_ok, std::uint64_t{kThreads * kCalls});
  EXPECT_EQ(total.calls_ok, ok);
  EXPECT_EQ(total.starts, starts);
  EXPECT_EQ(total.starts, 3u);
  EXPECT_EQ(total.state, SurrogateState::ready);
  EXPECT_NE(std::find(pids.begin(), pids.end(), total.pid), pids.end());
  EXPECT_GT(total.latency_p50.count(), 0);
}

TEST_P(Pool, ACrashCostsOneMembersCallAndTheOthersKeepAnswering) {
  EventLog log;
  Bridge b(opts(2));
  log.attach(b);
  const std::vector<std::uint32_t> before = member_pids(b);
  Library lib = b.load(GetParam().sample);
  auto get_pid = lib.function<std::int32_t()>("get_pid");
  Function crash = lib.function("int crash_segv(void)");

  EXPECT_EQ(error_of([&] { crash.call({}); }).kind(), ErrorKind::crashed);
  // At once, while the crashed member restarts: every call is answered.
  std::set<std::uint32_t> answered;
  for (int i = 0; i < 20; ++i) answered.insert(static_cast<std::uint32_t>(get_pid()));

  ASSERT_TRUE(eventually([&] { return !log.of(BridgeEvent::Kind::restarted).empty(); }));
  const std::vector<BridgeEvent> exited = log.of(BridgeEvent::Kind::exited);
  ASSERT_EQ(exited.size(), 1u);
  const std::uint32_t crashed = exited[0].member;
  ASSERT_LT(crashed, 2u);
  const std::uint32_t other = 1 - crashed;
  EXPECT_EQ(exited[0].pid, before[crashed]) << "the event names the member that crashed";
  EXPECT_TRUE(exited[0].signaled);
  EXPECT_EQ(log.of(BridgeEvent::Kind::restarted).at(0).member, crashed);
  EXPECT_EQ(answered.count(before[other]), 1u) << "the other member answered";
  EXPECT_EQ(answered.count(before[crashed]), 0u) << "the crashed process is gone";

  ASSERT_TRUE(eventually([&] { return all_ready(b); }));
  const std::vector<BridgeStats> members = b.member_stats();
  EXPECT_EQ(members[other].pid, before[other]) << "untouched";
  EXPECT_EQ(members[other].restarts, 0u);
  EXPECT_EQ(members[crashed].restarts, 1u);
  EXPECT_EQ(members[other].calls_failed, 0u);
  EXPECT_EQ(members[crashed].calls_failed, 1u);
  EXPECT_EQ(b.stats().calls_failed, 1u);
  EXPECT_EQ(b.stats().restarts, 1u);

  // Both serve again, the replacement included.
  std::set<std::uint32_t> after;
  for (int i = 0; i < 10; ++i) after.insert(static_cast<std::uint32_t>(get_pid()));
  EXPECT_EQ(after, (std::set<std::uint32_t>{before[other], members[crashed].pid}));
}

TEST_P(Pool, OnRestartHooksInitialiseEveryMemberNowAndAfterEachRestart) {
  Bridge b(opts(3));
  Library lib = b.load(GetParam().sample);
  Function set_state = lib.function("int set_state(int v)");
  Function get_state = lib.function("int get_state(void)");
  EXPECT_EQ(i64(get_state.call({}).ret), 0) << "a fresh process";
  std::atomic<int> runs{0};
  b.on_restart([&] {
    ++runs;
    set_state.call({std::int64_t{7}});  // the DLL's per-process Init()
  });
  EXPECT_EQ(runs.load(), 3) << "once in each running member";
  const auto all_initialised = [&] {
    const std::vector<BridgeStats> before = b.member_stats();
    bool all_seven = true;
    for (int i = 0; i < 15; ++i) all_seven = all_seven && i64(get_state.call({}).ret) == 7;
    const std::vector<BridgeStats> after = b.member_stats();
    for (std::size_t m = 0; m < after.size(); ++m) {
      EXPECT_GT(after[m].calls_ok, before[m].calls_ok) << "member " << m << " was asked";
    }
    return all_seven;
  };
  EXPECT_TRUE(all_initialised());

  EXPECT_EQ(error_of([&] { lib.function("int crash_segv(void)").call({}); }).kind(), ErrorKind::crashed);
  ASSERT_TRUE(eventually([&] { return b.stats().restarts == 1 && all_ready(b); }));
  EXPECT_EQ(runs.load(), 4) << "and in the replacement";
  EXPECT_TRUE(all_initialised());
}

TEST_P(Pool, ALazyMemberStartsWhenCallsOverlapAndRunsTheHooksFirst) {
  BridgeOptions o = opts(2);
  o.policy.lazy_start = true;
  Bridge b(o);
  Library lib = b.load(GetParam().sample);  // starts one member
  Function set_state = lib.function("int set_state(int v)");
  Function get_state = lib.function("int get_state(void)");
  auto started = [&] {
    int n = 0;
    for (const BridgeStats& m : b.member_stats()) n += m.starts > 0;
    return n;
  };
  EXPECT_EQ(started(), 1) << "calls one at a time need one surrogate";
  std::atomic<int> runs{0};
  b.on_restart([&] {
    ++runs;
    set_state.call({std::int64_t{5}});  // the DLL's per-process Init()
  });
  EXPECT_EQ(runs.load(), 1) << "now, in the member already running";
  for (int i = 0; i < 4; ++i) EXPECT_EQ(i64(get_state.call({}).ret), 5);
  EXPECT_EQ(started(), 1);

  // Calls that overlap a call in progress start the other member.
  std::atomic<bool> done{false};
  std::thread busy([&] {
    auto sleep_ms = lib.function<std::int32_t(std::int32_t)>("sleep_ms");
    while (!done) sleep_ms(20);
  });
  const bool grew = eventually([&] {
    EXPECT_EQ(i64(get_state.call({}).ret), 5) << "every member initialised before its first call";
    return started() == 2;
  });
  done = true;
  busy.join();
  EXPECT_TRUE(grew);
  EXPECT_EQ(runs.load(), 2) << "the hook ran at the other member's first start";
  for (const BridgeStats& m : b.member_stats()) EXPECT_EQ(m.restarts, 0u);
}

TEST_P(Pool, AMemberWhoseBreakerIsOpenIsSkippedAndAllOpenFailsFast) {
  BridgeOptions o = opts(2);
  o.policy.breaker.enabled = true;
  o.policy.breaker.window = 1;
  o.policy.breaker.min_calls = 1;
  o.policy.breaker.failure_ratio = 1.0;
  o.policy.breaker.open_for = milliseconds(600000);  // stays open for the whole test
  EventLog log;
  Bridge b(o);
  log.attach(b);
  Library lib = b.load(GetParam().sample);
  auto get_pid = lib.function<std::int32_t()>("get_pid");
  Function crash = lib.function("int crash_segv(void)");

  EXPECT_EQ(error_of([&] { crash.call({}); }).kind(), ErrorKind::crashed);
  std::vector<BridgeStats> members = b.member_stats();
  const std::uint32_t open = members[0].breaker == BreakerState::open ? 0 : 1;
  ASSERT_EQ(members[open].breaker, BreakerState::open);
  ASSERT_EQ(members[1 - open].breaker, BreakerState::closed);
  EXPECT_EQ(b.stats().breaker, BreakerState::closed) << "calls still flow";
  ASSERT_TRUE(eventually([&] { return b.member_stats()[open].state == SurrogateState::ready; }));
  const std::uint32_t healthy_pid = b.member_stats()[1 - open].pid;
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(static_cast<std::uint32_t>(get_pid()), healthy_pid)
        << "the open member is skipped, ready or not";
  }
  EXPECT_EQ(b.member_stats()[open].calls_failed, 1u) << "nothing was refused there";

  EXPECT_EQ(error_of([&] { crash.call({}); }).kind(), ErrorKind::crashed);  // the other one now
  EXPECT_EQ(b.stats().breaker, BreakerState::open);
  const Error e = error_of([&] { get_pid(); });
  EXPECT_EQ(e.kind(), ErrorKind::circuit_open) << e.what();
  ASSERT_TRUE(eventually([&] { return log.of(BridgeEvent::Kind::breaker_changed).size() >= 2; }));
  std::set<std::uint32_t> opened;
  for (const BridgeEvent& ev : log.of(BridgeEvent::Kind::breaker_changed)) {
    if (ev.breaker == BreakerState::open) opened.insert(ev.member);
  }
  EXPECT_EQ(opened, (std::set<std::uint32_t>{0, 1})) << "each member's event names it";
}

TEST_P(Pool, AMemberInACrashLoopIsSkipped) {
  BridgeOptions o = opts(2);
  o.policy.restart.max_starts = 2;
  o.policy.restart.window = milliseconds(600000);
  Bridge b(o);
  Library lib = b.load(GetParam().sample);
  auto get_pid = lib.function<std::int32_t()>("get_pid");
  std::atomic<bool> poisoned{false};
  b.on_restart([&] {
    if (poisoned) throw std::runtime_error("the library's Init() failed");
  });
  poisoned = true;
  EXPECT_EQ(error_of([&] { lib.function("int crash_segv(void)").call({}); }).kind(), ErrorKind::crashed);
  std::uint32_t looping = 2;
  ASSERT_TRUE(eventually([&] {
    const std::vector<BridgeStats> m = b.member_stats();
    for (std::uint32_t i = 0; i < 2; ++i) {
      if (m[i].state == SurrogateState::failed) looping = i;
    }
    return looping < 2;
  }));
  const BridgeStats failed = b.member_stats()[looping];
  EXPECT_NE(failed.reason.find("crash loop"), std::string::npos) << failed.reason;
  const std::uint32_t healthy_pid = b.member_stats()[1 - looping].pid;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(static_cast<std::uint32_t>(get_pid()), healthy_pid);
  EXPECT_EQ(b.stats().state, SurrogateState::ready);

  poisoned = false;
  b.restart();  // clears the crash-loop stop
  ASSERT_TRUE(eventually([&] { return all_ready(b); }));
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 10; ++i) seen.insert(static_cast<std::uint32_t>(get_pid()));
  EXPECT_EQ(seen.size(), 2u) << "both serve again";
}

TEST_P(Pool, StopAndRestartActOnEveryMember) {
  Bridge b(opts(2));
  Library lib = b.load(GetParam().sample);
  auto get_pid = lib.function<std::int32_t()>("get_pid");
  const std::vector<std::uint32_t> first = member_pids(b);
  b.stop();
  EXPECT_EQ(b.stats().state, SurrogateState::stopped);
  EXPECT_EQ(error_of([&] { get_pid(); }).kind(), ErrorKind::surrogate_start_failed);
  for (const std::uint32_t pid : first) EXPECT_TRUE(eventually([&] { return os::process_gone(pid); }));
  b.restart();
  ASSERT_TRUE(eventually([&] { return all_ready(b); }));  // while one starts, calls go to the other
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 10; ++i) seen.insert(static_cast<std::uint32_t>(get_pid()));
  EXPECT_EQ(seen.size(), 2u);
  for (const std::uint32_t pid : first) EXPECT_EQ(seen.count(pid), 0u);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, Pool, ::testing::ValuesIn(kTargets),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(PoolOptions, ASizeOfZeroOrAboveTheLimitIsABadArgument) {
  for (const std::size_t size : {std::size_t{0}, std::size_t{65}, std::size_t{1} << 40}) {
    BridgeOptions o;
    o.surrogate_path = "/nonexistent/surrogate";  // refused before anything starts
    o.pool_size = size;
    const Error e = error_of([&] { Bridge b(o); });
    EXPECT_EQ(e.kind(), ErrorKind::bad_argument) << size;
    EXPECT_NE(std::string(e.what()).find("pool_size must be 1 to 64"), std::string::npos) << e.what();
  }
  BridgeOptions o;
  o.connect = "/nonexistent/endpoint";
  o.pool_size = 2;
  const Error e = error_of([&] { Bridge b(o); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
  EXPECT_NE(std::string(e.what()).find("connect mode"), std::string::npos) << e.what();
}
