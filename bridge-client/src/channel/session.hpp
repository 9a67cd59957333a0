// One connection to one surrogate process: spawn or connect, handshake, and
// requests multiplexed by id over the one stream. Callers write their own
// frames when the socket takes them at once (else the I/O thread finishes
// the job); the I/O thread reads replies and hands each to the caller
// waiting for that id. A Session never restarts anything: when its surrogate is gone it fails
// every waiting and later request and tells its owner once (LossHandler).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "dllbridge/bridge.hpp"
#include "dllbridge/dllbridge.pb.h"
#include "dllbridge/wire/frame.hpp"
#include "process/process.hpp"

namespace dllbridge::detail {

class Session {
 public:
  // Called once, on the I/O thread, when the surrogate is gone: the error
  // waiting calls got, and the exit status when this session owned the process.
  using LossHandler = std::function<void(const Error&, const std::optional<ExitStatus>&)>;

  // Starts or connects to the surrogate and completes the handshake within
  // policy.start_timeout. Throws Error(surrogate_start_failed | protocol |
  // unauthorized).
  static std::unique_ptr<Session> start(const BridgeOptions& options, LossHandler on_lost);
  // Stops the surrogate with the StopPolicy escalation.
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Sends `request` (its id is assigned here) and waits up to `timeout` for
  // its reply. An Error reply is thrown as dllbridge::Error. Safe from any
  // thread. On timeout the surrogate is killed (a DLL call cannot be
  // cancelled), other waiting calls fail with crashed, and Error(timeout)
  // is thrown.
  // `kill_on_timeout` false (heartbeats) only throws Error(timeout).
  wire::Reply request(wire::Request request, std::chrono::milliseconds timeout,
                      bool kill_on_timeout = true);

  void ping(std::chrono::milliseconds timeout);  // throws Error(timeout) without killing; Error(crashed) when gone

  // Kills the surrogate now; waiting calls fail with crashed and `reason`.
  void kill(const std::string& reason);

  // True once the surrogate is gone (crashed, killed, disconnected).
  bool lost() const;

  const SurrogateInfo& info() const { return info_; }
  const std::string& surrogate_path() const { return surrogate_path_; }
  std::chrono::steady_clock::time_point started_at() const { return started_at_; }

 private:
  Session(const BridgeOptions& options, LossHandler on_lost);
  void open();
  void send_frame(std::string frame);
  void write_next();  // I/O thread
  void read_header();
  void read_payload(std::uint32_t size);
  void deliver(wire::Reply&& reply);
  // Fails every waiting call and all later ones with `error`.
  void fail_all(const Error& error);
  // The stream ended: find out why, fail everything, tell the owner.
  void on_stream_end(const std::string& detail);
  void stop_process();

  const BridgeOptions options_;
  LossHandler on_lost_;
  std::string surrogate_path_;
  SurrogateInfo info_;
  std::chrono::steady_clock::time_point started_at_;

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  Stream stream_;
  std::mutex process_mu_;  // callers (kill, timeout) and the I/O thread both use process_
  Process process_;
  std::string kill_reason_;  // guarded by process_mu_
  std::atomic<bool> closing_{false};  // the owner is ending this session: not a loss
  std::thread io_thread_;

  // I/O thread only.
  wire::Header header_{};
  std::string payload_;

  std::mutex write_mu_;             // one frame at a time on the stream
  std::deque<std::string> writes_;  // frames waiting for the I/O thread (write_mu_)

  mutable std::mutex mu_;  // guards the members below
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::promise<wire::Reply>> pending_;
  std::optional<Error> dead_;  // set once the stream is gone for good
};

// Maps a wire error kind to the public one.
ErrorKind from_wire(wire::ErrorKind kind);

}  // namespace dllbridge::detail
