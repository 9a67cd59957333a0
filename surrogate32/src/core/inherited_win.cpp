#include "core/inherited.hpp"

#include "core/stream_transport.hpp"

namespace dllbridge::surrogate {

SessionEnd serve_inherited(Stream stream, const InheritedOptions& options) {
  // The client that started us is trusted and watched: no handshake or idle
  // limit (the parent-death watch covers a client that is gone).
  return serve_stream(stream, ReadLimits{{}, options.read_timeout, {}},
                      SessionOptions{options.workers, {}, "the client", nullptr, nullptr});
}

}  // namespace dllbridge::surrogate
