// What a bridged call costs, against two baselines measured in the same run:
// a direct in-process call and a bare framed round trip over a socket pair
// to a thread (the transport floor). Compare the ratios, not the times.
#include <benchmark/benchmark.h>

#include <thread>

#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>

#include "bench_support.hpp"
#include "dllbridge/bridge.hpp"
#include "dllbridge/wire/frame.hpp"
#include "sample.h"

namespace {

void BM_DirectCall(benchmark::State& state) {
  int32_t a = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(a = add(a, 1));
  }
}
BENCHMARK(BM_DirectCall);

// The floor any out-of-process design pays: one framed request and reply
// over a socket pair, echoed by another thread.
void BM_RawFrameRoundTrip(benchmark::State& state) {
  asio::io_context io;
  asio::local::stream_protocol::socket a(io), b(io);
  asio::local::connect_pair(a, b);
  std::thread echo([&b] {
    dllbridge::wire::Request req;
    try {
      while (dllbridge::wire::read_frame(b, req)) {
        dllbridge::wire::Reply reply;
        reply.set_id(req.id());
        reply.mutable_call()->mutable_ret()->set_i(42);
        dllbridge::wire::write_frame(b, reply);
      }
    } catch (...) {
    }
  });
  dllbridge::wire::Request req;
  req.mutable_call()->set_function(1);
  req.mutable_call()->add_args()->set_i(1);
  req.mutable_call()->add_args()->set_i(2);
  dllbridge::wire::Reply reply;
  std::uint64_t id = 0;
  for (auto _ : state) {
    req.set_id(++id);
    dllbridge::wire::write_frame(a, req);
    dllbridge::wire::read_frame(a, reply);
  }
  a.shutdown(asio::socket_base::shutdown_both);
  echo.join();
}
BENCHMARK(BM_RawFrameRoundTrip)->UseRealTime();

void bridged(benchmark::State& state, dllbridge::Arch arch, const char* surrogate, const char* sample) {
  dllbridge::Bridge bridge(dllbridge::bench::options_for(arch, surrogate));
  dllbridge::Library lib = bridge.load(sample);
  auto add_fn = lib.function<int32_t(int32_t, int32_t)>("add");
  int32_t v = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(v = add_fn(v, 1));
  }
  state.SetLabel(bridge.surrogate().arch);
}

void BM_BridgeCall64(benchmark::State& state) {
  bridged(state, dllbridge::Arch::x64, dllbridge::bench::kSurrogate64, dllbridge::bench::kSample64);
}
BENCHMARK(BM_BridgeCall64)->UseRealTime();

void BM_BridgeCall32(benchmark::State& state) {
  if (!dllbridge::bench::kHave32) {
    state.SkipWithError("this build has no 32-bit part (DLLBRIDGE_BUILD_32BIT=OFF)");
    return;
  }
  bridged(state, dllbridge::Arch::x86, dllbridge::bench::kSurrogate32, dllbridge::bench::kSample32);
}
BENCHMARK(BM_BridgeCall32)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
