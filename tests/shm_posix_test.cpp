// The shared region as a hostile peer sees it (Linux): raw frames to a
// standalone surrogate (both bitnesses) with a memfd passed in the Hello
// (SCM_RIGHTS). Blocks outside the mapping, of the wrong length or without
// a mapping are refused with bad_argument and the session goes on; a
// region that could shrink is not mapped; a good block is worked on in
// place, in this process's own mapping.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <thread>

#include "os.hpp"

#include "dllbridge/dllbridge.pb.h"
#include "dllbridge/rpc/fd_passing.hpp"
#include "dllbridge/wire/frame.hpp"
#include "dllbridge/wire/ready_word.hpp"
#include "surrogate_targets.hpp"
#include "test_paths.hpp"

using namespace dllbridge;
namespace paths = dllbridge::test;

namespace {

constexpr std::size_t kRegion = 1u << 20;

class HostileRegion : public ::testing::TestWithParam<test::SurrogateTarget> {
 protected:
  void SetUp() override {
    if (std::string_view(GetParam().name) == "surrogate32" && !paths::kHave32)
      GTEST_SKIP() << "no 32-bit part";
    endpoint_ = test::os::fresh_endpoint(std::string("region-") + GetParam().name);
    server_ = test::os::start_standalone(GetParam().surrogate, endpoint_, {"--log-level", "off"});
    stream_ = test::os::connect_raw(io_, endpoint_);
  }
  void TearDown() override {
    if (map_) ::munmap(map_, kRegion);
    if (memfd_ >= 0) ::close(memfd_);
    asio::error_code ignored;
    stream_.close(ignored);
    server_.reset();
  }

  // A memfd of kRegion bytes, sealed against shrinking when `sealed`, mapped here.
  void make_region(bool sealed) { make_memfd(sealed, memfd_, map_); }
  static void make_memfd(bool sealed, int& fd, unsigned char*& map) {
    fd = ::memfd_create("hostile-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, kRegion), 0);
    if (sealed) {
      ASSERT_EQ(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    }
    void* p = ::mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_NE(p, MAP_FAILED);
    map = static_cast<unsigned char*>(p);
  }

  // Sends MapSegment (index, size) with descriptor `fd` attached (none when
  // negative); its answer.
  wire::Reply map_segment(std::uint32_t index, std::uint64_t size, int fd) {
    wire::Frame frame;
    wire::Request* req = frame.mutable_request();
    req->set_id(++id_);
    req->mutable_map_segment()->set_index(index);
    req->mutable_map_segment()->set_size(size);
    const std::string bytes = wire::encode_frame(frame);
    if (fd >= 0) {
      EXPECT_EQ(rpc::send_with_fd(stream_.native_handle(), bytes.data(), bytes.size(), fd),
                static_cast<ssize_t>(bytes.size()));
    } else {
      wire::write_frame(stream_, frame);
    }
    return read();
  }

  // Sends the Hello with the region's descriptor attached; its answer.
  wire::HelloReply hello_with_region() {
    wire::Frame frame;
    wire::Request* req = frame.mutable_request();
    req->set_id(++id_);
    req->mutable_hello()->set_protocol_version(wire::kProtocolVersion);
    req->mutable_hello()->set_region_size(kRegion);
    const std::string bytes = wire::encode_frame(frame);
    EXPECT_EQ(rpc::send_with_fd(stream_.native_handle(), bytes.data(), bytes.size(), memfd_),
              static_cast<ssize_t>(bytes.size()));
    const wire::Reply r = read();
    EXPECT_TRUE(r.has_hello()) << r.error().message();
    return r.hello();
  }

  wire::Reply read() {
    wire::Frame frame;
    EXPECT_TRUE(wire::read_frame(stream_, frame)) << "the surrogate hung up";
    return frame.reply();
  }

  wire::Reply send(wire::Request req) {
    req.set_id(++id_);
    wire::Frame frame;
    *frame.mutable_request() = req;
    wire::write_frame(stream_, frame);
    const wire::Reply r = read();
    EXPECT_EQ(r.id(), id_);
    return r;
  }

  // xor_u8([in, out, size_is(n)] uint8_t* v, int32_t n, uint8_t k), registered.
  std::uint32_t xor_u8() {
    wire::Request load;
    load.mutable_load_library()->set_path(GetParam().sample);
    const wire::Reply l = send(load);
    EXPECT_TRUE(l.has_load_library()) << l.error().message();
    wire::Request reg;
    wire::RegisterFunction* f = reg.mutable_register_function();
    f->set_library(l.load_library().library());
    f->set_name("xor_u8");
    f->mutable_ret()->set_kind(wire::TypeNode::SCALAR);
    wire::TypeNode* v = f->add_params();
    v->set_kind(wire::TypeNode::POINTER);
    v->set_dir(wire::DIR_INOUT);
    v->set_count_ref(2);
    v->set_name("v");
    v->mutable_elem()->set_scalar(wire::UINT8);
    f->add_params()->set_scalar(wire::INT32);
    f->add_params()->set_scalar(wire::UINT8);
    const wire::Reply r = send(reg);
    EXPECT_TRUE(r.has_register_function()) << r.error().message();
    return r.register_function().function();
  }

  // Calls xor_u8 on bytes [offset, offset + length) of the region, n = count.
  wire::Reply call(std::uint32_t fn, std::uint64_t offset, std::uint64_t length, std::int64_t count,
                   std::uint32_t segment = 0) {
    return send(call_request(fn, offset, length, count, segment));
  }
  static wire::Request call_request(std::uint32_t fn, std::uint64_t offset, std::uint64_t length,
                                    std::int64_t count, std::uint32_t segment = 0) {
    wire::Request req;
    wire::Call* c = req.mutable_call();
    c->set_function(fn);
    wire::Region* r = c->add_args()->mutable_region();
    r->set_segment(segment);
    r->set_offset(offset);
    r->set_length(length);
    c->add_args()->set_i(count);
    c->add_args()->set_i(0x0f);
    return req;
  }

  static void expect_bad(const wire::Reply& r, const std::string& part) {
    ASSERT_TRUE(r.has_error()) << "expected an error reply";
    EXPECT_EQ(r.error().kind(), wire::BAD_ARGUMENT) << r.error().message();
    EXPECT_NE(r.error().message().find(part), std::string::npos) << r.error().message();
  }

  // Sends xor_u8 on `length` bytes at `offset` with a pending ready word at
  // offset 0 (its bytes not in place yet) and waits until the surrogate
  // says it sleeps on the word (it polls it briefly first); the word.
  wire::ReadyWord* send_before_the_bytes(std::uint32_t fn, std::uint64_t offset, std::uint64_t length) {
    wire::ReadyWord& word = *new (map_) wire::ReadyWord(wire::kReadyPending);
    wire::Request req = call_request(fn, offset, length, static_cast<std::int64_t>(length));
    req.mutable_call()->mutable_ready()->set_length(sizeof(wire::ReadyWord));  // offset 0 of segment 0
    req.set_id(++id_);
    wire::Frame frame;
    *frame.mutable_request() = req;
    wire::write_frame(stream_, frame);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (word.load() != wire::kReadySleeper && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    EXPECT_EQ(word.load(), wire::kReadySleeper) << "the surrogate never waited on the word";
    return word.load() == wire::kReadySleeper ? &word : nullptr;
  }

  asio::io_context io_;
  test::os::RawStream stream_{io_};
  std::string endpoint_;
  std::unique_ptr<test::os::Child> server_;
  std::uint64_t id_ = 0;
  int memfd_ = -1;
  unsigned char* map_ = nullptr;
};

}  // namespace

TEST_P(HostileRegion, BlocksOutsideTheMappingAreRefusedAndGoodOnesWorkInPlace) {
  make_region(true);
  const wire::HelloReply h = hello_with_region();
  ASSERT_TRUE(h.region_mapped()) << h.region_problem();
  const std::uint32_t fn = xor_u8();
  // Past the end; wrapping around 64 bits; one byte over.
  expect_bad(call(fn, kRegion - 10, 100, 100), "outside the shared region");
  expect_bad(call(fn, ~std::uint64_t{0} - 5, 16, 16), "outside the shared region");
  expect_bad(call(fn, 0, kRegion + 1, kRegion + 1), "outside the shared region");
  // A block that disagrees with its count.
  expect_bad(call(fn, 0, 64, 65), "in the shared region for 65 elements");
  // Inside: the DLL works on this process's pages, and the reply says so.
  for (std::size_t i = 0; i < 4096; ++i) map_[8192 + i] = static_cast<unsigned char>(i);
  const wire::Reply ok = call(fn, 8192, 4096, 4096);
  ASSERT_TRUE(ok.has_call()) << ok.error().message();
  ASSERT_EQ(ok.call().out_size(), 3);
  ASSERT_TRUE(ok.call().out(0).has_region());
  EXPECT_EQ(ok.call().out(0).region().offset(), 8192u);
  EXPECT_EQ(ok.call().out(0).region().length(), 4096u);
  for (std::size_t i : {std::size_t{0}, std::size_t{1}, std::size_t{4095}})
    EXPECT_EQ(map_[8192 + i], static_cast<unsigned char>(i ^ 0x0f)) << i;
  EXPECT_EQ(map_[8191], 0) << "a byte before the block was touched";
}

TEST_P(HostileRegion, ARegionThatCouldShrinkIsNotMappedAndBlocksAreRefused) {
  make_region(false);
  const wire::HelloReply h = hello_with_region();
  EXPECT_FALSE(h.region_mapped());
  EXPECT_NE(h.region_problem().find("sealed"), std::string::npos) << h.region_problem();
  const std::uint32_t fn = xor_u8();
  expect_bad(call(fn, 0, 16, 16), "not mapped");
}

TEST_P(HostileRegion, SegmentsComeInOrderWithTheirDescriptorAndUnmappedOnesAreRefused) {
  make_region(true);
  ASSERT_TRUE(hello_with_region().region_mapped());
  const std::uint32_t fn = xor_u8();
  // Segments not mapped (the next one, the largest index) name nothing.
  expect_bad(call(fn, 0, 16, 16, 1), "outside the shared region");
  expect_bad(call(fn, 0, 16, 16, ~std::uint32_t{0}), "outside the shared region");
  int fd2 = -1;
  unsigned char* map2 = nullptr;
  make_memfd(true, fd2, map2);
  // Out of order, without a descriptor, larger than a surrogate maps: refused.
  wire::Reply r = map_segment(5, kRegion, fd2);
  ASSERT_TRUE(r.has_map_segment()) << r.error().message();
  EXPECT_FALSE(r.map_segment().mapped());
  EXPECT_NE(r.map_segment().problem().find("not the next one"), std::string::npos)
      << r.map_segment().problem();
  r = map_segment(1, kRegion, -1);
  EXPECT_FALSE(r.map_segment().mapped());
  EXPECT_NE(r.map_segment().problem().find("no descriptor"), std::string::npos) << r.map_segment().problem();
  r = map_segment(1, std::uint64_t{1} << 40, fd2);
  EXPECT_FALSE(r.map_segment().mapped());
  EXPECT_NE(r.map_segment().problem().find("a segment of"), std::string::npos) << r.map_segment().problem();
  expect_bad(call(fn, 0, 16, 16, 1), "outside the shared region");
  // The next one, with its descriptor: mapped, and a call there works in
  // place in that segment (not in the first).
  r = map_segment(1, kRegion, fd2);
  ASSERT_TRUE(r.map_segment().mapped()) << r.map_segment().problem();
  for (std::size_t i = 0; i < 64; ++i) map2[128 + i] = static_cast<unsigned char>(i);
  const wire::Reply ok = call(fn, 128, 64, 64, 1);
  ASSERT_TRUE(ok.has_call()) << ok.error().message();
  EXPECT_EQ(ok.call().out(0).region().segment(), 1u);
  EXPECT_EQ(map2[129], 1 ^ 0x0f);
  EXPECT_EQ(map2[128 + 63], 63 ^ 0x0f);
  EXPECT_EQ(map_[129], 0) << "the first segment was touched";
  // Within the segment's bounds only, in 64 bits.
  expect_bad(call(fn, kRegion - 8, 16, 16, 1), "outside the shared region");
  expect_bad(call(fn, ~std::uint64_t{0} - 5, 16, 16, 1), "outside the shared region");
  ::munmap(map2, kRegion);
  ::close(fd2);
}

TEST_P(HostileRegion, ACallRunsOnlyOnceItsReadyWordIsPublishedAndBadWordsAreRefused) {
  make_region(true);
  ASSERT_TRUE(hello_with_region().region_mapped());
  const std::uint32_t fn = xor_u8();
  // Not an aligned word of the region: refused before anything runs, and the session goes on.
  struct Bad {
    std::uint64_t offset, length;
    std::uint32_t segment;
  };
  for (const Bad b : {Bad{2, 4, 0}, Bad{kRegion, 4, 0}, Bad{kRegion - 2, 4, 0}, Bad{0, 8, 0},
                      Bad{~std::uint64_t{0} - 1, 4, 0}, Bad{0, 4, 1}}) {
    wire::Request req = call_request(fn, 8192, 64, 64);
    req.mutable_call()->mutable_ready()->set_offset(b.offset);
    req.mutable_call()->mutable_ready()->set_length(b.length);
    req.mutable_call()->mutable_ready()->set_segment(b.segment);
    const wire::Reply r = send(req);
    ASSERT_TRUE(r.has_error()) << "a bad ready word at " << b.offset << " was taken";
    EXPECT_EQ(r.error().kind(), wire::PROTOCOL);
    EXPECT_NE(r.error().message().find("ready word"), std::string::npos) << r.error().message();
  }
  EXPECT_EQ(map_[8192], 0) << "a call with a bad ready word ran";

  // A pending word: the call is sent before its bytes are in place, which
  // go in once the surrogate sleeps on the word; then it is published.
  for (std::size_t i = 0; i < 4096; ++i) map_[8192 + i] = 0xee;  // not the call's bytes yet
  wire::ReadyWord* word = send_before_the_bytes(fn, 8192, 4096);
  ASSERT_NE(word, nullptr);
  for (std::size_t i = 0; i < 4096; ++i) map_[8192 + i] = static_cast<unsigned char>(i);
  wire::publish_ready(*word);
  const wire::Reply ok = read();
  EXPECT_EQ(ok.id(), id_);
  ASSERT_TRUE(ok.has_call()) << ok.error().message();
  EXPECT_NE(ok.call().cpu(), 0u) << "the reply does not say where the call ran";
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < 4096; ++i) wrong += map_[8192 + i] != static_cast<unsigned char>(i ^ 0x0f);
  EXPECT_EQ(wrong, 0u) << "the DLL did not work on the bytes published with the word";
}

TEST_P(HostileRegion, ACallWaitingForItsBytesHoldsUpNoOtherSession) {
  // The sessions of a standalone surrogate take turns at the DLL; a call
  // whose bytes never come (a client that died between its send and its
  // copy, or a hostile one) must not take that turn while it waits.
  make_region(true);
  ASSERT_TRUE(hello_with_region().region_mapped());
  const std::uint32_t fn = xor_u8();
  wire::ReadyWord* word = send_before_the_bytes(fn, 8192, 64);
  ASSERT_NE(word, nullptr);

  // Meanwhile a second client loads the library and calls into it.
  test::os::RawStream other = test::os::connect_raw(io_, endpoint_);
  auto ask = [&](wire::Request r, std::uint64_t id) {
    r.set_id(id);
    wire::Frame f;
    *f.mutable_request() = r;
    wire::write_frame(other, f);
    wire::Frame answer;
    EXPECT_TRUE(wire::read_frame(other, answer)) << "the surrogate hung up on the second client";
    EXPECT_EQ(answer.reply().id(), id);
    return answer.reply();
  };
  wire::Request hello;
  hello.mutable_hello()->set_protocol_version(wire::kProtocolVersion);
  ASSERT_TRUE(ask(hello, 1).has_hello());
  wire::Request load;
  load.mutable_load_library()->set_path(GetParam().sample);
  const wire::Reply loaded = ask(load, 2);
  ASSERT_TRUE(loaded.has_load_library()) << loaded.error().message();
  wire::Request reg;
  reg.mutable_register_function()->set_library(loaded.load_library().library());
  reg.mutable_register_function()->set_name("add");
  reg.mutable_register_function()->mutable_ret()->set_scalar(wire::INT32);
  reg.mutable_register_function()->add_params()->set_scalar(wire::INT32);
  reg.mutable_register_function()->add_params()->set_scalar(wire::INT32);
  const wire::Reply registered = ask(reg, 3);
  ASSERT_TRUE(registered.has_register_function()) << registered.error().message();
  wire::Request add;
  add.mutable_call()->set_function(registered.register_function().function());
  add.mutable_call()->add_args()->set_i(40);
  add.mutable_call()->add_args()->set_i(2);
  const wire::Reply sum = ask(add, 4);
  ASSERT_TRUE(sum.has_call()) << sum.error().message();
  EXPECT_EQ(sum.call().ret().i(), 42);

  // All that while the first call still waited: it has not answered, and
  // it runs once its bytes are published.
  pollfd pending{stream_.native_handle(), POLLIN, 0};
  EXPECT_EQ(::poll(&pending, 1, 0), 0) << "the waiting call answered before its bytes came";
  EXPECT_EQ(word->load(), wire::kReadySleeper);
  for (std::size_t i = 0; i < 64; ++i) map_[8192 + i] = static_cast<unsigned char>(i);
  wire::publish_ready(*word);
  const wire::Reply ok = read();
  EXPECT_EQ(ok.id(), id_);
  ASSERT_TRUE(ok.has_call()) << ok.error().message();
  EXPECT_EQ(map_[8192 + 5], 5 ^ 0x0f);
}

TEST_P(HostileRegion, AClientGoneBeforeItsBytesCameFreesItsSessionAtOnce) {
  // A standalone surrogate that serves one session at a time. A client that
  // sends a call and leaves before its bytes are in the region (it died
  // between its send and its copy) must not keep that one slot, and the
  // worker sleeping on the call's ready word, until the 30 s give-up.
  asio::error_code ignored;
  stream_.close(ignored);
  server_.reset();
  endpoint_ = test::os::fresh_endpoint(std::string("region-one-") + GetParam().name);
  server_ = test::os::start_standalone(GetParam().surrogate, endpoint_,
                                       {"--log-level", "off", "--max-sessions", "1"});
  stream_ = test::os::connect_raw(io_, endpoint_);
  make_region(true);
  ASSERT_TRUE(hello_with_region().region_mapped());
  const std::uint32_t fn = xor_u8();
  wire::ReadyWord* word = send_before_the_bytes(fn, 8192, 64);
  ASSERT_NE(word, nullptr);
  stream_.close(ignored);  // gone, the word never published

  // The next client is served; while the old session lived, each one was
  // refused with an Error notice naming --max-sessions (20 s is far below
  // the 30 s the wait used to last, and far above what ending takes).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool served = false;
  std::string refused;
  int tries = 0;
  while (!served && std::chrono::steady_clock::now() < until) {
    ++tries;
    test::os::RawStream next = test::os::connect_raw(io_, endpoint_);
    wire::Frame hello;
    hello.mutable_request()->set_id(1);
    hello.mutable_request()->mutable_hello()->set_protocol_version(wire::kProtocolVersion);
    asio::error_code ec;
    asio::write(next, asio::buffer(wire::encode_frame(hello)), ec);  // a refused one may be closed already
    wire::Frame answer;
    bool answered = false;
    try {
      answered = wire::read_frame(next, answer);
    } catch (const std::exception&) {
    }
    if (answered && answer.reply().has_hello()) {
      served = true;
    } else {
      if (answered) refused = answer.reply().error().message();
      // A pause between tries (not a wait for anything): no hot loop on a small machine.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  EXPECT_TRUE(served) << "after " << tries << " tries, still refused: " << refused;
  EXPECT_NE(word->load(), wire::kReadyDone);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, HostileRegion, ::testing::ValuesIn(paths::kSurrogateTargets),
                         [](const auto& info) { return std::string(info.param.name); });
