// A fake surrogate for the client's handshake checks: started by the client
// like the real one (`--fd N` / `--pipe NAME` among its arguments), it
// answers the Hello with the protocol version and pointer size given in
// $DLLBRIDGE_FAKE_HELLO ("VERSION POINTER_SIZE"), then reads until the end.
#if defined(_WIN32)
#  include "dllbridge/wire/win32.hpp"  // before anything that includes the wire enums
#  include <asio/windows/stream_handle.hpp>
#else
#  include <asio/local/stream_protocol.hpp>
#endif

#include <cstdlib>
#include <sstream>
#include <string>

#include "dllbridge/wire/frame.hpp"

using namespace dllbridge;

int main(int argc, char** argv) {
  std::string endpoint;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--fd" || a == "--pipe") endpoint = argv[i + 1];
  }
  const char* spec = std::getenv("DLLBRIDGE_FAKE_HELLO");
  if (endpoint.empty() || spec == nullptr) return 2;
  std::uint32_t version = 0, pointer_size = 0;
  std::istringstream(spec) >> version >> pointer_size;

  asio::io_context io;
#if defined(_WIN32)
  asio::windows::stream_handle stream(io);
  stream.assign(win::open_pipe_client(win::widen(endpoint), std::chrono::milliseconds(5000)).release());
#else
  asio::local::stream_protocol::socket stream(io);
  stream.assign(asio::local::stream_protocol(), std::stoi(endpoint));
#endif
  try {
    wire::Frame in;
    while (wire::read_frame(stream, in)) {
      wire::Frame out;
      wire::Reply* reply = out.mutable_reply();
      reply->set_id(in.request().id());
      if (in.request().has_hello()) {
        reply->mutable_hello()->set_protocol_version(version);
        reply->mutable_hello()->set_pid(0);
        reply->mutable_hello()->set_pointer_size(pointer_size);
      } else if (in.request().has_shutdown()) {
        reply->mutable_shutdown();
        wire::write_frame(stream, out);
        return 0;
      } else {
        reply->mutable_error()->set_kind(wire::PROTOCOL);
        reply->mutable_error()->set_message("a fake surrogate");
      }
      wire::write_frame(stream, out);
    }
  } catch (const std::exception&) {
    return 1;
  }
  return 0;
}
