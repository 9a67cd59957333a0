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
#include <unordered_map>

#include "channel/channel.hpp"
#include "dllbridge/bridge.hpp"
#include "process/process.hpp"

namespace dllbridge::detail {

// A library load or a function registration as a session made it, enough to
// make it again in another surrogate (a warm spare's preload). `key` names
// it: the library's path, plus for a registration the export and the
// encoded signature.
struct Learned {
  std::string key;
  std::string library;                         // path
  std::string symbol;                          // empty: a library load
  std::shared_ptr<const Signature> signature;  // a registration's declaration
};

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

  // Loads the library at `path` (Channel::load_library), or gives the id a
  // preload() got for it without a round trip. A load that went to the
  // surrogate is reported to the observer (on_learned).
  std::uint64_t load_library(const std::string& path, std::chrono::milliseconds timeout);
  // Registers `symbol` of `library` (an id this session gave) with
  // `signature` (Channel::register_function), or gives what a preload() got
  // for the same export and signature without a round trip. Reported to
  // the observer like load_library.
  RegisteredFunction register_function(std::uint64_t library, const std::string& symbol,
                                       const Signature& signature, std::chrono::milliseconds timeout);
  // Makes `entry`'s load or registration in this surrogate ahead of its
  // use, for load_library / register_function to answer later. Throws Error
  // (what the surrogate said) when it fails. Not reported to the observer.
  void preload(const Learned& entry, std::chrono::milliseconds timeout);
  // How many loads and registrations preload() made.
  std::size_t preloaded() const;
  // Sets the observer of loads and registrations that went to the surrogate
  // (called on the caller's thread, after the reply). Set before use.
  void on_learned(std::function<void(const Learned&)> observer) { on_learned_ = std::move(observer); }

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

  // A load or registration preload() made: its id and the export it resolved.
  struct Ahead {
    std::uint64_t id = 0;
    std::string resolved_name;
  };
  // The Learned::key of a registration ("" when `library` is no id this session gave).
  std::string registration_key(std::uint64_t library, const std::string& symbol,
                               const Signature& signature) const;
  void learned(Learned entry);  // tells the observer, if any

  const BridgeOptions options_;
  LossHandler on_lost_;
  std::function<void(const Learned&)> on_learned_;

  mutable std::mutex learned_mu_;                         // guards paths_ and ahead_
  std::unordered_map<std::uint64_t, std::string> paths_;  // library id -> path (loaded or preloaded)
  std::unordered_map<std::string, Ahead> ahead_;          // Learned::key -> what preload() got
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
