#!/usr/bin/env bash
# The libFuzzer targets of fuzz/ (docs/security.md), built with clang-14,
# AddressSanitizer and UndefinedBehaviorSanitizer in their own build tree
# (build-fuzz/, or $DLLBRIDGE_FUZZ_BUILD_DIR).
#
#   scripts/fuzz.sh --list             the target names, one per line
#   scripts/fuzz.sh TARGET SECONDS     builds what it needs and fuzzes TARGET for
#                                      SECONDS; exit status 1 on a finding (the
#                                      input is kept in build-fuzz/findings/TARGET/)
#   scripts/fuzz.sh --all SECONDS      each target in turn for SECONDS
#   scripts/fuzz.sh --seeds            remakes the seed corpora fuzz/corpus/TARGET/
#
# Each run starts from the committed seeds (fuzz/corpus/TARGET/) and the
# inputs of past findings (fuzz/regressions/TARGET/, which --seeds keeps), and keeps
# what it learns in build-fuzz/corpus/TARGET/ for the next run. Extra
# libFuzzer options go in $FUZZ_ARGS (e.g. FUZZ_ARGS="-jobs=2 -workers=2").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${DLLBRIDGE_FUZZ_BUILD_DIR:-$root/build-fuzz}"
# One target per fuzz/NAME_fuzz.cpp.
mapfile -t targets < <(cd "$root/fuzz" && ls -- *_fuzz.cpp | sed 's/_fuzz\.cpp$//')

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

configure_and_build() {
  "$root/scripts/setup.sh" --fuzz
  if [[ ! -f "$build/CMakeCache.txt" ]]; then
    CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DDLLBRIDGE_FUZZ=ON -DDLLBRIDGE_BUILD_32BIT=OFF -DDLLBRIDGE_BUILD_TESTS=OFF -DDLLBRIDGE_BUILD_BENCH=OFF
  fi
  cmake --build "$build" -j "$(nproc)" --target "$@"
}

# What a sanitizer report needs to be read, and UB that stops the run.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

run_one() {
  local target=$1 seconds=$2
  local corpus="$build/corpus/$target" findings="$build/findings/$target"
  mkdir -p "$corpus" "$findings"
  # Inputs of past findings (fuzz/regressions/TARGET/): run first, like the seeds.
  local regressions=()
  [[ -d "$root/fuzz/regressions/$target" ]] && regressions=("$root/fuzz/regressions/$target")
  echo "== fuzz: $target for $seconds s (corpus $corpus + fuzz/corpus/$target${regressions[0]:+ + fuzz/regressions/$target})"
  local status=0
  # -timeout: one input taking this long is a hang (a finding); -rss_limit_mb:
  # the frame cap (64 MiB) many times over, but no runaway growth.
  "$build/bin/fuzz_$target" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$findings/" ${FUZZ_ARGS:-} \
    "$corpus" "$root/fuzz/corpus/$target" ${regressions[@]+"${regressions[@]}"} || status=$?
  if [[ $status -ne 0 ]]; then
    echo "fuzz.sh: $target FOUND A PROBLEM (exit status $status); the input is in $findings/" >&2
    ls -l "$findings" >&2 || true
    return 1
  fi
  echo "fuzz.sh: $target: no finding in $seconds s"
}

case "${1:-}" in
  --list)
    printf '%s\n' "${targets[@]}"
    ;;
  --seeds)
    configure_and_build make_seeds
    rm -rf "$root/fuzz/corpus"
    "$build/bin/make_seeds" "$root/fuzz/corpus"
    for t in "${targets[@]}"; do echo "$t: $(ls "$root/fuzz/corpus/$t" | wc -l) seeds"; done
    ;;
  --all)
    [[ $# -eq 2 && "$2" =~ ^[0-9]+$ ]] || usage
    configure_and_build $(printf 'fuzz_%s ' "${targets[@]}")
    failed=()
    for t in "${targets[@]}"; do run_one "$t" "$2" || failed+=("$t"); done
    if [[ ${#failed[@]} -ne 0 ]]; then
      echo "fuzz.sh: findings in: ${failed[*]}" >&2
      exit 1
    fi
    ;;
  ""|-h|--help)
    usage
    ;;
  *)
    [[ $# -eq 2 && "$2" =~ ^[0-9]+$ ]] || usage
    if ! printf '%s\n' "${targets[@]}" | grep -qx -- "$1"; then
      echo "fuzz.sh: no target '$1' (scripts/fuzz.sh --list)" >&2
      exit 2
    fi
    configure_and_build "fuzz_$1"
    run_one "$1" "$2"
    ;;
esac
