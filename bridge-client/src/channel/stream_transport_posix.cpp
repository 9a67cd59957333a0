#include "channel/stream_transport.hpp"

#include <system_error>

#include "dllbridge/error.hpp"
#include "dllbridge/rpc/socket_transport.hpp"

namespace dllbridge::detail {

std::unique_ptr<rpc::Transport> make_stream_transport(std::unique_ptr<asio::io_context> /*io: not needed*/,
                                                      Stream stream, bool low_latency) {
  try {
    return rpc::socket_transport(stream.release(), rpc::SocketOptions{low_latency});
  } catch (const std::system_error& e) {
    throw Error(ErrorKind::surrogate_start_failed, e.what());
  }
}

}  // namespace dllbridge::detail
