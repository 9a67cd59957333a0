#!/usr/bin/env bash
# Builds the Windows (MinGW-w64) dependencies of dllbridge once and caches them
# outside the repository, one prefix per target triple:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/dllbridge/windeps/<triple>-<key>
# The key names the versions (pb<protobuf>-ffi<libffi>-gt<googletest>) plus a
# hash of everything else that shapes the result: the build recipe (the code of
# build_triple and write_cmake_configs below, as bash prints it, so comments do
# not count), the exact Debian versions of the sources and of the copied
# header-only libraries, and the cross compiler packages. Change any of them
# and a new prefix is built; old prefixes stay until deleted.
#
# Contents of a prefix (all static, nothing to ship beside an .exe):
#   protobuf (lite + full) 3.x from Debian's source package, CMake config
#   libffi from Debian's source package (libffi.a, ffi.h)
#   GoogleTest + GoogleMock from /usr/src/googletest, CMake config
#   header-only copies: asio, spdlog, fmt, CLI11, nlohmann json (+ CMake configs)
#
# Usage: scripts/windows-deps.sh                      ensure both prefixes exist
#        scripts/windows-deps.sh --print-prefix TRIPLE print a prefix, build nothing
# Triples: x86_64-w64-mingw32 i686-w64-mingw32
set -euo pipefail

TRIPLES=(x86_64-w64-mingw32 i686-w64-mingw32)
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/dllbridge/windeps"
SRC_CACHE="$CACHE_ROOT/src"
LOG_DIR="$CACHE_ROOT/logs"
SOURCES_FILE=/etc/apt/sources.list.d/debian.sources
NATIVE_ARCH="$(dpkg --print-architecture)"

die() { echo "[windeps] ERROR: $*" >&2; exit 1; }
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"

# Version of an installed package ("" if absent). Multi-Arch: same packages are
# asked for the native architecture so the answer is a single line.
pkg_version() {
  local p=$1 v
  v=$(dpkg-query -W -f='${Status} ${Version}\n' "$p:$NATIVE_ARCH" 2>/dev/null |
      awk '$3=="installed"{print $4; exit}') || true
  [[ -z "$v" ]] && v=$(dpkg-query -W -f='${Status} ${Version}\n' "$p" 2>/dev/null |
      awk '$3=="installed"{print $4; exit}') || true
  echo "$v"
}
# Upstream part of a Debian version: 1:1.22.1-1 -> 1.22.1, 3.21.12-3+deb12u1 -> 3.21.12
upstream() { local v=${1#*:}; echo "${v%-*}"; }

# ---------------------------------------------------------------- versions --
detect_versions() {
  command -v protoc >/dev/null || die "host protoc not found (run scripts/setup.sh)"
  PB_UP=$(protoc --version | awk '{print $2}')
  PB_DEB=$(pkg_version protobuf-compiler)
  [[ -n "$PB_DEB" ]] || die "package protobuf-compiler is not installed"
  [[ "$(upstream "$PB_DEB")" == "$PB_UP" ]] ||
    die "protoc --version says $PB_UP but protobuf-compiler is $PB_DEB"
  FFI_DEB=$(pkg_version libffi-dev)
  [[ -n "$FFI_DEB" ]] || die "package libffi-dev is not installed (run scripts/setup.sh)"
  FFI_UP=$(upstream "$FFI_DEB")
  GT_DEB=$(pkg_version googletest)
  [[ -n "$GT_DEB" && -f /usr/src/googletest/CMakeLists.txt ]] ||
    die "googletest sources missing at /usr/src/googletest (apt-get install googletest)"
  GT_UP=$(upstream "$GT_DEB")
  local p hdr=""
  for p in libasio-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev; do
    local v; v=$(pkg_version "$p")
    [[ -n "$v" ]] || die "package $p is not installed (run scripts/setup.sh)"
    hdr+="$p=$v;"
  done
  HDR_VERSIONS=$hdr
}

triple_pkg() { case $1 in x86_64-w64-mingw32) echo x86-64;; i686-w64-mingw32) echo i686;; *) die "unknown triple '$1' (use one of: ${TRIPLES[*]})";; esac; }

prefix_for() {
  local t=$1 tp; tp=$(triple_pkg "$t")
  local cc="g++-mingw-w64-$tp-posix=$(pkg_version "g++-mingw-w64-$tp-posix");mingw-w64-$tp-dev=$(pkg_version "mingw-w64-$tp-dev")"
  local h
  h=$( { declare -f build_triple write_cmake_configs; echo "$t;$PB_DEB;$FFI_DEB;$GT_DEB;$HDR_VERSIONS;$cc"; } |
       sha256sum | cut -c1-10)
  echo "$CACHE_ROOT/$t-pb$PB_UP-ffi$FFI_UP-gt$GT_UP-$h"
}


# ----------------------------------------------------------------- sources --
# Debian source packages protobuf and libffi at exactly the installed versions,
# downloaded once into $SRC_CACHE/<pkg>_<version>/.
ensure_deb_src() {
  [[ -f "$SOURCES_FILE" ]] || die "$SOURCES_FILE not found; add deb-src entries for Debian yourself"
  if grep -E '^Types:' "$SOURCES_FILE" | grep -vq 'deb-src'; then
    $SUDO sed -i -E '/^Types:/{/deb-src/!s/[[:space:]]*$/ deb-src/}' "$SOURCES_FILE"
  fi
  $SUDO apt-get update -qq >>"$SRC_LOG" 2>&1 || die "apt-get update failed (log: $SRC_LOG)"
}

fetch_source() {  # pkg version -> sets DSC_<pkg>
  local pkg=$1 ver=$2 dir="$SRC_CACHE/${1}_${2//[:+~]/_}"
  if ! ls "$dir"/*.dsc >/dev/null 2>&1; then
    if [[ -z "${_APT_READY:-}" ]]; then ensure_deb_src; _APT_READY=1; fi
    rm -rf "$dir.part"; mkdir -p "$dir.part"
    ( cd "$dir.part" && apt-get source --download-only "$pkg=$ver" ) >>"$SRC_LOG" 2>&1 || {
      tail -n 20 "$SRC_LOG" >&2
      die "apt-get source $pkg=$ver failed (log: $SRC_LOG)"; }
    rm -rf "$dir"; mv "$dir.part" "$dir"
  fi
  local dsc; dsc=$(ls "$dir"/*.dsc | head -1)
  printf -v "DSC_${pkg//[^a-z]/_}" '%s' "$dsc"
}

# ------------------------------------------------------------------- build --
STEP=""
run() {  # run STEP-NAME command... ; output to $LOG
  STEP=$1; shift
  echo "=== $(date -u +%T) [$STEP] $*" >>"$LOG"
  "$@" >>"$LOG" 2>&1
}
fail() {
  echo "[windeps] ERROR: building the $T dependencies failed at step '$STEP'." >&2
  echo "[windeps] last lines of $LOG:" >&2
  tail -n 40 "$LOG" | sed 's/^/    /' >&2
  exit 1
}

write_cmake_configs() {  # $1 = staging prefix
  local p=$1
  mkdir -p "$p/lib/cmake/fmt" "$p/lib/cmake/spdlog" "$p/share/cmake"
  # CLI11 and nlohmann_json: Debian's configs are relocatable (paths relative to the file).
  cp -a /usr/share/cmake/CLI11 /usr/share/cmake/nlohmann_json "$p/share/cmake/"
  local fmt_v spd_v
  fmt_v=$(upstream "$(pkg_version libfmt-dev)"); fmt_v=${fmt_v%%+*}
  spd_v=$(upstream "$(pkg_version libspdlog-dev)"); spd_v=${spd_v%%+*}
  cat >"$p/lib/cmake/fmt/fmt-config.cmake" <<'EOF'
# Header-only fmt for the dllbridge Windows build (written by scripts/windows-deps.sh).
get_filename_component(_fmt_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
foreach(_t fmt::fmt fmt::fmt-header-only)
  if(NOT TARGET ${_t})
    add_library(${_t} INTERFACE IMPORTED)
    set_target_properties(${_t} PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${_fmt_prefix}/include"
      INTERFACE_COMPILE_DEFINITIONS "FMT_HEADER_ONLY=1")
  endif()
endforeach()
unset(_fmt_prefix)
EOF
  cat >"$p/lib/cmake/spdlog/spdlogConfig.cmake" <<'EOF'
# Header-only spdlog (with external, header-only fmt) for the dllbridge Windows
# build (written by scripts/windows-deps.sh). Both targets are header-only.
include(CMakeFindDependencyMacro)
find_dependency(Threads)
find_dependency(fmt CONFIG)
get_filename_component(_spdlog_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
foreach(_t spdlog::spdlog spdlog::spdlog_header_only)
  if(NOT TARGET ${_t})
    add_library(${_t} INTERFACE IMPORTED)
    set_target_properties(${_t} PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${_spdlog_prefix}/include"
      INTERFACE_COMPILE_DEFINITIONS "SPDLOG_HEADER_ONLY;SPDLOG_FMT_EXTERNAL"
      INTERFACE_LINK_LIBRARIES "Threads::Threads;fmt::fmt-header-only")
  endif()
endforeach()
unset(_spdlog_prefix)
EOF
  local pkg v
  for pkg in "fmt fmt-config-version.cmake $fmt_v" "spdlog spdlogConfigVersion.cmake $spd_v"; do
    set -- $pkg
    cat >"$p/lib/cmake/$1/$2" <<EOF
set(PACKAGE_VERSION "$3")
if(PACKAGE_FIND_VERSION AND PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif(PACKAGE_FIND_VERSION_MAJOR AND NOT PACKAGE_FIND_VERSION_MAJOR STREQUAL "${3%%.*}")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
EOF
  done
}

build_triple() {  # T PREFIX
  set -E
  T=$1; local PREFIX=$2
  local jobs; jobs=$(nproc)
  LOG="$LOG_DIR/$(basename "$PREFIX").log"
  : >"$LOG"
  trap fail ERR
  local W; W=$(mktemp -d "${TMPDIR:-/tmp}/dllbridge-windeps-$T.XXXXXX")
  trap 'rm -rf "$W"' EXIT
  local STAGE="$PREFIX.stage" TMPP="$PREFIX.tmp"
  rm -rf "$STAGE" "$TMPP"

  cat >"$W/toolchain.cmake" <<EOF
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR ${T%%-*})
set(CMAKE_C_COMPILER $T-gcc-posix)
set(CMAKE_CXX_COMPILER $T-g++-posix)
set(CMAKE_RC_COMPILER $T-windres)
set(CMAKE_FIND_ROOT_PATH /usr/$T)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
EOF
  local CM=(-G "Unix Makefiles" -DCMAKE_TOOLCHAIN_FILE="$W/toolchain.cmake"
            -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX"
            -DCMAKE_INSTALL_LIBDIR=lib -DBUILD_SHARED_LIBS=OFF)

  # protobuf (Debian source, Debian patches applied)
  run "unpack protobuf" dpkg-source --no-check -x "$DSC_protobuf" "$W/protobuf"
  local pbsrc="$W/protobuf"; [[ -f "$pbsrc/CMakeLists.txt" ]] || pbsrc="$W/protobuf/cmake"
  run "configure protobuf" cmake -S "$pbsrc" -B "$W/pb-build" "${CM[@]}" \
    -Dprotobuf_BUILD_TESTS=OFF -Dprotobuf_BUILD_PROTOC_BINARIES=OFF \
    -Dprotobuf_BUILD_LIBPROTOC=OFF -Dprotobuf_WITH_ZLIB=OFF \
    -Dprotobuf_BUILD_SHARED_LIBS=OFF -Dprotobuf_BUILD_EXAMPLES=OFF -Dprotobuf_INSTALL=ON
  run "build protobuf" cmake --build "$W/pb-build" -j "$jobs"
  run "install protobuf" env DESTDIR="$STAGE" cmake --install "$W/pb-build"

  # libffi (Debian source, Debian patches applied)
  run "unpack libffi" dpkg-source --no-check -x "$DSC_libffi" "$W/libffi"
  mkdir -p "$W/ffi-build"
  STEP="configure libffi"
  ( cd "$W/ffi-build" && "$W/libffi/configure" --host="$T" --build="$(gcc -dumpmachine)" \
      --prefix="$PREFIX" --libdir="$PREFIX/lib" --includedir="$PREFIX/include" \
      --disable-shared --enable-static --disable-docs --disable-multi-os-directory \
      CC="$T-gcc-posix" CFLAGS="-O2" ) >>"$LOG" 2>&1
  run "build libffi" make -C "$W/ffi-build" -j "$jobs"
  run "install libffi" make -C "$W/ffi-build" install DESTDIR="$STAGE"

  # GoogleTest + GoogleMock (Debian's /usr/src/googletest)
  run "configure googletest" cmake -S /usr/src/googletest -B "$W/gt-build" "${CM[@]}" \
    -DBUILD_GMOCK=ON -DINSTALL_GTEST=ON
  run "build googletest" cmake --build "$W/gt-build" -j "$jobs"
  run "install googletest" env DESTDIR="$STAGE" cmake --install "$W/gt-build"

  # Staged files sit at $STAGE$PREFIX; their recorded paths already name $PREFIX.
  STEP="assemble prefix"
  mv "$STAGE$PREFIX" "$TMPP"
  rm -rf "$STAGE"
  find "$TMPP" -name '*.la' -delete
  # header-only libraries
  mkdir -p "$TMPP/include"
  cp -a /usr/include/asio /usr/include/asio.hpp /usr/include/spdlog /usr/include/fmt \
        /usr/include/CLI /usr/include/nlohmann "$TMPP/include/"
  write_cmake_configs "$TMPP"

  # sanity checks: archives present, libffi ABIs, spdlog/fmt header-only compile
  STEP="check prefix"
  local a
  for a in libprotobuf-lite.a libprotobuf.a libffi.a libgtest.a libgtest_main.a libgmock.a libgmock_main.a; do
    [[ -f "$TMPP/lib/$a" ]] || { echo "missing $TMPP/lib/$a" >>"$LOG"; false; }
  done
  [[ -f "$TMPP/lib/cmake/protobuf/protobuf-config.cmake" && -f "$TMPP/lib/cmake/GTest/GTestConfig.cmake" ]]
  local abis="FFI_WIN64"; [[ $T == i686-* ]] && abis="FFI_STDCALL + FFI_FASTCALL + FFI_THISCALL + FFI_MS_CDECL"
  printf '#include <ffi.h>\nint abis = %s;\nint main(void){return 0;}\n' "$abis" >"$W/ffi_abi.c"
  run "check libffi ABIs ($abis)" "$T-gcc-posix" -I"$TMPP/include" -c "$W/ffi_abi.c" -o "$W/ffi_abi.o"
  cat >"$W/spd.cpp" <<'EOF'
#include <spdlog/spdlog.h>
#include <spdlog/sinks/stdout_color_sinks.h>
int main() { auto l = spdlog::stderr_color_mt("x"); l->info("v{}", 1); return 0; }
EOF
  run "check spdlog header-only" "$T-g++-posix" -std=c++17 -DSPDLOG_HEADER_ONLY -DSPDLOG_FMT_EXTERNAL \
      -DFMT_HEADER_ONLY -I"$TMPP/include" "$W/spd.cpp" -o "$W/spd.exe" -static
  cat >"$TMPP/windeps-info.txt" <<EOF
triple=$T
protobuf=$PB_DEB
libffi=$FFI_DEB
googletest=$GT_DEB
headers=$HDR_VERSIONS
spdlog/fmt defines: SPDLOG_HEADER_ONLY SPDLOG_FMT_EXTERNAL FMT_HEADER_ONLY
EOF
  STEP="publish prefix"
  mv -T "$TMPP" "$PREFIX"
  trap - ERR
  rm -rf "$W"; trap - EXIT
}

if [[ "${1:-}" == "--print-prefix" ]]; then
  [[ $# -eq 2 ]] || die "usage: $0 --print-prefix TRIPLE"
  detect_versions
  prefix_for "$2"
  exit 0
fi
[[ $# -eq 0 ]] || die "usage: $0 [--print-prefix TRIPLE]"

detect_versions
mkdir -p "$CACHE_ROOT" "$SRC_CACHE" "$LOG_DIR"
SRC_LOG="$LOG_DIR/sources.log"

for T in "${TRIPLES[@]}"; do
  PREFIX=$(prefix_for "$T")
  if [[ -f "$PREFIX/windeps-info.txt" ]]; then
    echo "[windeps] $T: ready $PREFIX"
    continue
  fi
  # One builder per prefix; a second concurrent run waits and then finds it ready.
  exec 9>"$PREFIX.lock"
  flock 9
  if [[ -f "$PREFIX/windeps-info.txt" ]]; then
    echo "[windeps] $T: ready $PREFIX"
  else
    [[ -e "$PREFIX" ]] && rm -rf "$PREFIX"   # a prefix without its info file is not ours/complete
    start=$SECONDS
    exec 8>"$SRC_CACHE/.lock"; flock 8
    : >>"$SRC_LOG"
    fetch_source protobuf "$PB_DEB"
    fetch_source libffi "$FFI_DEB"
    flock -u 8; exec 8>&-
    ( build_triple "$T" "$PREFIX" )
    echo "[windeps] $T: built $PREFIX in $((SECONDS - start)) s"
  fi
  flock -u 9; exec 9>&-
done
