#!/usr/bin/env bash
# The test command (README): installs what is missing, checks the format of
# the sources (scripts/format.sh --check), builds, and runs every suite: Linux
# (64-bit client; 32- and 64-bit surrogates), then Windows (MinGW-w64 cross
# build, run under Wine). Exit status 0 only if the sources are formatted and
# everything ran and passed; a stage that cannot run fails the command and
# says why. Unformatted sources do not stop the suites: they fail the command
# at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${DLLBRIDGE_BUILD_DIR:-$root/build}"
build_win="${DLLBRIDGE_WIN_BUILD_DIR:-$root/build-win}"

echo "== Format: scripts/format.sh --check"
"$root/scripts/setup.sh"
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

echo "== Windows: MinGW-w64 cross build under Wine (64-bit client; surrogate32.exe and surrogate64.exe)"
if ! "$root/scripts/build-windows.sh"; then
  echo "test.sh: the Windows stage could not be built (see above); it did not run" >&2
  exit 1
fi
if ! "$root/scripts/wine.sh" "$build_win/bin/surrogate32.exe" --help >/dev/null 2>&1; then
  echo "test.sh: Wine cannot run build-win/bin/surrogate32.exe (wine32 missing?); the Windows suites did not run" >&2
  exit 1
fi
windows_status=0
ctest --test-dir "$build_win" --output-on-failure -j 2 --timeout 300 --no-tests=error || windows_status=$?

if [[ $format_status -ne 0 || $linux_status -ne 0 || $windows_status -ne 0 ]]; then
  echo "test.sh: FAILED (format check: status $format_status, Linux suites: status $linux_status," \
       "Windows suites: status $windows_status)" >&2
  exit 1
fi
echo "test.sh: the sources are formatted and every suite ran and passed (Linux and Windows)"
