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

std::optional<wire::Reply> Peer::request(wire::Request request, Clock::time_point deadline) {
  Waiter waiter;
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
  *frame.mutable_request() = std::move(request);
  try {
    send_frame(frame);
  } catch (...) {
    std::lock_guard lock(mu_);
    waiting_.erase(id);
    throw;
  }
  frame.Clear();  // the request's memory, before a possibly long wait

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

void Peer::serve(const wire::Request& request) {
  const int at = t_serving.depth++;
  if (at < kMaxServing) {
    t_serving.peer[at] = this;
    t_serving.id[at] = request.id();
  }
  wire::Reply reply;
  try {
    reply = handlers_.respond(request);
  } catch (...) {
    --t_serving.depth;
    throw;
  }
  --t_serving.depth;
  reply.set_id(request.id());
  send_reply(reply);
}

void Peer::send_reply(const wire::Reply& reply) {
  wire::Frame frame;
  *frame.mutable_reply() = reply;
  try {
    send_frame(frame);
  } catch (const wire::FrameError& e) {
    // Too large for a frame: the asker gets an error instead of nothing.
    wire::Frame error;
    wire::Reply* r = error.mutable_reply();
    r->set_id(reply.id());
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

void Peer::on_frame(std::string& payload) {
  wire::Frame frame;
  try {
    wire::decode_payload(payload, frame);
    if (frame.kind_case() == wire::Frame::KIND_NOT_SET)
      throw wire::FrameError("a frame with neither request nor reply");
  } catch (const wire::FrameError& e) {
    // The byte stream cannot be trusted any more: the channel ends here,
    // though the transport stays open (its owner may still say why).
    {
      std::lock_guard lock(mu_);
      if (ended_) return;
      ended_ = true;
      bad_frame_ = true;
    }
    if (handlers_.on_end) handlers_.on_end(e.what(), true);
    abort(e.what());
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
