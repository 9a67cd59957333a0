#!/usr/bin/env bash
# Builds dllbridge (scripts/build.sh) and runs the benchmark suites, writing
# each suite's Google Benchmark JSON to a results directory, then prints the
# ratio tables (bench/ratio_table.py). Timing decides nothing here: this is
# not part of scripts/test.sh. docs/performance.md explains the tables.
#
# Usage: scripts/bench.sh [--quick] [--filter REGEX] [--pin] [--no-build] [--out DIR]
#                         [--windows [--rounds N] [--base DIR]]
#   --quick        short runs, one repetition (a smoke run; ratios are rough)
#   --filter REGEX only benchmarks matching REGEX (--benchmark_filter)
#   --pin          also run latency_bench and the trivial calls of overhead_bench
#                  with client and surrogate on one CPU (taskset -c 0, inherited)
#                  and on different CPUs (client on 0, surrogate and echo on 1)
#   --no-build     use build/ as it is
#   --out DIR      results directory (default build/bench-results/UTC-TIMESTAMP)
#   --windows      under Wine instead (build-win/, scripts/build-windows.sh): the
#                  Google Benchmark suites are not cross-built (no Google Benchmark
#                  among the MinGW dependencies), so this measures a trivial call's
#                  latency percentiles with dllbridge-call.exe --repeat through
#                  surrogate32.exe and surrogate64.exe (standard mode: low-latency
#                  mode is Linux-only) against a synchronous named-pipe ping-pong
#                  of the same frame sizes with a 32- / 64-bit echo (bench/echo),
#                  interleaved: N rounds (--rounds, default 5), each running the
#                  call and the ping-pong back to back, so a slow spell of the
#                  machine hits both; the table gives each round's p50s and
#                  ratio and the median ratio. --base DIR also runs, in each
#                  round, the dllbridge-call.exe of another build (DIR/bin and
#                  DIR/i386/lib, e.g. a copy of main's build-win): before and
#                  after in one run.
# Environment: DLLBRIDGE_BUILD_DIR (default build/), DLLBRIDGE_WIN_BUILD_DIR (default build-win/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${DLLBRIDGE_BUILD_DIR:-$root/build}"
quick=0 filter="" pin=0 do_build=1 out="" windows=0 rounds=5 base=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --filter) filter="${2:?--filter needs a REGEX}"; shift ;;
    --pin) pin=1 ;;
    --no-build) do_build=0 ;;
    --out) out="${2:?--out needs a directory}"; shift ;;
    --windows) windows=1 ;;
    --rounds) rounds="$2"; shift ;;
    --base) base=$(cd "$2" && pwd); shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ $windows -eq 1 ]]; then
  winbuild="${DLLBRIDGE_WIN_BUILD_DIR:-$root/build-win}"
  [[ $do_build -eq 1 ]] && DLLBRIDGE_WIN_BUILD_DIR="$winbuild" "$root/scripts/build-windows.sh"
  out="${out:-$winbuild/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}"
  mkdir -p "$out"
  n=$([[ $quick -eq 1 ]] && echo 200 || echo 2000)
  [[ $quick -eq 1 ]] && rounds=1
  builds=("new:$winbuild")
  [[ -n "$base" ]] && builds+=("base:$base")
  for round in $(seq 1 "$rounds"); do
    for bits in 32 64; do
      for b in "${builds[@]}"; do
        name=${b%%:*} dir=${b#*:}
        lib="$dir/bin/sample.dll"
        [[ $bits == 32 ]] && lib="$dir/i386/lib/sample.dll"
        echo "== round $round: $name surrogate$bits.exe: dllbridge-call.exe --repeat $n" >&2
        "$root/scripts/wine.sh" "$dir/bin/dllbridge-call.exe" --json --repeat "$n" --arch "$bits" "Z:$lib" \
          "int add(int a, int b)" 1 2 >"$out/call-$name-$bits-$round.json" ||
          echo "bench.sh: dllbridge-call.exe failed" >&2
      done
      # The floor: as many ping-pongs of a trivial call's frames with an echo of that bitness.
      echo "== round $round: pipe ping-pong, 64-bit to $bits-bit: pipe_pingpong64.exe" >&2
      "$root/scripts/wine.sh" "$winbuild/bin/pipe_pingpong64.exe" "Z:$winbuild/bin/pipe_pingpong$bits.exe" "$n" \
        >"$out/pipe-$bits-$round.json" || echo "bench.sh: pipe_pingpong64.exe failed" >&2
    done
  done
  python3 "$root/bench/echo/wine_rounds.py" "$out" | tee "$out/tables.md"
  echo "results: $out"
  exit 0
fi

if [[ $do_build -eq 1 ]]; then
  "$root/scripts/build.sh"
fi
bin="$build/bin"
for b in overhead_bench call_bench latency_bench start_bench; do
  [[ -x "$bin/$b" ]] || { echo "bench.sh: $bin/$b is missing (DLLBRIDGE_BUILD_BENCH=ON?)" >&2; exit 1; }
done

out="${out:-$build/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
if [[ $quick -eq 1 ]]; then
  min_time=0.05 reps=1
else
  min_time=0.5 reps=3
fi

{
  echo "date: $(date -u +%FT%TZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "kernel: $(uname -r)"
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$out/machine.txt"

# run NAME PROGRAM [ARGS...]: one suite into $out/NAME.json.
run() {
  local name=$1
  shift
  local args=(--benchmark_min_time="$min_time" --benchmark_repetitions="$reps"
              --benchmark_out="$out/$name.json" --benchmark_out_format=json)
  [[ $reps -gt 1 ]] && args+=(--benchmark_display_aggregates_only=true)
  [[ -n "$filter" ]] && args+=(--benchmark_filter="$filter")
  echo "== $name: $*" >&2
  "$@" "${args[@]}" || echo "bench.sh: $name failed (status $?)" >&2
}

run overhead_bench "$bin/overhead_bench"
run call_bench "$bin/call_bench"
run latency_bench "$bin/latency_bench"
run start_bench "$bin/start_bench"

if [[ $pin -eq 1 ]]; then
  if [[ $(nproc) -lt 2 ]]; then
    echo "bench.sh: --pin needs 2 CPUs; skipped" >&2
  else
    saved_filter=$filter
    # One CPU: the client on CPU 0; the surrogate and the echo inherit it.
    run latency_bench.one-cpu taskset -c 0 "$bin/latency_bench"
    filter=${saved_filter:-BM_Overhead/add_typed}
    run overhead_bench.one-cpu taskset -c 0 "$bin/overhead_bench"
    # Different CPUs: the client on CPU 0, the surrogate and the echo on CPU 1
    # (BridgeOptions::launcher = taskset -c 1; the label shows /proc's Cpus_allowed_list).
    filter=$saved_filter
    DLLBRIDGE_BENCH_PEER_CPUS=1 run latency_bench.two-cpus taskset -c 0 "$bin/latency_bench"
    filter=${saved_filter:-BM_Overhead/add_typed}
    DLLBRIDGE_BENCH_PEER_CPUS=1 run overhead_bench.two-cpus taskset -c 0 "$bin/overhead_bench"
    filter=$saved_filter
  fi
fi

echo
echo "results: $out"
python3 "$root/bench/ratio_table.py" "$out"/*.json | tee "$out/tables.md"
