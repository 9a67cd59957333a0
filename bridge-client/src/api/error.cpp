#include "dllbridge/error.hpp"
#include "dllbridge/types.hpp"

namespace dllbridge {

std::string_view to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::crashed: return "crashed";
    case ErrorKind::circuit_open: return "circuit_open";
    case ErrorKind::bad_signature: return "bad_signature";
    case ErrorKind::bad_argument: return "bad_argument";
    case ErrorKind::symbol_not_found: return "symbol_not_found";
    case ErrorKind::library_load_failed: return "library_load_failed";
    case ErrorKind::surrogate_start_failed: return "surrogate_start_failed";
    case ErrorKind::protocol: return "protocol";
    case ErrorKind::unauthorized: return "unauthorized";
    case ErrorKind::callback_failed: return "callback_failed";
  }
  return "unknown";
}

std::string_view to_string(SurrogateState s) noexcept {
  switch (s) {
    case SurrogateState::not_started: return "not_started";
    case SurrogateState::starting: return "starting";
    case SurrogateState::ready: return "ready";
    case SurrogateState::restarting: return "restarting";
    case SurrogateState::failed: return "failed";
    case SurrogateState::stopped: return "stopped";
  }
  return "unknown";
}

std::string_view to_string(BreakerState s) noexcept {
  switch (s) {
    case BreakerState::closed: return "closed";
    case BreakerState::open: return "open";
    case BreakerState::half_open: return "half_open";
  }
  return "unknown";
}

std::string_view to_string(BridgeEvent::Kind k) noexcept {
  switch (k) {
    case BridgeEvent::Kind::started: return "started";
    case BridgeEvent::Kind::exited: return "exited";
    case BridgeEvent::Kind::restarted: return "restarted";
    case BridgeEvent::Kind::breaker_changed: return "breaker_changed";
  }
  return "unknown";
}

}  // namespace dllbridge
