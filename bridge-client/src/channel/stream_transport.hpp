// The client's transport over the socket / named pipe to its surrogate
// (one file per platform). On both, a thread that waits for a reply reads
// the stream itself, so the reply wakes the thread that wants it, and
// callers write their own frames.
//  - POSIX: rpc::socket_transport (dllbridge/rpc/socket_transport.hpp).
//  - Windows: rpc::pipe_transport (dllbridge/rpc/pipe_transport.hpp), over
//    the pipe taken from `stream` (Asio's handle is closed; `io` runs nothing).
#pragma once

#include <memory>

#include <asio/io_context.hpp>

#include "dllbridge/rpc/transport.hpp"
#include "process/process.hpp"

namespace dllbridge::detail {

// The transport over `stream`, created on `io` (both owned from now on).
// `low_latency`: a caller waiting for its reply first polls for it for a
// short, adaptive time before it sleeps (POSIX; see docs/performance.md).
// Throws Error(surrogate_start_failed) when the transport cannot be set up.
std::unique_ptr<rpc::Transport> make_stream_transport(std::unique_ptr<asio::io_context> io, Stream stream,
                                                      bool low_latency = false);

}  // namespace dllbridge::detail
