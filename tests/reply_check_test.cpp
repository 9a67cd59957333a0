// The client checks what its surrogate answers against what it asked
// (a fake surrogate over an in-memory transport answers calls as told), and
// refuses before sending what could not come back: a reply too large for a
// frame, an empty or non-UTF-8 library path.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "error_of.hpp"
#include "dllbridge/bridge.hpp"
#include "fake_surrogate.hpp"

using namespace dllbridge;
using test::FakeSurrogate;

namespace {

const char* kFill = "void fill_seq_u16([out, size_is(n)] uint16_t* out, int n, uint16_t start)";

using test::error_of;

// A CallReply for fill_seq_u16 with `items` elements and null for n, start.
wire::Reply fill_reply(int items) {
  wire::Reply r;
  wire::CallReply* c = r.mutable_call();
  c->mutable_ret()->set_null(true);
  std::string packed;  // uint16_t elements, little-endian
  for (int i = 0; i < items; ++i) packed += std::string{static_cast<char>(i), '\0'};
  c->add_out()->set_packed(packed);
  c->add_out()->set_null(true);
  c->add_out()->set_null(true);
  return r;
}

class ReplyChecks : public ::testing::Test {
 protected:
  FakeSurrogate fake_;
  Bridge bridge_{fake_.options()};
  Library lib_ = bridge_.load("libfake.so");
  Function fill_ = lib_.function(kFill);

  // Calls fill_seq_u16 for 4 elements; the error it fails with.
  Error fill_error() {
    return error_of([&] { fill_.call({std::int64_t{4}, std::int64_t{0}}); });
  }
};

}  // namespace

TEST_F(ReplyChecks, AWellFormedReplyIsAccepted) {
  fake_.answer = [](const wire::Call&) { return fill_reply(4); };
  const CallResult r = fill_.call({std::int64_t{4}, std::int64_t{0}});
  EXPECT_EQ(std::get<List>(r.out.at("out")).size(), 4u);
}

TEST_F(ReplyChecks, AReplyOfAnotherKindIsAProtocolError) {
  fake_.answer = [](const wire::Call&) {
    wire::Reply r;
    r.mutable_pong();
    return r;
  };
  EXPECT_EQ(fill_error().kind(), ErrorKind::protocol);
}

TEST_F(ReplyChecks, MoreOrFewerElementsThanAskedForAreProtocolErrors) {
  fake_.answer = [](const wire::Call&) { return fill_reply(5); };
  const Error longer = fill_error();
  EXPECT_EQ(longer.kind(), ErrorKind::protocol);
  EXPECT_NE(std::string(longer.what()).find("'out'"), std::string::npos) << longer.what();
  fake_.answer = [](const wire::Call&) { return fill_reply(3); };
  EXPECT_EQ(fill_error().kind(), ErrorKind::protocol);
}

TEST_F(ReplyChecks, OutValuesMustMatchTheParameters) {
  fake_.answer = [](const wire::Call&) {
    wire::Reply r = fill_reply(4);
    r.mutable_call()->add_out()->set_null(true);  // one more than the parameters
    return r;
  };
  EXPECT_EQ(fill_error().kind(), ErrorKind::protocol);
  fake_.answer = [](const wire::Call&) {
    wire::Reply r = fill_reply(4);
    r.mutable_call()->mutable_out(1)->set_i(7);  // a value for an [in] parameter
    return r;
  };
  EXPECT_EQ(fill_error().kind(), ErrorKind::protocol);
  fake_.answer = [](const wire::Call&) {
    wire::Reply r = fill_reply(4);
    r.mutable_call()->mutable_out(0)->set_text("xxxxxxxx");  // text for uint16_t elements
    return r;
  };
  EXPECT_EQ(fill_error().kind(), ErrorKind::protocol);
  fake_.answer = [](const wire::Call&) {
    wire::Reply r = fill_reply(4);
    r.mutable_call()->mutable_out(0)->mutable_packed()->push_back('\0');  // 4.5 elements
    return r;
  };
  EXPECT_EQ(fill_error().kind(), ErrorKind::protocol);
}

TEST_F(ReplyChecks, ValueKindsMustMatchTheTypes) {
  Function add = lib_.function("int add(int a, int b)");
  fake_.answer = [](const wire::Call&) {
    wire::Reply r;
    r.mutable_call()->mutable_ret()->set_text("42");
    r.mutable_call()->add_out()->set_null(true);
    r.mutable_call()->add_out()->set_null(true);
    return r;
  };
  EXPECT_EQ(error_of([&] { add.call({std::int64_t{1}, std::int64_t{2}}); }).kind(), ErrorKind::protocol);
}

TEST_F(ReplyChecks, TextLongerThanItsBufferIsAProtocolError) {
  Function upper =
      lib_.function("int copy_upper([in, string] const char* in, [out, size_is(cap)] char* out, int cap)");
  fake_.answer = [](const wire::Call&) {
    wire::Reply r;
    r.mutable_call()->mutable_ret()->set_i(8);
    r.mutable_call()->add_out()->set_null(true);
    r.mutable_call()->add_out()->set_text("ABCDEFGH");
    r.mutable_call()->add_out()->set_null(true);
    return r;
  };
  EXPECT_EQ(error_of([&] {
              upper.call({std::string("abcdefgh"), std::int64_t{4}});
            }).kind(),
            ErrorKind::protocol);
}

TEST_F(ReplyChecks, ACallWhoseReplyCannotFitAFrameIsRefusedBeforeSending) {
  // 4 Mi structs pass the element cap, but their reply (a list of field
  // values each) does not fit one frame: refused here, never sent, no
  // restart, the breaker untouched.
  Function points = lib_.function(
      "struct P { int x; int y; }; void fill_points([out, size_is(n)] struct P* out, int n, uint16_t start)");
  const Error e = error_of([&] { points.call({std::int64_t{4} << 20, std::int64_t{0}}); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
  EXPECT_NE(std::string(e.what()).find("frame"), std::string::npos) << e.what();
  EXPECT_FALSE(e.may_have_run());
  EXPECT_EQ(fake_.calls.load(), 0);
  EXPECT_EQ(fake_.sessions.load(), 1);
  const BridgeStats s = bridge_.stats();
  EXPECT_EQ(s.restarts, 0u);
  EXPECT_EQ(s.breaker, BreakerState::closed);
}

TEST_F(ReplyChecks, ALargerReplyThanTheCallCanBringBackIsRefusedUnparsed) {
  // A valid CallReply, but far larger than a 4-element buffer's reply may be.
  fake_.raw = [](std::uint64_t id) {
    std::string items;
    for (int i = 0; i < 200000; ++i) items += test::field(1, "");
    const std::string call = test::field(4, test::field(6, items));  // CallReply.out[0] = list
    return test::field(2, std::string("\x08", 1) + test::varint(id) + test::field(5, call));
  };
  const Error e = fill_error();
  EXPECT_EQ(e.kind(), ErrorKind::protocol);
  EXPECT_NE(std::string(e.what()).find("exceeds"), std::string::npos) << e.what();
}

TEST(LibraryPaths, EmptyAndNonUtf8PathsAreBadArgumentsBeforeSending) {
  FakeSurrogate fake;
  Bridge bridge(fake.options());
  EXPECT_EQ(error_of([&] { bridge.load(""); }).kind(), ErrorKind::bad_argument);
  EXPECT_EQ(error_of([&] { bridge.load("lib\xff\xfe.so"); }).kind(), ErrorKind::bad_argument);
  EXPECT_EQ(fake.loads.load(), 0);
  EXPECT_EQ(bridge.stats().restarts, 0u);
  EXPECT_EQ(bridge.stats().breaker, BreakerState::closed);
}
