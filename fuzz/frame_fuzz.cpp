// Fuzz target `frame`: the frame decoders, fed an arbitrary byte stream.
// Input: a mode byte, a chunking byte, then the stream.
//   mode % 3 == 0: wire::read_frame over a stream that hands out the bytes in
//                  chunks of pseudo-random sizes (the chunking byte seeds them),
//                  each payload parsed as a wire::Frame;
//   mode % 3 == 1: the surrogate's StreamTransport reading a socket, its frames
//                  handed to an rpc::Peer (the surrogate's frame handling);
//   mode % 3 == 2: the client's transport (rpc::socket_transport) reading a socket, its
//                  frames handed to an rpc::Peer (the client's frame handling).
// Anything but the documented outcomes (frames, a FrameError, an end of
// stream) is a finding, as is a stream that does not end.
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "channel/stream_transport.hpp"
#include "core/stream_transport.hpp"
#include "dllbridge/rpc/peer.hpp"
#include "dllbridge/wire/frame.hpp"
#include "fuzz_support.hpp"

namespace wire = dllbridge::wire;
namespace rpc = dllbridge::rpc;
using Socket = asio::local::stream_protocol::socket;

namespace {

// A synchronous read stream over the input, in chunks of 1 to 64 bytes.
class ChunkedStream {
 public:
  ChunkedStream(std::string bytes, std::uint8_t seed) : bytes_(std::move(bytes)), state_(seed | 1u) {}

  template <class Buffers>
  std::size_t read_some(const Buffers& buffers, asio::error_code& ec) {
    ec.clear();
    if (pos_ >= bytes_.size()) {
      ec = asio::error::eof;
      return 0;
    }
    state_ = state_ * 1103515245u + 12345u;
    std::size_t budget = 1 + (state_ >> 16) % 64;
    std::size_t total = 0;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
      const std::size_t n = std::min({it->size(), budget, bytes_.size() - pos_});
      std::memcpy(it->data(), bytes_.data() + pos_, n);
      pos_ += n;
      budget -= n;
      total += n;
      if (budget == 0 || pos_ >= bytes_.size()) break;
    }
    return total;
  }
  template <class Buffers>
  std::size_t read_some(const Buffers& buffers) {
    asio::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw asio::system_error(ec);
    return n;
  }

 private:
  std::string bytes_;
  std::size_t pos_ = 0;
  std::uint32_t state_;
};

void decode_chunked(const std::string& bytes, std::uint8_t seed) {
  ChunkedStream stream(bytes, seed);
  try {
    for (;;) {
      wire::Frame frame;
      if (!wire::read_frame(stream, frame)) return;
      (void)frame.ByteSizeLong();
    }
  } catch (const wire::FrameError&) {
  } catch (const asio::system_error& e) {
    if (e.code() != asio::error::eof) throw;  // a stream cut inside a frame
  }
}

// Waits for a Peer's end; answers the requests it reads with an error, as
// both sides do for requests they do not serve.
struct Ending {
  std::mutex mu;
  std::condition_variable cv;
  bool ended = false;
  void end() {
    std::lock_guard lock(mu);
    ended = true;
    cv.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(20), [&] { return ended; })) {
      std::fprintf(stderr, "frame_fuzz: the transport did not report the end of the stream\n");
      std::abort();
    }
  }
};

rpc::Peer::Handlers handlers(rpc::Peer*& self, Ending& ending) {
  return rpc::Peer::Handlers{
      [&self](wire::Request&& r) { self->serve(r); },
      [](const wire::Request&) {
        wire::Reply reply;
        reply.mutable_error()->set_kind(wire::PROTOCOL);
        reply.mutable_error()->set_message("not served");
        return reply;
      },
      [](const wire::Reply&) {},
      [&ending](const std::string&, bool) { ending.end(); },
      nullptr,
      nullptr,
  };
}

// Hands what `transport` reads to a Peer until the stream ends; then closes
// the transport and waits until the Peer is called no more.
void read_to_the_end(rpc::Transport& transport) {
  Ending ending;
  rpc::Peer* self = nullptr;
  rpc::Peer peer(transport, handlers(self, ending));
  self = &peer;
  peer.start();
  ending.wait();
  transport.close();
  peer.wait_reading_over();
}

// Writes `bytes` into `ours` and ends the sending direction, then drains
// what the other side answers until it closes.
std::thread feed(Socket& ours, const std::string& bytes) {
  return std::thread([&ours, &bytes] {
    asio::error_code ec;
    asio::write(ours, asio::buffer(bytes), ec);
    ours.shutdown(asio::socket_base::shutdown_send, ec);
    char sink[4096];
    while (!ec) ours.read_some(asio::buffer(sink), ec);
  });
}

void decode_surrogate_side(const std::string& bytes) {
  asio::io_context io;
  Socket ours(io), theirs(io);
  asio::local::connect_pair(ours, theirs);
  std::thread feeder = feed(ours, bytes);
  {
    dllbridge::surrogate::StreamTransport transport(theirs);
    read_to_the_end(transport);
  }
  asio::error_code ignored;
  theirs.close(ignored);
  feeder.join();
}

void decode_client_side(const std::string& bytes) {
  auto io = std::make_unique<asio::io_context>();
  asio::io_context ours_io;
  Socket ours(ours_io);
  dllbridge::detail::Stream theirs(*io);
  asio::local::connect_pair(ours, theirs);
  std::thread feeder = feed(ours, bytes);
  {
    const auto transport = dllbridge::detail::make_stream_transport(std::move(io), std::move(theirs));
    read_to_the_end(*transport);
  }  // the transport closed its end: the feeder's drain ends
  feeder.join();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dllbridge::fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dllbridge::fuzz::Reader in(data, size);
  const std::uint8_t mode = in.byte();
  const std::uint8_t seed = in.byte();
  const std::string bytes = in.rest();
  switch (mode % 3) {
    case 0: decode_chunked(bytes, seed); break;
    case 1: decode_surrogate_side(bytes); break;
    default: decode_client_side(bytes); break;
  }
  return 0;
}
