// The typed API's compile-time spellings: what each C++ type declares, and
// that the declaration lowers to the intended wire types.
#include <gtest/gtest.h>

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
detail::WireSignature lowered(CallConv conv = CallConv::Cdecl, bool variadic = false) {
  return detail::lower(sig::parse(detail::typed_declaration<Sig>("f", conv, variadic)), detail::TargetAbi{4, false});
}

}  // namespace

TEST(Typed, ScalarsAndTextSpellTheirCTypes) {
  EXPECT_EQ((detail::typed_declaration<std::int64_t(std::uint8_t, double, bool, std::string, std::wstring)>(
                "f", CallConv::Stdcall)),
            "int64_t __stdcall f(uint8_t arg0, double arg1, bool arg2, const char* arg3, const wchar_t* arg4)");
  EXPECT_EQ((detail::typed_declaration<SizeT(Long, ULong, WinBool, Handle)>("g", CallConv::Cdecl)),
            "size_t __cdecl g(long arg0, unsigned long arg1, BOOL arg2, HANDLE arg3)");
  EXPECT_EQ((detail::typed_declaration<std::string()>("h", CallConv::Cdecl)), "char* __cdecl h()");
}

TEST(Typed, SpansSpellDirectionsAndCounts) {
  const auto s = lowered<void(In<std::int32_t>, Out<char, 2>, std::int32_t, InOut<Pt>)>();
  ASSERT_EQ(s.params.size(), 4u);
  EXPECT_EQ(s.params[0].dir(), wire::DIR_IN);
  EXPECT_TRUE(s.params[0].count_from_value());
  EXPECT_EQ(s.params[1].dir(), wire::DIR_OUT);
  EXPECT_TRUE(s.params[1].text());
  EXPECT_EQ(s.params[1].count_ref(), 3u);  // arg2
  EXPECT_EQ(s.params[3].dir(), wire::DIR_INOUT);
  EXPECT_EQ(s.params[3].elem().kind(), wire::TypeNode::STRUCT);
  // An Out with a Count parameter takes no argument; the others do.
  EXPECT_EQ(s.inputs, (std::vector<std::size_t>{0, 2, 3}));
}

TEST(Typed, DescribedStructsCarryTheirDefinitionsOnce) {
  const std::string text = detail::typed_declaration<Pt(Shape, In<Pt>)>("f", CallConv::Cdecl);
  EXPECT_EQ(text.find("struct pt {"), text.rfind("struct pt {")) << text;
  EXPECT_LT(text.find("struct pt {"), text.find("struct shape {")) << "inner structs come first: " << text;
  const auto s = lowered<Pt(Shape, In<Pt>)>();
  EXPECT_EQ(s.ret.kind(), wire::TypeNode::STRUCT);
  const wire::TypeNode& shape = s.params[0];
  ASSERT_EQ(shape.fields_size(), 4);
  EXPECT_EQ(shape.fields(0).kind(), wire::TypeNode::ARRAY);
  EXPECT_TRUE(shape.fields(0).text());
  EXPECT_EQ(shape.fields(1).count(), 2u);
  EXPECT_EQ(shape.fields(3).kind(), wire::TypeNode::POINTER);
  EXPECT_EQ(shape.fields(3).count_ref(), 3u);  // the n field
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
