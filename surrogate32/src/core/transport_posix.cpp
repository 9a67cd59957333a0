#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <cstdint>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>

#include "dllbridge/rpc/fd_passing.hpp"
#include "dllbridge/wire/frame.hpp"
#include "core/stream_transport.hpp"
#include "core/transport.hpp"

namespace dllbridge::surrogate {
namespace {

// The socket file this process created, removed when a signal ends
// standalone mode: only if the path still names that very file (another
// surrogate may have replaced a stale one since). Set before the handlers.
char g_socket_path[sizeof(sockaddr_un::sun_path)];
dev_t g_socket_dev = 0;
ino_t g_socket_ino = 0;

// Async-signal-safe (lstat, unlink).
void remove_own_socket() noexcept {
  struct stat st {};
  if (g_socket_path[0] != '\0' && ::lstat(g_socket_path, &st) == 0 && st.st_dev == g_socket_dev &&
      st.st_ino == g_socket_ino) {
    ::unlink(g_socket_path);
  }
}

extern "C" void on_stop_signal(int sig) {
  const int saved = errno;
  remove_own_socket();
  errno = saved;
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// Makes room for a socket at `path`: nothing there, or a stale socket that
// takes no connection (removed). Throws when something else is there or a
// surrogate (anything) serves it.
void claim_path(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode)) throw std::runtime_error(path + " exists and is not a socket");
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (probe < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(probe);
  // Accepted, or a full backlog (EAGAIN): someone listens there.
  if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
    throw std::runtime_error(path +
                             " is already served by another process (connect succeeded); not taking it over");
  }
  if (err != ECONNREFUSED && err != ENOENT) {
    throw std::runtime_error("cannot tell whether " + path + " is served: " + std::strerror(err));
  }
  ::unlink(path.c_str());  // a stale socket from an earlier run
}

// Says "ready" on `target` (a file descriptor number); closes it unless it
// is standard output or error.
void signal_ready(const std::string& target) {
  if (target.empty()) return;
  int fd = -1;
  try {
    fd = std::stoi(target);
  } catch (const std::exception&) {
    throw std::runtime_error("--ready-fd expects a file descriptor number, got '" + target + "'");
  }
  const char line[] = "ready\n";
  if (fd < 0 || ::write(fd, line, sizeof line - 1) != static_cast<ssize_t>(sizeof line - 1)) {
    throw std::runtime_error("cannot write to --ready-fd " + target + ": " + std::strerror(errno));
  }
  if (fd > 2) ::close(fd);
}

// Who is at the other end of `stream`, or why that cannot be told.
bool peer_credentials(Stream& stream, ucred& peer, std::string& why) {
  socklen_t len = sizeof peer;
  if (::getsockopt(stream.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
    why = std::string("cannot read peer credentials: ") + std::strerror(errno);
    return false;
  }
  return true;
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
    // getrandom(), not std::random_device: its set-up runs CPUID, a trap
    // costing microseconds each on virtual machines, and this runs at every
    // start (docs/performance.md, "Start and restart").
    std::uint32_t draw = 0;
    if (::getrandom(&draw, sizeof draw, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof draw)) {
      draw = static_cast<std::uint32_t>(::getpid()) * 2654435761u;  // no entropy yet: still not fixed
    }
    const int base = 100 + static_cast<int>(draw % static_cast<std::uint32_t>(top - 100));
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

void follow_parent(long parent_pid, bool forked) {
  if (forked) {
    // The fork server is the parent: no death signal (its end is not the
    // client's), and no getppid() checks; the client's pidfd says it all.
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(parent_pid), 0));
    if (pidfd < 0) die_with_client();  // gone already (the server needs pidfds: it has them)
    std::thread([pidfd, parent_pid] {
      pollfd p{pidfd, POLLIN, 0};
      for (;;) {
        const int r = ::poll(&p, 1, -1);
        if (r > 0) break;
        if (r < 0 && errno != EINTR) {
          // Cannot wait on it (should not happen): look every 200 ms.
          while (::kill(static_cast<pid_t>(parent_pid), 0) == 0 || errno != ESRCH) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
          }
          break;
        }
      }
      die_with_client();
    }).detach();
    return;
  }
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

void listen(asio::io_context& io, const ListenOptions& options,
            const std::function<void(Stream&, const std::string& peer)>& serve) {
  const std::string& endpoint = options.endpoint;
  if (endpoint.empty() || endpoint.size() >= sizeof(sockaddr_un::sun_path)) {
    throw std::runtime_error("socket path empty or too long: '" + endpoint + "'");
  }
  claim_path(endpoint);
  const mode_t old_mask = ::umask(0077);  // the socket file: owner only
  asio::local::stream_protocol::acceptor acceptor(io);
  acceptor.open();
  asio::error_code ec;
  acceptor.bind(asio::local::stream_protocol::endpoint(endpoint), ec);
  ::umask(old_mask);
  if (ec) throw std::runtime_error("cannot bind " + endpoint + ": " + ec.message());
  struct stat mine {};
  if (::lstat(endpoint.c_str(), &mine) != 0) throw std::runtime_error("the socket " + endpoint + " vanished");
  std::memcpy(g_socket_path, endpoint.c_str(), endpoint.size() + 1);
  g_socket_dev = mine.st_dev;
  g_socket_ino = mine.st_ino;
  struct Remove {
    ~Remove() { remove_own_socket(); }
  } remove_at_exit;
  ::signal(SIGINT, on_stop_signal);
  ::signal(SIGTERM, on_stop_signal);
  ::signal(SIGPIPE, SIG_IGN);  // a client gone mid-reply is a write error, not our end
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + endpoint + ": " + ec.message());
  spdlog::info("listening on {} (at most {} sessions at once)", endpoint, options.max_sessions);
  signal_ready(options.ready);

  auto active = std::make_shared<std::atomic<int>>(0);
  for (;;) {
    Stream stream(io);
    acceptor.accept(stream, ec);
    if (ec) {
      if (ec == asio::error::interrupted || ec == asio::error::connection_aborted) continue;
      throw std::runtime_error("accepting on " + endpoint + ": " + ec.message());
    }
    ucred peer{};
    std::string why;
    if (!peer_credentials(stream, peer, why)) {
      reject(std::move(stream), wire::UNAUTHORIZED, why);
      continue;
    }
    if (peer.uid != ::geteuid()) {
      spdlog::warn("rejected pid {} of uid {} (serving uid {})", peer.pid, peer.uid, ::geteuid());
      reject(std::move(stream), wire::UNAUTHORIZED,
             "peer uid " + std::to_string(peer.uid) + " is not the surrogate's user");
      continue;
    }
    serve_detached(std::move(stream), static_cast<unsigned long>(peer.pid), options.max_sessions, active,
                   serve);
  }
}

PassedFds::~PassedFds() {
  for (const int fd : fds_) ::close(fd);
}

void PassedFds::add(int fd) {
  std::lock_guard lock(mu_);
  if (fds_.size() < 4) {
    fds_.push_back(fd);
  } else {
    ::close(fd);  // a peer that floods us with descriptors gets none kept
  }
}

int PassedFds::take() {
  std::lock_guard lock(mu_);
  if (fds_.empty()) return -1;
  const int fd = fds_.front();
  fds_.erase(fds_.begin());
  return fd;
}

namespace {

// recv without blocking, keeping the descriptors that came with the bytes.
ssize_t receive_with_fds(int fd, void* data, std::size_t size, PassedFds* fds) {
  return rpc::receive_with_fds(
      fd, data, size, MSG_DONTWAIT,
      [](void* sink, int passed) {
        if (sink) {
          static_cast<PassedFds*>(sink)->add(passed);
        } else {
          ::close(passed);
        }
      },
      fds);
}

}  // namespace

std::size_t read_some_within(Stream& stream, asio::mutable_buffer buffer, std::chrono::milliseconds timeout,
                             asio::error_code& ec, PassedFds* fds) {
  ec = {};
  const int fd = stream.native_handle();
  for (;;) {
    // What is there already costs one call; a wait only when nothing is.
    const ssize_t n = receive_with_fds(fd, buffer.data(), buffer.size(), fds);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) {
      ec = asio::error::eof;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = asio::error_code(errno, asio::system_category());
      return 0;
    }
    pollfd p{fd, POLLIN, 0};
    const int wait =
        timeout.count() <= 0 ? -1 : static_cast<int>(std::min<long long>(timeout.count(), 1 << 30));
    const int r = ::poll(&p, 1, wait);
    if (r == 0) {
      ec = asio::error::timed_out;
      return 0;
    }
    if (r < 0 && errno != EINTR) {
      ec = asio::error_code(errno, asio::system_category());
      return 0;
    }
  }
}

void interrupt(Stream& stream, const std::atomic<bool>&) noexcept {
  // Sticky: a blocked recv returns 0 now, and so does every later one.
  ::shutdown(stream.native_handle(), SHUT_RDWR);
}

std::string read_token_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) throw std::runtime_error("cannot read token file " + path + ": " + std::strerror(errno));
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw std::runtime_error("token file " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    throw std::runtime_error("token file " + path + " is open to other users (mode " +
                             std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                             std::to_string(st.st_mode & 7) + "); make it owner-only (chmod 600)");
  }
  std::string token;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && token.size() <= kMaxTokenSize) {
    token.append(buf, static_cast<std::size_t>(n));
  }
  if (n < 0) throw std::runtime_error("cannot read token file " + path + ": " + std::strerror(errno));
  return checked_token(token, path);
}

unsigned current_pid() { return static_cast<unsigned>(::getpid()); }

}  // namespace dllbridge::surrogate
