// The typed channel to one surrogate: one method per operation of the
// protocol. Above it (session, supervisor, bridge, typed API) nothing sees
// a wire:: type; below it an rpc::Peer matches requests and replies by id
// in both directions over an rpc::Transport (socket, named pipe, memory).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "channel/codec.hpp"
#include "dllbridge/bridge.hpp"
#include "dllbridge/rpc/peer.hpp"
#include "dllbridge/rpc/spin_advisor.hpp"
#include "dllbridge/rpc/transport.hpp"
#include "dllbridge/rules/reply.hpp"

namespace dllbridge::detail {

// A function as the surrogate registered it.
struct RegisteredFunction {
  std::uint32_t id = 0;
  std::string resolved_name;  // the export that matched (maybe decorated)
};

// A call's arguments, checked against their signature and encoded once;
// sent by Channel::call (again as they are on a retry).
class EncodedCall {
 public:
  // Its Request comes from a pool and goes back to it: the Call and its
  // argument Values are kept (cleared) for the next call to fill, so a call
  // in steady state allocates none of them.
  EncodedCall();
  ~EncodedCall();
  EncodedCall(EncodedCall&& other) noexcept : request_(other.request_), plan_(std::move(other.plan_)) {
    other.request_ = nullptr;
  }
  EncodedCall& operator=(EncodedCall&&) = delete;

  // Keeps the call's blocks of the shared region out of use for good: after
  // a timeout, the DLL may still be writing into them.
  void abandon_region() noexcept {
    for (RegionLease& lease : plan_.leases) lease.abandon();
  }

 private:
  friend class Channel;
  wire::Request* request_;  // its call; sent as is by each attempt (never copied)
  ReplyPlan plan_;          // the reply's budget, where its numbers go
};

class Channel {
 public:
  using millis = std::chrono::milliseconds;
  struct Hooks {
    // The transport ended (crash, disconnect, bad frame): the error that
    // waiting and later requests fail with. Transport thread, once; may block
    // briefly (the session reaps the process to name the signal).
    std::function<Error(const std::string& why, bool bad_frame)> on_end;
    // A request passed its deadline and may still be running in the DLL
    // (which cannot be cancelled): the session kills the surrogate (or, not
    // its own, drops the connection); says which ("the surrogate was stopped").
    std::function<std::string(const std::string& reason)> on_deadline;
  };

  // Takes the transport; does not read before start().
  Channel(std::unique_ptr<rpc::Transport> transport, Hooks hooks);
  // Closes the transport and waits for its reading to stop.
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Starts reading.
  void start();

  // Each operation below waits up to `timeout` for its answer and throws
  // dllbridge::Error: the surrogate's own error (bad_signature,
  // symbol_not_found, ...), protocol for an answer of the wrong kind,
  // crashed when the channel ended, timeout past the deadline (for loads,
  // registrations and calls the surrogate is then killed through
  // Hooks::on_deadline, and may_have_run() is true).

  // The handshake: protocol version, and what the surrogate is; `token`
  // goes with it when not empty. The answer must speak our protocol version
  // and have a pointer size of `pointer_size` (0: 4 or 8); else
  // Error(protocol). The first segment of `region` (the bridge's shared
  // region, when it has one) goes with it; the calls use the region when
  // the surrogate mapped it.
  SurrogateInfo hello(millis timeout, const std::string& token = {}, std::uint32_t pointer_size = 0,
                      std::shared_ptr<Region> region = nullptr);
  // Loads `path` (UTF-8) in the surrogate; its library id.
  std::uint64_t load_library(const std::string& path, millis timeout);
  // Registers `symbol` of `library` with the declared signature.
  RegisteredFunction register_function(std::uint64_t library, const std::string& symbol,
                                       const Signature& signature, millis timeout);
  // Checks `args` against `signature` and encodes them (`out_buffers`: see
  // encode_call; `region`: the bridge's shared region, or null). Throws
  // Error(bad_argument) naming the parameter; nothing is sent.
  static EncodedCall encode(const Signature& signature, Span<Value> args, Span<Buffer> out_buffers = {},
                            std::shared_ptr<Region> region = nullptr);
  // Calls registered function `function` with encoded arguments.
  CallResult call(std::uint32_t function, const Signature& signature, EncodedCall& args, millis timeout);
  // Liveness: throws Error(timeout) without killing anything.
  void ping(millis timeout);
  // Asks the surrogate to end; returns once it answered (then it exits).
  // Throws Error(timeout) without killing anything.
  void shutdown(millis timeout);

  // Fails every waiting request and all later ones with `error` (kept when
  // one is already set).
  void fail_all(const Error& error);
  // True once the channel failed for good.
  bool lost() const;
  // Closes the transport (the end is reported through Hooks::on_end).
  void disconnect() noexcept { transport_->close(); }

 private:
  // Sends `request` and waits for its reply, which may take at most
  // `reply_budget` bytes (a larger one ends the channel as a protocol error
  // before it is parsed).
  wire::Reply request(wire::Request request, millis timeout, bool kill_on_timeout,
                      std::uint64_t reply_budget = rules::kMinReplyBudget);
  // The same for a request the caller keeps, the reply parsed into `reply`
  // (Peer::request_into; on an arena of the caller's, nothing is allocated).
  // `sent_plan`, when given: its pending region bytes are put in place right
  // after the request is sent (place_pending).
  void request_into(wire::Request& request, wire::Reply& reply, millis timeout, bool kill_on_timeout,
                    std::uint64_t reply_budget, ReplyPlan* sent_plan = nullptr);
  Error dead_error() const;
  // Sends the segments of `region` [mapped so far, needed) to the surrogate
  // (MapSegment, one at a time, each with its descriptor); false when one
  // could not be passed or mapped (then none later is tried).
  bool map_segments(const Region& region, std::uint32_t needed, millis timeout);
  // The surrogate's requests: Invoke (a callback) and Ping.
  void on_request(wire::Request&& request);  // transport thread, not nested
  wire::Reply respond(const wire::Request& request);
  // An Invoke nested in a request this thread waits for.
  wire::Reply invoke_nested(const wire::Request& request);
  // Tells the surrogate that persistent callbacks `ids` were released.
  void send_release(const std::vector<std::uint64_t>& ids);

  // The way a callable's answer reaches the peer from a callback thread,
  // cut off when the channel goes.
  struct ReplyLink {
    explicit ReplyLink(rpc::Peer* p) : peer(p) {}
    void send(wire::Reply&& reply);
    void detach();
    std::mutex mu;
    rpc::Peer* peer;
  };

  Hooks hooks_;
  std::unique_ptr<rpc::Transport> transport_;
  rpc::Peer peer_;
  std::shared_ptr<ReplyLink> reply_link_;
  std::shared_ptr<ReleaseSink> releases_;  // where released persistent callbacks are announced
  mutable std::mutex mu_;
  std::optional<Error> dead_;          // set once the channel is gone for good
  std::shared_ptr<Region> region_;     // the shared region, when the surrogate mapped it (mu_)
  std::uint32_t mapped_segments_ = 0;  // of region_, mapped by the surrogate (mu_)
  bool segment_refused_ = false;       // a MapSegment failed: no later one is tried (mu_)
  // When a call's copies into the region wait until it is sent (Call.ready):
  // while the surrogate runs on another CPU than the caller; or always /
  // never (DLLBRIDGE_COPY_AFTER_SEND=on / off, as the session starts; for
  // tests and measurements).
  enum class CopiesAfterSend { when_apart, always, never };
  static CopiesAfterSend copies_after_send_from_environment();
  const CopiesAfterSend copies_after_send_;
  // The surrogate ran the last call with a ready word on another CPU than
  // the caller's (CallReply.cpu).
  std::atomic<bool> surrogate_apart_{false};
  // The bulk polls (docs/performance.md, "Bulk data: polls bounded by the
  // copies"), in both modes: a call with bytes to copy into the region
  // polls for its reply for as long as those copies took before it sleeps;
  // while the surrogate runs on another CPU it also asks it
  // (Call.poll_next_ns) to poll for the next request after its reply for
  // as long as the last such call's copies took, in and out, plus
  // kPollSlack. Each poll is at most kMaxBulkPoll, and each side backs off
  // where its polls miss (rpc::PollBackoff): a poll costs about what the
  // copies beside it do, and saves a wake-up when it catches.
  static constexpr std::chrono::microseconds kMaxBulkPoll{100};
  static constexpr std::chrono::microseconds kPollSlack{10};
  const bool bulk_poll_;  // DLLBRIDGE_BULK_POLL=off turns them off (as the session starts)
  rpc::PollBackoff reply_poll_;
  std::atomic<std::int64_t> copies_ns_{0};  // the last such call's copies, in and out
  // Puts a call's bytes in the region (place_pending); for a call that
  // polls for its reply, notes how long that took and when it ended.
  static void place_timed(ReplyPlan& plan) noexcept;
  long surrogate_pid_ = 0;  // where segment handles are duplicated to (Windows; mu_)
  std::mutex segments_mu_;  // held while segments are sent
};

// Maps a wire error kind to the public one.
ErrorKind from_wire(wire::ErrorKind kind);

}  // namespace dllbridge::detail
