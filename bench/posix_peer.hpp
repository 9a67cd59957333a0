// What the POSIX benchmarks share: the raw ping-pong peer (bench/echo) on a
// socket pair, per-call latencies reported as percentiles, and pinning the
// other process to CPUs of its own (DLLBRIDGE_BENCH_PEER_CPUS).
#pragma once

#include <benchmark/benchmark.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench_paths.hpp"
#include "dllbridge/types.hpp"

extern char** environ;

namespace dllbridge::bench {

using Clock = std::chrono::steady_clock;

// Per-call times; median and 99th percentile.
class Latencies {
 public:
  void add(Clock::duration d) {
    ns_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  }
  void add_ns(double ns) { ns_.push_back(static_cast<std::int64_t>(ns)); }
  bool empty() const { return ns_.empty(); }
  // The q-quantile in microseconds (0 when nothing was added).
  double quantile_us(double q) {
    if (ns_.empty()) return 0;
    std::sort(ns_.begin(), ns_.end());
    const auto i = std::min(ns_.size() - 1, static_cast<std::size_t>(static_cast<double>(ns_.size()) * q));
    return static_cast<double>(ns_[i]) / 1000.0;
  }
  // Sets the counters PREFIXp50_us and PREFIXp99_us.
  void report(benchmark::State& state, const std::string& prefix = "") {
    if (ns_.empty()) return;
    state.counters[prefix + "p50_us"] = quantile_us(0.5);
    state.counters[prefix + "p99_us"] = quantile_us(0.99);
  }

 private:
  std::vector<std::int64_t> ns_;
};

// The program `name` in the folder of `file`.
inline std::string beside(const std::string& file, const std::string& name) {
  return file.substr(0, file.find_last_of('/') + 1) + name;
}

// DLLBRIDGE_BENCH_PEER_CPUS (a taskset CPU list, e.g. "1"): where the other
// process (surrogate, echo) runs; empty: wherever it inherits. The client's
// own CPUs are set from outside (taskset -c 0 PROGRAM).
inline std::string peer_cpus() {
  const char* v = std::getenv("DLLBRIDGE_BENCH_PEER_CPUS");
  return v ? v : "";
}

// The launcher that puts the other process on peer_cpus() (BridgeOptions::launcher).
inline std::vector<std::string> peer_launcher() {
  const std::string cpus = peer_cpus();
  if (cpus.empty()) return {};
  return {"taskset", "-c", cpus};
}

// Cpus_allowed_list of process `pid` (from /proc), "?" when unknown.
inline std::string cpus_allowed(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string key = "Cpus_allowed_list:";
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) == 0) {
      const auto start = line.find_first_not_of(" \t", key.size());
      return start == std::string::npos ? "?" : line.substr(start);
    }
  }
  return "?";
}

// A child process started with `args` (launched through peer_launcher())
// that holds the other end of a socket pair as descriptor 3; `fd` is ours.
struct SocketChild {
  pid_t pid = -1;
  int fd = -1;
  // `extra`: descriptors the child gets as 4, 5, ... too.
  explicit SocketChild(std::vector<std::string> args, const std::vector<int>& extra = {}) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
    std::vector<std::string> full = peer_launcher();
    full.insert(full.end(), args.begin(), args.end());
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, sv[1], 3);
    // Numbered above 4 + extra.size() first, so no dup2 below overwrites one not yet moved.
    std::vector<int> high;
    bool ready = extra.size() <= 12;
    for (const int fd : extra) {
      high.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 16));
      ready = ready && high.back() >= 0;
    }
    for (std::size_t i = 0; ready && i < high.size(); ++i) {
      ready = posix_spawn_file_actions_adddup2(&actions, high[i], static_cast<int>(4 + i)) == 0;
    }
    std::vector<char*> argv;
    for (auto& a : full) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (!ready || posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&actions);
    for (const int fd : high) {
      if (fd >= 0) ::close(fd);
    }
    ::close(sv[1]);
    fd = sv[0];
  }
  // Takes our end of the socket (the caller closes it from now on).
  int release_fd() {
    const int r = fd;
    fd = -1;
    return r;
  }
  ~SocketChild() {
    if (fd >= 0) ::close(fd);
    if (pid > 0) ::waitpid(pid, nullptr, 0);
  }
  SocketChild(const SocketChild&) = delete;
  SocketChild& operator=(const SocketChild&) = delete;
};

// What the floor benchmarks (overhead_bench, latency_bench) bridge to and
// echo with: surrogate32, the 32-bit sample and pingpong_echo32; with
// DLLBRIDGE_BENCH_BITS=64, surrogate64, the 64-bit sample and
// pingpong_echo64 (the bridge's own cost, measured natively where 32-bit
// programs run emulated). `missing`: why this build cannot, else null.
struct FloorPeer {
  Arch arch;
  const char* surrogate;
  const char* sample;
  const char* echo;  // the echo program, in the surrogate's folder
  const char* missing;
};

inline FloorPeer floor_peer() {
  const char* bits = std::getenv("DLLBRIDGE_BENCH_BITS");
  if (bits && std::string(bits) == "64")
    return {Arch::x64, kSurrogate64, kSample64, "pingpong_echo64", nullptr};
  return {Arch::x86, kSurrogate32, kSample32, "pingpong_echo32",
          kHave32 ? nullptr : "this build has no 32-bit part (DLLBRIDGE_BUILD_32BIT=OFF)"};
}

// The raw ping-pong peer of floor_peer()'s bitness: answers each frame with
// a frame of `reply_payload` bytes (0: the frame itself). `spin`: both ends
// poll before sleeping.
inline std::vector<std::string> echo_args(bool spin, std::size_t reply_payload = 0) {
  const FloorPeer peer = floor_peer();
  std::vector<std::string> args{beside(peer.surrogate, peer.echo), "3"};
  if (spin) args.push_back("--spin");
  if (reply_payload > 0) {
    args.push_back("--reply");
    args.push_back(std::to_string(reply_payload));
  }
  return args;
}

// Reads exactly n bytes (false at the end of the stream); `spin`: polls for
// up to 50 us before sleeping.
inline bool read_all(int fd, char* p, std::size_t n, bool spin) {
  while (n > 0) {
    ssize_t got = ::recv(fd, p, n, MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (spin) {
        const auto until = Clock::now() + std::chrono::microseconds(50);
        while ((got = ::recv(fd, p, n, MSG_DONTWAIT)) < 0 && errno == EAGAIN && Clock::now() < until) {
        }
      }
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd pfd{fd, POLLIN, 0};
        ::poll(&pfd, 1, -1);
        continue;
      }
    }
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

// Writes all n bytes (false when the peer went away).
inline bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t put = ::send(fd, p, n, MSG_NOSIGNAL);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    p += put;
    n -= static_cast<std::size_t>(put);
  }
  return true;
}

}  // namespace dllbridge::bench
