// What a trivial call costs against the floor of any out-of-process design,
// as ratios from the same run (absolute times on shared machines are noise):
//  - RawPingPong: the same request bytes to a process of the surrogate's
//    bitness that sends them straight back (bench/echo), over a socket pair:
//    the transport floor. `Spin`: both ends poll before sleeping.
//  - BridgeCall: add(a, b) through the typed API, standard and low-latency mode.
// Each reports its median and 99th percentile (counters p50_us, p99_us):
// compare the medians. For the one-CPU case run it under `taskset -c 0`.
#include <benchmark/benchmark.h>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "bench_paths.hpp"
#include "dllbridge/bridge.hpp"
#include "dllbridge/wire/frame.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

// Per-iteration times, reported as percentiles.
class Latencies {
 public:
  void add(Clock::duration d) {
    ns_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  }
  void report(benchmark::State& state) {
    if (ns_.empty()) return;
    std::sort(ns_.begin(), ns_.end());
    state.counters["p50_us"] = ns_[ns_.size() / 2] / 1000.0;
    state.counters["p99_us"] = ns_[ns_.size() * 99 / 100] / 1000.0;
  }

 private:
  std::vector<std::int64_t> ns_;
};

std::string beside(const std::string& file, const std::string& name) {
  return file.substr(0, file.find_last_of('/') + 1) + name;
}

// The echo process on the child's end of a socket pair.
struct Echo {
  pid_t pid = -1;
  int fd = -1;
  Echo(const std::string& program, bool spin) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, sv[1], 3);
    std::vector<std::string> args{program, "3"};
    if (spin) args.push_back("--spin");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(sv[1]);
    fd = sv[0];
  }
  ~Echo() {
    if (fd >= 0) ::close(fd);
    if (pid > 0) ::waitpid(pid, nullptr, 0);
  }
};

bool read_all(int fd, char* p, std::size_t n, bool spin) {
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
    if (got <= 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

void raw_ping_pong(benchmark::State& state, bool spin) {
  if (!dllbridge::bench::kHave32) {
    state.SkipWithError("this build has no 32-bit part (DLLBRIDGE_BUILD_32BIT=OFF)");
    return;
  }
  Echo echo(beside(dllbridge::bench::kSurrogate32, "pingpong_echo32"), spin);
  if (echo.pid <= 0) {
    state.SkipWithError("cannot start pingpong_echo32");
    return;
  }
  // The bytes of a call of add(1, 2), as the bridge frames it.
  dllbridge::wire::Frame frame;
  dllbridge::wire::Request* req = frame.mutable_request();
  req->set_id(1);
  req->mutable_call()->set_function(1);
  req->mutable_call()->add_args()->set_i(1);
  req->mutable_call()->add_args()->set_i(2);
  const std::string bytes = dllbridge::wire::encode_frame(frame);
  std::string back(bytes.size(), '\0');
  Latencies lat;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    if (::send(echo.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size()) ||
        !read_all(echo.fd, back.data(), back.size(), spin)) {
      state.SkipWithError("the echo process went away");
      break;
    }
    lat.add(Clock::now() - t0);
  }
  lat.report(state);
}

void BM_RawPingPong(benchmark::State& state) { raw_ping_pong(state, false); }
BENCHMARK(BM_RawPingPong)->UseRealTime();

void BM_RawPingPongSpin(benchmark::State& state) { raw_ping_pong(state, true); }
BENCHMARK(BM_RawPingPongSpin)->UseRealTime();

void bridge_call(benchmark::State& state, bool low_latency) {
  if (!dllbridge::bench::kHave32) {
    state.SkipWithError("this build has no 32-bit part (DLLBRIDGE_BUILD_32BIT=OFF)");
    return;
  }
  dllbridge::BridgeOptions o;
  o.surrogate_path = dllbridge::bench::kSurrogate32;
  o.low_latency = low_latency;
  dllbridge::Bridge bridge(o);
  auto add =
      bridge.load(dllbridge::bench::kSample32).function<std::int32_t(std::int32_t, std::int32_t)>("add");
  std::int32_t v = 0;
  Latencies lat;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    benchmark::DoNotOptimize(v = add(v, 1));
    lat.add(Clock::now() - t0);
  }
  lat.report(state);
}

void BM_BridgeCall(benchmark::State& state) { bridge_call(state, false); }
BENCHMARK(BM_BridgeCall)->UseRealTime();

void BM_BridgeCallLowLatency(benchmark::State& state) { bridge_call(state, true); }
BENCHMARK(BM_BridgeCallLowLatency)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
