// The surrogate as a hostile peer sees it: raw frames to a standalone
// surrogate (both bitnesses), with type trees and values no client would
// send. Each must be answered with an error, and the session must go on.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "os.hpp"  // first: on Windows it brings windows.h before the wire enums

#include "dllbridge/dllbridge.pb.h"
#include "dllbridge/wire/frame.hpp"
#include "surrogate_targets.hpp"
#include "test_paths.hpp"

using namespace dllbridge;
namespace paths = dllbridge::test;

namespace {

using Target = test::SurrogateTarget;
using test::kSurrogateTargets;

wire::TypeNode scalar(wire::Scalar s, const std::string& name = "x") {
  wire::TypeNode n;
  n.set_kind(wire::TypeNode::SCALAR);
  n.set_scalar(s);
  n.set_name(name);
  return n;
}

wire::TypeNode pointer(wire::Direction dir, const wire::TypeNode& elem, const std::string& name = "p") {
  wire::TypeNode n;
  n.set_kind(wire::TypeNode::POINTER);
  n.set_dir(dir);
  n.set_name(name);
  *n.mutable_elem() = elem;
  return n;
}

// Frames carry a wire::Frame: a request one way, a reply the other.
void write_request(test::os::RawStream& stream, const wire::Request& request) {
  wire::Frame frame;
  *frame.mutable_request() = request;
  wire::write_frame(stream, frame);
}

bool read_reply(test::os::RawStream& stream, wire::Reply& reply) {
  wire::Frame frame;
  if (!wire::read_frame(stream, frame)) return false;
  EXPECT_TRUE(frame.has_reply()) << "the surrogate sent a request";
  reply = frame.reply();
  return true;
}

wire::Value integer(std::int64_t v) {
  wire::Value x;
  x.set_i(v);
  return x;
}

// A null value: an [out] pointer's argument, a null pointer.
wire::Value null_value() {
  wire::Value x;
  x.set_null(true);
  return x;
}

wire::Value list(std::initializer_list<wire::Value> items) {
  wire::Value x;
  for (const auto& i : items) *x.mutable_list()->add_items() = i;
  return x;
}

class Hostile : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    if (std::string_view(GetParam().name) == "surrogate32" && !paths::kHave32) {
      GTEST_SKIP() << "skipped: this build has no 32-bit part (configured with DLLBRIDGE_BUILD_32BIT=OFF)";
    }
    endpoint_ = test::os::fresh_endpoint(std::string("hostile-") + GetParam().name);
    server_ = test::os::start_standalone(GetParam().surrogate, endpoint_, {"--log-level", "off"});
    stream_ = test::os::connect_raw(io_, endpoint_);
    wire::Request hello;
    hello.mutable_hello()->set_protocol_version(wire::kProtocolVersion);
    ASSERT_TRUE(send(hello).has_hello());
    wire::Request load;
    load.mutable_load_library()->set_path(GetParam().sample);
    const wire::Reply r = send(load);
    ASSERT_TRUE(r.has_load_library()) << r.error().message();
    library_ = r.load_library().library();
  }
  void TearDown() override {
    asio::error_code ignored;
    stream_.close(ignored);
    server_.reset();  // kills the standalone surrogate
  }

  wire::Reply send(wire::Request req) {
    req.set_id(++id_);
    write_request(stream_, req);
    wire::Reply reply;
    EXPECT_TRUE(read_reply(stream_, reply)) << "the surrogate hung up";
    EXPECT_EQ(reply.id(), id_);
    return reply;
  }

  wire::Reply register_fn(const std::string& name, const wire::TypeNode& ret,
                          std::vector<wire::TypeNode> params) {
    wire::Request req;
    wire::RegisterFunction* r = req.mutable_register_function();
    r->set_library(library_);
    r->set_name(name);
    *r->mutable_ret() = ret;
    for (auto& p : params) *r->add_params() = std::move(p);
    return send(req);
  }

  std::uint32_t must_register(const std::string& name, const wire::TypeNode& ret,
                              std::vector<wire::TypeNode> params) {
    const wire::Reply r = register_fn(name, ret, std::move(params));
    EXPECT_TRUE(r.has_register_function()) << r.error().message();
    return r.register_function().function();
  }

  wire::Reply call(std::uint32_t fn, std::vector<wire::Value> args) {
    wire::Request req;
    req.mutable_call()->set_function(fn);
    for (auto& a : args) *req.mutable_call()->add_args() = std::move(a);
    return send(req);
  }

  // fill_seq_u16(OUT, int32_t n, uint16_t start), OUT as given.
  std::uint32_t fill_seq_u16(wire::TypeNode out) {
    return must_register("fill_seq_u16", scalar(wire::SCALAR_VOID),
                         {std::move(out), scalar(wire::INT32, "n"), scalar(wire::UINT16, "start")});
  }
  // fill_seq_u16([out, size_is(n)] uint16_t* out, int32_t n, uint16_t start)
  std::uint32_t fill_seq_u16() {
    wire::TypeNode out = pointer(wire::DIR_OUT, scalar(wire::UINT16), "out");
    out.set_count_ref(2);
    return fill_seq_u16(out);
  }

  // sum_i32([in, size_is(n)] const int32_t* v, int n)
  std::uint32_t sum_i32() {
    wire::TypeNode v = pointer(wire::DIR_IN, scalar(wire::INT32), "v");
    v.set_count_ref(2);
    return must_register("sum_i32", scalar(wire::INT32), {v, scalar(wire::INT32, "n")});
  }

  void expect_error(const wire::Reply& r, wire::ErrorKind kind, const std::string& part = "") {
    ASSERT_TRUE(r.has_error()) << "expected an error reply";
    EXPECT_EQ(r.error().kind(), kind) << r.error().message();
    if (!part.empty()) {
      EXPECT_NE(r.error().message().find(part), std::string::npos) << r.error().message();
    }
  }

  void expect_alive() {
    const std::uint32_t fn = sum_i32();
    const wire::Reply r = call(fn, {list({integer(40), integer(2)}), integer(2)});
    ASSERT_TRUE(r.has_call()) << r.error().message();
    EXPECT_EQ(r.call().ret().i(), 42);
  }

  asio::io_context io_;
  test::os::RawStream stream_{io_};
  std::string endpoint_;
  std::unique_ptr<test::os::Child> server_;
  std::uint64_t id_ = 0;
  std::uint64_t library_ = 0;
};

}  // namespace

TEST_P(Hostile, MalformedTypeTreesAreRefusedAtRegistration) {
  wire::TypeNode no_elem;
  no_elem.set_kind(wire::TypeNode::POINTER);
  no_elem.set_dir(wire::DIR_IN);
  expect_error(register_fn("sum_i32", scalar(wire::INT32), {no_elem}), wire::PROTOCOL);

  wire::TypeNode deep = scalar(wire::INT32);
  for (int i = 0; i < 40; ++i) {
    wire::TypeNode s;
    s.set_kind(wire::TypeNode::STRUCT);
    s.set_name("s");
    *s.add_fields() = deep;
    deep = s;
  }
  expect_error(register_fn("point_sum", scalar(wire::INT32), {deep}), wire::BAD_SIGNATURE, "deeper");

  wire::TypeNode empty;
  empty.set_kind(wire::TypeNode::STRUCT);
  expect_error(register_fn("point_sum", scalar(wire::INT32), {empty}), wire::BAD_SIGNATURE);

  wire::TypeNode huge_array;
  huge_array.set_kind(wire::TypeNode::ARRAY);
  huge_array.set_count(0xFFFFFFFFu);
  *huge_array.mutable_elem() = scalar(wire::DOUBLE);
  wire::TypeNode holder;
  holder.set_kind(wire::TypeNode::STRUCT);
  *holder.add_fields() = huge_array;
  expect_error(register_fn("point_sum", scalar(wire::INT32), {holder}), wire::BAD_SIGNATURE);

  // Many arrays, each within its cap, together past the function's budget.
  wire::TypeNode big;
  big.set_kind(wire::TypeNode::ARRAY);
  big.set_count(1u << 20);
  *big.mutable_elem() = scalar(wire::CHAR);
  wire::TypeNode many;
  many.set_kind(wire::TypeNode::STRUCT);
  for (int i = 0; i < 8; ++i) *many.add_fields() = big;
  expect_error(register_fn("point_sum", scalar(wire::INT32), {pointer(wire::DIR_IN, many)}),
               wire::BAD_SIGNATURE, "together");

  wire::TypeNode bad_ref = pointer(wire::DIR_IN, scalar(wire::INT32), "v");
  bad_ref.set_count_ref(1);  // itself: not an integer
  expect_error(register_fn("sum_i32", scalar(wire::INT32), {bad_ref, scalar(wire::INT32)}), wire::PROTOCOL);
  bad_ref.set_count_ref(99);
  expect_error(register_fn("sum_i32", scalar(wire::INT32), {bad_ref, scalar(wire::INT32)}), wire::PROTOCOL);

  expect_error(register_fn("sum_i32", scalar(wire::INT32), {pointer(wire::DIR_NONE, scalar(wire::INT32))}),
               wire::BAD_SIGNATURE);
  expect_error(register_fn("sum_i32", scalar(wire::INT32), {scalar(wire::SCALAR_VOID)}), wire::BAD_SIGNATURE);
  expect_error(register_fn("sum_i32", scalar(static_cast<wire::Scalar>(77)), {}), wire::BAD_SIGNATURE);
  expect_alive();
}

TEST_P(Hostile, ValuesThatDisagreeWithTheirTypesAreBadArguments) {
  const std::uint32_t fn = sum_i32();
  expect_error(call(fn, {list({integer(1)}), integer(3)}), wire::BAD_ARGUMENT, "v");  // fewer than n
  expect_error(call(fn, {list({integer(1)}), integer(-1)}), wire::BAD_ARGUMENT);      // negative count
  expect_error(call(fn, {integer(1), integer(1)}), wire::BAD_ARGUMENT);               // not a list
  expect_error(call(fn, {list({integer(1)})}), wire::BAD_ARGUMENT);                   // argument count
  wire::Value text;
  text.set_text("x");
  expect_error(call(fn, {list({text}), integer(1)}), wire::BAD_ARGUMENT);  // element type

  // An [out] buffer bigger than the per-call cap: refused before allocating.
  const std::uint32_t fill = fill_seq_u16();
  const wire::Value null = null_value();
  expect_error(call(fill, {null, integer(0x7FFFFFFF), integer(0)}), wire::BAD_ARGUMENT, "too large");
  // Each buffer within the cap, together past it: refused before the call.
  wire::TypeNode half = pointer(wire::DIR_OUT, scalar(wire::UINT16), "half");
  half.set_count_ref(1);
  const std::uint32_t two = must_register("divmod", scalar(wire::INT32),
                                          {scalar(wire::INT32, "a"), scalar(wire::INT32, "b"), half, half});
  expect_error(call(two, {integer(16 << 20), integer(1), null, null}), wire::BAD_ARGUMENT,
               "MiB");  // rules::kMaxElements each

  // A struct value with the wrong number of fields.
  wire::TypeNode pt;
  pt.set_kind(wire::TypeNode::STRUCT);
  pt.set_name("p");
  *pt.add_fields() = scalar(wire::INT32, "p.x");
  *pt.add_fields() = scalar(wire::INT32, "p.y");
  const std::uint32_t psum = must_register("point_sum", scalar(wire::INT32), {pt});
  expect_error(call(psum, {list({integer(1)})}), wire::BAD_ARGUMENT);
  const wire::Reply ok = call(psum, {list({integer(1), integer(2)})});
  ASSERT_TRUE(ok.has_call());
  EXPECT_EQ(ok.call().ret().i(), 3);

  // Extra argument types for a function that is not variadic.
  wire::Request req;
  req.mutable_call()->set_function(fn);
  *req.mutable_call()->add_args() = list({integer(1)});
  *req.mutable_call()->add_args() = integer(1);
  *req.mutable_call()->add_args() = integer(1);
  *req.mutable_call()->add_extra_types() = scalar(wire::INT);
  expect_error(send(req), wire::BAD_ARGUMENT, "not variadic");
  expect_alive();
}

TEST_P(Hostile, FunctionPointerTypesAndValuesAreChecked) {
  // A function pointer type without its signature, one with a pointer
  // counted by its value (the DLL passes no value), one that returns text,
  // one returned: refused at registration.
  wire::TypeNode bare;
  bare.set_kind(wire::TypeNode::FUNCTION_POINTER);
  bare.set_name("f");
  expect_error(register_fn("reenter", scalar(wire::INT32), {scalar(wire::INT32, "depth"), bare}),
               wire::PROTOCOL);
  const auto fn_ptr = [](wire::TypeNode ret, std::vector<wire::TypeNode> params) {
    wire::TypeNode t;
    t.set_kind(wire::TypeNode::FUNCTION_POINTER);
    t.set_name("f");
    *t.mutable_callback()->mutable_ret() = std::move(ret);
    for (auto& p : params) *t.mutable_callback()->add_params() = std::move(p);
    return t;
  };
  wire::TypeNode by_value = pointer(wire::DIR_OUT, scalar(wire::INT32), "x");
  by_value.set_count_from_value(true);
  expect_error(register_fn("reenter", scalar(wire::INT32),
                           {scalar(wire::INT32, "depth"), fn_ptr(scalar(wire::INT32), {by_value})}),
               wire::BAD_SIGNATURE, "not by its value");
  expect_error(
      register_fn("reenter", scalar(wire::INT32),
                  {scalar(wire::INT32, "depth"), fn_ptr(scalar(wire::STRING), {scalar(wire::INT32)})}),
      wire::BAD_SIGNATURE, "returns a scalar, a struct or void");
  expect_error(register_fn("reenter", fn_ptr(scalar(wire::INT32), {}), {scalar(wire::INT32, "depth")}),
               wire::BAD_SIGNATURE);

  // A good one: its value is an id or null, nothing else.
  const std::uint32_t fn = must_register(
      "reenter", scalar(wire::INT32),
      {scalar(wire::INT32, "depth"), fn_ptr(scalar(wire::INT32), {scalar(wire::INT32, "depth")})});
  wire::Value text;
  text.set_text("not a callback");
  expect_error(call(fn, {integer(1), text}), wire::BAD_ARGUMENT, "callback");
  const wire::Value null = null_value();
  const wire::Reply none = call(fn, {integer(1), null});
  ASSERT_TRUE(none.has_call()) << none.error().message();
  EXPECT_EQ(none.call().ret().i(), -1) << "the library saw a NULL function pointer";

  // The client's requests are not the surrogate's: an Invoke is refused;
  // releasing ids it never saw is harmless.
  wire::Request invoke;
  invoke.mutable_invoke()->set_callback(7);
  expect_error(send(invoke), wire::PROTOCOL);
  wire::Request release;
  release.mutable_release()->add_callbacks(12345);
  EXPECT_TRUE(send(release).has_release());
  expect_alive();
}

TEST_P(Hostile, TextThatDoesNotFitItsBufferIsRefused) {
  // reverse_str([in, out, string, size_is(cap)] char* buf, int cap)
  wire::TypeNode buf = pointer(wire::DIR_INOUT, scalar(wire::CHAR), "buf");
  buf.set_text(true);
  buf.set_nul_terminated(true);
  buf.set_count_ref(2);
  const std::uint32_t fn =
      must_register("reverse_str", scalar(wire::INT32), {buf, scalar(wire::INT32, "cap")});
  wire::Value text;
  text.set_text("abcdef");
  expect_error(call(fn, {text, integer(6)}), wire::BAD_ARGUMENT, "NUL");
  const wire::Reply r = call(fn, {text, integer(7)});
  ASSERT_TRUE(r.has_call()) << r.error().message();
  EXPECT_EQ(r.call().out(0).text(), "fedcba");
  expect_alive();
}

TEST_P(Hostile, CountsPastThirtyTwoBitsAreRefusedBeforeTheyAreNarrowed) {
  // 2^32 + k fits a 32-bit size_t as k: refused in 64 bits, never an
  // k-element buffer the DLL then overruns.
  const std::uint32_t fn = sum_i32();
  for (std::int64_t k : {0, 1, 8}) {
    const std::int64_t n = (std::int64_t{1} << 32) + k;
    std::vector<wire::Value> items(static_cast<std::size_t>(k), integer(1));
    wire::Value v;
    for (const auto& i : items) *v.mutable_list()->add_items() = i;
    expect_error(call(fn, {v, integer(n)}), wire::BAD_ARGUMENT, "v");
    wire::Value u;
    u.set_u(static_cast<std::uint64_t>(n));
    expect_error(call(fn, {v, u}), wire::BAD_ARGUMENT, "v");
  }
  // An [out] buffer sized by a sibling, and one sized by its own value.
  const std::uint32_t fill = fill_seq_u16();
  const wire::Value null = null_value();
  expect_error(call(fill, {null, integer((std::int64_t{1} << 32) + 8), integer(0)}), wire::BAD_ARGUMENT);
  wire::TypeNode own = pointer(wire::DIR_OUT, scalar(wire::UINT16), "own");
  own.set_count_from_value(true);
  const std::uint32_t fill2 = fill_seq_u16(own);
  wire::Value count;
  count.set_u((std::uint64_t{1} << 32) + 8);
  expect_error(call(fill2, {count, integer(8), integer(0)}), wire::BAD_ARGUMENT, "own");
  // A scalar out of its type's range is refused rather than cut to its low bits.
  const std::uint32_t add =
      must_register("add", scalar(wire::INT32), {scalar(wire::INT32, "a"), scalar(wire::INT32, "b")});
  expect_error(call(add, {integer((std::int64_t{1} << 32) + 2), integer(0)}), wire::BAD_ARGUMENT, "range");
  expect_alive();
}

TEST_P(Hostile, AggregateSizesAreComputedInSixtyFourBits) {
  // 4096 structs of 8 MiB: 2^35 bytes, 0 in 32 bits. Refused, not laid out.
  wire::TypeNode doubles;
  doubles.set_kind(wire::TypeNode::ARRAY);
  doubles.set_count(1u << 20);
  *doubles.mutable_elem() = scalar(wire::DOUBLE);
  wire::TypeNode big;
  big.set_kind(wire::TypeNode::STRUCT);
  *big.add_fields() = doubles;
  wire::TypeNode many;
  many.set_kind(wire::TypeNode::ARRAY);
  many.set_count(4096);
  *many.mutable_elem() = big;
  wire::TypeNode holder;
  holder.set_kind(wire::TypeNode::STRUCT);
  *holder.add_fields() = many;
  expect_error(register_fn("point_sum", scalar(wire::INT32), {pointer(wire::DIR_IN, holder)}),
               wire::BAD_SIGNATURE, "too large");
  // Fields that each fit, together past the struct cap.
  wire::TypeNode wide;
  wide.set_kind(wire::TypeNode::STRUCT);
  for (int i = 0; i < 3; ++i) *wide.add_fields() = big;
  expect_error(register_fn("point_sum", scalar(wire::INT32), {pointer(wire::DIR_IN, wide)}),
               wire::BAD_SIGNATURE, "too large");
  expect_alive();
}

TEST_P(Hostile, AReplyThatCouldNotBeSentIsRefusedBeforeTheCall) {
  // [out, size_is(n)] of 4 Mi two-int structs: within the element and
  // memory caps, but the reply (a list of field values each) could not
  // travel in one frame. Refused before the DLL runs (it would not even
  // understand the type: nothing of it is called).
  wire::TypeNode pt;
  pt.set_kind(wire::TypeNode::STRUCT);
  *pt.add_fields() = scalar(wire::INT32, "x");
  *pt.add_fields() = scalar(wire::INT32, "y");
  wire::TypeNode out = pointer(wire::DIR_OUT, pt, "out");
  out.set_count_ref(2);
  const std::uint32_t fill = fill_seq_u16(out);
  const wire::Value null = null_value();
  expect_error(call(fill, {null, integer(4 << 20), integer(0)}), wire::BAD_ARGUMENT, "frame");
  // 16 Mi uint16_t elements (32 MiB) travel packed: that reply fits.
  const std::uint32_t seq = fill_seq_u16();
  const wire::Reply ok = call(seq, {null, integer(16 << 20), integer(5)});
  ASSERT_TRUE(ok.has_call()) << ok.error().message();
  ASSERT_EQ(ok.call().out(0).packed().size(), std::size_t{32} << 20);
  expect_alive();
}

TEST_P(Hostile, AnEmptyLibraryPathIsNotThisProgram) {
  wire::Request load;
  load.mutable_load_library()->set_path("");
  expect_error(send(load), wire::BAD_ARGUMENT, "empty");
  expect_alive();
}

INSTANTIATE_TEST_SUITE_P(Surrogates, Hostile, ::testing::ValuesIn(kSurrogateTargets),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_P(Hostile, AnOversizedFrameEndsTheSessionWithAProtocolErrorAndTheServerGoesOn) {
  const wire::Header h = wire::encode_header(wire::kMaxFrameSize + 1);
  asio::write(stream_, asio::buffer(h));
  wire::Reply reply;
  ASSERT_TRUE(read_reply(stream_, reply)) << "an error frame first";
  EXPECT_EQ(reply.id(), 0u) << "not an answer to any request";
  EXPECT_EQ(reply.error().kind(), wire::PROTOCOL);
  EXPECT_NE(reply.error().message().find("exceeds"), std::string::npos) << reply.error().message();
  EXPECT_FALSE(read_reply(stream_, reply)) << "then the end of the session";
  // Nothing allocated for the claimed size, nothing broken: a new session works.
  stream_.close();
  stream_ = test::os::connect_raw(io_, endpoint_);
  wire::Request hello;
  hello.mutable_hello()->set_protocol_version(wire::kProtocolVersion);
  EXPECT_TRUE(send(hello).has_hello());
}

TEST_P(Hostile, APayloadThatIsNotARequestEndsTheSession) {
  const std::string garbage = "\xff\xff\xff\xff\xff\xff\xff\xff";
  const wire::Header h = wire::encode_header(static_cast<std::uint32_t>(garbage.size()));
  asio::write(stream_, asio::buffer(h));
  asio::write(stream_, asio::buffer(garbage));
  wire::Reply reply;
  ASSERT_TRUE(read_reply(stream_, reply));
  EXPECT_EQ(reply.error().kind(), wire::PROTOCOL);
  EXPECT_FALSE(read_reply(stream_, reply));
}

TEST_P(Hostile, UnknownIdsAreProtocolErrorsAndTheSessionGoesOn) {
  wire::Request req;
  req.mutable_call()->set_function(9999);
  EXPECT_EQ(send(req).error().kind(), wire::PROTOCOL);
  wire::TypeNode v = scalar(wire::INT32);
  wire::Request reg;
  reg.mutable_register_function()->set_library(777);
  reg.mutable_register_function()->set_name("add");
  *reg.mutable_register_function()->mutable_ret() = v;
  EXPECT_EQ(send(reg).error().kind(), wire::PROTOCOL);
  const std::uint32_t add =
      must_register("add", scalar(wire::INT32), {scalar(wire::INT32, "a"), scalar(wire::INT32, "b")});
  const wire::Reply r = call(add, {integer(40), integer(2)});
  ASSERT_TRUE(r.has_call()) << r.error().message();
  EXPECT_EQ(r.call().ret().i(), 42);
}
