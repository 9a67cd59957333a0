#include "supervisor/pool.hpp"

#include <limits>
#include <tuple>

namespace dllbridge::detail {

using Clock = std::chrono::steady_clock;

struct Pool::Member {
  Member(const BridgeOptions& options, EventBus& events, CallStats* totals, std::uint32_t index, bool pooled,
         std::shared_ptr<BridgeRegion> region)
      : supervisor(options, events, totals, index, pooled, std::move(region)) {}
  Supervisor supervisor;
  std::atomic<int> busy{0};  // calls of this pool in the member now
};

namespace {

// The member this thread's calls go to while one of its hooks runs.
struct Pin {
  const Pool* pool = nullptr;
  std::uint32_t member = 0;
};
thread_local Pin pinned;

class PinScope {
 public:
  PinScope(const Pool* pool, std::uint32_t member) : saved_(pinned) { pinned = Pin{pool, member}; }
  ~PinScope() { pinned = saved_; }
  PinScope(const PinScope&) = delete;
  PinScope& operator=(const PinScope&) = delete;

 private:
  Pin saved_;
};

BridgeOptions checked(BridgeOptions o) {
  if (o.pool_size == 0 || o.pool_size > Pool::kMaxSize) {
    throw Error(ErrorKind::bad_argument, "pool_size must be 1 to " + std::to_string(Pool::kMaxSize) +
                                             " (got " + std::to_string(o.pool_size) + ")");
  }
  if (o.pool_size > 1 && !o.connect.empty()) {
    throw Error(ErrorKind::bad_argument,
                "pool_size > 1 needs surrogates the bridge starts: connect mode reaches one standalone "
                "surrogate process");
  }
  return o;
}

// For the pool's state: the first of these any member is in.
constexpr SurrogateState kStateOrder[] = {SurrogateState::ready,      SurrogateState::starting,
                                          SurrogateState::restarting, SurrogateState::not_started,
                                          SurrogateState::failed,     SurrogateState::stopped};

}  // namespace

Pool::Pool(BridgeOptions options) : options_(checked(std::move(options))) {
  const bool pooled = options_.pool_size > 1;
  for (std::size_t i = 0; i < options_.pool_size; ++i) {
    members_.push_back(std::make_unique<Member>(options_, events_, pooled ? &totals_ : nullptr,
                                                static_cast<std::uint32_t>(i), pooled, region_));
  }
  if (options_.policy.lazy_start) return;
  // On a failed start the members end in reverse order: no surrogate is left.
  if (pooled) {
    for (auto& m : members_) m->supervisor.request_start();  // side by side
  }
  for (auto& m : members_) m->supervisor.wait_ready();
}

Pool::~Pool() = default;

std::uint32_t Pool::pick(int& busy) {
  const auto n = static_cast<std::uint32_t>(members_.size());
  const Clock::time_point now = Clock::now();
  // Ranked by (group, calls in it, not started yet, index): group 0 takes
  // a call at once (ready) or by starting (a lazy member, started only when
  // the ready ones are busier), 1 would wait (starting, restarting,
  // recycling), 2 fails fast (breaker), 3 failed or stopped. Ties go to the
  // lowest index: a process that has just served a call answers the next
  // one faster than one that slept (docs/performance.md, "Throughput").
  std::uint32_t best = 0;
  auto best_key = std::make_tuple(std::numeric_limits<int>::max(), 0, 0);
  for (std::uint32_t i = 0; i < n; ++i) {
    Member& m = *members_[i];
    bool serving = false;
    const SurrogateState st = m.supervisor.state(serving);
    int group = 1;
    if (st == SurrogateState::failed || st == SurrogateState::stopped) {
      group = 3;
    } else if (!m.supervisor.accepting(now)) {
      group = 2;
    } else if (serving || st == SurrogateState::not_started) {
      group = 0;
    }
    const auto key = std::make_tuple(group, m.busy.load(std::memory_order_relaxed), serving ? 0 : 1);
    if (key < best_key) {
      best = i;
      best_key = key;
      if (key == std::make_tuple(0, 0, 0)) break;
    }
  }
  busy = std::get<1>(best_key);
  return best;
}

void Pool::execute(const Operation& op, const CallOptions& call) {
  std::uint32_t i = 0;
  if (pinned.pool == this || members_.size() == 1) {
    i = pinned.pool == this ? pinned.member : 0;
    members_[i]->busy.fetch_add(1, std::memory_order_relaxed);
  } else {
    // Claimed only if its load is still what the choice saw: calls that
    // pick at the same moment spread instead of piling on one member.
    for (;;) {
      int busy = 0;
      i = pick(busy);
      if (members_[i]->busy.compare_exchange_strong(busy, busy + 1, std::memory_order_relaxed)) break;
    }
  }
  Member& m = *members_[i];
  struct Done {
    std::atomic<int>& busy;
    ~Done() { busy.fetch_sub(1, std::memory_order_relaxed); }
  } done{m.busy};
  m.supervisor.execute(
      [&](Session& session, std::uint64_t generation, std::chrono::milliseconds left) {
        op(session, Slot{i, generation}, left);
      },
      call);
}

SurrogateInfo Pool::info() {
  if (pinned.pool != this) {
    for (auto& m : members_) {
      bool serving = false;
      m->supervisor.state(serving);
      if (serving) return m->supervisor.info();  // starts no lazy member
    }
  }
  int busy = 0;
  return members_[pinned.pool == this    ? pinned.member
                  : members_.size() == 1 ? 0
                                         : pick(busy)]
      ->supervisor.info();
}

std::vector<BridgeStats> Pool::member_stats() {
  std::vector<BridgeStats> all;
  all.reserve(members_.size());
  for (auto& m : members_) all.push_back(m->supervisor.stats());
  return all;
}

BridgeStats Pool::stats() {
  std::vector<BridgeStats> all = member_stats();
  if (all.size() == 1) return std::move(all.front());
  BridgeStats s;
  for (const SurrogateState st : kStateOrder) {
    bool any = false;
    for (const auto& m : all) any = any || m.state == st;
    if (any) {
      s.state = st;
      break;
    }
  }
  bool any_closed = false, any_half_open = false;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const BridgeStats& m = all[i];
    if (s.pid == 0 && m.pid != 0) {
      s.pid = m.pid;
      s.bits = m.bits;
      s.uptime = m.uptime;
    }
    if (s.reason.empty() && !m.reason.empty()) s.reason = "member " + std::to_string(i) + ": " + m.reason;
    s.starts += m.starts;
    s.restarts += m.restarts;
    s.spares_lost += m.spares_lost;
    s.in_flight += m.in_flight;
    any_closed = any_closed || m.breaker == BreakerState::closed;
    any_half_open = any_half_open || m.breaker == BreakerState::half_open;
    s.process.cpu_user += m.process.cpu_user;
    s.process.cpu_kernel += m.process.cpu_kernel;
    s.process.resident_bytes += m.process.resident_bytes;
    s.process.peak_resident_bytes += m.process.peak_resident_bytes;
    s.process.virtual_bytes += m.process.virtual_bytes;
    s.process.threads += m.process.threads;
    s.process.handles += m.process.handles;
  }
  s.process.pid = s.pid;
  s.breaker = any_closed      ? BreakerState::closed
              : any_half_open ? BreakerState::half_open
                              : BreakerState::open;
  totals_.snapshot(s);
  return s;
}

std::string Pool::surrogate_path() {
  for (auto& m : members_) {
    std::string path = m->supervisor.surrogate_path();
    if (!path.empty()) return path;
  }
  return {};
}

int Pool::on_restart(std::function<void()> hook) {
  const int id = next_hook_id_.fetch_add(1) + 1;
  auto shared = std::make_shared<const std::function<void()>>(std::move(hook));
  for (std::uint32_t i = 0; i < members_.size(); ++i) {
    Supervisor& member = members_[i]->supervisor;
    const bool run_now = member.on_restart(id, [this, i, shared] {
      PinScope pin(this, i);
      (*shared)();
    });
    if (!run_now) continue;
    PinScope pin(this, i);
    if (const std::optional<std::string> failed = run_hook(*shared)) member.kill(*failed);
  }
  return id;
}

void Pool::remove_restart_hook(int id) {
  for (auto& m : members_) m->supervisor.remove_restart_hook(id);
}

void Pool::for_each_member(const std::function<void(std::size_t member)>& fn) {
  for (std::uint32_t i = 0; i < members_.size(); ++i) {
    PinScope pin(this, i);
    fn(i);
  }
}

void Pool::restart(const std::string& reason) {
  for (auto& m : members_) m->supervisor.restart(reason);
}

void Pool::stop() {
  for (auto& m : members_) m->supervisor.stop();
}

}  // namespace dllbridge::detail
