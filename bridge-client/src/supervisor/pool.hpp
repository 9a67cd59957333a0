// A pool of supervised surrogates (BridgeOptions::pool_size): N Supervisors,
// each with its own process, breaker, restarts and statistics, sharing one
// EventBus. Each call goes to the least loaded member that is not failing
// fast; with pool_size 1 it is exactly one Supervisor. A Bridge holds it in a
// shared_ptr. Calls made inside an on-restart hook go to the member whose
// hook it is.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dllbridge/bridge.hpp"
#include "channel/region.hpp"
#include "supervisor/call_stats.hpp"
#include "supervisor/event_bus.hpp"
#include "supervisor/supervisor.hpp"

namespace dllbridge::detail {

class Session;

// Where an operation runs: the pool member, and its surrogate's generation
// (ids learnt in an older generation of that member are stale).
struct Slot {
  std::uint32_t member = 0;
  std::uint64_t generation = 0;
};

class Pool {
 public:
  // Largest pool_size accepted.
  static constexpr std::size_t kMaxSize = 64;

  // One operation against a live session of one member; it may run more than
  // once (retries). Callers capture their results.
  using Operation =
      std::function<void(Session& session, const Slot& slot, std::chrono::milliseconds timeout)>;

  // Checks options.pool_size (Error(bad_argument)), starts the members'
  // monitor threads and, unless policy.lazy_start, every surrogate (side by
  // side). Throws the first start error.
  explicit Pool(BridgeOptions options);
  // Stops every surrogate gracefully.
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Runs `op` in one member (Supervisor::execute): the one whose on-restart
  // hook runs on this thread, else the least loaded of those ready (a lazy
  // member not started yet counts as ready but loses ties, so it starts
  // when calls overlap) whose breaker lets calls through; members
  // restarting come next, failing fast or failed last; ties go to the
  // lowest index, so calls one at a time stay in one warm process.
  // Throws dllbridge::Error.
  void execute(const Operation& op, const CallOptions& call);

  std::size_t size() const { return members_.size(); }
  const BridgeOptions& options() const { return options_; }
  SurrogateInfo info();                     // of the member the next call would use (starts a lazy one)
  BridgeStats stats();                      // over all members (docs/supervision.md, "A pool of surrogates")
  std::vector<BridgeStats> member_stats();  // one per member, in member order
  std::string surrogate_path();             // the program every member runs
  // The bridge's shared region (made on first use), which every member's
  // surrogates map; null when off or not possible.
  std::shared_ptr<Region> region() const { return region_->get(); }

  int subscribe(std::function<void(const BridgeEvent&)> handler) {
    return events_.subscribe(std::move(handler));
  }
  void unsubscribe(int id) { events_.unsubscribe(id); }
  // Adds `hook` to every member. In a pool (size > 1) it also runs at each
  // member's first start and, now, in each member already running; a member
  // whose hook throws is killed (and restarted, running it again). Returns
  // its id for remove_restart_hook.
  int on_restart(std::function<void()> hook);
  // Removes the hook `id` from every member (no effect when there is none).
  void remove_restart_hook(int id);
  // Calls fn(i) for each member i in order, on this thread; the calls fn
  // makes go to member i.
  void for_each_member(const std::function<void(std::size_t member)>& fn);
  void restart(const std::string& reason);  // every member; also clears crash-loop stops
  void stop();                              // every member

 private:
  struct Member;
  // The member for the next call (not the pinned one), and its load as seen.
  std::uint32_t pick(int& busy);

  const BridgeOptions options_;
  std::atomic<int> next_hook_id_{0};
  EventBus events_;   // destroyed last: the members emit into it
  CallStats totals_;  // every member's calls (pool_size > 1)
  const std::shared_ptr<BridgeRegion> region_ =
      std::make_shared<BridgeRegion>(options_.shared_region, options_.region_budget);
  std::vector<std::unique_ptr<Member>> members_;
};

}  // namespace dllbridge::detail
