// The surrogate's lifecycle: a state machine (not_started, starting, ready,
// restarting, failed, stopped) run by a monitor thread that starts every
// surrogate and outlives it, so PR_SET_PDEATHSIG in the surrogate means
// "dies with this client" and a normal stop stays graceful. It restarts
// after a loss with backoff and the crash-loop limit (StartLimiter), pings
// idle surrogates (heartbeat), recycles leaky ones (calls, resident memory),
// runs the on-restart hooks before queued calls go through, and lends the
// ready session to calls (SessionSource). Emits started / exited / restarted.
// With SupervisionPolicy::warm_spare it keeps a second surrogate started and
// handshaken (once a function call has completed on the serving surrogate,
// so the spare's start does not slow that surrogate's start, reload or the
// call a crash held up), which the next start takes over instead of
// spawning one. With SupervisionPolicy::preload_spare the monitor also
// replays into the spare, one at a time, the loads and registrations any of
// its surrogates made (the manifest), so the take-over needs none.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "channel/region.hpp"
#include "dllbridge/bridge.hpp"
#include "supervisor/breaker.hpp"
#include "supervisor/executor.hpp"

namespace dllbridge::detail {

class EventBus;
class Session;
struct ExitStatus;
struct Learned;

// Runs an on-restart hook; what it threw, in words ("on-restart hook
// failed: ..."), or nothing when it returned.
std::optional<std::string> run_hook(const std::function<void()>& hook);

class Lifecycle final : public SessionSource {
 public:
  // Starts the monitor thread; the first surrogate starts on the first
  // acquire() or request_start(). Keeps references to `options` and
  // `events`, which must outlive it. `member`: its index in a pool, stamped
  // on its events. `hooks_at_first_start`: on-restart hooks also run at the
  // first start (a pool's per-process initialisation). `region`: the
  // bridge's shared region, offered to each surrogate it starts (null: none).
  Lifecycle(const BridgeOptions& options, EventBus& events, std::uint32_t member = 0,
            bool hooks_at_first_start = false, std::shared_ptr<BridgeRegion> region = nullptr);
  // Stops the surrogate gracefully (StopPolicy escalation) on the monitor
  // thread, then ends that thread.
  ~Lifecycle();
  Lifecycle(const Lifecycle&) = delete;
  Lifecycle& operator=(const Lifecycle&) = delete;

  // SessionSource: a ready session (starting one when none was started),
  // counted in flight while the lease lives. On-restart hooks get the new
  // session before it is ready for anyone else.
  Lease acquire(std::chrono::steady_clock::time_point deadline) override;
  void call_succeeded(bool counted, std::chrono::steady_clock::time_point at) override;
  std::string reason() override;

  // Asks the monitor to start the first surrogate, without waiting for it.
  void request_start();

  // Adds hook `id` run (on the monitor thread) after each restart, before
  // queued calls go through. A hook that throws fails the new surrogate.
  // With hooks_at_first_start: true when the current surrogate started
  // without this hook, which the caller must then run in it itself.
  bool on_restart(int id, std::function<void()> hook);
  // Removes hook `id` (no effect when there is none): it runs at no later
  // start; a start already running hooks finishes with its own copy.
  void remove_restart_hook(int id);
  // Kills the current surrogate (a restart follows, per RestartPolicy).
  void kill(const std::string& reason);
  // The state; `serving`: whether a call would get the session at once
  // (ready, not recycling, alive).
  SurrogateState state(bool& serving);
  // Replaces the surrogate (graceful stop, new start); also clears a crash-loop stop.
  void restart(const std::string& reason);
  // Stops the surrogate gracefully; calls fail until restart().
  void stop();

  // Fills state, pid, bits, uptime, starts, restarts, in_flight and reason of `out`.
  void snapshot(BridgeStats& out);
  // Path of the current surrogate's program ("" when none).
  std::string surrogate_path();

 private:
  enum class StartKind { first, restart, recycle };
  void monitor_loop();
  // mu_ held on entry and exit (released meanwhile).
  void start_surrogate(StartKind kind, std::string why);
  void recycle(std::unique_lock<std::mutex>& lock);
  // `owner`: the generation the lost session serves (0: the spare); read under mu_.
  void on_lost(const std::shared_ptr<std::uint64_t>& owner, const Error& error,
               const std::optional<ExitStatus>& status);
  // Starts a session whose losses report to on_lost with `owner`. Throws Error.
  std::shared_ptr<Session> start_session(const std::shared_ptr<std::uint64_t>& owner);
  // Whether the monitor should start a spare now. mu_ held.
  bool want_spare() const;
  // Starts the warm spare (mu_ held on entry and exit, released meanwhile).
  void start_spare(std::unique_lock<std::mutex>& lock);
  // Whether the spare has manifest entries to replay. mu_ held.
  bool want_preload() const;
  // Replays the next manifest entry into the spare; a failure lets the
  // spare go (mu_ held on entry and exit, released meanwhile).
  void preload_spare(std::unique_lock<std::mutex>& lock);
  // A session made a load or registration: added to the manifest when new.
  void learn(const Learned& entry);
  // Lets the spare go (stopped now); none until the next start. mu_ held on entry and exit.
  void drop_spare(std::unique_lock<std::mutex>& lock);
  // The current surrogate is gone: restart with backoff, or failed when restarts are off. mu_ held.
  void schedule_restart(const std::string& why);
  void heartbeat();
  void check_memory();
  void release_lease();
  void emit(BridgeEvent event);  // stamps member_

  const BridgeOptions& options_;
  EventBus& events_;
  const std::uint32_t member_;
  const bool hooks_at_first_start_;
  const std::shared_ptr<BridgeRegion> region_;
  LazyRng rng_;  // mu_

  std::mutex mu_;
  std::condition_variable changed_;  // state changes, for callers
  std::condition_variable wake_;     // work for the monitor
  SurrogateState state_ = SurrogateState::not_started;
  std::shared_ptr<Session> session_;
  std::uint64_t generation_ = 0;  // bumps with each new surrogate and each stop / restart / recycle
  bool start_requested_ = false;
  bool stopping_ = false;
  bool hooks_running_ = false;
  std::uint64_t hooks_taken_in_ = 0;  // generation whose start took its copy of hooks_
  std::thread::id monitor_id_;
  std::string reason_;              // why the last surrogate ended / why failed
  std::string restart_reason_;      // for the restarted event
  std::uint64_t start_errors_ = 0;  // bumps on each failed start
  std::string last_start_error_;
  ErrorKind last_start_kind_ = ErrorKind::surrogate_start_failed;
  std::chrono::steady_clock::time_point next_start_at_{};
  int consecutive_failures_ = 0;
  StartLimiter limiter_;
  bool recycle_pending_ = false;
  std::string recycle_reason_;
  std::uint64_t calls_since_start_ = 0;
  std::chrono::steady_clock::time_point last_activity_{};
  std::chrono::steady_clock::time_point last_memory_check_{};
  int missed_pings_ = 0;
  std::uint64_t starts_ = 0, restarts_ = 0;
  std::uint32_t in_flight_ = 0;
  std::vector<std::pair<int, std::function<void()>>> hooks_;  // {id, hook}, in the order added
  std::shared_ptr<Session> spare_;                            // the warm spare, started by the monitor
  std::shared_ptr<std::uint64_t> spare_owner_;                // its loss handler's owner cell (0 while spare)
  bool spare_blocked_ = false;                                // a spare failed: none until the next start
  bool served_ = false;  // a function call succeeded on the current surrogate: a spare may start
  // The loads and registrations made so far (preload_spare), in order, each once.
  std::vector<std::shared_ptr<const Learned>> manifest_;
  std::unordered_set<std::string> manifest_keys_;
  std::uint64_t spares_lost_ = 0;    // for BridgeStats::spares_lost
  std::size_t spare_preloaded_ = 0;  // manifest_ entries replayed into spare_
  bool preloading_ = false;          // the monitor is replaying an entry into spare_

  std::thread monitor_;  // last: started once everything above exists
};

}  // namespace dllbridge::detail
