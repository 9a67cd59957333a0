// What a trivial call costs against the floor of any out-of-process design,
// as ratios from the same run (absolute times on shared machines are noise):
//  - RawPingPong: the same request bytes to a process of the surrogate's
//    bitness that sends them straight back (bench/echo), over a socket pair:
//    the transport floor. `Spin`: both ends poll before sleeping.
//  - BridgeCall: add(a, b) through the typed API, standard and low-latency mode.
// Each reports its median and 99th percentile (counters p50_us, p99_us):
// compare the medians. For the one-CPU case run it under `taskset -c 0`;
// for client and peer on different CPUs, `taskset -c 0` with
// DLLBRIDGE_BENCH_PEER_CPUS=1 (the label says where each process may run,
// read from /proc/PID/status). scripts/bench.sh --pin runs both.
// DLLBRIDGE_BENCH_BITS=64: surrogate64 and pingpong_echo64 instead of the
// 32-bit ones (posix_peer.hpp, floor_peer).
#include <benchmark/benchmark.h>

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
