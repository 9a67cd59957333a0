// End to end marshaling: every kind of argument a legacy C API takes, through
// the real surrogates of both bitnesses, compared with the same function of
// the 64-bit sample library called directly in this process where possible.
#include <gtest/gtest.h>

#include <cstring>
#include <cwchar>

#include "dllbridge/bridge.hpp"
#include "sample.h"
#include "os.hpp"
#include "test_support.hpp"

using namespace dllbridge;
namespace paths = dllbridge::test;

namespace {

using test::error_of;
using test::i64;
using test::Target;

Value I(std::int64_t v) { return Value{v}; }
Value S(const std::string& v) { return Value{v}; }

std::int64_t at_i(const Value& list, std::size_t k) { return i64(std::get<List>(list).at(k)); }
const Value& field(const Value& obj, const std::string& name) { return std::get<Object>(obj).at(name); }

Value point(std::int64_t x, std::int64_t y) { return Object{{"x", I(x)}, {"y", I(y)}}; }
Value rect(std::int64_t x0, std::int64_t y0, std::int64_t x1, std::int64_t y1) {
  return Object{{"tl", point(x0, y0)}, {"br", point(x1, y1)}};
}

const char* kStructs =
    "struct sample_point { int32_t x; int32_t y; };"
    "struct sample_mixed { char c; double d; int16_t s; int64_t q; };"
    "struct sample_rect { struct sample_point tl; struct sample_point br; };"
    "struct sample_named { char name[16]; int32_t vals[3]; struct sample_point pts[2]; };"
    "struct sample_poly { uint8_t tag; int32_t n; [size_is(n)] struct sample_point* pts; };";

class Marshal : public test::SampleTest {
 protected:
  CallResult call(const std::string& sig, const std::vector<Value>& args) {
    return lib_->function(sig).call(args);
  }
  CallResult call_s(const std::string& sig, const std::vector<Value>& args) {
    return call(std::string(kStructs) + sig, args);
  }
  bool is32() const { return GetParam().pointer_size == 4; }
};

}  // namespace

TEST_P(Marshal, InBuffersOfEveryWidthAndOptionalNull) {
  const CallResult r =
      call("int sum_i32([in, size_is(n)] const int32_t* v, int n)", {List{I(5), I(-7), I(100000)}, I(3)});
  const std::int32_t direct[] = {5, -7, 100000};
  EXPECT_EQ(i64(r.ret), sum_i32(direct, 3));
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(i64(call("int sum_i32([in, size_is(n)] const int32_t* v, int n)", {Null{}, I(0)}).ret), -1);
  const double d[] = {0.5, 1.25, -3.0};
  EXPECT_DOUBLE_EQ(std::get<double>(call("double sum_f64([in, size_is(n)] const double* v, unsigned int n)",
                                         {List{Value{0.5}, Value{1.25}, Value{-3.0}}, I(3)})
                                        .ret),
                   sum_f64(d, 3));
  EXPECT_EQ(i64(call("int present([in] const int* a, [in] const double* b)", {I(1), Null{}}).ret),
            present(direct, nullptr));
  EXPECT_EQ(i64(call("int present([in] const int* a, [in] const double* b)", {Null{}, Value{2.0}}).ret), 2);
  EXPECT_EQ(i64(call("int present([in] const int* a, [in] const double* b)", {Null{}, Null{}}).ret), 0);
}

TEST_P(Marshal, TextOfEveryLengthArrivesNulTerminated) {
  // Buffers are rounded up to whole blocks; none may show stale bytes past the text.
  Function len = lib_->function("size_t str_len(const char* s)");
  Function wlen = lib_->function("size_t wstr_len(const wchar_t* s)");
  for (std::size_t n = 0; n <= 80; ++n) {
    const std::string s(n, 'a' + static_cast<char>(n % 26));
    EXPECT_EQ(i64(len.call({s}).ret), static_cast<std::int64_t>(str_len(s.c_str()))) << n;
    EXPECT_EQ(i64(wlen.call({s}).ret), static_cast<std::int64_t>(n)) << n;
  }
}

TEST_P(Marshal, OutAndInOutBuffersComeBackByName) {
  CallResult r =
      call("void fill_seq_u16([out, size_is(n)] uint16_t* out, int n, uint16_t start)", {I(4), I(65530)});
  std::uint16_t direct[4];
  fill_seq_u16(direct, 4, 65530);
  ASSERT_EQ(std::get<List>(r.out.at("out")).size(), 4u);
  for (std::size_t k = 0; k < 4; ++k) EXPECT_EQ(at_i(r.out.at("out"), k), direct[k]) << k;
  EXPECT_TRUE(std::holds_alternative<Null>(r.ret));

  r = call("void scale_i64([in, out, size_is(n)] int64_t* v, int n, int64_t k)",
           {List{I(1), I(-2), I(std::int64_t{1} << 40)}, I(3), I(-3)});
  EXPECT_EQ(at_i(r.out.at("v"), 0), -3);
  EXPECT_EQ(at_i(r.out.at("v"), 1), 6);
  EXPECT_EQ(at_i(r.out.at("v"), 2), -3 * (std::int64_t{1} << 40));

  r = call("void reverse4_u8([in, out, size(4)] uint8_t* v)", {List{I(1), I(2), I(3), I(250)}});
  EXPECT_EQ(at_i(r.out.at("v"), 0), 250);
  EXPECT_EQ(at_i(r.out.at("v"), 3), 1);

  r = call("int divmod(int a, int b, [out] int* q, [out] int* r)", {I(-17), I(5)});
  std::int32_t q = 0, rem = 0;
  EXPECT_EQ(i64(r.ret), divmod(-17, 5, &q, &rem));
  EXPECT_EQ(i64(r.out.at("q")), q);
  EXPECT_EQ(i64(r.out.at("r")), rem);
  r = call("int __stdcall divmod_std(int a, int b, [out] int* q, [out] int* r)", {I(47), I(6)});
  EXPECT_EQ(i64(r.out.at("q")), 7);
  EXPECT_EQ(i64(r.out.at("r")), 5);
  EXPECT_EQ(
      i64(call("int __stdcall sum_i32_std([in, size_is(n)] const int* v, int n)", {List{I(2), I(40)}, I(2)})
              .ret),
      42);
}

TEST_P(Marshal, TextBuffersNarrowAndWide) {
  CallResult r = call("int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)",
                      {S("legacy api"), I(32)});
  char direct[32];
  EXPECT_EQ(i64(r.ret), copy_upper("legacy api", direct, 32));
  EXPECT_EQ(std::get<std::string>(r.out.at("out")), direct);
  // Bounded by the buffer, as the DLL sees it.
  r = call("int __stdcall copy_upper_std(const char* in, [out, size_is(cap)] char* out, int cap)",
           {S("abcdef"), I(4)});
  EXPECT_EQ(std::get<std::string>(r.out.at("out")), "ABC");

  r = call("int reverse_str([in, out, string, size_is(cap)] char* buf, int cap)", {S("stressed"), I(16)});
  EXPECT_EQ(std::get<std::string>(r.out.at("buf")), "desserts");
  EXPECT_EQ(i64(r.ret), 8);

  r = call("int wide_upper([in, out, string, size_is(cap)] wchar_t* buf, int cap)",
           {S("h\xc3\xa9llo"), I(8)});
  EXPECT_EQ(std::get<std::string>(r.out.at("buf")), "H\xc3\xa9LLO");
  EXPECT_EQ(i64(r.ret), 5);  // code units: the é is one unit in UTF-32 and in UTF-16

  r = call("int wide_hello([out, size_is(cap)] wchar_t* out, int cap)", {I(16)});
  wchar_t wdirect[16];
  EXPECT_EQ(i64(r.ret), wide_hello(wdirect, 16));
  EXPECT_EQ(std::get<std::string>(r.out.at("out")), "h\xc3\xa9llo \xe2\x82\xac");
  EXPECT_EQ(std::get<std::string>(call("const wchar_t* wide_greeting(void)", {}).ret),
            "h\xc3\xa9llo \xe2\x82\xac");

  // Too long for the declared buffer: refused before sending, naming the parameter.
  const Error e = error_of([&] {
    call("int reverse_str([in, out, string, size_is(cap)] char* buf, int cap)", {S("toolong"), I(4)});
  });
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
  EXPECT_NE(std::string(e.what()).find("'buf'"), std::string::npos) << e.what();
}

TEST_P(Marshal, StructsByValueAndByPointer) {
  EXPECT_EQ(i64(call_s("int point_sum(struct sample_point p)", {point(40, 2)}).ret), point_sum({40, 2}));
  EXPECT_EQ(i64(call_s("int __stdcall point_sum_std(struct sample_point p)", {point(4, 2)}).ret), 402);
  const Value p = call_s("struct sample_point point_make(int x, int y)", {I(-3), I(9)}).ret;
  EXPECT_EQ(i64(field(p, "x")), -3);
  EXPECT_EQ(i64(field(p, "y")), 9);

  EXPECT_EQ(i64(call_s("int rect_area([in] const struct sample_rect* r)", {rect(1, 2, 5, 10)}).ret), 32);
  EXPECT_EQ(i64(call_s("int rect_area([in] const struct sample_rect* r)", {Null{}}).ret), -1);
  CallResult r = call_s("void rect_grow([in, out] struct sample_rect* r, int by)", {rect(1, 2, 5, 10), I(3)});
  sample_rect direct{{1, 2}, {5, 10}};
  rect_grow(&direct, 3);
  EXPECT_EQ(i64(field(field(r.out.at("r"), "tl"), "x")), direct.tl.x);
  EXPECT_EQ(i64(field(field(r.out.at("r"), "br"), "y")), direct.br.y);
  r = call_s("void __stdcall rect_grow_std([in, out] struct sample_rect* r, int by)",
             {rect(0, 0, 1, 1), I(1)});
  EXPECT_EQ(i64(field(field(r.out.at("r"), "tl"), "y")), -2);
}

TEST_P(Marshal, LayoutIsTheSurrogatesOwn) {
  // A double after a char: offset 4 on i386 Linux, 8 on Win32 and x86-64.
  // Passing the struct both ways only works when the surrogate laid it out
  // as its DLL does.
  const bool i386_linux = is32() && std::string(test::os::kOsName) == "linux";
  EXPECT_EQ(i64(call("int mixed_offset_d(void)", {}).ret), i386_linux ? 4 : 8);
  const Value m = call_s("struct sample_mixed mixed_make(char c, double d, int16_t s, int64_t q)",
                         {I('A'), Value{2.5}, I(-300), I(std::int64_t{1} << 50)})
                      .ret;
  EXPECT_EQ(i64(field(m, "c")), 'A');
  EXPECT_DOUBLE_EQ(std::get<double>(field(m, "d")), 2.5);
  EXPECT_EQ(i64(field(m, "s")), -300);
  EXPECT_EQ(i64(field(m, "q")), std::int64_t{1} << 50);
  const sample_mixed direct = mixed_make('A', 2.5, -300, std::int64_t{1} << 40);
  Object arg = std::get<Object>(m);
  arg["q"] = I(std::int64_t{1} << 40);
  EXPECT_DOUBLE_EQ(std::get<double>(call_s("double mixed_sum(struct sample_mixed m)", {arg}).ret),
                   mixed_sum(direct));
  EXPECT_DOUBLE_EQ(
      std::get<double>(call_s("double __stdcall mixed_sum_std(struct sample_mixed m)", {arg}).ret),
      mixed_sum_std(direct));
}

TEST_P(Marshal, FixedArraysAndNestedStructs) {
  CallResult r = call_s("void named_fill([out] struct sample_named* n, int base)", {I(7)});
  sample_named direct;
  named_fill(&direct, 7);
  const Value& n = r.out.at("n");
  EXPECT_EQ(std::get<std::string>(field(n, "name")), direct.name);
  ASSERT_EQ(std::get<List>(field(n, "vals")).size(), 3u);
  EXPECT_EQ(at_i(field(n, "vals"), 2), direct.vals[2]);
  EXPECT_EQ(i64(field(std::get<List>(field(n, "pts")).at(1), "y")), direct.pts[1].y);
  // And back in: the same object the DLL filled.
  EXPECT_EQ(i64(call_s("int named_sum([in] const struct sample_named* n)", {n}).ret), named_sum(&direct));
}

TEST_P(Marshal, PointerFieldsWithSizeIsAreFollowed) {
  const Value poly = Object{{"tag", I(3)}, {"n", I(2)}, {"pts", List{point(1, 2), point(10, 20)}}};
  EXPECT_EQ(i64(call_s("int poly_sum([in] const struct sample_poly* p)", {poly}).ret), 3 + 1 + 2 + 10 + 20);
  const Value empty = Object{{"tag", I(9)}, {"n", I(0)}};  // a pointer field left out is null
  EXPECT_EQ(i64(call_s("int poly_sum([in] const struct sample_poly* p)", {empty}).ret), 9);
  const CallResult r = call_s("void poly_shift([in, out] struct sample_poly* p, int dx)", {poly, I(100)});
  const Value& out = r.out.at("p");
  EXPECT_EQ(i64(field(out, "tag")), 4);
  EXPECT_EQ(i64(field(std::get<List>(field(out, "pts")).at(1), "x")), 110);
  EXPECT_EQ(i64(field(std::get<List>(field(out, "pts")).at(1), "y")), 20);
  // A count that disagrees with the list is refused in the client.
  const Value wrong = Object{{"tag", I(0)}, {"n", I(3)}, {"pts", List{point(1, 2)}}};
  const Error e = error_of([&] { call_s("int poly_sum([in] const struct sample_poly* p)", {wrong}); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
  EXPECT_NE(std::string(e.what()).find("'p.pts'"), std::string::npos) << e.what();
}

TEST_P(Marshal, HandlesReachTheSameObject) {
  Function create = lib_->function("int obj_create(int initial, [out] void** out)");
  Function add = lib_->function("int obj_add(void* h, int v)");
  Function get = lib_->function("int obj_get(HANDLE h)");
  const CallResult a = create.call({I(10)});
  const CallResult b = create.call({I(500)});
  ASSERT_EQ(i64(a.ret), 0);
  const Value ha = a.out.at("out"), hb = b.out.at("out");
  ASSERT_TRUE(std::holds_alternative<std::uint64_t>(ha));
  EXPECT_NE(std::get<std::uint64_t>(ha), 0u);
  EXPECT_NE(std::get<std::uint64_t>(ha), std::get<std::uint64_t>(hb));
  if (is32()) {
    EXPECT_LE(std::get<std::uint64_t>(ha), 0xFFFFFFFFu) << "a 32-bit address";
  }
  EXPECT_EQ(i64(add.call({ha, I(5)}).ret), 15);
  EXPECT_EQ(i64(add.call({hb, I(1)}).ret), 501);
  EXPECT_EQ(i64(get.call({ha}).ret), 15);
  lib_->function("void obj_destroy(void* h)").call({ha});
  lib_->function("void obj_destroy(void* h)").call({hb});
}

TEST_P(Marshal, VariadicCallsWithTypedExtras) {
  const CallResult r =
      call("int fmt_print([out, size_is(cap)] char* out, int cap, const char* fmt, ...)",
           {I(64), S("%d|%.2f|%s|%lld"), Object{{"int", I(-42)}}, Object{{"double", Value{1.5}}},
            Object{{"string", S("x")}}, Object{{"long long", I(std::int64_t{1} << 40)}}});
  char direct[64];
  std::snprintf(direct, sizeof direct, "%d|%.2f|%s|%lld", -42, 1.5, "x", 1LL << 40);
  EXPECT_EQ(std::get<std::string>(r.out.at("out")), direct);
  EXPECT_EQ(i64(r.ret), static_cast<std::int64_t>(std::strlen(direct)));
  EXPECT_DOUBLE_EQ(std::get<double>(call("double sum_doubles(int n, ...)",
                                         {I(3), Object{{"double", Value{0.5}}},
                                          Object{{"double", Value{0.25}}}, Object{{"float", Value{2.0}}}})
                                        .ret),
                   sum_doubles(3, 0.5, 0.25, 2.0));
  EXPECT_EQ(i64(call("int64_t sum_mixed_va(int n, ...)",
                     {I(3), Object{{"int", I(0)}}, Object{{"int", I(-5)}}, Object{{"int", I(1)}},
                      Object{{"int64_t", I(std::int64_t{1} << 35)}}, Object{{"int", I(2)}},
                      Object{{"double", Value{7.0}}}})
                    .ret),
            sum_mixed_va(3, 0, -5, 1, 1LL << 35, 2, 7.0));
}

TEST_P(Marshal, ArgumentErrorsNameTheParameterAndNothingIsSent) {
  Function f = lib_->function("int sum_i32([in, size_is(n)] const int32_t* v, int n)");
  const std::uint64_t calls_before = bridge_->stats().calls_ok + bridge_->stats().calls_failed;
  for (const std::vector<Value>& args : std::vector<std::vector<Value>>{
           {List{I(1)}, I(2)}, {List{S("x"), I(1)}, I(2)}, {I(1), I(1)}, {List{I(1)}}}) {
    const Error e = error_of([&] { f.call(args); });
    EXPECT_EQ(e.kind(), ErrorKind::bad_argument) << e.what();
  }
  EXPECT_EQ(bridge_->stats().calls_ok + bridge_->stats().calls_failed, calls_before);
  EXPECT_EQ(i64(f.call({List{I(1), I(2)}, I(2)}).ret), 3);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, Marshal, ::testing::ValuesIn(test::kTargets),
                         [](const auto& info) { return std::string(info.param.name); });

// The typed API over the same exports, with the sample's own C structs
// described once.
DLLBRIDGE_DESCRIBE(sample_point, "sample_point", DLLBRIDGE_FIELD(sample_point, x),
                   DLLBRIDGE_FIELD(sample_point, y));
DLLBRIDGE_DESCRIBE(sample_rect, "sample_rect", DLLBRIDGE_FIELD(sample_rect, tl),
                   DLLBRIDGE_FIELD(sample_rect, br));
DLLBRIDGE_DESCRIBE(sample_mixed, "sample_mixed", DLLBRIDGE_FIELD(sample_mixed, c),
                   DLLBRIDGE_FIELD(sample_mixed, d), DLLBRIDGE_FIELD(sample_mixed, s),
                   DLLBRIDGE_FIELD(sample_mixed, q));
DLLBRIDGE_DESCRIBE(sample_named, "sample_named", DLLBRIDGE_FIELD(sample_named, name),
                   DLLBRIDGE_FIELD(sample_named, vals), DLLBRIDGE_FIELD(sample_named, pts));
DLLBRIDGE_DESCRIBE(sample_poly, "sample_poly", DLLBRIDGE_FIELD(sample_poly, tag),
                   DLLBRIDGE_FIELD(sample_poly, n), DLLBRIDGE_SIZED_FIELD(sample_poly, pts, n));

namespace {
using Typed = Marshal;
}  // namespace

TEST_P(Typed, SpansInOutAndInOut) {
  auto sum = lib_->function<std::int32_t(In<std::int32_t>, std::int32_t)>("sum_i32");
  const std::vector<std::int32_t> v{3, -9, 1000};
  EXPECT_EQ(sum(in(v), 3), sum_i32(v.data(), 3));
  EXPECT_EQ(sum(In<std::int32_t>{}, 0), -1);  // a null pointer
  auto sum_std =
      lib_->function<std::int32_t(In<std::int32_t>, std::int32_t)>("sum_i32_std", CallConv::Stdcall);
  EXPECT_EQ(sum_std(in(v), 2), -6);

  auto fill = lib_->function<void(Out<std::uint16_t>, std::int32_t, std::uint16_t)>("fill_seq_u16");
  std::vector<std::uint16_t> got(5), want(5);
  fill(out(got), 5, 100);
  fill_seq_u16(want.data(), 5, 100);
  EXPECT_EQ(got, want);

  auto scale = lib_->function<void(InOut<std::int64_t>, std::int32_t, std::int64_t)>("scale_i64");
  std::int64_t vals[] = {1, -2, std::int64_t{1} << 33};
  scale(inout(vals), 3, 7);
  EXPECT_EQ(vals[0], 7);
  EXPECT_EQ(vals[1], -14);
  EXPECT_EQ(vals[2], 7 * (std::int64_t{1} << 33));

  auto dm = lib_->function<std::int32_t(std::int32_t, std::int32_t, Out<std::int32_t>, Out<std::int32_t>)>(
      "divmod_std", CallConv::Stdcall);
  std::int32_t q = 0, r = 0;
  EXPECT_EQ(dm(23, 4, out(q), out(r)), 0);
  EXPECT_EQ(q, 5);
  EXPECT_EQ(r, 3);
}

TEST_P(Typed, TextNarrowWideAndUtf16) {
  auto upper = lib_->function<std::int32_t(std::string, Out<char, 2>, std::int32_t)>("copy_upper");
  char buf[32], want[32];
  EXPECT_EQ(upper(std::string("typed text"), out(buf), 32), copy_upper("typed text", want, 32));
  EXPECT_STREQ(buf, want);

  auto rev = lib_->function<std::int32_t(InOut<char, 1>, std::int32_t)>("reverse_str");
  char word[16] = "drawer";
  EXPECT_EQ(rev(inout(word), 16), 6);
  EXPECT_STREQ(word, "reward");

  auto wup = lib_->function<std::int32_t(InOut<wchar_t, 1>, std::int32_t)>("wide_upper");
  wchar_t wide[8] = L"abc";
  EXPECT_EQ(wup(inout(wide), 8), 3);
  EXPECT_EQ(std::wstring(wide), L"ABC");
  auto u16up = lib_->function<std::int32_t(InOut<char16_t, 1>, std::int32_t)>("wide_upper");
  char16_t u16[8] = u"xy\u00e9";
  EXPECT_EQ(u16up(inout(u16), 8), 3);
  EXPECT_EQ(std::u16string(u16), u"XY\u00e9");

  auto hello = lib_->function<std::int32_t(Out<char16_t, 1>, std::int32_t)>("wide_hello");
  char16_t h[16];
  EXPECT_EQ(hello(out(h), 16), 7);
  EXPECT_EQ(std::u16string(h), u"h\u00e9llo \u20ac");
  EXPECT_EQ(lib_->function<std::wstring()>("wide_greeting")(), std::wstring(wide_greeting()));
  EXPECT_EQ(lib_->function<std::string()>("greeting")(), greeting());
  EXPECT_EQ(lib_->function<SizeT(std::wstring)>("wstr_len")(L"h\u00e9llo"), 5u);
  // size_t is the DLL's: SIZE_MAX of a 32-bit DLL is 0xFFFFFFFF.
  EXPECT_EQ(lib_->function<SizeT(const wchar_t*)>("wstr_len")(nullptr),
            is32() ? 0xFFFFFFFFu : ~std::uint64_t{0});
  EXPECT_EQ(lib_->function<Long(Long)>("neg_long")(-5), 5);
}

TEST_P(Typed, DescribedStructs) {
  auto make = lib_->function<sample_point(std::int32_t, std::int32_t)>("point_make");
  const sample_point p = make(8, -1);
  EXPECT_EQ(p.x, 8);
  EXPECT_EQ(p.y, -1);
  EXPECT_EQ(lib_->function<std::int32_t(sample_point)>("point_sum")(p), point_sum(p));
  EXPECT_EQ(lib_->function<std::int32_t(sample_point)>("point_sum_std", CallConv::Stdcall)(p), 799);

  sample_rect r{{0, 0}, {3, 4}};
  EXPECT_EQ(lib_->function<std::int32_t(In<sample_rect>)>("rect_area")(in(r)), 12);
  auto grow = lib_->function<void(InOut<sample_rect>, std::int32_t)>("rect_grow");
  sample_rect want = r;
  grow(inout(r), 2);
  rect_grow(&want, 2);
  EXPECT_EQ(r.tl.x, want.tl.x);
  EXPECT_EQ(r.br.y, want.br.y);

  auto mixed = lib_->function<sample_mixed(char, double, std::int16_t, std::int64_t)>("mixed_make");
  const sample_mixed m = mixed('z', -0.5, 12, -(std::int64_t{1} << 45));
  EXPECT_EQ(m.c, 'z');
  EXPECT_EQ(m.d, -0.5);
  EXPECT_EQ(m.s, 12);
  EXPECT_EQ(m.q, -(std::int64_t{1} << 45));
  EXPECT_DOUBLE_EQ(lib_->function<double(sample_mixed)>("mixed_sum")(m), mixed_sum(m));

  sample_named n{}, nwant{};
  lib_->function<void(Out<sample_named>, std::int32_t)>("named_fill")(out(n), 4);
  named_fill(&nwant, 4);
  EXPECT_STREQ(n.name, nwant.name);
  EXPECT_EQ(n.vals[2], nwant.vals[2]);
  EXPECT_EQ(n.pts[1].y, nwant.pts[1].y);
  EXPECT_EQ(lib_->function<std::int32_t(In<sample_named>)>("named_sum")(in(n)), named_sum(&nwant));
}

TEST_P(Typed, PointerFieldsTravelWithTheirStruct) {
  sample_point pts[3] = {{1, 2}, {3, 4}, {5, 6}};
  sample_poly poly{7, 3, pts};
  EXPECT_EQ(lib_->function<std::int32_t(In<sample_poly>)>("poly_sum")(in(poly)), poly_sum(&poly));
  auto shift = lib_->function<void(InOut<sample_poly>, std::int32_t)>("poly_shift");
  shift(inout(poly), 10);
  EXPECT_EQ(poly.tag, 8);
  EXPECT_EQ(poly.pts, pts) << "the struct keeps its own pointer";
  EXPECT_EQ(pts[0].x, 11);
  EXPECT_EQ(pts[2].x, 15);
  EXPECT_EQ(pts[2].y, 6);
  sample_poly none{1, 0, nullptr};
  EXPECT_EQ(lib_->function<std::int32_t(In<sample_poly>)>("poly_sum")(in(none)), 1);
}

TEST_P(Typed, HandlesAndVariadics) {
  auto create = lib_->function<std::int32_t(std::int32_t, Out<Handle>)>("obj_create");
  auto add = lib_->function<std::int32_t(Handle, std::int32_t)>("obj_add");
  Handle h;
  ASSERT_EQ(create(20, out(h)), 0);
  EXPECT_TRUE(h);
  EXPECT_EQ(add(h, 2), 22);
  EXPECT_EQ(add(h, 3), 25);
  lib_->function<void(Handle)>("obj_destroy")(h);

  auto fmt = lib_->variadic<std::int32_t(Out<char, 1>, std::int32_t, const char*)>("fmt_print");
  char buf[64], want[64];
  const int n = fmt(out(buf), 64, "%d/%s/%.1f/%lld", -3, "x", 2.5, std::int64_t{1} << 41);
  std::snprintf(want, sizeof want, "%d/%s/%.1f/%lld", -3, "x", 2.5, 1LL << 41);
  EXPECT_STREQ(buf, want);
  EXPECT_EQ(n, static_cast<int>(std::strlen(want)));
  auto sum = lib_->variadic<double(std::int32_t)>("sum_doubles");
  EXPECT_DOUBLE_EQ(sum(2, 1.25, 2.0f), sum_doubles(2, 1.25, 2.0));
}

INSTANTIATE_TEST_SUITE_P(Surrogates, Typed, ::testing::ValuesIn(test::kTargets),
                         [](const auto& info) { return std::string(info.param.name); });
