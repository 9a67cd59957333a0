// The supervisor's parts on their own, with fakes: the event bus (order,
// subscribers of the moment, a slow or failing handler), call statistics
// (counters, percentiles, the latency ring) and the call executor (retries,
// breaker, what counts), with a fake SessionSource instead of a surrogate.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "supervisor/call_stats.hpp"
#include "supervisor/event_bus.hpp"
#include "supervisor/executor.hpp"

using namespace dllbridge;
using namespace dllbridge::detail;
using std::chrono::microseconds;
using std::chrono::milliseconds;

namespace {

BridgeEvent event_with_pid(std::uint32_t pid) {
  return BridgeEvent{BridgeEvent::Kind::started, pid, false, 0, "", BreakerState::closed};
}

// Collects events; wait_for(n) blocks until n arrived (or 20 s passed, to never hang).
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::uint32_t> pids;
  void operator()(const BridgeEvent& e) {
    std::lock_guard lock(mu);
    pids.push_back(e.pid);
    cv.notify_all();
  }
  std::vector<std::uint32_t> wait_for(std::size_t n) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(20), [&] { return pids.size() >= n; });
    return pids;
  }
};

// Lends leases without a session and counts what the executor tells it.
struct FakeSource : SessionSource {
  int acquired = 0, in_flight = 0, succeeded = 0, counted = 0;
  std::optional<Error> acquire_error;
  Lease acquire(std::chrono::steady_clock::time_point) override {
    if (acquire_error) throw *acquire_error;
    ++acquired;
    ++in_flight;
    return Lease(nullptr, 7, [this] { --in_flight; });
  }
  void call_succeeded(bool c, std::chrono::steady_clock::time_point) override {
    ++succeeded;
    counted += c;
  }
  std::string reason() override { return "fake reason"; }
};

SupervisionPolicy quick_policy() {
  SupervisionPolicy p;
  p.retry.max_attempts = 3;
  p.retry.backoff = Backoff{milliseconds(0), milliseconds(0), false};
  p.breaker.enabled = false;
  return p;
}

CallOptions opts(bool idempotent, bool counted = true) {
  return CallOptions{idempotent, milliseconds(20000), counted};
}

struct ExecutorTest : ::testing::Test {
  EventBus events;
  CallStats stats;
  FakeSource source;
  BridgeStats snapshot() {
    BridgeStats s;
    stats.snapshot(s);
    return s;
  }
};

}  // namespace

TEST(EventBus, DeliversInOrderToTheSubscribersOfTheMoment) {
  EventBus bus;
  Collector early, late;
  bus.subscribe(std::ref(early));
  bus.emit(event_with_pid(1));
  bus.emit(event_with_pid(2));
  const int id = bus.subscribe(std::ref(late));
  for (std::uint32_t i = 3; i <= 50; ++i) bus.emit(event_with_pid(i));
  bus.unsubscribe(id);
  bus.emit(event_with_pid(51));
  std::vector<std::uint32_t> all(51);
  for (std::uint32_t i = 0; i < 51; ++i) all[i] = i + 1;
  EXPECT_EQ(early.wait_for(51), all);
  std::vector<std::uint32_t> middle(all.begin() + 2, all.begin() + 50);
  EXPECT_EQ(late.wait_for(48), middle) << "from its subscription to its unsubscription";
}

TEST(EventBus, AHandlerThatThrowsOrBlocksHoldsUpNoEmitterAndNoLaterEvent) {
  Collector seen;
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool open = false;
  {
    EventBus bus;
    bus.subscribe([&](const BridgeEvent& e) {
      if (e.pid == 1) {
        std::unique_lock lock(gate_mu);
        gate_cv.wait(lock, [&] { return open; });  // the first event blocks the delivery thread
      }
      throw std::runtime_error("a subscriber's bug");
    });
    bus.subscribe(std::ref(seen));
    // The delivery thread is held by the first event: emitting goes on regardless.
    for (std::uint32_t i = 1; i <= 20; ++i) bus.emit(event_with_pid(i));
    {
      std::lock_guard lock(gate_mu);
      open = true;
    }
    gate_cv.notify_all();
  }  // the destructor delivers what was queued
  EXPECT_EQ(seen.pids.size(), 20u);
  EXPECT_EQ(seen.pids.back(), 20u);
}

TEST(EventBus, StampsTheTimeOfEmission) {
  EventBus bus;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<BridgeEvent> got;
  bus.subscribe([&](const BridgeEvent& e) {
    std::lock_guard lock(mu);
    got = e;
    cv.notify_all();
  });
  const auto before = std::chrono::steady_clock::now();
  bus.emit(event_with_pid(9));
  const auto after = std::chrono::steady_clock::now();
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return got.has_value(); }));
  EXPECT_GE(got->at, before);
  EXPECT_LE(got->at, after);
}

TEST(CallStats, CountsAndPercentiles) {
  CallStats stats;
  for (int us = 100; us >= 1; --us) stats.succeeded(microseconds(us));
  stats.failed(false);
  stats.failed(true);
  stats.retried();
  BridgeStats s;
  stats.snapshot(s);
  EXPECT_EQ(s.calls_ok, 100u);
  EXPECT_EQ(s.calls_failed, 2u);
  EXPECT_EQ(s.calls_timed_out, 1u);
  EXPECT_EQ(s.retries, 1u);
  EXPECT_EQ(s.latency_p50, microseconds(50));
  EXPECT_EQ(s.latency_p99, microseconds(99));
}

TEST(CallStats, NoLatencyBeforeTheFirstSuccess) {
  CallStats stats;
  stats.failed(false);
  BridgeStats s;
  stats.snapshot(s);
  EXPECT_EQ(s.latency_p50.count(), 0);
  EXPECT_EQ(s.latency_p99.count(), 0);
}

TEST(CallStats, TheLatencyRingKeepsOnlyTheLatestCalls) {
  CallStats stats;
  for (std::size_t i = 0; i < CallStats::kLatencyWindow; ++i) stats.succeeded(microseconds(1000));
  for (std::size_t i = 0; i < CallStats::kLatencyWindow - 1; ++i) stats.succeeded(microseconds(10));
  BridgeStats s;
  stats.snapshot(s);
  EXPECT_EQ(s.latency_p50, microseconds(10));
  EXPECT_EQ(s.latency_p99, microseconds(10)) << "one old 1000 us call left of 1024";
  stats.succeeded(microseconds(20));  // the last old one goes
  stats.snapshot(s);
  EXPECT_EQ(s.latency_p99, microseconds(10));
  EXPECT_EQ(s.calls_ok, 2 * CallStats::kLatencyWindow);
}

TEST_F(ExecutorTest, ASuccessLendsTheLeaseOnceAndCounts) {
  CallExecutor ex(quick_policy(), source, stats, events);
  std::uint64_t generation = 0;
  ex.run(
      [&](const Lease& lease, milliseconds left) {
        generation = lease.generation();
        EXPECT_GT(left.count(), 0);
        EXPECT_EQ(source.in_flight, 1);
      },
      opts(false));
  EXPECT_EQ(generation, 7u);
  EXPECT_EQ(source.in_flight, 0) << "the lease ended";
  EXPECT_EQ(source.succeeded, 1);
  EXPECT_EQ(source.counted, 1);
  EXPECT_EQ(snapshot().calls_ok, 1u);
  ex.run([](const Lease&, milliseconds) {}, opts(false, false));
  EXPECT_EQ(source.counted, 1) << "not a counted call";
  EXPECT_EQ(snapshot().calls_ok, 1u);
}

TEST_F(ExecutorTest, IdempotentCallsAreRetriedUpToMaxAttempts) {
  CallExecutor ex(quick_policy(), source, stats, events);
  int attempts = 0;
  const auto crash = [&](const Lease&, milliseconds) {
    ++attempts;
    throw Error(ErrorKind::crashed, "killed by SIGSEGV", true);
  };
  try {
    ex.run(crash, opts(true));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::crashed);
  }
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(source.in_flight, 0) << "every lease ended, thrown or not";
  EXPECT_EQ(snapshot().retries, 2u);
  EXPECT_EQ(snapshot().calls_failed, 3u);

  attempts = 0;
  ex.run(
      [&](const Lease&, milliseconds) {
        if (++attempts == 1) throw Error(ErrorKind::timeout, "no reply", true);
      },
      opts(true));
  EXPECT_EQ(attempts, 2) << "the second attempt succeeded";
}

TEST_F(ExecutorTest, OthersAreNeverSentTwiceOnceTheyMayHaveRun) {
  CallExecutor ex(quick_policy(), source, stats, events);
  int attempts = 0;
  try {
    ex.run(
        [&](const Lease&, milliseconds) {
          ++attempts;
          throw Error(ErrorKind::crashed, "killed by SIGSEGV", true);
        },
        opts(false));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::crashed);
    EXPECT_TRUE(e.may_have_run());
    EXPECT_NE(std::string(e.what()).find("not retried"), std::string::npos) << e.what();
  }
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(snapshot().retries, 0u);
}

TEST_F(ExecutorTest, ARequestThatNeverLeftIsSentAgainWhateverItsIdempotency) {
  CallExecutor ex(quick_policy(), source, stats, events);
  int attempts = 0;
  ex.run(
      [&](const Lease&, milliseconds) {
        if (++attempts < 3) throw Error(ErrorKind::crashed, "the surrogate is gone", false);
      },
      opts(false));
  EXPECT_EQ(attempts, 3);
  const BridgeStats s = snapshot();
  EXPECT_EQ(s.calls_failed, 0u) << "not a failure";
  EXPECT_EQ(s.retries, 0u);
  EXPECT_EQ(s.calls_ok, 1u);
}

TEST_F(ExecutorTest, TheCallersMistakesAreNotRetriedAndDoNotTripTheBreaker) {
  SupervisionPolicy p = quick_policy();
  p.breaker.enabled = true;
  p.breaker.window = 2;
  p.breaker.min_calls = 2;
  p.breaker.failure_ratio = 0.5;
  CallExecutor ex(p, source, stats, events);
  int attempts = 0;
  for (int i = 0; i < 5; ++i) {
    try {
      ex.run(
          [&](const Lease&, milliseconds) {
            ++attempts;
            throw Error(ErrorKind::bad_argument, "not an int");
          },
          opts(true));
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
    }
  }
  EXPECT_EQ(attempts, 5);
  EXPECT_EQ(ex.breaker_state(), BreakerState::closed);
}

TEST_F(ExecutorTest, TheBreakerOpensThenFailsFastWithoutTouchingTheSource) {
  SupervisionPolicy p = quick_policy();
  p.breaker.enabled = true;
  p.breaker.window = 2;
  p.breaker.min_calls = 2;
  p.breaker.failure_ratio = 0.5;
  p.breaker.open_for = milliseconds(60000);
  Collector changes;
  std::vector<BreakerState> states;
  std::mutex mu;
  events.subscribe([&](const BridgeEvent& e) {
    if (e.kind != BridgeEvent::Kind::breaker_changed) return;
    {
      std::lock_guard lock(mu);
      states.push_back(e.breaker);
    }
    changes(e);
  });
  CallExecutor ex(p, source, stats, events);
  for (int i = 0; i < 2; ++i) {
    try {
      ex.run([](const Lease&, milliseconds) { throw Error(ErrorKind::crashed, "killed", true); },
             opts(false));
    } catch (const Error&) {
    }
  }
  EXPECT_EQ(ex.breaker_state(), BreakerState::open);
  const int acquired = source.acquired;
  bool ran = false;
  try {
    ex.run([&](const Lease&, milliseconds) { ran = true; }, opts(true));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::circuit_open);
    EXPECT_NE(std::string(e.what()).find("fake reason"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(source.acquired, acquired) << "failing fast asks for no session";
  EXPECT_EQ(snapshot().calls_failed, 3u);
  changes.wait_for(1);
  std::lock_guard lock(mu);
  EXPECT_EQ(states, std::vector<BreakerState>{BreakerState::open});
}

TEST_F(ExecutorTest, AFailureToGetASessionIsAnInfrastructureFailure) {
  CallExecutor ex(quick_policy(), source, stats, events);
  source.acquire_error = Error(ErrorKind::surrogate_start_failed, "cannot start");
  try {
    ex.run([](const Lease&, milliseconds) {}, opts(true));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::surrogate_start_failed);
  }
  EXPECT_EQ(snapshot().retries, 2u) << "idempotent: tried max_attempts times";
}
