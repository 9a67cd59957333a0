#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "dllbridge/rpc/fd_passing.hpp"
#include "dllbridge/wire/fork_server.hpp"
#include "process/fork_server_posix.hpp"

extern char** environ;

namespace dllbridge::detail {
namespace {

namespace fs = wire::fork_server;

constexpr int kServerFd = 3;  // where the server finds its socket

struct Registry {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<ForkServer>> servers;  // by program path
  // Servers a fork of this process inherited: their reader threads did not
  // come along, so they are neither used nor destroyed there.
  std::vector<std::shared_ptr<ForkServer>> inherited;
};

// Never destroyed: a server lives as long as this process, and a Bridge
// may be destroyed during static destruction.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

// How process `pid` ended, from /proc/PID/stat while it is a zombie not yet
// reaped (its pid cannot name another process then): field 52, its status
// as waitpid() gives it. Empty when it is not a zombie, or the status reads
// 0 (also what a process this user may not inspect shows): the server's
// report says then.
std::optional<ExitStatus> zombie_status(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char text[2048];
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  text[n] = '\0';
  const char* at = std::strrchr(text, ')');  // the name may hold anything
  if (!at || at[1] != ' ' || at[2] != 'Z') return std::nullopt;
  at += 2;  // field 3, the state
  for (int field = 3; field < 52; ++field) {
    at = std::strchr(at, ' ');
    if (!at) return std::nullopt;
    ++at;
  }
  const int code = std::atoi(at);
  if (code == 0) return std::nullopt;
  if (WIFSIGNALED(code)) return ExitStatus{true, WTERMSIG(code)};
  return ExitStatus{false, WEXITSTATUS(code)};
}

void keep_one(void* context, int fd) {
  int& kept = *static_cast<int*>(context);
  if (kept < 0) {
    kept = fd;
  } else {
    ::close(fd);
  }
}

}  // namespace

std::shared_ptr<ForkServer> ForkServer::of(const std::string& program, std::string& why) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::shared_ptr<ForkServer>& slot = r.servers[program];
  if (slot && slot->alive()) return slot;
  if (slot && slot->owner_ != ::getpid()) r.inherited.push_back(slot);
  slot.reset();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    why = std::string("socketpair: ") + std::strerror(errno);
    return nullptr;
  }
  int child_end = sv[1];
  if (child_end == kServerFd) {
    child_end = ::fcntl(kServerFd, F_DUPFD_CLOEXEC, kServerFd + 1);
    ::close(sv[1]);
  }
  pid_t pid = 0;
  const int rc = spawn_program({program, "--fork-server", "--fd", std::to_string(kServerFd)}, child_end, pid);
  ::close(child_end);
  if (rc != 0) {
    ::close(sv[0]);
    why = "cannot start the fork server " + program + ": " + std::strerror(rc);
    return nullptr;
  }
  slot.reset(new ForkServer(pid, sv[0]));
  return slot;
}

ForkServer::ForkServer(pid_t pid, int sock) : pid_(pid), owner_(::getpid()), sock_(sock) {
  reader_ = std::thread([this] { read_loop(); });
}

ForkServer::~ForkServer() {
  ::shutdown(sock_, SHUT_RDWR);  // the reader sees the end; the server sees it too and exits
  if (reader_.joinable()) reader_.join();
  if (reply_ && reply_->pidfd >= 0) ::close(reply_->pidfd);
  ::close(sock_);
}

bool ForkServer::alive() {
  if (owner_ != ::getpid()) return false;
  {
    std::lock_guard lock(mu_);
    if (dead_) return false;
  }
  // An ended server hangs the socket up before its reader has seen it.
  pollfd p{sock_, POLLIN, 0};
  return !(::poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0);
}

void ForkServer::give_up() {
  dead_ = true;
  ::kill(pid_, SIGKILL);  // a late answer must not be taken for a later request's
  if (reply_ && reply_->pidfd >= 0) ::close(reply_->pidfd);
  reply_.reset();
  cv_.notify_all();
}

void ForkServer::read_loop() {
  for (;;) {
    fs::Message m;
    int fd = -1;
    const ssize_t n = rpc::receive_with_fds(sock_, &m, sizeof m, 0, keep_one, &fd);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof m) || (m.kind != fs::started && m.kind != fs::ended)) {
      if (fd >= 0) ::close(fd);
      break;  // the server is gone, or says what it should not: it is not used again
    }
    std::lock_guard lock(mu_);
    if (dead_ && m.kind == fs::started) {
      if (fd >= 0) ::close(fd);  // a late answer: nobody takes it
      continue;
    }
    if (m.kind == fs::started) {
      if (reply_ && reply_->pidfd >= 0) ::close(reply_->pidfd);  // not taken (cannot happen)
      reply_.reset();
      if (m.pid > 0) {  // a reused pid: what was said of the old one is stale
        ended_.erase(m.pid);
        told_early_.erase(m.pid);
      }
      if (m.pid > 0 && fd >= 0) {
        reply_ = Child{m.pid, fd};
        fd = -1;
      }
      reply_error_ = m.pid > 0 ? (fd >= 0 ? 0 : EPROTO) : m.code;
      replied_ = true;
    } else if (told_early_.erase(m.pid) == 0) {
      ended_[m.pid] = ExitStatus{m.signaled != 0, m.code};
    }
    if (fd >= 0) ::close(fd);
    cv_.notify_all();
  }
  {
    std::lock_guard lock(mu_);
    dead_ = true;
    cv_.notify_all();
  }
  ::kill(pid_, SIGKILL);  // in case it is still there, saying nonsense
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

std::optional<ForkServer::Child> ForkServer::start(const std::vector<std::string>& args, int endpoint,
                                                   std::chrono::milliseconds timeout, std::string& why) {
  // The environment and working directory go along: the surrogate gets
  // this process's as they are now, as a program started now would.
  std::string request;
  auto field = [&](char kind, const char* value) {
    request += kind;
    request += ':';
    request += value;
    request += '\0';
  };
  for (const std::string& a : args) field('a', a.c_str());
  for (char** e = environ; e && *e; ++e) field('e', *e);
  char dir[4096];
  if (!::getcwd(dir, sizeof dir)) {
    why = std::string("no working directory to pass on: ") + std::strerror(errno);
    return std::nullopt;  // started as a program instead, it inherits whatever this process has
  }
  field('d', dir);
  if (request.size() > fs::kMaxRequest) {
    why = "the command line and environment are too long for the fork server";
    return std::nullopt;
  }
  std::lock_guard one(start_mu_);
  std::unique_lock lock(mu_);
  if (dead_) {
    why = "the fork server has ended";
    return std::nullopt;
  }
  replied_ = false;
  lock.unlock();
  ssize_t sent;
  do {
    sent = rpc::send_with_fd(sock_, request.data(), request.size(), endpoint);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    why = std::string("cannot reach the fork server: ") + std::strerror(errno);
    lock.lock();
    give_up();
    return std::nullopt;
  }
  lock.lock();
  if (!cv_.wait_for(lock, timeout, [&] { return replied_ || dead_; })) {
    why = "the fork server did not answer within " + std::to_string(timeout.count()) + " ms";
    give_up();
    return std::nullopt;
  }
  if (!replied_) {
    why = "the fork server ended";
    return std::nullopt;
  }
  if (!reply_) why = std::string("the fork server could not start it: ") + std::strerror(reply_error_);
  return std::exchange(reply_, std::nullopt);
}

std::optional<ExitStatus> ForkServer::status(pid_t pid, Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (ended_.count(pid) == 0) {
    // Sooner than the server's report, which follows its own wake-up; the
    // report is dropped when it comes.
    if (std::optional<ExitStatus> early = zombie_status(pid)) {
      told_early_.insert(pid);
      return early;
    }
  }
  cv_.wait_until(lock, deadline, [&] { return ended_.count(pid) != 0 || dead_; });
  const auto it = ended_.find(pid);
  if (it == ended_.end()) {
    if (dead_) return ExitStatus{false, -1};  // reaped elsewhere: nothing more to learn
    return std::nullopt;
  }
  ExitStatus s = it->second;
  ended_.erase(it);
  return s;
}

}  // namespace dllbridge::detail
