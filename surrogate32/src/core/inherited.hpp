// The transport on the private endpoint of the client that started this
// surrogate (`--fd N` / `--pipe NAME`). One file per platform.
#pragma once

#include <memory>

#include "core/transport.hpp"
#include "dllbridge/rpc/transport.hpp"

namespace dllbridge::surrogate {

// The transport over the adopted endpoint (adopt_inherited): on POSIX
// rpc::socket_transport, in which an idle worker reads for its work and, in
// low-latency mode, polls briefly before it sleeps; on Windows the
// StreamTransport over the pipe. Throws std::runtime_error when it cannot be
// set up.
std::unique_ptr<rpc::Transport> inherited_transport(Stream stream, bool low_latency);

}  // namespace dllbridge::surrogate
