// The call executor: runs one operation against a session lent by a
// SessionSource, behind the circuit breaker, within the call's deadline,
// and with the retries the policy allows (RetryPolicy; idempotent calls
// only, except a request that never left). It knows nothing of what the
// operation sends.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "dllbridge/error.hpp"
#include "dllbridge/policy.hpp"
#include "dllbridge/types.hpp"
#include "supervisor/breaker.hpp"

namespace dllbridge::detail {

class Session;
class CallStats;
class EventBus;

// How one operation is run.
struct CallOptions {
  bool idempotent = false;  // may be sent again after a failure that leaves its effect unknown
  std::chrono::milliseconds timeout{30000};  // for the whole operation, retries included
  bool counted = true;                       // a call for the statistics (loads and registrations are not)
};

// A session lent to one attempt; the attempt counts as in flight until the
// lease is released or destroyed. Move-only.
class Lease {
 public:
  Lease() = default;
  // `on_release` runs once, when the lease ends.
  Lease(std::shared_ptr<Session> session, std::uint64_t generation, std::function<void()> on_release)
      : session_(std::move(session)), generation_(generation), on_release_(std::move(on_release)) {}
  ~Lease() { release(); }
  Lease(Lease&& other) noexcept { *this = std::move(other); }
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  // The session (null for leases of fakes in tests).
  Session* session() const { return session_.get(); }
  // Changes with every new surrogate: ids learnt from an older one are stale.
  std::uint64_t generation() const { return generation_; }
  // Ends the lease now (idempotent).
  void release() noexcept;

 private:
  std::shared_ptr<Session> session_;
  std::uint64_t generation_ = 0;
  std::function<void()> on_release_;
};

// What the executor needs from whoever owns the surrogate (the lifecycle).
class SessionSource {
 public:
  // A ready session before `deadline`. Throws Error (timeout,
  // surrogate_start_failed with the reason, or the start error).
  virtual Lease acquire(std::chrono::steady_clock::time_point deadline) = 0;
  // An attempt succeeded (it ended at `at`): the surrogate is healthy.
  // `counted` calls count toward recycling.
  virtual void call_succeeded(bool counted, std::chrono::steady_clock::time_point at) = 0;
  // Why the last surrogate ended, in words (for the circuit_open message).
  virtual std::string reason() = 0;

 protected:
  ~SessionSource() = default;
};

class CallExecutor {
 public:
  // One attempt on a lent session, with the time left until the deadline.
  using Attempt = std::function<void(const Lease& lease, std::chrono::milliseconds left)>;

  // Keeps references to `source`, `stats` and `events`, which must outlive it.
  // `member`: the pool member it serves, stamped on its events.
  CallExecutor(const SupervisionPolicy& policy, SessionSource& source, CallStats& stats, EventBus& events,
               std::uint32_t member = 0);

  // Runs `attempt` until it succeeds or may not be tried again. Throws the
  // last Error; circuit_open when the breaker refuses; an infrastructure
  // failure of a call that is not idempotent and may have run says "not
  // retried". Emits breaker_changed when the breaker moves.
  void run(const Attempt& attempt, const CallOptions& options);

  BreakerState breaker_state() const;
  // Whether the breaker would let a call through at `now` (not failing fast).
  bool accepting(std::chrono::steady_clock::time_point now) const;

 private:
  void note_breaker(BreakerState before);  // emits breaker_changed if it moved; mu_ not held

  const SupervisionPolicy policy_;
  SessionSource& source_;
  CallStats& stats_;
  EventBus& events_;
  const std::uint32_t member_;
  mutable std::mutex mu_;  // guards breaker_ and rng_
  Breaker breaker_;
  LazyRng rng_;
};

// Failures that say something about the surrogate's health (and may be
// retried for idempotent calls), as opposed to the caller's mistakes.
bool infrastructure(ErrorKind kind);

}  // namespace dllbridge::detail
