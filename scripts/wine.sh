#!/usr/bin/env bash
# Runs a Windows program (32- or 64-bit PE) under Wine for the dllbridge
# Windows build: scripts/wine.sh PROGRAM [ARGS...]
# Used as CMAKE_CROSSCOMPILING_EMULATOR by cmake/toolchains/mingw-w64-*.cmake,
# so ctest and gtest_discover_tests run the test programs through it.
#
# - stdin/stdout/stderr and the exit status pass through (Unix exit statuses
#   are 8 bits: an access violation, 0xC0000005, ends with status 5).
# - Wine prefix of our own: ${DLLBRIDGE_WINEPREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/dllbridge/wineprefix}
#   (win64, runs 32- and 64-bit programs), created on first use without GUI
#   prompts, under a lock so parallel ctest runs do not race.
# - No crash dialog and no winedbg: an unhandled exception ends the program
#   at once with its exception code.
# - The wineserver and Wine's background services are started with their
#   stdio on /dev/null before the program runs. Otherwise they inherit the
#   program's stdout/stderr pipes and ctest waits for them to exit. They stay
#   up for DLLBRIDGE_WINESERVER_PERSIST seconds (default 30) after the last
#   program ends, so back-to-back runs start fast, then exit by themselves.
#
# Environment: WINEDEBUG defaults to -all (set DLLBRIDGE_WINEDEBUG to change it);
# WINEDLLOVERRIDES, WINESERVER and DLLBRIDGE_WINE (the wine command) are honoured;
# DLLBRIDGE_WINE_TRACE=FILE appends a line per step (timing of the set-up steps).
set -uo pipefail

trace() { [[ -n "${DLLBRIDGE_WINE_TRACE:-}" ]] && echo "$(date +%T.%N) $$ $*" >>"$DLLBRIDGE_WINE_TRACE"; return 0; }

if [[ $# -lt 1 ]]; then
  echo "usage: $0 PROGRAM [ARGS...]" >&2
  exit 2
fi

WINE_CMD=${DLLBRIDGE_WINE:-wine}
WINESERVER_CMD=${WINESERVER:-wineserver}
export WINEPREFIX="${DLLBRIDGE_WINEPREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/dllbridge/wineprefix}"
export WINEDEBUG="${DLLBRIDGE_WINEDEBUG:--all}"
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES-mscoree,mshtml=}"
PERSIST=${DLLBRIDGE_WINESERVER_PERSIST:-30}

command -v "$WINE_CMD" >/dev/null || { echo "wine.sh: '$WINE_CMD' not found (scripts/setup.sh --windows)" >&2; exit 127; }

# Bump when the settings below change; the prefix is then set up again.
SETTINGS_VERSION=1
READY="$WINEPREFIX/.dllbridge-ready"
want_ready="settings=$SETTINGS_VERSION $("$WINE_CMD" --version 2>/dev/null)"

mkdir -p "$(dirname "$WINEPREFIX")"
LOCK="$WINEPREFIX.lock"
SETUP_LOG="$WINEPREFIX.setup.log"

setup_prefix() {
  local aedebug='HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug' v
  {
    echo "=== $(date -u) setting up $WINEPREFIX"
    # DISPLAY unset: no "updating configuration" window, no GUI prompts.
    env -u DISPLAY -u WAYLAND_DISPLAY WINEARCH="${WINEARCH:-win64}" "$WINE_CMD" wineboot -i || return 1
    # An unhandled exception normally starts "winedbg --auto" (backtrace, and a
    # crash dialog when a display exists). A debugger command that cannot start
    # makes Wine end the process with its exception code right away. Both
    # registry views: 64-bit programs read one, 32-bit (WoW64) the other.
    for v in 64 32; do
      "$WINE_CMD" reg add "$aedebug" /v Debugger /t REG_SZ /d dllbridge-no-debugger.exe /f /reg:$v || return 1
      "$WINE_CMD" reg add "$aedebug" /v Auto /t REG_SZ /d 1 /f /reg:$v || return 1
    done
    "$WINE_CMD" reg add 'HKCU\Software\Wine\WineDbg' /v ShowCrashDialog /t REG_DWORD /d 0 /f || return 1
  } </dev/null >>"$SETUP_LOG" 2>&1
}

# Where the wineserver of $WINEPREFIX listens, if that can be worked out.
# Upstream: /tmp/.wine-UID/server-DEV-INO; Debian keeps a random directory name
# in $WINEPREFIX/wineserver instead.
server_socket() {
  local di base
  di=$(stat -c '%d %i' "$WINEPREFIX" 2>/dev/null) || return 1
  if [[ -f "$WINEPREFIX/wineserver" ]]; then
    base="/tmp/$(<"$WINEPREFIX/wineserver")"
  else
    base="/tmp/.wine-$(id -u)"
  fi
  # shellcheck disable=SC2086
  printf '%s/server-%x-%x/socket\n' "$base" $di
}
server_running() {
  local s
  s=$(server_socket) && [[ -S "$s" ]]
}

with_lock() {  # with_lock COMMAND...: run under the prefix lock
  exec 9>"$LOCK"
  flock 9
  "$@"
  local rc=$?
  flock -u 9
  exec 9>&-
  return $rc
}

ensure_ready() {
  [[ -f "$READY" && "$(<"$READY")" == "$want_ready" ]] && return 0
  local start=$SECONDS
  if ! setup_prefix; then
    echo "wine.sh: creating the Wine prefix $WINEPREFIX failed; last lines of $SETUP_LOG:" >&2
    tail -n 20 "$SETUP_LOG" >&2
    return 1
  fi
  # Let the setup's wineserver write the registry and exit; the next step
  # starts one detached from any caller's pipes.
  "$WINESERVER_CMD" -w </dev/null >/dev/null 2>&1
  echo "$want_ready" >"$READY"
  echo "=== prefix ready in $((SECONDS - start)) s" >>"$SETUP_LOG"
}

ensure_server() {
  server_running && return 0
  # A detached, persistent wineserver, then one throwaway program so the
  # services Wine starts with its first program get /dev/null as stdio too.
  "$WINESERVER_CMD" -p"$PERSIST" </dev/null >/dev/null 2>&1
  "$WINE_CMD" cmd.exe /c exit 0 </dev/null >/dev/null 2>&1
  return 0
}

trace "start $*"
if [[ ! -f "$READY" || "$(<"$READY")" != "$want_ready" ]]; then
  with_lock ensure_ready || exit 125
  trace "prefix ready"
fi
if ! server_running; then
  with_lock ensure_server
  trace "server ready"
fi
trace "exec wine"

# Under load, Wine now and then fails to start a program at all. Two ways
# were seen in CI, each once in a few hundred starts: its loader hands the
# program to start.exe, which prints "Application could not be started, ..."
# and "ShellExecuteEx failed: Internal error." and exits 1; or the program
# ends at once with a failing status having printed nothing at all, on
# either stream (a test program prints before its first test, so nothing of
# it ran). Either way it is started again, at most twice, and the retry is
# said on stderr. The program's stdout and stderr reach ours through tee
# (so that what it printed can be looked at); stdin is untouched.
errlog=$(mktemp "${TMPDIR:-/tmp}/dllbridge-wine.XXXXXX") || exec "$WINE_CMD" "$@"
outlog=$(mktemp "${TMPDIR:-/tmp}/dllbridge-wine.XXXXXX") || { rm -f "$errlog"; exec "$WINE_CMD" "$@"; }
trap 'rm -f "$errlog" "$outlog"' EXIT
tees_done() {  # $@: the pids of the tees
  local i pid
  # A tee ends once everything that holds its pipe has gone (wine, at once;
  # rarely a child that outlives it): wait a little for it, never long.
  for pid in "$@"; do
    for ((i = 0; i < 20; ++i)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
  done
}
could_not_start() {  # wine's start.exe said so
  grep -q 'Application could not be started' "$errlog" && grep -q 'ShellExecuteEx failed' "$errlog"
}
for attempt in 1 2 3; do
  : >"$errlog"
  : >"$outlog"
  exec 8> >(tee -a "$errlog" >&2)
  errpid=$!
  exec 9> >(tee -a "$outlog")
  outpid=$!
  "$WINE_CMD" "$@" 2>&8 >&9 8>&- 9>&-
  rc=$?
  exec 8>&- 9>&-
  [[ $rc -ne 0 && $attempt -lt 3 ]] || exit $rc
  tees_done "$errpid" "$outpid"
  if could_not_start; then
    why="its loader failed"
  elif [[ ! -s "$errlog" && ! -s "$outlog" ]]; then
    why="it ended with status $rc having printed nothing"
  else
    exit $rc
  fi
  echo "wine.sh: Wine could not start $1 ($why; nothing ran): starting it again (attempt $((attempt + 1)) of 3)" >&2
  trace "retry $attempt: $why"
done
