// The typed API's declaration trees: what each C++ type declares, that it
// registers what the same C declaration registers, and value conversions.
#include <gtest/gtest.h>

#include <typeinfo>

#include "error_of.hpp"
#include "dllbridge/typed.hpp"
#include "channel/codec.hpp"
#include "signature/signature.hpp"

using namespace dllbridge;

namespace {

struct Pt {
  std::int32_t x, y;
};
struct Shape {
  char name[8];
  Pt corners[2];
  std::uint16_t n;
  Pt* extra;
};

}  // namespace

DLLBRIDGE_DESCRIBE(Pt, "pt", DLLBRIDGE_FIELD(Pt, x), DLLBRIDGE_FIELD(Pt, y));
DLLBRIDGE_DESCRIBE(Shape, "shape", DLLBRIDGE_FIELD(Shape, name), DLLBRIDGE_FIELD(Shape, corners),
                   DLLBRIDGE_FIELD(Shape, n), DLLBRIDGE_SIZED_FIELD(Shape, extra, n));

namespace {

template <class Sig>
detail::Signature lowered(CallConv conv = CallConv::Cdecl, bool variadic = false) {
  return detail::make_signature(detail::typed_declaration<Sig>("f", conv, variadic),
                                detail::TargetAbi{4, false});
}

template <class Sig>
wire::RegisterFunction registered(CallConv conv = CallConv::Cdecl, bool variadic = false) {
  wire::RegisterFunction reg;
  detail::encode_register(lowered<Sig>(conv, variadic), reg);
  return reg;
}

// The registration the same declaration sends when written as text.
wire::RegisterFunction registered_text(const std::string& text) {
  wire::RegisterFunction reg;
  detail::encode_register(detail::make_signature(sig::lower(sig::parse(text)), detail::TargetAbi{4, false}),
                          reg);
  return reg;
}

using test::error_of;

}  // namespace

TEST(Typed, ScalarsAndTextBuildTheirCTypes) {
  const FunctionDecl d =
      detail::typed_declaration<std::int64_t(std::uint8_t, double, bool, std::string, std::wstring)>(
          "f", CallConv::Stdcall);
  EXPECT_EQ(d.name, "f");
  EXPECT_EQ(d.conv, CallConv::Stdcall);
  EXPECT_EQ(d.ret.scalar, Scalar::Int64);
  ASSERT_EQ(d.params.size(), 5u);
  EXPECT_EQ(d.params[0].name, "arg0");
  EXPECT_EQ(d.params[0].type.scalar, Scalar::UInt8);
  EXPECT_EQ(d.params[1].type.scalar, Scalar::Double);
  EXPECT_EQ(d.params[2].type.scalar, Scalar::Bool);
  EXPECT_EQ(d.params[3].type.kind, TypeDecl::Kind::pointer);
  EXPECT_EQ(d.params[3].type.dir, Dir::in);
  EXPECT_TRUE(d.params[3].type.text && d.params[3].type.nul_terminated);
  EXPECT_EQ(d.params[4].type.elem->scalar, Scalar::WChar);
  const FunctionDecl g = detail::typed_declaration<SizeT(Long, ULong, WinBool, Handle)>("g", CallConv::Cdecl);
  EXPECT_EQ(g.ret.scalar, Scalar::SizeT);
  EXPECT_EQ(g.params[0].type.scalar, Scalar::Long);
  EXPECT_EQ(g.params[1].type.scalar, Scalar::ULong);
  EXPECT_EQ(g.params[2].type.scalar, Scalar::BOOL);
  EXPECT_EQ(g.params[3].type.scalar, Scalar::Handle);
  const FunctionDecl h = detail::typed_declaration<std::string()>("h", CallConv::Cdecl, true);
  EXPECT_TRUE(h.ret.text);
  EXPECT_TRUE(h.variadic);
  EXPECT_EQ(registered<std::string()>().ret().scalar(), wire::STRING);
}

TEST(Typed, TheTreeIsTheOneTheEquivalentTextDeclares) {
  // What the typed API registers is byte for byte what the C declaration registers.
  EXPECT_EQ(
      (registered<std::int64_t(std::uint8_t, double, bool, std::string, std::wstring)>(CallConv::Stdcall)
           .SerializeAsString()),
      registered_text("int64_t __stdcall f(uint8_t arg0, double arg1, bool arg2, const char* arg3, "
                      "const wchar_t* arg4)")
          .SerializeAsString());
  EXPECT_EQ(
      (registered<void(In<std::int32_t>, Out<char, 2>, std::int32_t, InOut<Pt>)>().SerializeAsString()),
      registered_text("struct pt { int32_t x; int32_t y; }; void f([in, size_is(*)] int32_t* arg0, "
                      "[out, size_is(arg2)] char* arg1, int32_t arg2, [in, out, size_is(*)] struct pt* arg3)")
          .SerializeAsString());
  EXPECT_EQ((registered<Pt(Shape, In<Pt>)>().SerializeAsString()),
            registered_text(
                "struct pt { int32_t x; int32_t y; }; struct shape { char name[8]; struct pt corners[2]; "
                "uint16_t n; [size_is(n)] struct pt* extra; }; "
                "struct pt f(struct shape arg0, [in, size_is(*)] struct pt* arg1)")
                .SerializeAsString());
}

TEST(Typed, SpansSpellDirectionsAndCounts) {
  const auto s = registered<void(In<std::int32_t>, Out<char, 2>, std::int32_t, InOut<Pt>)>();
  ASSERT_EQ(s.params_size(), 4);
  EXPECT_EQ(s.params(0).dir(), wire::DIR_IN);
  EXPECT_TRUE(s.params(0).count_from_value());
  EXPECT_EQ(s.params(1).dir(), wire::DIR_OUT);
  EXPECT_TRUE(s.params(1).text());
  EXPECT_EQ(s.params(1).count_ref(), 3u);  // arg2
  EXPECT_EQ(s.params(3).dir(), wire::DIR_INOUT);
  EXPECT_EQ(s.params(3).elem().kind(), wire::TypeNode::STRUCT);
  // An Out with a Count parameter takes no argument; the others do.
  EXPECT_EQ((lowered<void(In<std::int32_t>, Out<char, 2>, std::int32_t, InOut<Pt>)>().inputs),
            (std::vector<std::size_t>{0, 2, 3}));
}

TEST(Typed, DescribedStructsAreTrees) {
  const auto s = registered<Pt(Shape, In<Pt>)>();
  EXPECT_EQ(s.ret().kind(), wire::TypeNode::STRUCT);
  const wire::TypeNode& shape = s.params(0);
  ASSERT_EQ(shape.fields_size(), 4);
  EXPECT_EQ(shape.fields(0).kind(), wire::TypeNode::ARRAY);
  EXPECT_TRUE(shape.fields(0).text());
  EXPECT_EQ(shape.fields(1).count(), 2u);
  EXPECT_EQ(shape.fields(3).kind(), wire::TypeNode::POINTER);
  EXPECT_EQ(shape.fields(3).count_ref(), 3u);  // the n field
}

TEST(Typed, BadTypedDeclarationsFailLikeParsedOnes) {
  // An [out] text buffer must have a size: Out<char> without a count takes
  // its count from the value, so it passes; a sized field naming a missing
  // field does not.
  EXPECT_NO_THROW(lowered<void(Out<char>)>());
  FunctionDecl d = detail::typed_declaration<void(Shape)>("f", CallConv::Cdecl);
  d.params[0].type.fields[3].type.size_is = "missing";
  const Error e = error_of([&] { detail::make_signature(d, detail::TargetAbi{4, false}); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_signature);
  EXPECT_NE(std::string(e.what()).find("'arg0.extra'"), std::string::npos) << e.what();
}

TEST(Typed, WrongTypedResultsAreErrorsNotOtherExceptions) {
  // A result of another kind than the C++ type: Error(protocol), never
  // std::bad_variant_access.
  double d = 0;
  EXPECT_EQ(error_of([&] { detail::assign(d, Value{std::string("x")}); }).kind(), ErrorKind::protocol);
  detail::assign(d, Value{std::int64_t{3}});  // an integer is a number
  EXPECT_EQ(d, 3.0);
  Pt p{};
  EXPECT_EQ(error_of([&] { detail::assign(p, Value{std::int64_t{3}}); }).kind(), ErrorKind::protocol);
  EXPECT_EQ(error_of([&] { (void)detail::from_value<Pt>(Value{List{}}); }).kind(), ErrorKind::protocol);
  std::int32_t i = 5;
  EXPECT_EQ(error_of([&] { detail::assign(i, Value{std::string("7")}); }).kind(), ErrorKind::protocol);
  std::string text = "old";
  EXPECT_EQ(error_of([&] { detail::assign(text, Value{std::int64_t{1}}); }).kind(), ErrorKind::protocol);
  detail::assign(text, Value{Null{}});  // a null char* return
  EXPECT_EQ(text, "");
  char buf[4] = "abc";
  EXPECT_EQ(error_of([&] { detail::assign(buf, Value{List{}}); }).kind(), ErrorKind::protocol);
}

TEST(Typed, ValuesConvertBothWays) {
  Pt extra[2] = {{5, 6}, {7, 8}};
  Shape sh{"box", {{1, 2}, {3, 4}}, 2, extra};
  const Value v = detail::to_value(sh);
  const Object& obj = std::get<Object>(v);
  EXPECT_EQ(std::get<std::string>(obj.at("name")), "box");
  EXPECT_EQ(std::get<List>(obj.at("extra")).size(), 2u);
  EXPECT_EQ(std::get<std::int64_t>(std::get<Object>(std::get<List>(obj.at("corners"))[1]).at("y")), 4);

  Object back = obj;
  back["n"] = Value{std::uint64_t{2}};
  back["name"] = Value{std::string("a much longer name")};  // truncated to the array, NUL-terminated
  back["extra"] = Value{List{Value{Object{{"x", Value{std::int64_t{-1}}}, {"y", Value{std::int64_t{-2}}}}}}};
  Shape out = sh;
  detail::assign(out, Value{back});
  EXPECT_STREQ(out.name, "a much ");
  EXPECT_EQ(out.extra, extra) << "a sized field keeps its pointer";
  EXPECT_EQ(extra[0].x, -1);
  EXPECT_EQ(extra[1].x, 7) << "elements not sent back stay";

  EXPECT_EQ(std::get<std::string>(detail::to_value(std::u16string(u"h\u00e9"))), "h\xc3\xa9");
  EXPECT_EQ(detail::to_wstring("\xe2\x82\xac"), L"\u20ac");
}

TEST(Typed, BuffersOfNumbersAreViewsNotAValueEach) {
  std::vector<std::int32_t> v{1, 2, 3};
  const Value in = detail::to_value(dllbridge::in(v));
  const auto* b = std::get_if<Buffer>(&in);
  ASSERT_NE(b, nullptr) << "a List of " << v.size() << " Values";
  EXPECT_EQ(b->in, v.data());
  EXPECT_EQ(b->out, nullptr);
  EXPECT_EQ(b->count, 3u);
  EXPECT_EQ(b->size, 4u);
  EXPECT_EQ(b->number, Buffer::Number::signed_int);
  const Value io = detail::to_value(dllbridge::inout(v));
  EXPECT_EQ(std::get<Buffer>(io).out, v.data());
  double d[2] = {1.5, 2.5};
  EXPECT_EQ(std::get<Buffer>(detail::to_value(d)).number, Buffer::Number::floating);
  // Text units stay text.
  std::vector<char> text{'h', 'i', '\0'};
  EXPECT_TRUE(std::holds_alternative<std::string>(detail::to_value(dllbridge::in(text))));
}

TEST(Typed, BuffersArePackedInTheTargetsLayoutWithOneCopyOrCheckedConversion) {
  // int32_t to a 4-byte int: copied as is.
  const detail::Signature s = lowered<void(In<std::int32_t>)>();
  std::vector<std::int32_t> v{1, -2};
  wire::Call call;
  detail::encode_call(s, {detail::to_value(dllbridge::in(v))}, call);
  EXPECT_EQ(call.args(0).packed(), std::string("\x01\0\0\0\xfe\xff\xff\xff", 8));
  // SizeT (8 bytes here) to a 4-byte size_t: converted element by element,
  // each checked; the element that does not fit is named.
  const detail::Signature sz = lowered<void(In<SizeT>)>();
  std::vector<SizeT> ok{SizeT{7}, SizeT{9}};
  detail::encode_call(sz, {detail::to_value(dllbridge::in(ok))}, call);
  EXPECT_EQ(call.args(0).packed(), std::string("\x07\0\0\0\x09\0\0\0", 8));
  std::vector<SizeT> big{SizeT{1}, SizeT{std::uint64_t{1} << 32}};
  const Error e = error_of([&] { detail::encode_call(sz, {detail::to_value(dllbridge::in(big))}, call); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
  EXPECT_NE(std::string(e.what()).find("arg0[1]"), std::string::npos) << e.what();
}

TEST(Typed, AnOutBufferSmallerThanItsCountIsRefusedBeforeSending) {
  const detail::Signature s = lowered<void(Out<std::uint16_t, 1>, std::int32_t)>();
  std::vector<std::uint16_t> two(2);
  const std::vector<Buffer> outs{detail::out_buffer(Out<std::uint16_t, 1>(dllbridge::out(two))), Buffer{}};
  wire::Call call;
  const Error e = error_of([&] { detail::encode_call(s, {Value{std::int64_t{4}}}, call, &outs); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
  EXPECT_NE(std::string(e.what()).find("holds 2"), std::string::npos) << e.what();
  const detail::ReplyPlan plan = detail::encode_call(s, {Value{std::int64_t{2}}}, call, &outs);
  ASSERT_EQ(plan.sinks.size(), 2u);
  EXPECT_EQ(plan.sinks[0], &outs[0]);
  // The reply's numbers go straight into the caller's memory.
  wire::CallReply reply;
  reply.mutable_ret()->set_null(true);
  reply.add_out()->set_packed(std::string("\x05\0\x08\0", 4));
  reply.add_out()->set_null(true);
  const CallResult r = detail::decode_reply(s, reply, &call, &plan.sinks);
  EXPECT_EQ(two[0], 5);
  EXPECT_EQ(two[1], 8);
  EXPECT_TRUE(std::holds_alternative<Buffer>(r.out.at("arg0")));
}
