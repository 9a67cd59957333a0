#!/usr/bin/env bash
# Installs what dllbridge needs to build and test on Debian 12 x86-64.
# Idempotent: does nothing when every package is already present.
# Usage: scripts/setup.sh [--windows] [--fuzz] [--sanitize]
#   --windows   adds MinGW-w64 and Wine
#   --fuzz      adds clang-14 and libFuzzer (scripts/fuzz.sh)
#   --sanitize  adds the sanitizer runtimes, 32-bit ones too (scripts/test.sh --sanitize)
set -euo pipefail

HOST_PKGS=(cmake make g++ g++-multilib pkg-config protobuf-compiler libprotobuf-dev
           libasio-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libffi-dev
           libcli11-dev nlohmann-json3-dev libbenchmark-dev file qemu-user-static clang-format
           libclang-14-dev golang-go python3-pytest)  # last three: dllbridge-gen, go/, python/
I386_PKGS=(libprotobuf-dev:i386 libffi-dev:i386 libspdlog-dev:i386 libfmt-dev:i386)
WIN_PKGS=(g++-mingw-w64-i686 g++-mingw-w64-x86-64 wine wine64 wine32:i386
          dpkg-dev patch googletest)  # the last three: scripts/windows-deps.sh

FUZZ_PKGS=(clang-14 libfuzzer-14-dev libclang-rt-14-dev)
SANITIZE_PKGS=(libasan8 libubsan1 libtsan2 lib32asan8 lib32ubsan1)

want=("${HOST_PKGS[@]}" "${I386_PKGS[@]}")
for arg in "$@"; do
  case "$arg" in
    --windows) want+=("${WIN_PKGS[@]}") ;;
    --fuzz) want+=("${FUZZ_PKGS[@]}") ;;
    --sanitize) want+=("${SANITIZE_PKGS[@]}") ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

log() { echo "[setup] $*" >&2; }
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"

# A name without :arch means the native (or arch-independent) package; dpkg-query
# prints one line per installed architecture of a Multi-Arch: same package.
native=$(dpkg --print-architecture)
missing() {
  local p out=()
  for p in "$@"; do
    if [[ "$p" == *:* ]]; then
      dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -qx 'install ok installed' || out+=("$p")
    else
      dpkg-query -W -f='${Status} ${Architecture}\n' "$p" 2>/dev/null |
        grep -qxE "install ok installed ($native|all)" || out+=("$p")
    fi
  done
  printf '%s\n' "${out[@]}"
}

# surrogate32 and Wine's 32-bit loader are i386 programs. A kernel built
# without IA-32 emulation refuses them ("Exec format error"); then i386 ELF
# programs are registered with binfmt_misc to run under qemu-i386-static, for
# every program that starts one (tests, Wine, benchmarks). The client library
# falls back to qemu-i386 by itself; this makes the rest of the toolchain work.
# Checked with the i386 dynamic loader (libc6:i386), itself a program.
i386_programs() {
  local probe=/lib/ld-linux.so.2 misc=/proc/sys/fs/binfmt_misc
  [[ -x $probe ]] || return 0  # libc6:i386 not installed yet: checked after the install
  "$probe" --version >/dev/null 2>&1 && return 0
  if [[ ! -x /usr/bin/qemu-i386-static ]]; then
    log "this kernel cannot run i386 programs and qemu-user-static is not installed"
    return 1
  fi
  [[ -e $misc/register ]] || $SUDO mount -t binfmt_misc binfmt_misc "$misc" ||
    { log "this kernel cannot run i386 programs and binfmt_misc cannot be mounted"; return 1; }
  if [[ ! -e $misc/dllbridge-i386 ]]; then
    log "this kernel has no IA-32 emulation: registering i386 programs with binfmt_misc (qemu-i386-static)"
    local magic='\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00'
    local mask='\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
    echo ":dllbridge-i386:M::$magic:$mask:/usr/bin/qemu-i386-static:F" | $SUDO tee "$misc/register" >/dev/null
  fi
  "$probe" --version >/dev/null 2>&1 || { log "i386 programs still do not run (binfmt_misc)"; return 1; }
}

mapfile -t todo < <(missing "${want[@]}")
if [[ ${#todo[@]} -eq 0 || -z "${todo[0]}" ]]; then
  log "all packages present"
  i386_programs
  exit 0
fi
log "missing: ${todo[*]}"
export DEBIAN_FRONTEND=noninteractive

if ! dpkg --print-foreign-architectures | grep -qx i386; then
  $SUDO dpkg --add-architecture i386
fi
$SUDO apt-get update -qq || log "apt-get update reported a problem; continuing"

if $SUDO apt-get install -y -qq --no-install-recommends "${todo[@]}"; then
  i386_programs
  exit 0
fi

# Fallback (docs/platform-recipes): the security suite's i386 index can lag the
# amd64 one, so Multi-Arch: same pairs cannot match. Use a configuration without
# it, and align every pair apt complains about to the version the i386 side has.
log "plain install failed; retrying without the security suite"
NOSEC=/tmp/dllbridge-nosec
mkdir -p "$NOSEC/parts" "$NOSEC/lists/partial"
awk 'BEGIN{RS="";ORS="\n\n"} !/debian-security/' /etc/apt/sources.list.d/debian.sources > "$NOSEC/parts/debian.sources"
O=(-o "Dir::Etc::SourceParts=$NOSEC/parts" -o Dir::Etc::SourceList=/dev/null -o "Dir::State::Lists=$NOSEC/lists")
$SUDO apt-get "${O[@]}" update -qq

for attempt in 1 2 3 4 5 6; do
  sim=$($SUDO apt-get "${O[@]}" install -s --allow-downgrades --no-install-recommends "${todo[@]}" 2>&1) && {
    $SUDO apt-get "${O[@]}" install -y -qq --allow-downgrades --no-install-recommends "${todo[@]}"
    i386_programs
    exit 0
  }
  # Names of the form "Depends: X:i386 (= V) but ... is not going to be installed"
  mapfile -t bad < <(grep -oE '[A-Za-z0-9.+-]+:i386' <<<"$sim" | sed 's/:i386$//' | sort -u)
  [[ ${#bad[@]} -eq 0 ]] && { echo "$sim" >&2; log "cannot resolve the install"; exit 1; }
  align=()
  for b in "${bad[@]}"; do
    v=$(apt-cache "${O[@]}" policy "$b:i386" 2>/dev/null | awk '/Candidate:/{print $2}')
    [[ -z "$v" || "$v" == "(none)" ]] && continue
    if dpkg-query -W -f='${Status}' "$b:amd64" 2>/dev/null | grep -q 'ok installed'; then
      align+=("$b:amd64=$v")
    fi
    align+=("$b:i386=$v")
  done
  [[ ${#align[@]} -eq 0 ]] && { echo "$sim" >&2; log "nothing to align"; exit 1; }
  log "attempt $attempt: aligning ${align[*]}"
  $SUDO apt-get "${O[@]}" install -y -qq --allow-downgrades --no-install-recommends "${align[@]}" || true
done
log "could not install: ${todo[*]}"
exit 1
