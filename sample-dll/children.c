/* Processes the library starts, for the tests of what outlives the surrogate
 * and what a program the library runs inherits. */
#include "sample.h"

#include <stdio.h>
#if defined(_WIN32)
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#else
#  include <sys/wait.h>
#  include <time.h>
#  include <unistd.h>
#endif

#if defined(_WIN32)
/* Windows has no fork: the sleeper is another copy of the host program,
 * serving a pipe nobody uses until it is ended (`seconds` is not used). */
static int32_t start_sleeper(const char* pid_file) {
  wchar_t exe[MAX_PATH];
  wchar_t cmd[2 * MAX_PATH];
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;
  const DWORD n = GetModuleFileNameW(NULL, exe, MAX_PATH);
  if (n == 0 || n >= MAX_PATH) return -1;
  _snwprintf(cmd, sizeof cmd / sizeof cmd[0], L"\"%ls\" --listen \\\\.\\pipe\\dllbridge-sleeper-%lu-%lu", exe,
             (unsigned long)GetCurrentProcessId(), (unsigned long)GetTickCount());
  cmd[sizeof cmd / sizeof cmd[0] - 1] = 0;
  ZeroMemory(&si, sizeof si);
  si.cb = sizeof si;
  if (!CreateProcessW(exe, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) return -1;
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  if (pid_file) {
    FILE* f = fopen(pid_file, "w");
    if (f) {
      fprintf(f, "%lu\n", (unsigned long)pi.dwProcessId);
      fclose(f);
    }
  }
  return (int32_t)pi.dwProcessId;
}
int32_t spawn_sleeper(const char* pid_file, int32_t seconds) {
  (void)seconds;
  return start_sleeper(pid_file);
}
int32_t spawn_sleeper_and_crash(const char* pid_file, int32_t seconds) {
  (void)seconds;
  if (start_sleeper(pid_file) < 0) return -1;
  return crash_segv();
}
int32_t exec_child_sockets(void) {
  /* What a child started with bInheritHandles = TRUE would get: inheritable
   * pipe handles, other than the standard ones. */
  const HANDLE std_handles[3] = {GetStdHandle(STD_INPUT_HANDLE), GetStdHandle(STD_OUTPUT_HANDLE),
                                 GetStdHandle(STD_ERROR_HANDLE)};
  int32_t n = 0;
  for (ULONG_PTR v = 4; v < 0x10000; v += 4) {
    const HANDLE h = (HANDLE)v;
    DWORD flags = 0;
    if (!GetHandleInformation(h, &flags) || !(flags & HANDLE_FLAG_INHERIT)) continue;
    if (h == std_handles[0] || h == std_handles[1] || h == std_handles[2]) continue;
    if (GetFileType(h) == FILE_TYPE_PIPE) ++n;
  }
  return n;
}
#else
/* A forked copy of the host that sleeps `seconds`, holding every descriptor
 * the host had (its channel to the client too). */
static pid_t fork_sleeper(const char* pid_file, int32_t seconds) {
  const pid_t pid = fork();
  if (pid == 0) {
    struct timespec ts;
    ts.tv_sec = seconds;
    ts.tv_nsec = 0;
    while (nanosleep(&ts, &ts) != 0) {
    }
    _exit(0);
  }
  if (pid > 0 && pid_file) {
    FILE* f = fopen(pid_file, "w");
    if (f) {
      fprintf(f, "%d\n", (int)pid);
      fclose(f);
    }
  }
  return pid;
}

int32_t spawn_sleeper(const char* pid_file, int32_t seconds) {
  return (int32_t)fork_sleeper(pid_file, seconds);
}

int32_t spawn_sleeper_and_crash(const char* pid_file, int32_t seconds) {
  if (fork_sleeper(pid_file, seconds) < 0) return -1;
  return crash_segv();
}

int32_t exec_child_sockets(void) {
  /* The shell counts the sockets among its descriptors above 2. */
  static const char script[] =
      "n=0; for f in /proc/$$/fd/*; do case ${f##*/} in 0|1|2) continue;; esac; "
      "[ -S \"$f\" ] && n=$((n+1)); done; exit $n";
  int status = 0;
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", script, (char*)NULL);
    _exit(127);
  }
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status) == 127 ? -1 : WEXITSTATUS(status);
}
#endif
