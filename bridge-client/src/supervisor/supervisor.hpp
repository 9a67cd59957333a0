// The supervisor: a thin facade over the parts that manage one surrogate
// (one member of a Pool, which a Bridge holds):
//   Lifecycle    (lifecycle.hpp) the state machine, monitor thread, restarts,
//                heartbeat, recycling, on-restart hooks;
//   CallExecutor (executor.hpp)  breaker, retries and deadline around a call;
//   CallStats    (call_stats.hpp) counters and latency percentiles;
// and the pool's EventBus (event_bus.hpp), which it emits into.
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

  // Starts the monitor thread; the surrogate starts on request_start() or
  // the first call. Keeps references to `options`, `events` and `totals`
  // (null: none), which must outlive it. `member`: its index in the pool
  // (stamped on events); `hooks_at_first_start` and `region`: see Lifecycle.
  Supervisor(const BridgeOptions& options, EventBus& events, CallStats* totals, std::uint32_t member,
             bool hooks_at_first_start, std::shared_ptr<BridgeRegion> region = nullptr);
  // Stops the surrogate gracefully (StopPolicy escalation), then the threads.
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs `op` on a ready surrogate within `call.timeout`, behind the breaker,
  // with retries when `call.idempotent`. Throws dllbridge::Error.
  void execute(const Operation& op, const CallOptions& call);

  // Asks for the first start without waiting.
  void request_start() { lifecycle_.request_start(); }
  // Waits until a surrogate is ready (starting one if needed). Throws the
  // start error (surrogate_start_failed, protocol, unauthorized) or timeout.
  void wait_ready();

  SurrogateInfo info();  // of the current surrogate; starts a lazy one
  BridgeStats stats();
  std::string surrogate_path() { return lifecycle_.surrogate_path(); }

  // How a pool ranks it for the next call: the state, whether a call gets
  // the session at once, whether the breaker lets calls through now.
  SurrogateState state(bool& serving) { return lifecycle_.state(serving); }
  bool accepting(std::chrono::steady_clock::time_point now) const { return executor_.accepting(now); }

  // See Lifecycle::on_restart and remove_restart_hook.
  bool on_restart(int id, std::function<void()> hook) { return lifecycle_.on_restart(id, std::move(hook)); }
  void remove_restart_hook(int id) { lifecycle_.remove_restart_hook(id); }
  void restart(const std::string& reason) { lifecycle_.restart(reason); }  // also clears a crash-loop stop
  void stop() { lifecycle_.stop(); }
  void kill(const std::string& reason) { lifecycle_.kill(reason); }

 private:
  const BridgeOptions& options_;
  CallStats calls_;
  Lifecycle lifecycle_;
  CallExecutor executor_;
};

}  // namespace dllbridge::detail
