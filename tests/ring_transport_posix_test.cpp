// The shared-memory frame transport (rpc::offer_ring_transport /
// accept_ring_transport) at its edges: what the first bytes may be, a peer
// that breaks the rings' rules, a peer that goes after writing, descriptors
// passed with frames. Calls through it are Rpc's (rpc_test.cpp,
// "shared_frames") and every end-to-end test's on Linux.
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "dllbridge/rpc/fd_passing.hpp"
#include "dllbridge/rpc/ring_transport.hpp"
#include "dllbridge/rpc/socket_transport.hpp"
#include "dllbridge/wire/frame.hpp"

using namespace dllbridge;
using namespace std::chrono_literals;

namespace {

constexpr auto kPatience = 20s;  // bounds only a broken build

// Collects what a transport delivers; on_frame may also take a passed descriptor.
class Collector final : public rpc::Transport::Receiver {
 public:
  // on_frame takes a passed descriptor from `t` (before start()).
  void take_fds_from(rpc::Transport* t) { fds_from_ = t; }
  void on_frame(std::string& payload) override {
    wire::Frame f;
    wire::decode_payload(payload, f);
    std::lock_guard lock(mu_);
    ids_.push_back(f.request().id());
    if (fds_from_ != nullptr) fds_.push_back(fds_from_->take_passed_fd());
    cv_.notify_all();
  }
  void on_end(const std::string& why, bool bad) override {
    std::lock_guard lock(mu_);
    ended_ = true;
    why_ = why;
    bad_ = bad;
    cv_.notify_all();
  }
  // Waits for `n` frames (false: not within the patience).
  bool wait_frames(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] { return ids_.size() >= n; });
  }
  bool ended() {
    std::lock_guard lock(mu_);
    return ended_;
  }
  bool wait_end() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] { return ended_; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::uint64_t> ids_;
  std::deque<int> fds_;
  bool ended_ = false;
  std::string why_;
  bool bad_ = false;

 private:
  rpc::Transport* fds_from_ = nullptr;
};

std::string frame_with_id(std::uint64_t id) {
  wire::Frame f;
  f.mutable_request()->set_id(id);
  f.mutable_request()->mutable_ping();
  return wire::encode_frame(f);
}

struct SocketPair {
  SocketPair() {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) != 0) throw std::runtime_error("socketpair");
  }
  int fd[2];
};

std::string accept_error(int fd, std::chrono::milliseconds wait) {
  try {
    rpc::accept_ring_transport(fd, {}, wait);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST(SharedFrames, AnOfferOfNothingLeavesFramesOnTheSocket) {
  SocketPair p;
  const char none = 'S';  // what offer_ring_transport sends when it has no rings
  ASSERT_EQ(::send(p.fd[0], &none, 1, 0), 1);
  Collector at_client, at_surrogate;  // (outlive the transports: they deliver until they are gone)
  auto client = rpc::socket_transport(p.fd[0]);
  auto surrogate = rpc::accept_ring_transport(p.fd[1], {}, 5s);
  client->start(at_client);
  surrogate->start(at_surrogate);
  client->send(frame_with_id(1));
  surrogate->send(frame_with_id(2));
  ASSERT_TRUE(at_surrogate.wait_frames(1));
  ASSERT_TRUE(at_client.wait_frames(1));
  EXPECT_EQ(at_surrogate.ids_.front(), 1u);
  EXPECT_EQ(at_client.ids_.front(), 2u);
}

TEST(SharedFrames, FirstBytesThatOfferNothingUsableAreRefusedWithTheReason) {
  {
    SocketPair p;
    const char other = 'X';
    ASSERT_EQ(::send(p.fd[0], &other, 1, 0), 1);
    EXPECT_NE(accept_error(p.fd[1], 5s).find("neither frame rings nor a socket"), std::string::npos);
    ::close(p.fd[0]);
  }
  {
    SocketPair p;
    const auto before = std::chrono::steady_clock::now();
    EXPECT_NE(accept_error(p.fd[1], 50ms).find("no frame rings within 50 ms"), std::string::npos);
    EXPECT_GE(std::chrono::steady_clock::now() - before, 50ms);
    ::close(p.fd[0]);
  }
  {
    SocketPair p;
    ::close(p.fd[0]);
    EXPECT_NE(accept_error(p.fd[1], 5s).find("closed the connection"), std::string::npos);
  }
  {
    // The rings' byte without a memory object.
    SocketPair p;
    const char rings = 'R';
    ASSERT_EQ(::send(p.fd[0], &rings, 1, 0), 1);
    EXPECT_NE(accept_error(p.fd[1], 5s).find("neither"), std::string::npos);
    ::close(p.fd[0]);
  }
  {
    // A memory object that is not sealed, or not of the rings' size.
    SocketPair p;
    const int memfd = ::memfd_create("not-rings", MFD_CLOEXEC);
    ASSERT_GE(memfd, 0);
    ASSERT_EQ(::ftruncate(memfd, 4096), 0);
    ASSERT_EQ(rpc::send_with_fd(p.fd[0], "R", 1, memfd), 1);
    ::close(memfd);
    EXPECT_NE(accept_error(p.fd[1], 5s).find("not a sealed memory object"), std::string::npos);
    ::close(p.fd[0]);
  }
}

// The peer's write position past what the ring can hold (a library that
// scribbled over the mapping): the channel ends as for a bad frame, with
// the reason, rather than reading memory that is not the ring's.
TEST(SharedFrames, AWritePositionPastTheRingEndsTheChannelAsBad) {
  SocketPair p;
  Collector at_client;
  auto client = rpc::offer_ring_transport(p.fd[0], {});
  // The surrogate's side, by hand: the memory object the offer passed.
  char byte = 0;
  int memfd = -1;
  ASSERT_EQ(rpc::receive_with_fds(
                p.fd[1], &byte, 1, 0, [](void* m, int fd) { *static_cast<int*>(m) = fd; }, &memfd),
            1);
  ASSERT_EQ(byte, 'R');
  ASSERT_GE(memfd, 0);
  struct stat st {};
  ASSERT_EQ(::fstat(memfd, &st), 0);
  void* base =
      ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  ASSERT_NE(base, MAP_FAILED);
  client->start(at_client);
  // The layout (ring_transport_posix.cpp): the surrogate-to-client ring's
  // write position at 192, the client's bell word at 320.
  auto* head = reinterpret_cast<std::atomic<std::uint32_t>*>(static_cast<char*>(base) + 192);
  auto* bell = reinterpret_cast<std::atomic<std::uint32_t>*>(static_cast<char*>(base) + 320);
  head->store(0x7fff0000u);
  bell->fetch_add(1);
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(bell), FUTEX_WAKE, 1 << 30, nullptr, nullptr, 0);
  ASSERT_TRUE(at_client.wait_end());
  EXPECT_TRUE(at_client.bad_);
  EXPECT_NE(at_client.why_.find("overwritten"), std::string::npos) << at_client.why_;
  client.reset();
  ::munmap(base, static_cast<std::size_t>(st.st_size));
  ::close(memfd);
  ::close(p.fd[1]);
}

// The peer overwrote the read position we publish (it lies in memory it can
// write): nothing is there to read, and a caller's deadline still ends its
// wait (a check against the shared word would find "something new" forever).
TEST(SharedFrames, AnOverwrittenReadPositionLeavesDeadlinesWorking) {
  SocketPair p;
  Collector at_client;
  auto client = rpc::offer_ring_transport(p.fd[0], {});
  char byte = 0;
  int memfd = -1;
  ASSERT_EQ(rpc::receive_with_fds(
                p.fd[1], &byte, 1, 0, [](void* m, int fd) { *static_cast<int*>(m) = fd; }, &memfd),
            1);
  ASSERT_GE(memfd, 0);
  struct stat st {};
  ASSERT_EQ(::fstat(memfd, &st), 0);
  void* base =
      ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  ASSERT_NE(base, MAP_FAILED);
  client->start(at_client);
  // The surrogate-to-client ring's read position (the client's to write) at 256.
  reinterpret_cast<std::atomic<std::uint32_t>*>(static_cast<char*>(base) + 256)->store(5);
  const auto before = std::chrono::steady_clock::now();
  const auto r = client->read_until([](void*) { return false; }, nullptr, before + 50ms);
  EXPECT_EQ(r, rpc::Transport::CallerRead::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - before, 50ms);
  EXPECT_FALSE(at_client.ended());
  client.reset();
  ::munmap(base, static_cast<std::size_t>(st.st_size));
  ::close(memfd);
  ::close(p.fd[1]);
}

TEST(SharedFrames, WhatThePeerWroteBeforeItWentIsReadThenTheEnd) {
  SocketPair p;
  Collector at_client, at_surrogate;
  auto client = rpc::offer_ring_transport(p.fd[0], {});
  auto surrogate = rpc::accept_ring_transport(p.fd[1], {}, 5s);
  // Frames larger than the ring too: they stream through while the client reads.
  for (std::uint64_t id = 1; id <= 3; ++id) surrogate->send(frame_with_id(id));
  wire::Frame big;
  big.mutable_request()->set_id(4);
  big.mutable_request()->mutable_call()->add_args()->set_text(std::string(1 << 20, 'x'));
  std::thread sender([&] {
    surrogate->send(wire::encode_frame(big));  // queued past the ring's room: never blocks
    surrogate->send(frame_with_id(5));
  });
  sender.join();
  client->start(at_client);
  // The surrogate's side moves the rest on as room comes only while it has
  // a reader: start it with one that ignores the client.
  surrogate->start(at_surrogate);
  ASSERT_TRUE(at_client.wait_frames(5));
  surrogate.reset();  // closes: the hang-up ends the client's channel
  ASSERT_TRUE(at_client.wait_end());
  EXPECT_FALSE(at_client.bad_) << at_client.why_;
  EXPECT_EQ(at_client.ids_, (std::deque<std::uint64_t>{1, 2, 3, 4, 5}));
}

TEST(SharedFrames, ADescriptorPassedWithAFrameArrivesWithIt) {
  SocketPair p;
  Collector at_client, at_surrogate;
  auto client = rpc::offer_ring_transport(p.fd[0], {});
  auto surrogate = rpc::accept_ring_transport(p.fd[1], {}, 5s);
  at_surrogate.take_fds_from(surrogate.get());
  client->start(at_client);
  surrogate->start(at_surrogate);
  const int memfd = ::memfd_create("passed", MFD_CLOEXEC);
  ASSERT_GE(memfd, 0);
  client->send(frame_with_id(1));  // no descriptor
  ASSERT_TRUE(client->pass_fd_with_next_send(memfd));
  client->send(frame_with_id(2));
  ASSERT_TRUE(at_surrogate.wait_frames(2));
  EXPECT_EQ(at_surrogate.fds_[0], -1);
  const int got = at_surrogate.fds_[1];
  ASSERT_GE(got, 0);
  struct stat a {
  }, b{};
  ASSERT_EQ(::fstat(memfd, &a), 0);
  ASSERT_EQ(::fstat(got, &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_NE(got, memfd);
  ::close(got);
  ::close(memfd);
}

namespace {

// Voluntary context switches of the calling thread so far (each sleep).
long voluntary_switches() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return u.ru_nvcsw;
}

// A caller that polls (read_until's poll_for) takes a frame sent while it
// polls without sleeping. Five tries, the frame sent 2 ms after the caller
// began to read: a transport that ignored the poll would sleep in every
// one; one that honours it sleeps in none, unless the transport's own
// thread happens to hold a lock the caller needs at that moment.
void expect_the_poll_catches_the_frame(rpc::Transport& reader, rpc::Transport& writer, Collector& delivered) {
  struct Reading {
    Collector* delivered;
    std::size_t want;
    std::atomic<bool> started{false};
  };
  int without_sleep = 0;
  for (std::uint64_t id = 1; id <= 5; ++id) {
    Reading r{&delivered, static_cast<std::size_t>(id)};
    std::thread sender([&] {
      while (!r.started.load()) std::this_thread::yield();
      std::this_thread::sleep_for(2ms);  // (not for correctness: so that the reader is polling by then)
      writer.send(frame_with_id(id));
    });
    auto done = [](void* p) {
      auto* reading = static_cast<Reading*>(p);
      reading->started = true;
      std::lock_guard lock(reading->delivered->mu_);
      return reading->delivered->ids_.size() >= reading->want;
    };
    const long before = voluntary_switches();
    const auto read = reader.read_until(done, &r, std::chrono::steady_clock::now() + kPatience, 10s);
    const long slept = voluntary_switches() - before;
    sender.join();
    ASSERT_EQ(read, rpc::Transport::CallerRead::done) << "try " << id;
    if (slept == 0) ++without_sleep;
  }
  EXPECT_GE(without_sleep, 1) << "the reader slept in every try: its poll was not honoured";
}

}  // namespace

TEST(CallerPoll, AFrameThatComesWhileTheCallerPollsTheRingsIsTakenWithoutSleeping) {
  Collector at_client, at_surrogate;  // (they outlive the transports)
  SocketPair p;
  std::thread accepting;
  std::unique_ptr<rpc::Transport> surrogate_end;
  accepting = std::thread([&] { surrogate_end = rpc::accept_ring_transport(p.fd[1], {}, kPatience); });
  auto client = rpc::offer_ring_transport(p.fd[0], {});
  accepting.join();
  ASSERT_TRUE(surrogate_end);
  client->start(at_client);
  surrogate_end->start(at_surrogate);
  expect_the_poll_catches_the_frame(*client, *surrogate_end, at_client);
  client->close();
  surrogate_end->close();
}

TEST(CallerPoll, AFrameThatComesWhileTheCallerPollsTheSocketIsTakenWithoutSleeping) {
  Collector at_a, at_b;  // (they outlive the transports)
  SocketPair p;
  auto a = rpc::socket_transport(p.fd[0], {});
  auto b = rpc::socket_transport(p.fd[1], {});
  a->start(at_a);
  b->start(at_b);
  expect_the_poll_catches_the_frame(*a, *b, at_a);
  a->close();
  b->close();
}
