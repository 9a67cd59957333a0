#!/usr/bin/env bash
# Installs what is missing, then configures and builds dllbridge (host and
# 32-bit parts) in build/. Incremental: a second run rebuilds only changes.
# Usage: scripts/build.sh [extra cmake -D options...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
build="${DLLBRIDGE_BUILD_DIR:-$root/build}"
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
elif [[ $# -gt 0 ]]; then
  cmake "$build" "$@"
fi
cmake --build "$build" -j "$(nproc)"
