#include "dllbridge/rpc/peer.hpp"

#include <algorithm>
#include <thread>
#include <utility>

#include "dllbridge/wire/frame.hpp"
#include "varint.hpp"

namespace dllbridge::rpc {
namespace {

// The requests of the other side this thread is serving, innermost last,
// with the peer they came through (a process may hold several peers).
// Trivially destructible on purpose: a thread_local with a destructor inside
// a DLL crashes at thread exit under MinGW-w64 (seen under Wine). Deeper
// nesting than this is served all the same, only not marked as nested.
constexpr int kMaxServing = 64;
struct Serving {
  const Peer* peer[kMaxServing];
  std::uint64_t id[kMaxServing];
  int depth;  // may exceed kMaxServing; only the first kMaxServing are kept
};
thread_local Serving t_serving{};

// The most bytes a notice (a reply with id 0: why the other side ends) may take.
constexpr std::uint64_t kNoticeBudget = 64u << 10;

}  // namespace

namespace {
google::protobuf::ArenaOptions first_block(char* block, std::size_t size) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = size;
  return options;
}
}  // namespace

Peer::Incoming::Incoming()
    : request_arena_(first_block(request_block_, kBlock)), reply_arena_(first_block(reply_block_, kBlock)) {}

wire::Request& Peer::Incoming::reset_request() {
  request_arena_.Reset();
  request_ = google::protobuf::Arena::CreateMessage<wire::Request>(&request_arena_);
  return *request_;
}

wire::Reply& Peer::Incoming::reset_reply() {
  reply_arena_.Reset();
  return *google::protobuf::Arena::CreateMessage<wire::Reply>(&reply_arena_);
}

Peer::Peer(Transport& transport, Handlers handlers) : transport_(transport), handlers_(std::move(handlers)) {}

Peer::Incoming& Peer::acquire() {
  Incoming* in;
  {
    std::lock_guard lock(pool_mu_);
    if (incoming_free_.empty()) {
      if (incoming_.capacity() == 0) {
        incoming_.reserve(8);
        incoming_free_.reserve(8);
        // Two from the start: the next request of a caller that got its reply
        // can be read before the worker that sent it recycled its Incoming.
        incoming_.push_back(std::unique_ptr<Incoming>(new Incoming()));
        incoming_free_.push_back(incoming_.back().get());
      }
      incoming_.push_back(std::unique_ptr<Incoming>(new Incoming()));
      incoming_free_.reserve(incoming_.size());  // recycle() then never allocates
      in = incoming_.back().get();
    } else {
      in = incoming_free_.back();  // the last given back: its memory is warm
      incoming_free_.pop_back();
    }
  }
  in->reset_request();
  return *in;
}

void Peer::recycle(Incoming& incoming) {
  // A large request's or reply's blocks go now, not when it is reused.
  if (incoming.request_arena_.SpaceAllocated() > Incoming::kBlock) incoming.reset_request();
  if (incoming.reply_arena_.SpaceAllocated() > Incoming::kBlock) incoming.reset_reply();
  std::lock_guard lock(pool_mu_);
  incoming_free_.push_back(&incoming);
}

void Peer::start() { transport_.start(*this); }

std::uint64_t Peer::serving() const {
  for (int i = std::min(t_serving.depth, kMaxServing) - 1; i >= 0; --i) {
    if (t_serving.peer[i] == this) return t_serving.id[i];
  }
  return 0;
}

void Peer::send_frame(const wire::Frame& frame) { transport_.send(wire::encode_frame(frame)); }

template <class Body>
void Peer::send_body(const Body& body) {
  // Kept buffer capacity beyond this is given back after the send.
  constexpr std::size_t kKeep = 64u << 10;
  std::unique_lock lock(out_mu_, std::try_to_lock);
  if (!lock) {  // another thread sends now: a buffer of our own
    std::string out;
    wire::encode_frame_into(body, out);
    transport_.send_bytes(out.data(), out.size());
    return;
  }
  wire::encode_frame_into(body, out_);
  transport_.send_bytes(out_.data(), out_.size());
  if (out_.capacity() > kKeep) std::string().swap(out_);
}

Peer::Waiter* Peer::find_waiter(std::uint64_t id) const {
  for (const auto& [waiting_id, waiter] : waiting_) {
    if (waiting_id == id) return waiter;
  }
  return nullptr;
}

void Peer::erase_waiter(std::uint64_t id) {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (it->first == id) {
      *it = waiting_.back();
      waiting_.pop_back();
      return;
    }
  }
}

std::optional<wire::Reply> Peer::request(wire::Request request, Clock::time_point deadline,
                                         std::uint64_t reply_budget) {
  return request_kept(request, deadline, reply_budget);
}

std::optional<wire::Reply> Peer::request_kept(wire::Request& request, Clock::time_point deadline,
                                              std::uint64_t reply_budget) {
  std::optional<wire::Reply> reply(std::in_place);
  if (!request_into(request, *reply, deadline, reply_budget)) reply.reset();
  return reply;
}

bool Peer::request_into(wire::Request& request, wire::Reply& reply, Clock::time_point deadline,
                        std::uint64_t reply_budget, SentHook sent, void* context,
                        const std::chrono::nanoseconds* poll_for) {
  Waiter waiter;
  waiter.budget = reply_budget;
  waiter.reply = &reply;
  waiter.thread = std::this_thread::get_id();
  std::uint64_t id;
  {
    std::lock_guard lock(mu_);
    if (closed_) throw Closed(*closed_, false);
    id = next_id_++;
    if (waiting_.capacity() == 0) waiting_.reserve(16);
    waiting_.emplace_back(id, &waiter);
  }
  request.set_id(id);
  request.set_nested_in(serving());
  try {
    send_body(request);
  } catch (...) {
    std::lock_guard lock(mu_);
    erase_waiter(id);
    throw;
  }
  if (sent) sent(context);
  // Read after the hook, which may set it (the time its work took).
  std::chrono::nanoseconds poll = poll_for ? *poll_for : std::chrono::nanoseconds::zero();

  std::unique_lock lock(mu_);
  // First read the stream on this thread (when the transport allows it and
  // no other thread does): the reply then wakes no one but us.
  bool may_read = true;
  for (;;) {
    if (waiter.filling) {  // a reader parses our reply into `reply` now
      waiter.cv.wait(lock);
      continue;
    }
    if (waiter.raw) {  // another thread read our reply: we parse it
      lock.unlock();
      (void)parse_raw(waiter);  // sets replied, or ends the channel (closed_)
      lock.lock();
      continue;
    }
    if (waiter.replied) break;
    if (!waiter.nested.empty()) {
      wire::Request nested = std::move(waiter.nested.front());
      waiter.nested.erase(waiter.nested.begin());
      waiter.signalled = waiter.replied || !waiter.nested.empty();
      lock.unlock();
      serve(nested);
      lock.lock();
      continue;
    }
    if (closed_) {
      erase_waiter(id);
      throw Closed(*closed_, true);
    }
    if (may_read) {
      lock.unlock();
      const auto read = transport_.read_until(
          [](void* w) { return static_cast<Waiter*>(w)->signalled.load(std::memory_order_acquire); }, &waiter,
          deadline, poll);
      poll = std::chrono::nanoseconds::zero();  // the first read only
      lock.lock();
      if (read == Transport::CallerRead::done) continue;
      may_read = false;  // unsupported, busy: wait to be woken; timeout: see below
      if (read != Transport::CallerRead::timeout) continue;
    }
    if (waiter.reader_free) {  // the reading thread left: take over
      waiter.reader_free = false;
      may_read = true;
      continue;
    }
    if (waiter.cv.wait_until(lock, deadline) == std::cv_status::timeout && !waiter.replied &&
        !waiter.filling && !waiter.raw && waiter.nested.empty() && !closed_ && !waiter.reader_free) {
      erase_waiter(id);  // a late reply finds no one and is dropped
      return false;
    }
  }
  erase_waiter(id);
  return true;
}

Peer::ServingScope::ServingScope(const Peer* peer, std::uint64_t id) {
  const int at = t_serving.depth++;
  if (at < kMaxServing) {
    t_serving.peer[at] = peer;
    t_serving.id[at] = id;
  }
}

Peer::ServingScope::~ServingScope() { --t_serving.depth; }

void Peer::respond(const wire::Request& request, wire::Reply& reply) {
  const ServingScope scope(this, request.id());
  if (handlers_.respond_into) {
    handlers_.respond_into(request, reply);
  } else {
    reply = handlers_.respond(request);
  }
}

void Peer::serve(const wire::Request& request) {
  wire::Reply reply;
  respond(request, reply);
  reply.set_id(request.id());
  send_reply(reply);
}

void Peer::serve(Incoming& incoming) {
  struct GiveBack {
    Peer& peer;
    Incoming& incoming;
    ~GiveBack() { peer.recycle(incoming); }
  } give_back{*this, incoming};
  const wire::Request& request = *incoming.request_;
  wire::Reply& reply = incoming.reset_reply();  // on this thread: see Incoming
  respond(request, reply);
  reply.set_id(request.id());
  send_reply(reply);
}

void Peer::send_reply(wire::Reply&& reply) { send_reply(static_cast<const wire::Reply&>(reply)); }

void Peer::send_reply(const wire::Reply& reply) {
  const std::uint64_t id = reply.id();
  try {
    send_body(reply);  // serialized where it is: never copied
  } catch (const wire::FrameError& e) {
    // Too large for a frame: the asker gets an error instead of nothing.
    wire::Frame error;
    wire::Reply* r = error.mutable_reply();
    r->set_id(id);
    r->mutable_error()->set_kind(wire::PROTOCOL);
    r->mutable_error()->set_message(std::string("the reply cannot be sent: ") + e.what());
    send_frame(error);
  }
}

void Peer::abort(const std::string& why) {
  std::lock_guard lock(mu_);
  if (!closed_) closed_ = why;
  for (auto& [id, waiter] : waiting_) {
    waiter->signalled = true;
    waiter->cv.notify_all();
  }
}

void Peer::on_reader_free() {
  {
    std::lock_guard lock(mu_);
    for (auto& [id, waiter] : waiting_) {
      if (waiter->replied) continue;
      waiter->reader_free = true;
      waiter->cv.notify_all();
    }
  }
  if (reader_free_hook_) reader_free_hook_();
}

namespace {

// The id of the reply in serialized Frame `payload` without parsing it:
// serialization writes fields in number order, so a Frame holding a Reply
// starts with the reply's tag (field 2, length-delimited) and length, then
// Reply.id (field 1, varint) unless the id is 0. Nullopt when the payload is
// not a reply.
std::optional<std::uint64_t> peek_reply_id(const std::string& payload) {
  std::size_t i = 0;
  std::uint64_t tag = 0;
  std::uint64_t length = 0;
  if (!wire::detail::read_varint(payload, i, tag) || tag != (2u << 3 | 2u) ||
      !wire::detail::read_varint(payload, i, length))
    return std::nullopt;
  std::uint64_t id = 0;
  if (i < payload.size() && static_cast<unsigned char>(payload[i]) == (1u << 3 | 0u)) {
    ++i;
    if (!wire::detail::read_varint(payload, i, id)) return std::nullopt;
  }
  return id;
}

}  // namespace

Peer::Admit Peer::admit(const std::string& payload, std::string& why) const {
  const std::optional<std::uint64_t> id = peek_reply_id(payload);
  if (!id) return Admit::parse;
  std::uint64_t budget = kNoticeBudget;  // id 0: a notice, an error message and no more
  if (*id != 0) {
    std::lock_guard lock(mu_);
    const Waiter* waiter = find_waiter(*id);
    if (waiter == nullptr) return Admit::drop;  // its asker gave up: not even parsed
    budget = waiter->budget;
  }
  if (payload.size() <= budget) return Admit::parse;
  why = "a reply of " + std::to_string(payload.size()) + " bytes to request " + std::to_string(*id) +
        " exceeds the " + std::to_string(budget) + " bytes its request can bring back";
  return Admit::refuse;
}

void Peer::end_bad_frame(const std::string& why) {
  // The byte stream cannot be trusted any more: the channel ends here,
  // though the transport stays open (its owner may still say why).
  {
    std::lock_guard lock(mu_);
    if (ended_) return;
    ended_ = true;
    bad_frame_ = true;
  }
  if (handlers_.on_end) handlers_.on_end(why, true);
  abort(why);
}

std::string Peer::second_reply(std::uint64_t id) { return "a second reply to request " + std::to_string(id); }

std::string Peer::malformed(const std::string& payload) {
  return "malformed " + wire::Frame::default_instance().GetTypeName() + " frame of " +
         std::to_string(payload.size()) + " bytes";
}

bool Peer::fill_reply(std::uint64_t id, std::string& payload) {
  std::size_t offset = 0;
  std::size_t length = 0;
  if (!wire::frame_body(payload, 2, offset, length)) return false;
  Waiter* waiter;
  {
    std::unique_lock lock(mu_);
    if (bad_frame_) return true;  // nothing after a bad frame is trusted
    waiter = find_waiter(id);
    if (waiter == nullptr) return true;  // its asker gave up (deadline)
    if (waiter->answered()) {
      lock.unlock();
      end_bad_frame(second_reply(id));
      return true;
    }
    if (waiter->thread != std::this_thread::get_id() && !spare_out_) {
      // Another thread's reply: its bytes go to that thread to parse, so
      // the reply's memory comes from that thread's arena block, not the
      // heap. Swapped, not copied: the transport reads on into the spare.
      spare_out_ = true;
      spare_.swap(payload);
      waiter->raw_offset = offset;
      waiter->raw_length = length;
      waiter->raw = true;
      waiter->signalled = true;
      waiter->cv.notify_all();
      return true;
    }
    // Parsed outside mu_: the waiter does not leave while `filling` holds.
    waiter->filling = true;
  }
  const bool parsed = waiter->reply->ParseFromArray(payload.data() + offset, static_cast<int>(length));
  {
    std::lock_guard lock(mu_);
    waiter->filling = false;
    if (parsed) {
      waiter->replied = true;
      waiter->signalled = true;
    }
    waiter->cv.notify_all();
  }
  if (!parsed) end_bad_frame(malformed(payload));
  return true;
}

bool Peer::parse_raw(Waiter& waiter) {
  // spare_ is ours until spare_out_ is cleared.
  const bool parsed =
      waiter.reply->ParseFromArray(spare_.data() + waiter.raw_offset, static_cast<int>(waiter.raw_length));
  std::string why = parsed ? std::string() : malformed(spare_);
  {
    std::lock_guard lock(mu_);
    waiter.raw = false;
    waiter.replied = parsed;  // in the same hold: a second reply finds it answered
    spare_out_ = false;
    if (spare_.capacity() > (64u << 10)) std::string().swap(spare_);
  }
  if (!parsed) end_bad_frame(why);
  return parsed;
}

void Peer::on_frame(std::string& payload) {
  // Bounded before it is parsed: parsing is where a small frame grows large.
  std::string why;  // (empty: no allocation)
  switch (admit(payload, why)) {
    case Admit::parse: break;
    case Admit::drop: return;
    case Admit::refuse: end_bad_frame(why); return;
  }
  {
    const std::optional<std::uint64_t> id = peek_reply_id(payload);
    if (id && *id != 0 && fill_reply(*id, payload)) return;
  }
  std::size_t offset = 0;
  std::size_t length = 0;
  if (wire::frame_body(payload, 1, offset, length) && handlers_.on_incoming) {
    // A lone Request, parsed onto a pooled arena: no allocation.
    Incoming& in = acquire();
    if (!in.request_->ParseFromArray(payload.data() + offset, static_cast<int>(length))) {
      recycle(in);
      end_bad_frame(malformed(payload));
      return;
    }
    if (nest(*in.request_)) {
      recycle(in);
      return;
    }
    handlers_.on_incoming(in);
    return;
  }
  if (wire::frame_body(payload, 1, offset, length)) {
    // A lone Request: parsed where it goes, no Frame around it.
    wire::Request request;
    if (!request.ParseFromArray(payload.data() + offset, static_cast<int>(length))) {
      end_bad_frame(malformed(payload));
      return;
    }
    take_request(request);
    return;
  }
  wire::Frame frame;
  try {
    wire::decode_payload(payload, frame);
    if (frame.kind_case() == wire::Frame::KIND_NOT_SET)
      throw wire::FrameError("a frame with neither request nor reply");
  } catch (const wire::FrameError& e) {
    end_bad_frame(e.what());
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (bad_frame_) return;  // nothing after a bad frame is trusted
  }
  if (frame.has_reply()) {
    wire::Reply* reply = frame.mutable_reply();
    if (reply->id() == 0) {
      if (handlers_.on_notice) handlers_.on_notice(*reply);
      return;
    }
    {
      std::lock_guard lock(mu_);
      Waiter* waiter = find_waiter(reply->id());
      if (waiter == nullptr) return;  // its asker gave up (deadline)
      if (!waiter->answered()) {
        *waiter->reply = std::move(*reply);
        waiter->replied = true;
        waiter->signalled = true;
        waiter->cv.notify_all();
        return;
      }
    }
    end_bad_frame(second_reply(reply->id()));
    return;
  }
  take_request(*frame.mutable_request());
}

bool Peer::nest(wire::Request& request) {
  std::lock_guard lock(mu_);
  if (bad_frame_) return true;  // nothing after a bad frame is trusted
  if (request.nested_in() != 0) {
    if (Waiter* waiter = find_waiter(request.nested_in())) {
      waiter->nested.push_back(std::move(request));  // (copied off an Incoming's arena)
      waiter->signalled = true;
      waiter->cv.notify_all();
      return true;
    }
    // The wait it belongs to is over: served like any other request.
  }
  return false;
}

void Peer::take_request(wire::Request& request) {
  if (nest(request)) return;
  if (handlers_.on_incoming) {
    Incoming& in = acquire();
    *in.request_ = std::move(request);  // (copied onto its arena)
    handlers_.on_incoming(in);
    return;
  }
  handlers_.on_request(std::move(request));
}

void Peer::on_end(const std::string& why, bool bad_frame) {
  bool first;
  {
    std::lock_guard lock(mu_);
    first = !ended_;
    ended_ = true;
  }
  if (first) {
    if (handlers_.on_end) handlers_.on_end(why, bad_frame);
    abort(why);
  }
  // Last: once a waiter in wait_reading_over() sees this, the peer may go.
  std::lock_guard lock(mu_);
  reading_over_ = true;
  reading_over_cv_.notify_all();
}

void Peer::wait_reading_over() {
  std::unique_lock lock(mu_);
  reading_over_cv_.wait(lock, [this] { return reading_over_; });
}

}  // namespace dllbridge::rpc
