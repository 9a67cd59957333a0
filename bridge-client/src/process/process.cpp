// The platform-neutral part of Process: ownership and the "never outlive the
// owner" rule; the platform files supply kill() and wait_for().
#include <utility>

#include "process/process.hpp"

namespace dllbridge::detail {

Process::Process() = default;
Process::Process(long pid, NativePtr native) : pid_(pid), native_(std::move(native)) {}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, 0)),
      native_(std::move(other.native_)),
      status_(std::move(other.status_)) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (valid() && !status_) {
      kill();
      wait_for(std::chrono::milliseconds(2000));
    }
    pid_ = std::exchange(other.pid_, 0);
    native_ = std::move(other.native_);
    status_ = std::move(other.status_);
  }
  return *this;
}

Process::~Process() {
  if (valid() && !status_) {
    kill();
    wait_for(std::chrono::milliseconds(2000));
  }
}

}  // namespace dllbridge::detail
