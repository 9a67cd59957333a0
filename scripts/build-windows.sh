#!/usr/bin/env bash
# Installs what is missing (MinGW-w64, Wine), builds the Windows dependencies
# once (cached outside the repository), then cross-builds dllbridge for
# Windows in build-win/: the 64-bit client, dllbridge-call, surrogate64.exe
# and tests, plus surrogate32.exe and the 32-bit sample.dll. Incremental.
# Usage: scripts/build-windows.sh [extra cmake -D options...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh" --windows
"$root/scripts/windows-deps.sh"
build="${DLLBRIDGE_WIN_BUILD_DIR:-$root/build-win}"
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/mingw-w64-x86_64.cmake" "$@"
elif [[ $# -gt 0 ]]; then
  cmake "$build" "$@"
fi
cmake --build "$build" -j "$(nproc)"
