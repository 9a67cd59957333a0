#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/fork_server.hpp"
#include "dllbridge/rpc/fd_passing.hpp"
#include "dllbridge/wire/fork_server.hpp"

namespace dllbridge::surrogate {
namespace {

namespace fs = wire::fork_server;

void send_message(int sock, const fs::Message& m, int fd = -1) {
  // A client that went away is seen by the next read; nothing to do here.
  if (fd >= 0) {
    (void)rpc::send_with_fd(sock, &m, sizeof m, fd);
  } else {
    (void)::send(sock, &m, sizeof m, MSG_NOSIGNAL);
  }
}

// Kills the group of each child that has ended (what its library started
// goes with it; its group id is still its own until it is reaped), reaps it
// and tells the client how it ended.
void reap_ended(int sock) {
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) return;
    const pid_t pid = info.si_pid;
    ::kill(-pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    fs::Message m;
    m.kind = fs::ended;
    m.pid = pid;
    m.signaled = info.si_code == CLD_EXITED ? 0 : 1;
    m.code = info.si_status;
    send_message(sock, m);
  }
}

void keep_fd(void* context, int fd) { static_cast<std::vector<int>*>(context)->push_back(fd); }

// What a request asks for (dllbridge/wire/fork_server.hpp).
struct Request {
  std::vector<std::string> args;
  std::vector<std::string> env;  // NAME=VALUE
  std::string dir;
};

// Parses '\0'-ended "a:" / "e:" / "d:" fields; false when malformed or
// without an argv[0].
bool parse_request(const char* data, std::size_t size, Request& r) {
  if (size == 0 || data[size - 1] != '\0') return false;
  for (std::size_t at = 0; at < size;) {
    const std::string_view field(data + at);
    at += field.size() + 1;
    if (field.size() < 2 || field[1] != ':') return false;
    const std::string_view value = field.substr(2);
    switch (field[0]) {
      case 'a': r.args.emplace_back(value); break;
      case 'e':
        if (value.find('=') == std::string_view::npos) return false;
        r.env.emplace_back(value);
        break;
      case 'd': r.dir = value; break;
      default: return false;
    }
  }
  return !r.args.empty();
}

// In the child: the environment and working directory the client has now,
// as a program it started would get them.
void take_client_state(const Request& r) {
  ::clearenv();
  for (const std::string& e : r.env) {
    const std::size_t eq = e.find('=');
    ::setenv(e.substr(0, eq).c_str(), e.c_str() + eq + 1, 1);
  }
  if (!r.dir.empty() && ::chdir(r.dir.c_str()) != 0) {
    std::fprintf(stderr, "surrogate: cannot enter the client's working directory %s: %s\n", r.dir.c_str(),
                 std::strerror(errno));
  }
}

// In the child: its command line as ps shows it becomes "PROGRAM --forked"
// (the server's own arguments blanked), within the server's argv strings.
void retitle(int argc, char** argv) {
  if (argc < 2) return;
  const std::size_t room = std::strlen(argv[1]);
  for (int i = 1; i < argc; ++i) std::memset(argv[i], 0, std::strlen(argv[i]));
  static const char kTitle[] = "--forked";
  if (room >= sizeof kTitle - 1) std::memcpy(argv[1], kTitle, sizeof kTitle - 1);
}

}  // namespace

int serve_forks(int sock, int argc, char** argv, const ForkedMain& run) {
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET) {
    std::fprintf(stderr, "surrogate: --fork-server needs --fd naming a SOCK_SEQPACKET socket\n");
    return 2;
  }
  // No death signal: the client may have started this from a thread that
  // ends before it does. Its end closes the socket, which ends this; the
  // children watch the client themselves.
  //
  // Its children are its to reap, whatever the client did with SIGCHLD
  // (ignored, it would make the kernel reap them unseen); they get back
  // what the server inherited, as a started program would.
  struct sigaction chld_action {
  }, inherited_action{};
  chld_action.sa_handler = SIG_DFL;
  sigemptyset(&chld_action.sa_mask);
  ::sigaction(SIGCHLD, &chld_action, &inherited_action);
  sigset_t chld, before;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, &before);
  const int sig = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sig < 0) {
    std::fprintf(stderr, "surrogate: signalfd: %s\n", std::strerror(errno));
    return 1;
  }
  std::vector<char> request(fs::kMaxRequest + 1);
  for (;;) {
    pollfd p[2] = {{sock, POLLIN, 0}, {sig, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "surrogate: fork server poll: %s\n", std::strerror(errno));
      return 1;
    }
    if (p[1].revents != 0) {
      signalfd_siginfo drained[8];
      while (::read(sig, drained, sizeof drained) > 0) {
      }
      reap_ended(sock);
    }
    if (p[0].revents == 0) continue;
    std::vector<int> fds;
    const ssize_t n = rpc::receive_with_fds(sock, request.data(), request.size(), 0, keep_fd, &fds);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;  // the client closed its end, or is gone
    Request r;
    fs::Message reply;
    reply.kind = fs::started;
    if (fds.size() != 1 || static_cast<std::size_t>(n) > fs::kMaxRequest ||
        !parse_request(request.data(), static_cast<std::size_t>(n), r)) {
      reply.code = EINVAL;
    } else {
      r.args.push_back("--fd");
      r.args.push_back(std::to_string(fds[0]));
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::close(sock);
        ::close(sig);
        ::sigaction(SIGCHLD, &inherited_action, nullptr);
        ::sigprocmask(SIG_SETMASK, &before, nullptr);
        ::setpgid(0, 0);
        retitle(argc, argv);
        take_client_state(r);
        std::exit(run(r.args));
      }
      if (pid < 0) {
        reply.code = errno;
      } else {
        ::setpgid(pid, pid);  // as the child does: whichever runs first
        const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
        if (pidfd < 0) {
          reply.code = errno;
          ::kill(-pid, SIGKILL);  // not watchable: reaped and reported as any other
        } else {
          reply.pid = pid;
          send_message(sock, reply, pidfd);
          ::close(pidfd);
        }
      }
    }
    for (int fd : fds) ::close(fd);
    if (reply.pid == 0) send_message(sock, reply);
  }
}

}  // namespace dllbridge::surrogate
