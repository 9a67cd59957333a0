// What a trivial call costs against the floor of any out-of-process design,
// as ratios from the same run (absolute times on shared machines are noise):
//  - RawPingPong: the same request bytes to a process of the surrogate's
//    bitness that sends them straight back (bench/echo), over a socket pair:
//    the transport floor. `Spin`: both ends poll before sleeping.
//  - ShmPingPongFutex, ShmPingPongEventfd: the same bytes through a shared page
//    instead, the waiting side sleeping on a futex, or in poll on an eventfd
//    (which could watch a socket too): the floor of a transport that would
//    not carry frames over the socket (docs/performance.md, "What 1.5x on
//    one CPU would take").
//  - BridgeCall: add(a, b) through the typed API, standard and low-latency mode.
// Each reports its median and 99th percentile (counters p50_us, p99_us):
// compare the medians. For the one-CPU case run it under `taskset -c 0`;
// for client and peer on different CPUs, `taskset -c 0` with
// DLLBRIDGE_BENCH_PEER_CPUS=1 (the label says where each process may run,
// read from /proc/PID/status). scripts/bench.sh --pin runs both.
// DLLBRIDGE_BENCH_BITS=64: surrogate64 and pingpong_echo64 instead of the
// 32-bit ones (posix_peer.hpp, floor_peer).
#include <benchmark/benchmark.h>

#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "bench_paths.hpp"
#include "dllbridge/bridge.hpp"
#include "dllbridge/wire/frame.hpp"
#include "posix_peer.hpp"

namespace {

using dllbridge::bench::Clock;
using dllbridge::bench::cpus_allowed;
using dllbridge::bench::Latencies;

// Where this process and `peer` may run, as the kernel says.
std::string where(long peer) {
  return "cpus: client " + cpus_allowed(static_cast<long>(::getpid())) + ", peer " + cpus_allowed(peer);
}

// The bytes of a call of add(1, 2), as the bridge frames it.
std::string add_frame() {
  dllbridge::wire::Frame frame;
  dllbridge::wire::Request* req = frame.mutable_request();
  req->set_id(1);
  req->mutable_call()->set_function(1);
  req->mutable_call()->add_args()->set_i(1);
  req->mutable_call()->add_args()->set_i(2);
  return dllbridge::wire::encode_frame(frame);
}

void raw_ping_pong(benchmark::State& state, bool spin) {
  if (const char* why = dllbridge::bench::floor_peer().missing) {
    state.SkipWithError(why);
    return;
  }
  dllbridge::bench::SocketChild echo(dllbridge::bench::echo_args(spin));
  if (echo.pid <= 0) {
    state.SkipWithError((std::string("cannot start ") + dllbridge::bench::floor_peer().echo).c_str());
    return;
  }
  const std::string bytes = add_frame();
  std::string back(bytes.size(), '\0');
  Latencies lat;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    if (!dllbridge::bench::write_all(echo.fd, bytes.data(), bytes.size()) ||
        !dllbridge::bench::read_all(echo.fd, back.data(), back.size(), spin)) {
      state.SkipWithError("the echo process went away");
      break;
    }
    lat.add(Clock::now() - t0);
  }
  lat.report(state);
  state.SetLabel(where(echo.pid));
}

void BM_RawPingPong(benchmark::State& state) { raw_ping_pong(state, false); }
BENCHMARK(BM_RawPingPong)->UseRealTime();

void BM_RawPingPongSpin(benchmark::State& state) { raw_ping_pong(state, true); }
BENCHMARK(BM_RawPingPongSpin)->UseRealTime();

// One direction of the shared page (pingpong_echo.c, struct shm_slot).
struct ShmSlot {
  std::atomic<std::uint32_t> seq;
  std::uint32_t size;
  char bytes[2040];
};
static_assert(sizeof(ShmSlot) == 2048);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "shared with another process");

// Owns a descriptor.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// The waiting side sleeps on a futex, or (`use_eventfd`) in poll on an eventfd.
void shm_ping_pong(benchmark::State& state, bool use_eventfd) {
  if (const char* why = dllbridge::bench::floor_peer().missing) {
    state.SkipWithError(why);
    return;
  }
  Fd page_fd(::memfd_create("dllbridge-bench-shm", MFD_CLOEXEC));
  Fd to_echo(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  Fd from_echo(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (page_fd.fd < 0 || to_echo.fd < 0 || from_echo.fd < 0 || ::ftruncate(page_fd.fd, 4096) != 0) {
    state.SkipWithError("cannot make the shared page");
    return;
  }
  void* map = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, page_fd.fd, 0);
  if (map == MAP_FAILED) {
    state.SkipWithError("cannot map the shared page");
    return;
  }
  auto* req = static_cast<ShmSlot*>(map);
  auto* rep = reinterpret_cast<ShmSlot*>(static_cast<char*>(map) + 2048);
  std::vector<std::string> args = dllbridge::bench::echo_args(false);
  args.push_back("--shm");
  args.push_back(use_eventfd ? "eventfd" : "futex");
  std::uint32_t seq = 0;
  {
    dllbridge::bench::SocketChild echo(args, {page_fd.fd, to_echo.fd, from_echo.fd});
    if (echo.pid <= 0) {
      state.SkipWithError((std::string("cannot start ") + dllbridge::bench::floor_peer().echo).c_str());
      ::munmap(map, 4096);
      return;
    }
    const std::string bytes = add_frame();
    std::string back(bytes.size(), '\0');
    Latencies lat;
    for (auto _ : state) {
      const auto t0 = Clock::now();
      ++seq;
      req->size = static_cast<std::uint32_t>(bytes.size());
      std::memcpy(req->bytes, bytes.data(), bytes.size());
      req->seq.store(seq, std::memory_order_release);
      if (use_eventfd) {
        const std::uint64_t one = 1;
        if (::write(to_echo.fd, &one, sizeof one) < 0) {
          state.SkipWithError("cannot write the echo's eventfd");
          break;
        }
      } else {
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&req->seq), FUTEX_WAKE, 1, nullptr, nullptr, 0);
      }
      std::uint32_t now;
      while ((now = rep->seq.load(std::memory_order_acquire)) != seq) {
        if (use_eventfd) {
          pollfd p[2] = {{from_echo.fd, POLLIN, 0}, {echo.fd, POLLIN, 0}};
          ::poll(p, 2, -1);
          std::uint64_t count;
          if (p[1].revents != 0 || (::read(from_echo.fd, &count, sizeof count) < 0 && errno != EAGAIN)) break;
        } else {
          // Bounded, so that an echo that died (it watches no socket) ends the run.
          const timespec bound{0, 100 * 1000 * 1000};
          if (::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&rep->seq), FUTEX_WAIT, now, &bound,
                        nullptr, 0) != 0 &&
              errno == ETIMEDOUT) {
            pollfd p{echo.fd, POLLIN, 0};
            if (::poll(&p, 1, 0) > 0) break;  // the echo's end of the socket closed
          }
        }
      }
      if (now != seq) {
        state.SkipWithError("the echo process went away");
        break;
      }
      std::memcpy(back.data(), rep->bytes, std::min<std::size_t>(rep->size, back.size()));
      lat.add(Clock::now() - t0);
    }
    lat.report(state);
    state.SetLabel(where(echo.pid));
    // The last frame ends the echo (it watches no socket while on a futex).
    req->seq.store(UINT32_MAX, std::memory_order_release);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&req->seq), FUTEX_WAKE, 1, nullptr, nullptr, 0);
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(to_echo.fd, &one, sizeof one);
  }
  ::munmap(map, 4096);
}
void BM_ShmPingPongFutex(benchmark::State& state) { shm_ping_pong(state, false); }
BENCHMARK(BM_ShmPingPongFutex)->UseRealTime();

void BM_ShmPingPongEventfd(benchmark::State& state) { shm_ping_pong(state, true); }
BENCHMARK(BM_ShmPingPongEventfd)->UseRealTime();

void bridge_call(benchmark::State& state, bool low_latency) {
  if (const char* why = dllbridge::bench::floor_peer().missing) {
    state.SkipWithError(why);
    return;
  }
  dllbridge::BridgeOptions o;
  o.arch = dllbridge::bench::floor_peer().arch;
  o.surrogate_path = dllbridge::bench::floor_peer().surrogate;
  o.low_latency = low_latency;
  o.launcher = dllbridge::bench::peer_launcher();
  dllbridge::Bridge bridge(o);
  auto add = bridge.load(dllbridge::bench::floor_peer().sample)
                 .function<std::int32_t(std::int32_t, std::int32_t)>("add");
  std::int32_t v = 0;
  Latencies lat;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    benchmark::DoNotOptimize(v = add(v, 1));
    lat.add(Clock::now() - t0);
  }
  lat.report(state);
  state.SetLabel(where(static_cast<long>(bridge.stats().pid)));
}

void BM_BridgeCall(benchmark::State& state) { bridge_call(state, false); }
BENCHMARK(BM_BridgeCall)->UseRealTime();

void BM_BridgeCallLowLatency(benchmark::State& state) { bridge_call(state, true); }
BENCHMARK(BM_BridgeCallLowLatency)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
