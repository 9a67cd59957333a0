#include "core/in_process.hpp"

#include <utility>

namespace dllbridge::surrogate {
namespace {

auto make_pair_for(std::unique_ptr<rpc::Transport>& client) {
  auto [a, b] = rpc::in_memory_pair();
  client = std::move(a);
  return std::move(b);
}

// The client's end, owning the session behind it.
class OwningTransport final : public rpc::Transport {
 public:
  explicit OwningTransport(int workers) : host_(workers), end_(host_.client_end()) {}
  ~OwningTransport() override { end_->close(); }  // then ~InProcess waits for the session
  void start(Receiver& receiver) override { end_->start(receiver); }
  void send(std::string frame) override { end_->send(std::move(frame)); }
  void close() noexcept override { end_->close(); }

 private:
  InProcess host_;
  std::unique_ptr<rpc::Transport> end_;
};

}  // namespace

InProcess::InProcess(int workers) : server_(make_pair_for(client_)), session_(*server_, workers) {
  thread_ = std::thread([this] { session_.run(); });
}

InProcess::~InProcess() {
  if (client_) client_->close();
  server_->close();
  thread_.join();
}

std::unique_ptr<rpc::Transport> InProcess::client_end() { return std::move(client_); }

std::unique_ptr<rpc::Transport> start_in_process(int workers) {
  return std::make_unique<OwningTransport>(workers);
}

}  // namespace dllbridge::surrogate
