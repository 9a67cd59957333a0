// Starting the surrogate and owning its process; reaching a standalone one.
// One file per platform.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#if defined(_WIN32)
#  include <asio/windows/stream_handle.hpp>
#else
#  include <asio/local/stream_protocol.hpp>
#endif

namespace dllbridge::detail {

#if defined(_WIN32)
using Stream = asio::windows::stream_handle;
#else
using Stream = asio::local::stream_protocol::socket;
#endif

// How a process ended, in words for error messages ("killed by SIGSEGV").
struct ExitStatus {
  bool signaled = false;
  std::int64_t code = 0;  // exit code, or the signal number / exception code
  std::string describe() const;
};

// A started child process. Move-only; the destructor kills and reaps a child
// that is still running, so no surrogate outlives its owner object. On
// POSIX a surrogate spawned here leads a process group of its own, which
// holds whatever the library starts: once the surrogate has ended (seen by
// wait_for(), before it is reaped) or is killed, the whole group is killed;
// on Windows the Job Object holds them, and is terminated likewise.
class Process {
 public:
  // What the platform keeps besides the pid (Windows: the process and Job
  // Object handles); defined in the platform file.
  struct Native;
  struct NativeDeleter {
    void operator()(Native* n) const noexcept;  // in the platform file
  };
  using NativePtr = std::unique_ptr<Native, NativeDeleter>;

  Process();
  explicit Process(long pid, NativePtr native = nullptr);
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  long pid() const { return pid_; }
  bool valid() const { return pid_ > 0; }
  // Waits up to `timeout` for the process to end; its status once it has
  // (the processes of its group / job are killed then, before it is reaped).
  std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);
  // Asks the process to end (SIGTERM; TerminateProcess on Windows).
  void terminate() noexcept;
  // Kills the process and its group at once (SIGKILL / TerminateJobObject).
  void kill() noexcept;
  // The platform's part, for ExitWatch; null when there is none.
  const Native* native() const { return native_.get(); }

 private:
  long pid_ = 0;
  NativePtr native_;
  std::optional<ExitStatus> status_;
};

// Tells when a process ends, from the process itself (Linux: a pidfd, or a
// polling thread where the kernel has none; Windows: a wait on the process
// handle), however its streams look. Calls `on_exit` once, on a thread of
// its own, when `process` has ended (it is not reaped: wait_for() does
// that). The process must outlive the watch. The destructor stops watching
// and waits for an `on_exit` that is running, so `on_exit` must not destroy
// the watch.
class ExitWatch {
 public:
  struct Impl;  // in the platform file
  ExitWatch(const Process& process, std::function<void()> on_exit);
  ~ExitWatch();
  ExitWatch(const ExitWatch&) = delete;
  ExitWatch& operator=(const ExitWatch&) = delete;

 private:
  std::unique_ptr<Impl> impl_;
};

// A surrogate started by the client with a private, already connected endpoint.
struct Spawned {
  Process process;
  Stream stream;
};

// Starts `program args...` (through `launcher` when not empty) with a
// private endpoint only it can reach: on POSIX the child's end of a fresh
// socket pair, passed as `--fd N`, the child leading a process group of its
// own; on Windows a fresh named pipe with a random name and owner-only
// security, passed as `--pipe NAME`, that the child must connect to within
// `connect_timeout` (its pid is checked), the child in a kill-on-close Job
// Object. `fork_server` (POSIX, without a launcher): the child is forked by
// this process's fork server for `program` (fork_server_posix.hpp), started
// first when there is none, and spawned as above only when that fails.
// Throws dllbridge::Error(surrogate_start_failed) naming the program and
// the reason.
Spawned spawn_surrogate(asio::io_context& io, const std::string& program,
                        const std::vector<std::string>& args, const std::vector<std::string>& launcher,
                        std::chrono::milliseconds connect_timeout, bool fork_server = false);

// Connects to a standalone surrogate's endpoint, retrying a refused or
// missing one for up to 1 s, and checks who serves it before anything is
// sent: POSIX: the socket file is a socket owned by this user and the
// peer's SO_PEERCRED uid is this user's; Windows: the pipe server's process
// runs as this user. Throws dllbridge::Error(unauthorized) naming the
// endpoint and the owner found, or Error(surrogate_start_failed).
Stream connect_endpoint(asio::io_context& io, const std::string& endpoint);

// This process's id.
long current_pid();

// The folder holding this client library (or the program it is linked into).
std::string client_module_dir();

// A user-mode emulator that can run 32-bit x86 programs on a kernel that
// refuses them (qemu-i386), or empty when none is installed.
std::vector<std::string> find_i386_emulator();

}  // namespace dllbridge::detail
