#include "core/session.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/dispatcher.hpp"
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

void send_error(Stream& stream, std::uint64_t id, wire::ErrorKind kind, const std::string& message) {
  wire::Reply reply;
  reply.set_id(id);
  reply.mutable_error()->set_kind(kind);
  reply.mutable_error()->set_message(message);
  asio::error_code ignored;
  const std::string frame = wire::encode_frame(reply);
  asio::write(stream, asio::buffer(frame), ignored);
}

}  // namespace

void reject_unauthorized(Stream& stream, const std::string& why) {
  send_error(stream, 0, wire::UNAUTHORIZED, why);
  asio::error_code ignored;
  stream.close(ignored);
}

// Runs Call requests on a pool of threads; each reply is written whole
// under the write lock, so frames never interleave.
class WorkerPool {
 public:
  WorkerPool(int n, Dispatcher& dispatcher, Stream& stream, std::mutex& write_mu)
      : dispatcher_(dispatcher), stream_(stream), write_mu_(write_mu) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { run(); });
  }
  ~WorkerPool() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void submit(wire::Request request) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(request));
    }
    cv_.notify_one();
  }

 private:
  void run() {
    for (;;) {
      wire::Request request;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return done_ || !queue_.empty(); });
        if (queue_.empty()) return;
        request = std::move(queue_.front());
        queue_.pop_front();
      }
      const wire::Reply reply = dispatcher_.handle(request);
      std::lock_guard lock(write_mu_);
      asio::error_code ignored;
      const std::string frame = wire::encode_frame(reply);
      asio::write(stream_, asio::buffer(frame), ignored);
    }
  }
  Dispatcher& dispatcher_;
  Stream& stream_;
  std::mutex& write_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<wire::Request> queue_;
  bool done_ = false;
  std::vector<std::thread> threads_;
};

SessionEnd serve_session(Stream& stream, int workers) {
  Dispatcher dispatcher;
  std::mutex write_mu;
  std::optional<WorkerPool> pool;
  if (workers > 1) pool.emplace(workers, dispatcher, stream, write_mu);
  bool greeted = false;
  wire::Request request;
  for (;;) {
    try {
      request.Clear();
      if (!wire::read_frame(stream, request)) return SessionEnd::disconnected;
    } catch (const wire::FrameError& e) {
      // After a bad frame the byte stream cannot be trusted: say why and end.
      spdlog::error("bad frame: {}", e.what());
      send_error(stream, 0, wire::PROTOCOL, e.what());
      return SessionEnd::protocol_error;
    } catch (const asio::system_error& e) {
      spdlog::info("connection lost: {}", e.what());
      return SessionEnd::disconnected;
    }

    wire::Reply reply;
    if (!greeted) {
      if (request.body_case() != wire::Request::kHello) {
        send_error(stream, request.id(), wire::PROTOCOL, "the first request must be Hello");
        return SessionEnd::protocol_error;
      }
      if (request.hello().protocol_version() != wire::kProtocolVersion) {
        send_error(stream, request.id(), wire::PROTOCOL,
                   "protocol version " + std::to_string(request.hello().protocol_version()) +
                       " is not supported (surrogate speaks " +
                       std::to_string(wire::kProtocolVersion) + ")");
        return SessionEnd::protocol_error;
      }
      greeted = true;
      reply.set_id(request.id());
      wire::HelloReply* hello = reply.mutable_hello();
      hello->set_protocol_version(wire::kProtocolVersion);
      hello->set_pid(current_pid());
      hello->set_pointer_size(sizeof(void*));
      hello->set_os(kOs);
      hello->set_arch(kArch);
      spdlog::debug("handshake with '{}'", request.hello().client());
    } else if (request.body_case() == wire::Request::kShutdown) {
      pool.reset();  // let calls in progress finish and answer first
      reply.set_id(request.id());
      reply.mutable_shutdown();
      asio::error_code ignored;
      const std::string frame = wire::encode_frame(reply);
      asio::write(stream, asio::buffer(frame), ignored);
      return SessionEnd::shutdown;
    } else if (pool && request.body_case() == wire::Request::kCall) {
      pool->submit(std::move(request));
      continue;
    } else {
      reply = dispatcher.handle(request);
    }

    try {
      std::lock_guard lock(write_mu);
      wire::write_frame(stream, reply);
    } catch (const std::exception& e) {
      spdlog::info("cannot reply: {}", e.what());
      return SessionEnd::disconnected;
    }
  }
}

}  // namespace dllbridge::surrogate
