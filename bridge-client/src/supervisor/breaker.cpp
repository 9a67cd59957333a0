#include "supervisor/breaker.hpp"

#include <algorithm>

namespace dllbridge::detail {

bool Breaker::allow(TimePoint now) {
  if (!policy_.enabled) return true;
  if (state_ == BreakerState::open) {
    if (now - opened_at_ < policy_.open_for) return false;
    state_ = BreakerState::half_open;
    probes_out_ = probes_ok_ = 0;
  }
  if (state_ == BreakerState::half_open) {
    if (probes_out_ >= policy_.half_open_probes) return false;
    ++probes_out_;
  }
  return true;
}

bool Breaker::would_allow(TimePoint now) const {
  if (!policy_.enabled || state_ == BreakerState::closed) return true;
  if (state_ == BreakerState::open) return now - opened_at_ >= policy_.open_for;
  return probes_out_ < policy_.half_open_probes;
}

void Breaker::release_probe() {
  if (state_ == BreakerState::half_open && probes_out_ > 0) --probes_out_;
}

void Breaker::record(bool success, TimePoint now) {
  if (!policy_.enabled) return;
  if (state_ == BreakerState::half_open) {
    if (!success) {
      trip(now);
    } else if (++probes_ok_ >= policy_.half_open_probes) {
      state_ = BreakerState::closed;
      recorded_ = 0;
      failures_ = 0;
    }
    return;
  }
  if (state_ == BreakerState::open) return;  // a call let through before it opened
  if (policy_.window > 0) {
    const auto window = static_cast<std::size_t>(policy_.window);
    if (outcomes_.size() != window) outcomes_.assign(window, false);  // once
    if (recorded_ == policy_.window) {
      failures_ -= outcomes_[next_];  // the oldest goes
    } else {
      if (recorded_ == 0) next_ = 0;
      ++recorded_;
    }
    outcomes_[next_] = !success;
    failures_ += !success;
    next_ = (next_ + 1) % window;
  }
  const int n = recorded_;
  if (n >= policy_.min_calls && failures_ >= policy_.failure_ratio * n) trip(now);
}

void Breaker::trip(TimePoint now) {
  state_ = BreakerState::open;
  opened_at_ = now;
  recorded_ = 0;
  failures_ = 0;
}

std::chrono::milliseconds Breaker::open_remaining(TimePoint now) const {
  if (state_ != BreakerState::open) return std::chrono::milliseconds(0);
  const auto left =
      policy_.open_for - std::chrono::duration_cast<std::chrono::milliseconds>(now - opened_at_);
  return std::max(left, std::chrono::milliseconds(0));
}

std::chrono::milliseconds backoff_delay(const Backoff& b, int attempt, std::mt19937_64& rng) {
  if (attempt < 1 || b.base.count() <= 0) return std::chrono::milliseconds(0);
  std::int64_t ceiling = b.base.count();
  for (int i = 1; i < attempt && ceiling < b.cap.count(); ++i) ceiling *= 2;
  ceiling = std::min<std::int64_t>(ceiling, b.cap.count());
  if (!b.jitter) return std::chrono::milliseconds(ceiling);
  std::uniform_int_distribution<std::int64_t> pick(0, ceiling);
  return std::chrono::milliseconds(pick(rng));
}

bool StartLimiter::try_start(TimePoint now) {
  while (!starts_.empty() && now - starts_.front() >= window_) starts_.pop_front();
  if (static_cast<int>(starts_.size()) >= max_) return false;
  starts_.push_back(now);
  return true;
}

}  // namespace dllbridge::detail
