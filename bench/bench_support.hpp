// Helpers shared by the benchmark programs.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdlib>

#include "bench_paths.hpp"
#include "dllbridge/bridge.hpp"

namespace dllbridge::bench {

// Options that start the surrogate at `path` for `arch`; with
// DLLBRIDGE_BENCH_PEER_CPUS (a taskset CPU list, e.g. "1") it runs only on
// those CPUs (the benchmark's own are set from outside: taskset -c 0 PROGRAM).
inline BridgeOptions options_for(Arch arch, const char* path) {
  BridgeOptions o;
  o.arch = arch;
  o.surrogate_path = path;
#ifndef _WIN32
  if (const char* cpus = std::getenv("DLLBRIDGE_BENCH_PEER_CPUS"); cpus && *cpus)
    o.launcher = {"taskset", "-c", cpus};
#endif
  return o;
}

// The sizes every buffer benchmark runs with: 1 KiB, 64 KiB, 1 MiB, 16 MiB.
inline void buffer_sizes(benchmark::internal::Benchmark* b) {
  b->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20)->Arg(16 << 20);
}

}  // namespace dllbridge::bench
