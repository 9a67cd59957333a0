#include "channel/stream_transport.hpp"

#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

namespace dllbridge::detail {

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

}  // namespace dllbridge::detail
