// One surrogate as the supervisor sees it: its process (started here, or a
// standalone one reached through its endpoint, or an in-process session
// through BridgeOptions::transport) and the typed channel to it. A Session
// never restarts anything: when its surrogate is gone it fails every
// waiting and later request and tells its owner once (LossHandler).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "channel/channel.hpp"
#include "dllbridge/bridge.hpp"
#include "process/process.hpp"

namespace dllbridge::detail {

class Session {
 public:
  // Called once, on the transport's thread, when the surrogate is gone: the
  // error waiting calls got, and the exit status when this session owned
  // the process.
  using LossHandler = std::function<void(const Error&, const std::optional<ExitStatus>&)>;

  // Starts or connects to the surrogate and completes the handshake within
  // policy.start_timeout. Throws Error(surrogate_start_failed | protocol |
  // unauthorized). The first segment of `region` (the bridge's shared
  // region; null: none) is offered in the handshake.
  static std::unique_ptr<Session> start(const BridgeOptions& options, LossHandler on_lost,
                                        std::shared_ptr<BridgeRegion> region = nullptr);
  // Stops the surrogate (stop()) and closes the channel.
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The typed channel to the surrogate (loads, registrations, calls).
  Channel& channel() { return *channel_; }

  // Liveness check: throws Error(timeout) without killing anything, or
  // Error(crashed) when the surrogate is gone.
  void ping(std::chrono::milliseconds timeout) { channel_->ping(timeout); }

  // Stops the surrogate gracefully within StopPolicy: Shutdown (the
  // surrogate lets calls in progress finish first), then what is left of
  // shutdown_wait for it to exit, then SIGTERM (TerminateProcess) and
  // terminate_wait, then SIGKILL. Calls still waiting fail with crashed.
  // Call it from the thread that started the surrogate (Linux ties the
  // surrogate's life to that thread). Idempotent; the first call does it.
  void stop() noexcept;

  // Kills the surrogate now (drops the connection to one not started here);
  // waiting calls fail with crashed and `reason`.
  void kill(const std::string& reason);

  // True once the surrogate is gone (crashed, killed, disconnected).
  bool lost() const { return channel_->lost(); }

  const SurrogateInfo& info() const { return info_; }
  const std::string& surrogate_path() const { return surrogate_path_; }
  std::chrono::steady_clock::time_point started_at() const { return started_at_; }

 private:
  Session(const BridgeOptions& options, LossHandler on_lost, std::shared_ptr<BridgeRegion> region);
  void open();
  // The transport ended: find out why, tell the owner, return the error.
  Error on_end(const std::string& why, bool bad_frame);
  void stop_process(std::chrono::steady_clock::time_point exit_deadline);

  const BridgeOptions options_;
  LossHandler on_lost_;
  std::shared_ptr<BridgeRegion> region_;
  std::string surrogate_path_;
  SurrogateInfo info_;
  bool greeted_ = false;
  std::chrono::steady_clock::time_point started_at_;

  std::mutex process_mu_;  // callers (kill, deadline) and the transport thread use process_
  Process process_;
  std::string kill_reason_;           // guarded by process_mu_
  std::atomic<bool> closing_{false};  // the owner is ending this session: not a loss
  std::atomic<bool> stopped_{false};  // stop() ran
  std::unique_ptr<Channel> channel_;
  // Ends the channel when the process it started ends, even while something
  // else (a child the library forked) holds the stream open. Stopped before
  // channel_ goes.
  std::unique_ptr<ExitWatch> exit_watch_;
};

}  // namespace dllbridge::detail
