// The ready word on Linux: a futex on the shared mapping (not
// FUTEX_PRIVATE: the waiter and the waker are different processes, and the
// kernel keys the word by the memory object, whatever address each maps it at).
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "dllbridge/wire/ready_word.hpp"

namespace dllbridge::wire {
namespace {

void futex_wait(ReadyWord& word, std::uint32_t expected, std::chrono::nanoseconds at_most) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(at_most.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(at_most.count() % 1000000000);
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void pause() noexcept {
#if defined(__i386__) || defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

bool ready_word_wakes_other_processes() noexcept { return true; }

void publish_ready(ReadyWord& word) noexcept {
  if (word.exchange(kReadyDone, std::memory_order_acq_rel) == kReadySleeper)
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

int current_cpu() noexcept { return ::sched_getcpu(); }

bool wait_ready(ReadyWord& word, std::chrono::nanoseconds spin, int copier_cpu,
                std::chrono::steady_clock::time_point give_up, const std::atomic<bool>* abandoned) noexcept {
  using Clock = std::chrono::steady_clock;
  if (word.load(std::memory_order_acquire) == kReadyDone) return true;
  auto gone = [abandoned] { return abandoned != nullptr && abandoned->load(std::memory_order_acquire); };
  // On the client's CPU the copy goes on only once this thread sleeps.
  if (copier_cpu < 0 || current_cpu() != copier_cpu) {
    // Reads between pauses, and the CPU given up every few microseconds
    // (the scheduler may still put both on one CPU): a system call per read
    // would cost more than the copy it waits for on this kind of machine.
    constexpr int kPausesPerYield = 200;
    const auto spin_until = Clock::now() + spin;
    do {
      for (int i = 0; i < kPausesPerYield; ++i) {
        if (word.load(std::memory_order_acquire) == kReadyDone) return true;
        pause();
      }
      ::sched_yield();
      if (gone()) return false;
    } while (Clock::now() < spin_until);
  }
  // Asleep until the publish wakes us (a spurious wake-up, a signal: again).
  for (;;) {
    std::uint32_t seen = kReadyPending;
    if (!word.compare_exchange_strong(seen, kReadySleeper, std::memory_order_acq_rel) && seen == kReadyDone)
      return true;
    const auto now = Clock::now();
    if (now >= give_up || gone()) return false;
    // Woken by the publish; without one, up to the give-up, or a look at
    // `abandoned` now and then.
    auto nap = std::chrono::duration_cast<std::chrono::nanoseconds>(give_up - now);
    if (abandoned != nullptr) nap = std::min<std::chrono::nanoseconds>(nap, kAbandonLook);
    futex_wait(word, kReadySleeper, nap);
    if (word.load(std::memory_order_acquire) == kReadyDone) return true;
  }
}

}  // namespace dllbridge::wire
