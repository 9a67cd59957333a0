#!/usr/bin/env bash
# The main job: a 64-bit program calls the 32-bit sample library through
# surrogate32 and prints the results and the surrogate's process figures.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${DLLBRIDGE_BUILD_DIR:-$root/build}"
log="${TMPDIR:-/tmp}/dllbridge-demo-build.log"
if ! "$root/scripts/build.sh" >"$log" 2>&1; then
  cat "$log" >&2
  echo "demo: the build failed (log above)" >&2
  exit 1
fi
exec "$build/bin/dllbridge-demo" "$build/i386/lib/libsample.so"
