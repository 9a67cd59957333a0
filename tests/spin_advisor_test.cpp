// rpc::SpinAdvisor fed with made-up waits (no clock): it spins where
// spinning makes waits shorter (client and surrogate on different CPUs),
// sleeps where it makes them longer (one CPU), follows a change of
// placement, and its spin follows how long frames took to come.
#include "dllbridge/rpc/spin_advisor.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>

using dllbridge::rpc::SpinAdvisor;
using std::chrono::microseconds;
using std::chrono::nanoseconds;

namespace {

// A peer that answers `arrives` after the wait starts. Spinning: the frame
// is seen when it arrives if that is within the budget, else it costs the
// whole budget plus `wake` (the sleep's wake-up) after the arrival, or
// `spin_delay` more where the spin keeps the peer from running. Sleeping:
// arrival plus `wake`.
struct Placement {
  microseconds arrives;
  microseconds wake;
  microseconds spin_delay{0};  // one CPU: the spin holds the peer back by this much
};

struct Counts {
  int spins = 0;
  int sleeps = 0;
  int timed = 0;  // plans to be timed and recorded
};

// As the transport does: a plan that is not timed is not recorded.
Counts run(SpinAdvisor& a, const Placement& p, int waits) {
  Counts c;
  for (int i = 0; i < waits; ++i) {
    const SpinAdvisor::Plan plan = a.next();
    if (plan.timed) ++c.timed;
    if (!plan.spin) {
      ++c.sleeps;
      if (plan.timed) a.record(plan, p.arrives + p.wake, false, nanoseconds(0));
      continue;
    }
    EXPECT_TRUE(plan.timed) << "a spin is always timed";
    ++c.spins;
    const nanoseconds arrives = p.arrives + p.spin_delay;
    if (arrives <= plan.budget) {
      a.record(plan, arrives, true, arrives);
    } else {
      a.record(plan, std::max<nanoseconds>(arrives, plan.budget) + p.wake, false, nanoseconds(0));
    }
  }
  return c;
}

// Different CPUs on a virtual machine: the reply comes 10 µs after the
// request, waking a sleeping thread costs 37 µs more.
const Placement kTwoCpus{microseconds(10), microseconds(37)};
// One CPU: the peer runs only once this side stops spinning (modelled as a
// delay of the whole longest spin); waking is cheap.
const Placement kOneCpu{microseconds(6), microseconds(3), microseconds(50)};  // the longest spin

}  // namespace

TEST(SpinAdvisor, SpinsWhenItSavesTheWakeUpAndItsSpinFollowsTheReplies) {
  SpinAdvisor a;
  const Counts c = run(a, kTwoCpus, 1000);
  EXPECT_TRUE(a.prefers_spin());
  EXPECT_GT(c.spins, 950) << "sleeping is only tried now and then";
  EXPECT_GT(c.sleeps, 0) << "the other mode is still tried";
  EXPECT_EQ(a.spin_budget(), nanoseconds(microseconds(20))) << "twice what replies took within the spin";
  EXPECT_LT(a.mean(true), a.mean(false));
}

TEST(SpinAdvisor, SleepsWhenSpinningDelaysThePeerAndTriesSpinningLessAndLessOften) {
  SpinAdvisor a;
  const Counts first = run(a, kOneCpu, 1000);
  EXPECT_FALSE(a.prefers_spin());
  EXPECT_LT(first.spins, 20) << "the first try and rarer ones after it";
  const Counts later = run(a, kOneCpu, 4096);
  EXPECT_LE(later.spins, 5) << "at most one try in " << SpinAdvisor::kLongestTryEvery << " waits";
  EXPECT_GE(later.spins, 3) << "but never none: the placement may change";
}

TEST(SpinAdvisor, FollowsAChangeOfPlacementBothWays) {
  SpinAdvisor a;
  run(a, kOneCpu, 2000);
  ASSERT_FALSE(a.prefers_spin());
  run(a, kTwoCpus, 100);  // sleeping now costs the wake-up: its own mean shows it
  EXPECT_TRUE(a.prefers_spin());
  const Counts back = run(a, kOneCpu, 2000);
  EXPECT_FALSE(a.prefers_spin());
  EXPECT_GT(back.sleeps, 1900);
}

TEST(SpinAdvisor, ASpinThatMissesIsLongerNextTimeUpToTheLongest) {
  SpinAdvisor a;
  // The reply comes after 45 µs: beyond the first spin (25 µs), within the longest.
  const Placement slow{microseconds(45), microseconds(37)};
  run(a, slow, 200);
  EXPECT_TRUE(a.prefers_spin()) << "45 µs spun beats 82 µs slept";
  EXPECT_EQ(a.spin_budget(), SpinAdvisor::kMaxSpin) << "2 x 45 µs, capped";
}

TEST(SpinAdvisor, AnIdlePeerSaysNothingAndSleepingWins) {
  SpinAdvisor a;
  // Seconds between requests: both modes' waits are capped, equal; spinning
  // is not clearly faster, so it sleeps (spinning would only burn CPU).
  const Placement idle{std::chrono::duration_cast<microseconds>(std::chrono::seconds(2)), microseconds(37)};
  const Counts c = run(a, idle, 500);
  EXPECT_FALSE(a.prefers_spin());
  EXPECT_EQ(a.mean(false), SpinAdvisor::kCap);
  EXPECT_LT(c.spins, 10);
}

TEST(SpinAdvisor, ATryWhoseWaitWasNeverRecordedDoesNotStopTheTries) {
  SpinAdvisor a;
  run(a, kOneCpu, 100);
  // Plans without a record (a wait that timed out or ended the stream).
  for (int i = 0; i < 5000; ++i) a.next();
  const Counts c = run(a, kOneCpu, 3000);
  EXPECT_GE(c.spins, 2) << "tries go on";
}

TEST(SpinAdvisor, LoneSlowWaitsOnOneCpuDoNotBringTriesForward) {
  SpinAdvisor a;
  run(a, kOneCpu, 2000);
  ASSERT_FALSE(a.prefers_spin());
  // Every tenth wait is slow (the peer was preempted): noise, not a move of
  // a process, so spinning is still tried only as rarely as before.
  int spins = 0;
  for (int i = 0; i < 4096; ++i) {
    const SpinAdvisor::Plan plan = a.next();
    if (!plan.spin) {
      if (plan.timed) {
        a.record(plan, i % 10 == 0 ? microseconds(40) : kOneCpu.arrives + kOneCpu.wake, false,
                 nanoseconds(0));
      }
      continue;
    }
    ++spins;
    const nanoseconds arrives = kOneCpu.arrives + kOneCpu.spin_delay;
    a.record(plan, std::max<nanoseconds>(arrives, plan.budget) + kOneCpu.wake, false, nanoseconds(0));
  }
  EXPECT_LE(spins, 6) << "at most the scheduled tries";
  EXPECT_FALSE(a.prefers_spin());
}

TEST(SpinAdvisor, SettledOnSleepingItTimesOneWaitInEightAndStillNoticesAMove) {
  SpinAdvisor a;
  const Counts first = run(a, kOneCpu, 1000);
  EXPECT_GT(first.timed, 500) << "every wait is timed while it learns";
  const Counts settled = run(a, kOneCpu, 4096);
  ASSERT_FALSE(a.prefers_spin());
  // 4096 / 8 sampled sleeps, and the rare tries of spinning (each timed).
  EXPECT_GE(settled.timed, 4096 / 8);
  EXPECT_LE(settled.timed, 4096 / 8 + 16);
  // Sleeping on two CPUs costs the wake-up: a sampled wait far from the
  // mean has the next ones timed, and spinning wins within a few dozen waits.
  const Counts moved = run(a, kTwoCpus, 100);
  EXPECT_TRUE(a.prefers_spin());
  EXPECT_GT(moved.spins, 50);
}

// rpc::PollBackoff (standard mode's bulk polls): a poll that missed has the
// next 1, 3, 7, ... 63 offers passed up, and one that caught what it
// waited for ends that at once.
TEST(PollBackoff, AMissPassesUpTwiceAsManyOffersEachTimeAndACatchEndsThat) {
  dllbridge::rpc::PollBackoff b;
  EXPECT_TRUE(b.now());
  EXPECT_TRUE(b.now());  // nothing missed yet: every offer is taken
  auto passed_up = [&b] {
    int n = 0;
    while (!b.now()) ++n;
    return n;
  };
  for (int expected : {1, 3, 7, 15, 31, 63, 63, 63}) {
    b.went(false);
    EXPECT_EQ(passed_up(), expected);
  }
  b.went(true);
  EXPECT_TRUE(b.now());
  EXPECT_TRUE(b.now());
  b.went(false);
  EXPECT_EQ(passed_up(), 1) << "a catch starts the count again";
}

// Bursts of calls with idle gaps between them (a surrogate waiting for the
// next request while the application does something else): a gap says
// the peer was idle, not which mode is faster (either would have waited as
// long), so it counts for both means, and the advisor keeps spinning
// through the bursts where that saves the wake-up.
TEST(SpinAdvisor, IdleGapsBetweenBurstsDoNotMakeItSleepThroughTheBursts) {
  SpinAdvisor a;
  // The next request comes 3 us after the reply; waking costs 15 us.
  const Placement burst_call{microseconds(3), microseconds(15)};
  const Placement gap{std::chrono::duration_cast<microseconds>(std::chrono::milliseconds(2)),
                      microseconds(15)};
  run(a, burst_call, 200);  // settled: spinning wins across CPUs
  ASSERT_TRUE(a.prefers_spin());
  Counts bursts;
  for (int burst = 0; burst < 50; ++burst) {
    run(a, gap, 1);
    const Counts c = run(a, burst_call, 63);
    bursts.spins += c.spins;
    bursts.sleeps += c.sleeps;
  }
  EXPECT_GT(bursts.spins, 9 * bursts.sleeps) << bursts.spins << " spins, " << bursts.sleeps << " sleeps";
}
