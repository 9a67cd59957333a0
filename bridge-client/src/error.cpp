#include "dllbridge/error.hpp"

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
  }
  return "unknown";
}

}  // namespace dllbridge
