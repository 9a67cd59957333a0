#include "dllbridge/rpc/peer.hpp"

#include <algorithm>
#include <utility>

#include "dllbridge/wire/frame.hpp"

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

Peer::Peer(Transport& transport, Handlers handlers) : transport_(transport), handlers_(std::move(handlers)) {}

void Peer::start() { transport_.start(*this); }

std::uint64_t Peer::serving() const {
  for (int i = std::min(t_serving.depth, kMaxServing) - 1; i >= 0; --i) {
    if (t_serving.peer[i] == this) return t_serving.id[i];
  }
  return 0;
}

void Peer::send_frame(const wire::Frame& frame) { transport_.send(wire::encode_frame(frame)); }

std::optional<wire::Reply> Peer::request(wire::Request request, Clock::time_point deadline,
                                         std::uint64_t reply_budget) {
  return request_kept(request, deadline, reply_budget);
}

std::optional<wire::Reply> Peer::request_kept(wire::Request& request, Clock::time_point deadline,
                                              std::uint64_t reply_budget) {
  Waiter waiter;
  waiter.budget = reply_budget;
  std::uint64_t id;
  {
    std::lock_guard lock(mu_);
    if (closed_) throw Closed(*closed_, false);
    id = next_id_++;
    waiting_.emplace(id, &waiter);
  }
  request.set_id(id);
  request.set_nested_in(serving());
  wire::Frame frame;
  *frame.mutable_request() = std::move(request);  // moved in and back out: never copied
  try {
    send_frame(frame);
  } catch (...) {
    request = std::move(*frame.mutable_request());
    std::lock_guard lock(mu_);
    waiting_.erase(id);
    throw;
  }
  request = std::move(*frame.mutable_request());

  std::unique_lock lock(mu_);
  // First read the stream on this thread (when the transport allows it and
  // no other thread does): the reply then wakes no one but us.
  bool may_read = true;
  for (;;) {
    if (waiter.reply) break;
    if (!waiter.nested.empty()) {
      wire::Request nested = std::move(waiter.nested.front());
      waiter.nested.pop_front();
      waiter.signalled = waiter.reply || !waiter.nested.empty();
      lock.unlock();
      serve(nested);
      lock.lock();
      continue;
    }
    if (closed_) {
      waiting_.erase(id);
      throw Closed(*closed_, true);
    }
    if (may_read) {
      lock.unlock();
      const auto read = transport_.read_until(
          [](void* w) { return static_cast<Waiter*>(w)->signalled.load(std::memory_order_acquire); }, &waiter,
          deadline);
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
    if (waiter.cv.wait_until(lock, deadline) == std::cv_status::timeout && !waiter.reply &&
        waiter.nested.empty() && !closed_ && !waiter.reader_free) {
      waiting_.erase(id);  // a late reply finds no one and is dropped
      return std::nullopt;
    }
  }
  waiting_.erase(id);
  return std::move(waiter.reply);
}

Peer::ServingScope::ServingScope(const Peer* peer, std::uint64_t id) {
  const int at = t_serving.depth++;
  if (at < kMaxServing) {
    t_serving.peer[at] = peer;
    t_serving.id[at] = id;
  }
}

Peer::ServingScope::~ServingScope() { --t_serving.depth; }

void Peer::serve(const wire::Request& request) {
  wire::Reply reply;
  {
    const ServingScope scope(this, request.id());
    reply = handlers_.respond(request);
  }
  reply.set_id(request.id());
  send_reply(std::move(reply));
}

void Peer::send_reply(const wire::Reply& reply) { send_reply(wire::Reply(reply)); }

void Peer::send_reply(wire::Reply&& reply) {
  const std::uint64_t id = reply.id();
  wire::Frame frame;
  *frame.mutable_reply() = std::move(reply);  // no copy of its (maybe large) values
  try {
    send_frame(frame);
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
  std::lock_guard lock(mu_);
  for (auto& [id, waiter] : waiting_) {
    if (waiter->reply) continue;
    waiter->reader_free = true;
    waiter->cv.notify_all();
  }
}

namespace {

// Reads a varint at `i` of `s`; false when cut or longer than 10 bytes.
bool read_varint(const std::string& s, std::size_t& i, std::uint64_t& v) {
  v = 0;
  for (unsigned shift = 0; shift < 70 && i < s.size(); shift += 7) {
    const auto b = static_cast<unsigned char>(s[i++]);
    v |= std::uint64_t{b & 0x7Fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

// The id of the reply in serialized Frame `payload` without parsing it:
// serialization writes fields in number order, so a Frame holding a Reply
// starts with the reply's tag (field 2, length-delimited) and length, then
// Reply.id (field 1, varint) unless the id is 0. Nullopt when the payload is
// not a reply.
std::optional<std::uint64_t> peek_reply_id(const std::string& payload) {
  std::size_t i = 0;
  std::uint64_t tag = 0;
  std::uint64_t length = 0;
  if (!read_varint(payload, i, tag) || tag != (2u << 3 | 2u) || !read_varint(payload, i, length))
    return std::nullopt;
  std::uint64_t id = 0;
  if (i < payload.size() && static_cast<unsigned char>(payload[i]) == (1u << 3 | 0u)) {
    ++i;
    if (!read_varint(payload, i, id)) return std::nullopt;
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
    auto it = waiting_.find(*id);
    if (it == waiting_.end()) return Admit::drop;  // its asker gave up: not even parsed
    budget = it->second->budget;
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

void Peer::on_frame(std::string& payload) {
  // Bounded before it is parsed: parsing is where a small frame grows large.
  std::string why;
  switch (admit(payload, why)) {
    case Admit::parse: break;
    case Admit::drop: return;
    case Admit::refuse: end_bad_frame(why); return;
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
    std::lock_guard lock(mu_);
    auto it = waiting_.find(reply->id());
    if (it == waiting_.end()) return;  // its asker gave up (deadline)
    it->second->reply = std::move(*reply);
    it->second->signalled = true;
    it->second->cv.notify_all();
    return;
  }
  wire::Request* request = frame.mutable_request();
  if (request->nested_in() != 0) {
    std::lock_guard lock(mu_);
    auto it = waiting_.find(request->nested_in());
    if (it != waiting_.end()) {
      it->second->nested.push_back(std::move(*request));
      it->second->signalled = true;
      it->second->cv.notify_all();
      return;
    }
    // The wait it belongs to is over: served like any other request.
  }
  handlers_.on_request(std::move(*request));
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
