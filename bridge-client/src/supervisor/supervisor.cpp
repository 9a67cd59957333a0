#include "supervisor/supervisor.hpp"

#include "channel/session.hpp"
#include "process/figures.hpp"

namespace dllbridge::detail {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Supervisor::Supervisor(BridgeOptions options)
    : options_(std::move(options)),
      lifecycle_(options_, events_),
      executor_(options_.policy, lifecycle_, calls_, events_) {
  // On a failed start the members end in reverse order: no surrogate is left.
  if (!options_.policy.lazy_start)
    lifecycle_.acquire(Clock::now() + options_.policy.start_timeout + milliseconds(1000));
}

Supervisor::~Supervisor() = default;

void Supervisor::execute(const Operation& op, const CallOptions& call) {
  executor_.run(
      [&](const Lease& lease, milliseconds left) { op(*lease.session(), lease.generation(), left); }, call);
}

SurrogateInfo Supervisor::info() {
  return lifecycle_.acquire(Clock::now() + options_.policy.start_timeout + milliseconds(1000))
      .session()
      ->info();
}

std::string Supervisor::surrogate_path() { return lifecycle_.surrogate_path(); }

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

int Supervisor::subscribe(std::function<void(const BridgeEvent&)> handler) {
  return events_.subscribe(std::move(handler));
}
void Supervisor::unsubscribe(int id) { events_.unsubscribe(id); }
void Supervisor::on_restart(std::function<void()> hook) { lifecycle_.on_restart(std::move(hook)); }
void Supervisor::restart(const std::string& reason) { lifecycle_.restart(reason); }
void Supervisor::stop() { lifecycle_.stop(); }

}  // namespace dllbridge::detail
