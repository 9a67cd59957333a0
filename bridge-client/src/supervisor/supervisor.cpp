#include "supervisor/supervisor.hpp"

#include "channel/session.hpp"
#include "process/figures.hpp"

namespace dllbridge::detail {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Supervisor::Supervisor(const BridgeOptions& options, EventBus& events, CallStats* totals,
                       std::uint32_t member, bool hooks_at_first_start, std::shared_ptr<BridgeRegion> region)
    : options_(options),
      calls_(totals),
      lifecycle_(options_, events, member, hooks_at_first_start, std::move(region)),
      executor_(options_.policy, lifecycle_, calls_, events, member) {}

Supervisor::~Supervisor() = default;

void Supervisor::execute(const Operation& op, const CallOptions& call) {
  executor_.run(
      [&](const Lease& lease, milliseconds left) { op(*lease.session(), lease.generation(), left); }, call);
}

void Supervisor::wait_ready() {
  lifecycle_.acquire(Clock::now() + options_.policy.start_timeout + milliseconds(1000));
}

SurrogateInfo Supervisor::info() {
  return lifecycle_.acquire(Clock::now() + options_.policy.start_timeout + milliseconds(1000))
      .session()
      ->info();
}

BridgeStats Supervisor::stats() {
  BridgeStats s;
  lifecycle_.snapshot(s);
  calls_.snapshot(s);
  s.breaker = executor_.breaker_state();
  if (s.pid != 0) {
    if (auto f = read_figures(s.pid)) s.process = *f;
  }
  return s;
}

}  // namespace dllbridge::detail
