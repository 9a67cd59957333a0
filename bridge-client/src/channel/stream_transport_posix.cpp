#include "channel/stream_transport.hpp"

#include <system_error>

#include "dllbridge/error.hpp"
#include "dllbridge/rpc/ring_transport.hpp"
#include "dllbridge/rpc/socket_transport.hpp"

namespace dllbridge::detail {

std::unique_ptr<rpc::Transport> make_stream_transport(std::unique_ptr<asio::io_context> /*io: not needed*/,
                                                      Stream stream, bool low_latency, bool shared_frames) {
  try {
#if defined(__linux__)
    if (shared_frames) {
      // Without the memory (memfd_create refused), the socket carries them.
      return rpc::offer_ring_transport(stream.release(), rpc::RingOptions{low_latency});
    }
#else
    (void)shared_frames;
#endif
    return rpc::socket_transport(stream.release(), rpc::SocketOptions{low_latency});
  } catch (const std::system_error& e) {
    throw Error(ErrorKind::surrogate_start_failed, e.what());
  }
}

}  // namespace dllbridge::detail
