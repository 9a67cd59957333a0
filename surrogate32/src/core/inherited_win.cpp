#include "core/inherited.hpp"

#include "core/stream_transport.hpp"
#include "core/transport.hpp"

namespace dllbridge::surrogate {
namespace {

// The pipe and its transport, owned together.
class OwnedPipeTransport final : public rpc::Transport {
 public:
  explicit OwnedPipeTransport(Stream stream) : stream_(std::move(stream)), transport_(stream_) {}
  void start(Receiver& receiver) override { transport_.start(receiver); }
  void send(std::string frame) override { transport_.send(std::move(frame)); }
  void close() noexcept override { transport_.close(); }

 private:
  Stream stream_;
  StreamTransport transport_;
};

}  // namespace

std::unique_ptr<rpc::Transport> inherited_transport(Stream stream, bool /*low_latency: not on named pipes yet*/) {
  return std::make_unique<OwnedPipeTransport>(std::move(stream));
}

}  // namespace dllbridge::surrogate
