// Lowering to declaration trees and wire types, and argument checks in the
// client, before anything is sent.
#include <gtest/gtest.h>

#include "dllbridge/error.hpp"
#include "channel/codec.hpp"
#include "signature/signature.hpp"

using namespace dllbridge;
using namespace dllbridge::detail;

namespace {

Signature lower_text(const std::string& text, unsigned ptr = 4, bool windows = false) {
  return make_signature(sig::lower(sig::parse(text)), TargetAbi{ptr, windows});
}

// The registration the signature sends.
wire::RegisterFunction registered(const std::string& text) {
  wire::RegisterFunction reg;
  encode_register(lower_text(text), reg);
  return reg;
}

wire::Call encode(const std::string& text, const std::vector<Value>& args, unsigned ptr = 4,
                  bool windows = false) {
  wire::Call call;
  encode_call(lower_text(text, ptr, windows), args, call);
  return call;
}

// The error `f` throws (a failure when it throws none).
Error error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error thrown";
  return Error(ErrorKind::protocol, "none");
}

// Expects bad_argument whose message names `name` in quotes.
void expect_bad(const std::function<void()>& f, const std::string& name) {
  const Error e = error_of(f);
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument) << e.what();
  EXPECT_NE(std::string(e.what()).find("'" + name + "'"), std::string::npos) << e.what();
}

void expect_bad_signature(const std::string& text, const std::string& name) {
  const Error e = error_of([&] { lower_text(text); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_signature) << text;
  EXPECT_NE(std::string(e.what()).find("'" + name + "'"), std::string::npos) << e.what();
}

}  // namespace

TEST(Marshal, ScalarRangesFollowTheTargetsSizes) {
  // long and size_t are 4 bytes on a 32-bit target, 8 on LP64; long is 4 on Win64.
  const Value big{std::int64_t{1} << 40};
  expect_bad([&] { encode("long f(long a)", {big}, 4); }, "a");
  EXPECT_EQ(encode("long f(long a)", {big}, 8).args(0).i(), std::int64_t{1} << 40);
  expect_bad([&] { encode("long f(long a)", {big}, 8, true); }, "a");
  expect_bad([&] { encode("void f(size_t n)", {big}, 4); }, "n");
  EXPECT_EQ(encode("void f(size_t n)", {big}, 8).args(0).u(), std::uint64_t{1} << 40);
  // wchar_t: UTF-16 unit (unsigned 16-bit) on Windows, signed 32-bit on Linux.
  expect_bad([&] { encode("void f(wchar_t c)", {Value{std::int64_t{0x10000}}}, 8, true); }, "c");
  EXPECT_EQ(encode("void f(wchar_t c)", {Value{std::int64_t{0x10000}}}, 8).args(0).i(), 0x10000);
  // HANDLE and void* are numbers of the pointer's width; null is 0.
  expect_bad([&] { encode("void f(HANDLE h)", {big}, 4); }, "h");
  EXPECT_EQ(encode("void f(void* p)", {Value{Null{}}}).args(0).u(), 0u);
}

TEST(Marshal, IntegerRangesFollowTheParameterType) {
  const std::string sig = "void f(int8_t a)";
  EXPECT_EQ(encode(sig, {Value{std::int64_t{-128}}}).args(0).i(), -128);
  expect_bad([&] { encode(sig, {Value{std::int64_t{128}}}); }, "a");
  expect_bad([&] { encode("void f(uint8_t b)", {Value{std::int64_t{-1}}}); }, "b");
  EXPECT_EQ(encode("void f(uint32_t d)", {Value{std::uint64_t{0xFFFFFFFFu}}}).args(0).u(), 0xFFFFFFFFu);
  expect_bad([&] { encode("void f(int64_t e)", {Value{std::uint64_t{1} << 63}}); }, "e");
  EXPECT_EQ(encode("void f(uint64_t g)", {Value{std::uint64_t{1} << 63}}).args(0).u(),
            std::uint64_t{1} << 63);
  expect_bad([&] { encode("void f(int c)", {Value{std::string("x")}}); }, "c");
  expect_bad([&] { encode("void f(int c)", {Value{1.5}}); }, "c");
  EXPECT_EQ(encode("void f(int c)", {Value{2.0}}).args(0).i(), 2);
}

TEST(Marshal, FloatsBoolsTextAndNull) {
  EXPECT_EQ(encode("void f(float a)", {Value{std::int64_t{3}}}).args(0).f(), 3.0);
  expect_bad([&] { encode("void f(float a)", {Value{1e300}}); }, "a");
  EXPECT_EQ(encode("void f(double b)", {Value{1e300}}).args(0).f(), 1e300);
  EXPECT_EQ(encode("void f(bool c)", {Value{true}}).args(0).i(), 1);
  expect_bad([&] { encode("void f(bool c)", {Value{std::string("yes")}}); }, "c");
  EXPECT_EQ(encode("void f(const char* d)", {Value{std::string("hi")}}).args(0).text(), "hi");
  EXPECT_TRUE(encode("void f(const char* d)", {Value{Null{}}}).args(0).null());
  expect_bad([&] { encode("void f(const char* d)", {Value{std::string("a\0b", 3)}}); }, "d");
}

TEST(Marshal, ArgumentCountCountsOnlyInputs) {
  const std::string sig = "int f([out] int* result, int a)";
  EXPECT_EQ(lower_text(sig).inputs, std::vector<std::size_t>{1});
  const wire::Call call = encode(sig, {Value{std::int64_t{5}}});
  ASSERT_EQ(call.args_size(), 2);  // every parameter travels, the [out] one as null
  EXPECT_TRUE(call.args(0).null());
  EXPECT_EQ(call.args(1).i(), 5);
  const Error e = error_of([&] { encode(sig, {Value{std::int64_t{5}}, Value{std::int64_t{6}}}); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
  EXPECT_NE(std::string(e.what()).find("takes 1"), std::string::npos) << e.what();
  EXPECT_EQ(error_of([&] { encode("int add(int a, int b)", {Value{std::int64_t{1}}}); }).kind(),
            ErrorKind::bad_argument);
}

TEST(Marshal, PointersLowerToTypeTrees) {
  const std::string decl =
      "int f(const char* s, [out, size_is(n)] char* buf, int n, [in, out] double* d, [out] void** h, "
      "[in, size(3)] int* three, const wchar_t* w)";
  const Signature sg = lower_text(decl);
  const wire::RegisterFunction s = registered(decl);
  const wire::TypeNode& text = s.params(0);
  EXPECT_EQ(text.kind(), wire::TypeNode::POINTER);
  EXPECT_EQ(text.dir(), wire::DIR_IN);
  EXPECT_TRUE(text.text());
  EXPECT_TRUE(text.nul_terminated());
  const wire::TypeNode& buf = s.params(1);
  EXPECT_EQ(buf.dir(), wire::DIR_OUT);
  EXPECT_TRUE(buf.text());
  EXPECT_EQ(buf.count_ref(), 3u);  // 1 + the index of n
  EXPECT_EQ(sg.fn.params[1].type.size_is, "n");
  EXPECT_EQ(s.params(3).dir(), wire::DIR_INOUT);
  EXPECT_EQ(s.params(3).elem().scalar(), wire::DOUBLE);
  EXPECT_EQ(s.params(4).elem().scalar(), wire::HANDLE);
  EXPECT_EQ(s.params(5).count(), 3u);
  EXPECT_EQ(s.params(6).elem().scalar(), wire::WCHAR);
  EXPECT_EQ(sg.inputs, (std::vector<std::size_t>{0, 2, 3, 5, 6}));
  EXPECT_EQ(registered("char* f(void)").ret().scalar(), wire::STRING);
  EXPECT_EQ(registered("wchar_t* f(void)").ret().scalar(), wire::WSTRING);
  EXPECT_EQ(registered("int* f(void)").ret().scalar(), wire::HANDLE);
  EXPECT_EQ(registered("int __stdcall f(void)").conv(), wire::CONV_STDCALL);
  EXPECT_TRUE(registered("int f(int a, ...)").variadic());
}

TEST(Marshal, ConstructsThatCannotBeMarshaledAreBadSignatures) {
  expect_bad_signature("void f(int* x)", "x");                         // no direction
  expect_bad_signature("void f([out, string] char* s)", "s");          // [out] text without a size
  expect_bad_signature("void f([in] char** pp)", "pp");                // pointer to pointer to data
  expect_bad_signature("void f([out] void* p)", "p");                  // direction without an element type
  expect_bad_signature("void f([in, string] int* p)", "p");            // [string] on non-text
  expect_bad_signature("void f([in, string] unsigned char* b)", "b");  // bytes are numbers, not text
  expect_bad_signature("struct N { int v; [size_is(v)] struct N* next; }; void f([in] struct N* n)",
                       "N");  // the parser refuses it
}

TEST(Marshal, OnlyPlainCharAndWcharBuffersAreText) {
  const wire::RegisterFunction s = registered(
      "void f([in, size(2)] char* c, [in, size(2)] unsigned char* u, [in, size(2)] BYTE* b, [in, size(2)] "
      "wchar_t* w)");
  EXPECT_TRUE(s.params(0).text());
  EXPECT_FALSE(s.params(1).text());
  EXPECT_FALSE(s.params(2).text());
  EXPECT_TRUE(s.params(3).text());
  const wire::Call call =
      encode("void f([in, size(3)] unsigned char* u)",
             {Value{List{Value{std::int64_t{0}}, Value{std::int64_t{255}}, Value{std::int64_t{7}}}}});
  // Numbers that are not text travel packed, one byte each here.
  EXPECT_EQ(call.args(0).packed(), std::string("\x00\xff\x07", 3));
  expect_bad(
      [&] { encode("void f([in, size(1)] unsigned char* u)", {Value{List{Value{std::int64_t{256}}}}}); },
      "u[0]");
}

TEST(Marshal, BufferSizesAreCheckedAgainstTheirCount) {
  const std::string sig = "int sum([in, size_is(n)] const int* a, int n)";
  const wire::Call ok =
      encode(sig, {Value{List{Value{std::int64_t{1}}, Value{std::int64_t{2}}}}, Value{std::int64_t{2}}});
  ASSERT_EQ(ok.args(0).packed().size(), 8u);  // two 4-byte ints, little-endian
  EXPECT_EQ(ok.args(0).packed(), std::string("\x01\0\0\0\x02\0\0\0", 8));
  expect_bad([&] { encode(sig, {Value{List{Value{std::int64_t{1}}}}, Value{std::int64_t{2}}}); }, "a");
  expect_bad([&] { encode(sig, {Value{List{Value{std::string("x")}}}, Value{std::int64_t{1}}}); }, "a[0]");
  expect_bad([&] { encode(sig, {Value{std::int64_t{7}}, Value{std::int64_t{1}}}); }, "a");
  expect_bad([&] { encode(sig, {Value{List{}}, Value{std::int64_t{-1}}}); }, "a");
  // A null pointer is fine where the pointer is optional.
  EXPECT_TRUE(encode(sig, {Value{Null{}}, Value{std::int64_t{0}}}).args(0).null());
  // Text against its buffer: [string] needs room for the NUL.
  const std::string text = "void f([in, out, string, size_is(n)] char* buf, int n)";
  EXPECT_EQ(encode(text, {Value{std::string("abcd")}, Value{std::int64_t{5}}}).args(0).text(), "abcd");
  expect_bad([&] { encode(text, {Value{std::string("abcde")}, Value{std::int64_t{5}}}); }, "buf");
  // wchar_t units: U+1F600 is two UTF-16 units on Windows, one UTF-32 unit on Linux.
  const std::string wide = "void f([in, out, string, size(2)] wchar_t* w)";
  EXPECT_EQ(encode(wide, {Value{std::string("\xF0\x9F\x98\x80")}}).args(0).text(), "\xF0\x9F\x98\x80");
  expect_bad([&] { encode(wide, {Value{std::string("\xF0\x9F\x98\x80")}}, 4, true); }, "w");
  // An [out] buffer's count is capped before anything is sent.
  expect_bad(
      [&] { encode("void f([out, size_is(n)] int* o, uint32_t n)", {Value{std::uint64_t{0xFFFFFFFFu}}}); },
      "o");
}

TEST(Marshal, StructsAreObjectsKeyedByField) {
  const std::string sig =
      "struct Point { int x; int y; }; struct Shape { char name[4]; struct Point pts[2]; int n; "
      "[size_is(n)] struct Point* more; }; int f([in] struct Shape* s)";
  const Object pt{{"x", Value{std::int64_t{1}}}, {"y", Value{std::int64_t{2}}}};
  const Object shape{{"name", Value{std::string("abc")}},
                     {"pts", Value{List{Value{pt}}}},
                     {"n", Value{std::int64_t{1}}},
                     {"more", Value{List{Value{pt}}}}};
  const wire::Call call = encode(sig, {Value{shape}});
  const wire::ValueList& fields = call.args(0).list();
  ASSERT_EQ(fields.items_size(), 4);
  EXPECT_EQ(fields.items(0).text(), "abc");
  EXPECT_EQ(fields.items(1).list().items(0).list().items(1).i(), 2);
  EXPECT_EQ(fields.items(3).list().items_size(), 1);

  Object missing = shape;
  missing.erase("n");
  expect_bad([&] { encode(sig, {Value{missing}}); }, "s");
  Object unknown = shape;
  unknown.emplace("z", Value{std::int64_t{0}});
  expect_bad([&] { encode(sig, {Value{unknown}}); }, "s");
  Object long_name = shape;
  long_name["name"] = Value{std::string("abcde")};
  expect_bad([&] { encode(sig, {Value{long_name}}); }, "s.name");
  Object wrong_count = shape;
  wrong_count["n"] = Value{std::int64_t{2}};
  expect_bad([&] { encode(sig, {Value{wrong_count}}); }, "s.more");
  Object bad_field = shape;
  bad_field["pts"] =
      Value{List{Value{Object{{"x", Value{std::string("1")}}, {"y", Value{std::int64_t{2}}}}}}};
  expect_bad([&] { encode(sig, {Value{bad_field}}); }, "s.pts[0].x");
}

TEST(Marshal, VariadicExtrasAreTyped) {
  const std::string sig = "int fmt(const char* f, ...)";
  const wire::Call call = encode(
      sig, {Value{std::string("%d %f %s")}, Value{Object{{"int", Value{std::int64_t{3}}}}},
            Value{Object{{"double", Value{1.5}}}}, Value{Object{{"string", Value{std::string("x")}}}}});
  ASSERT_EQ(call.args_size(), 4);
  ASSERT_EQ(call.extra_types_size(), 3);
  EXPECT_EQ(call.extra_types(0).scalar(), wire::INT);
  EXPECT_EQ(call.extra_types(1).scalar(), wire::DOUBLE);
  EXPECT_EQ(call.extra_types(2).kind(), wire::TypeNode::POINTER);
  EXPECT_EQ(call.args(3).text(), "x");
  expect_bad([&] { encode(sig, {Value{std::string("%d")}, Value{std::int64_t{3}}}); }, "extra argument 1");
  expect_bad(
      [&] {
        encode(sig, {Value{std::string("%d")}, Value{Object{{"quux", Value{std::int64_t{3}}}}}});
      },
      "extra argument 1");
  expect_bad(
      [&] {
        encode(sig, {Value{std::string("%d")}, Value{Object{{"int", Value{std::int64_t{1} << 40}}}}});
      },
      "extra argument 1");
  EXPECT_EQ(
      error_of([&] {
        encode("int g(int a)", {Value{std::int64_t{1}}, Value{Object{{"int", Value{std::int64_t{3}}}}}});
      }).kind(),
      ErrorKind::bad_argument);
}

TEST(Marshal, RepliesDecodeByType) {
  const Signature s = lower_text(
      "struct P { int x; bool ok; }; bool f([out] struct P* p, [out, size(2)] int* two, [in, out] int* io, "
      "int plain)");
  wire::CallReply r;
  r.mutable_ret()->set_i(1);
  wire::ValueList* p = r.add_out()->mutable_list();
  p->add_items()->set_i(-4);
  p->add_items()->set_u(1);
  r.add_out()->set_packed(std::string("\x07\0\0\0\x08\0\0\0", 8));  // int[2], the target's layout
  r.add_out()->set_i(9);
  r.add_out()->set_null(true);
  const CallResult out = decode_reply(s, r);
  EXPECT_EQ(std::get<bool>(out.ret), true);
  ASSERT_EQ(out.out.size(), 3u);  // the [out] and [in, out] parameters only
  const Object& obj = std::get<Object>(out.out.at("p"));
  EXPECT_EQ(std::get<std::int64_t>(obj.at("x")), -4);
  EXPECT_EQ(std::get<bool>(obj.at("ok")), true);
  const List& l = std::get<List>(out.out.at("two"));
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(std::get<std::int64_t>(l[1]), 8);
  EXPECT_EQ(std::get<std::int64_t>(out.out.at("io")), 9);
}

TEST(Marshal, WireNamesAreLabelsNotPaths) {
  // Field nodes carry their own name; nothing structural is encoded in it,
  // and decoding uses the declaration's field names.
  const std::string decl =
      "struct In { int v; }; struct Out { struct In in; [size_is(n)] int* xs; int n; }; "
      "void f([in, out] struct Out* o)";
  const wire::RegisterFunction reg = registered(decl);
  const wire::TypeNode& o = reg.params(0);
  EXPECT_EQ(o.name(), "o");
  const wire::TypeNode& out = o.elem();
  ASSERT_EQ(out.fields_size(), 3);
  EXPECT_EQ(out.fields(0).name(), "in");
  EXPECT_EQ(out.fields(0).fields(0).name(), "v");
  EXPECT_EQ(out.fields(1).name(), "xs");
  EXPECT_EQ(out.fields(1).count_ref(), 3u);

  wire::CallReply r;
  r.mutable_ret()->set_null(true);
  wire::ValueList* fields = r.add_out()->mutable_list();
  fields->add_items()->mutable_list()->add_items()->set_i(7);
  fields->add_items()->set_packed(std::string("\x01\0\0\0\x02\0\0\0", 8));
  fields->add_items()->set_i(2);
  const CallResult res = decode_reply(lower_text(decl), r);
  const Object& obj = std::get<Object>(res.out.at("o"));
  EXPECT_EQ(std::get<std::int64_t>(std::get<Object>(obj.at("in")).at("v")), 7);
  EXPECT_EQ(std::get<List>(obj.at("xs")).size(), 2u);
  EXPECT_EQ(std::get<std::int64_t>(obj.at("n")), 2);
}

TEST(Marshal, DeclarationsBuiltByHandAreCheckedLikeParsedOnes) {
  // The same checks whoever built the tree: a parameter pointer without a
  // direction, a size_is naming nothing or a non-integer, a fixed array
  // parameter, nesting past the cap.
  auto rejected = [](FunctionDecl fn, const std::string& who) {
    const Error e = error_of([&] { make_signature(fn, TargetAbi{4, false}); });
    EXPECT_EQ(e.kind(), ErrorKind::bad_signature) << e.what();
    EXPECT_NE(std::string(e.what()).find("'" + who + "'"), std::string::npos) << e.what();
  };
  FunctionDecl fn;
  fn.name = "f";
  fn.params.push_back(ParamDecl{"p", decl::pointer(Dir::none, decl::scalar(Scalar::Int))});
  rejected(fn, "p");
  fn.params[0].type = decl::pointer(Dir::in, decl::scalar(Scalar::Int));
  fn.params[0].type.size_is = "n";
  rejected(fn, "p");
  fn.params.push_back(ParamDecl{"n", decl::scalar(Scalar::Double)});
  rejected(fn, "p");
  fn.params[1].type = decl::scalar(Scalar::UInt32);
  EXPECT_EQ(make_signature(fn, TargetAbi{4, false}).inputs, (std::vector<std::size_t>{0, 1}));
  fn.params.push_back(ParamDecl{"a", decl::array(4, decl::scalar(Scalar::Int))});
  rejected(fn, "a");
  fn.params.pop_back();
  TypeDecl deep = decl::scalar(Scalar::Int);
  for (int i = 0; i < 10; ++i) {
    TypeDecl s;
    s.kind = TypeDecl::Kind::structure;
    s.struct_name = "s" + std::to_string(i);
    s.fields.push_back(FieldDecl{"f", deep});
    deep = s;
  }
  fn.params.push_back(ParamDecl{"d", deep});
  rejected(fn, "d.f.f.f.f.f.f.f.f.f");  // the node at depth 9
  // The parser refuses the same construct first, with its position.
  expect_bad_signature("void f([in, size_is(n)] int* p, double n)", "n");
}

TEST(Marshal, CountsAndTextFollowTheRules) {
  // A size_is count past the element cap, or negative, before anything is sent.
  const std::string sig = "int sum([in, size_is(n)] const int* a, int64_t n)";
  expect_bad([&] { encode(sig, {Value{List{}}, Value{std::int64_t{rules::kMaxElements + 1}}}); }, "a");
  // UTF-16 units on Windows, code points elsewhere; invalid bytes are one U+FFFD each.
  EXPECT_EQ(wide_units("\xF0\x9F\x98\x80"
                       "a",
                       TargetAbi{4, true}),
            3u);
  EXPECT_EQ(wide_units("\xF0\x9F\x98\x80"
                       "a",
                       TargetAbi{4, false}),
            2u);
  EXPECT_EQ(wide_units("\xFF\xFE", TargetAbi{8, true}), 2u);
}
