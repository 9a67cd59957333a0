// Unit tests of the signature-language parser (docs/signature-language.md).
#include "signature/signature.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "dllbridge/error.hpp"

using dllbridge::CallConv;
using dllbridge::Error;
using dllbridge::ErrorKind;
using dllbridge::Scalar;
using dllbridge::sig::Direction;
using dllbridge::sig::Function;
using dllbridge::sig::parse;
using dllbridge::sig::scalar_name;

namespace {

// The full message of the bad_signature error `text` must raise.
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_signature) << text;
    return e.what();
  }
  ADD_FAILURE() << "parsed without error: " << text;
  return {};
}

#define EXPECT_BAD(text, message) EXPECT_EQ(error_of(text), message) << "signature: " << (text)

}  // namespace

// ------------------------------------------------------------------ scalars

TEST(Signature, EveryScalarSpelling) {
  const std::vector<std::pair<const char*, Scalar>> cases = {
      {"bool", Scalar::Bool},
      {"_Bool", Scalar::Bool},
      {"char", Scalar::Char},
      {"signed char", Scalar::SChar},
      {"char signed", Scalar::SChar},
      {"unsigned char", Scalar::UChar},
      {"char unsigned", Scalar::UChar},
      {"short", Scalar::Short},
      {"short int", Scalar::Short},
      {"signed short", Scalar::Short},
      {"signed short int", Scalar::Short},
      {"int short", Scalar::Short},
      {"unsigned short", Scalar::UShort},
      {"unsigned short int", Scalar::UShort},
      {"short unsigned", Scalar::UShort},
      {"int", Scalar::Int},
      {"signed", Scalar::Int},
      {"signed int", Scalar::Int},
      {"unsigned", Scalar::UInt},
      {"unsigned int", Scalar::UInt},
      {"int unsigned", Scalar::UInt},
      {"long", Scalar::Long},
      {"long int", Scalar::Long},
      {"signed long", Scalar::Long},
      {"long signed int", Scalar::Long},
      {"unsigned long", Scalar::ULong},
      {"unsigned long int", Scalar::ULong},
      {"long unsigned", Scalar::ULong},
      {"long long", Scalar::LongLong},
      {"long long int", Scalar::LongLong},
      {"signed long long", Scalar::LongLong},
      {"long int long", Scalar::LongLong},
      {"__int64", Scalar::LongLong},
      {"signed __int64", Scalar::LongLong},
      {"unsigned long long", Scalar::ULongLong},
      {"unsigned long long int", Scalar::ULongLong},
      {"long unsigned long", Scalar::ULongLong},
      {"unsigned __int64", Scalar::ULongLong},
      {"float", Scalar::Float},
      {"double", Scalar::Double},
      {"int8_t", Scalar::Int8},
      {"int16_t", Scalar::Int16},
      {"int32_t", Scalar::Int32},
      {"int64_t", Scalar::Int64},
      {"uint8_t", Scalar::UInt8},
      {"uint16_t", Scalar::UInt16},
      {"uint32_t", Scalar::UInt32},
      {"uint64_t", Scalar::UInt64},
      {"size_t", Scalar::SizeT},
      {"wchar_t", Scalar::WChar},
      {"BOOL", Scalar::BOOL},
      {"BYTE", Scalar::BYTE},
      {"WORD", Scalar::WORD},
      {"DWORD", Scalar::DWORD},
      {"HANDLE", Scalar::Handle},
      {"UINT", Scalar::UInt},
      {"INT", Scalar::Int},
      {"LONG", Scalar::Long},
      {"ULONG", Scalar::ULong},
      {"CHAR", Scalar::Char},
      {"SHORT", Scalar::Short},
      {"USHORT", Scalar::UShort},
      {"FLOAT", Scalar::Float},
  };
  for (const auto& [spelling, scalar] : cases) {
    SCOPED_TRACE(spelling);
    const std::string s = spelling;
    const Function ret = parse(s + " f()");
    EXPECT_EQ(ret.ret.scalar, scalar);
    EXPECT_EQ(ret.ret.pointer_depth, 0);
    EXPECT_FALSE(ret.ret.is_struct);
    const Function param = parse("void g(" + s + " x, " + s + ")");
    ASSERT_EQ(param.params.size(), 2u);
    EXPECT_EQ(param.params[0].type.scalar, scalar);
    EXPECT_EQ(param.params[0].name, "x");
    EXPECT_EQ(param.params[0].attrs.dir, Direction::None);
    EXPECT_EQ(param.params[1].type.scalar, scalar);
    EXPECT_EQ(param.params[1].name, "arg1");
  }
  EXPECT_EQ(parse("void f()").ret.scalar, Scalar::Void);
}

TEST(Signature, ScalarNameIsCanonicalAndRoundTrips) {
  EXPECT_EQ(scalar_name(Scalar::Void), "void");
  EXPECT_EQ(scalar_name(Scalar::SChar), "signed char");
  EXPECT_EQ(scalar_name(Scalar::UInt), "unsigned int");
  EXPECT_EQ(scalar_name(Scalar::Long), "long");
  EXPECT_EQ(scalar_name(Scalar::LongLong), "long long");
  EXPECT_EQ(scalar_name(Scalar::ULongLong), "unsigned long long");
  EXPECT_EQ(scalar_name(Scalar::UInt32), "uint32_t");
  EXPECT_EQ(scalar_name(Scalar::SizeT), "size_t");
  EXPECT_EQ(scalar_name(Scalar::WChar), "wchar_t");
  EXPECT_EQ(scalar_name(Scalar::BOOL), "BOOL");
  EXPECT_EQ(scalar_name(Scalar::DWORD), "DWORD");
  EXPECT_EQ(scalar_name(Scalar::Handle), "HANDLE");
  for (int i = static_cast<int>(Scalar::Void); i <= static_cast<int>(Scalar::Handle); ++i) {
    const auto s = static_cast<Scalar>(i);
    SCOPED_TRACE(std::string(scalar_name(s)));
    EXPECT_EQ(parse(std::string(scalar_name(s)) + " f()").ret.scalar, s);
  }
}

TEST(Signature, WindowsPointerTypedefs) {
  const Function f = parse("LPSTR f(LPCSTR a, LPCWSTR b, LPVOID c, [out] LPWSTR d, [in] LPSTR* e)");
  EXPECT_EQ(f.ret.scalar, Scalar::Char);
  EXPECT_EQ(f.ret.pointer_depth, 1);
  EXPECT_FALSE(f.ret.is_const);
  ASSERT_EQ(f.params.size(), 5u);
  const auto& a = f.params[0];
  EXPECT_EQ(a.type.scalar, Scalar::Char);
  EXPECT_EQ(a.type.pointer_depth, 1);
  EXPECT_TRUE(a.type.is_const);
  EXPECT_EQ(a.attrs.dir, Direction::In);
  EXPECT_TRUE(a.attrs.string);
  const auto& b = f.params[1];
  EXPECT_EQ(b.type.scalar, Scalar::WChar);
  EXPECT_TRUE(b.type.is_const);
  EXPECT_EQ(b.attrs.dir, Direction::In);
  EXPECT_TRUE(b.attrs.string);
  const auto& c = f.params[2];
  EXPECT_EQ(c.type.scalar, Scalar::Void);
  EXPECT_EQ(c.type.pointer_depth, 1);
  EXPECT_EQ(c.attrs.dir, Direction::None);
  const auto& d = f.params[3];
  EXPECT_EQ(d.type.scalar, Scalar::WChar);
  EXPECT_FALSE(d.type.is_const);
  EXPECT_EQ(d.attrs.dir, Direction::Out);
  EXPECT_EQ(f.params[4].type.pointer_depth, 2);
  // `const LPSTR` is `char* const`: the text itself is not const.
  const Function g = parse("void g([in] const LPSTR s)");
  EXPECT_FALSE(g.params[0].type.is_const);
  EXPECT_FALSE(g.params[0].attrs.string);
}

// ------------------------------------------------------------- conventions

TEST(Signature, CallingConventions) {
  const std::vector<std::pair<const char*, CallConv>> cases = {
      {"__cdecl", CallConv::Cdecl},       {"_cdecl", CallConv::Cdecl},        {"cdecl", CallConv::Cdecl},
      {"__stdcall", CallConv::Stdcall},   {"_stdcall", CallConv::Stdcall},    {"stdcall", CallConv::Stdcall},
      {"WINAPI", CallConv::Stdcall},      {"CALLBACK", CallConv::Stdcall},    {"APIENTRY", CallConv::Stdcall},
      {"__fastcall", CallConv::Fastcall}, {"__thiscall", CallConv::Thiscall},
  };
  for (const auto& [word, conv] : cases) {
    SCOPED_TRACE(word);
    const Function f = parse(std::string("int ") + word + " add(int a, int b)");
    EXPECT_EQ(f.conv, conv);
    EXPECT_EQ(f.name, "add");
    EXPECT_EQ(f.params.size(), 2u);
  }
  EXPECT_EQ(parse("int add(int a, int b)").conv, CallConv::Cdecl);
  const Function p = parse("char* __stdcall name(void)");
  EXPECT_EQ(p.conv, CallConv::Stdcall);
  EXPECT_EQ(p.ret.pointer_depth, 1);
}

// --------------------------------------------------- pointers and defaults

TEST(Signature, ConstBeforeOrAfterBaseType) {
  for (const char* text : {"void f(const char* s)", "void f(char const* s)", "void f(const char* const s)",
                           "void f(char const * const s)", "void f(const volatile char* s)"}) {
    SCOPED_TRACE(text);
    const Function f = parse(text);
    ASSERT_EQ(f.params.size(), 1u);
    EXPECT_TRUE(f.params[0].type.is_const);
    EXPECT_EQ(f.params[0].type.pointer_depth, 1);
    EXPECT_EQ(f.params[0].attrs.dir, Direction::In);
    EXPECT_TRUE(f.params[0].attrs.string);
  }
  const Function v = parse("int volatile f(const int a, int const b, volatile int c)");
  EXPECT_FALSE(v.ret.is_const);
  EXPECT_TRUE(v.params[0].type.is_const);
  EXPECT_TRUE(v.params[1].type.is_const);
  EXPECT_FALSE(v.params[2].type.is_const);
  // A const after the star qualifies the pointer, not the data.
  const Function p = parse("void f([in] char* const s)");
  EXPECT_FALSE(p.params[0].type.is_const);
}

TEST(Signature, PointersAndHandles) {
  const Function f = parse(
      "void* f([in] int* a, [out] int** b, void* c, HANDLE d, [out] void** e, [out] HANDLE* g, "
      "[in, out] double* h)");
  EXPECT_EQ(f.ret.scalar, Scalar::Void);
  EXPECT_EQ(f.ret.pointer_depth, 1);
  ASSERT_EQ(f.params.size(), 7u);
  EXPECT_EQ(f.params[0].type.pointer_depth, 1);
  EXPECT_EQ(f.params[0].attrs.dir, Direction::In);
  EXPECT_FALSE(f.params[0].attrs.string);
  EXPECT_EQ(f.params[1].type.pointer_depth, 2);
  EXPECT_EQ(f.params[1].attrs.dir, Direction::Out);
  EXPECT_EQ(f.params[2].type.scalar, Scalar::Void);
  EXPECT_EQ(f.params[2].attrs.dir, Direction::None);  // opaque handle
  EXPECT_EQ(f.params[3].type.scalar, Scalar::Handle);
  EXPECT_EQ(f.params[3].type.pointer_depth, 0);
  EXPECT_EQ(f.params[4].type.pointer_depth, 2);
  EXPECT_EQ(f.params[4].attrs.dir, Direction::Out);
  EXPECT_EQ(f.params[5].type.scalar, Scalar::Handle);
  EXPECT_EQ(f.params[5].type.pointer_depth, 1);
  EXPECT_EQ(f.params[6].attrs.dir, Direction::InOut);
  // Stars may hug either side.
  const Function s = parse("int*f([out]int*x,[in]char **y)");
  EXPECT_EQ(s.ret.pointer_depth, 1);
  EXPECT_EQ(s.params[1].type.pointer_depth, 2);
}

TEST(Signature, TextDefaults) {
  const Function f = parse(
      "char* f(const char* a, const wchar_t* b, [in] const char* c, [string] const char* d, "
      "[in] char* e, [in, size(4)] const char* g, [out] const char** h, [in, string] char* i)");
  EXPECT_EQ(f.ret.scalar, Scalar::Char);  // char* return is text; no attributes on returns
  ASSERT_EQ(f.params.size(), 8u);
  for (std::size_t i : {0u, 1u, 2u, 3u}) {
    SCOPED_TRACE(i);
    EXPECT_EQ(f.params[i].attrs.dir, Direction::In);
    EXPECT_TRUE(f.params[i].attrs.string);
  }
  EXPECT_EQ(f.params[1].type.scalar, Scalar::WChar);
  EXPECT_FALSE(f.params[4].attrs.string);  // not const: just a byte buffer
  EXPECT_EQ(f.params[5].attrs.dir, Direction::In);
  EXPECT_FALSE(f.params[5].attrs.string);  // sized: a buffer, not text
  EXPECT_EQ(f.params[5].attrs.size, 4u);
  EXPECT_EQ(f.params[6].attrs.dir, Direction::Out);
  EXPECT_FALSE(f.params[6].attrs.string);
  EXPECT_TRUE(f.params[7].attrs.string);
  EXPECT_EQ(f.params[7].attrs.dir, Direction::In);
}

// -------------------------------------------------------------- attributes

TEST(Signature, AttributeForms) {
  const Function f = parse(
      "void f([in] int* a, [out] int* b, [in, out] int* c, [inout] int* d, [out, in] int* e, "
      "[in][out] int* g, [ out ] [ string ] char* h, [in, size_is(n)] int* i, [out][size(16)] char* j, "
      "[size(0x10), out] BYTE* k, [in, out, size_is(n), string] char* l, size_t n, [in] int m)");
  ASSERT_EQ(f.params.size(), 13u);
  EXPECT_EQ(f.params[0].attrs.dir, Direction::In);
  EXPECT_EQ(f.params[1].attrs.dir, Direction::Out);
  EXPECT_EQ(f.params[2].attrs.dir, Direction::InOut);
  EXPECT_EQ(f.params[3].attrs.dir, Direction::InOut);
  EXPECT_EQ(f.params[4].attrs.dir, Direction::InOut);
  EXPECT_EQ(f.params[5].attrs.dir, Direction::InOut);
  EXPECT_EQ(f.params[6].attrs.dir, Direction::Out);
  EXPECT_TRUE(f.params[6].attrs.string);
  EXPECT_EQ(f.params[7].attrs.size_is, "n");  // may name a later parameter
  EXPECT_FALSE(f.params[7].attrs.size);
  EXPECT_EQ(f.params[8].attrs.size, 16u);
  EXPECT_FALSE(f.params[8].attrs.size_is);
  EXPECT_EQ(f.params[9].attrs.size, 16u);
  EXPECT_EQ(f.params[9].type.scalar, Scalar::BYTE);
  EXPECT_EQ(f.params[10].attrs.dir, Direction::InOut);
  EXPECT_TRUE(f.params[10].attrs.string);
  EXPECT_EQ(f.params[10].attrs.size_is, "n");
  EXPECT_EQ(f.params[11].attrs.dir, Direction::None);
  EXPECT_EQ(f.params[12].attrs.dir, Direction::In);  // [in] on a value is harmless
}

TEST(Signature, SizeIsAcceptsEveryIntegerKind) {
  for (const char* type : {"int", "unsigned", "long", "size_t", "DWORD", "WORD", "BYTE", "uint64_t", "char",
                           "short", "__int64", "int8_t"}) {
    SCOPED_TRACE(type);
    const Function f = parse(std::string("void f(") + type + " n, [out, size_is(n)] int* buf)");
    EXPECT_EQ(f.params[1].attrs.size_is, "n");
  }
}

// ----------------------------------------------------------------- structs

TEST(Signature, SimpleStruct) {
  const Function f =
      parse("struct Point { int x; int y; }; struct Point __stdcall mid(struct Point a, Point b);");
  ASSERT_EQ(f.structs.size(), 1u);
  const auto& def = f.structs[0];
  EXPECT_EQ(def->name, "Point");
  ASSERT_EQ(def->fields.size(), 2u);
  EXPECT_EQ(def->fields[0].name, "x");
  EXPECT_EQ(def->fields[1].name, "y");
  EXPECT_EQ(def->fields[1].type.scalar, Scalar::Int);
  EXPECT_TRUE(f.ret.is_struct);
  EXPECT_EQ(f.ret.struct_name, "Point");
  EXPECT_EQ(f.ret.def, def);
  EXPECT_EQ(f.conv, CallConv::Stdcall);
  ASSERT_EQ(f.params.size(), 2u);
  for (const auto& p : f.params) {
    EXPECT_TRUE(p.type.is_struct);
    EXPECT_EQ(p.type.def, def);
    EXPECT_EQ(p.type.pointer_depth, 0);
  }
}

TEST(Signature, NestedStructsArraysAndPointerFields) {
  const Function f = parse(
      "struct Point { double x, y; };\n"
      "struct Shape {\n"
      "  char name[16];\n"
      "  struct Point pts[4];\n"
      "  Point origin;\n"
      "  int n, *unused, grid[0x3];\n"
      "  [size_is(n)] struct Point* points;\n"
      "  [string] char label[8];\n"
      "  const char* title;\n"
      "  [size(2)] void* extra;\n"
      "};\n"
      "int area([in] const struct Shape* s, [out] Shape* copy, struct Shape* opaque);");
  ASSERT_EQ(f.structs.size(), 2u);
  EXPECT_EQ(f.structs[0]->name, "Point");
  EXPECT_EQ(f.structs[0]->fields.size(), 2u);
  EXPECT_EQ(f.structs[0]->fields[1].name, "y");
  EXPECT_EQ(f.structs[0]->fields[1].type.scalar, Scalar::Double);
  const auto& shape = *f.structs[1];
  EXPECT_EQ(shape.name, "Shape");
  ASSERT_EQ(shape.fields.size(), 10u);
  EXPECT_EQ(shape.fields[0].type.scalar, Scalar::Char);
  EXPECT_EQ(shape.fields[0].type.array_len, 16u);
  EXPECT_TRUE(shape.fields[1].type.is_struct);
  EXPECT_EQ(shape.fields[1].type.def, f.structs[0]);
  EXPECT_EQ(shape.fields[1].type.array_len, 4u);
  EXPECT_EQ(shape.fields[2].type.def, f.structs[0]);
  EXPECT_FALSE(shape.fields[2].type.array_len);
  EXPECT_EQ(shape.fields[3].name, "n");
  EXPECT_EQ(shape.fields[3].type.pointer_depth, 0);
  EXPECT_EQ(shape.fields[4].name, "unused");
  EXPECT_EQ(shape.fields[4].type.pointer_depth, 1);
  EXPECT_EQ(shape.fields[5].type.array_len, 3u);
  EXPECT_EQ(shape.fields[5].type.pointer_depth, 0);
  EXPECT_EQ(shape.fields[6].attrs.size_is, "n");
  EXPECT_EQ(shape.fields[6].type.pointer_depth, 1);
  EXPECT_EQ(shape.fields[6].type.def, f.structs[0]);
  EXPECT_TRUE(shape.fields[7].attrs.string);
  EXPECT_EQ(shape.fields[7].type.array_len, 8u);
  EXPECT_TRUE(shape.fields[8].attrs.string);  // const char* fields default to text too
  EXPECT_EQ(shape.fields[9].attrs.size, 2u);
  ASSERT_EQ(f.params.size(), 3u);
  EXPECT_TRUE(f.params[0].type.is_const);
  EXPECT_EQ(f.params[0].type.def, f.structs[1]);
  EXPECT_EQ(f.params[0].attrs.dir, Direction::In);
  EXPECT_FALSE(f.params[0].attrs.string);
  EXPECT_EQ(f.params[1].attrs.dir, Direction::Out);
  EXPECT_EQ(f.params[2].attrs.dir, Direction::None);  // struct pointer without attributes
}

TEST(Signature, StructNamesDoNotShadowParameterNames) {
  const Function f = parse("struct Point { int x; }; void f(int Point, Point p)");
  EXPECT_EQ(f.params[0].name, "Point");
  EXPECT_EQ(f.params[0].type.scalar, Scalar::Int);
  EXPECT_TRUE(f.params[1].type.is_struct);
}

// ---------------------------------------- parameter lists and surface syntax

TEST(Signature, VariadicUnnamedAndVoidLists) {
  const Function v = parse("int __cdecl fmt(const char* f, ...)");
  EXPECT_TRUE(v.variadic);
  ASSERT_EQ(v.params.size(), 1u);
  EXPECT_EQ(v.params[0].name, "f");
  EXPECT_TRUE(parse("int printf(const char*, int, ...);").variadic);
  EXPECT_FALSE(parse("int f(int a)").variadic);

  const Function u = parse("int f(int, [in] double*, const char*)");
  ASSERT_EQ(u.params.size(), 3u);
  EXPECT_EQ(u.params[0].name, "arg0");
  EXPECT_EQ(u.params[1].name, "arg1");
  EXPECT_EQ(u.params[2].name, "arg2");
  EXPECT_TRUE(u.params[2].attrs.string);

  EXPECT_TRUE(parse("int f(void)").params.empty());
  EXPECT_TRUE(parse("int f( void );").params.empty());
  EXPECT_TRUE(parse("int f()").params.empty());
  EXPECT_EQ(parse("void* f(void*)").params.size(), 1u);
}

TEST(Signature, WhitespaceCommentsAndSemicolon) {
  const Function f = parse(
      "  // leading comment\n"
      "\tstruct /* tag */ S { int a; /* note */ };\r\n"
      "unsigned /* c */ long\nWINAPI\tGet /**/ ( S s , // trailing\n"
      " int b ) ; // done");
  EXPECT_EQ(f.name, "Get");
  EXPECT_EQ(f.ret.scalar, Scalar::ULong);
  EXPECT_EQ(f.conv, CallConv::Stdcall);
  EXPECT_EQ(f.params.size(), 2u);
  EXPECT_EQ(parse("int f()").name, "f");
  EXPECT_EQ(parse("int _f_2(int x_1)").name, "_f_2");
  EXPECT_EQ(parse("int f() /* unterminated? no */").name, "f");
}

// ----------------------------------------------------------------- failures

TEST(Signature, ErrorsCarryTheKindAndPosition) {
  try {
    parse("int f(strng s)");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_signature);
    EXPECT_STREQ(e.what(), "at position 6: unknown type 'strng'");
  }
}

TEST(Signature, LexicalErrors) {
  EXPECT_BAD("int f() /* x", "at position 8: unterminated comment");
  EXPECT_BAD("int f() @", "at position 8: unexpected character '@'");
  EXPECT_BAD("int f() .", "at position 8: unexpected character '.'");
  EXPECT_BAD(std::string("int f(\x01)"), "at position 6: unexpected byte 0x01");
  EXPECT_BAD("int f?(int x)", "at position 5: unexpected character '?'");
  EXPECT_BAD("struct A { char s[12ab]; }; void f()", "at position 18: invalid number '12ab'");
  EXPECT_BAD("struct A { char s[99999999999]; }; void f()",
             "at position 18: number '99999999999' is too large");
}

TEST(Signature, SyntaxErrors) {
  EXPECT_BAD("", "at position 0: expected a type but found end of input");
  EXPECT_BAD("   ", "at position 3: expected a type but found end of input");
  EXPECT_BAD("int", "at position 3: expected the function name but found end of input");
  EXPECT_BAD("int (int x)", "at position 4: expected the function name but found '('");
  EXPECT_BAD("int f", "at position 5: expected '(' but found end of input");
  EXPECT_BAD("int f(int x;", "at position 11: expected ')' but found ';'");
  EXPECT_BAD("int f(int 3x)", "at position 10: expected ')' but found '3x'");
  EXPECT_BAD("int f() x", "at position 8: unexpected 'x' after the declaration");
  EXPECT_BAD("int f();;", "at position 8: unexpected ';' after the declaration");
  EXPECT_BAD("int f(const)", "at position 11: expected a type but found ')'");
  EXPECT_BAD("int f(int a,)", "at position 12: expected a type but found ')'");
  EXPECT_BAD("const f()", "at position 6: unknown type 'f'");
  EXPECT_BAD("int f(strng s)", "at position 6: unknown type 'strng'");
  EXPECT_BAD("typedef int X; int f()", "at position 0: unknown type 'typedef'");
  EXPECT_BAD("int __stdcall __cdecl f()", "at position 14: more than one calling convention");
  EXPECT_BAD("__stdcall int f()",
             "at position 0: calling convention '__stdcall' must come right before the function name");
}

TEST(Signature, BadTypeCombinations) {
  EXPECT_BAD("unsigned signed f()", "at position 9: 'signed' cannot be combined with 'unsigned'");
  EXPECT_BAD("long long long f()", "at position 10: 'long long long' is too long");
  EXPECT_BAD("int int f()", "at position 4: duplicate 'int'");
  EXPECT_BAD("long double f()", "at position 5: 'double' cannot be combined with 'long'");
  EXPECT_BAD("short long f()", "at position 6: 'long' cannot be combined with 'short'");
  EXPECT_BAD("unsigned float f()", "at position 9: 'float' cannot be combined with 'unsigned'");
  EXPECT_BAD("void int f()", "at position 5: 'int' cannot be combined with 'void'");
  EXPECT_BAD("char short f()", "at position 5: 'short' cannot be combined with 'char'");
  EXPECT_BAD("long __int64 f()", "at position 5: '__int64' cannot be combined with 'long'");
  EXPECT_BAD("void void f()", "at position 5: 'void' cannot be combined with 'void'");
  EXPECT_BAD("struct P { int x; }; int struct P f()",
             "at position 25: 'struct' cannot be combined with 'int'");
}

TEST(Signature, BadPointers) {
  EXPECT_BAD("int*** f()", "at position 5: more than two levels of pointer are not supported");
  EXPECT_BAD("void f([in] char*** p)", "at position 18: more than two levels of pointer are not supported");
  EXPECT_BAD("LPSTR** f()", "at position 6: more than two levels of pointer are not supported");
  EXPECT_BAD("void f(int* buf)",
             "at position 12: parameter 'buf' is a pointer to data and needs [in], [out] or [in, out]");
  EXPECT_BAD("void f(int*)",
             "at position 7: parameter 'arg0' is a pointer to data and needs [in], [out] or [in, out]");
  EXPECT_BAD("void f(char* s)",
             "at position 13: parameter 's' is a pointer to data and needs [in], [out] or [in, out]");
  EXPECT_BAD("void f(HANDLE* h)",
             "at position 15: parameter 'h' is a pointer to data and needs [in], [out] or [in, out]");
  EXPECT_BAD("void f(void** p)",
             "at position 14: parameter 'p' is a pointer to data and needs [in], [out] or [in, out]");
  EXPECT_BAD("void f(const int* p)",
             "at position 18: parameter 'p' is a pointer to data and needs [in], [out] or [in, out]");
  EXPECT_BAD("void f(const unsigned char* p)",
             "at position 28: parameter 'p' is a pointer to data and needs [in], [out] or [in, out]");
  EXPECT_BAD("void f([string] void* p)",
             "at position 22: parameter 'p' is a pointer to data and needs [in], [out] or [in, out]");
  EXPECT_BAD("void f([string] char* p)",
             "at position 22: parameter 'p' is a pointer to data and needs [in], [out] or [in, out]");
  EXPECT_BAD("void f([size_is(n)] const char* p, int n)",
             "at position 32: parameter 'p' is a pointer to data and needs [in], [out] or [in, out]");
}

TEST(Signature, BadAttributes) {
  EXPECT_BAD("void f([foo] int* p)", "at position 8: unknown attribute 'foo'");
  EXPECT_BAD("void f([in, unique] int* p)", "at position 12: unknown attribute 'unique'");
  EXPECT_BAD("void f([] int* p)", "at position 8: expected an attribute but found ']'");
  EXPECT_BAD("void f([in int* p)", "at position 11: expected ']' but found 'int'");
  EXPECT_BAD("void f([in,] int* p)", "at position 11: expected an attribute but found ']'");
  EXPECT_BAD("void f([in, in] int* p)", "at position 12: 'in' repeats a direction already given");
  EXPECT_BAD("void f([out][out] int* p)", "at position 13: 'out' repeats a direction already given");
  EXPECT_BAD("void f([inout, out] int* p)", "at position 15: 'out' repeats a direction already given");
  EXPECT_BAD("void f([in][inout] int* p)", "at position 12: 'inout' repeats a direction already given");
  EXPECT_BAD("void f([in, string, string] char* p)", "at position 20: duplicate attribute 'string'");
  EXPECT_BAD("void f([size_is(n), size_is(n)] int* p, int n)",
             "at position 20: duplicate attribute 'size_is'");
  EXPECT_BAD("void f([size(1), size(2)] int* p)", "at position 17: duplicate attribute 'size'");
  EXPECT_BAD("void f([size_is(n), size(4)] int* p, int n)",
             "at position 20: 'size' and 'size_is' cannot both be given");
  EXPECT_BAD("void f([in, size(0)] int* p)", "at position 17: size must be greater than 0");
  EXPECT_BAD("void f([in, size(n)] int* p)", "at position 17: expected a number but found 'n'");
  EXPECT_BAD("void f([in, size 4] int* p)", "at position 17: expected '(' but found '4'");
  EXPECT_BAD("void f([size_is(n] int* p)", "at position 17: expected ')' but found ']'");
  EXPECT_BAD("void f([size_is(3)] int* p)",
             "at position 16: expected a parameter or field name but found '3'");
  EXPECT_BAD("void f([in, out] int n)",
             "at position 12: [out] needs a pointer, but parameter 'n' is not one");
  EXPECT_BAD("void f([inout] int n)", "at position 8: [out] needs a pointer, but parameter 'n' is not one");
  EXPECT_BAD("void f([in, size_is(n)] int x, int n)",
             "at position 12: [size_is] needs a pointer, but parameter 'x' is not one");
  EXPECT_BAD("void f([size(4)] int x)",
             "at position 8: [size] needs a pointer, but parameter 'x' is not one");
  EXPECT_BAD("void f([string] int n)",
             "at position 8: [string] needs a pointer or an array, but parameter 'n' is neither");
  EXPECT_BAD("void f([in] ...)", "at position 12: expected a type but found '...'");
}

TEST(Signature, BadSizeIsTargets) {
  EXPECT_BAD("void f([out, size_is(count)] int* buf)",
             "at position 21: size_is(count) names no parameter of function 'f'");
  EXPECT_BAD("void f([in] int* n, [out, size_is(n)] int* buf)",
             "at position 34: size_is(n) must name an integer parameter, but 'n' is not one");
  EXPECT_BAD("void f(double n, [out, size_is(n)] int* buf)",
             "at position 31: size_is(n) must name an integer parameter, but 'n' is not one");
  EXPECT_BAD("void f(bool n, [out, size_is(n)] int* buf)",
             "at position 29: size_is(n) must name an integer parameter, but 'n' is not one");
  EXPECT_BAD("void f(HANDLE n, [out, size_is(n)] int* buf)",
             "at position 31: size_is(n) must name an integer parameter, but 'n' is not one");
  EXPECT_BAD("void f([out, size_is(buf)] int* buf)",
             "at position 21: size_is(buf) must name an integer parameter, but 'buf' is not one");
  EXPECT_BAD("struct A { [size_is(m)] int* p; int n; }; void f()",
             "at position 20: size_is(m) names no field of struct 'A'");
  EXPECT_BAD("struct A { [size_is(d)] int* p; double d; }; void f()",
             "at position 20: size_is(d) must name an integer field, but 'd' is not one");
  EXPECT_BAD("struct A { int n[2]; [size_is(n)] int* p; }; void f()",
             "at position 30: size_is(n) must name an integer field, but 'n' is not one");
  // A parameter's size_is does not see struct fields, and the reverse.
  EXPECT_BAD("struct A { int n; }; void f(struct A a, [out, size_is(n)] int* p)",
             "at position 54: size_is(n) names no parameter of function 'f'");
}

TEST(Signature, BadParameterLists) {
  EXPECT_BAD("void f(void x)", "at position 7: parameter 'x' has type void");
  EXPECT_BAD("void f(int a, void)", "at position 14: parameter 'arg1' has type void");
  EXPECT_BAD("void f([in] void)", "at position 12: parameter 'arg0' has type void");
  EXPECT_BAD("void f(void, ...)", "at position 7: parameter 'arg0' has type void");
  EXPECT_BAD("void f(void, int)", "at position 7: parameter 'arg0' has type void");
  EXPECT_BAD("void f(int a, int a)", "at position 18: duplicate parameter name 'a'");
  EXPECT_BAD("void f(int arg1, int)", "at position 17: duplicate parameter name 'arg1'");
  EXPECT_BAD("void f(...)", "at position 7: '...' must follow at least one parameter");
  EXPECT_BAD("void f(int a, ..., int b)", "at position 17: expected ')' but found ','");
  EXPECT_BAD("void f(int a...)", "at position 12: expected ')' but found '...'");
  EXPECT_BAD("void f(int a[4])",
             "at position 12: arrays are only allowed in struct fields; use a pointer with [size(N)]");
  EXPECT_BAD("void f(int [4])",
             "at position 11: arrays are only allowed in struct fields; use a pointer with [size(N)]");
}

TEST(Signature, BadStructs) {
  EXPECT_BAD("struct P { int x; }; struct Q f()", "at position 28: struct 'Q' is used before it is defined");
  EXPECT_BAD("void f(struct Q* q)", "at position 14: struct 'Q' is used before it is defined");
  EXPECT_BAD("void f(Q* q)", "at position 7: unknown type 'Q'");
  EXPECT_BAD("void f(struct P p); struct P { int x; };",
             "at position 14: struct 'P' is used before it is defined");
  EXPECT_BAD("struct P { int x; }; struct P { int y; }; void f()",
             "at position 28: struct 'P' is defined twice");
  EXPECT_BAD("struct P { void v; }; void f()", "at position 11: field 'v' has type void");
  EXPECT_BAD("struct N { struct N* next; }; void f()", "at position 18: struct 'N' cannot contain itself");
  EXPECT_BAD("struct N { N inner; }; void f()", "at position 11: unknown type 'N'");
  EXPECT_BAD("struct E { }; void f()", "at position 7: struct 'E' has no fields");
  EXPECT_BAD("struct A { char name[0]; }; void f()", "at position 21: array length must be greater than 0");
  EXPECT_BAD("struct A { char name[n]; }; void f()",
             "at position 21: expected an array length but found 'n'");
  EXPECT_BAD("struct A { char name[4; }; void f()", "at position 22: expected ']' but found ';'");
  EXPECT_BAD("struct A { char name[2][2]; }; void f()", "at position 23: expected ';' but found '['");
  EXPECT_BAD("struct A { int x; int x; }; void f()", "at position 22: duplicate field name 'x'");
  EXPECT_BAD("struct A { int x, x; }; void f()", "at position 18: duplicate field name 'x'");
  EXPECT_BAD("struct A { [out] int n; }; void f()",
             "at position 12: [out] needs a pointer, but field 'n' is not one");
  EXPECT_BAD("struct A { [in] char s[4]; [size(2)] int a[2]; }; void f()",
             "at position 28: [size] needs a pointer, but field 'a' is not one");
  EXPECT_BAD("struct A { int x }; void f()", "at position 17: expected ';' but found '}'");
  EXPECT_BAD("struct A { int x; } void f()", "at position 20: expected ';' but found 'void'");
  EXPECT_BAD("struct A { int; }; void f()", "at position 14: expected a field name but found ';'");
  EXPECT_BAD("struct A { int x;", "at position 17: expected a type but found end of input");
  EXPECT_BAD("struct { int x; }; void f()", "at position 7: expected a struct name but found '{'");
  EXPECT_BAD("struct int { int x; }; void f()", "at position 7: expected a struct name but found 'int'");
  EXPECT_BAD("struct A { int*** p; }; void f()",
             "at position 16: more than two levels of pointer are not supported");
}

// The parsed declaration as the client's declaration tree, attributes resolved.
TEST(SignatureLowering, AttributesAreResolvedIntoTheTree) {
  using dllbridge::Dir;
  using dllbridge::TypeDecl;
  const dllbridge::FunctionDecl d = dllbridge::sig::lower(parse(
      "struct node { int n; [size_is(n)] int* xs; void* user; }; "
      "char* __stdcall f(void* opaque, [in] struct node* in, const wchar_t* w, [out, size(4)] char* buf, "
      "[out, size_is(*)] int* any, [in] int** raw, ...)"));
  EXPECT_EQ(d.name, "f");
  EXPECT_EQ(d.conv, CallConv::Stdcall);
  EXPECT_TRUE(d.variadic);
  EXPECT_EQ(d.ret.kind, TypeDecl::Kind::pointer) << "char* returns are text";
  EXPECT_TRUE(d.ret.text);
  ASSERT_EQ(d.params.size(), 6u);
  EXPECT_EQ(d.params[0].type.kind, TypeDecl::Kind::scalar) << "an opaque void* is a handle value";
  EXPECT_EQ(d.params[0].type.scalar, Scalar::Handle);
  const TypeDecl& node = *d.params[1].type.elem;
  EXPECT_EQ(node.struct_name, "node");
  ASSERT_EQ(node.fields.size(), 3u);
  EXPECT_EQ(node.fields[1].type.dir, Dir::inout) << "pointer fields are filled in and read back";
  EXPECT_EQ(node.fields[1].type.size_is, "n");
  EXPECT_EQ(node.fields[2].type.scalar, Scalar::Handle);
  EXPECT_TRUE(d.params[2].type.text && d.params[2].type.nul_terminated) << "const wchar_t* is [in, string]";
  EXPECT_EQ(d.params[3].type.size, 4u);
  EXPECT_TRUE(d.params[3].type.text);
  EXPECT_FALSE(d.params[3].type.nul_terminated);
  EXPECT_EQ(d.params[4].type.size_is, "*");
  EXPECT_EQ(d.params[5].type.elem->kind, TypeDecl::Kind::pointer) << "kept for the checks to refuse";
}
