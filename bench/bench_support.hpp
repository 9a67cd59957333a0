// Helpers shared by the benchmark programs.
#pragma once

#include <benchmark/benchmark.h>

#include "bench_paths.hpp"
#include "dllbridge/bridge.hpp"

namespace dllbridge::bench {

// Options that start the surrogate at `path` for `arch`.
inline BridgeOptions options_for(Arch arch, const char* path) {
  BridgeOptions o;
  o.arch = arch;
  o.surrogate_path = path;
  return o;
}

// The sizes every buffer benchmark runs with: 1 KiB, 64 KiB, 1 MiB, 16 MiB.
inline void buffer_sizes(benchmark::internal::Benchmark* b) {
  b->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20)->Arg(16 << 20);
}

}  // namespace dllbridge::bench
