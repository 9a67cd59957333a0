#include "dllbridge/rpc/spin_advisor.hpp"

#include <algorithm>
#include <cstdlib>

namespace dllbridge::rpc {

bool SpinAdvisor::prefers_spin() const {
  if (samples_[1] == 0) return true;  // not tried yet: try it first
  if (samples_[0] == 0) return false;
  // Clearly faster (by an eighth) or it is not worth the CPU time.
  return mean_ns_[1] < mean_ns_[0] - mean_ns_[0] / 8;
}

SpinAdvisor::Plan SpinAdvisor::next() {
  bool spin = prefers_spin();
  trying_ = false;
  if (samples_[0] != 0 && samples_[1] != 0) {
    if (until_try_ == 0) until_try_ = try_every_;  // a try whose wait was never recorded
    if (--until_try_ == 0) {
      spin = !spin;
      trying_ = true;
    }
  }
  if (!spin) {
    Plan plan;
    if (!trying_ && try_every_ == kLongestTryEvery && moved_streak_ == 0) {
      // Settled on sleeping: time a sample of the waits only.
      if (until_timed_ == 0) {
        until_timed_ = kSampleEvery - 1;
      } else {
        --until_timed_;
        plan.timed = false;
      }
    }
    return plan;
  }
  return Plan{true, std::chrono::nanoseconds(budget_ns_), true};
}

void SpinAdvisor::record(const Plan& plan, std::chrono::nanoseconds total, bool hit,
                         std::chrono::nanoseconds hit_after) {
  const bool preferred_before = prefers_spin();
  const int m = plan.spin ? 1 : 0;
  const std::int64_t x = std::clamp<std::int64_t>(total.count(), 0, kCap.count());
  // Far from what this mode's waits were: a move of a process, if it lasts.
  const std::int64_t off = x - mean_ns_[m];
  const bool far = samples_[m] != 0 && std::abs(off) > std::max<std::int64_t>(mean_ns_[m] / 4, 1000);
  // A mean over about the last eight waits of the mode in use; a try's
  // wait counts for half: what the mean held may be long out of date.
  mean_ns_[m] = samples_[m] == 0 ? x : mean_ns_[m] + (x - mean_ns_[m]) / (trying_ ? 2 : 8);
  if (samples_[m] < 0xffffffffu) ++samples_[m];
  // A wait as long as the cap says the peer was idle (or busy), not which
  // mode is faster: the other would have waited as long. It counts for
  // both, or an idle gap between bursts of calls would tip the choice to
  // whichever mode was not in use.
  if (x == kCap.count() && samples_[1 - m] != 0) mean_ns_[1 - m] += (x - mean_ns_[1 - m]) / 8;
  if (plan.spin) {
    budget_ns_ = hit ? std::clamp<std::int64_t>(std::max(2 * hit_after.count(), budget_ns_ - budget_ns_ / 8),
                                                kMinSpin.count(), kMaxSpin.count())
                     : std::min<std::int64_t>(2 * std::max(budget_ns_, kMinSpin.count()), kMaxSpin.count());
  }
  if (samples_[0] == 0 || samples_[1] == 0) return;
  if (trying_) {
    // A try of the other mode: when it did not change the choice, try it
    // less often; when it did, the other one is now the try, soon.
    try_every_ =
        prefers_spin() == preferred_before ? std::min(try_every_ * 2, kLongestTryEvery) : kFirstTryEvery;
    until_try_ = try_every_;
    trying_ = false;
    moved_streak_ = 0;
    return;
  }
  // The waits of the mode in use became much faster or slower, several in
  // a row (the scheduler may have moved a process): what the other mode's
  // mean says is out of date, so try it at the next wait.
  moved_streak_ = !far ? 0 : (moved_streak_ > 0 && moved_up_ == (off > 0) ? moved_streak_ + 1 : 1);
  moved_up_ = off > 0;
  if (moved_streak_ >= kMovedAfter) {
    try_every_ = kFirstTryEvery;
    until_try_ = 1;
    moved_streak_ = 0;
  }
}

bool PollBackoff::now() {
  std::uint32_t skip = skip_.load(std::memory_order_relaxed);
  while (skip > 0) {
    if (skip_.compare_exchange_weak(skip, skip - 1, std::memory_order_relaxed)) return false;
  }
  return true;
}

void PollBackoff::went(bool caught) {
  if (caught) {
    misses_.store(0, std::memory_order_relaxed);
    return;
  }
  std::uint32_t misses = misses_.load(std::memory_order_relaxed);
  if ((1u << misses) - 1 < kMaxSkip) ++misses;
  misses_.store(misses, std::memory_order_relaxed);
  skip_.store(std::min<std::uint32_t>((1u << misses) - 1, kMaxSkip), std::memory_order_relaxed);
}

}  // namespace dllbridge::rpc
