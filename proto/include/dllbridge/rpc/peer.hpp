// One end of the channel's request/reply protocol, the same on both sides:
// requests carry ids unique per sender, replies are matched to them by id,
// and either side may send requests at any time, also while it waits for
// its own replies. A request the other side makes *while serving one of
// ours* carries `nested_in` = our request's id, and runs on the thread that
// waits for that reply: a surrogate thread blocked in a callback's round trip
// serves the calls the client makes from inside the callback, as deep as
// they nest, on that one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dllbridge/dllbridge.pb.h"
#include "dllbridge/rpc/transport.hpp"

namespace dllbridge::rpc {

// The channel ended (or was aborted): no reply will come. `sent()` tells
// whether the request had left before that (then it may have run).
class Closed : public std::runtime_error {
 public:
  Closed(const std::string& why, bool sent) : std::runtime_error(why), sent_(sent) {}
  bool sent() const noexcept { return sent_; }

 private:
  bool sent_;
};

class Peer final : private Transport::Receiver {
 public:
  using Clock = std::chrono::steady_clock;

  // A request of the other side parsed onto an arena whose first block lies
  // inside this object, and its reply built on another such arena: a small
  // request and its answer allocate nothing (docs/performance.md, "No
  // allocation on the hot path"). Handed out by the Peer
  // (Handlers::on_incoming), pooled, and given back by serve(Incoming&) or
  // recycle(), exactly once, on any thread.
  class Incoming {
   public:
    Incoming(const Incoming&) = delete;
    Incoming& operator=(const Incoming&) = delete;
    const wire::Request& request() const { return *request_; }

   private:
    friend class Peer;
    Incoming();
    // An empty message on its emptied arena. Protobuf gives the first
    // block of an arena to the thread that resets it (another thread
    // allocates a block of its own), so the request's arena is reset by the
    // thread that parses and the reply's by the one that serves.
    wire::Request& reset_request();
    wire::Reply& reset_reply();
    static constexpr std::size_t kBlock = 2048;
    // 16, not alignof(std::max_align_t): MinGW-w64's i686 headers and GCC's
    // disagree on it (8 or 16), which would give this class two layouts.
    alignas(16) char request_block_[kBlock];
    alignas(16) char reply_block_[kBlock];
    google::protobuf::Arena request_arena_;
    google::protobuf::Arena reply_arena_;
    wire::Request* request_ = nullptr;
  };

  struct Handlers {
    // A request of the other side that is not nested in one of our waits.
    // Runs on the transport's thread and must not block: answer it at once
    // with serve(), or hand it to another thread that calls serve().
    std::function<void(wire::Request&& request)> on_request;
    // The answer to one request (on the thread that calls serve(), or the
    // thread waiting in request() for a nested one). Must not throw.
    std::function<wire::Reply(const wire::Request& request)> respond;
    // A reply with id 0 (not an answer: the other side is ending the
    // session and says why). Transport thread.
    std::function<void(const wire::Reply& notice)> on_notice;
    // The channel ended: the stream ended, or (`bad_frame`) a frame broke
    // the framing rules or did not parse (the byte stream cannot be trusted
    // any more; the transport is still open, to say why). Transport thread,
    // once, before waiting requests are woken with Closed.
    std::function<void(const std::string& why, bool bad_frame)> on_end;
    // Optional, in place of on_request: the request comes parsed into a
    // pooled Incoming that the handler serves (serve(Incoming&)) or gives
    // back (recycle()). Same thread and rules as on_request.
    std::function<void(Incoming& incoming)> on_incoming;
    // Optional, in place of respond: builds the answer in `reply` (empty;
    // for an Incoming, on an arena of its own). Must not throw.
    std::function<void(const wire::Request& request, wire::Reply& reply)> respond_into;
  };

  // Does not start reading yet (start()).
  Peer(Transport& transport, Handlers handlers);
  // The transport must be closed (and its reading over) before a Peer dies.
  ~Peer() = default;
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // Starts the transport's reading.
  void start();

  // Before start(): `hook` runs when a thread that read the stream stopped
  // reading after another found the reading taken
  // (Transport::Receiver::on_reader_free), on the thread that stopped: one
  // that waits for work (not a request's reply) may read now.
  void set_reader_free_hook(std::function<void()> hook) { reader_free_hook_ = std::move(hook); }

  // Sends `request` under a fresh id (nested in the request this thread is
  // serving for the other side, if any) and waits until `deadline` for its
  // reply, meanwhile serving the requests the other side nests in it.
  // Returns nullopt when the deadline passed (a late reply is dropped, never
  // given to another request). Throws Closed when the channel ended or was
  // aborted, wire::FrameError when the request is too large for a frame.
  // A reply frame larger than `reply_budget` bytes is not parsed: it breaks
  // the framing rules like a malformed frame (Handlers::on_end with
  // bad_frame, the channel ends), so a peer cannot make this side allocate
  // more than the request can legitimately bring back.
  std::optional<wire::Reply> request(wire::Request request, Clock::time_point deadline,
                                     std::uint64_t reply_budget = UINT64_MAX);
  // The same, leaving `request` to the caller (with its id set) instead of
  // consuming it: a request sent again (a retry) is not copied.
  std::optional<wire::Reply> request_kept(wire::Request& request, Clock::time_point deadline,
                                          std::uint64_t reply_budget = UINT64_MAX);
  // The same, parsing the reply into `reply` (which the caller may keep, or
  // place on an arena it resets): false when the deadline passed. With the
  // request and reply kept by the caller, a call in steady state allocates
  // nothing here (the frame buffers are reused). `sent`, when given, runs
  // with `context` on this thread right after the request is handed to the
  // transport, before the wait (work the other side waits for, done while
  // it wakes up); not when the send failed. It must not throw. `poll_for`,
  // when given, is read after `sent` ran (which may set it): how long this
  // thread may poll for the reply before it first sleeps
  // (Transport::read_until).
  using SentHook = void (*)(void* context) noexcept;
  bool request_into(wire::Request& request, wire::Reply& reply, Clock::time_point deadline,
                    std::uint64_t reply_budget = UINT64_MAX, SentHook sent = nullptr, void* context = nullptr,
                    const std::chrono::nanoseconds* poll_for = nullptr);

  // Answers `request` with respond(request) on this thread. Requests this
  // thread sends meanwhile are nested in it.
  void serve(const wire::Request& request);
  // The same for a request handed out by Handlers::on_incoming, answered
  // from its arena; gives `incoming` back to the pool.
  void serve(Incoming& incoming);
  // Gives back an Incoming that will not be served.
  void recycle(Incoming& incoming);

  // Sends a reply as is (an error for a request that will not be served);
  // the rvalue form moves its values into the frame instead of copying them.
  void send_reply(const wire::Reply& reply);
  void send_reply(wire::Reply&& reply);

  // Wakes every waiting request with Closed(why) and fails later ones at
  // once; the transport itself stays as it is. Idempotent.
  void abort(const std::string& why);

  // Waits until the transport's reading is over (after close(), or the end
  // of the stream): from then on the peer is not called any more.
  void wait_reading_over();

  // The id of the other side's request this thread is serving, or 0.
  std::uint64_t serving() const;

  // Marks the calling thread as serving the other side's request `id` of
  // `peer` while it lives, as serve() does: the requests it sends meanwhile
  // nest in that one (work for a request done on another thread than the
  // one that answers it). `peer` is only compared, never used: it may have
  // ended by the time the scope does.
  class ServingScope {
   public:
    ServingScope(const Peer* peer, std::uint64_t id);
    ~ServingScope();
    ServingScope(const ServingScope&) = delete;
    ServingScope& operator=(const ServingScope&) = delete;
  };

 private:
  struct Waiter {
    std::uint64_t budget = UINT64_MAX;  // the most reply bytes accepted
    std::condition_variable cv;
    wire::Reply* reply = nullptr;  // where the reply is parsed (the caller's)
    bool replied = false;          // *reply holds the reply
    bool filling = false;          // a reader parses into *reply now, without mu_
    bool raw = false;              // the reply's bytes wait in spare_ for this thread to parse
    std::size_t raw_offset = 0;    // where in spare_
    std::size_t raw_length = 0;
    std::thread::id thread;             // the thread that waits
    std::vector<wire::Request> nested;  // (no allocation while empty)
    // Set (under mu_) with reply, nested and the end: read by the waiter
    // while it reads the stream itself, without mu_.
    std::atomic<bool> signalled{false};
    bool reader_free = false;  // the thread reading for its reply stopped
    // A reply for it came already (being parsed, waiting, or in place): a
    // second one is the other side's protocol error, never parsed into
    // *reply, which its first may be filling on another thread.
    bool answered() const { return replied || filling || raw; }
  };
  void on_frame(std::string& payload) override;
  void on_end(const std::string& why, bool bad_frame) override;
  void on_reader_free() override;
  void send_frame(const wire::Frame& frame);
  // Sends `body` as a frame, encoded into the reused buffer when it is free.
  template <class Body>
  void send_body(const Body& body);
  Waiter* find_waiter(std::uint64_t id) const;  // mu_ held; null when none
  void erase_waiter(std::uint64_t id);          // mu_ held
  // Parses the reply in `payload` for its waiter; false when it did not
  // parse as a lone Reply (then the whole Frame is parsed).
  bool fill_reply(std::uint64_t id, std::string& payload);
  // Parses the reply waiting in spare_ (Waiter::raw) on the waiter's thread
  // and marks the waiter replied in the same hold of mu_; false when it did
  // not parse (the channel ended).
  bool parse_raw(Waiter& waiter);
  // A request of the other side: to the waiter it is nested in, else to
  // Handlers::on_incoming or on_request.
  void take_request(wire::Request& request);
  // True when `request` is taken care of here: moved to the waiter it is
  // nested in, or dropped after a bad frame.
  bool nest(wire::Request& request);
  // A pooled Incoming, reset on this thread.
  Incoming& acquire();
  // `reply` answering `request`, by respond_into or respond.
  void respond(const wire::Request& request, wire::Reply& reply);
  // Why `payload` is refused when it does not parse.
  static std::string malformed(const std::string& payload);
  // Why a second reply to request `id` ends the channel.
  static std::string second_reply(std::uint64_t id);
  // What to do with `payload`, a frame not yet parsed: a reply larger than
  // its request's budget is refused (`why` says so), one nobody waits for is
  // dropped unparsed.
  enum class Admit { parse, drop, refuse };
  Admit admit(const std::string& payload, std::string& why) const;
  void end_bad_frame(const std::string& why);

  Transport& transport_;
  Handlers handlers_;
  std::function<void()> reader_free_hook_;  // set_reader_free_hook
  mutable std::mutex mu_;
  std::uint64_t next_id_ = 1;
  // By request id: a flat vector that keeps its capacity, so a call adds
  // no node (there are few waiters at a time).
  std::vector<std::pair<std::uint64_t, Waiter*>> waiting_;
  std::optional<std::string> closed_;  // why, once ended or aborted
  bool ended_ = false;                 // Handlers::on_end ran
  bool bad_frame_ = false;             // a payload did not parse
  bool reading_over_ = false;          // the transport's on_end came
  std::condition_variable reading_over_cv_;
  std::mutex out_mu_;  // out_: a frame buffer kept for the next send
  std::string out_;
  // A reply read by another thread than its waiter's: its payload, swapped
  // out of the transport (mu_; while spare_out_, the waiter's alone).
  std::string spare_;
  bool spare_out_ = false;
  // Incoming requests: all of them, and those free for the next one.
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Incoming>> incoming_;
  std::vector<Incoming*> incoming_free_;
};

}  // namespace dllbridge::rpc
