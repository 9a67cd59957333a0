// The client's transport over the socket / named pipe to its surrogate
// (one file per platform). On both, a thread that waits for a reply reads
// the stream itself, so the reply wakes the thread that wants it, and
// callers write their own frames.
//  - POSIX: rpc::socket_transport (dllbridge/rpc/socket_transport.hpp), or
//    on Linux frames through shared memory (dllbridge/rpc/ring_transport.hpp).
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
// `shared_frames` (Linux, where kSharedFramesBuilt): frames go through
// shared memory (rpc::offer_ring_transport); the surrogate was started with
// --shared-frames and accepts them, or the socket if they cannot be made.
// Throws Error(surrogate_start_failed) when the transport cannot be set up.
std::unique_ptr<rpc::Transport> make_stream_transport(std::unique_ptr<asio::io_context> io, Stream stream,
                                                      bool low_latency = false, bool shared_frames = false);

// Whether this platform's build has frames through shared memory.
#if defined(__linux__)
inline constexpr bool kSharedFramesBuilt = true;
#else
inline constexpr bool kSharedFramesBuilt = false;
#endif

}  // namespace dllbridge::detail
