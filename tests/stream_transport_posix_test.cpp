// The client's socket transport (make_stream_transport) over a real socket pair (POSIX).
#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/write.hpp>

#include "channel/stream_transport.hpp"
#include "dllbridge/wire/frame.hpp"

using namespace dllbridge;

namespace {

// Records what a transport delivers, and whether anything came after the end.
class Recorder final : public rpc::Transport::Receiver {
 public:
  void on_frame(std::string&) override {
    std::lock_guard lock(mu_);
    if (ended_) late_ = true;
    ++frames_;
    cv_.notify_all();
  }
  void on_end(const std::string&, bool) override {
    std::lock_guard lock(mu_);
    if (ended_) late_ = true;  // a second end
    ended_ = true;
    cv_.notify_all();
  }
  void wait_first_frame() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return frames_ > 0 || ended_; });
  }
  void wait_end() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return ended_; });
  }
  bool late() {
    std::lock_guard lock(mu_);
    return late_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int frames_ = 0;
  bool ended_ = false;
  bool late_ = false;
};

}  // namespace

// Found by the `frame` fuzz target: a read that completed while close() was
// being posted delivered its frame after on_end, to a receiver that may be
// gone (Peer::wait_reading_over() promises it is called no more). The window
// is narrow, so the test closes mid-stream many times; it never waits on time.
TEST(StreamTransport, DeliversNothingAfterTheEnd) {
  wire::Frame frame;
  frame.mutable_reply()->set_id(1);
  frame.mutable_reply()->mutable_pong();
  std::string chunk;
  for (int i = 0; i < 1000; ++i) chunk += wire::encode_frame(frame);

  for (int round = 0; round < 100; ++round) {
    asio::io_context ours_io;
    asio::local::stream_protocol::socket ours(ours_io);
    auto io = std::make_unique<asio::io_context>();
    detail::Stream theirs(*io);
    asio::local::connect_pair(ours, theirs);
    // Frames keep coming until the transport closes its end (at most 100 chunks).
    std::thread writer([&] {
      asio::error_code ec;
      for (int i = 0; i < 100 && !ec; ++i) asio::write(ours, asio::buffer(chunk), ec);
    });
    Recorder recorder;
    {
      auto transport = detail::make_stream_transport(std::move(io), std::move(theirs));
      transport->start(recorder);
      recorder.wait_first_frame();
      transport->close();  // while frames keep arriving
      recorder.wait_end();
    }  // joins the reading thread: whatever it would still deliver has come
    writer.join();
    ASSERT_FALSE(recorder.late()) << "a frame or a second end came after on_end (round " << round << ")";
  }
}
