// surrogate::end_process_on_faults on POSIX, in forked children: a fault
// still ends the process with its own signal (the client names it), from
// any thread, and the surrogate takes over only default dispositions and
// only where no core file would be written (there it ends the process
// without the core dump's wait for every thread).
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/library.hpp"

namespace {

// Runs `child` in a forked child (its return value is its exit code) and
// returns the child's wait status.
template <class F>
int in_child(F child) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(child());
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}

void set_core_limit(rlim_t limit) {
  const rlimit r{limit, limit};
  ::setrlimit(RLIMIT_CORE, &r);
}

void default_disposition(int sig) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(sig, &dfl, nullptr);
}

bool handled(int sig) {
  struct sigaction now {};
  ::sigaction(sig, nullptr, &now);
  return now.sa_handler != SIG_DFL && now.sa_handler != SIG_IGN;
}

// Whether the kernel pipes core dumps to a program (then they are written
// whatever the limit, and the dispositions stay the kernel's).
bool cores_piped() {
  std::FILE* f = std::fopen("/proc/sys/kernel/core_pattern", "re");
  if (f == nullptr) return true;
  const int first = std::fgetc(f);
  std::fclose(f);
  return first == '|';
}

void* sleep_forever(void*) {
  for (;;) ::pause();
}

}  // namespace

TEST(FaultEnd, AFaultEndsTheProcessWithItsOwnSignalFromAnyThread) {
  struct Case {
    int sig;
    void (*fault)();
  };
  const Case cases[] = {
      {SIGSEGV,
       [] {  // a page the process may not touch: a real fault, not undefined behaviour
         void* page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
         *static_cast<volatile int*>(page) = 1;
       }},
      {SIGABRT, [] { std::abort(); }},
      {SIGFPE, [] { ::raise(SIGFPE); }},  // raised, not a trap: the handler must end it too
      {SIGBUS, [] { ::raise(SIGBUS); }},
  };
  for (const Case& c : cases) {
    const int status = in_child([&] {
      set_core_limit(0);
      default_disposition(c.sig);  // (a sanitizer's handler aside)
      dllbridge::surrogate::end_process_on_faults();
      for (int i = 0; i < 3; ++i) {  // threads the kernel must end too
        pthread_t t;
        ::pthread_create(&t, nullptr, sleep_forever, nullptr);
      }
      c.fault();
      return 0;  // the fault did not end the process
    });
    ASSERT_TRUE(WIFSIGNALED(status)) << "signal " << c.sig << ": exited with " << WEXITSTATUS(status);
    EXPECT_EQ(WTERMSIG(status), c.sig);
    EXPECT_FALSE(WCOREDUMP(status));
  }
}

TEST(FaultEnd, OnlyDefaultDispositionsAreTakenOverAndOnlyWhereNoCoreIsWritten) {
  // No core written (limit 0, no pipe): the fault signals are handled, but
  // one the program ignores stays ignored.
  int status = in_child([] {
    set_core_limit(0);
    default_disposition(SIGSEGV);
    ::signal(SIGTRAP, SIG_IGN);
    dllbridge::surrogate::end_process_on_faults();
    const bool ignored_kept = [] {
      struct sigaction now {};
      ::sigaction(SIGTRAP, nullptr, &now);
      return now.sa_handler == SIG_IGN;
    }();
    if (!ignored_kept) return 3;
    return handled(SIGSEGV) ? 1 : 2;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), cores_piped() ? 2 : 1)
      << "1: handled, 2: left to the kernel, 3: SIG_IGN lost";

  // A core limit: the kernel's way, untouched (a core file is wanted).
  status = in_child([] {
    set_core_limit(RLIM_INFINITY);
    default_disposition(SIGSEGV);
    dllbridge::surrogate::end_process_on_faults();
    return handled(SIGSEGV) ? 1 : 2;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}
