// The channel's request/reply core (rpc::Peer) over each transport: in
// memory, and (POSIX) the client's socket transport, in which a waiting
// caller reads for its own reply: ids matched both ways, requests from
// either side, nested requests served on the waiting thread, deadlines and
// endings, frames larger than the socket's buffer.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#if !defined(_WIN32)
#  include <sys/socket.h>

#  include "channel/stream_transport.hpp"
#  include "dllbridge/rpc/ring_transport.hpp"
#endif
#include "dllbridge/rpc/peer.hpp"
#include "dllbridge/rpc/transport.hpp"
#include "dllbridge/wire/frame.hpp"

using namespace dllbridge;
using namespace std::chrono_literals;

namespace {

constexpr auto kPatience = 20s;  // only so that a broken build cannot hang; never what is asserted

// A request carrying a number (the call's function id is a handy integer).
wire::Request numbered(std::uint32_t n) {
  wire::Request r;
  r.mutable_call()->set_function(n);
  return r;
}

wire::Reply answer(std::uint64_t v) {
  wire::Reply r;
  r.mutable_call()->mutable_ret()->set_u(v);
  return r;
}

// One side: a Peer whose un-nested requests are served on a worker thread
// of its own (as the surrogate does), with `respond` as the answer.
struct Side {
  std::unique_ptr<rpc::Transport> transport;
  std::function<wire::Reply(const wire::Request&)> respond;
  std::unique_ptr<rpc::Peer> peer;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<wire::Request> queue;
  bool done = false;
  std::atomic<bool> ended{false};
  std::atomic<bool> ended_bad{false};
  std::thread worker;

  Side(std::unique_ptr<rpc::Transport> t, std::function<wire::Reply(const wire::Request&)> r)
      : transport(std::move(t)), respond(std::move(r)) {
    peer =
        std::make_unique<rpc::Peer>(*transport, rpc::Peer::Handlers{
                                                    [this](wire::Request&& req) {
                                                      std::lock_guard lock(mu);
                                                      queue.push_back(std::move(req));
                                                      cv.notify_all();
                                                    },
                                                    [this](const wire::Request& req) { return respond(req); },
                                                    nullptr,
                                                    [this](const std::string&, bool bad) {
                                                      ended_bad = bad;
                                                      ended = true;
                                                    },
                                                    nullptr,
                                                    nullptr,
                                                });
    worker = std::thread([this] {
      for (;;) {
        wire::Request req;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [this] { return done || !queue.empty(); });
          if (queue.empty()) return;
          req = std::move(queue.front());
          queue.pop_front();
        }
        peer->serve(req);
      }
    });
  }
  ~Side() {
    transport->close();
    {
      std::lock_guard lock(mu);
      done = true;
    }
    cv.notify_all();
    worker.join();
    transport.reset();  // reading over before the peer goes
  }
};

rpc::Peer::Clock::time_point soon() { return rpc::Peer::Clock::now() + kPatience; }

using TransportPair = std::pair<std::unique_ptr<rpc::Transport>, std::unique_ptr<rpc::Transport>>;

struct TransportKind {
  const char* name;
  TransportPair (*make)();
};

#if !defined(_WIN32)
// Both ends: the client's socket transport over a socket pair (in
// low-latency mode: callers poll before they sleep).
TransportPair socket_pair_mode(bool low_latency) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw std::runtime_error("socketpair");
  auto end = [low_latency](int fd) {
    auto io = std::make_unique<asio::io_context>();
    detail::Stream stream(*io);
    stream.assign(asio::local::stream_protocol(), fd);
    return detail::make_stream_transport(std::move(io), std::move(stream), low_latency);
  };
  return {end(sv[0]), end(sv[1])};
}
TransportPair socket_pair() { return socket_pair_mode(false); }
TransportPair socket_pair_low_latency() { return socket_pair_mode(true); }
#endif

#if defined(__linux__)
// Frames through shared memory: the client's end offers the rings (as
// make_stream_transport does for a surrogate it starts), the other accepts.
TransportPair ring_pair_mode(bool low_latency) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw std::runtime_error("socketpair");
  auto io = std::make_unique<asio::io_context>();
  detail::Stream stream(*io);
  stream.assign(asio::local::stream_protocol(), sv[0]);
  auto client = detail::make_stream_transport(std::move(io), std::move(stream), low_latency, true);
  auto surrogate = rpc::accept_ring_transport(sv[1], rpc::RingOptions{low_latency}, std::chrono::seconds(5));
  return {std::move(client), std::move(surrogate)};
}
TransportPair ring_pair() { return ring_pair_mode(false); }
TransportPair ring_pair_low_latency() { return ring_pair_mode(true); }
#endif

const TransportKind kKinds[] = {
    {"in_memory", &rpc::in_memory_pair},
#if !defined(_WIN32)
    {"socket", &socket_pair},
    {"socket_low_latency", &socket_pair_low_latency},
#endif
#if defined(__linux__)
    {"shared_frames", &ring_pair},
    {"shared_frames_low_latency", &ring_pair_low_latency},
#endif
};

}  // namespace

class Rpc : public ::testing::TestWithParam<TransportKind> {};

INSTANTIATE_TEST_SUITE_P(Transports, Rpc, ::testing::ValuesIn(kKinds),
                         [](const ::testing::TestParamInfo<TransportKind>& i) { return i.param.name; });

TEST_P(Rpc, RepliesAreMatchedByIdFromManyThreads) {
  auto [a, b] = GetParam().make();
  Side client(std::move(a), [](const wire::Request&) { return answer(0); });
  Side server(std::move(b), [](const wire::Request& r) { return answer(r.call().function() * 10u); });
  client.peer->start();
  server.peer->start();
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (std::uint32_t i = 1; i <= 200; ++i) {
        const std::uint32_t n = t * 1000 + i;
        auto r = client.peer->request(numbered(n), soon());
        if (!r || r->call().ret().u() != n * 10u) ++wrong;
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(wrong, 0);
}

TEST_P(Rpc, EitherSideMayAskWhileItWaits) {
  // The server, while serving the client's request, asks the client something
  // unrelated (not nested: from another thread) and gets its answer.
  auto [a, b] = GetParam().make();
  std::promise<std::uint64_t> server_got;
  std::unique_ptr<Side> server_ptr;
  Side client(std::move(a), [](const wire::Request& r) { return answer(r.call().function() + 1); });
  server_ptr = std::make_unique<Side>(std::move(b), [&](const wire::Request&) {
    std::uint64_t got = 0;
    std::thread other([&] {
      auto r = server_ptr->peer->request(numbered(41), soon());
      got = r ? r->call().ret().u() : 0;
    });
    other.join();
    return answer(got);
  });
  client.peer->start();
  server_ptr->peer->start();
  auto r = client.peer->request(numbered(1), soon());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->call().ret().u(), 42u);
  server_ptr.reset();
}

TEST_P(Rpc, NestedRequestsRunOnTheWaitingThreadEightLevelsDeep) {
  // Client asks server (depth 1); serving it, the server asks the client
  // (depth 2) from its worker thread, which nests in the client's wait; the
  // client answers on the thread that waits, and asks again (depth 3)...
  constexpr std::uint32_t kDepth = 9;
  auto [a, b] = GetParam().make();
  std::mutex mu;
  std::map<std::uint32_t, std::thread::id> ran_on;  // depth -> thread that served it
  std::unique_ptr<Side> client, server;
  auto respond_with = [&](std::unique_ptr<Side>& self) {
    return [&](const wire::Request& r) {
      const std::uint32_t depth = r.call().function();
      {
        std::lock_guard lock(mu);
        ran_on[depth] = std::this_thread::get_id();
      }
      std::uint64_t below = 0;
      if (depth < kDepth) {
        auto inner = self->peer->request(numbered(depth + 1), soon());
        below = inner ? inner->call().ret().u() : 1000;
      }
      return answer(below + 1);
    };
  };
  client = std::make_unique<Side>(std::move(a), respond_with(client));
  server = std::make_unique<Side>(std::move(b), respond_with(server));
  client->peer->start();
  server->peer->start();

  std::thread::id caller;
  std::uint64_t result = 0;
  std::thread t([&] {
    caller = std::this_thread::get_id();
    {
      std::lock_guard lock(mu);
      ran_on[1] = caller;  // depth 1 is the caller's own request
    }
    auto r = client->peer->request(numbered(2), soon());
    result = r ? r->call().ret().u() : 0;
  });
  t.join();
  EXPECT_EQ(result, kDepth - 1);  // each level adds one, the innermost answers 1
  // Client-side levels (odd) all ran on the calling thread; server-side
  // levels (even) on the one server thread that served depth 2.
  const std::thread::id server_thread = ran_on.at(2);
  for (std::uint32_t d = 1; d <= kDepth; ++d) {
    ASSERT_TRUE(ran_on.count(d)) << "depth " << d << " never ran";
    EXPECT_EQ(ran_on[d], d % 2 ? caller : server_thread) << "depth " << d;
  }
  server.reset();
  client.reset();
}

TEST_P(Rpc, ALateReplyIsDroppedNotGivenToTheNextRequest) {
  auto [a, b] = GetParam().make();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Side client(std::move(a), [](const wire::Request&) { return answer(0); });
  Side server(std::move(b), [&](const wire::Request& r) {
    if (r.call().function() == 1) released.wait();  // the first answer comes too late
    return answer(r.call().function());
  });
  client.peer->start();
  server.peer->start();
  EXPECT_FALSE(client.peer->request(numbered(1), rpc::Peer::Clock::now() + 50ms));
  release.set_value();
  auto r = client.peer->request(numbered(2), soon());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->call().ret().u(), 2u);
}

TEST_P(Rpc, TheEndWakesWaitersWithClosed) {
  auto [a, b] = GetParam().make();
  std::promise<void> entered, closed_there;
  std::shared_future<void> closed_signal = closed_there.get_future().share();
  Side client(std::move(a), [](const wire::Request&) { return answer(0); });
  auto server = std::make_unique<Side>(std::move(b), [&](const wire::Request&) {
    entered.set_value();
    closed_signal.wait();
    return answer(0);  // after the channel closed: dropped
  });
  client.peer->start();
  server->peer->start();
  std::thread closer([&] {
    entered.get_future().wait();
    server->transport->close();
    closed_there.set_value();
  });
  try {
    client.peer->request(numbered(1), soon());
    ADD_FAILURE() << "a reply or the deadline instead of the end";
  } catch (const rpc::Closed& e) {
    EXPECT_TRUE(e.sent());
  }
  closer.join();
  // The end was reported before the waiters were woken; later requests fail at once, unsent.
  ASSERT_TRUE(client.ended);
  EXPECT_FALSE(client.ended_bad);
  try {
    client.peer->request(numbered(2), soon());
    ADD_FAILURE() << "no Closed";
  } catch (const rpc::Closed& e) {
    EXPECT_FALSE(e.sent());
  }
  server.reset();
}

TEST_P(Rpc, AFrameThatDoesNotParseEndsTheChannelAsBad) {
  auto [a, b] = GetParam().make();
  Side client(std::move(a), [](const wire::Request&) { return answer(0); });
  client.peer->start();
  b->send(std::string(wire::kHeaderSize, '\0') + "\xff\xff\xff\xff\xff");
  std::unique_ptr<rpc::Transport> keep = std::move(b);
  try {
    client.peer->request(numbered(1), soon());
    ADD_FAILURE() << "answered";
  } catch (const rpc::Closed&) {
  }
  EXPECT_TRUE(client.ended);
  EXPECT_TRUE(client.ended_bad);
  keep->close();
}

// A peer that answers each request twice, the second time with another
// value, one right after the other: a (compromised) other side.
class TwiceAnswering final : public rpc::Transport::Receiver {
 public:
  explicit TwiceAnswering(rpc::Transport& end) : end_(end) {}
  void on_frame(std::string& payload) override {
    wire::Frame in;
    if (!in.ParseFromString(payload) || !in.has_request()) return;
    for (std::uint64_t value : {1u, 2u}) {
      wire::Frame out;
      *out.mutable_reply() = answer(value);
      out.mutable_reply()->set_id(in.request().id());
      end_.send(wire::encode_frame(out));
    }
  }
  void on_end(const std::string&, bool) override {}

 private:
  rpc::Transport& end_;
};

TEST_P(Rpc, ASecondReplyToOneRequestIsNeverTakenForItsAnswer) {
  // Found by the client_reply fuzzer: the second reply was parsed into the
  // caller's reply while the first was being parsed on the caller's thread.
  // Repeated so that the second reply meets each stage of the first.
  for (int round = 0; round < 50; ++round) {
    auto [a, b] = GetParam().make();
    TwiceAnswering twice(*b);
    b->start(twice);
    Side client(std::move(a), [](const wire::Request&) { return answer(0); });
    client.peer->start();
    // The first reply is the answer, whenever the second comes.
    const std::optional<wire::Reply> r = client.peer->request(numbered(1), soon());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->call().ret().u(), 1u) << "round " << round;
    // A second reply that came while the caller still waited ended the
    // channel as bad; one that came later found no one and was dropped.
    // Never is it the answer to the next request.
    try {
      auto next = client.peer->request(numbered(2), soon());
      ASSERT_TRUE(next);
      EXPECT_EQ(next->call().ret().u(), 1u);
    } catch (const rpc::Closed&) {
      EXPECT_TRUE(client.ended_bad);
    }
    b->close();
    b.reset();  // reading over before `twice` goes
  }
}

TEST_P(Rpc, FramesLargerThanTheSocketBufferCrossBothWaysBetweenSmallOnes) {
  // Large requests and replies from several threads at once, interleaved
  // with small ones: each arrives whole and to its own asker.
  auto [a, b] = GetParam().make();
  Side client(std::move(a), [](const wire::Request&) { return answer(0); });
  Side server(std::move(b), [](const wire::Request& r) {
    wire::Reply reply = answer(r.call().function());
    // As large as what came, one byte more, filled with the id.
    const std::size_t size = r.call().args_size() ? r.call().args(0).text().size() + 1 : 0;
    if (size)
      reply.mutable_call()->mutable_ret()->set_text(
          std::string(size, static_cast<char>(r.call().function())));
    return reply;
  });
  client.peer->start();
  server.peer->start();
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (std::uint32_t t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (std::uint32_t i = 0; i < 12; ++i) {
        const std::uint32_t n = t * 16 + i + 1;  // < 128: one char
        wire::Request req = numbered(n);
        // Threads 0 and 1 send 3 MiB and 300 KiB frames; 2 and 3 small ones.
        const std::size_t size = t == 0 ? (3u << 20) : t == 1 ? (300u << 10) : 0;
        if (size) req.mutable_call()->add_args()->set_text(std::string(size, 'x'));
        auto r = client.peer->request(std::move(req), soon());
        if (!r) {
          ++wrong;
          continue;
        }
        const std::string& text = r->call().ret().text();
        if (size == 0 ? r->call().ret().u() != n
                      : text.size() != size + 1 ||
                            text.find_first_not_of(static_cast<char>(n)) != std::string::npos) {
          ++wrong;
        }
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(wrong, 0);
}

TEST_P(Rpc, AFrameQueuedWhileAnotherCallerWaitsIsFinishedForIt) {
  // Caller A waits for a reply that the other side gives only once B's
  // request, far larger than the socket's buffer (most of it queued as B
  // sends), has arrived whole: B's queued bytes must move on while A
  // holds the reading, though nothing A waits for comes before them.
  auto [a, b] = GetParam().make();
  std::mutex mu;
  std::condition_variable cv;
  bool first_came = false;
  Side client(std::move(a), [](const wire::Request&) { return answer(0); });
  Side server(std::move(b), [&](const wire::Request& r) {
    if (r.call().function() != 1) return answer(r.call().args(0).text().size());
    {
      std::lock_guard lock(mu);
      first_came = true;
    }
    cv.notify_all();
    // Served one at a time: the large request waits in the queue, whole.
    std::unique_lock lock(server.mu);
    return answer(server.cv.wait_for(lock, kPatience, [&] { return !server.queue.empty(); }) ? 1 : 0);
  });
  client.peer->start();
  server.peer->start();
  std::uint64_t first = 99;
  std::thread waiter([&] {
    auto r = client.peer->request(numbered(1), soon());
    if (r) first = r->call().ret().u();
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kPatience, [&] { return first_came; }));
  }
  wire::Request large = numbered(2);
  large.mutable_call()->add_args()->set_text(std::string(8u << 20, 'x'));
  auto r = client.peer->request(std::move(large), soon());
  waiter.join();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->call().ret().u(), 8u << 20);
  EXPECT_EQ(first, 1u) << "the large request came whole while the first caller waited";
}

TEST_P(Rpc, ManyCallersTakeTurnsReadingAndEachGetsItsOwnReply) {
  // More callers than cores, each waiting for its own reply: whoever reads
  // delivers the others' replies, and a caller that stops reading hands on.
  auto [a, b] = GetParam().make();
  Side client(std::move(a), [](const wire::Request&) { return answer(0); });
  Side server(std::move(b), [](const wire::Request& r) { return answer(r.call().function() ^ 0x5555u); });
  client.peer->start();
  server.peer->start();
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (std::uint32_t t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      for (std::uint32_t i = 1; i <= 300; ++i) {
        const std::uint32_t n = t * 100000 + i;
        auto r = client.peer->request(numbered(n), soon());
        if (!r || r->call().ret().u() != (n ^ 0x5555u)) ++wrong;
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(wrong, 0);
}

#if !defined(_WIN32)
#  include "dllbridge/rpc/socket_transport.hpp"

// The socket transport's cap on the first frame (the handshake's): a larger
// first frame ends the channel as bad before it is read; after a first frame
// within the cap, frames of any allowed size pass.
TEST(SocketTransport, AFirstFrameOverItsCapEndsTheChannelLaterOnesMayBeLarge) {
  for (const bool small_first : {false, true}) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    auto io = std::make_unique<asio::io_context>();
    detail::Stream stream(*io);
    stream.assign(asio::local::stream_protocol(), sv[0]);
    Side sender(detail::make_stream_transport(std::move(io), std::move(stream)),
                [](const wire::Request&) { return answer(0); });
    Side receiver(rpc::socket_transport(sv[1], rpc::SocketOptions{false, 256}), [](const wire::Request& r) {
      return answer(r.call().args_size() ? r.call().args(0).text().size() : 7);
    });
    sender.peer->start();
    receiver.peer->start();
    if (small_first) {
      auto r = sender.peer->request(numbered(1), soon());
      ASSERT_TRUE(r);
      EXPECT_EQ(r->call().ret().u(), 7u);
    }
    wire::Request big = numbered(2);
    big.mutable_call()->add_args()->set_text(std::string(100000, 'b'));
    if (small_first) {
      auto r = sender.peer->request(std::move(big), soon());
      ASSERT_TRUE(r);
      EXPECT_EQ(r->call().ret().u(), 100000u);
      EXPECT_FALSE(receiver.ended);
    } else {
      wire::Frame frame;
      *frame.mutable_request() = std::move(big);
      sender.transport->send(wire::encode_frame(frame));
      // The receiver reports the end on its own thread: wait for that (the
      // patience only bounds a broken build).
      const auto give_up = rpc::Peer::Clock::now() + kPatience;
      while (!receiver.ended && rpc::Peer::Clock::now() < give_up) std::this_thread::sleep_for(1ms);
      EXPECT_TRUE(receiver.ended);
      EXPECT_TRUE(receiver.ended_bad);
    }
  }
}
#endif
