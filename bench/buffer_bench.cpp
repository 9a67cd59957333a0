// Bulk data through the typed API: an [in, out] buffer of 1 KiB .. 16 MiB
// sent to the surrogate, changed by the DLL and copied back into the
// caller's memory, against memcpy of the same size in the same run (the
// `ratio` counter: the bridged call's bytes per second over memcpy's; a
// round trip moves the buffer twice, so memcpy counts once each way).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <optional>
#include <vector>

#include "bench_support.hpp"
#include "dllbridge/bridge.hpp"
#include "sample.h"

namespace {

using dllbridge::InOut;

// Bytes per second of memcpy for `bytes`, measured now (best of a few runs).
double memcpy_rate(std::size_t bytes) {
  std::vector<std::uint8_t> a(bytes, 1), b(bytes, 2);
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    const int reps = bytes >= (1u << 20) ? 4 : 256;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) {
      std::memcpy(b.data(), a.data(), bytes);
      benchmark::DoNotOptimize(b.data());
      benchmark::ClobberMemory();
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(bytes) * reps / s);
  }
  return best;
}

void BM_Memcpy(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> a(bytes, 1), b(bytes, 2);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), bytes);
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Memcpy)->Apply(dllbridge::bench::buffer_sizes);

// How the buffers travel: through the shared region (above its threshold),
// or framed (BridgeOptions::shared_region false: the packed bytes in the
// frames, as before the region); `allocated`: memory from Bridge::alloc;
// `discarding`: the region with a resident budget of 0 (every freed block
// gives its pages back, as blocks of 8 MiB and more did before the budget);
// `low_latency`: the region, in low-latency mode; `low_latency_copy_first`:
// the same, with every copy into the region made before the call is sent
// (DLLBRIDGE_COPY_AFTER_SEND=off), the baseline of the copies made after it;
// `no_poll`: the region without the bulk polls (DLLBRIDGE_BULK_POLL=off),
// their baseline.
enum class Path { region, framed, allocated, discarding, low_latency, low_latency_copy_first, no_poll };

// Sets (or with null, removes) environment variable `name`.
void set_env(const char* name, const char* value) {
#ifdef _WIN32
  _putenv_s(name, value ? value : "");
#else
  if (value) {
    ::setenv(name, value, 1);
  } else {
    ::unsetenv(name);
  }
#endif
}

// One bridge per surrogate and path for the whole run.
dllbridge::Bridge& bridge_for(dllbridge::Arch arch, Path path) {
  if (path == Path::allocated) path = Path::region;
  auto make = [arch, path] {
    dllbridge::BridgeOptions o = dllbridge::bench::options_for(
        arch, arch == dllbridge::Arch::x86 ? dllbridge::bench::kSurrogate32 : dllbridge::bench::kSurrogate64);
    o.policy.call_timeout = std::chrono::minutes(5);
    o.shared_region = path != Path::framed;
    if (path == Path::discarding) o.region_budget = 0;
    o.low_latency = path == Path::low_latency || path == Path::low_latency_copy_first;
    const bool copy_first = path == Path::low_latency_copy_first;
    if (copy_first) set_env("DLLBRIDGE_COPY_AFTER_SEND", "off");
    if (path == Path::no_poll) set_env("DLLBRIDGE_BULK_POLL", "off");
    auto bridge = std::make_unique<dllbridge::Bridge>(o);
    set_env("DLLBRIDGE_COPY_AFTER_SEND", nullptr);
    set_env("DLLBRIDGE_BULK_POLL", nullptr);
    return bridge;
  };
  static std::map<std::pair<dllbridge::Arch, Path>, std::unique_ptr<dllbridge::Bridge>> bridges;
  std::unique_ptr<dllbridge::Bridge>& b = bridges[{arch, path}];
  if (!b) b = make();
  return *b;
}

// The [in, out] buffer of `bytes` bytes of element type E through `name`
// (void name(E* v, int32_t n, E k), [in, out, size_is(n)]: xor_u8, touch_u8).
template <class E>
void buffer_round_trip(benchmark::State& state, const char* name, dllbridge::Arch arch = dllbridge::Arch::x86,
                       Path path = Path::region) {
  if (arch == dllbridge::Arch::x86 && !dllbridge::bench::kHave32) {
    state.SkipWithError("this build has no 32-bit part (DLLBRIDGE_BUILD_32BIT=OFF)");
    return;
  }
  const auto bytes = static_cast<std::size_t>(state.range(0));
  std::vector<E> vec(bytes / sizeof(E), E{1});
  dllbridge::SharedBuffer<E> shared;  // Path::allocated: the caller's memory is in the region
  if (path == Path::allocated) shared = bridge_for(arch, path).template alloc<E>(bytes / sizeof(E));
  E* data = path == Path::allocated ? shared.data() : vec.data();
  const std::size_t count = bytes / sizeof(E);
  double seconds = 0;
  try {
    dllbridge::Library lib =
        bridge_for(arch, path)
            .load(arch == dllbridge::Arch::x86 ? dllbridge::bench::kSample32 : dllbridge::bench::kSample64);
    auto fn = lib.function<void(InOut<E, 1>, std::int32_t, E)>(name);
    // One call first: the steady state is measured, not the first fault-in
    // of a block's pages (a 16 MiB row may run one iteration only).
    fn(dllbridge::inout(data, count), static_cast<std::int32_t>(count), E{3});
    const auto start = std::chrono::steady_clock::now();
    for (auto _ : state) fn(dllbridge::inout(data, count), static_cast<std::int32_t>(count), E{3});
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } catch (const dllbridge::Error& e) {
    state.SkipWithError(e.what());
    return;
  }
  const double moved = static_cast<double>(bytes) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(moved));
  // Bridged bytes/s (each way) over memcpy's, memcpy measured in this run.
  state.counters["ratio"] = moved / seconds / memcpy_rate(bytes);
}

void BM_BufferU8(benchmark::State& state) { buffer_round_trip<std::uint8_t>(state, "xor_u8"); }
BENCHMARK(BM_BufferU8)->Apply(dllbridge::bench::buffer_sizes)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_BufferI64(benchmark::State& state) { buffer_round_trip<std::int64_t>(state, "scale_i64"); }
BENCHMARK(BM_BufferI64)->Apply(dllbridge::bench::buffer_sizes)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The same through surrogate64: where surrogate32 runs under an emulator
// (qemu-i386 on kernels without IA-32 emulation), this shows the native cost.
void BM_BufferU8Native64(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "xor_u8", dllbridge::Arch::x64);
}
BENCHMARK(BM_BufferU8Native64)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Memory from Bridge::alloc: no copy either way.
void BM_BufferU8Alloc(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "xor_u8", dllbridge::Arch::x86, Path::allocated);
}
BENCHMARK(BM_BufferU8Alloc)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_BufferU8AllocNative64(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "xor_u8", dllbridge::Arch::x64, Path::allocated);
}
BENCHMARK(BM_BufferU8AllocNative64)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// touch_u8 changes only the first and the last byte: the DLL costs nothing,
// so `ratio` is what the bridge itself achieves for bulk data (the issue's
// target: 1 MiB [in, out] at 30% of memcpy or more). Caller memory (copied
// into the region and back), memory from alloc (no copy), framed.
void BM_TouchU8(benchmark::State& state) { buffer_round_trip<std::uint8_t>(state, "touch_u8"); }
BENCHMARK(BM_TouchU8)->Apply(dllbridge::bench::buffer_sizes)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_TouchU8Alloc(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "touch_u8", dllbridge::Arch::x86, Path::allocated);
}
BENCHMARK(BM_TouchU8Alloc)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_TouchU8Framed(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "touch_u8", dllbridge::Arch::x86, Path::framed);
}
BENCHMARK(BM_TouchU8Framed)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The region without a resident budget (0: each call faults its block's
// pages in again): the "before" of the budget, in the same run.
void BM_TouchU8NoBudget(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "touch_u8", dllbridge::Arch::x86, Path::discarding);
}
BENCHMARK(BM_TouchU8NoBudget)->Arg(1 << 20)->Arg(16 << 20)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_TouchU8Native64(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "touch_u8", dllbridge::Arch::x64);
}
BENCHMARK(BM_TouchU8Native64)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_TouchU8AllocNative64(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "touch_u8", dllbridge::Arch::x64, Path::allocated);
}
BENCHMARK(BM_TouchU8AllocNative64)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Without the bulk polls (docs/performance.md, "Bulk data: polls bounded
// by the copies"): each side sleeps at once, as before them, in the same run.
void BM_TouchU8NoPoll(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "touch_u8", dllbridge::Arch::x86, Path::no_poll);
}
BENCHMARK(BM_TouchU8NoPoll)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_TouchU8NoPollNative64(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "touch_u8", dllbridge::Arch::x64, Path::no_poll);
}
BENCHMARK(BM_TouchU8NoPollNative64)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Low-latency mode (BridgeOptions::low_latency): the caller and the
// surrogate may poll for the next frame instead of sleeping.
void BM_TouchU8LowLatency(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "touch_u8", dllbridge::Arch::x86, Path::low_latency);
}
BENCHMARK(BM_TouchU8LowLatency)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_TouchU8LowLatencyNative64(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "touch_u8", dllbridge::Arch::x64, Path::low_latency);
}
BENCHMARK(BM_TouchU8LowLatencyNative64)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The low-latency rows above copy into the region after the send while the
// surrogate runs on another CPU (docs/performance.md, "Copies after the
// send"); these always copy before it, in the same run.
void BM_TouchU8LowLatencyCopyFirst(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "touch_u8", dllbridge::Arch::x86, Path::low_latency_copy_first);
}
BENCHMARK(BM_TouchU8LowLatencyCopyFirst)
    ->Arg(1 << 20)
    ->Arg(16 << 20)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_TouchU8LowLatencyCopyFirstNative64(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "touch_u8", dllbridge::Arch::x64, Path::low_latency_copy_first);
}
BENCHMARK(BM_TouchU8LowLatencyCopyFirstNative64)
    ->Arg(1 << 20)
    ->Arg(16 << 20)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The DLL's own work: the 64-bit sample's xor_u8 called in this process on
// the same bytes (the floor no bridge can go under), ratio to memcpy as above.
void BM_XorInProcess(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> v(bytes, 1);
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    ::xor_u8(v.data(), static_cast<std::int32_t>(bytes), 3);
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double moved = static_cast<double>(bytes) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(moved));
  state.counters["ratio"] = moved / seconds / memcpy_rate(bytes);
}
BENCHMARK(BM_XorInProcess)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The same two without the shared region (the frames carry the bytes): the
// "before" of the region, in the same run.
void BM_BufferU8Framed(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "xor_u8", dllbridge::Arch::x86, Path::framed);
}
BENCHMARK(BM_BufferU8Framed)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_BufferU8FramedNative64(benchmark::State& state) {
  buffer_round_trip<std::uint8_t>(state, "xor_u8", dllbridge::Arch::x64, Path::framed);
}
BENCHMARK(BM_BufferU8FramedNative64)
    ->Apply(dllbridge::bench::buffer_sizes)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
