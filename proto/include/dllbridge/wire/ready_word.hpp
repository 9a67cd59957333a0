// The ready word of a call (Call.ready; docs/architecture.md, "The shared
// region"): a 4-byte word of the shared region through which the client
// tells the surrogate that a call's bulk bytes are in place. The client
// sends the call first and copies the caller's buffers into the region
// while the surrogate wakes up, then publishes the word; the surrogate
// reads no argument before it sees the word published. Both ends map the
// same memory, so the word is a lock-free 32-bit atomic in both the 64-bit
// client and the 32-bit surrogate. One file per platform
// (ready_word_posix.cpp: a shared futex; ready_word_win.cpp: polling).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace dllbridge::wire {

using ReadyWord = std::atomic<std::uint32_t>;
static_assert(sizeof(ReadyWord) == 4 && ReadyWord::is_always_lock_free,
              "the ready word must be a plain lock-free 32-bit word in shared memory");

inline constexpr std::uint32_t kReadyPending = 0;  // the bytes are not in place yet
inline constexpr std::uint32_t kReadyDone = 1;     // they are: the call may run
inline constexpr std::uint32_t kReadySleeper = 2;  // pending, and the surrogate sleeps on the word

// Whether a publish here wakes a waiter in another process (POSIX: a shared
// futex). Where it does not (Windows), the client copies before it sends
// and sets no ready word.
bool ready_word_wakes_other_processes() noexcept;

// The word at `p` (4-aligned memory both processes map).
inline ReadyWord& ready_word_at(void* p) noexcept { return *static_cast<ReadyWord*>(p); }

// Client: the bytes are in place. Stores kReadyDone (release: the bytes
// before it are seen by whoever sees it) and wakes the surrogate if it
// said it sleeps on the word.
void publish_ready(ReadyWord& word) noexcept;

// The CPU this thread runs on now, or -1 when the platform does not say.
int current_cpu() noexcept;

// How often a sleeping wait_ready looks whether its wait was abandoned.
inline constexpr std::chrono::milliseconds kAbandonLook{20};

// Surrogate: returns once the word is kReadyDone (acquire), after polling
// it for about `spin` (giving the CPU up now and then, so a client copying
// on the same CPU goes on), then sleeping on the word. No polling when
// this thread runs on `copier_cpu` (the client's CPU; -1: unknown). Returns
// false when `give_up` passed first, or when `abandoned` (null: never) was
// set: seen within about kAbandonLook (the session ended, so the bytes
// will never come).
bool wait_ready(ReadyWord& word, std::chrono::nanoseconds spin, int copier_cpu,
                std::chrono::steady_clock::time_point give_up,
                const std::atomic<bool>* abandoned = nullptr) noexcept;

}  // namespace dllbridge::wire
