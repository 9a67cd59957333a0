#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "dllbridge/error.hpp"
#include "process/fork_server_posix.hpp"
#include "process/process.hpp"

extern char** environ;

namespace dllbridge::detail {
namespace {

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

constexpr int kChildFd = 3;  // where the surrogate finds its endpoint

[[noreturn]] void start_failed(const std::string& what) {
  throw Error(ErrorKind::surrogate_start_failed, what);
}

}  // namespace

// Everything it starts is in its group unless it leaves it with
// setsid()/setpgid().
int spawn_program(const std::vector<std::string>& argv, int child_end, pid_t& pid) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_end, kChildFd);   // clears CLOEXEC
  posix_spawn_file_actions_addclosefrom_np(&actions, kChildFd + 1);  // nothing else leaks in
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group, led by itself
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return rc;
}

namespace {

// A descriptor that becomes readable when process `pid` ends, or -1 where
// the kernel has no pidfd_open (before Linux 5.3) or refuses it.
int open_pidfd(pid_t pid) {
#if defined(SYS_pidfd_open)
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

// Whether child `pid` has ended (not reaped: WNOWAIT); `info` says how.
// Also true when it cannot be waited for any more (reaped elsewhere).
bool has_ended(pid_t pid, siginfo_t& info) {
  for (;;) {
    info = siginfo_t{};
    const int r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (r == 0) return info.si_pid == pid;
    if (errno != EINTR) return true;
  }
}

}  // namespace

std::string ExitStatus::describe() const {
  if (!signaled) return "exited with code " + std::to_string(code);
  const char* name = sigabbrev_np(static_cast<int>(code));
  return std::string("killed by ") + (name ? std::string("SIG") + name : "signal") + " (signal " +
         std::to_string(code) + ")";
}

struct Process::Native {
  Fd pidfd;                  // readable once the process has ended; -1 without pidfd support
  bool leads_group = false;  // spawned as the leader of its own process group
  // The fork server that started it and reaps it (it is not this process's
  // child then); null when this process spawned it.
  std::shared_ptr<ForkServer> server;
};

namespace {

// Whether the pidfd of `n` says its process has ended (false without one).
bool pidfd_ended(const Process::Native& n) {
  if (n.pidfd.get() < 0) return false;
  pollfd p{n.pidfd.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

}  // namespace
void Process::NativeDeleter::operator()(Native* n) const noexcept { delete n; }

std::optional<ExitStatus> Process::wait_for(std::chrono::milliseconds timeout) {
  if (status_ || !valid()) return status_;
  const auto pid = static_cast<pid_t>(pid_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (native_ && native_->server) {
    // Its server reaps it (having killed its group) and says how it ended.
    pollfd p{native_->pidfd.get(), POLLIN, 0};
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      const int r =
          ::poll(&p, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0)));
      if (r > 0) break;
      if (r == 0 || (r < 0 && errno != EINTR)) return std::nullopt;
    }
    status_ = native_->server->status(pid, deadline);
    return status_;
  }
  for (;;) {
    siginfo_t info;
    if (has_ended(pid, info)) {
      if (info.si_pid != pid) {
        status_ = ExitStatus{false, -1};  // reaped elsewhere; nothing more to learn
        return status_;
      }
      // Ended but not reaped, so its group id cannot name another group yet:
      // what it started goes now.
      if (native_ && native_->leads_group) ::kill(-pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      status_ =
          info.si_code == CLD_EXITED ? ExitStatus{false, info.si_status} : ExitStatus{true, info.si_status};
      return status_;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (native_ && native_->pidfd.get() >= 0) {
      pollfd p{native_->pidfd.get(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<std::chrono::milliseconds::rep>(left.count(), 1000)));
    } else {
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(2)));
    }
  }
}

void Process::terminate() noexcept {
  if (!valid() || status_) return;
  if (native_ && native_->server) {
    // Not this process's child: its pid is only its own while it runs.
    if (!pidfd_ended(*native_)) ::syscall(SYS_pidfd_send_signal, native_->pidfd.get(), SIGTERM, nullptr, 0);
    return;
  }
  ::kill(static_cast<pid_t>(pid_), SIGTERM);
}

struct ExitWatch::Impl {
  pid_t pid = 0;
  Fd pidfd;  // a duplicate of the process's; -1: poll waitid() instead
  Fd wake;   // an eventfd the destructor signals
  std::function<void()> on_exit;
  std::thread thread;

  // True when the process ended, false when told to stop.
  bool wait() {
    for (;;) {
      if (pidfd.get() >= 0) {
        pollfd p[2] = {{wake.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) {
          if (errno != EINTR) pidfd = Fd();  // fall back to polling below
          continue;
        }
        if (p[0].revents != 0) return false;
        if (p[1].revents != 0) return true;
      } else {
        siginfo_t info;
        if (has_ended(pid, info)) return true;
        pollfd p{wake.get(), POLLIN, 0};
        if (::poll(&p, 1, 20) > 0) return false;
      }
    }
  }
};

ExitWatch::ExitWatch(const Process& process, std::function<void()> on_exit) : impl_(new Impl) {
  impl_->pid = static_cast<pid_t>(process.pid());
  impl_->on_exit = std::move(on_exit);
  if (const Process::Native* n = process.native(); n && n->pidfd.get() >= 0) {
    impl_->pidfd = Fd(::fcntl(n->pidfd.get(), F_DUPFD_CLOEXEC, 0));
  }
  impl_->wake = Fd(::eventfd(0, EFD_CLOEXEC));
  if (impl_->wake.get() < 0) start_failed(std::string("eventfd: ") + std::strerror(errno));
  Impl* impl = impl_.get();
  impl_->thread = std::thread([impl] {
    if (!impl->wait()) return;
    try {
      impl->on_exit();
    } catch (...) {
      // Nothing to tell it to: the owner finds out from the channel.
    }
  });
}

ExitWatch::~ExitWatch() {
  const std::uint64_t one = 1;
  (void)!::write(impl_->wake.get(), &one, sizeof one);
  if (impl_->thread.joinable()) impl_->thread.join();
}

long current_pid() { return static_cast<long>(::getpid()); }

void Process::kill() noexcept {
  if (!valid() || status_) return;
  // Not yet reaped (status_ is unset), so the group id is still its own.
  const auto pid = static_cast<pid_t>(pid_);
  // One a fork server reaps: while it runs, its group is its own; once it
  // has ended, the server kills the group before it reaps it.
  if (native_ && native_->server && pidfd_ended(*native_)) return;
  ::kill(native_ && native_->leads_group ? -pid : pid, SIGKILL);
}

Spawned spawn_surrogate(asio::io_context& io, const std::string& program,
                        const std::vector<std::string>& args, const std::vector<std::string>& launcher,
                        std::chrono::milliseconds timeout, bool fork_server) {
  Fd parent_end, child_end;
  // A fresh pair each try: a surrogate a failed try may have started
  // anyway (a server that answered too late) sees its end close and ends.
  auto new_pair = [&] {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      start_failed(std::string("socketpair: ") + std::strerror(errno));
    }
    parent_end = Fd(sv[0]);
    child_end = Fd(sv[1]);
    if (child_end.get() == kChildFd) child_end = Fd(::fcntl(kChildFd, F_DUPFD_CLOEXEC, kChildFd + 1));
  };
  new_pair();

  // Through the fork server when it can, with one more try through a new
  // server when the last one turned out to be gone; else (it cannot start,
  // or the kernel runs the program through an emulator) a program of its own.
  for (int tries = 0; fork_server && launcher.empty() && tries < 2; ++tries) {
    std::string why;
    std::shared_ptr<ForkServer> server = ForkServer::of(program, why);
    if (!server) break;
    std::vector<std::string> request{program};
    request.insert(request.end(), args.begin(), args.end());
    std::optional<ForkServer::Child> child = server->start(request, child_end.get(), timeout, why);
    if (child) {
      Process::NativePtr native(new Process::Native());
      native->pidfd = Fd(child->pidfd);
      native->leads_group = true;
      native->server = std::move(server);
      Spawned out{Process(child->pid, std::move(native)), Stream(io)};
      out.stream.assign(asio::local::stream_protocol(), parent_end.release());
      return out;
    }
    new_pair();
    if (server->alive()) break;  // it refused this start (fork failed): start the program
  }

  std::vector<std::string> argv = launcher;
  argv.push_back(program);
  argv.push_back("--fd");
  argv.push_back(std::to_string(kChildFd));
  argv.insert(argv.end(), args.begin(), args.end());

  pid_t pid = 0;
  int rc = spawn_program(argv, child_end.get(), pid);
  if (rc == ENOEXEC && launcher.empty()) {
    // A kernel without IA-32 emulation refuses i386 programs; run the same
    // 32-bit surrogate under a user-mode emulator when one is installed.
    std::vector<std::string> emu = find_i386_emulator();
    if (!emu.empty()) {
      argv.insert(argv.begin(), emu.begin(), emu.end());
      rc = spawn_program(argv, child_end.get(), pid);
    }
  }
  if (rc != 0) {
    start_failed("cannot start " + program + ": " + std::strerror(rc) +
                 (rc == ENOEXEC ? " (this kernel cannot run it and no emulator was found)" : ""));
  }
  Process::NativePtr native(new Process::Native());
  native->pidfd = Fd(open_pidfd(pid));
  native->leads_group = true;
  Spawned out{Process(pid, std::move(native)), Stream(io)};
  out.stream.assign(asio::local::stream_protocol(), parent_end.release());
  return out;
}

namespace {

// How long a refused or missing standalone endpoint is tried again.
constexpr std::chrono::milliseconds kConnectRetryBudget(1000);

// Refuses a socket file that is not a socket or not this user's: another
// user may have created the path first. Throws Error(unauthorized).
void check_socket_file(const std::string& endpoint, const struct stat& st) {
  if (!S_ISSOCK(st.st_mode)) {
    throw Error(ErrorKind::unauthorized, endpoint + " is not a socket; nothing was sent to it");
  }
  if (st.st_uid != ::geteuid()) {
    throw Error(ErrorKind::unauthorized, "the socket " + endpoint + " belongs to uid " +
                                             std::to_string(st.st_uid) + ", not to this user (uid " +
                                             std::to_string(::geteuid()) + "); nothing was sent to it");
  }
}

}  // namespace

Stream connect_endpoint(asio::io_context& io, const std::string& endpoint) {
  if (endpoint.empty() || endpoint.size() >= sizeof(sockaddr_un::sun_path)) {
    start_failed("socket path empty or too long: '" + endpoint + "'");
  }
  // A surrogate that is starting has no socket yet, or one that does not
  // listen yet: try again briefly, as the Windows path does for a busy pipe.
  const auto deadline = std::chrono::steady_clock::now() + kConnectRetryBudget;
  std::chrono::milliseconds pause(5);
  for (;;) {
    asio::error_code ec;
    struct stat st {};
    if (::lstat(endpoint.c_str(), &st) != 0) {
      ec = asio::error_code(errno, asio::system_category());
    } else {
      check_socket_file(endpoint, st);
      Stream stream(io);
      stream.connect(asio::local::stream_protocol::endpoint(endpoint), ec);
      if (!ec) {
        ucred peer{};
        socklen_t len = sizeof peer;
        if (::getsockopt(stream.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
          throw Error(ErrorKind::unauthorized,
                      "cannot tell who serves " + endpoint + ": " + std::strerror(errno));
        }
        if (peer.uid != ::geteuid()) {
          throw Error(ErrorKind::unauthorized, endpoint + " is served by pid " + std::to_string(peer.pid) +
                                                   " of uid " + std::to_string(peer.uid) +
                                                   ", not by this user (uid " + std::to_string(::geteuid()) +
                                                   "); nothing was sent to it");
        }
        return stream;
      }
    }
    const bool again = ec == asio::error::connection_refused || ec == asio::error::not_found ||
                       ec == asio::error::try_again || ec.value() == ENOENT;
    if (!again || std::chrono::steady_clock::now() + pause > deadline) {
      start_failed("cannot connect to surrogate at " + endpoint + ": " + ec.message());
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
}

std::string client_module_dir() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&client_module_dir), &info) != 0 && info.dli_fname) {
    std::string path = info.dli_fname;
    if (path.find('/') == std::string::npos) {
      char exe[4096];
      const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
      path = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : ".";
    }
    return path.substr(0, path.rfind('/'));
  }
  return ".";
}

std::vector<std::string> find_i386_emulator() {
  for (const char* name : {"qemu-i386-static", "qemu-i386"}) {
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
      const std::string path = std::string(dir) + "/" + name;
      if (::access(path.c_str(), X_OK) == 0) return {path};
    }
  }
  return {};
}

}  // namespace dllbridge::detail
