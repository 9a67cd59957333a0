#!/usr/bin/env bash
# The test command (README): installs what is missing, checks the format of
# the sources (scripts/format.sh --check), builds, and runs every suite: Linux
# (64-bit client; 32- and 64-bit surrogates), each fuzz target for a few
# seconds (scripts/fuzz.sh), then Windows (MinGW-w64 cross build, run under
# Wine). Exit status 0 only if the sources are formatted and everything ran
# and passed; a stage that cannot run fails the command and says why.
# Unformatted sources do not stop the suites: they fail the command at the end.
#
# scripts/test.sh --sanitize runs the sanitizer stage instead (docs/security.md):
# the Linux suites built with AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/: client, surrogate64, surrogate32 and the 32-bit sample too),
# then the client-side suites with ThreadSanitizer (build-tsan/, 64-bit only).
# A sanitizer report anywhere, in a test program or in a surrogate it started,
# fails the stage and is printed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${DLLBRIDGE_BUILD_DIR:-$root/build}"
build_win="${DLLBRIDGE_WIN_BUILD_DIR:-$root/build-win}"
build_asan="${DLLBRIDGE_ASAN_BUILD_DIR:-$root/build-asan}"
build_tsan="${DLLBRIDGE_TSAN_BUILD_DIR:-$root/build-tsan}"
fuzz_seconds="${DLLBRIDGE_FUZZ_SECONDS:-10}"

# True when i386 programs run only under qemu-i386 through binfmt_misc (a
# kernel without IA-32 emulation; scripts/setup.sh registers it).
i386_emulated() {
  grep -qs '^interpreter .*qemu-i386' /proc/sys/fs/binfmt_misc/* &&
    ! grep -qs '^disabled' /proc/sys/fs/binfmt_misc/dllbridge-i386
}

# Configures (once) and builds a sanitizer tree: sanitize_build DIR KIND [cmake -D...]
sanitize_build() {
  local dir=$1 kind=$2
  shift 2
  if [[ ! -f "$dir/CMakeCache.txt" ]]; then
    cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLLBRIDGE_SANITIZE="$kind" \
      -DDLLBRIDGE_BUILD_BENCH=OFF "$@"
  elif [[ $# -gt 0 ]]; then
    cmake "$dir" "$@"
  fi
  cmake --build "$dir" -j "$(nproc)"
}

# Runs ctest in a sanitizer tree with every report written under DIR/reports
# (test programs and the surrogates they start alike: a surrogate's stderr may
# go nowhere); fails when a test failed or any report was written.
# sanitize_ctest DIR NAME [ctest options...]
sanitize_ctest() {
  local dir=$1 name=$2 status=0
  shift 2
  rm -rf "$dir/reports"
  mkdir -p "$dir/reports"
  ctest --test-dir "$dir" --output-on-failure -j 2 --timeout 600 --no-tests=error "$@" || status=$?
  if compgen -G "$dir/reports/*" >/dev/null; then
    echo "test.sh: $name wrote sanitizer reports:" >&2
    for f in "$dir"/reports/*; do
      echo "---- $f" >&2
      head -n 80 "$f" >&2
    done
    status=1
  fi
  return $status
}

if [[ "${1:-}" == "--sanitize" ]]; then
  "$root/scripts/setup.sh" --sanitize --windows  # --windows: the generator's suites build MinGW DLLs
  supp="$root/scripts/sanitize"
  started=$SECONDS

  # ASan's i386 runtime under qemu-user does not work: LeakSanitizer's
  # stop-the-world hangs at exit and handled signals abort in the emulator.
  # Then the 32-bit parts are left out of this stage, as under TSan; the same
  # surrogate code runs under ASan as surrogate64, and surrogate32 in the
  # plain stage.
  asan_32bit=ON
  if i386_emulated; then
    asan_32bit=OFF
    echo "test.sh: ASAN OF THE 32-BIT PARTS NOT RUN: this kernel has no IA-32 emulation and ASan's i386" \
         "runtime does not work under qemu-i386 (LeakSanitizer hangs at exit); surrogate64 carries the" \
         "surrogate's code under ASan, surrogate32 ran in the plain stage" >&2
  fi
  echo "== Sanitize: ASan + UBSan, Linux suites (64-bit client; 32-bit parts: $asan_32bit; 64-bit surrogate)"
  sanitize_build "$build_asan" address -DDLLBRIDGE_BUILD_32BIT=$asan_32bit
  # Deliberate crashes of the sample (crash_segv, stack_overflow, crash_abort)
  # must stay plain signals, as the suites expect: ASan leaves SIGSEGV and
  # SIGABRT alone (handle_segv=0). A report ends the process with SIGABRT
  # (abort_on_error): the client sees a crashed surrogate, and the report file
  # fails the stage even where a test expected a crash.
  asan_status=0
  ASAN_OPTIONS="abort_on_error=1:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:detect_leaks=1:log_path=$build_asan/reports/asan" \
  LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$build_asan/reports/ubsan" \
    sanitize_ctest "$build_asan" "ASan + UBSan" \
      -E '^(package_consumer|c_api_package)$' || asan_status=$?
  echo "test.sh: skipped under ASan: package_consumer and c_api_package (they install the package and build" \
       "a consumer with the plain toolchain, which cannot link the sanitized library)"
  asan_took=$((SECONDS - started))

  echo "== Sanitize: ThreadSanitizer, client-side suites (64-bit: TSan has no 32-bit runtime)"
  sanitize_build "$build_tsan" thread -DDLLBRIDGE_BUILD_32BIT=OFF
  tsan_status=0
  # handle_segv=0: the sample's deliberate crashes stay plain signals, as under ASan.
  TSAN_OPTIONS="halt_on_error=1:handle_segv=0:second_deadlock_stack=1:suppressions=$supp/tsan.supp:log_path=$build_tsan/reports/tsan" \
    sanitize_ctest "$build_tsan" "TSan" -E '^(package_consumer|c_api_package)$|TheDllsExitHandlersRun' || tsan_status=$?
  echo "test.sh: under TSan the tests that need surrogate32 are skipped (each says so); package_consumer" \
       "and c_api_package are skipped (they build a consumer with the plain toolchain); Supervised.TheDllsExitHandlersRun* are" \
       "skipped (TSan's atexit interceptor keeps the handler of a library the surrogate unloaded and calls" \
       "it at exit: a jump into unmapped code that only exists under TSan)"
  tsan_took=$((SECONDS - started - asan_took))

  echo "test.sh: sanitize stage took ${asan_took} s (ASan + UBSan) and ${tsan_took} s (TSan)"
  if [[ $asan_status -ne 0 || $tsan_status -ne 0 ]]; then
    echo "test.sh: FAILED (ASan + UBSan: status $asan_status, TSan: status $tsan_status)" >&2
    exit 1
  fi
  echo "test.sh: every suite passed under ASan + UBSan and the client-side suites under TSan, no report"
  exit 0
elif [[ $# -gt 0 ]]; then
  echo "usage: scripts/test.sh [--sanitize]" >&2
  exit 2
fi

echo "== Format: scripts/format.sh --check"
# Everything every stage needs, before the Linux tree is configured: its
# generator suites build Windows DLLs with MinGW-w64 when it is installed.
"$root/scripts/setup.sh" --windows --fuzz
format_status=0
"$root/scripts/format.sh" --check || format_status=$?
if [[ $format_status -ne 0 ]]; then
  echo "test.sh: the sources are not formatted by .clang-format (listed above; fix: scripts/format.sh);" \
       "the suites run anyway, the command fails at the end" >&2
fi

echo "== Linux: 64-bit client, 32-bit and 64-bit surrogates"
"$root/scripts/build.sh"
linux_status=0
ctest --test-dir "$build" --output-on-failure -j 2 --timeout 300 --no-tests=error || linux_status=$?

echo "== Fuzz: each target for $fuzz_seconds s (scripts/fuzz.sh; clang-14, ASan + UBSan)"
fuzz_status=0
"$root/scripts/fuzz.sh" --all "$fuzz_seconds" || fuzz_status=$?

echo "== Windows: MinGW-w64 cross build under Wine (64-bit client; surrogate32.exe and surrogate64.exe)"
if ! "$root/scripts/build-windows.sh"; then
  echo "test.sh: the Windows stage could not be built (see above); it did not run" >&2
  exit 1
fi
# A kernel without IA-32 emulation (scripts/setup.sh then registers i386
# programs with binfmt_misc to run under qemu-i386): Wine's loader is an i386
# program, so every Windows program it starts, 64-bit ones too, runs through
# an emulated loader (measured here: 1.5 to 4.5 minutes for surrogate32.exe
# --help, 15 minutes to create the prefix). The suites cannot run in any
# reasonable time: the stage stops after the build and says so in capitals.
# DLLBRIDGE_WINE_UNDER_EMULATION=run runs them anyway.
if i386_emulated && [[ "${DLLBRIDGE_WINE_UNDER_EMULATION:-}" != run ]]; then
  echo "test.sh: WINDOWS SUITES NOT RUN: this kernel has no IA-32 emulation, so Wine's i386 loader runs" \
       "under qemu-i386 and each Windows program takes minutes to start. The MinGW-w64 build above" \
       "compiled and linked every Windows target. Run them on a kernel with IA-32 emulation (or set" \
       "DLLBRIDGE_WINE_UNDER_EMULATION=run)." >&2
  if [[ $format_status -ne 0 || $linux_status -ne 0 || $fuzz_status -ne 0 ]]; then
    echo "test.sh: FAILED (format check: status $format_status, Linux suites: status $linux_status," \
         "fuzz targets: status $fuzz_status, Windows suites: not run)" >&2
    exit 1
  fi
  echo "test.sh: the sources are formatted, the Linux suites ran and passed, the fuzz targets found nothing;" \
       "the Windows build succeeded, its suites were NOT run (above)"
  exit 0
fi
if ! "$root/scripts/wine.sh" "$build_win/bin/surrogate32.exe" --help >/dev/null 2>&1; then
  echo "test.sh: Wine cannot run build-win/bin/surrogate32.exe (wine32 missing?); the Windows suites did not run" >&2
  exit 1
fi
windows_status=0
ctest --test-dir "$build_win" --output-on-failure -j 2 --timeout 300 --no-tests=error || windows_status=$?

if [[ $format_status -ne 0 || $linux_status -ne 0 || $fuzz_status -ne 0 || $windows_status -ne 0 ]]; then
  echo "test.sh: FAILED (format check: status $format_status, Linux suites: status $linux_status," \
       "fuzz targets: status $fuzz_status, Windows suites: status $windows_status)" >&2
  exit 1
fi
echo "test.sh: the sources are formatted, every suite ran and passed (Linux and Windows), the fuzz targets found nothing"
