#include "channel/channel.hpp"

#include "channel/environment.hpp"

#include "dllbridge/wire/frame.hpp"
#include "dllbridge/wire/ready_word.hpp"

#include <google/protobuf/arena.h>

#include <cstddef>
#include <cstdlib>

namespace dllbridge::detail {
namespace {

wire::Request with_hello(std::uint32_t version, const std::string& token) {
  wire::Request r;
  r.mutable_hello()->set_protocol_version(version);
  r.mutable_hello()->set_client("dllbridge-client");
  if (!token.empty()) r.mutable_hello()->set_token(token);
  return r;
}

[[noreturn]] void wrong_answer(const char* what) {
  throw Error(ErrorKind::protocol, std::string(what) + " answered with something else");
}

}  // namespace

ErrorKind from_wire(wire::ErrorKind kind) {
  switch (kind) {
    case wire::TIMEOUT: return ErrorKind::timeout;
    case wire::CRASHED: return ErrorKind::crashed;
    case wire::CIRCUIT_OPEN: return ErrorKind::circuit_open;
    case wire::BAD_SIGNATURE: return ErrorKind::bad_signature;
    case wire::BAD_ARGUMENT: return ErrorKind::bad_argument;
    case wire::SYMBOL_NOT_FOUND: return ErrorKind::symbol_not_found;
    case wire::LIBRARY_LOAD_FAILED: return ErrorKind::library_load_failed;
    case wire::SURROGATE_START_FAILED: return ErrorKind::surrogate_start_failed;
    case wire::UNAUTHORIZED: return ErrorKind::unauthorized;
    case wire::CALLBACK_FAILED: return ErrorKind::callback_failed;
    default: return ErrorKind::protocol;
  }
}

namespace {

// The deadline of the innermost request this thread waits for (a callback
// nested in it must answer by then), and whether a callback nested in it
// overran that deadline. Trivially destructible (see peer.cpp).
thread_local rpc::Peer::Clock::time_point t_deadline = rpc::Peer::Clock::time_point::max();
thread_local bool t_callback_overran = false;

wire::Reply error_reply(wire::ErrorKind kind, const std::string& message) {
  wire::Reply reply;
  reply.mutable_error()->set_kind(kind);
  reply.mutable_error()->set_message(message);
  return reply;
}

// Runs the callable an Invoke names and answers with what it returned. Any
// thread; touches no channel.
wire::Reply run_invoke(const wire::Request& request) {
  const wire::Invoke& invoke = request.invoke();
  const std::optional<BoundCallback> bound = find_callback(invoke.callback());
  if (!bound) {
    return error_reply(wire::BAD_ARGUMENT, "callback " + std::to_string(invoke.callback()) +
                                               " is not bound here (its call ended, or it was released)");
  }
  const FunctionDecl& fn = *bound->fn;
  const std::string name = fn.name.empty() ? std::string("callback") : "callback '" + fn.name + "'";
  std::vector<Value> args;
  try {
    args = decode_invoke(fn, invoke, bound->abi);
  } catch (const Error& e) {
    return error_reply(wire::PROTOCOL, e.what());
  }
  wire::Reply reply;
  try {
    const Value result = bound->state->fn(args);  // [out] parameters: written into args
    *reply.mutable_invoke()->mutable_ret() = encode_invoke_return(fn, result, bound->abi);
    encode_invoke_outs(fn, args, bound->abi, *reply.mutable_invoke());
  } catch (const std::exception& e) {
    return error_reply(wire::CALLBACK_FAILED, name + " threw: " + e.what());
  } catch (...) {
    return error_reply(wire::CALLBACK_FAILED, name + " threw an exception that is not a std::exception");
  }
  return reply;
}

}  // namespace

Channel::Channel(std::unique_ptr<rpc::Transport> transport, Hooks hooks)
    : hooks_(std::move(hooks)),
      transport_(std::move(transport)),
      peer_(*transport_,
            rpc::Peer::Handlers{
                [this](wire::Request&& r) { on_request(std::move(r)); },
                [this](const wire::Request& r) { return respond(r); },
                [this](const wire::Reply& notice) {
                  // Not an answer to one request: the surrogate is ending the session.
                  fail_all(Error(from_wire(notice.error().kind()), notice.error().message()));
                },
                [this](const std::string& why, bool bad_frame) {
                  fail_all(hooks_.on_end
                               ? hooks_.on_end(why, bad_frame)
                               : Error(bad_frame ? ErrorKind::protocol : ErrorKind::crashed, why, true));
                },
                nullptr,  // requests of the surrogate (callbacks) come to on_request
                nullptr,
            }),
      reply_link_(std::make_shared<ReplyLink>(&peer_)),
      releases_(std::make_shared<ReleaseSink>(
          [this](const std::vector<std::uint64_t>& ids) { send_release(ids); })),
      copies_after_send_(copies_after_send_from_environment()),
      bulk_poll_(env_switch("DLLBRIDGE_BULK_POLL").value_or(true)) {}

void Channel::place_timed(ReplyPlan& plan) noexcept {
  if (!plan.timed || plan.pending.empty()) {
    place_pending(plan);
    return;
  }
  const auto start = rpc::Peer::Clock::now();
  place_pending(plan);
  plan.copied_at = rpc::Peer::Clock::now();
  plan.copied_for = plan.copied_at - start;
  if (plan.poll) plan.poll_for = std::min<std::chrono::nanoseconds>(plan.copied_for, kMaxBulkPoll);
}

Channel::CopiesAfterSend Channel::copies_after_send_from_environment() {
  const std::optional<bool> on = env_switch("DLLBRIDGE_COPY_AFTER_SEND");
  if (!on) return CopiesAfterSend::when_apart;
  return *on ? CopiesAfterSend::always : CopiesAfterSend::never;
}

Channel::~Channel() {
  transport_->close();
  releases_->detach();
  reply_link_->detach();  // a callable that ends later answers no one
  transport_.reset();     // its reading is over: the peer is no longer called
}

void Channel::ReplyLink::send(wire::Reply&& reply) {
  std::lock_guard lock(mu);
  if (!peer) return;
  try {
    peer->send_reply(std::move(reply));
  } catch (const std::exception&) {
    // The channel is ending: the surrogate waits for no one any more.
  }
}

void Channel::ReplyLink::detach() {
  std::lock_guard lock(mu);
  peer = nullptr;
}

void Channel::on_request(wire::Request&& request) {
  if (!request.has_invoke()) {
    peer_.serve(request);  // answered at once
    return;
  }
  // A callback from one of the DLL's own threads (not nested in a call of
  // ours): its callable runs on a callback thread, never on this one, which
  // must go on reading.
  auto req = std::make_shared<wire::Request>(std::move(request));
  auto self = reply_link_;
  run_on_callback_thread([req, self, peer = static_cast<const rpc::Peer*>(&peer_)] {
    wire::Reply reply;
    {
      const rpc::Peer::ServingScope serving(peer, req->id());
      reply = run_invoke(*req);
    }
    reply.set_id(req->id());
    self->send(std::move(reply));
  });
}

wire::Reply Channel::respond(const wire::Request& request) {
  if (request.has_ping()) {
    wire::Reply reply;
    reply.mutable_pong();
    return reply;
  }
  if (request.has_invoke()) return invoke_nested(request);
  // Never a silent drop: the surrogate must not wait in vain.
  return error_reply(wire::PROTOCOL, "the client serves no such request");
}

wire::Reply Channel::invoke_nested(const wire::Request& request) {
  // The DLL called back on the thread that runs the call: the callable runs
  // on this thread, the caller's, as a local callback would (its calls into
  // the bridge nest in the invocation: the surrogate runs them on the DLL's
  // thread). If it holds the call past the call's deadline, the watcher
  // stops the surrogate then, so other calls go on with a new one; this
  // call fails with timeout once the callable returns.
  if (rpc::Peer::Clock::now() >= t_deadline) {
    t_callback_overran = true;
    if (hooks_.on_deadline) hooks_.on_deadline("a call passed its deadline before its callback could run");
    return error_reply(wire::TIMEOUT, "the call's deadline passed");
  }
  wire::Reply reply;
  {
    const DeadlineWatch watch(t_deadline, [this] {
      if (hooks_.on_deadline) hooks_.on_deadline("a callback held its call past the call's deadline");
    });
    reply = run_invoke(request);
    if (!watch.fired()) return reply;
  }
  t_callback_overran = true;
  return error_reply(wire::TIMEOUT, "the callback did not return before the call's deadline");
}

void Channel::send_release(const std::vector<std::uint64_t>& ids) {
  wire::Request req;
  for (std::uint64_t id : ids) req.mutable_release()->add_callbacks(id);
  try {
    request(std::move(req), std::chrono::seconds(5), false);
  } catch (const Error&) {
    // Gone or busy: a surrogate that did not hear it answers the default
    // return when the DLL calls the released callback (the client has no
    // callable for it any more).
  }
}

void Channel::start() { peer_.start(); }

bool Channel::lost() const {
  std::lock_guard lock(mu_);
  return dead_.has_value();
}

Error Channel::dead_error() const {
  std::lock_guard lock(mu_);
  return dead_ ? *dead_ : Error(ErrorKind::crashed, "the channel to the surrogate is closed", true);
}

void Channel::fail_all(const Error& error) {
  {
    std::lock_guard lock(mu_);
    if (!dead_) dead_ = error;
  }
  peer_.abort(error.what());
}

wire::Reply Channel::request(wire::Request request, millis timeout, bool kill_on_timeout,
                             std::uint64_t reply_budget) {
  wire::Reply reply;
  request_into(request, reply, timeout, kill_on_timeout, reply_budget);
  return reply;
}

void Channel::request_into(wire::Request& request, wire::Reply& reply, millis timeout, bool kill_on_timeout,
                           std::uint64_t reply_budget, ReplyPlan* sent_plan) {
  {
    std::lock_guard lock(mu_);
    if (dead_) throw Error(dead_->kind(), dead_->what(), false);  // not sent: it did not run
  }
  bool replied = false;
  // The callbacks nested in this request answer by its deadline (invoke_nested).
  const auto deadline = rpc::Peer::Clock::now() + timeout;
  const auto outer_deadline = t_deadline;
  const bool outer_overran = t_callback_overran;
  t_deadline = deadline;
  t_callback_overran = false;
  struct Restore {
    rpc::Peer::Clock::time_point deadline;
    bool overran;
    ~Restore() {
      t_deadline = deadline;
      t_callback_overran = overran;
    }
  };
  bool overran = false;
  try {
    const Restore restore{outer_deadline, outer_overran};
    try {
      if (sent_plan && (!sent_plan->pending.empty() || sent_plan->poll)) {
        rpc::Peer::SentHook copy = nullptr;  // copies after the send
        if (!sent_plan->pending.empty())
          copy = [](void* plan) noexcept { place_timed(*static_cast<ReplyPlan*>(plan)); };
        replied = peer_.request_into(request, reply, deadline, reply_budget, copy, sent_plan,
                                     sent_plan->poll ? &sent_plan->poll_for : nullptr);
      } else {
        replied = peer_.request_into(request, reply, deadline, reply_budget);
      }
    } catch (...) {
      overran = t_callback_overran;
      throw;
    }
  } catch (const rpc::Closed& closed) {
    if (overran) {
      throw Error(ErrorKind::timeout,
                  "a callback of the call did not return within " + std::to_string(timeout.count()) +
                      " ms; the surrogate was stopped, the call may have run",
                  true);
    }
    const Error e = dead_error();
    throw Error(e.kind(), e.what(), closed.sent() && e.may_have_run());
  } catch (const wire::FrameError& e) {
    throw Error(ErrorKind::bad_argument, e.what());
  }
  if (!replied) {
    const std::string what = "no reply within " + std::to_string(timeout.count()) + " ms";
    if (!kill_on_timeout) throw Error(ErrorKind::timeout, what);
    // A DLL call cannot be cancelled: stop the surrogate so nothing runs on.
    const std::string done =
        hooks_.on_deadline ? hooks_.on_deadline("a call passed its deadline (" + what + ")") : std::string();
    throw Error(ErrorKind::timeout, what + (done.empty() ? "" : "; " + done) + ", the call may have run",
                true);
  }
  if (reply.has_error()) throw Error(from_wire(reply.error().kind()), reply.error().message());
}

SurrogateInfo Channel::hello(millis timeout, const std::string& token, std::uint32_t pointer_size,
                             std::shared_ptr<Region> region) {
  wire::Request hello = with_hello(wire::kProtocolVersion, token);
  // The region's first segment goes with the Hello where the transport can
  // pass it; later ones follow before the first call that names them.
  std::uint64_t handle = 0;
  const bool with_hello = region && region->give(0, *transport_, 0, handle);
  if (with_hello) hello.mutable_hello()->set_region_size(region->segment_size(0));
  const wire::Reply reply = request(std::move(hello), timeout, false);
  if (!reply.has_hello()) wrong_answer("the handshake");
  const wire::HelloReply& h = reply.hello();
  if (h.protocol_version() != wire::kProtocolVersion) {
    throw Error(ErrorKind::protocol, "the surrogate speaks protocol version " +
                                         std::to_string(h.protocol_version()) + ", this client " +
                                         std::to_string(wire::kProtocolVersion));
  }
  // It decides the ABI of every value: only what a surrogate can be.
  const bool plausible = h.pointer_size() == 4 || h.pointer_size() == 8;
  if (!plausible || (pointer_size != 0 && h.pointer_size() != pointer_size)) {
    throw Error(ErrorKind::protocol,
                "the surrogate says its pointers are " + std::to_string(h.pointer_size()) +
                    " bytes; expected " +
                    (pointer_size != 0 ? std::to_string(pointer_size) : std::string("4 or 8")));
  }
  if (h.region_mapped() && region) {
    // What a 64-bit surrogate can map is more than a 32-bit one's 4 GiB allow.
    if (h.pointer_size() == 8 && region->cap() < kRegionCap64) region->set_cap(kRegionCap64);
    std::lock_guard lock(mu_);
    region_ = std::move(region);
    mapped_segments_ = 1;
  } else if (region && !with_hello) {
    // No descriptors over this transport (Windows): segment 0 follows as a
    // MapSegment, its handle duplicated into the surrogate's process.
    {
      std::lock_guard lock(mu_);
      surrogate_pid_ = static_cast<long>(h.pid());
    }
    if (map_segments(*region, 1, timeout)) {
      if (h.pointer_size() == 8 && region->cap() < kRegionCap64) region->set_cap(kRegionCap64);
      std::lock_guard lock(mu_);
      region_ = std::move(region);
    }
  }
  return SurrogateInfo{h.protocol_version(), h.pid(), h.pointer_size(), h.os(), h.arch()};
}

std::uint64_t Channel::load_library(const std::string& path, millis timeout) {
  wire::Request req;
  req.mutable_load_library()->set_path(path);
  const wire::Reply reply = request(std::move(req), timeout, true);
  if (!reply.has_load_library()) wrong_answer("a library load");
  return reply.load_library().library();
}

RegisteredFunction Channel::register_function(std::uint64_t library, const std::string& symbol,
                                              const Signature& signature, millis timeout) {
  wire::Request req;
  wire::RegisterFunction* reg = req.mutable_register_function();
  encode_register(signature, *reg);
  reg->set_library(library);
  reg->set_name(symbol);
  const wire::Reply reply = request(std::move(req), timeout, true);
  if (!reply.has_register_function()) wrong_answer("a registration");
  return RegisteredFunction{reply.register_function().function(), reply.register_function().resolved_name()};
}

namespace {

// The Requests of calls, kept for the next calls (EncodedCall). Never
// destroyed: calls may still end while the program exits.
class RequestPool {
 public:
  RequestPool() { free_.reserve(kKeep); }
  wire::Request* take() {
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        wire::Request* r = free_.back();
        free_.pop_back();
        return r;
      }
    }
    auto* r = new wire::Request;
    r->mutable_call();
    return r;
  }
  void give(wire::Request* r) noexcept {
    // Cleared, not freed: the Call and its Values stay for the next call
    // (their bytes and nested lists are freed).
    r->mutable_call()->Clear();
    r->set_id(0);
    r->set_nested_in(0);
    {
      std::lock_guard lock(mu_);
      if (free_.size() < kKeep) {
        free_.push_back(r);
        return;
      }
    }
    delete r;
  }

 private:
  static constexpr std::size_t kKeep = 64;  // about the calls in flight at once
  std::mutex mu_;
  std::vector<wire::Request*> free_;
};

RequestPool& request_pool() {
  static RequestPool* pool = new RequestPool;
  return *pool;
}

}  // namespace

EncodedCall::EncodedCall() : request_(request_pool().take()) {}

EncodedCall::~EncodedCall() {
  if (request_ != nullptr) request_pool().give(request_);
}

EncodedCall Channel::encode(const Signature& signature, Span<Value> args, Span<Buffer> out_buffers,
                            std::shared_ptr<Region> region) {
  EncodedCall encoded;
  encoded.plan_ =
      encode_call(signature, args, *encoded.request_->mutable_call(), out_buffers, std::move(region));
  return encoded;
}

namespace {
// The stack block of a call's reply arena (docs/performance.md).
constexpr std::size_t kReplyArenaBlock = 2048;
}  // namespace

bool Channel::map_segments(const Region& region, std::uint32_t needed, millis timeout) {
  std::lock_guard order(segments_mu_);  // one MapSegment in flight: each takes the next descriptor
  for (;;) {
    std::uint32_t next = 0;
    long pid = 0;
    {
      std::lock_guard lock(mu_);
      if (mapped_segments_ >= needed) return true;
      if (segment_refused_) return false;
      next = mapped_segments_;
      pid = surrogate_pid_;
    }
    wire::Request req;
    wire::MapSegment* m = req.mutable_map_segment();
    m->set_index(next);
    m->set_size(region.segment_size(next));
    std::uint64_t handle = 0;
    if (!region.give(next, *transport_, pid, handle)) return false;
    m->set_handle(handle);
    const wire::Reply reply = request(std::move(req), timeout, false);
    if (!reply.has_map_segment()) wrong_answer("a segment of the shared region");
    std::lock_guard lock(mu_);
    if (!reply.map_segment().mapped()) {
      segment_refused_ = true;  // its calls frame what would go there, from now on
      return false;
    }
    mapped_segments_ = next + 1;
  }
}

CallResult Channel::call(std::uint32_t function, const Signature& signature, EncodedCall& args,
                         millis timeout) {
  args.request_->mutable_call()->set_function(function);
  // Persistent callbacks that go to this surrogate are released in it too.
  if (!args.plan_.callbacks.persistent.empty()) args.plan_.callbacks.note_sent(releases_);
  std::shared_ptr<Region> region;
  {
    std::lock_guard lock(mu_);
    region = region_;
  }
  // A surrogate without the region (or without a segment the call names,
  // which it is sent first) gets the placed buffers framed (once: a retry
  // sends them so too).
  if (args.plan_.placed &&
      (!region || region != args.plan_.region || !map_segments(*region, args.plan_.segments, timeout)))
    frame_placed(signature, *args.request_->mutable_call(), args.plan_);
  // Copies into the region overlap the surrogate's wake-up only when it runs
  // on another CPU; else they are done before the send, as the surrogate
  // would only take the CPU from them (docs/performance.md, "Bulk data").
  const bool apart = surrogate_apart_.load(std::memory_order_relaxed);
  const bool bulk = bulk_poll_ && !args.plan_.pending.empty();
  args.plan_.timed = bulk;
  args.plan_.poll = bulk && reply_poll_.now();
  const std::int64_t copies_ns = copies_ns_.load(std::memory_order_relaxed);
  args.request_->mutable_call()->set_poll_next_ns(
      bulk && apart && copies_ns > 0 ? static_cast<std::uint32_t>(std::min<std::int64_t>(
                                           copies_ns + std::chrono::nanoseconds(kPollSlack).count(),
                                           std::chrono::nanoseconds(kMaxBulkPoll).count()))
                                     : 0);
  if (!args.plan_.pending.empty() && (copies_after_send_ == CopiesAfterSend::never ||
                                      (copies_after_send_ == CopiesAfterSend::when_apart && !apart)))
    place_timed(args.plan_);
  // The reply lives on an arena whose first block is on this stack: a small
  // reply allocates nothing.
  alignas(std::max_align_t) char block[kReplyArenaBlock];
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = block;
  arena_options.initial_block_size = sizeof block;
  google::protobuf::Arena arena(arena_options);
  wire::Reply& reply = *google::protobuf::Arena::CreateMessage<wire::Reply>(&arena);
  request_into(*args.request_, reply, timeout, true, args.plan_.budget, &args.plan_);
  const auto replied_at = args.plan_.timed ? rpc::Peer::Clock::now() : rpc::Peer::Clock::time_point();
  if (args.plan_.poll) {
    // Caught: the reply came within the poll (and its reading; one that had
    // to wake this thread takes a wake-up longer).
    constexpr std::chrono::microseconds kReading{5};
    reply_poll_.went(replied_at - args.plan_.copied_at <= args.plan_.poll_for + kReading);
  }
  if (!reply.has_call()) wrong_answer("a call");
  if (args.request_->call().has_ready()) {
    const int cpu = wire::current_cpu();
    surrogate_apart_.store(
        reply.call().cpu() != 0 && cpu >= 0 && reply.call().cpu() != static_cast<std::uint32_t>(cpu) + 1,
        std::memory_order_relaxed);
  }
  CallResult result =
      decode_reply(signature, reply.call(), &args.request_->call(), &args.plan_.sinks, region.get());
  if (args.plan_.timed) {
    // The copies of this call, in and out (the reply's decoding copies out).
    const auto copies = args.plan_.copied_for + (rpc::Peer::Clock::now() - replied_at);
    copies_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(copies).count(),
                     std::memory_order_relaxed);
  }
  return result;
}

void Channel::ping(millis timeout) {
  wire::Request req;
  req.mutable_ping();
  if (!request(std::move(req), timeout, false).has_pong()) wrong_answer("a ping");
}

void Channel::shutdown(millis timeout) {
  wire::Request req;
  req.mutable_shutdown();
  if (!request(std::move(req), timeout, false).has_shutdown()) wrong_answer("a shutdown");
}

}  // namespace dllbridge::detail
