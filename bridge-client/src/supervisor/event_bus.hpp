// The supervisor's event bus: subscribers, and the delivery of BridgeEvents
// in the order they happened, on a thread of its own (started with the first
// subscriber), so a handler may call into the bridge without blocking the
// threads that detect failures.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "dllbridge/types.hpp"

namespace dllbridge::detail {

class EventBus {
 public:
  using Handler = std::function<void(const BridgeEvent&)>;

  // No thread yet: the delivery thread starts with the first subscriber.
  EventBus();
  // Delivers every event already emitted, then ends the delivery thread.
  ~EventBus();
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // Adds a handler for the events emitted from now on; its id for unsubscribe().
  int subscribe(Handler handler);
  // Removes a handler; events already queued still reach it.
  void unsubscribe(int id);
  // Stamps `event` with the time now and queues it for the handlers
  // subscribed at this moment. Never runs or waits for a handler, so it may
  // be called under the caller's own locks; safe from any thread.
  void emit(BridgeEvent event);

 private:
  void deliver();

  std::mutex subscribers_mu_;
  std::map<int, Handler> subscribers_;
  int next_id_ = 1;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  // Each event with the handlers at the time it happened.
  std::deque<std::pair<BridgeEvent, std::vector<Handler>>> queue_;
  bool done_ = false;
  std::thread thread_;  // queue_mu_: started by the first subscribe()
};

}  // namespace dllbridge::detail
