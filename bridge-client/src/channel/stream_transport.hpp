// The client's transport over a socket / named pipe to its surrogate. An
// I/O thread reads frames (Asio, asynchronous); callers write their own
// frames when the stream takes them at once, else the I/O thread finishes
// the job, so a send never blocks on the surrogate.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "dllbridge/rpc/transport.hpp"
#include "dllbridge/wire/frame.hpp"
#include "process/process.hpp"

namespace dllbridge::detail {

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

}  // namespace dllbridge::detail
