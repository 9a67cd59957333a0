// One connection to a surrogate: spawn or connect, handshake, and requests
// multiplexed by id over the one stream. An I/O thread reads replies and
// hands each to the caller waiting for that id; writes are queued on it too.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
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
#include "process.hpp"

namespace dllbridge::detail {

class Session {
 public:
  // Starts or connects to the surrogate and completes the handshake.
  // Throws Error(surrogate_start_failed | protocol | unauthorized).
  static std::shared_ptr<Session> start(BridgeOptions options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Sends `request` (its id is assigned here) and waits up to `timeout` for
  // its reply. An Error reply is thrown as dllbridge::Error. Safe from any
  // thread. On timeout the surrogate is stopped (a DLL call cannot be
  // cancelled) and Error(timeout) is thrown.
  wire::Reply request(wire::Request request, std::chrono::milliseconds timeout);

  const SurrogateInfo& info() const { return info_; }
  const BridgeOptions& options() const { return options_; }
  const std::string& surrogate_path() const { return surrogate_path_; }

 private:
  explicit Session(BridgeOptions options);
  void open();
  void read_header();
  void read_payload(std::uint32_t size);
  void deliver(wire::Reply&& reply);
  void write_next();
  // Fails every waiting call and all later ones with `error`.
  void fail_all(const Error& error);
  // Says why the stream ended: the surrogate's exit status when we own it.
  Error describe_loss(const std::string& detail);

  BridgeOptions options_;
  std::string surrogate_path_;
  SurrogateInfo info_;

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  Stream stream_;
  std::mutex process_mu_;  // the caller's timeout path and the I/O thread both use process_
  Process process_;
  std::thread io_thread_;

  // I/O thread only.
  wire::Header header_{};
  std::string payload_;
  std::deque<std::string> writes_;

  std::mutex mu_;  // guards the members below
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::promise<wire::Reply>> pending_;
  std::optional<Error> dead_;  // set once the stream is gone for good
};

// Maps a wire error kind to the public one.
ErrorKind from_wire(wire::ErrorKind kind);

}  // namespace dllbridge::detail
