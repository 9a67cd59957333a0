// Supervision decisions as pure logic over explicit time points, so unit
// tests drive them with a fake clock: the circuit breaker, backoff delays and
// the crash-loop limit.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <vector>
#include <random>

#include "dllbridge/policy.hpp"
#include "dllbridge/types.hpp"

namespace dllbridge::detail {

using TimePoint = std::chrono::steady_clock::time_point;

// Closed / open / half-open breaker over call outcomes (BreakerPolicy).
class Breaker {
 public:
  explicit Breaker(BreakerPolicy policy) : policy_(policy) {}

  // Whether a call may go ahead at `now`. In half-open state each allowed
  // call takes one probe slot, which the caller must settle with record().
  bool allow(TimePoint now);
  // Records the outcome of an allowed call that finished at `now`.
  void record(bool success, TimePoint now);
  // Gives back a probe slot taken by allow() for a call that never ran.
  void release_probe();
  // Whether allow(now) would let a call through, without taking a probe slot.
  bool would_allow(TimePoint now) const;

  BreakerState state() const { return state_; }
  // How long calls keep failing fast (0 unless open).
  std::chrono::milliseconds open_remaining(TimePoint now) const;

 private:
  void trip(TimePoint now);
  BreakerPolicy policy_;
  BreakerState state_ = BreakerState::closed;
  // The last `window` outcomes (true = failure), a ring sized once: no
  // allocation per call (a deque allocates a block every 512).
  std::vector<bool> outcomes_;
  std::size_t next_ = 0;  // where the next outcome goes
  int recorded_ = 0;      // outcomes held (at most window)
  int failures_ = 0;
  TimePoint opened_at_{};
  int probes_out_ = 0;
  int probes_ok_ = 0;
};

// A random engine for jitter, seeded from std::random_device when first
// used: a bridge that never backs off never pays for the seed (several
// CPUID instructions in libstdc++, each a costly trap on virtual machines;
// docs/performance.md, "Start and restart").
class LazyRng {
 public:
  std::mt19937_64& get() {
    if (!seeded_) {
      engine_.seed(std::random_device{}());
      seeded_ = true;
    }
    return engine_;
  }

 private:
  std::mt19937_64 engine_;
  bool seeded_ = false;
};

// Full-jitter exponential backoff: a random delay in [0, min(cap, base*2^(n-1))]
// for attempt n >= 1.
std::chrono::milliseconds backoff_delay(const Backoff& b, int attempt, std::mt19937_64& rng);

// The crash-loop limit of RestartPolicy: at most max_starts within window.
class StartLimiter {
 public:
  explicit StartLimiter(const RestartPolicy& p) : max_(p.max_starts), window_(p.window) {}
  // Whether another start is allowed at `now`; if so it is counted.
  bool try_start(TimePoint now);
  void reset() { starts_.clear(); }
  int recent() const { return static_cast<int>(starts_.size()); }

 private:
  int max_;
  std::chrono::milliseconds window_;
  std::deque<TimePoint> starts_;
};

}  // namespace dllbridge::detail
