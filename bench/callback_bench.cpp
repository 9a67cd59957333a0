// What a callback costs next to a forward call, in the same run: the DLL's
// enumerator calls a callable of this program `range(0)` times per call
// (BM_BridgeCallbacks32/64), against the forward call BM_BridgeCall32/64
// (call_bench.cpp) and the same enumerator called in-process with a C
// function pointer. Items per second are invocations; compare
// (time at N=16 - time at N=1) / 15, one callback, with a forward call.
#include <benchmark/benchmark.h>

#include "bench_support.hpp"
#include "dllbridge/bridge.hpp"
#include "sample.h"

namespace {

int32_t SAMPLE_STDCALL keep_going(int32_t, void* ctx) {
  ++*static_cast<int64_t*>(ctx);
  return 1;
}

void BM_DirectCallbacks(benchmark::State& state) {
  const auto n = static_cast<int32_t>(state.range(0));
  int64_t calls = 0;
  for (auto _ : state) benchmark::DoNotOptimize(enum_items(n, &keep_going, &calls));
  state.SetItemsProcessed(calls);
}
BENCHMARK(BM_DirectCallbacks)->Arg(1)->Arg(16);

void bridged(benchmark::State& state, dllbridge::Arch arch, const char* surrogate, const char* sample) {
  dllbridge::Bridge bridge(dllbridge::bench::options_for(arch, surrogate));
  dllbridge::Library lib = bridge.load(sample);
  const auto enumerate = lib.function<int32_t(
      int32_t, dllbridge::Fn<int32_t(int32_t, dllbridge::Handle), dllbridge::CallConv::Stdcall>,
      dllbridge::Handle)>("enum_items", dllbridge::CallConv::Stdcall);
  const auto n = static_cast<int32_t>(state.range(0));
  int64_t calls = 0;
  const dllbridge::Fn<int32_t(int32_t, dllbridge::Handle), dllbridge::CallConv::Stdcall> proc =
      [&calls](int32_t, dllbridge::Handle) {
        ++calls;
        return 1;
      };
  for (auto _ : state) benchmark::DoNotOptimize(enumerate(n, proc, dllbridge::Handle{}));
  state.SetItemsProcessed(calls);
  state.SetLabel(bridge.surrogate().arch);
}

void BM_BridgeCallbacks64(benchmark::State& state) {
  bridged(state, dllbridge::Arch::x64, dllbridge::bench::kSurrogate64, dllbridge::bench::kSample64);
}
BENCHMARK(BM_BridgeCallbacks64)->Arg(1)->Arg(16)->UseRealTime();

void BM_BridgeCallbacks32(benchmark::State& state) {
  if (!dllbridge::bench::kHave32) {
    state.SkipWithError("this build has no 32-bit part (DLLBRIDGE_BUILD_32BIT=OFF)");
    return;
  }
  bridged(state, dllbridge::Arch::x86, dllbridge::bench::kSurrogate32, dllbridge::bench::kSample32);
}
BENCHMARK(BM_BridgeCallbacks32)->Arg(1)->Arg(16)->UseRealTime();

}  // namespace
