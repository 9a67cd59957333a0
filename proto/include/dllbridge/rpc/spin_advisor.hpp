// rpc::SpinAdvisor: low-latency mode's choice for each wait for a frame
// (docs/performance.md, "Calls near the floor"): poll for it for a while
// before sleeping (spin), or sleep at once.
//
// Spinning saves the wake-up when the frame comes within the spin and the
// other process runs on another CPU; when both share one CPU it only keeps
// the other side from running. Which case holds is not guessed from the
// placement (the scheduler moves processes): the advisor keeps the mean
// time a wait took in each mode, both capped, uses the faster one (sleep
// unless spinning is clearly faster, since it costs CPU time) and tries
// the other now and then (less often while it keeps losing, at once when
// the waits of the mode in use become much faster or slower, several in a
// row) to notice a change. In spin mode the spin lasts about twice the
// longest time frames took to come within it lately (a caught frame
// shortens it by at most an eighth), and twice as long as before after one
// that did not.
//
// Not thread-safe: one per transport, used by the holder of the reader role.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace dllbridge::rpc {

class SpinAdvisor {
 public:
  static constexpr std::chrono::nanoseconds kMaxSpin{50000};  // the longest spin
  static constexpr std::chrono::nanoseconds kMinSpin{2000};   // the shortest worth a loop of reads
  // Waits longer than this count as this long, and for both modes: an idle
  // peer (seconds between calls, or a gap between bursts) says nothing
  // about which mode is faster.
  static constexpr std::chrono::nanoseconds kCap{4 * kMaxSpin};
  static constexpr std::uint32_t kFirstTryEvery = 16;      // waits between tries of the other mode
  static constexpr std::uint32_t kLongestTryEvery = 1024;  // ... after it lost again and again
  // Waits in a row, each far from its mode's mean on the same side, that
  // say the placement changed (a lone slow wait is noise, not a move).
  static constexpr std::uint32_t kMovedAfter = 8;
  // Settled on sleeping (spinning lost so often that it is tried only once
  // in kLongestTryEvery waits): one sleeping wait in this many is timed and
  // recorded, so that low-latency mode costs next to nothing more than the
  // standard one where it cannot help (one CPU). A sampled wait far from
  // the mean has the next ones timed, so a move of a process still shows
  // within about kSampleEvery + kMovedAfter waits (and the mean of the
  // sleeping waits then spans about kSampleEvery times as many waits).
  static constexpr std::uint32_t kSampleEvery = 8;

  // For the wait about to start: spin for `budget` first (0: sleep at
  // once); `timed`: measure the wait and record() it (a plan that is not
  // timed is not recorded).
  struct Plan {
    bool spin = false;
    std::chrono::nanoseconds budget{0};
    bool timed = true;
  };
  Plan next();

  // How the wait `plan` (a timed one) went: `total`, from its start until
  // the frame came; for a spin, whether the frame came within it and then
  // after how long (`hit_after`).
  void record(const Plan& plan, std::chrono::nanoseconds total, bool hit, std::chrono::nanoseconds hit_after);

  // What the advisor has learnt (tests, diagnostics).
  bool prefers_spin() const;
  std::chrono::nanoseconds spin_budget() const { return std::chrono::nanoseconds(budget_ns_); }
  std::chrono::nanoseconds mean(bool spin) const { return std::chrono::nanoseconds(mean_ns_[spin ? 1 : 0]); }

 private:
  std::int64_t mean_ns_[2] = {0, 0};  // [sleep, spin]: moving means of capped waits
  std::uint32_t samples_[2] = {0, 0};
  std::int64_t budget_ns_ = kMaxSpin.count() / 2;
  std::uint32_t try_every_ = kFirstTryEvery;
  std::uint32_t until_try_ = kFirstTryEvery;
  bool trying_ = false;            // the last plan was a try of the mode not preferred
  std::uint32_t until_timed_ = 0;  // settled on sleeping: untimed waits before the next timed one
  // Waits in a row of the mode in use far from its mean on the side of
  // moved_up_; kMovedAfter of them bring the next try forward.
  std::uint32_t moved_streak_ = 0;
  bool moved_up_ = false;
};

// Standard mode's bulk polls (docs/performance.md, "Bulk data in standard
// mode"): whether a poll offered now is worth making. A poll that missed
// (what it waited for came only after it had given up and slept) has the
// next 2^misses - 1 offers passed up, at most kMaxSkip; one that caught it
// clears the count. Thread-safe (relaxed: a lost update only moves a poll).
class PollBackoff {
 public:
  static constexpr std::uint32_t kMaxSkip = 63;
  // Whether to poll now (an offer passed up is counted).
  bool now();
  // How the last poll went.
  void went(bool caught);

 private:
  std::atomic<std::uint32_t> misses_{0};
  std::atomic<std::uint32_t> skip_{0};
};

}  // namespace dllbridge::rpc
