// Fuzz target `client_reply`: the client's handling of what a (compromised)
// surrogate answers: rpc::Peer's frame handling and reply matching, the
// typed channel's checks of each answer, and the codec's decoding of call
// replies (decode_reply) for the signatures of fuzz_support.hpp.
//
// The client's real Channel runs over an in-memory transport; the target
// plays the surrogate. Input: a byte that picks a signature and ABI, then
// records (fuzz_support.hpp): a flags byte, then a record with one frame
// payload. The client makes a handshake, a load, a registration, a call, a
// ping and a shutdown; for each request the fake surrogate sends the next
// records until one answers it (flag bit 0 puts the request's id into a
// reply first), and closes the channel when the records run out. Every
// operation must end in a result or a dllbridge::Error; a crash, an exception
// of another type, undefined behaviour or a wait that does not end is a
// finding.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "channel/channel.hpp"
#include "channel/codec.hpp"
#include "dllbridge/rpc/transport.hpp"
#include "dllbridge/wire/frame.hpp"
#include "fuzz_client.hpp"

using namespace dllbridge;
using namespace std::chrono_literals;

namespace {

// The surrogate's side of the channel, answering from the input.
class FakeSurrogate final : public rpc::Transport::Receiver {
 public:
  FakeSurrogate(fuzz::Reader& in, rpc::Transport& end) : in_(in), end_(end) {}

  void on_frame(std::string& payload) override {
    wire::Frame frame;
    if (!frame.ParseFromString(payload) || !frame.has_request()) return;  // the client's answers to ours
    const std::uint64_t id = frame.request().id();
    for (;;) {
      const std::uint8_t flags = in_.byte();
      std::string record;
      if (!in_.record(record)) {
        end_.close();
        return;
      }
      wire::Frame reply;
      bool answers = false;
      if (reply.ParseFromString(record) && reply.has_reply()) {
        if (flags & 1) {
          reply.mutable_reply()->set_id(id);
          record = reply.SerializeAsString();
        }
        answers = reply.reply().id() == id;
      }
      if (record.size() > wire::kMaxFrameSize) continue;
      const wire::Header h = wire::encode_header(static_cast<std::uint32_t>(record.size()));
      end_.send(std::string(h.begin(), h.end()) + record);
      if (answers) return;
    }
  }
  void on_end(const std::string&, bool) override {}

 private:
  fuzz::Reader& in_;
  rpc::Transport& end_;
};

// Runs one channel operation; only dllbridge::Error may come out of it.
template <class F>
void expect_result_or_error(F&& operation) {
  const auto start = std::chrono::steady_clock::now();
  try {
    operation();
  } catch (const Error&) {
  }
  if (std::chrono::steady_clock::now() - start > 15s) {
    std::fprintf(stderr, "client_reply_fuzz: an operation waited for its deadline\n");
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  (void)fuzz::pick_signature(0);  // the list checked once
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Reader in(data, size);
  const std::uint8_t pick = in.byte();
  const detail::Signature* picked = fuzz::pick_signature(pick);
  if (picked == nullptr) return 0;
  const detail::Signature& signature = *picked;
  // Arguments the codec accepts for the signature: nulls and zeros of the
  // right shape are enough, the replies are what is fuzzed.
  std::vector<Value> args;
  std::optional<detail::EncodedCall> encoded;  // EncodedCall is move-constructed only
  for (int attempt = 0; attempt < 2; ++attempt) {
    args.clear();
    for (std::size_t i = 0; i < signature.inputs.size(); ++i) {
      if (attempt == 0) {
        args.push_back(std::int64_t{1});
      } else {
        args.push_back(Null{});
      }
    }
    try {
      encoded.emplace(detail::Channel::encode(signature, detail::Span<Value>(args)));
      break;
    } catch (const Error&) {
    }
  }

  auto [client_end, surrogate_end] = rpc::in_memory_pair();
  FakeSurrogate fake(in, *surrogate_end);
  surrogate_end->start(fake);
  {
    detail::Channel channel(std::move(client_end), detail::Channel::Hooks{});
    channel.start();
    const auto timeout = 20s;  // never reached: the fake answers or closes
    expect_result_or_error([&] { (void)channel.hello(timeout); });
    std::uint64_t library = 0;
    expect_result_or_error([&] { library = channel.load_library("sample", timeout); });
    detail::RegisteredFunction fn;
    expect_result_or_error([&] { fn = channel.register_function(library, "f", signature, timeout); });
    expect_result_or_error([&] {
      const CallResult r = channel.call(fn.id, signature, encoded ? *encoded : encoded.emplace(), timeout);
      (void)r;
    });
    expect_result_or_error([&] { channel.ping(timeout); });
    expect_result_or_error([&] { channel.shutdown(timeout); });
  }
  surrogate_end->close();
  surrogate_end.reset();
  return 0;
}
