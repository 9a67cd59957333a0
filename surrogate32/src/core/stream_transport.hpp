// The surrogate's transport over its stream (Unix socket / named pipe): a
// reading thread with blocking reads, and writes under a lock from any
// thread (the session's and the workers'). Frames are checked against the
// frame cap (a small one before the handshake) before anything is allocated
// for them, and read within time limits (ReadLimits).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <asio/read.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "core/session.hpp"
#include "core/transport.hpp"
#include "dllbridge/rpc/transport.hpp"
#include "dllbridge/wire/frame.hpp"

namespace dllbridge::surrogate {

// Time limits of a surrogate's reading (docs/cli.md, section 7). Zero: none.
struct ReadLimits {
  // From the connection to a complete Hello (standalone mode: 10 s).
  std::chrono::milliseconds handshake{0};
  // A frame whose first byte came must be complete within this.
  std::chrono::milliseconds frame{10000};
  // No frame for this long while no request is in progress ends the
  // connection (standalone mode: 10 min).
  std::chrono::milliseconds idle{0};
};

class StreamTransport final : public rpc::Transport {
 public:
  // Uses `stream` (which must outlive this object) for both directions.
  explicit StreamTransport(Stream& stream, ReadLimits limits = {}) : stream_(stream), limits_(limits) {}
  // Closes and waits for the reading thread.
  ~StreamTransport() override {
    close();
    if (reader_.joinable()) reader_.join();
  }

  // Lifts the small frame cap and the handshake deadline: the peer said a
  // valid Hello. Call from the frame's delivery (the reading thread).
  void greeted() noexcept { greeted_ = true; }

  // Asked when the idle time passes: true while a request is in progress
  // (the connection then stays). Set before start().
  void set_busy_probe(std::function<bool()> busy) { busy_ = std::move(busy); }

  void start(Receiver& receiver) override {
    reader_ = std::thread([this, &receiver] { read(receiver); });
  }

  void send(std::string frame) override {
    std::lock_guard lock(write_mu_);
    if (closed_) return;
    asio::error_code ignored;  // a broken stream shows on the reading side
    asio::write(stream_, asio::buffer(frame), ignored);
  }

  int take_passed_fd() override { return fds_.take(); }

  void close() noexcept override {
    if (closed_.exchange(true)) return;
    // From the reading thread itself (a bad frame): it stops after this frame.
    if (reader_.get_id() == std::this_thread::get_id()) return;
    interrupt(stream_, reader_done_);
  }

 private:
  using Clock = std::chrono::steady_clock;
  using millis = std::chrono::milliseconds;

  static millis left(Clock::time_point deadline) {
    return std::max(std::chrono::duration_cast<millis>(deadline - Clock::now()), millis(1));
  }

  // Fills `buffer` before `deadline` (Clock::time_point::max(): no limit).
  void read_within(asio::mutable_buffer buffer, Clock::time_point deadline, asio::error_code& ec) {
    while (buffer.size() > 0) {
      const bool limited = deadline != Clock::time_point::max();
      if (limited && Clock::now() >= deadline) {
        ec = asio::error::timed_out;
        return;
      }
      const std::size_t n =
          read_some_within(stream_, buffer, limited ? left(deadline) : millis(0), ec, &fds_);
      if (ec) return;
      buffer += n;
    }
  }

  // Waits for the start of the next frame and reads what came of its
  // header; how much in `got`. Why it gave up, or "" (then see `ec`).
  std::string wait_for_frame(wire::Header& header, std::size_t& got, Clock::time_point handshake_deadline,
                             asio::error_code& ec) {
    for (;;) {
      if (closed_) {
        ec = asio::error::operation_aborted;
        return "";
      }
      const bool greeted = greeted_;
      millis wait(0);
      if (!greeted && limits_.handshake.count() > 0) wait = left(handshake_deadline);
      if (greeted && limits_.idle.count() > 0) wait = limits_.idle;
      got = read_some_within(stream_, asio::buffer(header), wait, ec, &fds_);
      if (ec != asio::error::timed_out) return "";
      if (!greeted) return "no handshake within " + std::to_string(limits_.handshake.count()) + " ms";
      if (busy_ && busy_()) continue;  // a call in progress: the client waits for it
      return "no request for " + std::to_string(limits_.idle.count()) + " ms (idle timeout)";
    }
  }

  void read(Receiver& receiver) {
    std::string why = "the client closed the connection";
    bool bad = false;
    wire::Header header;
    std::string payload;
    const Clock::time_point handshake_deadline = Clock::now() + limits_.handshake;
    while (!closed_) {
      asio::error_code ec;
      std::size_t got = 0;
      if (std::string late = wait_for_frame(header, got, handshake_deadline, ec); !late.empty()) {
        why = std::move(late);
        break;
      }
      // The rest of the frame: within the frame time (and the handshake's).
      Clock::time_point deadline =
          limits_.frame.count() > 0 ? Clock::now() + limits_.frame : Clock::time_point::max();
      if (!greeted_ && limits_.handshake.count() > 0) deadline = std::min(deadline, handshake_deadline);
      if (!ec) read_within(asio::buffer(header) + got, deadline, ec);
      if (!ec) {
        try {
          payload.assign(
              wire::decode_header(header, greeted_ ? wire::kMaxFrameSize : wire::kMaxHandshakeFrameSize),
              '\0');
        } catch (const wire::FrameError& e) {
          why = e.what();
          bad = true;
          break;
        }
        read_within(asio::buffer(payload), deadline, ec);
      }
      if (ec == asio::error::timed_out) {
        why = "a frame was not complete within " + std::to_string(limits_.frame.count()) + " ms";
        break;
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
  const ReadLimits limits_;
  std::function<bool()> busy_;
  PassedFds fds_;  // descriptors the client passed (its shared region)
  std::mutex write_mu_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> greeted_{false};
  std::atomic<bool> reader_done_{false};
  std::thread reader_;
};

// Sends an Error notice (id 0) of `kind` on a freshly accepted stream and
// closes it, on a thread of its own (the accept loop goes on). What the
// client sent meanwhile (its Hello) is read and dropped first, for at most
// 500 ms and 4 KiB: a Unix socket closed with unread data resets the
// connection, and the client would see the reset instead of the notice.
inline void reject(Stream stream, wire::ErrorKind kind, const std::string& why) {
  wire::Frame frame;
  frame.mutable_reply()->mutable_error()->set_kind(kind);
  frame.mutable_reply()->mutable_error()->set_message(why);
  std::thread([stream = std::move(stream), notice = wire::encode_frame(frame)]() mutable {
    asio::error_code ec;
    asio::write(stream, asio::buffer(notice), ec);
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    char sink[512];
    for (std::size_t dropped = 0; !ec && dropped < wire::kMaxHandshakeFrameSize;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      dropped += read_some_within(stream, asio::buffer(sink), left, ec);
    }
    stream.close(ec);
  }).detach();
}

// Serves a freshly accepted client `pid` of this user by `serve` on a
// thread of its own, or refuses it with an Error notice when `active`
// (shared by all sessions of the endpoint) reached `max_sessions`.
inline void serve_detached(Stream stream, unsigned long pid, int max_sessions,
                           const std::shared_ptr<std::atomic<int>>& active,
                           const std::function<void(Stream&, const std::string&)>& serve) {
  if (active->load() >= max_sessions) {
    spdlog::warn("refused pid {}: {} sessions already (--max-sessions)", pid, max_sessions);
    reject(std::move(stream), wire::SURROGATE_START_FAILED,
           "the surrogate serves " + std::to_string(max_sessions) +
               (max_sessions == 1 ? " session" : " sessions") + " already (--max-sessions); try again later");
    return;
  }
  ++*active;
  std::thread([stream = std::move(stream), active, &serve, pid]() mutable {
    const std::string who = "pid " + std::to_string(pid);
    spdlog::info("session from {}", who);
    try {
      serve(stream, who);
    } catch (const std::exception& e) {
      spdlog::error("session from {} failed: {}", who, e.what());
    }
    spdlog::info("session from {} ended", who);
    --*active;
  }).detach();
}

// Serves one session on `stream` (Session::run): the transport's small
// frame cap and handshake deadline end with the session's valid Hello, and
// its idle limit waits while a request is in progress.
inline SessionEnd serve_stream(Stream& stream, const ReadLimits& limits, SessionOptions options) {
  StreamTransport transport(stream, limits);
  options.on_greeted = [&transport] { transport.greeted(); };
  Session session(transport, std::move(options));
  transport.set_busy_probe([&session] { return session.busy(); });
  return session.run();
}

}  // namespace dllbridge::surrogate
