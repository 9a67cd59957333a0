#include "channel/stream_transport.hpp"

#include <system_error>

#include "dllbridge/error.hpp"
#include "dllbridge/rpc/pipe_transport.hpp"
#include "dllbridge/wire/win32.hpp"

namespace dllbridge::detail {
namespace {

// rpc::pipe_transport, keeping alive the io_context that Asio's (moved-from,
// closed) handles of the caller still refer to until they are gone.
class PipeTransport final : public rpc::Transport {
 public:
  PipeTransport(std::unique_ptr<asio::io_context> io, std::unique_ptr<rpc::Transport> pipe)
      : io_(std::move(io)), pipe_(std::move(pipe)) {}

  void start(Receiver& receiver) override { pipe_->start(receiver); }
  void send(std::string frame) override { pipe_->send(std::move(frame)); }
  void close() noexcept override { pipe_->close(); }
  CallerRead read_until(bool (*done)(void*), void* context, std::chrono::steady_clock::time_point deadline,
                        std::chrono::nanoseconds poll_for = std::chrono::nanoseconds::zero()) override {
    return pipe_->read_until(done, context, deadline, poll_for);
  }

 private:
  std::unique_ptr<asio::io_context> io_;  // runs nothing
  std::unique_ptr<rpc::Transport> pipe_;
};

}  // namespace

std::unique_ptr<rpc::Transport> make_stream_transport(std::unique_ptr<asio::io_context> io, Stream stream,
                                                      bool /*low_latency: callers wait in the kernel*/,
                                                      bool /*shared_frames: not on Windows*/) {
  // The transport does its own overlapped I/O on the pipe; Asio's handle is
  // closed (its completion port sees nothing: the transport's events keep
  // their completions off it).
  HANDLE copy = nullptr;
  if (!::DuplicateHandle(::GetCurrentProcess(), stream.native_handle(), ::GetCurrentProcess(), &copy, 0,
                         FALSE, DUPLICATE_SAME_ACCESS)) {
    throw Error(ErrorKind::surrogate_start_failed,
                "cannot take over the channel's pipe: " + win::error_text(::GetLastError()));
  }
  asio::error_code ignored;
  stream.close(ignored);
  try {
    return std::make_unique<PipeTransport>(std::move(io), rpc::pipe_transport(copy));
  } catch (const std::system_error& e) {
    throw Error(ErrorKind::surrogate_start_failed, e.what());
  }
}

}  // namespace dllbridge::detail
