#include "session.hpp"

#include <spdlog/spdlog.h>

#include "dispatcher.hpp"
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

SessionEnd serve_session(Stream& stream) {
  Dispatcher dispatcher;
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
      reply.set_id(request.id());
      reply.mutable_shutdown();
      asio::error_code ignored;
      const std::string frame = wire::encode_frame(reply);
      asio::write(stream, asio::buffer(frame), ignored);
      return SessionEnd::shutdown;
    } else {
      reply = dispatcher.handle(request);
    }

    try {
      wire::write_frame(stream, reply);
    } catch (const std::exception& e) {
      spdlog::info("cannot reply: {}", e.what());
      return SessionEnd::disconnected;
    }
  }
}

}  // namespace dllbridge::surrogate
