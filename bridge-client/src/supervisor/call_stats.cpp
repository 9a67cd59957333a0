#include "supervisor/call_stats.hpp"

#include <algorithm>
#include <limits>

namespace dllbridge::detail {

void CallStats::succeeded(std::chrono::microseconds latency) {
  const auto v = static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(latency.count(), 0, std::numeric_limits<std::uint32_t>::max()));
  {
    std::lock_guard lock(mu_);
    ++ok_;
    if (latencies_us_.size() < kLatencyWindow) {
      latencies_us_.push_back(v);
    } else {
      latencies_us_[next_] = v;
      next_ = (next_ + 1) % kLatencyWindow;
    }
  }
  if (totals_) totals_->succeeded(latency);
}

void CallStats::failed(bool timed_out) {
  {
    std::lock_guard lock(mu_);
    ++failed_;
    if (timed_out) ++timed_out_;
  }
  if (totals_) totals_->failed(timed_out);
}

void CallStats::retried() {
  {
    std::lock_guard lock(mu_);
    ++retries_;
  }
  if (totals_) totals_->retried();
}

void CallStats::snapshot(BridgeStats& out) const {
  std::vector<std::uint32_t> lat;
  {
    std::lock_guard lock(mu_);
    out.calls_ok = ok_;
    out.calls_failed = failed_;
    out.calls_timed_out = timed_out_;
    out.retries = retries_;
    lat = latencies_us_;
  }
  if (lat.empty()) return;
  std::sort(lat.begin(), lat.end());
  out.latency_p50 = std::chrono::microseconds(lat[(lat.size() - 1) / 2]);
  out.latency_p99 = std::chrono::microseconds(lat[(lat.size() - 1) * 99 / 100]);
}

}  // namespace dllbridge::detail
