#!/usr/bin/env bash
# The main job: a 64-bit program calls the 32-bit sample library through
# surrogate32 and prints the results and the surrogate's process figures.
#   scripts/demo.sh            on Linux
#   scripts/demo.sh --windows  the Windows build under Wine
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log="${TMPDIR:-/tmp}/dllbridge-demo-build.log"
if [[ "${1:-}" == "--windows" ]]; then
  build="${DLLBRIDGE_WIN_BUILD_DIR:-$root/build-win}"
  if ! "$root/scripts/build-windows.sh" >"$log" 2>&1; then
    cat "$log" >&2
    echo "demo: the Windows build failed (log above)" >&2
    exit 1
  fi
  exec "$root/scripts/wine.sh" "$build/bin/dllbridge-demo.exe" "Z:$build/i386/lib/sample.dll"
fi
build="${DLLBRIDGE_BUILD_DIR:-$root/build}"
if ! "$root/scripts/build.sh" >"$log" 2>&1; then
  cat "$log" >&2
  echo "demo: the build failed (log above)" >&2
  exit 1
fi
exec "$build/bin/dllbridge-demo" "$build/i386/lib/libsample.so"
