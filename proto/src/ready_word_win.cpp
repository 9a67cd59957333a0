// The ready word on Windows: WaitOnAddress wakes only threads of the same
// process, so the client there copies before it sends and sets no ready
// word (ready_word_wakes_other_processes). A surrogate given one anyway (a
// client of another build) polls it: correct, if slower than a wake.
#include <windows.h>

#include "dllbridge/wire/ready_word.hpp"

namespace dllbridge::wire {

bool ready_word_wakes_other_processes() noexcept { return false; }

void publish_ready(ReadyWord& word) noexcept { word.store(kReadyDone, std::memory_order_release); }

int current_cpu() noexcept { return static_cast<int>(::GetCurrentProcessorNumber()); }

bool wait_ready(ReadyWord& word, std::chrono::nanoseconds spin, int copier_cpu,
                std::chrono::steady_clock::time_point give_up, const std::atomic<bool>* abandoned) noexcept {
  if (copier_cpu >= 0 && current_cpu() == copier_cpu) spin = std::chrono::nanoseconds(0);
  using Clock = std::chrono::steady_clock;
  const auto spin_until = Clock::now() + spin;
  for (;;) {
    if (word.load(std::memory_order_acquire) == kReadyDone) return true;
    const auto now = Clock::now();
    if (now >= give_up) return false;
    if (abandoned != nullptr && abandoned->load(std::memory_order_acquire)) return false;
    if (now < spin_until) {
      ::SwitchToThread();
    } else {
      ::Sleep(1);
    }
  }
}

}  // namespace dllbridge::wire
