#include "core/inherited.hpp"

#include <stdexcept>
#include <system_error>

#include "core/transport.hpp"
#include "dllbridge/rpc/socket_transport.hpp"

namespace dllbridge::surrogate {

std::unique_ptr<rpc::Transport> inherited_transport(Stream stream, bool low_latency) {
  try {
    // The first frame is the Hello: a few KiB at most.
    return rpc::socket_transport(stream.release(), rpc::SocketOptions{low_latency, 4096});
  } catch (const std::system_error& e) {
    throw std::runtime_error(e.what());
  }
}

}  // namespace dllbridge::surrogate
