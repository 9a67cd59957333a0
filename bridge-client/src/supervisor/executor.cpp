#include "supervisor/executor.hpp"

#include <algorithm>
#include <thread>

#include "supervisor/call_stats.hpp"
#include "supervisor/event_bus.hpp"

namespace dllbridge::detail {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

bool infrastructure(ErrorKind k) {
  return k == ErrorKind::crashed || k == ErrorKind::timeout || k == ErrorKind::protocol ||
         k == ErrorKind::surrogate_start_failed;
}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    session_ = std::move(other.session_);
    generation_ = other.generation_;
    on_release_ = std::move(other.on_release_);
    other.on_release_ = nullptr;
  }
  return *this;
}

void Lease::release() noexcept {
  if (on_release_) {
    auto done = std::move(on_release_);
    on_release_ = nullptr;
    done();
  }
  session_.reset();
}

CallExecutor::CallExecutor(const SupervisionPolicy& policy, SessionSource& source, CallStats& stats,
                           EventBus& events, std::uint32_t member)
    : policy_(policy),
      source_(source),
      stats_(stats),
      events_(events),
      member_(member),
      breaker_(policy.breaker) {}

BreakerState CallExecutor::breaker_state() const {
  std::lock_guard lock(mu_);
  return breaker_.state();
}

bool CallExecutor::accepting(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  return breaker_.would_allow(now);
}

void CallExecutor::run(const Attempt& attempt, const CallOptions& options) {
  // One clock read per step of a call that goes well: its start, after the
  // lease (which may have waited for a start), its end.
  Clock::time_point now = Clock::now();
  const Clock::time_point deadline = now + options.timeout;
  const int max_attempts = options.idempotent ? std::clamp(policy_.retry.max_attempts, 1, 5) : 1;
  // Not idempotent: only a request that never reached the surrogate is resent.
  for (int n = 1;; ++n) {
    if (n > 1) now = Clock::now();  // after the back-off
    BreakerState before;
    {
      std::lock_guard lock(mu_);
      before = breaker_.state();
      if (!breaker_.allow(now)) {
        const auto left = breaker_.open_remaining(now);
        if (options.counted) stats_.failed(false);
        throw Error(ErrorKind::circuit_open, "circuit open after repeated failures (" + source_.reason() +
                                                 "); calls fail fast for another " +
                                                 std::to_string(left.count()) + " ms");
      }
    }
    note_breaker(before);

    const Clock::time_point start = now;
    try {
      Lease lease = source_.acquire(deadline);
      const auto left =
          std::max(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()), milliseconds(1));
      attempt(lease, left);
      const Clock::time_point end = Clock::now();
      const auto took = std::chrono::duration_cast<std::chrono::microseconds>(end - start);
      {
        std::lock_guard lock(mu_);
        before = breaker_.state();
        breaker_.record(true, end);
      }
      source_.call_succeeded(options.counted, end);
      lease.release();  // after call_succeeded: a recycling it asked for waits for no one
      if (options.counted) stats_.succeeded(took);
      note_breaker(before);
      return;
    } catch (const Error& e) {
      const bool infra = infrastructure(e.kind());
      // A request that never left (the session died just before) did not
      // run: it is sent again whatever its idempotency, and is no failure.
      const bool never_sent = infra && !e.may_have_run() && e.kind() == ErrorKind::crashed;
      milliseconds delay{0};
      bool retry = false;
      {
        std::lock_guard lock(mu_);
        before = breaker_.state();
        if (never_sent && n < 5) {
          breaker_.release_probe();
          retry = true;
        } else {
          if (infra) {
            breaker_.record(false, Clock::now());
          } else {
            breaker_.release_probe();
          }
          if (infra && options.idempotent && n < max_attempts) {
            delay = backoff_delay(policy_.retry.backoff, n, rng_.get());
            retry = Clock::now() + delay < deadline;
          }
        }
      }
      // Every failed attempt counts (a retried one too), except a request that never left.
      if (options.counted && !(never_sent && retry)) {
        stats_.failed(e.kind() == ErrorKind::timeout);
        if (retry) stats_.retried();
      }
      note_breaker(before);
      if (retry) {
        std::this_thread::sleep_for(delay);
        continue;
      }
      if (infra && !options.idempotent && e.may_have_run()) {
        throw Error(
            e.kind(),
            std::string(e.what()) + " (not retried: the function is not marked idempotent and may have run)",
            true);
      }
      throw;
    }
  }
}

void CallExecutor::note_breaker(BreakerState before) {
  const BreakerState now = breaker_state();
  if (now == before) return;
  BridgeEvent e{BridgeEvent::Kind::breaker_changed, 0, false, 0, "", now};
  e.member = member_;
  events_.emit(std::move(e));
}

}  // namespace dllbridge::detail
