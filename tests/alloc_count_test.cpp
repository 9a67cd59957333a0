// Allocations per call in steady state (docs/performance.md, "No allocation
// on the hot path"), counted by replacing the global operator new (and, on
// glibc, malloc itself) in this test program only: the client library and
// protobuf allocate through them, on every thread (the caller's and the
// transport's). The counter is switched on only around the measured calls.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include <google/protobuf/arena.h>

#include "dllbridge/bridge.hpp"
#include "dllbridge/rpc/peer.hpp"
#include "dllbridge/rpc/socket_transport.hpp"
#include "dllbridge/wire/frame.hpp"
#include "test_support.hpp"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<std::uint64_t> g_allocations{0};

void count() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
}

// Counts the allocations `body` makes on every thread of the process.
template <class F>
std::uint64_t allocations_in(F&& body) {
  g_allocations = 0;
  g_counting = true;
  body();
  g_counting = false;
  return g_allocations.load();
}

}  // namespace

#if defined(__GLIBC__)
// malloc itself (operator new of libstdc++ and every C allocation come here).
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* malloc(std::size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  count();
  return __libc_realloc(p, n);
}
}
#else
void* operator new(std::size_t n) {
  count();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif

using namespace dllbridge;

namespace {

constexpr int kWarmUp = 200;
constexpr int kMeasured = 1000;

TEST(AllocCounter, SeesAnAllocation) {
  // The counter itself works: a test that could not fail proves nothing.
  const std::uint64_t n = allocations_in([] {
    auto* s = new std::string(100, 'x');
    delete s;
  });
  EXPECT_GE(n, 1u);
}

// Answers requests on `fd` as a surrogate would, reusing its messages and
// buffers (so the only allocations counted are the client's): each Call's
// first argument plus one.
class Responder {
 public:
  explicit Responder(int fd) : fd_(fd), thread_([this] { run(); }) {}
  ~Responder() { thread_.join(); }

 private:
  bool read_exact(char* p, std::size_t n) {
    while (n > 0) {
      const ssize_t r = ::read(fd_, p, n);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }
  void run() {
    std::string payload;
    std::string out;
    // Messages on an arena reset per request: clearing a oneof would free.
    alignas(std::max_align_t) static char block[2048];
    google::protobuf::ArenaOptions arena_options;
    arena_options.initial_block = block;
    arena_options.initial_block_size = sizeof block;
    google::protobuf::Arena arena(arena_options);
    for (;;) {
      arena.Reset();
      wire::Request& request = *google::protobuf::Arena::CreateMessage<wire::Request>(&arena);
      wire::Reply& reply = *google::protobuf::Arena::CreateMessage<wire::Reply>(&arena);
      wire::Header header;
      if (!read_exact(reinterpret_cast<char*>(header.data()), header.size())) return;
      payload.resize(wire::decode_header(header));
      if (!read_exact(&payload[0], payload.size())) return;
      std::size_t offset = 0, length = 0;
      ASSERT_TRUE(wire::frame_body(payload, 1, offset, length));
      ASSERT_TRUE(request.ParseFromArray(payload.data() + offset, static_cast<int>(length)));
      reply.set_id(request.id());
      reply.mutable_call()->mutable_ret()->set_i(request.call().args(0).i() + 1);
      wire::encode_frame_into(reply, out);
      ASSERT_EQ(::write(fd_, out.data(), out.size()), static_cast<ssize_t>(out.size()));
    }
  }
  int fd_;
  std::thread thread_;
};

TEST(AllocCount, PeerRoundTripOverTheSocketTransportAllocatesNothing) {
  // rpc::Peer over the socket transport, its request and reply kept by the
  // caller: the transport's buffers and the frame buffer are reused.
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  auto transport = rpc::socket_transport(fds[0]);
  rpc::Peer client(*transport, rpc::Peer::Handlers{});
  client.start();
  {
    const Responder responder(fds[1]);
    wire::Request request;
    request.mutable_call()->add_args()->set_i(0);
    // The reply on an arena whose block is ours, as Channel::call keeps it.
    alignas(std::max_align_t) static char block[2048];
    google::protobuf::ArenaOptions arena_options;
    arena_options.initial_block = block;
    arena_options.initial_block_size = sizeof block;
    google::protobuf::Arena arena(arena_options);
    int wrong = 0;
    const auto round = [&](int i) {
      arena.Reset();
      wire::Reply& reply = *google::protobuf::Arena::CreateMessage<wire::Reply>(&arena);
      request.mutable_call()->mutable_args(0)->set_i(i);
      if (!client.request_into(request, reply, rpc::Peer::Clock::now() + std::chrono::seconds(20)) ||
          reply.call().ret().i() != i + 1)
        ++wrong;
    };
    for (int i = 0; i < kWarmUp; ++i) round(i);
    const std::uint64_t n = allocations_in([&] {
      for (int i = 0; i < kMeasured; ++i) round(i);
    });
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(n, 0u) << "allocations in " << kMeasured << " round trips";
    ::shutdown(fds[1], SHUT_RDWR);  // the responder sees the end
  }
  transport->close();
  client.wait_reading_over();
  ::close(fds[1]);
}

class AllocCountTyped : public test::SampleTest {};

// Not zero yet (the target, issue 12 item 4): what a typed call of `add`
// still allocates on the client (2; 23 before the request pool, the reply
// arena, the reused frame buffers and the codec's inline vectors), with
// room for a reply now and then parsed by the reading thread onto the
// caller's arena. What is left (docs/performance.md, "No allocation on the
// hot path"): the typed API's argument vector and the codec's sink vector.
// A change that adds one per call fails here; one that removes some lowers it.
constexpr double kTypedCallAllocationsToday = 2.5;

TEST_P(AllocCountTyped, TrivialTypedCallAllocationsPerCall) {
  const auto add = lib_->function<std::int32_t(std::int32_t, std::int32_t)>("add");
  for (int i = 0; i < kWarmUp; ++i) ASSERT_EQ(add(i, 1), i + 1);
  int wrong = 0;
  const std::uint64_t n = allocations_in([&] {
    for (int i = 0; i < kMeasured; ++i) wrong += add(i, 2) != i + 2;
  });
  EXPECT_EQ(wrong, 0);
  const double per_call = static_cast<double>(n) / kMeasured;
  RecordProperty("allocations_per_call", std::to_string(per_call));
  EXPECT_LE(per_call, kTypedCallAllocationsToday) << "client allocations per call of add";
}

INSTANTIATE_TEST_SUITE_P(Surrogates, AllocCountTyped, ::testing::ValuesIn(test::kTargets),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
