// The client's transport over the socket / named pipe to its surrogate
// (one file per platform).
//  - POSIX: rpc::socket_transport (dllbridge/rpc/socket_transport.hpp), in
//    which a thread that waits for a reply reads the socket itself, so the
//    reply wakes the thread that wants it.
//  - Windows (stream_transport_win.cpp): an I/O thread reads frames (Asio,
//    overlapped); callers write their own frames when the pipe takes them at
//    once, else the I/O thread finishes the job.
#pragma once

#include <memory>

#include <asio/io_context.hpp>

#include "dllbridge/rpc/transport.hpp"
#include "process/process.hpp"

namespace dllbridge::detail {

// The transport over `stream`, created on `io` (both owned from now on).
// `low_latency`: a caller waiting for its reply first polls for it for a
// short, adaptive time before it sleeps (POSIX; see docs/performance.md).
std::unique_ptr<rpc::Transport> make_stream_transport(std::unique_ptr<asio::io_context> io, Stream stream,
                                                      bool low_latency = false);

}  // namespace dllbridge::detail
