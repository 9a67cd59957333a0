#include "supervisor/event_bus.hpp"

#include <chrono>

namespace dllbridge::detail {

EventBus::EventBus() = default;

EventBus::~EventBus() {
  {
    std::lock_guard lock(queue_mu_);
    done_ = true;
  }
  queue_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int EventBus::subscribe(Handler handler) {
  {
    // The delivery thread exists from the first subscriber on: events are
    // queued only for subscribers, and a bridge nobody listens to (the
    // usual case) starts one thread fewer.
    std::lock_guard lock(queue_mu_);
    if (!thread_.joinable() && !done_) thread_ = std::thread([this] { deliver(); });
  }
  std::lock_guard lock(subscribers_mu_);
  subscribers_.emplace(next_id_, std::move(handler));
  return next_id_++;
}

void EventBus::unsubscribe(int id) {
  std::lock_guard lock(subscribers_mu_);
  subscribers_.erase(id);
}

void EventBus::emit(BridgeEvent event) {
  event.at = std::chrono::steady_clock::now();
  std::vector<Handler> targets;
  {
    std::lock_guard lock(subscribers_mu_);
    for (auto& [id, fn] : subscribers_) targets.push_back(fn);
  }
  if (targets.empty()) return;
  {
    std::lock_guard lock(queue_mu_);
    queue_.emplace_back(std::move(event), std::move(targets));
  }
  queue_cv_.notify_one();
}

void EventBus::deliver() {
  std::unique_lock lock(queue_mu_);
  for (;;) {
    queue_cv_.wait(lock, [this] { return done_ || !queue_.empty(); });
    if (queue_.empty()) return;  // done, and everything delivered
    auto [event, targets] = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    for (auto& fn : targets) {
      try {
        fn(event);
      } catch (...) {
        // A subscriber's failure is its own business.
      }
    }
    lock.lock();
  }
}

}  // namespace dllbridge::detail
