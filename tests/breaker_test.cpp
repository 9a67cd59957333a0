// Supervision decisions with a fake clock: breaker, backoff, crash-loop limit.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "supervisor/breaker.hpp"

using namespace dllbridge;
using namespace dllbridge::detail;
using std::chrono::milliseconds;

namespace {

TimePoint t0() { return TimePoint{} + std::chrono::hours(1); }

BreakerPolicy small() {
  BreakerPolicy p;
  p.failure_ratio = 0.5;
  p.window = 4;
  p.min_calls = 4;
  p.open_for = milliseconds(1000);
  p.half_open_probes = 2;
  return p;
}

// A breaker that four failures at t0() opened.
Breaker tripped() {
  Breaker b(small());
  for (int i = 0; i < 4; ++i) {
    b.allow(t0());
    b.record(false, t0());
  }
  return b;
}

}  // namespace

TEST(Breaker, StaysClosedBelowTheMinimumNumberOfCalls) {
  Breaker b(small());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(b.allow(t0()));
    b.record(false, t0());
  }
  EXPECT_EQ(b.state(), BreakerState::closed);
}

TEST(Breaker, OpensAtTheFailureRatioAndFailsFastUntilOpenForPassed) {
  Breaker b(small());
  const bool outcomes[] = {true, false, true, false};  // 2 of 4 failed = 0.5
  for (bool ok : outcomes) {
    ASSERT_TRUE(b.allow(t0()));
    b.record(ok, t0());
  }
  EXPECT_EQ(b.state(), BreakerState::open);
  EXPECT_FALSE(b.allow(t0() + milliseconds(999)));
  EXPECT_EQ(b.open_remaining(t0() + milliseconds(400)), milliseconds(600));
  EXPECT_TRUE(b.allow(t0() + milliseconds(1000)));
  EXPECT_EQ(b.state(), BreakerState::half_open);
}

TEST(Breaker, HalfOpenLetsProbesThroughAndClosesWhenAllSucceed) {
  Breaker b = tripped();
  const TimePoint later = t0() + milliseconds(1500);
  EXPECT_TRUE(b.allow(later));
  EXPECT_TRUE(b.allow(later));
  EXPECT_FALSE(b.allow(later)) << "only two probes";
  b.record(true, later);
  EXPECT_EQ(b.state(), BreakerState::half_open);
  b.record(true, later);
  EXPECT_EQ(b.state(), BreakerState::closed);
  EXPECT_TRUE(b.allow(later));
}

TEST(Breaker, AFailedProbeOpensAgainForAnotherFullPeriod) {
  Breaker b = tripped();
  const TimePoint later = t0() + milliseconds(1500);
  ASSERT_TRUE(b.allow(later));
  b.record(false, later);
  EXPECT_EQ(b.state(), BreakerState::open);
  EXPECT_FALSE(b.allow(later + milliseconds(999)));
  EXPECT_TRUE(b.allow(later + milliseconds(1000)));
}

TEST(Breaker, AReleasedProbeCanBeTakenAgain) {
  Breaker b = tripped();
  const TimePoint later = t0() + milliseconds(1500);
  ASSERT_TRUE(b.allow(later));
  ASSERT_TRUE(b.allow(later));
  b.release_probe();  // e.g. the call was a bad_argument, never reached the surrogate
  EXPECT_TRUE(b.allow(later));
}

TEST(Breaker, OldOutcomesSlideOutOfTheWindow) {
  BreakerPolicy p = small();  // the last 4 outcomes count
  p.failure_ratio = 0.75;
  Breaker b(p);
  auto run = [&](std::initializer_list<bool> outcomes) {
    for (bool ok : outcomes) {
      ASSERT_TRUE(b.allow(t0()));
      b.record(ok, t0());
    }
  };
  // Two early failures slide out: the last 4 hold one failure. (Counting
  // them still would make it 3 of 4 and open.)
  run({false, false, true, true, true, true, false});
  EXPECT_EQ(b.state(), BreakerState::closed);
  // Three of the last 4 failed: open. (Over all 9 outcomes it would be 5 of 9,
  // below the ratio.)
  run({false, false});
  EXPECT_EQ(b.state(), BreakerState::open);
}

TEST(Breaker, DisabledNeverOpens) {
  BreakerPolicy p = small();
  p.enabled = false;
  Breaker b(p);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(b.allow(t0()));
    b.record(false, t0());
  }
  EXPECT_EQ(b.state(), BreakerState::closed);
}

TEST(Backoff, FullJitterStaysWithinTheExponentialCeilingAndTheCap) {
  std::mt19937_64 rng(7);
  const Backoff b{milliseconds(100), milliseconds(1000)};
  for (int attempt = 1; attempt <= 8; ++attempt) {
    const long ceiling = std::min(100L << (attempt - 1), 1000L);
    std::set<long> seen;
    for (int i = 0; i < 200; ++i) {
      const long d = backoff_delay(b, attempt, rng).count();
      ASSERT_GE(d, 0);
      ASSERT_LE(d, ceiling) << "attempt " << attempt;
      seen.insert(d);
    }
    EXPECT_GT(seen.size(), 20u) << "jitter spreads the delays";
  }
  EXPECT_EQ(backoff_delay(Backoff{milliseconds(0), milliseconds(1000)}, 3, rng), milliseconds(0));
}

TEST(Backoff, LazyRngsAreSeededApartWhenFirstUsed) {
  // Bridges started together must not back off in step: each engine gets
  // its own seed (at first use, so a bridge that never backs off pays none).
  LazyRng a, b;
  std::mt19937_64 unseeded;
  std::vector<std::uint64_t> da, db, fixed;
  for (int i = 0; i < 4; ++i) {
    da.push_back(a.get()());
    db.push_back(b.get()());
    fixed.push_back(unseeded());
  }
  EXPECT_NE(da, db);
  EXPECT_NE(da, fixed);
  EXPECT_EQ(&a.get(), &a.get());  // one engine, not a new one per use
}

TEST(Backoff, WithoutJitterItIsTheExponentialCeiling) {
  std::mt19937_64 rng(1);
  const Backoff b{milliseconds(100), milliseconds(500), false};
  EXPECT_EQ(backoff_delay(b, 1, rng), milliseconds(100));
  EXPECT_EQ(backoff_delay(b, 2, rng), milliseconds(200));
  EXPECT_EQ(backoff_delay(b, 3, rng), milliseconds(400));
  EXPECT_EQ(backoff_delay(b, 4, rng), milliseconds(500));
  EXPECT_EQ(backoff_delay(b, 30, rng), milliseconds(500));
}

TEST(StartLimiter, AllowsMaxStartsWithinTheWindowThenRefusesUntilItSlides) {
  RestartPolicy p;
  p.max_starts = 3;
  p.window = milliseconds(10000);
  StartLimiter l(p);
  EXPECT_TRUE(l.try_start(t0()));
  EXPECT_TRUE(l.try_start(t0() + milliseconds(1000)));
  EXPECT_TRUE(l.try_start(t0() + milliseconds(2000)));
  EXPECT_FALSE(l.try_start(t0() + milliseconds(3000)));
  EXPECT_FALSE(l.try_start(t0() + milliseconds(9999)));
  EXPECT_TRUE(l.try_start(t0() + milliseconds(10000)));  // the first one slid out
  l.reset();
  EXPECT_EQ(l.recent(), 0);
}
