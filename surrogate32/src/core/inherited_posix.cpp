#include "core/inherited.hpp"

#include <memory>
#include <stdexcept>
#include <system_error>

#include "dllbridge/rpc/ring_transport.hpp"
#include "dllbridge/rpc/socket_transport.hpp"
#include "dllbridge/wire/frame.hpp"

namespace dllbridge::surrogate {
namespace {
// How long the client's first bytes (the frame rings) may take.
constexpr std::chrono::milliseconds kRingsWait{10000};
}  // namespace

SessionEnd serve_inherited(Stream stream, const InheritedOptions& options) {
  std::unique_ptr<rpc::Transport> transport;
  try {
#if defined(__linux__)
    if (options.shared_frames) {
      // The client sends them right after it started us.
      transport = rpc::accept_ring_transport(
          stream.release(), rpc::RingOptions{options.low_latency, wire::kMaxHandshakeFrameSize}, kRingsWait);
    }
#endif
    if (!transport)
      transport = rpc::socket_transport(
          stream.release(), rpc::SocketOptions{options.low_latency, wire::kMaxHandshakeFrameSize});
  } catch (const std::system_error& e) {
    throw std::runtime_error(e.what());
  }
  Session session(*transport, SessionOptions{options.workers, {}, "the client", nullptr, nullptr});
  return session.run();
}

}  // namespace dllbridge::surrogate
