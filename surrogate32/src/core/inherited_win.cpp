#include "core/inherited.hpp"

#include <memory>
#include <stdexcept>
#include <system_error>

#include "dllbridge/rpc/pipe_transport.hpp"
#include "dllbridge/wire/frame.hpp"

namespace dllbridge::surrogate {

SessionEnd serve_inherited(Stream stream, const InheritedOptions& options) {
  // The client that started us is trusted and watched: no handshake or idle
  // limit (the parent-death watch covers a client that is gone).
  std::unique_ptr<rpc::Transport> transport;
  try {
    transport = rpc::pipe_transport(stream.release(),
                                    rpc::PipeOptions{wire::kMaxHandshakeFrameSize, options.read_timeout});
  } catch (const std::system_error& e) {
    throw std::runtime_error(e.what());
  }
  Session session(*transport, SessionOptions{options.workers, {}, "the client", nullptr, nullptr});
  return session.run();
}

}  // namespace dllbridge::surrogate
