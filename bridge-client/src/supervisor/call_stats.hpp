// Call statistics: counters of outcomes and a ring of the latest latencies,
// read into BridgeStats (p50 / p99). Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "dllbridge/types.hpp"

namespace dllbridge::detail {

class CallStats {
 public:
  // Latencies kept for the percentiles: the last this many successful calls.
  static constexpr std::size_t kLatencyWindow = 1024;

  // `totals` (when given, it must outlive this) also records every outcome
  // recorded here: a pool's figures over all its members.
  // The latency ring's room is taken here, not while calls fill it.
  explicit CallStats(CallStats* totals = nullptr) : totals_(totals) { latencies_us_.reserve(kLatencyWindow); }
  CallStats(const CallStats&) = delete;
  CallStats& operator=(const CallStats&) = delete;

  // A call that succeeded after `latency` (its last attempt).
  void succeeded(std::chrono::microseconds latency);
  // A call that failed for good (circuit_open included); `timed_out` if by its deadline.
  void failed(bool timed_out);
  // An automatic resend of an idempotent call.
  void retried();

  // Fills calls_ok, calls_failed, calls_timed_out, retries, latency_p50 and
  // latency_p99 of `out` (percentiles 0 before the first success).
  void snapshot(BridgeStats& out) const;

 private:
  CallStats* const totals_;
  mutable std::mutex mu_;
  std::uint64_t ok_ = 0, failed_ = 0, timed_out_ = 0, retries_ = 0;
  std::vector<std::uint32_t> latencies_us_;  // a ring once full
  std::size_t next_ = 0;
};

}  // namespace dllbridge::detail
