// Supervision against real surrogates and a misbehaving sample library:
// crashes, hangs, deadlines, restarts, hooks, retries, breaker, recycling,
// orphans, and a stress run with faults injected.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "os.hpp"
#include "test_support.hpp"

using namespace dllbridge;
using namespace dllbridge::test;
using std::chrono::milliseconds;

namespace {

using os::process_gone;

std::string marker_path(const char* tag) { return os::temp_path(std::string("marker-") + tag); }

// The whole content of the file at `path`, or "(absent)".
std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(absent)";
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void touch(const std::string& path) { std::ofstream(path) << "go\n"; }

bool exists(const std::string& path) { return std::ifstream(path).good(); }

class Supervised : public ::testing::TestWithParam<Target> {
 protected:
  BridgeOptions opts() {
    BridgeOptions o = options_for(GetParam());
    o.policy.breaker.enabled = false;  // tests of other rules must not trip it
    return o;
  }
  void SetUp() override { DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam()); }
};

}  // namespace

TEST_P(Supervised, EveryKindOfCrashIsNamedAndFollowedByAWorkingSurrogate) {
  Bridge b(opts());
  Library lib = b.load(GetParam().sample);
  Function add_fn = lib.function("int add(int, int)");
  struct Case {
    const char* sig;
    std::int64_t arg;
    const char* expect;
  } cases[] = {
      {"int crash_segv(void)", -1, os::kFaults.segv},
      {"int crash_abort(void)", -1, os::kFaults.abort},
      {"int stack_overflow(int)", 0, os::kFaults.stack_overflow},
      {"int exit_with(int)", 3, "exited with code 3"},
  };
  std::uint32_t pid = b.surrogate().pid;
  for (const Case& c : cases) {
    Function f = lib.function(c.sig);
    std::vector<Value> args;
    if (c.arg >= 0) args.push_back(c.arg);
    Error e = error_of([&] { f.call(args); });
    EXPECT_EQ(e.kind(), ErrorKind::crashed) << c.sig;
    EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << c.sig << ": " << e.what();
    EXPECT_EQ(i64(add_fn.call({std::int64_t{40}, std::int64_t{2}}).ret), 42) << "after " << c.sig;
    const std::uint32_t now = b.surrogate().pid;
    EXPECT_NE(now, pid) << "a fresh surrogate after " << c.sig;
    pid = now;
  }
  EXPECT_EQ(b.stats().restarts, 4u);
}

TEST_P(Supervised, AHungCallTimesOutNearItsDeadlineAndTheSurrogateIsReplaced) {
  Bridge b(opts());
  Library lib = b.load(GetParam().sample);
  const std::uint32_t pid = b.surrogate().pid;
  Function hang = lib.function("int hang_forever(void)");
  const auto start = std::chrono::steady_clock::now();
  Error e = error_of([&] { hang.call({}, milliseconds(400)); });
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(e.kind(), ErrorKind::timeout);
  EXPECT_TRUE(e.may_have_run());
  // Behavioural bound (the DLL never returns): the caller is released at the deadline.
  EXPECT_LT(took, milliseconds(400) + milliseconds(5000));
  EXPECT_TRUE(eventually([&] { return process_gone(pid); })) << "the hung surrogate was killed";
  EXPECT_EQ(i64(lib.function("int add(int, int)").call({std::int64_t{1}, std::int64_t{2}}).ret), 3);
  EXPECT_NE(b.surrogate().pid, pid);
  EXPECT_EQ(b.stats().calls_timed_out, 1u);
}

TEST_P(Supervised, CallsInFlightWhenTheSurrogateIsKilledGetAPreciseErrorOrARetry) {
  Bridge b(opts());
  Library lib = b.load(GetParam().sample);
  Function hold = lib.function("int wait_for_file(const char* started, const char* go, int limit_ms)");
  Function add_once = lib.function("int add(int, int)");
  FunctionOptions idem;
  idem.idempotent = true;
  Function add_idem = lib.function("int add(int a, int b)", idem);
  // Registered now, so that each call below is one request and nothing else.
  add_once.call({std::int64_t{0}, std::int64_t{0}});
  add_idem.call({std::int64_t{0}, std::int64_t{0}});
  const std::string started = marker_path("inflight-started"), never = marker_path("inflight-never");
  // One surrogate thread: once the held call runs there (it says so by creating
  // `started`), the adds queue behind it and are lost with it at its deadline.
  auto hung = std::async(std::launch::async, [&] {
    // Its deadline leaves the adds below time to be sent on a loaded machine.
    return error_of([&] { hold.call({started, never, std::int64_t{60000}}, milliseconds(6000)); });
  });
  ASSERT_TRUE(eventually([&] { return exists(started); })) << "the held call runs in the surrogate";
  auto plain = std::async(std::launch::async, [&] {
    return error_of([&] { add_once.call({std::int64_t{1}, std::int64_t{1}}, milliseconds(15000)); });
  });
  auto retried = std::async(std::launch::async, [&] {
    return add_idem.call({std::int64_t{20}, std::int64_t{22}}, milliseconds(15000));
  });
  // Both adds taken by the supervisor (their request follows at once), well
  // before the held call's deadline.
  EXPECT_TRUE(eventually([&] { return b.stats().in_flight == 3; }));
  EXPECT_EQ(hung.get().kind(), ErrorKind::timeout);
  const Error e = plain.get();
  EXPECT_EQ(e.kind(), ErrorKind::crashed);
  EXPECT_TRUE(e.may_have_run());
  EXPECT_NE(std::string(e.what()).find("deadline"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("not retried"), std::string::npos) << e.what();
  EXPECT_EQ(i64(retried.get().ret), 42) << "the idempotent one was sent again to the new surrogate";
  EXPECT_GE(b.stats().retries, 1u);
  std::remove(started.c_str());
}

TEST_P(Supervised, EventsTellStartedExitedAndRestarted) {
  EventLog log;
  Bridge b(opts());
  log.attach(b);
  Library lib = b.load(GetParam().sample);
  const std::uint32_t pid = b.surrogate().pid;
  error_of([&] { lib.function("int crash_segv(void)").call({}); });
  ASSERT_TRUE(eventually([&] { return log.has(BridgeEvent::Kind::restarted); }));
  const auto events = log.snapshot();
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0].kind, BridgeEvent::Kind::exited);
  EXPECT_EQ(events[0].pid, pid);
  EXPECT_TRUE(events[0].signaled);
  EXPECT_EQ(events[0].code, os::kFaults.segv_code);
  EXPECT_NE(events[0].reason.find(os::kFaults.segv), std::string::npos) << events[0].reason;
  EXPECT_EQ(events[1].kind, BridgeEvent::Kind::started);
  EXPECT_NE(events[1].pid, pid);
  EXPECT_EQ(events[2].kind, BridgeEvent::Kind::restarted);
}

TEST_P(Supervised, TheOnRestartHookRestoresStateBeforeQueuedCallsRun) {
  std::atomic<int> hook_runs{0};
  Bridge b(opts());
  Library lib = b.load(GetParam().sample);
  Function set_state = lib.function("int set_state(int v)");
  Function get_state = lib.function("int get_state(void)");
  b.on_restart([&] {
    ++hook_runs;
    set_state.call({std::int64_t{7}});  // e.g. the DLL's Init()
  });
  set_state.call({std::int64_t{7}});
  error_of([&] { lib.function("int crash_segv(void)").call({}); });
  EXPECT_EQ(i64(get_state.call({}).ret), 7) << "the hook ran in the new surrogate first";
  EXPECT_EQ(hook_runs.load(), 1);
}

TEST_P(Supervised, IdempotentCallsAreRetriedOthersNever) {
  Bridge b(opts());
  Library lib = b.load(GetParam().sample);
  FunctionOptions idem;
  idem.idempotent = true;
  Function once_idem = lib.function("int crash_if_absent(const char* marker)", idem);
  const std::string m1 = marker_path("idem");
  EXPECT_EQ(i64(once_idem.call({m1}).ret), 1) << "crashed once, then succeeded on a fresh surrogate";
  EXPECT_EQ(b.stats().retries, 1u);

  Function once = lib.function("int crash_if_absent(const char* marker)");
  const std::string m2 = marker_path("plain");
  Error e = error_of([&] { once.call({m2}); });
  EXPECT_EQ(e.kind(), ErrorKind::crashed);
  EXPECT_TRUE(e.may_have_run());
  EXPECT_EQ(b.stats().retries, 1u) << "not idempotent: never sent twice";
  std::remove(m1.c_str());
  std::remove(m2.c_str());
}

TEST_P(Supervised, TheBreakerOpensFailsFastProbesAndCloses) {
  BridgeOptions o = opts();
  o.policy.breaker.enabled = true;
  o.policy.breaker.window = 4;
  o.policy.breaker.min_calls = 3;
  o.policy.breaker.failure_ratio = 0.6;
  // Open long enough to outlast the replacement's start on a loaded machine
  // under Wine (the fail-fast call comes after it); half-open is then waited
  // for by calling, not by sleeping.
  o.policy.breaker.open_for = milliseconds(8000);
  o.policy.breaker.half_open_probes = 1;
  EventLog log;
  Bridge b(o);
  log.attach(b);
  Library lib = b.load(GetParam().sample);
  Function crash = lib.function("int crash_segv(void)");
  Function add_fn = lib.function("int add(int, int)");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(error_of([&] { crash.call({}); }).kind(), ErrorKind::crashed);
  EXPECT_EQ(b.stats().breaker, BreakerState::open);
  // The last crash's replacement starts on its own (the breaker gates calls,
  // not restarts): let it settle before counting what failing fast starts.
  ASSERT_TRUE(eventually([&] { return b.stats().state == SurrogateState::ready; }, milliseconds(10000)));
  const std::uint64_t starts = b.stats().starts;
  Error e = error_of([&] { add_fn.call({std::int64_t{1}, std::int64_t{1}}); });
  EXPECT_EQ(e.kind(), ErrorKind::circuit_open);
  EXPECT_EQ(b.stats().starts, starts) << "failing fast starts nothing";
  // Calls fail fast until open_for has passed; the first one let through is
  // the half-open probe, and it succeeds.
  std::optional<CallResult> probe;
  ASSERT_TRUE(eventually(
      [&] {
        try {
          probe = add_fn.call({std::int64_t{1}, std::int64_t{1}});
          return true;
        } catch (const Error& fast) {
          EXPECT_EQ(fast.kind(), ErrorKind::circuit_open) << fast.what();
          return fast.kind() != ErrorKind::circuit_open;
        }
      },
      milliseconds(60000)));
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(i64(probe->ret), 2);
  EXPECT_EQ(b.stats().breaker, BreakerState::closed);
  auto breaker_events = [&] {
    std::vector<BreakerState> seen;
    for (const auto& ev : log.snapshot()) {
      if (ev.kind == BridgeEvent::Kind::breaker_changed) seen.push_back(ev.breaker);
    }
    return seen;
  };
  const std::vector<BreakerState> expected{BreakerState::open, BreakerState::half_open, BreakerState::closed};
  eventually([&] { return breaker_events().size() >= expected.size(); });  // delivered on their own thread
  EXPECT_EQ(breaker_events(), expected);
}

TEST_P(Supervised, ACrashLoopStopsRestartingUntilAskedAgain) {
  BridgeOptions o = opts();
  o.policy.restart.max_starts = 3;
  o.policy.restart.window = milliseconds(60000);
  Bridge b(o);
  Library lib = b.load(GetParam().sample);
  Function crash = lib.function("int crash_segv(void)");
  Error last(ErrorKind::protocol, "");
  for (int i = 0; i < 6; ++i) {
    last = error_of([&] { crash.call({}); });
    if (last.kind() == ErrorKind::surrogate_start_failed) break;
  }
  EXPECT_EQ(last.kind(), ErrorKind::surrogate_start_failed);
  EXPECT_NE(std::string(last.what()).find("crash loop"), std::string::npos) << last.what();
  EXPECT_EQ(b.stats().state, SurrogateState::failed);
  b.restart();
  EXPECT_EQ(i64(lib.function("int add(int, int)").call({std::int64_t{2}, std::int64_t{2}}).ret), 4);
}

TEST_P(Supervised, RestartBackoffGrowsBetweenConsecutiveCrashes) {
  BridgeOptions o = opts();
  o.policy.restart.backoff = Backoff{milliseconds(250), milliseconds(5000), false};
  std::mutex mu;  // declared before the bridge: its event thread uses them until it ends
  std::vector<std::pair<BridgeEvent::Kind, std::chrono::steady_clock::time_point>> seen;
  Bridge b(o);
  b.subscribe([&](const BridgeEvent& e) {
    std::lock_guard lock(mu);
    seen.emplace_back(e.kind, e.at);
  });
  Library lib = b.load(GetParam().sample);
  Function crash = lib.function("int crash_segv(void)");
  for (int i = 0; i < 2; ++i) EXPECT_EQ(error_of([&] { crash.call({}); }).kind(), ErrorKind::crashed);
  ASSERT_TRUE(eventually([&] { return b.stats().starts >= 3; }));
  const auto restart_waits = [&] {  // exited -> next started
    std::lock_guard lock(mu);
    std::vector<milliseconds> waits;
    for (std::size_t i = 0; i + 1 < seen.size(); ++i) {
      if (seen[i].first != BridgeEvent::Kind::exited) continue;
      for (std::size_t j = i + 1; j < seen.size(); ++j) {
        if (seen[j].first == BridgeEvent::Kind::started) {
          waits.push_back(std::chrono::duration_cast<milliseconds>(seen[j].second - seen[i].second));
          break;
        }
      }
    }
    return waits;
  };
  // Events reach subscribers on their own thread, after stats() counts them.
  EXPECT_TRUE(eventually([&] { return restart_waits().size() >= 2; }));
  const std::vector<milliseconds> waits = restart_waits();
  ASSERT_EQ(waits.size(), 2u);
  // Lower bounds only: a restart can come late on a busy machine, never early.
  EXPECT_GE(waits[0], milliseconds(250));
  EXPECT_GE(waits[1], milliseconds(500)) << "the second consecutive crash waits twice as long";
}

TEST_P(Supervised, RecyclesAfterNCallsTransparently) {
  BridgeOptions o = opts();
  o.policy.recycle.after_calls = 5;
  std::atomic<int> hooks{0};
  Bridge b(o);
  b.on_restart([&] { ++hooks; });
  Library lib = b.load(GetParam().sample);
  Function next = lib.function("int counter_next(void)");
  std::vector<std::int64_t> got;
  for (int i = 0; i < 12; ++i) got.push_back(i64(next.call({}).ret));
  const std::vector<std::int64_t> expected{1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2};
  EXPECT_EQ(got, expected) << "each surrogate served five calls";
  EXPECT_EQ(b.stats().restarts, 2u);
  EXPECT_EQ(hooks.load(), 2);
  EXPECT_EQ(b.stats().calls_failed, 0u);
}

TEST_P(Supervised, ARemovedRestartHookRunsAtNoLaterStart) {
  BridgeOptions o = opts();
  o.policy.recycle.after_calls = 3;
  std::atomic<int> a{0}, b_runs{0};
  Bridge b(o);
  const int first = b.on_restart([&] { ++a; });
  const int second = b.on_restart([&] { ++b_runs; });
  EXPECT_NE(first, second);
  Library lib = b.load(GetParam().sample);
  Function next = lib.function("int counter_next(void)");
  // Calls 1-3, then the fourth waits for the one recycle (a sixth call would
  // leave the next recycle running on the monitor's thread meanwhile).
  for (int i = 0; i < 4; ++i) next.call({});
  EXPECT_EQ(b.stats().restarts, 1u);
  EXPECT_EQ(a.load(), 1);
  EXPECT_EQ(b_runs.load(), 1);
  b.remove_restart_hook(first);
  b.remove_restart_hook(first);               // twice: nothing more happens
  b.remove_restart_hook(second + 1);          // no such hook
  for (int i = 0; i < 3; ++i) next.call({});  // the seventh waits for the second recycle
  EXPECT_EQ(b.stats().restarts, 2u);
  EXPECT_EQ(a.load(), 1) << "removed before the second restart";
  EXPECT_EQ(b_runs.load(), 2);
  b.restart();
  EXPECT_EQ(i64(next.call({}).ret), 1) << "a fresh surrogate";
  EXPECT_EQ(a.load(), 1);
  EXPECT_EQ(b_runs.load(), 3);
}

TEST_P(Supervised, RecyclesWhenResidentMemoryPassesTheLimit) {
  BridgeOptions o = opts();
  o.policy.recycle.max_resident_bytes = 64u << 20;
  o.policy.recycle.check_every = milliseconds(20);
  EventLog log;
  Bridge b(o);
  log.attach(b);
  Library lib = b.load(GetParam().sample);
  Function leak = lib.function("int leak_mb(int mb)");
  const std::uint32_t pid = b.surrogate().pid;
  for (int i = 0; i < 6; ++i) leak.call({std::int64_t{16}});  // ~96 MiB leaked
  ASSERT_TRUE(eventually([&] { return b.stats().restarts >= 1; })) << "recycled on memory";
  EXPECT_NE(b.surrogate().pid, pid);
  EXPECT_LT(i64(leak.call({std::int64_t{0}}).ret), 96) << "the leak went with the old process";
  // Events reach handlers on the bus's own thread: wait for it.
  EXPECT_TRUE(eventually([&] {
    for (const auto& e : log.snapshot())
      if (e.kind == BridgeEvent::Kind::exited && e.reason.find("resident memory") != std::string::npos)
        return true;
    return false;
  }));
}

TEST_P(Supervised, MissedHeartbeatsMarkAFrozenSurrogateHung) {
  BridgeOptions o = opts();
  o.policy.heartbeat.interval = milliseconds(100);
  o.policy.heartbeat.timeout = milliseconds(1000);  // the healthy replacement answers within it under load
  o.policy.heartbeat.misses = 2;
  EventLog log;
  Bridge b(o);
  log.attach(b);
  Library lib = b.load(GetParam().sample);
  const std::uint32_t pid = b.surrogate().pid;
  ASSERT_TRUE(os::freeze_process(pid));  // frozen: alive but silent
  ASSERT_TRUE(eventually([&] { return log.has(BridgeEvent::Kind::restarted); }));
  bool hung = false;
  for (const auto& e : log.snapshot())
    if (e.kind == BridgeEvent::Kind::exited && e.reason.find("hung") != std::string::npos) hung = true;
  EXPECT_TRUE(hung);
  EXPECT_EQ(i64(lib.function("int add(int, int)").call({std::int64_t{2}, std::int64_t{5}}).ret), 7);
  EXPECT_NE(b.surrogate().pid, pid);
}

TEST_P(Supervised, StatsDescribeTheSurrogateAndTheCalls) {
  Bridge b(opts());
  Library lib = b.load(GetParam().sample);
  Function add_fn = lib.function("int add(int, int)");
  for (int i = 0; i < 20; ++i) add_fn.call({std::int64_t{i}, std::int64_t{1}});
  error_of([&] { add_fn.call({std::int64_t{1}, std::string("x")}); });
  const BridgeStats s = b.stats();
  EXPECT_EQ(s.state, SurrogateState::ready);
  EXPECT_EQ(s.pid, b.surrogate().pid);
  EXPECT_EQ(s.bits, GetParam().pointer_size * 8);
  EXPECT_EQ(s.calls_ok, 20u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_GT(s.latency_p50.count(), 0);
  EXPECT_GE(s.latency_p99, s.latency_p50);
  EXPECT_GT(s.process.resident_bytes, 0u);
  EXPECT_GE(s.process.peak_resident_bytes, s.process.resident_bytes);
  EXPECT_GT(s.process.threads, 0u);
  if (os::handle_count_reported()) {
    EXPECT_GT(s.process.handles, 0u);
  }
  EXPECT_EQ(s.process.pid, s.pid);
}

TEST_P(Supervised, LazyStartWaitsForTheFirstUse) {
  BridgeOptions o = opts();
  o.policy.lazy_start = true;
  Bridge b(o);
  EXPECT_EQ(b.stats().state, SurrogateState::not_started);
  EXPECT_EQ(b.stats().pid, 0u);
  Library lib = b.load(GetParam().sample);
  EXPECT_EQ(b.stats().state, SurrogateState::ready);
  EXPECT_EQ(b.stats().starts, 1u);
}

TEST_P(Supervised, AWorkerPoolServesCallsSideBySide) {
  BridgeOptions o = opts();
  o.policy.surrogate_workers = 4;
  Bridge b(o);
  Library lib = b.load(GetParam().sample);
  Function hold = lib.function("int wait_for_file(const char* started, const char* go, int limit_ms)");
  const std::string started = marker_path("pool-started"), go = marker_path("pool-go");
  auto held = std::async(std::launch::async, [&] {
    return i64(hold.call({started, go, std::int64_t{60000}}).ret);
  });
  ASSERT_TRUE(eventually([&] { return exists(started); })) << "the held call runs in the surrogate";
  EXPECT_EQ(i64(lib.function("int add(int, int)").call({std::int64_t{1}, std::int64_t{2}}).ret), 3)
      << "served by another worker while the held call still waits";
  EXPECT_NE(held.wait_for(milliseconds(0)), std::future_status::ready) << "released only below";
  touch(go);
  EXPECT_EQ(held.get(), 1);
  std::remove(started.c_str());
  std::remove(go.c_str());
}

TEST_P(Supervised, StopEndsTheSurrogateAndRestartBringsItBack) {
  Bridge b(opts());
  Library lib = b.load(GetParam().sample);
  Function add_fn = lib.function("int add(int, int)");
  const std::uint32_t pid = b.surrogate().pid;
  b.stop();
  EXPECT_TRUE(eventually([&] { return process_gone(pid); }));
  EXPECT_EQ(b.stats().state, SurrogateState::stopped);
  EXPECT_EQ(error_of([&] {
              add_fn.call({std::int64_t{1}, std::int64_t{1}});
            }).kind(),
            ErrorKind::surrogate_start_failed);
  b.restart();
  EXPECT_EQ(i64(add_fn.call({std::int64_t{1}, std::int64_t{1}}).ret), 2);
}

TEST_P(Supervised, TheSurrogateEndsWithTheBridge) {
  std::uint32_t pid;
  {
    Bridge b(opts());
    pid = b.surrogate().pid;
    EXPECT_FALSE(process_gone(pid));
  }
  EXPECT_TRUE(process_gone(pid));
}

// A normal stop is graceful: the surrogate gets Shutdown and exits by
// itself, so the DLL's exit handlers (atexit, destructors) run.
TEST_P(Supervised, TheDllsExitHandlersRunWhenTheBridgeEnds) {
  const std::string marker = marker_path((std::string("atexit-end-") + GetParam().name).c_str());
  std::int64_t pid = 0;
  {
    Bridge b(opts());
    Library lib = b.load(GetParam().sample);
    pid = i64(lib.function("int get_pid(void)").call({}).ret);
    ASSERT_EQ(i64(lib.function("int on_exit_write(const char* path)").call({marker}).ret), 0);
  }
  // The destructor returns once the surrogate was reaped.
  EXPECT_EQ(file_text(marker), "atexit " + std::to_string(pid) + "\n");
  std::remove(marker.c_str());
}

TEST_P(Supervised, TheDllsExitHandlersRunOnStopAndOnRecycling) {
  BridgeOptions o = opts();
  o.policy.recycle.after_calls = 3;
  Bridge b(o);
  Library lib = b.load(GetParam().sample);
  Function get_pid = lib.function("int get_pid(void)");
  Function on_exit = lib.function("int on_exit_write(const char* path)");
  const std::string recycled = marker_path((std::string("atexit-recycle-") + GetParam().name).c_str());
  const std::string stopped = marker_path((std::string("atexit-stop-") + GetParam().name).c_str());

  const std::int64_t first = i64(get_pid.call({}).ret);
  ASSERT_EQ(i64(on_exit.call({recycled}).ret), 0);
  get_pid.call({});  // the third call: the surrogate is recycled after it
  ASSERT_TRUE(eventually([&] { return os::process_gone(static_cast<std::uint32_t>(first)); }));
  EXPECT_EQ(file_text(recycled), "atexit " + std::to_string(first) + "\n");

  const std::int64_t second = i64(get_pid.call({}).ret);
  EXPECT_NE(second, first);
  ASSERT_EQ(i64(on_exit.call({stopped}).ret), 0);
  b.stop();
  ASSERT_TRUE(eventually([&] { return os::process_gone(static_cast<std::uint32_t>(second)); }));
  EXPECT_EQ(file_text(stopped), "atexit " + std::to_string(second) + "\n");
  std::remove(recycled.c_str());
  std::remove(stopped.c_str());
}

// A Shutdown the surrogate cannot answer (its one worker is held inside the
// DLL) leads to SIGTERM after shutdown_wait, and only then to SIGKILL: a DLL
// that handles SIGTERM gets to run its handler. stop() stops at once, though
// a call still holds the surrogate: that call fails with crashed.
TEST_P(Supervised, AnUnansweredShutdownIsFollowedBySigtermBeforeSigkill) {
#if defined(_WIN32)
  GTEST_SKIP() << "Windows has no SIGTERM: the stop ends in TerminateProcess";
#else
  const std::string marker = marker_path((std::string("sigterm-") + GetParam().name).c_str());
  const std::string started = marker_path((std::string("sigterm-started-") + GetParam().name).c_str());
  const std::string never = marker_path((std::string("sigterm-never-") + GetParam().name).c_str());
  std::int64_t pid = 0;
  std::future<ErrorKind> held;
  {
    BridgeOptions o = opts();
    o.policy.stop.shutdown_wait = milliseconds(300);
    o.policy.stop.terminate_wait = milliseconds(10000);
    Bridge b(o);
    Library lib = b.load(GetParam().sample);
    pid = i64(lib.function("int get_pid(void)").call({}).ret);
    ASSERT_EQ(i64(lib.function("int on_sigterm_write(const char* path)").call({marker}).ret), 0);
    Function hold = lib.function("int wait_for_file(const char* started, const char* go, int limit_ms)");
    std::remove(started.c_str());
    held = std::async(std::launch::async, [hold, started, never] {
      return error_of([&] { hold.call({started, never, std::int64_t{60000}}, milliseconds(60000)); }).kind();
    });
    ASSERT_TRUE(eventually([&] { return exists(started); })) << "the held call runs in the surrogate";
    b.stop();  // while the call is held: the Shutdown waits for it, unanswered
    EXPECT_EQ(held.get(), ErrorKind::crashed);
  }
  EXPECT_EQ(file_text(marker), "sigterm " + std::to_string(pid) + "\n") << "SIGKILL came first";
  std::remove(marker.c_str());
  std::remove(started.c_str());
#endif
}

// A hook that throws something that is no std::exception fails the new
// surrogate (killed, with the reason), not the program.
TEST_P(Supervised, AHookThrowingANonStandardExceptionKillsTheNewSurrogateNotTheProgram) {
  EventLog log;
  Bridge b(opts());
  log.attach(b);
  std::atomic<int> runs{0};
  b.on_restart([&] {
    if (++runs == 1) throw 42;
  });
  Library lib = b.load(GetParam().sample);
  EXPECT_EQ(error_of([&] { lib.function("int crash_segv(void)").call({}); }).kind(), ErrorKind::crashed);
  EXPECT_EQ(i64(lib.function("int add(int, int)").call({std::int64_t{2}, std::int64_t{3}}).ret), 5);
  EXPECT_EQ(runs.load(), 2) << "the hook failed once, then a further surrogate was started";
  EXPECT_EQ(b.stats().restarts, 2u);
  ASSERT_TRUE(eventually([&] {
    for (const auto& e : log.snapshot()) {
      if (e.kind == BridgeEvent::Kind::exited &&
          e.reason.find("on-restart hook failed") != std::string::npos) {
        return true;
      }
    }
    return false;
  }));
}

#if !defined(_WIN32)
namespace {

// A launcher (BridgeOptions::launcher) that runs `script` with the
// surrogate's command line as "$@".
// Lines in the file at `path` (0 when absent).
int line_count(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

std::vector<std::string> shell_launcher(const std::string& script) {
  return {"/bin/sh", "-c", script, "launcher"};
}

// A launcher that appends a line to `count` at each start, and fails the
// start (exit 1 before the surrogate runs) while the file `fail` exists.
std::vector<std::string> failing_launcher(const std::string& count, const std::string& fail) {
  return shell_launcher("echo start >> '" + count + "'; if [ -e '" + fail + "' ]; then exit 1; fi; " +
                        "exec \"$@\"");
}

}  // namespace

// stop() while a start is under way: the surrogate that comes up afterwards
// is stopped, not installed behind a `stopped` state.
TEST_P(Supervised, StopDuringAStartLeavesNoSurrogateRunning) {
  const std::string pidfile = marker_path("start-pid"), go = marker_path("start-go");
  BridgeOptions o = opts();
  o.policy.lazy_start = true;
  o.launcher = shell_launcher("echo $$ > '" + pidfile + "'; while [ ! -e '" + go +
                              "' ]; do sleep 0.01; done; exec \"$@\"");
  Bridge b(o);
  auto loading = std::async(std::launch::async, [&] { return error_of([&] { b.load(GetParam().sample); }); });
  ASSERT_TRUE(eventually([&] { return line_count(pidfile) == 1; })) << "the start is under way";
  const auto pid = static_cast<std::uint32_t>(std::stoul(file_text(pidfile)));
  b.stop();
  EXPECT_EQ(loading.get().kind(), ErrorKind::surrogate_start_failed) << "the bridge is stopped";
  touch(go);  // the surrogate comes up now, after stop()
  EXPECT_TRUE(eventually([&] { return os::process_gone(pid); })) << "surrogate " << pid << " left running";
  const BridgeStats s = b.stats();
  EXPECT_EQ(s.state, SurrogateState::stopped);
  EXPECT_EQ(s.pid, 0u);
  EXPECT_EQ(s.starts, 0u);
  b.restart();
  Library lib = b.load(GetParam().sample);
  EXPECT_EQ(i64(lib.function("int add(int, int)").call({std::int64_t{1}, std::int64_t{1}}).ret), 2);
  std::remove(pidfile.c_str());
  std::remove(go.c_str());
}

// A start that fails while recycling goes the way of any failed restart:
// backoff and further attempts, under the crash-loop limit.
TEST_P(Supervised, AFailedStartWhileRecyclingIsRetriedWithBackoff) {
  const std::string count = marker_path("recycle-count"), fail = marker_path("recycle-fail");
  BridgeOptions o = opts();
  o.policy.recycle.after_calls = 2;
  o.policy.restart.backoff = Backoff{milliseconds(20), milliseconds(20), false};
  o.policy.restart.max_starts = 1000;
  o.launcher = failing_launcher(count, fail);
  Bridge b(o);
  Library lib = b.load(GetParam().sample);
  Function add_fn = lib.function("int add(int, int)");
  add_fn.call({std::int64_t{1}, std::int64_t{1}});
  touch(fail);
  add_fn.call({std::int64_t{1}, std::int64_t{1}});  // the second call: recycling follows, and its start fails
  ASSERT_TRUE(eventually([&] { return line_count(count) >= 3; }))
      << "a failed recycling start is tried again";
  std::remove(fail.c_str());
  ASSERT_TRUE(eventually([&] { return b.stats().state == SurrogateState::ready; })) << "and then it succeeds";
  EXPECT_EQ(i64(add_fn.call({std::int64_t{2}, std::int64_t{2}}).ret), 4);
  std::remove(count.c_str());
}

TEST_P(Supervised, AStartThatKeepsFailingWhileRecyclingEndsInTheCrashLoopLimit) {
  const std::string count = marker_path("recycle-count"), fail = marker_path("recycle-fail");
  BridgeOptions o = opts();
  o.policy.recycle.after_calls = 1;
  o.policy.restart.backoff = Backoff{milliseconds(10), milliseconds(10), false};
  o.policy.restart.max_starts = 2;
  o.launcher = failing_launcher(count, fail);
  Bridge b(o);
  Library lib = b.load(GetParam().sample);
  touch(fail);
  lib.function("int add(int, int)").call({std::int64_t{1}, std::int64_t{1}});  // recycling follows
  ASSERT_TRUE(eventually([&] { return b.stats().state == SurrogateState::failed; }));
  EXPECT_NE(b.stats().reason.find("crash loop"), std::string::npos) << b.stats().reason;
  EXPECT_EQ(line_count(count), 1 + 1 + 2) << "first start, the recycling start, then max_starts restarts";
  std::remove(fail.c_str());
  std::remove(count.c_str());
}
#endif

TEST_P(Supervised, StressManyThreadsWithFaultsInjectedNothingLostOrMismatched) {
  BridgeOptions o = opts();
  o.policy.retry.max_attempts = 5;
  o.policy.retry.backoff = Backoff{milliseconds(5), milliseconds(50)};
  o.policy.restart.max_starts = 1000;
  Bridge b(o);
  Library lib = b.load(GetParam().sample);
  FunctionOptions idem;
  idem.idempotent = true;
  Function add_fn = lib.function("int add(int a, int b)", idem);
  constexpr int kThreads = 4, kCalls = 600, kKills = 5;
  std::atomic<int> ok{0}, mismatched{0}, failed{0}, kills{0}, calls{0};
  std::atomic<bool> done{false};
  std::thread chaos([&] {
    // Kills the surrogate every 20 ms, as a crashing DLL would, once it has
    // answered a call since the last kill: however slow a start is (surrogate32
    // under qemu-i386 on a kernel without IA-32 emulation), calls get through.
    int ok_at_kill = -1;
    while (!done) {
      std::this_thread::sleep_for(milliseconds(20));
      const std::uint32_t pid = b.stats().pid;
      const int answered = ok.load();
      if (pid != 0 && answered > ok_at_kill && os::kill_process(pid)) {
        ok_at_kill = answered;
        ++kills;
      }
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // At least kCalls each, and on until the faults have really happened.
      for (int i = 0; (i < kCalls || kills < kKills) && i < 1000000; ++i) {
        ++calls;
        try {
          const Value r = add_fn.call({std::int64_t{i}, std::int64_t{t * 1000000}}).ret;
          (i64(r) == i + t * 1000000 ? ok : mismatched)++;
        } catch (const Error& e) {
          // Only an infrastructure kind, after the retries were used up.
          EXPECT_TRUE(e.kind() == ErrorKind::crashed || e.kind() == ErrorKind::timeout) << e.what();
          ++failed;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  done = true;
  chaos.join();
  EXPECT_EQ(mismatched.load(), 0);
  EXPECT_EQ(ok + failed, calls.load()) << "every call came back";
  EXPECT_GE(calls.load(), kThreads * kCalls);
  EXPECT_GT(ok.load(), calls.load() / 2);
  const BridgeStats s = b.stats();
  EXPECT_GE(kills.load(), kKills);
  EXPECT_GE(s.restarts, 1u);
  std::printf("stress: %d calls, %d ok, %d failed after retries, %d kills, %llu restarts, %llu retries\n",
              calls.load(), ok.load(), failed.load(), kills.load(),
              static_cast<unsigned long long>(s.restarts), static_cast<unsigned long long>(s.retries));
}

INSTANTIATE_TEST_SUITE_P(Surrogates, Supervised, ::testing::ValuesIn(kTargets),
                         [](const auto& info) { return std::string(info.param.name); });

// kill -9 of a client process: its surrogate must not outlive it.
TEST(Orphans, KillingTheClientTakesItsSurrogateWithIt) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  DLLBRIDGE_SKIP_WITHOUT_CALL_TOOL();
  std::unique_ptr<os::Child> client = os::Child::start({kDllbridgeCall, "--batch", kSample32});
  ASSERT_TRUE(client->write("{\"signature\": \"int get_pid(void)\"}\n"));
  const std::string line = client->read_line();
  const std::size_t at = line.find("\"return\":");
  ASSERT_NE(at, std::string::npos) << line;
  const auto surrogate = static_cast<std::uint32_t>(std::stoul(line.substr(at + 9)));
  ASSERT_FALSE(process_gone(surrogate));

  ASSERT_TRUE(client->kill());
  client->wait();
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return process_gone(surrogate); }, milliseconds(10000)))
      << "surrogate " << surrogate << " outlived its client";
  const auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  // Printed, not asserted: under a loaded `ctest -j` the poll above may see it late.
  std::printf("surrogate gone %lld ms after kill -9 of its client\n", static_cast<long long>(took.count()));
}
