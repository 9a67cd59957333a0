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
      {"__cdecl", CallConv::Cdecl},       {"_cdecl", CallConv::Cdecl},
      {"cdecl", CallConv::Cdecl},         {"__stdcall", CallConv::Stdcall},
      {"_stdcall", CallConv::Stdcall},    {"stdcall", CallConv::Stdcall},
      {"WINAPI", CallConv::Stdcall},      {"CALLBACK", CallConv::Stdcall},
      {"APIENTRY", CallConv::Stdcall},    {"NTAPI", CallConv::Stdcall},
      {"PASCAL", CallConv::Stdcall},      {"CDECL", CallConv::Cdecl},
      {"WINAPIV", CallConv::Cdecl},       {"__fastcall", CallConv::Fastcall},
      {"__thiscall", CallConv::Thiscall},
  };
  for (const auto& [word, conv] : cases) {
    SCOPED_TRACE(word);
    const Function f = parse(std::string("int ") + word + " add(int a, int b)");
    EXPECT_EQ(f.conv, conv);
    EXPECT_EQ(f.name, "add");
    EXPECT_EQ(f.params.size(), 2u);
    // The same spellings inside a function-pointer declarator, inline and in a typedef.
    const Function g = parse(std::string("int each(int (") + word + " *f)(int x))");
    ASSERT_TRUE(g.params[0].type.callback);
    EXPECT_EQ(g.params[0].type.callback->conv, conv);
    const Function h = parse(std::string("typedef int (") + word + " *P)(int x); int each(P f)");
    ASSERT_TRUE(h.params[0].type.callback);
    EXPECT_EQ(h.params[0].type.callback->conv, conv);
  }
  EXPECT_EQ(parse("int each(int (*f)(int x))").params[0].type.callback->conv, CallConv::Cdecl);
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
  EXPECT_BAD("typedef int X int f()", "at position 14: expected ';' but found 'int'");
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

// ------------------------------------------------ function pointers (callbacks)

namespace {

using dllbridge::Dir;
using dllbridge::FunctionDecl;
using dllbridge::TypeDecl;
using dllbridge::sig::lower;

// The declaration of the function pointer in parameter `i` of `f` (fails the test when there is none).
const Function& callback_of(const Function& f, std::size_t i) {
  static const Function none;
  if (i >= f.params.size() || !f.params[i].type.callback) {
    ADD_FAILURE() << "parameter " << i << " of " << f.name << " is not a function pointer";
    return none;
  }
  return *f.params[i].type.callback;
}

}  // namespace

TEST(SignatureCallbacks, FunctionPointerParameters) {
  const Function f = parse(
      "int sort_i32([in, out, size_is(n)] int32_t* v, int32_t n, "
      "int32_t (*cmp)(const int32_t* a, const int32_t* b))");
  ASSERT_EQ(f.params.size(), 3u);
  EXPECT_EQ(f.params[2].name, "cmp");
  const Function& cmp = callback_of(f, 2);
  EXPECT_EQ(cmp.name, "cmp") << "an inline function pointer is named after its parameter";
  EXPECT_EQ(cmp.conv, CallConv::Cdecl);
  EXPECT_EQ(cmp.ret.scalar, Scalar::Int32);
  EXPECT_FALSE(cmp.variadic);
  EXPECT_EQ(cmp.depth, 1);
  ASSERT_EQ(cmp.params.size(), 2u);
  EXPECT_EQ(cmp.params[0].name, "a");
  EXPECT_EQ(cmp.params[1].name, "b");
  EXPECT_EQ(cmp.params[0].type.pointer_depth, 1);
  EXPECT_TRUE(cmp.params[0].type.is_const);
  EXPECT_EQ(cmp.params[0].attrs.dir, Direction::In) << "a callback's pointers are [in] by default";
  EXPECT_EQ(f.params[2].type.pointer_depth, 0);
  EXPECT_FALSE(f.params[2].attrs.persistent);

  // Convention inside the parentheses, unnamed parameters inside, no name at all, a const pointer.
  const Function g = parse(
      "int32_t __stdcall g(int32_t (__stdcall *cmp)(const int32_t*, const int32_t*), void (*)(int), "
      "int (* const last)(void))");
  ASSERT_EQ(g.params.size(), 3u);
  EXPECT_EQ(callback_of(g, 0).conv, CallConv::Stdcall);
  EXPECT_EQ(callback_of(g, 0).params[0].name, "arg0");
  EXPECT_EQ(callback_of(g, 0).params[1].name, "arg1");
  EXPECT_EQ(g.params[1].name, "arg1") << "an unnamed function pointer is named by its position";
  EXPECT_EQ(callback_of(g, 1).name, "arg1");
  EXPECT_EQ(callback_of(g, 1).ret.scalar, Scalar::Void);
  EXPECT_EQ(callback_of(g, 1).params[0].name, "arg0");
  EXPECT_EQ(g.params[2].name, "last");
  EXPECT_TRUE(callback_of(g, 2).params.empty()) << "(void) is no parameters";

  // A lone unnamed `void (*)(void)` is a parameter, not "(void)".
  const Function h = parse("void h(void (*)(void))");
  ASSERT_EQ(h.params.size(), 1u);
  EXPECT_TRUE(h.params[0].type.callback);

  // Stars before the declarator belong to the callback's return type.
  const Function r = parse("void r(const char* (*name_of)(int id))");
  EXPECT_EQ(callback_of(r, 0).ret.pointer_depth, 1);
  EXPECT_EQ(callback_of(r, 0).ret.scalar, Scalar::Char);
}

TEST(SignatureCallbacks, PersistentAttribute) {
  const Function f = parse(
      "void set_event_handler([persistent] void (*f)(int32_t source, int32_t seq, void* ctx), void* ctx)");
  EXPECT_TRUE(f.params[0].attrs.persistent);
  EXPECT_FALSE(f.params[1].attrs.persistent);
  const FunctionDecl d = lower(f);
  EXPECT_EQ(d.params[0].type.kind, TypeDecl::Kind::callback);
  EXPECT_TRUE(d.params[0].type.persistent);
  EXPECT_FALSE(lower(parse("void g(void (*f)(int x))")).params[0].type.persistent)
      << "call-scoped by default";
  // With a typedef'd type and with other attribute groups around it.
  const Function g = parse("typedef void (*handler_t)(int x); void g([persistent] handler_t h)");
  EXPECT_TRUE(g.params[0].attrs.persistent);
  EXPECT_TRUE(lower(g).params[0].type.persistent);
}

TEST(SignatureCallbacks, FunctionPointerFields) {
  const Function f = parse(
      "struct ops { int (*cmp)(const int*, const int*); void* ctx; [persistent] void (__stdcall *log)(const "
      "char* line), *(*alloc)(size_t n); }; int run([in] struct ops* o)");
  const dllbridge::sig::StructDef& ops = *f.structs.at(0);
  ASSERT_EQ(ops.fields.size(), 4u);
  EXPECT_EQ(ops.fields[0].name, "cmp");
  ASSERT_TRUE(ops.fields[0].type.callback);
  EXPECT_EQ(ops.fields[0].type.callback->name, "cmp");
  EXPECT_EQ(ops.fields[0].type.callback->params[1].attrs.dir, Direction::In);
  EXPECT_EQ(ops.fields[2].name, "log");
  EXPECT_TRUE(ops.fields[2].attrs.persistent);
  EXPECT_EQ(ops.fields[2].type.callback->conv, CallConv::Stdcall);
  EXPECT_TRUE(ops.fields[2].type.callback->params[0].attrs.string);
  EXPECT_EQ(ops.fields[3].name, "alloc") << "declarators share the base type and attributes";
  EXPECT_TRUE(ops.fields[3].attrs.persistent);
  EXPECT_EQ(ops.fields[3].type.callback->ret.scalar, Scalar::Void);
  EXPECT_EQ(ops.fields[3].type.callback->ret.pointer_depth, 1);

  const FunctionDecl d = lower(f);
  const TypeDecl& s = *d.params[0].type.elem;
  ASSERT_EQ(s.fields.size(), 4u);
  EXPECT_EQ(s.fields[0].type.kind, TypeDecl::Kind::callback);
  EXPECT_EQ(s.fields[0].type.callback->name, "cmp");
  EXPECT_FALSE(s.fields[0].type.persistent);
  EXPECT_EQ(s.fields[1].type.scalar, Scalar::Handle);
  EXPECT_TRUE(s.fields[2].type.persistent);
}

TEST(SignatureCallbacks, CallbackParametersAreInOnlyByDefault) {
  const Function f = parse(
      "struct P { int x; }; "
      "int f(int (*g)(const int32_t* a, int* b, const char* s, char* t, [size_is(n)] const double* v, int n, "
      "void* h, struct P* p, [out] int* r, [in, out] int* io, HANDLE* hp, const wchar_t* w))");
  const Function& g = callback_of(f, 0);
  ASSERT_EQ(g.params.size(), 12u);
  EXPECT_EQ(g.params[1].attrs.dir, Direction::In) << "even without const";
  EXPECT_TRUE(g.params[2].attrs.string);
  EXPECT_EQ(g.params[6].attrs.dir, Direction::None) << "void* stays an opaque handle";
  EXPECT_EQ(g.params[8].attrs.dir, Direction::Out) << "an explicit direction is kept as written";
  EXPECT_EQ(g.params[9].attrs.dir, Direction::InOut);

  const FunctionDecl d = lower(f);
  const TypeDecl& cb = d.params[0].type;
  ASSERT_EQ(cb.kind, TypeDecl::Kind::callback);
  const auto& ps = cb.callback->params;
  ASSERT_EQ(ps.size(), 12u);
  // [in] pointer to one element.
  EXPECT_EQ(ps[0].type.kind, TypeDecl::Kind::pointer);
  EXPECT_EQ(ps[0].type.dir, Dir::in);
  EXPECT_EQ(ps[0].type.elem->scalar, Scalar::Int32);
  EXPECT_EQ(ps[0].type.size, 0u);
  EXPECT_TRUE(ps[0].type.size_is.empty());
  EXPECT_EQ(ps[1].type.dir, Dir::in);
  // Text, as for a forward call.
  EXPECT_TRUE(ps[2].type.text && ps[2].type.nul_terminated);
  EXPECT_EQ(ps[2].type.dir, Dir::in);
  EXPECT_TRUE(ps[3].type.text && ps[3].type.nul_terminated) << "[in] char* is text";
  // Counted by a sibling of the callback.
  EXPECT_EQ(ps[4].type.dir, Dir::in);
  EXPECT_EQ(ps[4].type.size_is, "n");
  EXPECT_FALSE(ps[4].type.text);
  EXPECT_EQ(ps[6].type.kind, TypeDecl::Kind::scalar);
  EXPECT_EQ(ps[6].type.scalar, Scalar::Handle);
  EXPECT_EQ(ps[7].type.dir, Dir::in);
  EXPECT_EQ(ps[7].type.elem->struct_name, "P");
  EXPECT_EQ(ps[8].type.dir, Dir::out);
  EXPECT_EQ(ps[9].type.dir, Dir::inout);
  EXPECT_EQ(ps[10].type.dir, Dir::in);
  EXPECT_EQ(ps[10].type.elem->scalar, Scalar::Handle);
  EXPECT_TRUE(ps[11].type.text);

  // Outside a callback the rules are unchanged.
  EXPECT_BAD("int f(int* b)",
             "at position 11: parameter 'b' is a pointer to data and needs [in], [out] or [in, out]");
}

TEST(SignatureCallbacks, CallbackReturnsAndNesting) {
  const FunctionDecl d = lower(
      parse("struct sample_point { int32_t x; int32_t y; }; "
            "int f(struct sample_point (*a)(int i), double (*b)(void), void (*c)(int (*inner)(int k)))"));
  EXPECT_EQ(d.params[0].type.callback->ret.kind, TypeDecl::Kind::structure);
  EXPECT_EQ(d.params[0].type.callback->ret.struct_name, "sample_point");
  EXPECT_EQ(d.params[1].type.callback->ret.scalar, Scalar::Double);
  EXPECT_EQ(d.params[2].type.callback->ret.scalar, Scalar::Void);
  const TypeDecl& inner = d.params[2].type.callback->params.at(0).type;
  EXPECT_EQ(inner.kind, TypeDecl::Kind::callback);
  EXPECT_EQ(inner.callback->name, "inner");
  // A function pointer returned by the function itself is a number, like other returned pointers.
  const FunctionDecl r = lower(parse("typedef int (*cmp_t)(int a); cmp_t pick(int which)"));
  EXPECT_EQ(r.ret.kind, TypeDecl::Kind::scalar);
  EXPECT_EQ(r.ret.scalar, Scalar::Handle);
}

TEST(SignatureCallbacks, Errors) {
  EXPECT_BAD("int f(int (*g)(int a, ...))", "at position 22: a function pointer cannot be variadic ('...')");
  EXPECT_BAD("typedef int (*v_t)(const char* f, ...); int f(v_t v)",
             "at position 34: a function pointer cannot be variadic ('...')");
  EXPECT_BAD("void f([persistent] int x)",
             "at position 8: [persistent] needs a function pointer, but parameter 'x' is not one");
  EXPECT_BAD("void f([persistent] void* p)",
             "at position 8: [persistent] needs a function pointer, but parameter 'p' is not one");
  EXPECT_BAD("struct S { [persistent] int n; }; void f()",
             "at position 12: [persistent] needs a function pointer, but field 'n' is not one");
  EXPECT_BAD("void f(int (*g)([persistent] int x))",
             "at position 17: [persistent] needs a function pointer, but parameter 'x' is not one");
  EXPECT_BAD("void f([persistent, persistent] void (*g)(void))",
             "at position 20: duplicate attribute 'persistent'");
  EXPECT_BAD("void f([in] int (*g)(int))",
             "at position 8: parameter 'g' is a function pointer: its only attribute is [persistent]");
  EXPECT_BAD("void f([persistent, size(2)] int (*g)(int))",
             "at position 20: parameter 'g' is a function pointer: its only attribute is [persistent]");
  EXPECT_BAD("void f(int (**g)(int))", "at position 13: pointers to function pointers are not supported");
  EXPECT_BAD("typedef int (*cmp_t)(int); void f([in] cmp_t* g)",
             "at position 44: pointers to function pointers are not supported");
  EXPECT_BAD("void f(int (*g[2])(int))", "at position 14: arrays of function pointers are not supported");
  EXPECT_BAD("typedef int (*cmp_t)(int); struct S { cmp_t g[2]; }; void f()",
             "at position 45: arrays of function pointers are not supported");
  EXPECT_BAD("void f(int (g)(int))", "at position 12: expected '*' but found 'g'");
  EXPECT_BAD("void f(int (*g))", "at position 15: expected '(' and the parameters of function pointer 'g'");
  EXPECT_BAD("void f(int (*g)(int a, int a))", "at position 27: duplicate parameter name 'a'");
  EXPECT_BAD("void f(int (__stdcall __cdecl *g)(int))", "at position 22: more than one calling convention");
  EXPECT_BAD(
      "void f(int __stdcall (*g)(int))",
      "at position 11: calling convention '__stdcall' belongs inside the parentheses: '(__stdcall *name)'");
  EXPECT_BAD("struct S { int WINAPI (*g)(int); }; void f()",
             "at position 15: calling convention 'WINAPI' belongs inside the parentheses: '(WINAPI *name)'");
  EXPECT_BAD("void f(int (*g)([size_is(m)] const int* v, int n), int m)",
             "at position 25: size_is(m) names no parameter of function pointer 'g'");
  EXPECT_BAD("struct S { int (*)(int); }; void f()", "at position 17: expected a field name but found ')'");
  EXPECT_BAD(
      "void f(int (*g)(void (*h)(void (*i)(void (*j)(void (*k)(void (*l)(void (*m)(void (*n)(void "
      "(*o)(void))))))))))",
      "at position 91: function pointers nest more than 8 levels deep");
  // Through typedefs, each one shallow: the depth adds up all the same.
  std::string chain = "typedef void (*t0)(int x);";
  for (int i = 1; i <= 8; ++i)
    chain += " typedef void (*t" + std::to_string(i) + ")(t" + std::to_string(i - 1) + " x);";
  EXPECT_BAD(chain + " void f(t8 x)", "at position 222: function pointers nest more than 8 levels deep");
  EXPECT_EQ(callback_of(parse(chain.substr(0, chain.rfind(" typedef")) + " void f(t7 x)"), 0).depth, 8);
  // And through struct fields that hold function pointers.
  std::string structs = "struct s0 { void (*f)(int x); };";
  for (int i = 1; i <= 8; ++i)
    structs +=
        " struct s" + std::to_string(i) + " { void (*f)([in] struct s" + std::to_string(i - 1) + "* p); };";
  EXPECT_BAD(structs + " void f()", "at position " + std::to_string(structs.rfind("(*f)")) +
                                        ": function pointers nest more than 8 levels deep");
}

// ------------------------------------------------------------------ typedefs

TEST(SignatureTypedefs, FunctionPointerTypedefs) {
  const Function f = parse(
      "typedef BOOL (CALLBACK *ENUMPROC)(int index, void* ctx);\n"
      "int32_t __stdcall enum_items(int32_t count, ENUMPROC proc, void* ctx)");
  EXPECT_EQ(f.conv, CallConv::Stdcall);
  EXPECT_EQ(f.params[1].name, "proc");
  const Function& proc = callback_of(f, 1);
  EXPECT_EQ(proc.name, "ENUMPROC") << "a typedef'd function pointer is named after its typedef";
  EXPECT_EQ(proc.conv, CallConv::Stdcall);
  EXPECT_EQ(proc.ret.scalar, Scalar::BOOL);
  ASSERT_EQ(proc.params.size(), 2u);
  EXPECT_EQ(proc.params[1].name, "ctx");

  const Function g = parse(
      "typedef int (*cmp_t)(const int*, const int*);\n"
      "void sort_both(cmp_t first, [persistent] cmp_t second, const cmp_t third)");
  EXPECT_EQ(callback_of(g, 0).conv, CallConv::Cdecl) << "cdecl by default";
  EXPECT_EQ(callback_of(g, 0).name, "cmp_t");
  EXPECT_EQ(callback_of(g, 0).params[0].name, "arg0");
  EXPECT_EQ(g.params[0].type.callback, g.params[1].type.callback) << "one declaration, shared";
  EXPECT_TRUE(g.params[2].type.callback);
  // A typedef'd function pointer as a struct field and as a callback's parameter.
  const Function h = parse(
      "typedef void (*log_t)(const char* line); struct sink { log_t log; void* ctx; };\n"
      "void set_sink([in] const struct sink* s, void (*each)(log_t log))");
  EXPECT_EQ(h.structs[0]->fields[0].type.callback->name, "log_t");
  EXPECT_EQ(callback_of(h, 1).params[0].type.callback->name, "log_t");
  EXPECT_EQ(callback_of(h, 1).depth, 2);
}

TEST(SignatureTypedefs, StructTypedefs) {
  // Anonymous: named by the typedef, also through pointer typedefs declared with it.
  const Function a = parse(
      "typedef struct { int32_t x; int32_t y; } Point, *PPoint;\n"
      "int32_t a(Point p, [in] const Point* q, [out] PPoint r, Point (*make)(int k))");
  ASSERT_EQ(a.structs.size(), 1u);
  EXPECT_EQ(a.structs[0]->name, "Point");
  EXPECT_EQ(a.params[0].type.def, a.structs[0]);
  EXPECT_EQ(a.params[0].type.pointer_depth, 0);
  EXPECT_EQ(a.params[1].type.def, a.structs[0]);
  EXPECT_EQ(a.params[2].type.def, a.structs[0]);
  EXPECT_EQ(a.params[2].type.pointer_depth, 1);
  EXPECT_EQ(callback_of(a, 3).ret.def, a.structs[0]);
  EXPECT_EQ(lower(a).params[0].type.struct_name, "Point");

  // Named after its first typedef name that is not a pointer; with none, pointers only.
  const Function a2 = parse(
      "typedef struct { int x; } *PS, S; typedef struct { int y; } *PT; void a2([in] PS p, S s, [out] PT t)");
  EXPECT_EQ(a2.structs[0]->name, "S");
  EXPECT_EQ(a2.params[0].type.def, a2.structs[0]);
  EXPECT_EQ(a2.params[1].type.def, a2.structs[0]);
  EXPECT_EQ(a2.params[2].type.def, a2.structs[1]);
  EXPECT_EQ(a2.params[2].type.pointer_depth, 1);
  EXPECT_EQ(a2.structs[1]->fields[0].name, "y");

  // Tagged: both names usable, also `tag` alone as before.
  const Function b = parse(
      "typedef struct tag_rect { int l, t, r, b; } RECT, *LPRECT;\n"
      "void b(RECT x, struct tag_rect y, tag_rect z, [in, out] LPRECT w)");
  ASSERT_EQ(b.structs.size(), 1u);
  EXPECT_EQ(b.structs[0]->name, "tag_rect");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b.params[i].type.def, b.structs[0]) << i;
  EXPECT_EQ(lower(b).params[0].type.struct_name, "tag_rect");

  // An alias of a struct defined before, and the C idiom `typedef struct node node;`.
  const Function c = parse(
      "struct sample_point { int32_t x; int32_t y; }; typedef struct sample_point Point;\n"
      "typedef struct sample_point sample_point; typedef struct node { int v; } node;\n"
      "void c(Point p, sample_point q, node n)");
  EXPECT_EQ(c.params[0].type.def, c.structs[0]);
  EXPECT_EQ(c.params[1].type.def, c.structs[0]);
  EXPECT_EQ(c.params[2].type.def, c.structs[1]);
  // A typedef'd struct inside another struct.
  const Function d =
      parse("typedef struct { int x; int y; } P; typedef struct { P tl; P br; } R; void d([in, out] R* r)");
  EXPECT_EQ(d.structs[1]->fields[0].type.def, d.structs[0]);
}

TEST(SignatureTypedefs, ScalarTypedefs) {
  const Function f = parse(
      "typedef unsigned long ULONG; typedef ULONG DWORD_ALIAS; typedef DWORD_ALIAS* PDWORD_ALIAS;\n"
      "typedef void* HWND; typedef HANDLE HKEY; typedef const char* LPCTSTR; typedef signed char i8;\n"
      "typedef unsigned long DWORD; typedef int BOOL; typedef int32_t int32_t; typedef unsigned int "
      "uint32_t;\n"
      "BOOL g(ULONG a, DWORD_ALIAS b, [out] PDWORD_ALIAS c, HWND d, HKEY e, LPCTSTR f, i8 g, DWORD h, "
      "const i8 k, uint32_t m)");
  EXPECT_EQ(f.ret.scalar, Scalar::BOOL) << "BOOL keeps its built-in meaning";
  EXPECT_EQ(f.params[0].type.scalar, Scalar::ULong);
  EXPECT_EQ(f.params[1].type.scalar, Scalar::ULong) << "typedefs chain";
  EXPECT_EQ(f.params[2].type.scalar, Scalar::ULong);
  EXPECT_EQ(f.params[2].type.pointer_depth, 1);
  EXPECT_EQ(f.params[3].type.scalar, Scalar::Void);
  EXPECT_EQ(f.params[3].type.pointer_depth, 1);
  EXPECT_EQ(f.params[4].type.scalar, Scalar::Handle);
  EXPECT_EQ(f.params[5].type.scalar, Scalar::Char);
  EXPECT_TRUE(f.params[5].type.is_const);
  EXPECT_EQ(f.params[5].attrs.dir, Direction::In) << "the text default applies through a typedef";
  EXPECT_TRUE(f.params[5].attrs.string);
  EXPECT_EQ(f.params[6].type.scalar, Scalar::SChar);
  EXPECT_EQ(f.params[7].type.scalar, Scalar::DWORD) << "windows.h's own DWORD typedef changes nothing";
  EXPECT_TRUE(f.params[8].type.is_const);
  EXPECT_EQ(f.params[9].type.scalar, Scalar::UInt32);

  const FunctionDecl d = lower(f);
  EXPECT_EQ(d.params[3].type.scalar, Scalar::Handle) << "a void* typedef is a handle";
  EXPECT_EQ(d.params[4].type.scalar, Scalar::Handle);
  EXPECT_TRUE(d.params[5].type.text);
  EXPECT_EQ(d.params[2].type.dir, Dir::out);

  // `const PCHAR` is `char* const`, as for the built-in LPSTR.
  const Function p = parse("typedef char* PCHAR; void p([in] const PCHAR s)");
  EXPECT_FALSE(p.params[0].type.is_const);
  // The same typedef twice is allowed (C11), and typedef names may still name parameters.
  const Function q = parse("typedef int I; typedef int I; void q(I I2, int I3)");
  EXPECT_EQ(q.params.size(), 2u);
}

TEST(SignatureTypedefs, Errors) {
  EXPECT_BAD("typedef int DWORD; void f()", "at position 12: 'DWORD' is already a type");
  EXPECT_BAD("typedef char int32_t; void f()", "at position 13: 'int32_t' is already a type");
  EXPECT_BAD("typedef int I; typedef long I; void f()", "at position 28: 'I' is already a type");
  EXPECT_BAD("struct S { int x; }; typedef int S; void f()", "at position 33: 'S' is already a type");
  EXPECT_BAD("typedef int (*typedef)(int); void f()",
             "at position 14: expected a typedef name but found 'typedef'");
  EXPECT_BAD("typedef int WINAPI; void f()",
             "at position 12: 'WINAPI' is a calling convention, not a type name");
  EXPECT_BAD("typedef foo_t bar_t; void f()", "at position 8: unknown type 'foo_t'");
  EXPECT_BAD("typedef A B; typedef int A; void f()", "at position 8: unknown type 'A'");
  EXPECT_BAD("void f(ENUMPROC p); typedef int (*ENUMPROC)(int i)", "at position 7: unknown type 'ENUMPROC'");
  EXPECT_BAD("typedef struct later L; struct later { int x; }; void f()",
             "at position 15: struct 'later' is used before it is defined");
  EXPECT_BAD("typedef int; void f()", "at position 11: expected a typedef name but found ';'");
  EXPECT_BAD("typedef int (*)(int); void f()", "at position 14: expected a typedef name but found ')'");
  EXPECT_BAD("typedef char NAME[16]; void f()", "at position 17: array typedefs are not supported");
  EXPECT_BAD("typedef int X void f()", "at position 14: expected ';' but found 'void'");
  EXPECT_BAD("typedef struct { int x; }; void f()", "at position 25: expected a typedef name but found ';'");
  EXPECT_BAD("typedef struct { } E; void f()", "at position 8: anonymous struct has no fields");
  EXPECT_BAD("struct P { int x; }; typedef struct P { int y; } Q; void f()",
             "at position 36: struct 'P' is defined twice");
  EXPECT_BAD("struct P { int x; }; typedef struct { int y; } P; void f()",
             "at position 47: struct 'P' is defined twice");
  EXPECT_BAD("typedef struct { int x; } P; struct P { int y; }; void f()",
             "at position 36: struct 'P' is defined twice");
}

// The exact declarations of sample-dll's callback exports, lowered.
TEST(SignatureCallbacks, SampleDllExports) {
  const std::string cmp_typedef = "typedef int32_t (*sample_cmp)(const int32_t* a, const int32_t* b);\n";
  const std::string enum_typedef = "typedef int32_t (CALLBACK *ENUMPROC)(int32_t index, void* ctx);\n";
  const std::string point = "struct sample_point { int32_t x; int32_t y; };\n";

  // Checks a comparator over const int32_t* a, b.
  const auto expect_comparator = [](const TypeDecl& t, const char* name, CallConv conv) {
    ASSERT_EQ(t.kind, TypeDecl::Kind::callback);
    EXPECT_FALSE(t.persistent);
    const FunctionDecl& c = *t.callback;
    EXPECT_EQ(c.name, name);
    EXPECT_EQ(c.conv, conv);
    EXPECT_FALSE(c.variadic);
    EXPECT_EQ(c.ret.scalar, Scalar::Int32);
    ASSERT_EQ(c.params.size(), 2u);
    for (const auto& p : c.params) {
      EXPECT_EQ(p.type.kind, TypeDecl::Kind::pointer);
      EXPECT_EQ(p.type.dir, Dir::in);
      EXPECT_EQ(p.type.elem->scalar, Scalar::Int32);
      EXPECT_TRUE(p.type.size_is.empty() && p.type.size == 0) << "one element";
    }
    EXPECT_EQ(c.params[0].name, "a");
    EXPECT_EQ(c.params[1].name, "b");
  };

  {
    const FunctionDecl d = lower(parse(
        cmp_typedef + "int32_t sort_i32([in, out, size_is(n)] int32_t* v, int32_t n, sample_cmp cmp);"));
    EXPECT_EQ(d.conv, CallConv::Cdecl);
    ASSERT_EQ(d.params.size(), 3u);
    EXPECT_EQ(d.params[0].type.dir, Dir::inout);
    EXPECT_EQ(d.params[2].name, "cmp");
    expect_comparator(d.params[2].type, "sample_cmp", CallConv::Cdecl);
  }
  {
    const FunctionDecl d =
        lower(parse("int32_t __stdcall sort_i32_std([in, out, size_is(n)] int32_t* v, int32_t n, "
                    "int32_t (__stdcall *cmp)(const int32_t* a, const int32_t* b));"));
    EXPECT_EQ(d.conv, CallConv::Stdcall);
    expect_comparator(d.params.at(2).type, "cmp", CallConv::Stdcall);
  }
  {
    const FunctionDecl d =
        lower(parse(enum_typedef + "int32_t WINAPI enum_items(int32_t count, ENUMPROC proc, void* ctx);"));
    EXPECT_EQ(d.conv, CallConv::Stdcall);
    ASSERT_EQ(d.params.size(), 3u);
    EXPECT_EQ(d.params[2].type.scalar, Scalar::Handle);
    const TypeDecl& t = d.params[1].type;
    ASSERT_EQ(t.kind, TypeDecl::Kind::callback);
    EXPECT_FALSE(t.persistent);
    EXPECT_EQ(t.callback->name, "ENUMPROC");
    EXPECT_EQ(t.callback->conv, CallConv::Stdcall);
    EXPECT_EQ(t.callback->ret.scalar, Scalar::Int32);
    ASSERT_EQ(t.callback->params.size(), 2u);
    EXPECT_EQ(t.callback->params[0].name, "index");
    EXPECT_EQ(t.callback->params[0].type.scalar, Scalar::Int32);
    EXPECT_EQ(t.callback->params[1].name, "ctx");
    EXPECT_EQ(t.callback->params[1].type.kind, TypeDecl::Kind::scalar);
    EXPECT_EQ(t.callback->params[1].type.scalar, Scalar::Handle);
  }
  {
    const FunctionDecl d = lower(
        parse("double stat_with(const char* label, [in, size_is(n)] const double* v, int32_t n,\n"
              "                 double (*f)(const char* label, [size_is(n)] const double* v, int32_t n));"));
    const TypeDecl& t = d.params.at(3).type;
    ASSERT_EQ(t.kind, TypeDecl::Kind::callback);
    const FunctionDecl& c = *t.callback;
    EXPECT_EQ(c.name, "f");
    EXPECT_EQ(c.conv, CallConv::Cdecl);
    EXPECT_EQ(c.ret.scalar, Scalar::Double);
    ASSERT_EQ(c.params.size(), 3u);
    EXPECT_EQ(c.params[0].name, "label");
    EXPECT_TRUE(c.params[0].type.text && c.params[0].type.nul_terminated);
    EXPECT_EQ(c.params[0].type.dir, Dir::in);
    EXPECT_EQ(c.params[1].name, "v");
    EXPECT_EQ(c.params[1].type.dir, Dir::in);
    EXPECT_EQ(c.params[1].type.size_is, "n") << "the callback's own n";
    EXPECT_EQ(c.params[1].type.elem->scalar, Scalar::Double);
    EXPECT_EQ(c.params[2].type.scalar, Scalar::Int32);
  }
  {
    const FunctionDecl d = lower(
        parse(point +
              "int32_t point_with(const char* name, [in, size_is(n)] const int32_t* xy, int32_t n,\n"
              "                   struct sample_point (*f)(const char* name, [size_is(n)] const int32_t* xy, "
              "int32_t n));"));
    const FunctionDecl& c = *d.params.at(3).type.callback;
    EXPECT_EQ(c.ret.kind, TypeDecl::Kind::structure);
    EXPECT_EQ(c.ret.struct_name, "sample_point");
    ASSERT_EQ(c.ret.fields.size(), 2u);
    EXPECT_TRUE(c.params.at(0).type.text);
    EXPECT_EQ(c.params.at(1).type.dir, Dir::in);
    EXPECT_EQ(c.params.at(1).type.size_is, "n");
    EXPECT_EQ(c.params.at(1).type.elem->scalar, Scalar::Int32);
  }
  {
    const FunctionDecl d = lower(parse("int32_t reenter(int32_t depth, int32_t (*f)(int32_t depth));"));
    const FunctionDecl& c = *d.params.at(1).type.callback;
    EXPECT_EQ(c.name, "f");
    ASSERT_EQ(c.params.size(), 1u);
    EXPECT_EQ(c.params[0].name, "depth") << "the callback's names are its own";
  }
  {
    const FunctionDecl d =
        lower(parse("void set_event_handler([persistent] void (*f)(int32_t source, int32_t seq, void* ctx), "
                    "void* ctx);"));
    const TypeDecl& t = d.params.at(0).type;
    ASSERT_EQ(t.kind, TypeDecl::Kind::callback);
    EXPECT_TRUE(t.persistent);
    EXPECT_EQ(t.callback->ret.scalar, Scalar::Void);
    ASSERT_EQ(t.callback->params.size(), 3u);
    EXPECT_EQ(t.callback->params[1].name, "seq");
    EXPECT_EQ(t.callback->params[2].type.scalar, Scalar::Handle);
    EXPECT_EQ(d.params.at(1).type.scalar, Scalar::Handle);
  }
  {
    const FunctionDecl d = lower(parse("void set_value_proc([persistent] int32_t (*f)(int32_t x));"));
    const TypeDecl& t = d.params.at(0).type;
    ASSERT_EQ(t.kind, TypeDecl::Kind::callback);
    EXPECT_TRUE(t.persistent);
    EXPECT_EQ(t.callback->ret.scalar, Scalar::Int32);
    EXPECT_EQ(t.callback->params.at(0).name, "x");
  }
}

// The examples of docs/signature-language.md, section 11, parse as the text says.
TEST(SignatureTypedefs, DocumentedExamples) {
  const Function f = parse(
      "typedef BOOL (CALLBACK *ENUMPROC)(int32_t index, void* ctx);\n"
      "typedef int (*cmp_t)(const int*, const int*);\n"
      "typedef struct { int32_t x; int32_t y; } Point, *PPoint;\n"
      "typedef struct tagRECT { LONG left, top, right, bottom; } RECT, *LPRECT;\n"
      "struct sample_point { int32_t x; int32_t y; };\n"
      "typedef struct sample_point SamplePoint;\n"
      "typedef unsigned long ULONG_T;\n"
      "typedef ULONG_T COUNT_T;\n"
      "typedef void* HWND;          /* a handle, as void* */\n"
      "typedef const char* LPCTSTR; /* [in, string] text by default, as const char* */\n"
      "typedef void (*event_handler)(int32_t source, int32_t seq, void* ctx);\n"
      "int32_t WINAPI all(int32_t count, ENUMPROC proc, cmp_t cmp, Point p, [out] PPoint pp, RECT r,\n"
      "                   [in] LPRECT lr, SamplePoint sp, COUNT_T n, HWND w, LPCTSTR s, [persistent] "
      "event_handler h);");
  ASSERT_EQ(f.params.size(), 12u);
  EXPECT_EQ(f.conv, CallConv::Stdcall);
  EXPECT_EQ(callback_of(f, 1).conv, CallConv::Stdcall);
  EXPECT_EQ(callback_of(f, 2).conv, CallConv::Cdecl);
  EXPECT_EQ(f.params[3].type.def->name, "Point");
  EXPECT_EQ(f.params[5].type.def->name, "tagRECT");
  EXPECT_EQ(f.params[5].type.def->fields.size(), 4u);
  EXPECT_EQ(f.params[7].type.def->name, "sample_point");
  EXPECT_EQ(f.params[8].type.scalar, Scalar::ULong);
  EXPECT_TRUE(f.params[10].attrs.string);
  EXPECT_TRUE(f.params[11].attrs.persistent);
  const FunctionDecl d = lower(f);
  EXPECT_EQ(d.params[9].type.scalar, Scalar::Handle);
  EXPECT_EQ(d.params[11].type.callback->name, "event_handler");

  for (const char* text : {
           "int32_t sort_i32([in, out, size_is(n)] int32_t* v, int32_t n, int32_t (*cmp)(const int32_t* a, "
           "const "
           "int32_t* b));",
           "void set_event_handler([persistent] void (*f)(int32_t source, int32_t seq, void* ctx), void* "
           "ctx);",
           "struct ops { int (*cmp)(const int*, const int*); void* ctx; }; void use([in] struct ops* o)",
       }) {
    SCOPED_TRACE(text);
    EXPECT_NO_THROW(lower(parse(text)));
  }
}
