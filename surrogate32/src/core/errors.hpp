// The surrogate's one error type: a wire error kind and a message, sent back
// to the client as an Error reply for the request being served.
#pragma once

#include <stdexcept>
#include <string>

#include "dllbridge/dllbridge.pb.h"

namespace dllbridge::surrogate {

class Failure : public std::runtime_error {
 public:
  Failure(wire::ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  wire::ErrorKind kind() const noexcept { return kind_; }

 private:
  wire::ErrorKind kind_;
};

}  // namespace dllbridge::surrogate
