// The ready word (dllbridge/wire/ready_word.hpp) between two real
// processes sharing a memfd, as the client and a surrogate do: a waiter
// asleep on the word is woken by the other process's publish and then sees
// the bytes written before it; a word never published gives up at its
// deadline; a waiter on the publisher's CPU sleeps without polling first.
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <new>
#include <thread>

#include "dllbridge/wire/ready_word.hpp"

using namespace dllbridge;
using namespace std::chrono_literals;

namespace {

// One page both processes map: the word, then a payload.
struct Shared {
  Shared() {
    fd = ::memfd_create("ready-word-test", MFD_CLOEXEC);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, 4096), 0);
    void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_NE(p, MAP_FAILED);
    base = static_cast<unsigned char*>(p);
    new (base) wire::ReadyWord(wire::kReadyPending);
  }
  ~Shared() {
    ::munmap(base, 4096);
    ::close(fd);
  }
  wire::ReadyWord& word() { return wire::ready_word_at(base); }
  unsigned char* payload() { return base + 64; }
  int fd = -1;
  unsigned char* base = nullptr;
};

// Waits (bounded) until the word holds `value`: the other side's signalled state.
bool word_becomes(wire::ReadyWord& w, std::uint32_t value) {
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    if (w.load() == value) return true;
    std::this_thread::yield();
  }
  return false;
}

// Forks a child that waits on the word (spinning `spin` first, as if the
// client copied on `copier_cpu`) and exits 0 when it saw the word published
// and the payload complete after it, 1 when the payload was incomplete, 2
// when the wait gave up, 3 when it saw the word only as its time ran out
// (no wake came).
pid_t waiter(Shared& s, std::chrono::nanoseconds spin, int copier_cpu, std::chrono::seconds give_up) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  const auto deadline = std::chrono::steady_clock::now() + give_up;
  const bool ok = wire::wait_ready(s.word(), spin, copier_cpu, deadline);
  if (!ok) ::_exit(2);
  // Published, but seen only when the wait ran out: the publish did not wake it.
  if (give_up > 0s && std::chrono::steady_clock::now() >= deadline) ::_exit(3);
  for (int i = 0; i < 1000; ++i) {
    if (s.payload()[i] != static_cast<unsigned char>(i * 3)) ::_exit(1);
  }
  ::_exit(0);
}

int exit_code(pid_t pid) {
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST(ReadyWord, AnotherProcessAsleepOnTheWordIsWokenByThePublishAndSeesTheBytes) {
  ASSERT_TRUE(wire::ready_word_wakes_other_processes());
  Shared s;
  const pid_t pid = waiter(s, 0ns, -1, 20s);  // no wake: it gives up (exit 2)
  // The child says it sleeps on the word; only then are the bytes written.
  ASSERT_TRUE(word_becomes(s.word(), wire::kReadySleeper)) << "the waiter never slept on the word";
  for (int i = 0; i < 1000; ++i) s.payload()[i] = static_cast<unsigned char>(i * 3);
  wire::publish_ready(s.word());
  EXPECT_EQ(exit_code(pid), 0);
  EXPECT_EQ(s.word().load(), wire::kReadyDone);
}

TEST(ReadyWord, AWaiterOnTheCopiersCpuSleepsAtOnce) {
  Shared s;
  cpu_set_t before;
  ASSERT_EQ(::sched_getaffinity(0, sizeof before, &before), 0);
  // A spin far longer than the test: only the CPU check can make it sleep.
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);  // this process, and the child it forks
  const pid_t pid = waiter(s, std::chrono::hours(1), 0, 20s);
  EXPECT_TRUE(word_becomes(s.word(), wire::kReadySleeper)) << "the waiter polled instead of sleeping";
  for (int i = 0; i < 1000; ++i) s.payload()[i] = static_cast<unsigned char>(i * 3);
  wire::publish_ready(s.word());
  EXPECT_EQ(exit_code(pid), 0);
  ::sched_setaffinity(0, sizeof before, &before);
}

TEST(ReadyWord, AWordPublishedBeforeTheWaitIsTakenAtOnceAndOneNeverPublishedGivesUp) {
  Shared s;
  for (int i = 0; i < 1000; ++i) s.payload()[i] = static_cast<unsigned char>(i * 3);
  wire::publish_ready(s.word());
  EXPECT_EQ(exit_code(waiter(s, 0ns, -1, 0s)), 0) << "a published word was not taken";

  Shared never;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(exit_code(waiter(never, 1ms, -1, 1s)), 2) << "the wait did not give up";
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(never.word().load(), wire::kReadySleeper);
}
