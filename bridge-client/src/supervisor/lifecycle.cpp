#include "supervisor/lifecycle.hpp"

#include <algorithm>
#include <cstdio>

#include "channel/session.hpp"
#include "process/figures.hpp"
#include "process/process.hpp"
#include "supervisor/event_bus.hpp"

namespace dllbridge::detail {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Lifecycle::Lifecycle(const BridgeOptions& options, EventBus& events, std::uint32_t member,
                     bool hooks_at_first_start, std::shared_ptr<BridgeRegion> region)
    : options_(options),
      events_(events),
      member_(member),
      hooks_at_first_start_(hooks_at_first_start),
      region_(std::move(region)),
      limiter_(options.policy.restart),
      monitor_([this] { monitor_loop(); }) {}

namespace {

// Stops a session the lifecycle lets go of, at once (a call may still hold
// it: that call then fails with crashed), and drops this reference.
void retire(std::shared_ptr<Session>& session) {
  if (session) session->stop();
  session.reset();
}

}  // namespace

Lifecycle::~Lifecycle() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  changed_.notify_all();
  // The monitor stops the surrogate itself before it ends (see monitor_loop).
  if (monitor_.joinable()) monitor_.join();
}

Lease Lifecycle::acquire(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  const std::uint64_t errors_seen = start_errors_;
  for (;;) {
    const bool hook_thread = hooks_running_ && std::this_thread::get_id() == monitor_id_;
    const bool usable = session_ && !session_->lost();
    if ((state_ == SurrogateState::ready && !recycle_pending_ && usable) || (hook_thread && usable)) {
      ++in_flight_;
      return Lease(session_, generation_, [this] { release_lease(); });
    }
    if (stopping_ || state_ == SurrogateState::stopped) {
      throw Error(ErrorKind::surrogate_start_failed, "the bridge is stopped");
    }
    if (state_ == SurrogateState::failed) throw Error(ErrorKind::surrogate_start_failed, reason_);
    if (start_errors_ != errors_seen) throw Error(last_start_kind_, last_start_error_);
    if (state_ == SurrogateState::not_started && !start_requested_) {
      start_requested_ = true;
      wake_.notify_all();
    }
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout &&
        !(state_ == SurrogateState::ready && !recycle_pending_)) {
      throw Error(ErrorKind::timeout, std::string("no surrogate became ready before the deadline (state ") +
                                          std::string(to_string(state_)) +
                                          (reason_.empty() ? "" : ": " + reason_) + ")");
    }
  }
}

std::optional<std::string> run_hook(const std::function<void()>& hook) {
  try {
    hook();
    return std::nullopt;
  } catch (const std::exception& e) {
    return "on-restart hook failed: " + std::string(e.what());
  } catch (...) {
    return std::string("on-restart hook failed: it threw something that is not a std::exception");
  }
}

void Lifecycle::emit(BridgeEvent event) {
  event.member = member_;
  events_.emit(std::move(event));
}

void Lifecycle::request_start() {
  std::lock_guard lock(mu_);
  if (state_ == SurrogateState::not_started && !start_requested_) {
    start_requested_ = true;
    wake_.notify_all();
  }
}

void Lifecycle::release_lease() {
  std::lock_guard lock(mu_);
  if (--in_flight_ == 0 && recycle_pending_) wake_.notify_all();
}

void Lifecycle::call_succeeded(bool counted, Clock::time_point at) {
  std::lock_guard lock(mu_);
  last_activity_ = std::max(last_activity_, at);  // calls side by side end out of order
  missed_pings_ = 0;
  consecutive_failures_ = 0;
  if (!counted) return;
  if (!served_) {
    served_ = true;
    if (want_spare()) wake_.notify_all();
  }
  const std::uint64_t limit = options_.policy.recycle.after_calls;
  if (limit > 0 && ++calls_since_start_ >= limit && !recycle_pending_) {
    recycle_pending_ = true;
    recycle_reason_ = "recycled after " + std::to_string(calls_since_start_) + " calls";
    wake_.notify_all();
  }
}

std::string Lifecycle::reason() {
  std::lock_guard lock(mu_);
  return reason_;
}

void Lifecycle::monitor_loop() {
  std::unique_lock lock(mu_);
  monitor_id_ = std::this_thread::get_id();
  const HeartbeatPolicy& hb = options_.policy.heartbeat;
  const RecyclePolicy& rc = options_.policy.recycle;
  milliseconds tick{200};
  if (hb.interval.count() > 0) tick = std::min(tick, std::max(hb.interval / 2, milliseconds(10)));
  if (rc.max_resident_bytes > 0) tick = std::min(tick, std::max(rc.check_every, milliseconds(10)));

  while (!stopping_) {
    const Clock::time_point now = Clock::now();
    if (state_ == SurrogateState::not_started && start_requested_) {
      start_surrogate(StartKind::first, "");
      continue;
    }
    if (state_ == SurrogateState::restarting) {
      if (now < next_start_at_) {
        wake_.wait_until(lock, next_start_at_);
        continue;
      }
      start_surrogate(StartKind::restart, restart_reason_);
      continue;
    }
    if (spare_ && spare_->lost()) {
      drop_spare(lock);
      continue;
    }
    if (state_ == SurrogateState::ready) {
      if (recycle_pending_ && in_flight_ == 0) {
        recycle(lock);
        continue;
      }
      if (want_spare()) {
        start_spare(lock);
        continue;
      }
      if (want_preload()) {
        preload_spare(lock);
        continue;
      }
      lock.unlock();
      heartbeat();
      check_memory();
      lock.lock();
    }
    if (stopping_) break;
    // A loss, start or recycle request that came while the lock was free
    // above notified no one: act on it now rather than a tick later.
    if (state_ == SurrogateState::restarting || (state_ == SurrogateState::not_started && start_requested_) ||
        (state_ == SurrogateState::ready && recycle_pending_ && in_flight_ == 0) || want_spare() ||
        want_preload() || (spare_ && spare_->lost())) {
      continue;
    }
    wake_.wait_for(lock, tick);
  }
  // A normal stop, from the thread that started the surrogate: while this
  // thread lives, PR_SET_PDEATHSIG does not fire, so the surrogate gets the
  // Shutdown request and exits by itself (the DLL's exit handlers run).
  std::shared_ptr<Session> last = std::move(session_);
  std::shared_ptr<Session> spare = std::move(spare_);
  ++generation_;
  lock.unlock();
  retire(last);  // now, though a call may still hold it
  retire(spare);
}

void Lifecycle::start_surrogate(StartKind kind, std::string why) {
  std::unique_lock lock(mu_, std::adopt_lock);
  if (kind == StartKind::restart && !limiter_.try_start(Clock::now())) {
    state_ = SurrogateState::failed;
    reason_ = "crash loop: " + std::to_string(options_.policy.restart.max_starts) + " starts within " +
              std::to_string(options_.policy.restart.window.count()) +
              " ms; not restarting any more (last: " + reason_ + "); call Bridge::restart() to try again";
    changed_.notify_all();
    lock.release();
    return;
  }
  state_ = SurrogateState::starting;
  std::shared_ptr<Session> old = std::move(session_);
  // Claimed now: a stop() or restart() while this start runs bumps it again,
  // and the surrogate started here is then not installed.
  const std::uint64_t generation = ++generation_;
  // The warm spare, when there is a live one, becomes this start's surrogate:
  // from now on its loss is this generation's.
  std::shared_ptr<Session> fresh = std::move(spare_);
  std::shared_ptr<Session> dead_spare;
  if (fresh && fresh->lost()) {
    dead_spare = std::move(fresh);
    ++spares_lost_;
  }
  if (fresh) *spare_owner_ = generation;
  spare_owner_.reset();
  lock.unlock();
  retire(old);  // a lost session: reaps quickly
  retire(dead_spare);

  std::optional<Error> failure;
  if (!fresh) {
    try {
      fresh = start_session(std::make_shared<std::uint64_t>(generation));
    } catch (const Error& e) {
      failure = e;
    }
  }

  lock.lock();
  const bool superseded = stopping_ || generation_ != generation || state_ != SurrogateState::starting;
  if (superseded) {
    // stop(), restart() or a loss decided meanwhile: this surrogate is not
    // installed. It is stopped here, gracefully, by the thread that started it.
    lock.unlock();
    retire(fresh);
    lock.lock();
    lock.release();
    return;
  }
  if (failure) {
    ++start_errors_;
    last_start_error_ = failure->what();
    last_start_kind_ = failure->kind();
    reason_ = failure->what();
    ++consecutive_failures_;
    if (kind != StartKind::first && options_.policy.restart.enabled) {
      // After a loss or while recycling: backoff, then a restart under the crash-loop limit.
      state_ = SurrogateState::restarting;
      next_start_at_ =
          Clock::now() + backoff_delay(options_.policy.restart.backoff, consecutive_failures_, rng_.get());
    } else {
      state_ = starts_ == 0 ? SurrogateState::not_started : SurrogateState::failed;
      start_requested_ = false;
    }
    changed_.notify_all();
    lock.release();
    return;
  }
  session_ = fresh;
  spare_blocked_ = false;
  ++starts_;
  const bool is_restart = starts_ > 1;
  if (is_restart) ++restarts_;
  calls_since_start_ = 0;
  served_ = false;
  missed_pings_ = 0;
  recycle_pending_ = false;
  last_activity_ = Clock::now();
  const std::uint32_t pid = fresh->info().pid;
  const bool run_hooks = is_restart || hooks_at_first_start_;
  hooks_running_ = run_hooks && !hooks_.empty();
  hooks_taken_in_ = generation;
  const std::vector<std::pair<int, std::function<void()>>> hooks = hooks_;
  lock.unlock();

  emit(BridgeEvent{BridgeEvent::Kind::started, pid, false, 0, "", BreakerState::closed});
  if (run_hooks) {
    // Queued calls wait (state starting) while the hooks bring the new
    // surrogate to the state the application needs.
    for (const auto& [id, hook] : hooks) {
      if (const std::optional<std::string> failed = run_hook(hook)) {
        fresh->kill(*failed);
        break;
      }
    }
    if (is_restart) {
      emit(BridgeEvent{BridgeEvent::Kind::restarted, pid, false, 0, why.empty() ? "restarted" : why,
                       BreakerState::closed});
    }
  }

  lock.lock();
  hooks_running_ = false;
  if (fresh->lost()) {
    // Gone already (a hook failed, or it died): on_lost, which is on its
    // way, schedules the next start; it must not become ready meanwhile.
    changed_.wait_for(lock, milliseconds(10000), [&] {
      return stopping_ || generation_ != generation || state_ != SurrogateState::starting;
    });
    if (!stopping_ && generation_ == generation && state_ == SurrogateState::starting) {
      schedule_restart("surrogate (pid " + std::to_string(pid) + ") was lost while starting");
    }
  } else if (state_ == SurrogateState::starting && generation_ == generation) {
    state_ = SurrogateState::ready;
  }
  changed_.notify_all();
  lock.release();
}

void Lifecycle::schedule_restart(const std::string& why) {
  reason_ = why;
  restart_reason_ = why;
  ++consecutive_failures_;
  if (options_.policy.restart.enabled) {
    state_ = SurrogateState::restarting;
    next_start_at_ =
        Clock::now() + backoff_delay(options_.policy.restart.backoff, consecutive_failures_, rng_.get());
  } else {
    state_ = SurrogateState::failed;
    reason_ = why + " (restarts are disabled)";
  }
  wake_.notify_all();
  changed_.notify_all();
}

std::shared_ptr<Session> Lifecycle::start_session(const std::shared_ptr<std::uint64_t>& owner) {
  std::shared_ptr<Session> s = Session::start(
      options_, [this, owner](const Error& e, const std::optional<ExitStatus>& st) { on_lost(owner, e, st); },
      region_);
  if (options_.policy.warm_spare && options_.policy.preload_spare) {
    s->on_learned([this](const Learned& entry) { learn(entry); });
  }
  return s;
}

void Lifecycle::learn(const Learned& entry) {
  std::lock_guard lock(mu_);
  if (!manifest_keys_.insert(entry.key).second) return;
  manifest_.push_back(std::make_shared<const Learned>(entry));
  if (spare_) wake_.notify_all();
}

bool Lifecycle::want_preload() const {
  return spare_ && !preloading_ && spare_preloaded_ < manifest_.size() && state_ == SurrogateState::ready &&
         !stopping_;
}

void Lifecycle::preload_spare(std::unique_lock<std::mutex>& lock) {
  const std::shared_ptr<Session> spare = spare_;
  const std::shared_ptr<const Learned> entry = manifest_[spare_preloaded_];
  preloading_ = true;
  lock.unlock();
  bool done = false;
  try {
    spare->preload(*entry, options_.policy.start_timeout);
    done = true;
  } catch (const Error&) {
    // Not loadable in a second process (or the spare died): let go below.
  }
  lock.lock();
  preloading_ = false;
  if (spare_ != spare) return;  // stopped meanwhile
  if (done) {
    ++spare_preloaded_;
  } else {
    drop_spare(lock);
  }
}

void Lifecycle::drop_spare(std::unique_lock<std::mutex>& lock) {
  std::shared_ptr<Session> dead = std::move(spare_);
  spare_owner_.reset();
  spare_blocked_ = true;
  ++spares_lost_;
  lock.unlock();
  retire(dead);
  lock.lock();
}

bool Lifecycle::want_spare() const {
  return options_.policy.warm_spare && state_ == SurrogateState::ready && served_ && !spare_ &&
         !spare_blocked_ && !recycle_pending_ && !stopping_;
}

void Lifecycle::start_spare(std::unique_lock<std::mutex>& lock) {
  auto owner = std::make_shared<std::uint64_t>(0);
  lock.unlock();
  std::shared_ptr<Session> spare;
  try {
    spare = start_session(owner);
  } catch (const Error&) {
    // Not replaced before the next start: a surrogate that cannot start is
    // not retried in a loop here (the next restart reports why).
  }
  lock.lock();
  if (!spare) {
    spare_blocked_ = true;
    ++spares_lost_;
    return;
  }
  if (stopping_ || spare_ || state_ == SurrogateState::stopped) {
    lock.unlock();
    retire(spare);
    lock.lock();
    return;
  }
  spare_ = std::move(spare);
  spare_owner_ = std::move(owner);
  spare_preloaded_ = 0;
}

void Lifecycle::on_lost(const std::shared_ptr<std::uint64_t>& owner, const Error& error,
                        const std::optional<ExitStatus>& st) {
  std::lock_guard lock(mu_);
  const std::uint64_t generation = *owner;
  if (generation == 0) {
    wake_.notify_all();  // the spare died: the monitor lets it go
    return;
  }
  if (generation != generation_ || stopping_ || state_ == SurrogateState::stopped) return;
  const std::uint32_t pid = session_ ? session_->info().pid : 0;
  // A replay into the spare holds the monitor, which must start the
  // replacement: the spare is not waited for (its load may hang); the
  // monitor lets it go and starts a new surrogate.
  if (preloading_ && spare_) spare_->kill("the serving surrogate was lost while the spare was preloading");
  // Queued under mu_ (emit never waits for a handler), so `exited` always
  // comes before the `started` of the replacement.
  emit(BridgeEvent{BridgeEvent::Kind::exited, pid, st && st->signaled, st ? st->code : 0, error.what(),
                   BreakerState::closed});
  if (state_ == SurrogateState::ready || state_ == SurrogateState::starting) {
    schedule_restart(error.what());
  } else {
    reason_ = error.what();
  }
}

void Lifecycle::heartbeat() {
  const HeartbeatPolicy& hb = options_.policy.heartbeat;
  if (hb.interval.count() <= 0) return;
  std::shared_ptr<Session> s;
  {
    std::lock_guard lock(mu_);
    if (state_ != SurrogateState::ready || in_flight_ > 0 || !session_) return;
    if (Clock::now() - last_activity_ < hb.interval) return;
    s = session_;
  }
  bool answered = true;
  try {
    s->ping(hb.timeout);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::crashed) return;  // already gone: on_lost handles it
    answered = e.kind() != ErrorKind::timeout;
  }
  std::lock_guard lock(mu_);
  last_activity_ = Clock::now();
  if (answered) {
    missed_pings_ = 0;
    return;
  }
  if (++missed_pings_ >= hb.misses) {
    const std::string why = "surrogate (pid " + std::to_string(s->info().pid) + ") missed " +
                            std::to_string(missed_pings_) + " heartbeats: hung";
    missed_pings_ = 0;
    s->kill(why);
  }
}

void Lifecycle::check_memory() {
  const RecyclePolicy& rc = options_.policy.recycle;
  if (rc.max_resident_bytes == 0) return;
  std::uint32_t pid;
  {
    std::lock_guard lock(mu_);
    if (state_ != SurrogateState::ready || !session_ || recycle_pending_) return;
    if (Clock::now() - last_memory_check_ < rc.check_every) return;
    last_memory_check_ = Clock::now();
    pid = session_->info().pid;
  }
  const std::optional<ProcessFigures> f = read_figures(pid);
  if (!f || f->resident_bytes <= rc.max_resident_bytes) return;
  std::lock_guard lock(mu_);
  recycle_pending_ = true;
  char text[160];
  std::snprintf(text, sizeof text, "recycled: resident memory %.1f MiB passed the limit of %.1f MiB",
                f->resident_bytes / 1048576.0, rc.max_resident_bytes / 1048576.0);
  recycle_reason_ = text;
}

void Lifecycle::recycle(std::unique_lock<std::mutex>& lock) {
  // Between calls (none in flight, new ones wait): a graceful stop, then a
  // fresh start that runs the on-restart hooks. Not a failure: the crash-loop
  // limit and the breaker are not involved, unless that start fails.
  recycle_pending_ = false;
  const std::string why = recycle_reason_;
  restart_reason_ = why;
  reason_ = why;
  state_ = SurrogateState::starting;
  std::shared_ptr<Session> old = std::move(session_);
  const std::uint64_t generation = ++generation_;  // the old session's loss (if any) is not news
  const std::uint64_t old_pid = old ? old->info().pid : 0;
  lock.unlock();
  retire(old);
  emit(BridgeEvent{BridgeEvent::Kind::exited, static_cast<std::uint32_t>(old_pid), false, 0, why,
                   BreakerState::closed});
  lock.lock();
  if (stopping_ || generation_ != generation) return;  // stop() or restart() came meanwhile
  start_surrogate(StartKind::recycle, why);            // takes mu_ over and leaves it held
}

bool Lifecycle::on_restart(int id, std::function<void()> hook) {
  std::lock_guard lock(mu_);
  hooks_.emplace_back(id, std::move(hook));
  // The surrogate in place (or starting) took its copy of the hooks before this one.
  return hooks_at_first_start_ && hooks_taken_in_ == generation_ &&
         (state_ == SurrogateState::ready || state_ == SurrogateState::starting);
}

void Lifecycle::remove_restart_hook(int id) {
  std::lock_guard lock(mu_);
  hooks_.erase(std::remove_if(hooks_.begin(), hooks_.end(), [id](const auto& h) { return h.first == id; }),
               hooks_.end());
}

void Lifecycle::kill(const std::string& reason) {
  std::shared_ptr<Session> s;
  {
    std::lock_guard lock(mu_);
    s = session_;
  }
  if (s) s->kill(reason);
}

SurrogateState Lifecycle::state(bool& serving) {
  std::lock_guard lock(mu_);
  serving = state_ == SurrogateState::ready && !recycle_pending_ && session_ && !session_->lost();
  return state_;
}

void Lifecycle::restart(const std::string& reason) {
  std::shared_ptr<Session> old;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    old = std::move(session_);
    ++generation_;
    limiter_.reset();
    consecutive_failures_ = 0;
    restart_reason_ = reason;
    reason_ = reason;
    state_ = SurrogateState::restarting;
    next_start_at_ = Clock::now();
  }
  retire(old);
  wake_.notify_all();
}

void Lifecycle::stop() {
  std::shared_ptr<Session> old, spare;
  {
    std::lock_guard lock(mu_);
    old = std::move(session_);
    spare = std::move(spare_);
    spare_owner_.reset();
    ++generation_;
    state_ = SurrogateState::stopped;
    reason_ = "stopped by the application";
  }
  changed_.notify_all();
  wake_.notify_all();
  retire(old);  // now, though a call may still hold it
  retire(spare);
}

void Lifecycle::snapshot(BridgeStats& out) {
  std::lock_guard lock(mu_);
  out.state = state_;
  if (session_ && !session_->lost()) {
    out.pid = session_->info().pid;
    out.bits = session_->info().pointer_size * 8;
    out.uptime = std::chrono::duration_cast<milliseconds>(Clock::now() - session_->started_at());
  }
  if (spare_ && !spare_->lost()) {
    out.spare_pid = spare_->info().pid;
    out.spare_preloaded = static_cast<std::uint32_t>(spare_->preloaded());
  }
  out.spares_lost = spares_lost_;
  out.starts = starts_;
  out.restarts = restarts_;
  out.in_flight = in_flight_;
  out.reason = reason_;
}

std::string Lifecycle::surrogate_path() {
  std::lock_guard lock(mu_);
  return session_ ? session_->surrogate_path() : std::string();
}

}  // namespace dllbridge::detail
