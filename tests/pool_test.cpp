// A pool of surrogates (BridgeOptions::pool_size) against the real
// surrogates and the sample library: calls spread over the members, a crash
// costs one member's call only, on-restart hooks initialise every member,
// statistics add up, a member failing fast or in a crash loop is skipped,
// and bad sizes are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
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

std::vector<std::uint32_t> member_pids(const Bridge& b) {
  std::vector<std::uint32_t> pids;
  for (const BridgeStats& m : b.member_stats()) pids.push_back(m.pid);
  return pids;
}

// The pid of each member, asked of each in turn.
std::vector<std::uint32_t> pids_by_asking(Bridge& b, const TypedFunction<std::int32_t()>& get_pid) {
  std::vector<std::uint32_t> pids;
  b.for_each_surrogate([&](std::size_t) { pids.push_back(static_cast<std::uint32_t>(get_pid())); });
  return pids;
}

// A call held in the DLL until release(): wait_for_file(started, go).
class HeldCall {
 public:
  HeldCall(const Library& lib, const std::string& tag)
      : started_(os::temp_path("pool-started-" + tag)), go_(os::temp_path("pool-go-" + tag)) {
    std::remove(started_.c_str());
    std::remove(go_.c_str());
    Function wait = lib.function("int wait_for_file(const char* started, const char* go, int limit_ms)");
    result_ = std::async(std::launch::async, [wait, this] {
      return i64(wait.call({started_, go_, std::int64_t{60000}}).ret);
    });
  }
  // 1 when the call returned after release().
  std::int64_t release() {
    std::ofstream(go_) << "go\n";
    const std::int64_t r = result_.get();
    std::remove(started_.c_str());
    std::remove(go_.c_str());
    return r;
  }

 private:
  std::string started_, go_;
  std::future<std::int64_t> result_;
};

// Waits until `n` calls are in flight in the pool, in `n` different members.
bool in_flight_in_members(const Bridge& b, std::uint32_t n) {
  return eventually([&] {
    std::uint32_t busy_members = 0;
    for (const BridgeStats& m : b.member_stats()) busy_members += m.in_flight == 1;
    return busy_members == n && b.stats().in_flight == n;
  });
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

TEST_P(Pool, CallsFromManyThreadsAreAnsweredByTheMembersAndTheStatsAddUp) {
  Bridge b(opts(3));
  const std::vector<std::uint32_t> pids = member_pids(b);
  ASSERT_EQ(pids.size(), 3u);
  EXPECT_EQ(std::set<std::uint32_t>(pids.begin(), pids.end()).size(), 3u) << "three processes";
  for (const std::uint32_t pid : pids) EXPECT_NE(pid, 0u);

  Library lib = b.load(GetParam().sample);
  auto get_pid = lib.function<std::int32_t()>("get_pid");
  EXPECT_EQ(pids_by_asking(b, get_pid), pids) << "each member is its own process";
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
  for (const std::uint32_t pid : seen) EXPECT_NE(std::find(pids.begin(), pids.end(), pid), pids.end());

  const BridgeStats total = b.stats();
  std::uint64_t ok = 0, starts = 0;
  for (const BridgeStats& m : b.member_stats()) {
    EXPECT_GT(m.calls_ok, 0u) << "asked once at least";
    EXPECT_EQ(m.state, SurrogateState::ready);
    ok += m.calls_ok;
    starts += m.starts;
  }
  EXPECT_EQ(total.calls_ok, std::uint64_t{kThreads * kCalls + 3});
  EXPECT_EQ(total.calls_ok, ok);
  EXPECT_EQ(total.starts, starts);
  EXPECT_EQ(total.starts, 3u);
  EXPECT_EQ(total.state, SurrogateState::ready);
  EXPECT_NE(std::find(pids.begin(), pids.end(), total.pid), pids.end());
  EXPECT_GT(total.latency_p50.count(), 0);
}

TEST_P(Pool, EachCallGoesToAFreeMember) {
  Bridge b(opts(3));
  Library lib = b.load(GetParam().sample);
  auto get_pid = lib.function<std::int32_t()>("get_pid");
  const std::vector<std::uint32_t> pids = member_pids(b);
  EXPECT_EQ(static_cast<std::uint32_t>(get_pid()), pids[0]) << "calls one at a time: the first member";
  HeldCall first(lib, "free-1");
  ASSERT_TRUE(in_flight_in_members(b, 1));
  EXPECT_EQ(b.member_stats()[0].in_flight, 1u);
  EXPECT_EQ(static_cast<std::uint32_t>(get_pid()), pids[1]) << "the first is busy";
  HeldCall second(lib, "free-2");
  ASSERT_TRUE(in_flight_in_members(b, 2)) << "the second held call went to another member";
  EXPECT_EQ(static_cast<std::uint32_t>(get_pid()), pids[2]) << "the only free one";
  EXPECT_EQ(first.release(), 1);
  EXPECT_EQ(second.release(), 1);
  EXPECT_EQ(b.stats().in_flight, 0u);
}

TEST_P(Pool, ACrashCostsOneMembersCallAndTheOthersKeepAnswering) {
  EventLog log;
  Bridge b(opts(2));
  log.attach(b);
  const std::vector<std::uint32_t> before = member_pids(b);
  Library lib = b.load(GetParam().sample);
  auto get_pid = lib.function<std::int32_t()>("get_pid");
  Function crash = lib.function("int crash_segv(void)");

  HeldCall held(lib, "crash");  // in member 0, while member 1 crashes
  ASSERT_TRUE(in_flight_in_members(b, 1));
  EXPECT_EQ(error_of([&] { crash.call({}); }).kind(), ErrorKind::crashed);
  EXPECT_EQ(held.release(), 1) << "the call in progress in the other member was untouched";
  EXPECT_EQ(static_cast<std::uint32_t>(get_pid()), before[0]) << "answered at once by the other member";

  ASSERT_TRUE(eventually([&] { return !log.of(BridgeEvent::Kind::restarted).empty() && all_ready(b); }));
  const std::vector<BridgeEvent> exited = log.of(BridgeEvent::Kind::exited);
  ASSERT_EQ(exited.size(), 1u);
  EXPECT_EQ(exited[0].member, 1u) << "the event names the member";
  EXPECT_EQ(exited[0].pid, before[1]);
  EXPECT_TRUE(exited[0].signaled);
  EXPECT_EQ(log.of(BridgeEvent::Kind::restarted).at(0).member, 1u);

  const std::vector<BridgeStats> members = b.member_stats();
  EXPECT_EQ(members[0].pid, before[0]) << "untouched";
  EXPECT_NE(members[1].pid, before[1]) << "replaced";
  EXPECT_EQ(members[0].restarts, 0u);
  EXPECT_EQ(members[1].restarts, 1u);
  EXPECT_EQ(members[0].calls_failed, 0u);
  EXPECT_EQ(members[1].calls_failed, 1u);
  EXPECT_EQ(b.stats().calls_failed, 1u);
  EXPECT_EQ(b.stats().restarts, 1u);
  EXPECT_EQ(pids_by_asking(b, get_pid), (std::vector<std::uint32_t>{before[0], members[1].pid}))
      << "both serve, the replacement included";
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
    std::vector<std::int64_t> states;
    b.for_each_surrogate([&](std::size_t) { states.push_back(i64(get_state.call({}).ret)); });
    return states == std::vector<std::int64_t>{7, 7, 7};
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
  {
    // Even while the healthy member is busy, a call waits for it rather
    // than going to the failed one.
    HeldCall held(lib, "loop");
    ASSERT_TRUE(eventually([&] { return b.member_stats()[1 - looping].in_flight == 1; }));
    auto queued = std::async(std::launch::async, [&] { return static_cast<std::uint32_t>(get_pid()); });
    const bool waiting = eventually([&] { return b.member_stats()[1 - looping].in_flight == 2; });
    EXPECT_EQ(held.release(), 1);
    EXPECT_TRUE(waiting);
    EXPECT_EQ(queued.get(), healthy_pid);
  }

  poisoned = false;
  b.restart();  // clears the crash-loop stop
  const std::vector<std::uint32_t> pids = pids_by_asking(b, get_pid);
  EXPECT_EQ(pids, member_pids(b)) << "both serve again";
  EXPECT_EQ(std::set<std::uint32_t>(pids.begin(), pids.end()).size(), 2u);
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
  const std::vector<std::uint32_t> seen = pids_by_asking(b, get_pid);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_NE(seen[0], seen[1]);
  for (const std::uint32_t pid : first) EXPECT_EQ(std::count(seen.begin(), seen.end(), pid), 0);
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
