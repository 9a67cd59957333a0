// What starting a surrogate costs, against the floor measured in the same
// run, interleaved (one floor and one bridge measurement per iteration):
// starting and reaping a program of the same bitness that does nothing
// (posix_spawn + waitpid). The benchmark's time is the bridge's; the
// counters floor_ms and ratio (bridge / floor) are what to compare.
//   BM_StartToFirstCall: Bridge construction, library load, first call;
//                        second argument 1: with BridgeOptions::fork_server
//                        (the first iteration starts the server; the later
//                        ones fork from it).
//   BM_CrashToNextCall:  a call that crashes the surrogate, to the next call
//                        completed on its replacement; second argument 1:
//                        with SupervisionPolicy::warm_spare (the spare is
//                        ready before each crash, outside the timing); 2:
//                        with preload_spare as well (the spare has the
//                        library and both functions before each crash); 3:
//                        with fork_server and no spare.
#include <benchmark/benchmark.h>

#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <memory>
#include <thread>

#include "bench_paths.hpp"
#include "dllbridge/bridge.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Starts `program` and waits for it: the floor. False if it could not run.
bool spawn_and_reap(const char* program) {
  char* argv[] = {const_cast<char*>(program), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, program, nullptr, nullptr, argv, environ) != 0) return false;
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct Target {
  dllbridge::Arch arch;
  const char* surrogate;
  const char* sample;
  const char* noop;
};

Target target(bool x86) {
  using namespace dllbridge::bench;
  return x86 ? Target{dllbridge::Arch::x86, kSurrogate32, kSample32, kNoop32}
             : Target{dllbridge::Arch::x64, kSurrogate64, kSample64, kNoop64};
}

dllbridge::BridgeOptions options(const Target& t) {
  dllbridge::BridgeOptions o;
  o.arch = t.arch;
  o.surrogate_path = t.surrogate;
  o.policy.breaker.enabled = false;
  o.policy.restart.max_starts = 1000000;  // crashes on purpose, many times
  return o;
}

// The 32-bit target, or none (the benchmark skipped) in a build without it.
const Target* target_or_skip(benchmark::State& state, Target& t) {
  const bool x86 = state.range(0) == 32;
  if (x86 && !dllbridge::bench::kHave32) {
    state.SkipWithError("this build has no 32-bit part (DLLBRIDGE_BUILD_32BIT=OFF)");
    return nullptr;
  }
  t = target(x86);
  return &t;
}

// Each iteration: `untimed()`, the floor (start and reap t.noop), then
// `measured()`, whose time is the iteration's. Counters: both means and
// their ratio.
template <class U, class F>
void against_floor(benchmark::State& state, const Target& t, U&& untimed, F&& measured) {
  double bridge = 0, floor = 0;
  for (auto _ : state) {
    untimed();
    Clock::time_point start = Clock::now();
    if (!spawn_and_reap(t.noop)) {
      state.SkipWithError("cannot run the floor program");
      return;
    }
    floor += seconds_since(start);
    start = Clock::now();
    measured();
    const double took = seconds_since(start);
    bridge += took;
    state.SetIterationTime(took);
  }
  const double n = static_cast<double>(state.iterations());
  if (n == 0 || floor == 0) return;
  state.counters["floor_ms"] = floor / n * 1e3;
  state.counters["bridge_ms"] = bridge / n * 1e3;
  state.counters["ratio"] = bridge / floor;
}

void BM_StartToFirstCall(benchmark::State& state) {
  Target storage;
  const Target* t = target_or_skip(state, storage);
  if (!t) return;
  dllbridge::BridgeOptions o = options(*t);
  o.fork_server = state.range(1) != 0;
  std::unique_ptr<dllbridge::Bridge> bridge;
  against_floor(
      state, *t, [&] { bridge.reset(); },  // the previous bridge's stop is not part of a start
      [&] {
        bridge = std::make_unique<dllbridge::Bridge>(o);
        dllbridge::Library lib = bridge->load(t->sample);
        benchmark::DoNotOptimize(lib.function<int32_t(int32_t, int32_t)>("add")(1, 2));
      });
}
BENCHMARK(BM_StartToFirstCall)
    ->Args({32, 0})
    ->Args({64, 0})
    ->Args({32, 1})
    ->Args({64, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_CrashToNextCall(benchmark::State& state) {
  Target storage;
  const Target* t = target_or_skip(state, storage);
  if (!t) return;
  dllbridge::BridgeOptions o = options(*t);
  o.policy.warm_spare = state.range(1) == 1 || state.range(1) == 2;
  o.policy.preload_spare = state.range(1) == 2;
  o.fork_server = state.range(1) == 3;
  dllbridge::Bridge bridge(o);
  dllbridge::Library lib = bridge.load(t->sample);
  auto add = lib.function<int32_t(int32_t, int32_t)>("add");
  auto crash = lib.function<int32_t()>("crash_segv");
  add(1, 2);
  double delivery = 0, next = 0;
  against_floor(
      state, *t,
      [&] {
        // The spare's start (and preload) is not part of the next crash's cost: wait for it.
        const std::uint32_t ahead = o.policy.preload_spare ? 3 : 0;  // the library, add, crash_segv
        for (;;) {
          const dllbridge::BridgeStats s = bridge.stats();
          if (!o.policy.warm_spare || (s.spare_pid != 0 && s.spare_preloaded == ahead)) break;
          std::this_thread::yield();
        }
      },
      [&] {
        const Clock::time_point start = Clock::now();
        try {
          crash();
        } catch (const dllbridge::Error&) {
        }
        const Clock::time_point failed = Clock::now();
        benchmark::DoNotOptimize(add(1, 2));
        delivery += std::chrono::duration<double>(failed - start).count();
        next += seconds_since(failed);
      });
  // The crashing call until it failed (the crash's delivery), and from then
  // to the next call's end (the take-over or restart, reload and call).
  if (state.iterations() > 0) {
    const double n = static_cast<double>(state.iterations());
    state.counters["delivery_ms"] = delivery / n * 1e3;
    state.counters["next_ms"] = next / n * 1e3;
  }
}
BENCHMARK(BM_CrashToNextCall)
    ->Args({32, 0})
    ->Args({64, 0})
    ->Args({32, 1})
    ->Args({64, 1})
    ->Args({32, 2})
    ->Args({64, 2})
    ->Args({32, 3})
    ->Args({64, 3})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
