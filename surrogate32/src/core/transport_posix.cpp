#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>

#include "dllbridge/wire/frame.hpp"
#include "core/stream_transport.hpp"
#include "core/transport.hpp"

namespace dllbridge::surrogate {
namespace {

std::string g_socket_path;  // unlinked when a signal ends standalone mode

extern "C" void on_stop_signal(int sig) {
  if (!g_socket_path.empty()) ::unlink(g_socket_path.c_str());
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

namespace {

// Moves descriptor `fd` to a number drawn at random from [100, 1000) (kept
// below the descriptor limit), close-on-exec, and closes `fd`: the channel
// is then neither at the well-known number the client passed it on nor
// inherited by programs the library runs. Returns `fd` itself (made
// close-on-exec) when there is no room above 100.
int move_to_random_fd(int fd) {
  rlimit lim{};
  rlim_t top = 1000;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    top = std::min<rlim_t>(top, lim.rlim_cur);
  if (top > 101) {
    std::random_device rd;
    const int base = std::uniform_int_distribution<int>(100, static_cast<int>(top) - 1)(rd);
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, base);
    if (moved < 0) moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 100);  // every number above base taken
    if (moved >= 0) {
      ::close(fd);
      return moved;
    }
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

// The death signal of a surrogate that leads its process group: its handler
// takes the group (the surrogate and whatever the library started) down.
// A real-time signal, which a legacy library is unlikely to claim.
int group_death_signal() { return SIGRTMIN + 2; }

extern "C" void on_parent_death(int) { ::kill(0, SIGKILL); }  // async-signal-safe

// Ends this process because its client is gone: with its whole process
// group when it leads one (the client made it so), else alone.
[[noreturn]] void die_with_client() {
  end_process_group();
  ::_exit(0);
}

}  // namespace

Stream adopt_inherited(asio::io_context& io, const std::string& value) {
  int fd = -1;
  try {
    fd = std::stoi(value);
  } catch (const std::exception&) {
    throw std::runtime_error("--fd expects a file descriptor number, got '" + value + "'");
  }
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    throw std::runtime_error("--fd " + value + " is not an inherited socket");
  }
  fd = move_to_random_fd(fd);  // the DLL must not leak it into its own children
  Stream stream(io);
  stream.assign(asio::local::stream_protocol(), fd);
  return stream;
}

void follow_parent(long parent_pid) {
  // The client spawns from a thread that lives as long as the client, so
  // "parent thread died" means "client died". A surrogate the client made
  // the leader of its own process group takes the group with it (what the
  // library started), through a handler; any other gets a plain SIGKILL.
  int death_signal = SIGKILL;
  if (::getpgrp() == ::getpid()) {
    struct sigaction sa {};
    sa.sa_handler = on_parent_death;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(group_death_signal(), &sa, nullptr) == 0) death_signal = group_death_signal();
  }
  ::prctl(PR_SET_PDEATHSIG, death_signal);
  if (::getppid() != parent_pid) die_with_client();  // gone before the line above
  // Belt and braces where the death signal is not delivered (some emulators)
  // or the library took over its handler.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(parent_pid), 0));
  std::thread([pidfd, parent_pid] {
    for (;;) {
      if (pidfd >= 0) {
        pollfd p{pidfd, POLLIN, 0};
        if (::poll(&p, 1, 1000) > 0) die_with_client();
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      if (::getppid() != parent_pid) die_with_client();
    }
  }).detach();
}

void end_process_group() {
  if (::getpgrp() == ::getpid()) ::kill(0, SIGKILL);
}

void listen(asio::io_context& io, const std::string& endpoint, const std::function<void(Stream&)>& serve) {
  if (endpoint.size() >= sizeof(sockaddr_un::sun_path)) {
    throw std::runtime_error("socket path too long: " + endpoint);
  }
  struct stat st {};
  if (::lstat(endpoint.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw std::runtime_error(endpoint + " exists and is not a socket");
    ::unlink(endpoint.c_str());  // a stale socket from an earlier run
  }
  const mode_t old_mask = ::umask(0077);  // the socket file: owner only
  asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol::endpoint(endpoint));
  ::umask(old_mask);
  g_socket_path = endpoint;
  ::signal(SIGINT, on_stop_signal);
  ::signal(SIGTERM, on_stop_signal);
  spdlog::info("listening on {}", endpoint);

  for (;;) {
    Stream stream(io);
    acceptor.accept(stream);
    ucred peer{};
    socklen_t len = sizeof peer;
    if (::getsockopt(stream.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
      reject_unauthorized(stream, std::string("cannot read peer credentials: ") + std::strerror(errno));
      continue;
    }
    if (peer.uid != ::geteuid()) {
      spdlog::warn("rejected pid {} of uid {} (serving uid {})", peer.pid, peer.uid, ::geteuid());
      reject_unauthorized(stream, "peer uid " + std::to_string(peer.uid) + " is not the surrogate's user");
      continue;
    }
    spdlog::info("session from pid {}", peer.pid);
    serve(stream);
    spdlog::info("session from pid {} ended", peer.pid);
  }
}

void interrupt(Stream& stream, const std::atomic<bool>&) noexcept {
  // Sticky: a blocked recv returns 0 now, and so does every later one.
  ::shutdown(stream.native_handle(), SHUT_RDWR);
}

unsigned current_pid() { return static_cast<unsigned>(::getpid()); }

}  // namespace dllbridge::surrogate
