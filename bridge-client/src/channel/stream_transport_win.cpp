#include "channel/stream_transport.hpp"

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "dllbridge/wire/frame.hpp"

namespace dllbridge::detail {
namespace {

class StreamTransport final : public rpc::Transport {
 public:
  // Takes `stream`, created on `io` (both owned from now on).
  StreamTransport(std::unique_ptr<asio::io_context> io, Stream stream);
  // Closes the stream and joins the I/O thread.
  ~StreamTransport() override;

  void start(Receiver& receiver) override;
  void send(std::string frame) override;
  void close() noexcept override;

 private:
  void write_next();  // I/O thread
  void read_header();
  void read_payload(std::uint32_t size);
  void end(const std::string& why, bool bad_frame);

  std::unique_ptr<asio::io_context> io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  Stream stream_;
  Receiver* receiver_ = nullptr;
  std::thread io_thread_;
  std::atomic<bool> closing_{false};
  bool ended_ = false;  // I/O thread

  // I/O thread only.
  wire::Header header_{};
  std::string payload_;

  std::mutex write_mu_;             // one frame at a time on the stream
  std::deque<std::string> writes_;  // frames waiting for the I/O thread (write_mu_)
};

StreamTransport::StreamTransport(std::unique_ptr<asio::io_context> io, Stream stream)
    : io_(std::move(io)), work_(io_->get_executor()), stream_(std::move(stream)) {}

StreamTransport::~StreamTransport() {
  close();
  work_.reset();
  if (io_thread_.joinable()) {
    if (io_thread_.get_id() == std::this_thread::get_id()) {
      io_thread_.detach();
    } else {
      io_thread_.join();
    }
  }
}

void StreamTransport::start(Receiver& receiver) {
  receiver_ = &receiver;
  read_header();
  io_thread_ = std::thread([this] { io_->run(); });
}

void StreamTransport::close() noexcept {
  if (closing_.exchange(true)) return;
  try {
    asio::post(*io_, [this] {
      {
        std::lock_guard lock(write_mu_);  // never under a writer's feet
        asio::error_code ignored;
        stream_.close(ignored);
      }
      end("the channel was closed", false);
    });
  } catch (...) {
  }
}

void StreamTransport::send(std::string frame) {
  // Fast path: written at once from the caller's thread, one thread hop less.
  // It never blocks: what the stream does not take now goes to the I/O
  // thread's queue, behind which every later frame waits its turn.
  std::lock_guard lock(write_mu_);
  if (closing_ || !stream_.is_open()) return;
  if (writes_.empty()) {
    const std::size_t n = try_write_now(stream_, frame);
    if (n == frame.size()) return;
    frame.erase(0, n);
  }
  writes_.push_back(std::move(frame));
  if (writes_.size() == 1) asio::post(*io_, [this] { write_next(); });
}

void StreamTransport::write_next() {
  std::lock_guard lock(write_mu_);
  if (writes_.empty() || !stream_.is_open()) return;
  // std::deque keeps the front element in place while callers push behind it.
  asio::async_write(stream_, asio::buffer(writes_.front()), [this](const asio::error_code& ec, std::size_t) {
    {
      std::lock_guard lock(write_mu_);
      if (ec) {
        writes_.clear();  // the read side reports the loss
        return;
      }
      writes_.pop_front();
      if (writes_.empty()) return;
    }
    write_next();
  });
}

void StreamTransport::read_header() {
  asio::async_read(stream_, asio::buffer(header_), [this](const asio::error_code& ec, std::size_t) {
    if (ended_) return;  // a read that completed before a close() ran: on_end was the last word
    if (ec) {
      end(ec == asio::error::eof ? "end of stream" : ec.message(), false);
      return;
    }
    std::uint32_t size;
    try {
      size = wire::decode_header(header_);
    } catch (const wire::FrameError& e) {
      {
        std::lock_guard lock(write_mu_);
        asio::error_code ignored;
        stream_.close(ignored);
      }
      end(e.what(), true);
      return;
    }
    read_payload(size);
  });
}

void StreamTransport::read_payload(std::uint32_t size) {
  payload_.assign(size, '\0');
  asio::async_read(stream_, asio::buffer(payload_), [this](const asio::error_code& ec, std::size_t) {
    if (ended_) return;  // as in read_header: nothing is delivered after on_end
    if (ec) {
      end(ec == asio::error::eof ? "end of stream" : ec.message(), false);
      return;
    }
    receiver_->on_frame(payload_);
    if (closing_) return;  // closed from inside on_frame: end() is posted
    read_header();
  });
}

void StreamTransport::end(const std::string& why, bool bad_frame) {
  if (ended_) return;
  ended_ = true;
  if (receiver_) receiver_->on_end(why, bad_frame);
}

}  // namespace

std::unique_ptr<rpc::Transport> make_stream_transport(std::unique_ptr<asio::io_context> io, Stream stream,
                                                      bool /*low_latency: not on named pipes yet*/) {
  return std::make_unique<StreamTransport>(std::move(io), std::move(stream));
}

}  // namespace dllbridge::detail
