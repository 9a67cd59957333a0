// The supervisor: a thin facade over the parts that manage one surrogate
// for a Bridge (which holds it in a shared_ptr):
//   Lifecycle    (lifecycle.hpp) the state machine, monitor thread, restarts,
//                heartbeat, recycling, on-restart hooks;
//   CallExecutor (executor.hpp)  breaker, retries and deadline around a call;
//   CallStats    (call_stats.hpp) counters and latency percentiles;
//   EventBus     (event_bus.hpp) subscribers and ordered delivery.
// Policy comes from SupervisionPolicy. Nothing here knows the wire format.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "dllbridge/bridge.hpp"
#include "supervisor/call_stats.hpp"
#include "supervisor/event_bus.hpp"
#include "supervisor/executor.hpp"
#include "supervisor/lifecycle.hpp"

namespace dllbridge::detail {

class Session;

class Supervisor {
 public:
  // One operation against a live session; `generation` changes with every
  // new surrogate, so callers can tell when ids they hold have gone stale.
  // Callers capture their results; it may run more than once (retries).
  using Operation =
      std::function<void(Session& session, std::uint64_t generation, std::chrono::milliseconds timeout)>;

  // Starts the monitor thread, and the surrogate unless policy.lazy_start.
  // Throws the start error (surrogate_start_failed, protocol, unauthorized).
  explicit Supervisor(BridgeOptions options);
  // Stops the surrogate gracefully (StopPolicy escalation), then the threads.
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs `op` on a ready surrogate within `call.timeout`, behind the breaker,
  // with retries when `call.idempotent`. Throws dllbridge::Error.
  void execute(const Operation& op, const CallOptions& call);

  SurrogateInfo info();  // of the current surrogate; starts a lazy one
  BridgeStats stats();
  std::string surrogate_path();
  const BridgeOptions& options() const { return options_; }

  int subscribe(std::function<void(const BridgeEvent&)> handler);
  void unsubscribe(int id);
  void on_restart(std::function<void()> hook);
  void restart(const std::string& reason);  // also clears a crash-loop stop
  void stop();

 private:
  const BridgeOptions options_;
  EventBus events_;  // destroyed last: the others emit into it
  CallStats calls_;
  Lifecycle lifecycle_;
  CallExecutor executor_;
};

}  // namespace dllbridge::detail
