// The supervisor: owns the current Session and everything around it. It
// starts surrogates (always on its own monitor thread, which lives as long
// as the Bridge, so PR_SET_PDEATHSIG in the surrogate means "dies with this
// client"), restarts them with backoff and a crash-loop limit, pings idle
// ones, recycles leaky ones, runs on-restart hooks before queued calls go
// through, applies the circuit breaker and retries, counts, and tells
// subscribers what happened. Policy comes from SupervisionPolicy.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "supervisor/breaker.hpp"
#include "dllbridge/bridge.hpp"
#include "channel/session.hpp"

namespace dllbridge::detail {

class Supervisor {
 public:
  // One operation against a live session; `generation` changes with every
  // new surrogate, so callers can tell when ids they hold have gone stale.
  using Operation = std::function<wire::Reply(Session& session, std::uint64_t generation,
                                              std::chrono::milliseconds timeout)>;

  // Starts the monitor thread, and the surrogate unless policy.lazy_start.
  // Throws the start error (surrogate_start_failed, protocol, unauthorized).
  explicit Supervisor(BridgeOptions options);
  // Stops the monitor and the surrogate (StopPolicy escalation).
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs `op` on a ready surrogate within `timeout`, with the breaker, and
  // with retries when `idempotent`. `counted` says whether it is a call for
  // the statistics (loads and registrations are not).
  wire::Reply execute(const Operation& op, bool idempotent, std::chrono::milliseconds timeout,
                      bool counted);

  SurrogateInfo info();                // of the current surrogate; starts a lazy one
  BridgeStats stats();
  std::string surrogate_path();
  const BridgeOptions& options() const { return options_; }

  int subscribe(std::function<void(const BridgeEvent&)> handler);
  void unsubscribe(int id);
  void on_restart(std::function<void()> hook);
  void restart(const std::string& reason);  // also clears a crash-loop stop
  void stop();

 private:
  struct Lease {
    std::shared_ptr<Session> session;
    std::uint64_t generation = 0;
  };
  Lease acquire(std::chrono::steady_clock::time_point deadline);
  void monitor_loop();
  void start_surrogate(bool after_failure, const std::string& why);
  void on_lost(std::uint64_t generation, const Error& error, const std::optional<ExitStatus>& status);
  void heartbeat();
  void check_memory();
  void recycle(std::unique_lock<std::mutex>& lock);
  void emit(BridgeEvent event);
  void note_breaker(BreakerState before);  // emits breaker_changed if it moved; mu_ not held
  void record_latency(std::chrono::microseconds us);

  const BridgeOptions options_;
  std::mt19937_64 rng_{std::random_device{}()};

  std::mutex mu_;
  std::condition_variable changed_;  // state changes, for callers
  std::condition_variable wake_;     // work for the monitor
  SurrogateState state_ = SurrogateState::not_started;
  std::shared_ptr<Session> session_;
  std::uint64_t generation_ = 0;
  bool start_requested_ = false;
  bool stopping_ = false;
  bool hooks_running_ = false;
  std::thread::id monitor_id_;
  std::string reason_;                 // why the last surrogate ended / why failed
  std::string restart_reason_;         // for the restarted event
  std::uint64_t start_errors_ = 0;     // bumps on each failed start
  std::string last_start_error_;
  ErrorKind last_start_kind_ = ErrorKind::surrogate_start_failed;
  std::chrono::steady_clock::time_point next_start_at_{};
  int consecutive_failures_ = 0;
  StartLimiter limiter_;
  Breaker breaker_;
  bool recycle_pending_ = false;
  std::string recycle_reason_;
  std::uint64_t calls_since_start_ = 0;
  std::chrono::steady_clock::time_point last_activity_{};
  std::chrono::steady_clock::time_point last_memory_check_{};
  int missed_pings_ = 0;

  // Statistics.
  std::uint64_t starts_ = 0, restarts_ = 0, ok_ = 0, failed_ = 0, timed_out_ = 0, retries_ = 0;
  std::uint32_t in_flight_ = 0;
  std::vector<std::uint32_t> latencies_us_;
  std::size_t latency_next_ = 0;

  std::vector<std::function<void()>> hooks_;
  std::map<int, std::function<void(const BridgeEvent&)>> subscribers_;
  int next_subscriber_ = 1;

  // Events are delivered in order on their own thread, so a handler may call
  // into the bridge without blocking the threads that detect failures.
  std::mutex events_mu_;
  std::condition_variable events_cv_;
  // Each event with the subscribers at the time it happened.
  std::deque<std::pair<BridgeEvent, std::vector<std::function<void(const BridgeEvent&)>>>> events_;
  bool events_done_ = false;
  std::thread events_thread_;
  void deliver_events();

  std::thread monitor_;
};

}  // namespace dllbridge::detail
