// Argument checks and encoding in the client, before anything is sent.
#include <gtest/gtest.h>

#include "dllbridge/error.hpp"
#include "marshal.hpp"
#include "signature.hpp"

using namespace dllbridge;
using namespace dllbridge::detail;

namespace {

WireSignature lower_text(const std::string& text, unsigned ptr = 4, bool windows = false) {
  return lower(sig::parse(text), TargetAbi{ptr, windows});
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error thrown";
  return ErrorKind::protocol;
}

}  // namespace

TEST(Marshal, LowersScalarsWithTheTargetsSizes) {
  auto s = lower_text("long f(long a, size_t b, wchar_t c, HANDLE h, void* p)", 4);
  EXPECT_EQ(s.ret.kind, wire::LONG);
  EXPECT_EQ(s.ret.size, 4u);
  EXPECT_EQ(s.params[1].size, 4u);
  EXPECT_EQ(s.params[2].size, 4u);
  EXPECT_EQ(s.params[3].kind, wire::HANDLE);
  EXPECT_EQ(s.params[4].kind, wire::HANDLE);
  auto s64 = lower_text("long f(long a, size_t b)", 8);
  EXPECT_EQ(s64.params[0].size, 8u);
  EXPECT_EQ(s64.params[1].size, 8u);
  auto w64 = lower_text("long f(wchar_t c)", 8, true);
  EXPECT_EQ(w64.ret.size, 4u);             // LLP64
  EXPECT_EQ(w64.params[0].size, 2u);
  EXPECT_FALSE(w64.params[0].is_signed);
}

TEST(Marshal, TextParametersAndReturns) {
  auto s = lower_text("char* f(const char* a, const wchar_t* w)");
  EXPECT_EQ(s.ret.kind, wire::STRING);
  EXPECT_EQ(s.params[0].kind, wire::STRING);
  EXPECT_EQ(s.params[1].kind, wire::WSTRING);
}

TEST(Marshal, UnsupportedConstructsAreBadSignatures) {
  EXPECT_EQ(kind_of([] { lower_text("void f([out] int* x)"); }), ErrorKind::bad_signature);
  EXPECT_EQ(kind_of([] { lower_text("struct P { int x; }; void f(struct P p)"); }), ErrorKind::bad_signature);
}

TEST(Marshal, IntegerRangesFollowTheParameterType) {
  auto s = lower_text("void f(int8_t a, uint8_t b, int32_t c, uint32_t d, int64_t e, uint64_t g)");
  EXPECT_EQ(encode_argument(s.params[0], Value{std::int64_t{-128}}).i(), -128);
  EXPECT_EQ(kind_of([&] { encode_argument(s.params[0], Value{std::int64_t{128}}); }), ErrorKind::bad_argument);
  EXPECT_EQ(encode_argument(s.params[1], Value{std::int64_t{255}}).u(), 255u);
  EXPECT_EQ(kind_of([&] { encode_argument(s.params[1], Value{std::int64_t{-1}}); }), ErrorKind::bad_argument);
  EXPECT_EQ(kind_of([&] { encode_argument(s.params[2], Value{std::int64_t{1} << 31}); }), ErrorKind::bad_argument);
  EXPECT_EQ(encode_argument(s.params[3], Value{std::uint64_t{0xFFFFFFFFu}}).u(), 0xFFFFFFFFu);
  EXPECT_EQ(kind_of([&] { encode_argument(s.params[4], Value{std::uint64_t{1} << 63}); }), ErrorKind::bad_argument);
  EXPECT_EQ(encode_argument(s.params[5], Value{std::uint64_t{1} << 63}).u(), std::uint64_t{1} << 63);
  EXPECT_EQ(kind_of([&] { encode_argument(s.params[2], Value{std::string("x")}); }), ErrorKind::bad_argument);
  EXPECT_EQ(kind_of([&] { encode_argument(s.params[2], Value{1.5}); }), ErrorKind::bad_argument);
  EXPECT_EQ(encode_argument(s.params[2], Value{2.0}).i(), 2);
}

TEST(Marshal, BadArgumentNamesTheParameter) {
  auto s = lower_text("void f(uint8_t count)");
  try {
    encode_argument(s.params[0], Value{std::int64_t{300}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
    EXPECT_NE(std::string(e.what()).find("'count'"), std::string::npos) << e.what();
  }
}

TEST(Marshal, FloatsBoolsTextAndNull) {
  auto s = lower_text("void f(float a, double b, bool c, const char* d, void* e)");
  EXPECT_EQ(encode_argument(s.params[0], Value{std::int64_t{3}}).f(), 3.0);
  EXPECT_EQ(kind_of([&] { encode_argument(s.params[0], Value{1e300}); }), ErrorKind::bad_argument);
  EXPECT_EQ(encode_argument(s.params[1], Value{1e300}).f(), 1e300);
  EXPECT_EQ(encode_argument(s.params[2], Value{true}).i(), 1);
  EXPECT_EQ(kind_of([&] { encode_argument(s.params[2], Value{std::string("yes")}); }), ErrorKind::bad_argument);
  EXPECT_EQ(encode_argument(s.params[3], Value{std::string("hi")}).text(), "hi");
  EXPECT_TRUE(encode_argument(s.params[3], Value{Null{}}).null());
  EXPECT_EQ(kind_of([&] { encode_argument(s.params[3], Value{std::string("a\0b", 3)}); }),
            ErrorKind::bad_argument);
  EXPECT_EQ(encode_argument(s.params[4], Value{Null{}}).u(), 0u);
}

TEST(Marshal, ResultsDecodeByKind) {
  auto s = lower_text("bool f(void)");
  wire::Value v;
  v.set_i(1);
  EXPECT_EQ(std::get<bool>(decode_result(s.ret, v)), true);
  auto t = lower_text("int f(void)");
  v.set_i(-7);
  EXPECT_EQ(std::get<std::int64_t>(decode_result(t.ret, v)), -7);
}
