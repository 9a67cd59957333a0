// The transport on the private endpoint of the client that started this
// surrogate (`--fd N` / `--pipe NAME`). One file per platform.
#pragma once

#include <memory>
#include <string>

#include <asio/io_context.hpp>

#include "dllbridge/rpc/transport.hpp"

namespace dllbridge::surrogate {

// Adopts the endpoint (adopt_inherited) and makes its transport: on POSIX
// rpc::socket_transport, in which an idle worker reads for its work and, in
// low-latency mode, polls briefly before it sleeps; on Windows the
// StreamTransport over the pipe. Throws std::runtime_error as adopt_inherited.
std::unique_ptr<rpc::Transport> inherited_transport(asio::io_context& io, const std::string& value,
                                                    bool low_latency);

}  // namespace dllbridge::surrogate
