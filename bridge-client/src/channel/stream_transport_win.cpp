#include "channel/stream_transport.hpp"

#include <system_error>

#include "dllbridge/error.hpp"
#include "dllbridge/rpc/pipe_transport.hpp"
#include "dllbridge/wire/win32.hpp"

namespace dllbridge::detail {

std::unique_ptr<rpc::Transport> make_stream_transport(std::unique_ptr<asio::io_context> io, Stream stream,
                                                      bool /*low_latency: callers wait in the kernel*/) {
  // The transport does its own overlapped I/O on the pipe; Asio's handle goes
  // (its completion port sees nothing: the transport's events keep their
  // completions off it).
  HANDLE copy = nullptr;
  if (!::DuplicateHandle(::GetCurrentProcess(), stream.native_handle(), ::GetCurrentProcess(), &copy, 0,
                         FALSE, DUPLICATE_SAME_ACCESS)) {
    throw Error(ErrorKind::surrogate_start_failed,
                "cannot take over the channel's pipe: " + win::error_text(::GetLastError()));
  }
  asio::error_code ignored;
  stream.close(ignored);
  io.reset();
  try {
    return rpc::pipe_transport(copy);
  } catch (const std::system_error& e) {
    throw Error(ErrorKind::surrogate_start_failed, e.what());
  }
}

}  // namespace dllbridge::detail
