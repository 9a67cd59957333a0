// How the surrogate meets its client: an inherited, already-connected
// endpoint (started by the client) or a listening endpoint (standalone
// mode). One file per platform.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include <asio/io_context.hpp>

#if defined(_WIN32)
#  include "core/pipe_stream_win.hpp"
#else
#  include <asio/local/stream_protocol.hpp>
#endif

namespace dllbridge::surrogate {

#if defined(_WIN32)
using Stream = PipeStream;
#else
using Stream = asio::local::stream_protocol::socket;
#endif

// The private endpoint of the client that started this surrogate: on POSIX
// the inherited socket `--fd N`; on Windows the client's pipe `--pipe NAME`,
// opened with SECURITY_IDENTIFICATION. Throws std::runtime_error when it is
// not a usable connected endpoint. POSIX: the socket is moved to a random
// descriptor number in [100, 1000), close-on-exec; call this before any
// thread starts (growing the descriptor table of a process with several
// threads waits for an RCU grace period, milliseconds).
Stream adopt_inherited(asio::io_context& io, const std::string& value);

// Makes this process end when the client `parent_pid` that started it ends,
// even if that client is killed outright: PR_SET_PDEATHSIG, a check that it
// is not already gone, and a pidfd watch (Job Object on Windows).
void follow_parent(long parent_pid);

// The inherited channel ended with no Shutdown: the client is gone, or gave
// up on this surrogate and kills it. POSIX: when this process leads its own
// process group (the client made it so), kills the group, this process
// included (what the library started must not outlive the client, which may
// not be there to do it); otherwise, and on Windows (the Job Object does
// it), returns.
void end_process_group();

// Serves `endpoint` until the process is stopped: accepts one connection at
// a time, rejects peers of another user, and calls `serve` for each session.
void listen(asio::io_context& io, const std::string& endpoint, const std::function<void(Stream&)>& serve);

// Makes a read blocked on `stream` in another thread return, and every later
// read fail at once, until `reader_done` is set by the reading thread.
void interrupt(Stream& stream, const std::atomic<bool>& reader_done) noexcept;

// This process's id, for the handshake.
unsigned current_pid();

}  // namespace dllbridge::surrogate
