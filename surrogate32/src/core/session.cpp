#include "core/session.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "core/transport.hpp"
#include "dllbridge/wire/frame.hpp"

namespace dllbridge::surrogate {
namespace {

const char* kOs =
#if defined(_WIN32)
    "windows";
#else
    "linux";
#endif

const char* kArch = sizeof(void*) == 4 ? "i386" : "x86_64";

// Whether `given` equals `expected`, in a time that depends on the length of
// `expected` only (not on where they differ).
bool same_secret(const std::string& expected, const std::string& given) {
  unsigned diff = expected.size() != given.size() ? 1u : 0u;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(expected[i]) ^ g;
  }
  return diff == 0;
}

}  // namespace

Session::Session(rpc::Transport& transport, int workers)
    : Session(transport, SessionOptions{workers, {}, "the client", nullptr, nullptr}) {}

Session::Session(rpc::Transport& transport, SessionOptions options)
    : transport_(transport),
      options_(std::move(options)),
      peer_(transport, rpc::Peer::Handlers{
                           nullptr,
                           nullptr,
                           nullptr,
                           [this](const std::string& why, bool bad) { on_end(why, bad); },
                           [this](rpc::Peer::Incoming& in) { on_request(in); },
                           [this](const wire::Request& r, wire::Reply& reply) { respond(r, reply); },
                       }) {
  dispatcher_.set_peer(&peer_);
  dispatcher_.set_dll_lock(options_.dll_lock);
  queue_.reserve(64);
  peer_.set_reader_free_hook([this] { reader_freed(); });
  for (int i = 0; i < std::max(options_.workers, 1); ++i) workers_.emplace_back([this] { work(); });
}

Session::~Session() {
  {
    std::lock_guard lock(mu_);
    workers_done_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
  dispatcher_.set_peer(nullptr);  // closures the DLL calls from now on answer the default
}

SessionEnd serve_session(rpc::Transport& transport, int workers) {
  Session session(transport, workers);
  return session.run();
}

SessionEnd Session::run() {
  peer_.start();
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return end_ || shutdown_; });
  if (shutdown_ && !end_) {
    // Let the calls in progress and queued finish and answer first.
    workers_done_ = true;
    work_cv_.notify_all();
    lock.unlock();
    for (auto& t : workers_) t.join();
    workers_.clear();
    peer_.serve(*shutdown_);
    lock.lock();
    end_ = SessionEnd::shutdown;
  }
  const SessionEnd how = *end_;
  if (!greeted_once_ && how != SessionEnd::disconnected) {
    // A refused handshake: the client closes once it has read why; closing
    // first could make it see the end of the stream before the answer.
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return reading_over_; });
  }
  lock.unlock();
  transport_.close();
  peer_.wait_reading_over();
  return how;
}

void Session::finish(SessionEnd how) {
  {
    std::lock_guard lock(mu_);
    if (!end_) end_ = how;
  }
  cv_.notify_all();
}

void Session::send_error(std::uint64_t id, wire::ErrorKind kind, const std::string& message) {
  wire::Reply reply;
  reply.set_id(id);
  reply.mutable_error()->set_kind(kind);
  reply.mutable_error()->set_message(message);
  peer_.send_reply(reply);
}

void Session::on_request(rpc::Peer::Incoming& incoming) {
  const wire::Request& request = incoming.request();
  {
    std::lock_guard lock(mu_);
    if (end_ || shutdown_) {  // ending: nothing more is served
      peer_.recycle(incoming);
      return;
    }
  }
  if (!greeted_) {
    if (!admit(request)) {
      peer_.recycle(incoming);
      return;
    }
    greeted_ = true;
    {
      std::lock_guard lock(mu_);
      greeted_once_ = true;
    }
    if (options_.on_greeted) options_.on_greeted();
    spdlog::debug("handshake with '{}' ({})", request.hello().client(), options_.peer);
    peer_.serve(incoming);
    return;
  }
  switch (request.body_case()) {
    case wire::Request::kHello:
    case wire::Request::kPing:
      peer_.serve(incoming);  // at once, even while the workers are busy
      return;
    case wire::Request::kShutdown: {
      std::lock_guard lock(mu_);
      shutdown_ = &incoming;
      cv_.notify_all();
      return;
    }
    default: {
      {
        std::lock_guard lock(mu_);
        queue_.push_back(&incoming);
      }
      work_cv_.notify_one();  // one worker; the session's own thread sleeps on
      return;
    }
  }
}

bool Session::admit(const wire::Request& request) {
  if (request.body_case() != wire::Request::kHello) {
    send_error(request.id(), wire::PROTOCOL, "the first request must be Hello");
    finish(SessionEnd::protocol_error);
    return false;
  }
  if (request.hello().protocol_version() != wire::kProtocolVersion) {
    send_error(request.id(), wire::PROTOCOL,
               "protocol version " + std::to_string(request.hello().protocol_version()) +
                   " is not supported (surrogate speaks " + std::to_string(wire::kProtocolVersion) + ")");
    finish(SessionEnd::protocol_error);
    return false;
  }
  if (!options_.token.empty() && !same_secret(options_.token, request.hello().token())) {
    // Never the token itself, in the log or the answer.
    const char* what = request.hello().token().empty() ? "no token" : "a wrong token";
    spdlog::warn("rejected {}: it presented {}", options_.peer, what);
    send_error(request.id(), wire::UNAUTHORIZED,
               std::string("this surrogate admits only clients with its token (--token-file); the client "
                           "presented ") +
                   what);
    finish(SessionEnd::unauthorized);
    return false;
  }
  return true;
}

bool Session::busy() const {
  std::lock_guard lock(mu_);
  return serving_ > 0 || !queue_.empty();
}

void Session::respond(const wire::Request& request, wire::Reply& reply) {
  switch (request.body_case()) {
    case wire::Request::kHello: {
      wire::HelloReply* hello = reply.mutable_hello();
      hello->set_protocol_version(wire::kProtocolVersion);
      hello->set_pid(current_pid());
      hello->set_pointer_size(sizeof(void*));
      hello->set_os(kOs);
      hello->set_arch(kArch);
      if (request.hello().region_size() != 0) {
        // The region came with this frame (SCM_RIGHTS); only the first Hello's is mapped.
        std::string problem = "this Hello was answered already";
        if (!region_tried_.exchange(true))
          problem = dispatcher_.map_region(
              0, RegionMap::received(request.hello().region_handle(), transport_.take_passed_fd()),
              request.hello().region_size());
        hello->set_region_mapped(problem.empty());
        hello->set_region_problem(problem);
        if (!problem.empty()) spdlog::info("no shared region: {}", problem);
      }
      return;
    }
    case wire::Request::kMapSegment: {
      // A later segment of the region, passed with this frame as the Hello's.
      const wire::MapSegment& m = request.map_segment();
      const std::string problem = dispatcher_.map_region(
          m.index(), RegionMap::received(m.handle(), transport_.take_passed_fd()), m.size());
      reply.mutable_map_segment()->set_mapped(problem.empty());
      reply.mutable_map_segment()->set_problem(problem);
      if (!problem.empty())
        spdlog::info("segment {} of the shared region not mapped: {}", m.index(), problem);
      return;
    }
    case wire::Request::kPing: reply.mutable_pong(); return;
    case wire::Request::kShutdown: reply.mutable_shutdown(); return;
    default: try { dispatcher_.handle(request, reply);
      } catch (const std::exception& e) {
        // Whatever the dispatcher could not turn into an answer (out of
        // memory, a reply too large) is an answer too, never a dead worker.
        reply.Clear();
        reply.mutable_error()->set_kind(wire::PROTOCOL);
        reply.mutable_error()->set_message(std::string("the surrogate could not serve the request: ") +
                                           e.what());
      }
  }
}

void Session::on_end(const std::string& why, bool bad_frame) {
  if (bad_frame) {
    // After a bad frame the byte stream cannot be trusted: say why and end.
    spdlog::error("bad frame: {}", why);
    send_error(0, wire::PROTOCOL, why);
  } else {
    spdlog::info("session ended: {}", why);
  }
  dispatcher_.abandon();  // a call waiting for its bytes will never get them
  {
    std::lock_guard lock(mu_);
    if (!end_) end_ = bad_frame ? SessionEnd::protocol_error : SessionEnd::disconnected;
    reading_over_ = true;
  }
  cv_.notify_all();
}

void Session::reader_freed() {
  {
    std::lock_guard lock(mu_);
    ++reader_frees_;
  }
  work_cv_.notify_all();
}

bool Session::has_work(void* session) {
  auto* self = static_cast<Session*>(session);
  std::lock_guard lock(self->mu_);
  return !self->queue_.empty() || self->workers_done_ || self->shutdown_ || self->end_;
}

void Session::work() {
  bool may_read = true;  // until the transport says it cannot
  for (;;) {
    rpc::Peer::Incoming* incoming = nullptr;
    {
      std::unique_lock lock(mu_);
      bool try_read = true;  // not again before a wake-up after `busy`
      while (queue_.empty() && !workers_done_) {
        if (may_read && try_read && !worker_reading_ && !shutdown_ && !end_) {
          // Read for work on this thread: the request then wakes no other.
          // (Bounded, so that nothing unforeseen can keep a worker from its
          // queue for long.)
          worker_reading_ = true;
          const std::uint64_t frees = reader_frees_;
          lock.unlock();
          std::chrono::nanoseconds poll(poll_next_ns_.exchange(0, std::memory_order_relaxed));
          if (poll.count() != 0 && !next_poll_.now()) poll = poll.zero();
          const auto started = std::chrono::steady_clock::now();
          const auto read =
              transport_.read_until(&Session::has_work, this, started + std::chrono::seconds(1), poll);
          if (poll.count() != 0) {
            // Caught: the request came within the poll (a wake-up is longer).
            constexpr std::chrono::microseconds kReading{5};
            next_poll_.went(read == rpc::Transport::CallerRead::done &&
                            std::chrono::steady_clock::now() - started <= poll + kReading);
          }
          lock.lock();
          worker_reading_ = false;
          // This worker takes the work it read: the next idle one reads now
          // (one woken by that work while this one still read went back to sleep).
          if (!queue_.empty()) work_cv_.notify_one();
          if (read == rpc::Transport::CallerRead::unsupported) may_read = false;
          // Busy: wait for work or for the reading to be free (unless it was already).
          if (read == rpc::Transport::CallerRead::busy && reader_frees_ == frees) try_read = false;
          // Whatever it was, look at the queue again before sleeping: work
          // queued by another thread while this one read was announced then.
          continue;
        }
        work_cv_.wait(lock);
        try_read = true;
      }
      if (queue_.empty()) return;
      incoming = queue_.front();
      queue_.erase(queue_.begin());
      ++serving_;
    }
    const wire::Request& request = incoming->request();
    const std::uint32_t poll_next = request.has_call() ? request.call().poll_next_ns() : 0;
    peer_.serve(*incoming);  // the dispatcher holds options_.dll_lock where the DLL runs
    if (poll_next != 0) poll_next_ns_.store(std::min(poll_next, kMaxPollNextNs), std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    --serving_;
  }
}

}  // namespace dllbridge::surrogate
