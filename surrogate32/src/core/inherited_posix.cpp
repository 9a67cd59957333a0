#include "core/inherited.hpp"

#include <memory>
#include <stdexcept>
#include <system_error>

#include "dllbridge/rpc/socket_transport.hpp"
#include "dllbridge/wire/frame.hpp"

namespace dllbridge::surrogate {

SessionEnd serve_inherited(Stream stream, const InheritedOptions& options) {
  std::unique_ptr<rpc::Transport> transport;
  try {
    transport = rpc::socket_transport(stream.release(),
                                      rpc::SocketOptions{options.low_latency, wire::kMaxHandshakeFrameSize});
  } catch (const std::system_error& e) {
    throw std::runtime_error(e.what());
  }
  Session session(*transport, SessionOptions{options.workers, {}, "the client", nullptr, nullptr});
  return session.run();
}

}  // namespace dllbridge::surrogate
