// The one error style of the public API: dllbridge::Error carries a kind a
// caller can act on (docs/errors.md) and a message for people.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "dllbridge/export.hpp"

namespace dllbridge {

// What went wrong, in terms a caller can act on.
enum class ErrorKind {
  timeout,                 // the call passed its deadline
  crashed,                 // the surrogate died (message names the signal / code)
  circuit_open,            // calls are failing fast (supervision)
  bad_signature,           // the signature text does not parse or is unsupported
  bad_argument,            // an argument does not fit its parameter
  symbol_not_found,        // no export matched the name or its decorated forms
  library_load_failed,     // the surrogate could not load the library
  surrogate_start_failed,  // the surrogate could not be started or connected
  protocol,                // malformed or unexpected frame, version mismatch
  unauthorized,            // the peer is not allowed to talk to us
  callback_failed,         // a callback threw during the call (its message); the DLL saw the default return
};

// The contract spelling of a kind, e.g. "symbol_not_found".
DLLBRIDGE_API std::string_view to_string(ErrorKind kind) noexcept;

// Thrown by every public operation that fails; what() is the message.
class DLLBRIDGE_API Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, bool may_have_run = false)
      : std::runtime_error(message), kind_(kind), may_have_run_(may_have_run) {}
  ErrorKind kind() const noexcept { return kind_; }
  // True when the call reached the surrogate and failed in a way that leaves
  // its effect unknown (crashed, timeout): it may or may not have run.
  bool may_have_run() const noexcept { return may_have_run_; }

 private:
  ErrorKind kind_;
  bool may_have_run_;
};

}  // namespace dllbridge
