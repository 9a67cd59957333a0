// The surrogate's transport over its stream (Unix socket / named pipe): a
// reading thread with blocking reads, and writes under a lock from any
// thread (the session's and the workers'). Frames are checked against the
// frame cap before anything is allocated for them.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

#include <asio/read.hpp>
#include <asio/write.hpp>

#include "core/transport.hpp"
#include "dllbridge/rpc/transport.hpp"
#include "dllbridge/wire/frame.hpp"

namespace dllbridge::surrogate {

class StreamTransport final : public rpc::Transport {
 public:
  // Uses `stream` (which must outlive this object) for both directions.
  explicit StreamTransport(Stream& stream) : stream_(stream) {}
  // Closes and waits for the reading thread.
  ~StreamTransport() override {
    close();
    if (reader_.joinable()) reader_.join();
  }

  void start(Receiver& receiver) override {
    reader_ = std::thread([this, &receiver] { read(receiver); });
  }

  void send(std::string frame) override {
    std::lock_guard lock(write_mu_);
    if (closed_) return;
    asio::error_code ignored;  // a broken stream shows on the reading side
    asio::write(stream_, asio::buffer(frame), ignored);
  }

  void close() noexcept override {
    if (closed_.exchange(true)) return;
    // From the reading thread itself (a bad frame): it stops after this frame.
    if (reader_.get_id() == std::this_thread::get_id()) return;
    interrupt(stream_, reader_done_);
  }

 private:
  void read(Receiver& receiver) {
    std::string why = "the client closed the connection";
    bool bad = false;
    wire::Header header;
    std::string payload;
    while (!closed_) {
      asio::error_code ec;
      asio::read(stream_, asio::buffer(header), ec);
      if (!ec) {
        try {
          payload.assign(wire::decode_header(header), '\0');
        } catch (const wire::FrameError& e) {
          why = e.what();
          bad = true;
          break;
        }
        asio::read(stream_, asio::buffer(payload), ec);
      }
      if (ec) {
        if (ec != asio::error::eof && ec != asio::error::broken_pipe && !closed_) {
          why = "connection lost: " + ec.message();
        }
        break;
      }
      receiver.on_frame(payload);
    }
    reader_done_ = true;
    receiver.on_end(why, bad);
  }

  Stream& stream_;
  std::mutex write_mu_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> reader_done_{false};
  std::thread reader_;
};

// Sends an `unauthorized` Error notice (id 0) on a freshly accepted stream
// and closes it.
inline void reject_unauthorized(Stream& stream, const std::string& why) {
  wire::Frame frame;
  frame.mutable_reply()->mutable_error()->set_kind(wire::UNAUTHORIZED);
  frame.mutable_reply()->mutable_error()->set_message(why);
  asio::error_code ignored;
  asio::write(stream, asio::buffer(wire::encode_frame(frame)), ignored);
  stream.close(ignored);
}

}  // namespace dllbridge::surrogate
