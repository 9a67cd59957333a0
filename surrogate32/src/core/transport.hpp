// How the surrogate meets its client: an inherited, already-connected
// endpoint (started by the client) or a listening endpoint (standalone
// mode). One file per platform.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <vector>
#include <stdexcept>
#include <string>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
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
// is not already gone, and a pidfd watch (Job Object on Windows). `forked`
// (POSIX): this process was forked by a fork server, its parent, so the
// pidfd watch alone follows the client.
void follow_parent(long parent_pid, bool forked = false);

// The inherited channel ended with no Shutdown: the client is gone, or gave
// up on this surrogate and kills it. POSIX: when this process leads its own
// process group (the client made it so), kills the group, this process
// included (what the library started must not outlive the client, which may
// not be there to do it); otherwise, and on Windows (the Job Object does
// it), returns.
void end_process_group();

// How a standalone surrogate serves its endpoint (docs/cli.md, section 7).
struct ListenOptions {
  std::string endpoint;   // Unix socket path / \\.\pipe\NAME
  int max_sessions = 16;  // sessions served at once; one more is refused with an Error notice
  // Where to say "ready\n" once connections are taken: a file descriptor
  // (POSIX) or an inherited handle value (Windows), closed after; "1" is
  // standard output on both, left open. Empty: nowhere.
  std::string ready;
};

// Serves `options.endpoint` until the process is stopped. Refuses to take
// over an endpoint someone serves (POSIX: a socket that takes a connection;
// Windows: a pipe name that exists) and removes a stale socket; removes at
// exit, from a SIGINT/SIGTERM handler too, only the socket file it created.
// Each accepted client of this user is served by `serve` on a thread of its
// own (`peer` names it for logs, e.g. "pid 1234"); peers of another user and
// clients over `max_sessions` get an Error notice and are closed. Throws
// std::runtime_error when the endpoint cannot be served.
void listen(asio::io_context& io, const ListenOptions& options,
            const std::function<void(Stream&, const std::string& peer)>& serve);

// Descriptors the peer passed with what was read (POSIX: SCM_RIGHTS),
// oldest first; at most a few are kept, the rest closed. Thread-safe.
class PassedFds {
 public:
  PassedFds() = default;
  ~PassedFds();
  PassedFds(const PassedFds&) = delete;
  PassedFds& operator=(const PassedFds&) = delete;
  void add(int fd);
  // The oldest, now the caller's; -1 when none.
  int take();

 private:
  std::mutex mu_;
  std::vector<int> fds_;
};

// Reads what `stream` has into `buffer`, waiting at most `timeout` for the
// first byte (zero: no limit); ec is asio::error::timed_out when none came.
// Descriptors that came with the bytes go to `fds` (closed when it is null).
std::size_t read_some_within(Stream& stream, asio::mutable_buffer buffer, std::chrono::milliseconds timeout,
                             asio::error_code& ec, PassedFds* fds = nullptr);

// Makes a read blocked on `stream` in another thread return, and every later
// read fail at once, until `reader_done` is set by the reading thread.
void interrupt(Stream& stream, const std::atomic<bool>& reader_done) noexcept;

// The longest token accepted (it travels in the Hello, under the frame cap
// before the handshake).
inline constexpr std::size_t kMaxTokenSize = 1024;

// `contents` of token file `path` without one trailing newline ("\n" or
// "\r\n"). Throws std::runtime_error when that is empty or over kMaxTokenSize.
inline std::string checked_token(std::string contents, const std::string& path) {
  if (!contents.empty() && contents.back() == '\n') contents.pop_back();
  if (!contents.empty() && contents.back() == '\r') contents.pop_back();
  if (contents.empty()) throw std::runtime_error("token file " + path + " is empty");
  if (contents.size() > kMaxTokenSize) {
    throw std::runtime_error("token file " + path + " holds more than " + std::to_string(kMaxTokenSize) +
                             " bytes");
  }
  return contents;
}

// The contents of the token file `path` without a trailing newline. Throws
// std::runtime_error when it is unreadable, empty, longer than 1 KiB, or (on
// POSIX) not a regular file or readable or writable by others (mode & 077).
std::string read_token_file(const std::string& path);

// This process's id, for the handshake.
unsigned current_pid();

}  // namespace dllbridge::surrogate
