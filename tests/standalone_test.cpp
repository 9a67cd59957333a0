// Standalone mode on both platforms (`surrogate32 --listen ENDPOINT`):
// readiness, sessions side by side, the token, the time limits, the session
// cap, the small frame cap before the handshake; and the client's checks of
// the handshake reply (a fake surrogate).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "dllbridge/bridge.hpp"
#include "dllbridge/wire/frame.hpp"
#include "os.hpp"
#include "test_support.hpp"

using namespace dllbridge;
namespace paths = dllbridge::test;
using dllbridge::test::error_of;
using test::os::RawStream;

namespace {

// A standalone surrogate32 started per test, with the options it needs.
class Served : public ::testing::Test {
 protected:
  void SetUp() override { DLLBRIDGE_SKIP_WITHOUT_32BIT(); }
  void TearDown() override {
    if (server_) server_->kill();
  }

  void serve(const std::vector<std::string>& extra = {}) {
    endpoint_ = test::os::fresh_endpoint("served");
    server_ = test::os::start_standalone(paths::kSurrogate32, endpoint_, extra);
  }

  BridgeOptions options() const {
    BridgeOptions o;
    o.connect = endpoint_;
    return o;
  }

  // A raw connection that has said a valid Hello.
  RawStream greeted() {
    RawStream s = test::os::connect_raw(io_, endpoint_);
    wire::Frame hello;
    hello.mutable_request()->set_id(1);
    hello.mutable_request()->mutable_hello()->set_protocol_version(wire::kProtocolVersion);
    wire::write_frame(s, hello);
    wire::Frame reply;
    EXPECT_TRUE(wire::read_frame(s, reply));
    EXPECT_TRUE(reply.reply().has_hello()) << reply.reply().error().message();
    return s;
  }

  // Reads until the surrogate closes `s` (a test that never sees the end
  // fails on the suite's time limit); the frames it sent before.
  static std::vector<wire::Frame> read_to_end(RawStream& s) {
    std::vector<wire::Frame> frames;
    try {
      wire::Frame f;
      while (wire::read_frame(s, f)) frames.push_back(f);
    } catch (const std::exception&) {
      // a reset connection is an end too
    }
    return frames;
  }

  // A file holding `text`, owner-only.
  static std::string secret_file(const std::string& tag, const std::string& text) {
    const std::string path = test::os::temp_path(tag);
    std::ofstream(path, std::ios::binary) << text;
    std::filesystem::permissions(path,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::replace);
    return path;
  }

  static std::int32_t add(Bridge& b, std::int32_t x, std::int32_t y) {
    return b.load(paths::kSample32).function<std::int32_t(std::int32_t, std::int32_t)>("add")(x, y);
  }

  asio::io_context io_;
  std::string endpoint_;
  std::unique_ptr<test::os::Child> server_;
};

}  // namespace

TEST_F(Served, TwoClientsSideBySideWhileAThirdHoldsAHalfFrame) {
  serve();
  RawStream stuck = greeted();
  const wire::Header h = wire::encode_header(100);
  asio::write(stuck, asio::buffer(h));
  asio::write(stuck, asio::buffer(std::string(10, 'x')));  // and then nothing
  std::vector<std::thread> clients;
  int sums[2] = {0, 0};
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      Bridge b(options());
      auto add_fn = b.load(paths::kSample32).function<std::int32_t(std::int32_t, std::int32_t)>("add");
      for (int i = 0; i < 50; ++i) sums[c] += add_fn(i, c);
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(sums[0], 49 * 50 / 2);
  EXPECT_EQ(sums[1], 49 * 50 / 2 + 50);
}

TEST_F(Served, AClientThatLeavesMidCallDisturbsNoOther) {
  DLLBRIDGE_SKIP_WITHOUT_CALL_TOOL();
  serve();
  const std::string started = test::os::temp_path("midcall-started");
  const std::string go = test::os::temp_path("midcall-go");
  std::unique_ptr<test::os::Child> leaver = test::os::Child::start(
      {paths::kDllbridgeCall, "--connect", endpoint_, paths::kSample32,
       "int wait_for_file(const char* started, const char* go, int limit_ms)", started, go, "60000"});
  ASSERT_TRUE(test::eventually([&] { return std::filesystem::exists(started); })) << "the call never began";
  leaver->kill();  // its connection ends while its call runs in the DLL
  leaver->wait();
  std::ofstream(go) << "go";  // the DLL call may end now
  for (int round = 0; round < 2; ++round) {
    Bridge b(options());
    EXPECT_EQ(add(b, round, 40), round + 40);
  }
}

TEST_F(Served, TheTokenAdmitsOnlyItsHolders) {
  const std::string token = "s3cr3t-token-for-the-test";
  serve({"--token-file", secret_file("token", token + "\n")});
  {
    BridgeOptions o = options();
    o.token_file = secret_file("right", token);
    Bridge b(o);
    EXPECT_EQ(add(b, 2, 40), 42);
  }
  for (const std::string& wrong : {std::string("s3cr3t-token-for-the-tesT"), std::string("s3cr3t")}) {
    BridgeOptions o = options();
    o.token_file = secret_file("wrong", wrong);
    Error e = error_of([&] { Bridge b(o); });
    EXPECT_EQ(e.kind(), ErrorKind::unauthorized) << e.what();
    EXPECT_EQ(std::string(e.what()).find(token), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find(wrong), std::string::npos) << "the token is never echoed";
  }
  Error none = error_of([&] { Bridge b(options()); });
  EXPECT_EQ(none.kind(), ErrorKind::unauthorized) << none.what();
  EXPECT_NE(std::string(none.what()).find("no token"), std::string::npos) << none.what();
  Bridge again([&] {
    BridgeOptions o = options();
    o.token_file = secret_file("right", token);
    return o;
  }());
  EXPECT_EQ(add(again, 1, 1), 2) << "refused clients leave it serving";
}

TEST_F(Served, DllbridgeCallPresentsTheToken) {
  DLLBRIDGE_SKIP_WITHOUT_CALL_TOOL();
  serve({"--token-file", secret_file("token", "abc123")});
  const std::vector<std::string> call{paths::kSample32, "int add(int a, int b)", "2", "40"};
  auto run = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv{paths::kDllbridgeCall, "--json", "--connect", endpoint_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), call.begin(), call.end());
    return test::os::run(argv);
  };
  const test::os::Output right = run({"--token-file", secret_file("right", "abc123\n")});
  EXPECT_EQ(right.status, 0) << right.out;
  EXPECT_NE(right.out.find("\"return\":42"), std::string::npos) << right.out;
  const test::os::Output wrong = run({"--token-file", secret_file("wrong", "abc124")});
  EXPECT_EQ(wrong.status, 1) << wrong.out;
  EXPECT_NE(wrong.out.find("unauthorized"), std::string::npos) << wrong.out;
  const test::os::Output missing = run({});
  EXPECT_EQ(missing.status, 1) << missing.out;
  EXPECT_NE(missing.out.find("unauthorized"), std::string::npos) << missing.out;
}

TEST_F(Served, AnEmptyOrMissingTokenFileStopsTheStart) {
  endpoint_ = test::os::fresh_endpoint("notoken");
  EXPECT_EQ(
      test::os::run({paths::kSurrogate32, "--listen", endpoint_, "--token-file", secret_file("empty", "\n")})
          .status,
      1);
  EXPECT_EQ(test::os::run({paths::kSurrogate32, "--listen", endpoint_, "--token-file",
                           test::os::temp_path("no-such-token")})
                .status,
            1);
}

TEST_F(Served, ASilentClientIsDroppedAfterTheHandshakeTimeout) {
  serve({"--handshake-timeout-ms", "200"});
  RawStream silent = test::os::connect_raw(io_, endpoint_);
  read_to_end(silent);  // returns: the surrogate closed it
  Bridge b(options());
  EXPECT_EQ(add(b, 2, 40), 42);
}

TEST_F(Served, AHalfFrameIsDroppedAfterTheReadTimeout) {
  serve({"--read-timeout-ms", "200"});
  RawStream half = greeted();
  const wire::Header h = wire::encode_header(100);
  asio::write(half, asio::buffer(h));
  asio::write(half, asio::buffer(std::string(10, 'x')));
  read_to_end(half);
  Bridge b(options());
  EXPECT_EQ(add(b, 2, 40), 42);
}

TEST_F(Served, AnIdleClientIsDroppedButNotDuringACall) {
  serve({"--idle-timeout-ms", "200"});
  {
    // A call three times the idle time: a request in progress keeps it.
    Bridge b(options());
    auto sleep_fn = b.load(paths::kSample32).function<std::int32_t(std::int32_t)>("sleep_ms");
    EXPECT_EQ(sleep_fn(600), 600);
  }
  RawStream idle = greeted();
  read_to_end(idle);  // returns: the surrogate closed it
}

TEST_F(Served, ALargeLengthBeforeTheHandshakeIsRefusedUnread) {
  serve();
  RawStream s = test::os::connect_raw(io_, endpoint_);
  const wire::Header h = wire::encode_header(60u << 20);
  asio::write(s, asio::buffer(h));
  const std::vector<wire::Frame> frames = read_to_end(s);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].reply().error().kind(), wire::PROTOCOL);
  EXPECT_NE(frames[0].reply().error().message().find("before the handshake"), std::string::npos)
      << frames[0].reply().error().message();
}

TEST_F(Served, SessionsOverTheCapAreRefusedClearly) {
  serve({"--max-sessions", "1"});
  {
    RawStream holder = greeted();
    Error e = error_of([&] { Bridge b(options()); });
    EXPECT_EQ(e.kind(), ErrorKind::surrogate_start_failed) << e.what();
    EXPECT_NE(std::string(e.what()).find("--max-sessions"), std::string::npos) << e.what();
  }
  // Once the holder's session has ended, there is room again.
  EXPECT_TRUE(test::eventually([&] {
    try {
      Bridge b(options());
      return add(b, 2, 40) == 42;
    } catch (const Error&) {
      return false;
    }
  }));
}

TEST_F(Served, TheSecondListenerOnAServedEndpointFailsAndTheFirstServesOn) {
  serve();
  const test::os::Output second = test::os::run({paths::kSurrogate32, "--listen", endpoint_});
  EXPECT_EQ(second.status, 1);
  Bridge b(options());
  EXPECT_EQ(b.surrogate().pid, server_->pid());
  EXPECT_EQ(add(b, 2, 40), 42);
}

// The client checks the handshake reply of a surrogate it started: a fake
// one answers with what $DLLBRIDGE_FAKE_HELLO says.
class FakeHandshake : public ::testing::Test {
 protected:
  void TearDown() override { test::os::unset_env("DLLBRIDGE_FAKE_HELLO"); }
  Error start_with(const std::string& hello, Arch arch) {
    test::os::set_env("DLLBRIDGE_FAKE_HELLO", hello);
    BridgeOptions o;
    o.arch = arch;
    o.surrogate_path = DLLBRIDGE_FAKE_SURROGATE;
    return error_of([&] { Bridge b(o); });
  }
};

TEST_F(FakeHandshake, AnotherProtocolVersionIsRefused) {
  const Error e = start_with("999 4", Arch::x86);
  EXPECT_EQ(e.kind(), ErrorKind::protocol) << e.what();
  EXPECT_NE(std::string(e.what()).find("999"), std::string::npos) << e.what();
}

TEST_F(FakeHandshake, APointerSizeOfZeroIsRefused) {
  const Error e = start_with(std::to_string(wire::kProtocolVersion) + " 0", Arch::x86);
  EXPECT_EQ(e.kind(), ErrorKind::protocol) << e.what();
  EXPECT_NE(std::string(e.what()).find("pointers are 0 bytes"), std::string::npos) << e.what();
}

TEST_F(FakeHandshake, A64BitAnswerFromThe32BitSurrogateIsRefused) {
  const Error e = start_with(std::to_string(wire::kProtocolVersion) + " 8", Arch::x86);
  EXPECT_EQ(e.kind(), ErrorKind::protocol) << e.what();
  EXPECT_NE(std::string(e.what()).find("expected 4"), std::string::npos) << e.what();
  const Error e64 = start_with(std::to_string(wire::kProtocolVersion) + " 4", Arch::x64);
  EXPECT_EQ(e64.kind(), ErrorKind::protocol) << e64.what();
}

TEST_F(Served, ACallPastItsDeadlineDropsOnlyTheConnection) {
  serve();
  Bridge b(options());
  auto sleep_fn = b.load(paths::kSample32).function("int sleep_ms(int ms)");
  const Error e = error_of([&] { sleep_fn.call({std::int64_t{3000}}, std::chrono::milliseconds(100)); });
  EXPECT_EQ(e.kind(), ErrorKind::timeout) << e.what();
  EXPECT_NE(std::string(e.what()).find("connection to the standalone surrogate was dropped"),
            std::string::npos)
      << e.what();
  EXPECT_EQ(std::string(e.what()).find("the surrogate was stopped"), std::string::npos) << e.what();
  Bridge other(options());
  EXPECT_EQ(other.surrogate().pid, server_->pid()) << "the surrogate was not stopped";
}

TEST_F(Served, FramesOverTheHandshakeCapFlowOnceGreeted) {
  serve();
  // A surrogate of its own (--fd / --pipe), then this standalone one.
  for (const BridgeOptions& o : {test::options_for(test::kTargets[0]), options()}) {
    Bridge b(o);
    Function sum = b.load(paths::kSample32).function("int sum_i32([in, size_is(n)] const int32_t* v, int n)");
    List items;
    for (std::int64_t i = 1; i <= 3000; ++i) items.push_back(Value{i});  // some 15 KB in one frame
    EXPECT_EQ(test::i64(sum.call({Value{items}, std::int64_t{3000}}).ret), 3000 * 3001 / 2);
  }
}
