/* Processes the library starts, for the tests of what outlives the surrogate
 * and what a program the library runs inherits (POSIX; Windows returns -1). */
#include "sample.h"

#include <stdio.h>
#if !defined(_WIN32)
#  include <sys/wait.h>
#  include <time.h>
#  include <unistd.h>
#endif

#if defined(_WIN32)
int32_t spawn_sleeper(const char* pid_file, int32_t seconds) {
  (void)pid_file;
  (void)seconds;
  return -1;
}
int32_t spawn_sleeper_and_crash(const char* pid_file, int32_t seconds) {
  (void)pid_file;
  (void)seconds;
  return -1;
}
int32_t exec_child_sockets(void) { return -1; }
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
