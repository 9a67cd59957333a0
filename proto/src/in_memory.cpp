// Two transports joined in memory: what one sends, the other's thread
// delivers. Frames keep their framing checks (size cap) though no bytes are
// read from a stream.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "dllbridge/rpc/transport.hpp"
#include "dllbridge/wire/frame.hpp"

namespace dllbridge::rpc {
namespace {

struct Link {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> inbox[2];  // inbox[i]: frames for end i
  bool closed[2] = {false, false};   // end i closed
};

class MemoryEnd final : public Transport {
 public:
  MemoryEnd(std::shared_ptr<Link> link, int side) : link_(std::move(link)), side_(side) {}
  ~MemoryEnd() override {
    close();
    if (reader_.joinable()) {
      if (reader_.get_id() == std::this_thread::get_id()) {
        reader_.detach();
      } else {
        reader_.join();
      }
    }
  }

  void start(Receiver& receiver) override {
    reader_ = std::thread([this, &receiver] { read(receiver); });
  }

  void send(std::string frame) override {
    if (frame.size() < wire::kHeaderSize) return;
    std::lock_guard lock(link_->mu);
    if (link_->closed[0] || link_->closed[1]) return;
    link_->inbox[1 - side_].push_back(frame.substr(wire::kHeaderSize));
    link_->cv.notify_all();
  }

  void close() noexcept override {
    std::lock_guard lock(link_->mu);
    link_->closed[side_] = true;
    link_->cv.notify_all();
  }

 private:
  void read(Receiver& receiver) {
    std::unique_lock lock(link_->mu);
    std::deque<std::string>& inbox = link_->inbox[side_];
    for (;;) {
      link_->cv.wait(lock, [&] { return link_->closed[0] || link_->closed[1] || !inbox.empty(); });
      if (link_->closed[side_]) break;  // closed here: stop reading at once
      if (inbox.empty()) break;         // closed there, everything delivered
      std::string payload = std::move(inbox.front());
      inbox.pop_front();
      lock.unlock();
      receiver.on_frame(payload);
      lock.lock();
    }
    const bool here = link_->closed[side_];
    lock.unlock();
    receiver.on_end(here ? "the in-memory channel was closed" : "the other end closed the in-memory channel",
                    false);
  }

  std::shared_ptr<Link> link_;
  const int side_;
  std::thread reader_;
};

}  // namespace

std::pair<std::unique_ptr<Transport>, std::unique_ptr<Transport>> in_memory_pair() {
  auto link = std::make_shared<Link>();
  return {std::make_unique<MemoryEnd>(link, 0), std::make_unique<MemoryEnd>(link, 1)};
}

}  // namespace dllbridge::rpc
