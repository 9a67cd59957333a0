// A fake surrogate for the client's handshake checks: started by the client
// like the real one (`--fd N` / `--pipe NAME` among its arguments), it
// answers the Hello with the protocol version and pointer size given in
// $DLLBRIDGE_FAKE_HELLO ("VERSION POINTER_SIZE"), then reads until the end.
// With --shared-frames (Linux) it takes the client's frame rings first, as
// the real one does.
#if defined(_WIN32)
#  include "dllbridge/wire/win32.hpp"  // before anything that includes the wire enums
#  include <asio/windows/stream_handle.hpp>
#else
#  include <asio/local/stream_protocol.hpp>
#endif

#include <cstdlib>
#include <future>
#include <sstream>
#include <string>

#include "dllbridge/wire/frame.hpp"
#if defined(__linux__)
#  include "dllbridge/rpc/ring_transport.hpp"
#endif

using namespace dllbridge;

namespace {

std::uint32_t version = 0, pointer_size = 0;

// The fake's answer to `in`; false after the Shutdown's.
bool answer(const wire::Frame& in, wire::Frame& out) {
  wire::Reply* reply = out.mutable_reply();
  reply->set_id(in.request().id());
  if (in.request().has_hello()) {
    reply->mutable_hello()->set_protocol_version(version);
    reply->mutable_hello()->set_pid(0);
    reply->mutable_hello()->set_pointer_size(pointer_size);
  } else if (in.request().has_shutdown()) {
    reply->mutable_shutdown();
    return false;
  } else {
    reply->mutable_error()->set_kind(wire::PROTOCOL);
    reply->mutable_error()->set_message("a fake surrogate");
  }
  return true;
}

#if defined(__linux__)
// Answers the frames a transport delivers until the end.
class Answering final : public rpc::Transport::Receiver {
 public:
  explicit Answering(rpc::Transport& t) : t_(t) {}
  void on_frame(std::string& payload) override {
    wire::Frame in, out;
    wire::decode_payload(payload, in);
    answer(in, out);
    t_.send(wire::encode_frame(out));
  }
  void on_end(const std::string&, bool) override { ended_.set_value(); }
  void wait() { ended_.get_future().wait(); }

 private:
  rpc::Transport& t_;
  std::promise<void> ended_;
};
#endif

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint;
  bool shared_frames = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--fd" || a == "--pipe") && i + 1 < argc) endpoint = argv[i + 1];
    if (a == "--shared-frames") shared_frames = true;
  }
  const char* spec = std::getenv("DLLBRIDGE_FAKE_HELLO");
  if (endpoint.empty() || spec == nullptr) return 2;
  std::istringstream(spec) >> version >> pointer_size;
#if defined(__linux__)
  if (shared_frames) {
    try {
      auto t = rpc::accept_ring_transport(std::stoi(endpoint), {}, std::chrono::milliseconds(10000));
      Answering answering(*t);
      t->start(answering);
      answering.wait();
    } catch (const std::exception&) {
      return 1;
    }
    return 0;
  }
#else
  (void)shared_frames;
#endif

  asio::io_context io;
#if defined(_WIN32)
  asio::windows::stream_handle stream(io);
  stream.assign(win::open_pipe_client(win::widen(endpoint), std::chrono::milliseconds(5000)).release());
#else
  asio::local::stream_protocol::socket stream(io);
  stream.assign(asio::local::stream_protocol(), std::stoi(endpoint));
#endif
  try {
    wire::Frame in;
    while (wire::read_frame(stream, in)) {
      wire::Frame out;
      const bool more = answer(in, out);
      wire::write_frame(stream, out);
      if (!more) return 0;
    }
  } catch (const std::exception&) {
    return 1;
  }
  return 0;
}
