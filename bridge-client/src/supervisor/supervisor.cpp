#include "supervisor/supervisor.hpp"

#include <algorithm>
#include <cstdio>

#include "process/figures.hpp"

namespace dllbridge::detail {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Failures that say something about the surrogate's health (and may be
// retried for idempotent calls), as opposed to the caller's mistakes.
bool infrastructure(ErrorKind k) {
  return k == ErrorKind::crashed || k == ErrorKind::timeout || k == ErrorKind::protocol ||
         k == ErrorKind::surrogate_start_failed;
}

constexpr std::size_t kLatencyWindow = 1024;

}  // namespace

Supervisor::Supervisor(BridgeOptions options)
    : options_(std::move(options)),
      limiter_(options_.policy.restart),
      breaker_(options_.policy.breaker) {
  events_thread_ = std::thread([this] { deliver_events(); });
  monitor_ = std::thread([this] { monitor_loop(); });
  if (!options_.policy.lazy_start) {
    try {
      acquire(Clock::now() + options_.policy.start_timeout + milliseconds(1000));
    } catch (...) {
      {
        std::lock_guard lock(mu_);
        stopping_ = true;
      }
      wake_.notify_all();
      monitor_.join();
      {
        std::lock_guard lock(events_mu_);
        events_done_ = true;
      }
      events_cv_.notify_all();
      events_thread_.join();
      throw;
    }
  }
}

Supervisor::~Supervisor() {
  std::shared_ptr<Session> last;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    last = std::move(session_);
  }
  wake_.notify_all();
  changed_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  last.reset();  // graceful stop, outside the lock
  {
    std::lock_guard lock(events_mu_);
    events_done_ = true;
  }
  events_cv_.notify_all();
  if (events_thread_.joinable()) events_thread_.join();
}

Supervisor::Lease Supervisor::acquire(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  const std::uint64_t errors_seen = start_errors_;
  for (;;) {
    const bool hook_thread = hooks_running_ && std::this_thread::get_id() == monitor_id_;
    const bool usable = session_ && !session_->lost();
    if ((state_ == SurrogateState::ready && !recycle_pending_ && usable) || (hook_thread && usable)) {
      return {session_, generation_};
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
      throw Error(ErrorKind::timeout,
                  std::string("no surrogate became ready before the deadline (state ") +
                      std::string(to_string(state_)) + (reason_.empty() ? "" : ": " + reason_) + ")");
    }
  }
}

wire::Reply Supervisor::execute(const Operation& op, bool idempotent, milliseconds timeout, bool counted) {
  const Clock::time_point deadline = Clock::now() + timeout;
  const int max_attempts = idempotent ? std::clamp(options_.policy.retry.max_attempts, 1, 5) : 1;
  // Not idempotent: only a request that never reached the surrogate is resent.
  for (int attempt = 1;; ++attempt) {
    BreakerState before;
    {
      std::lock_guard lock(mu_);
      before = breaker_.state();
      if (!breaker_.allow(Clock::now())) {
        if (counted) ++failed_;
        const auto left = breaker_.open_remaining(Clock::now());
        throw Error(ErrorKind::circuit_open,
                    "circuit open after repeated failures (" + reason_ + "); calls fail fast for another " +
                        std::to_string(left.count()) + " ms");
      }
    }
    note_breaker(before);

    const Clock::time_point start = Clock::now();
    try {
      Lease lease = acquire(deadline);
      {
        std::lock_guard lock(mu_);
        ++in_flight_;
      }
      wire::Reply reply;
      try {
        const auto left = std::max(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()),
                                   milliseconds(1));
        reply = op(*lease.session, lease.generation, left);
      } catch (...) {
        std::lock_guard lock(mu_);
        if (--in_flight_ == 0 && recycle_pending_) wake_.notify_all();
        throw;
      }
      const auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
      {
        std::lock_guard lock(mu_);
        before = breaker_.state();
        breaker_.record(true, Clock::now());
        last_activity_ = Clock::now();
        missed_pings_ = 0;
        consecutive_failures_ = 0;
        if (--in_flight_ == 0 && recycle_pending_) wake_.notify_all();
        if (counted) {
          ++ok_;
          record_latency(took);
          const std::uint64_t limit = options_.policy.recycle.after_calls;
          if (limit > 0 && ++calls_since_start_ >= limit && !recycle_pending_) {
            recycle_pending_ = true;
            recycle_reason_ = "recycled after " + std::to_string(calls_since_start_) + " calls";
            wake_.notify_all();
          }
        }
      }
      note_breaker(before);
      return reply;
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
        if (never_sent && attempt < 5) {
          breaker_.release_probe();
          retry = true;
        } else {
          if (infra) {
            breaker_.record(false, Clock::now());
          } else {
            breaker_.release_probe();
          }
          if (counted) {
            ++failed_;
            if (e.kind() == ErrorKind::timeout) ++timed_out_;
          }
          if (infra && idempotent && attempt < max_attempts) {
            delay = backoff_delay(options_.policy.retry.backoff, attempt, rng_);
            retry = Clock::now() + delay < deadline;
            if (retry && counted) ++retries_;
          }
        }
      }
      note_breaker(before);
      if (retry) {
        std::this_thread::sleep_for(delay);
        continue;
      }
      if (infra && !idempotent && e.may_have_run()) {
        throw Error(e.kind(), std::string(e.what()) +
                                  " (not retried: the function is not marked idempotent and may have run)",
                    true);
      }
      throw;
    }
  }
}

void Supervisor::monitor_loop() {
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
      start_surrogate(false, "");
      continue;
    }
    if (state_ == SurrogateState::restarting) {
      if (now < next_start_at_) {
        wake_.wait_until(lock, next_start_at_);
        continue;
      }
      start_surrogate(true, restart_reason_);
      continue;
    }
    if (state_ == SurrogateState::ready) {
      if (recycle_pending_ && in_flight_ == 0) {
        recycle(lock);
        continue;
      }
      lock.unlock();
      heartbeat();
      check_memory();
      lock.lock();
    }
    if (stopping_) break;
    wake_.wait_for(lock, tick);
  }
}

void Supervisor::start_surrogate(bool after_failure, const std::string& why) {
  // mu_ is held on entry and exit.
  std::unique_lock lock(mu_, std::adopt_lock);
  const Clock::time_point now = Clock::now();
  if (after_failure && !limiter_.try_start(now)) {
    state_ = SurrogateState::failed;
    reason_ = "crash loop: " + std::to_string(options_.policy.restart.max_starts) + " starts within " +
              std::to_string(options_.policy.restart.window.count()) + " ms; not restarting any more (last: " +
              reason_ + "); call Bridge::restart() to try again";
    changed_.notify_all();
    lock.release();
    return;
  }
  state_ = SurrogateState::starting;
  std::shared_ptr<Session> old = std::move(session_);
  const std::uint64_t generation = generation_ + 1;
  lock.unlock();
  old.reset();  // a lost session: reaps quickly

  std::shared_ptr<Session> fresh;
  std::optional<Error> failure;
  try {
    fresh = Session::start(options_, [this, generation](const Error& e, const std::optional<ExitStatus>& st) {
      on_lost(generation, e, st);
    });
  } catch (const Error& e) {
    failure = e;
  }

  lock.lock();
  if (failure) {
    ++start_errors_;
    last_start_error_ = failure->what();
    last_start_kind_ = failure->kind();
    reason_ = failure->what();
    ++consecutive_failures_;
    if (after_failure && options_.policy.restart.enabled) {
      state_ = SurrogateState::restarting;
      next_start_at_ = Clock::now() + backoff_delay(options_.policy.restart.backoff, consecutive_failures_, rng_);
    } else {
      state_ = starts_ == 0 ? SurrogateState::not_started : SurrogateState::failed;
      start_requested_ = false;
    }
    changed_.notify_all();
    lock.release();
    return;
  }
  session_ = fresh;
  generation_ = generation;
  ++starts_;
  const bool is_restart = starts_ > 1;
  if (is_restart) ++restarts_;
  calls_since_start_ = 0;
  missed_pings_ = 0;
  last_activity_ = Clock::now();
  const std::uint32_t pid = fresh->info().pid;
  hooks_running_ = is_restart && !hooks_.empty();
  const std::vector<std::function<void()>> hooks = hooks_;
  lock.unlock();

  emit(BridgeEvent{BridgeEvent::Kind::started, pid, false, 0, "", BreakerState::closed});
  if (is_restart) {
    // Queued calls wait (state starting) while the hooks bring the new
    // surrogate to the state the application needs.
    for (const auto& hook : hooks) {
      try {
        hook();
      } catch (const std::exception& e) {
        fresh->kill("on-restart hook failed: " + std::string(e.what()));
        break;
      }
    }
    emit(BridgeEvent{BridgeEvent::Kind::restarted, pid, false, 0,
                     why.empty() ? "restarted" : why, BreakerState::closed});
  }

  lock.lock();
  hooks_running_ = false;
  if (state_ == SurrogateState::starting && generation_ == generation) state_ = SurrogateState::ready;
  changed_.notify_all();
  lock.release();
}

void Supervisor::on_lost(std::uint64_t generation, const Error& error, const std::optional<ExitStatus>& st) {
  std::uint32_t pid = 0;
  {
    std::lock_guard lock(mu_);
    if (generation != generation_ || stopping_ || state_ == SurrogateState::stopped) return;
    pid = session_ ? session_->info().pid : 0;
    reason_ = error.what();
    restart_reason_ = error.what();
    if (state_ != SurrogateState::failed) {
      ++consecutive_failures_;
      if (options_.policy.restart.enabled) {
        state_ = SurrogateState::restarting;
        next_start_at_ = Clock::now() + backoff_delay(options_.policy.restart.backoff, consecutive_failures_, rng_);
      } else {
        state_ = SurrogateState::failed;
        reason_ = std::string(error.what()) + " (restarts are disabled)";
      }
    }
    wake_.notify_all();
    changed_.notify_all();
  }
  emit(BridgeEvent{BridgeEvent::Kind::exited, pid, st && st->signaled, st ? st->code : 0, error.what(),
                   BreakerState::closed});
}

void Supervisor::heartbeat() {
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

void Supervisor::check_memory() {
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

void Supervisor::recycle(std::unique_lock<std::mutex>& lock) {
  // Between calls (none in flight, new ones wait): a graceful stop, then a
  // fresh start that runs the on-restart hooks. Not a failure: the crash-loop
  // limit and the breaker are not involved.
  recycle_pending_ = false;
  restart_reason_ = recycle_reason_;
  reason_ = recycle_reason_;
  state_ = SurrogateState::starting;
  std::shared_ptr<Session> old = std::move(session_);
  ++generation_;  // the old session's loss (if any) is not news
  const std::uint64_t old_pid = old ? old->info().pid : 0;
  lock.unlock();
  old.reset();
  emit(BridgeEvent{BridgeEvent::Kind::exited, static_cast<std::uint32_t>(old_pid), false, 0, recycle_reason_,
                   BreakerState::closed});
  lock.lock();
  state_ = SurrogateState::restarting;
  next_start_at_ = Clock::now();
  start_surrogate(false, restart_reason_);
}

void Supervisor::restart(const std::string& reason) {
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
  old.reset();
  wake_.notify_all();
}

void Supervisor::stop() {
  std::shared_ptr<Session> old;
  {
    std::lock_guard lock(mu_);
    old = std::move(session_);
    ++generation_;
    state_ = SurrogateState::stopped;
    reason_ = "stopped by the application";
  }
  changed_.notify_all();
  old.reset();
}

SurrogateInfo Supervisor::info() {
  return acquire(Clock::now() + options_.policy.start_timeout + milliseconds(1000)).session->info();
}

std::string Supervisor::surrogate_path() {
  std::lock_guard lock(mu_);
  return session_ ? session_->surrogate_path() : std::string();
}

BridgeStats Supervisor::stats() {
  BridgeStats s;
  std::uint32_t pid = 0;
  {
    std::lock_guard lock(mu_);
    s.state = state_;
    if (session_ && !session_->lost()) {
      pid = session_->info().pid;
      s.pid = pid;
      s.bits = session_->info().pointer_size * 8;
      s.uptime = std::chrono::duration_cast<milliseconds>(Clock::now() - session_->started_at());
    }
    s.starts = starts_;
    s.restarts = restarts_;
    s.calls_ok = ok_;
    s.calls_failed = failed_;
    s.calls_timed_out = timed_out_;
    s.retries = retries_;
    s.in_flight = in_flight_;
    s.breaker = breaker_.state();
    s.reason = reason_;
    std::vector<std::uint32_t> lat = latencies_us_;
    if (!lat.empty()) {
      std::sort(lat.begin(), lat.end());
      s.latency_p50 = std::chrono::microseconds(lat[(lat.size() - 1) / 2]);
      s.latency_p99 = std::chrono::microseconds(lat[(lat.size() - 1) * 99 / 100]);
    }
  }
  if (pid != 0) {
    if (auto f = read_figures(pid)) s.process = *f;
  }
  return s;
}

int Supervisor::subscribe(std::function<void(const BridgeEvent&)> handler) {
  std::lock_guard lock(mu_);
  subscribers_.emplace(next_subscriber_, std::move(handler));
  return next_subscriber_++;
}

void Supervisor::unsubscribe(int id) {
  std::lock_guard lock(mu_);
  subscribers_.erase(id);
}

void Supervisor::on_restart(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  hooks_.push_back(std::move(hook));
}

void Supervisor::emit(BridgeEvent event) {
  event.at = std::chrono::steady_clock::now();
  std::vector<std::function<void(const BridgeEvent&)>> targets;
  {
    std::lock_guard subs(mu_);
    for (auto& [id, fn] : subscribers_) targets.push_back(fn);
  }
  if (targets.empty()) return;
  {
    std::lock_guard lock(events_mu_);
    events_.emplace_back(std::move(event), std::move(targets));
  }
  events_cv_.notify_one();
}

void Supervisor::deliver_events() {
  std::unique_lock lock(events_mu_);
  for (;;) {
    events_cv_.wait(lock, [this] { return events_done_ || !events_.empty(); });
    if (events_.empty()) return;  // done, and everything delivered
    auto [event, targets] = std::move(events_.front());
    events_.pop_front();
    lock.unlock();
    for (auto& fn : targets) {
      try {
        fn(event);
      } catch (...) {
        // A subscriber's failure is its own business.
      }
    }
    lock.lock();
  }
}

void Supervisor::note_breaker(BreakerState before) {
  BreakerState now;
  {
    std::lock_guard lock(mu_);
    now = breaker_.state();
  }
  if (now != before) emit(BridgeEvent{BridgeEvent::Kind::breaker_changed, 0, false, 0, "", now});
}

void Supervisor::record_latency(std::chrono::microseconds us) {
  const auto v = static_cast<std::uint32_t>(std::min<std::int64_t>(us.count(), UINT32_MAX));
  if (latencies_us_.size() < kLatencyWindow) {
    latencies_us_.push_back(v);
  } else {
    latencies_us_[latency_next_] = v;
    latency_next_ = (latency_next_ + 1) % kLatencyWindow;
  }
}

}  // namespace dllbridge::detail
