// Signature language (docs/signature-language.md): parsed C declarations.
// The parser only builds this tree; sizes and layout belong to the surrogate's
// ABI and are resolved there.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dllbridge/declaration.hpp"
#include "dllbridge/types.hpp"

namespace dllbridge::sig {

// Scalar kinds by spelling; the surrogate maps each to its own ABI size.
using Scalar = dllbridge::Scalar;
using CallConv = dllbridge::CallConv;

// Pointer direction from [in] / [out] / [in, out]; None when not given.
enum class Direction : std::uint8_t { None, In, Out, InOut };

struct StructDef;
struct Function;

// A type as written: a scalar, a named struct or a function pointer, then
// array extent and pointer depth.
struct Type {
  Scalar scalar = Scalar::Void;  // meaningful when !is_struct
  bool is_struct = false;
  std::string struct_name;                 // when is_struct
  std::shared_ptr<const StructDef> def;    // resolved definition when is_struct
  bool is_const = false;                   // const on the pointee / value
  int pointer_depth = 0;                   // 0 = value, 1 = T*, 2 = T**
  std::optional<std::uint32_t> array_len;  // fixed array inside a struct: T x[N]
  // Function pointer: its declaration (name: the typedef's, else the parameter's
  // or field's); pointer_depth is then 0 and nothing else above applies.
  std::shared_ptr<const Function> callback;
};

// MIDL-style attributes written in brackets before a parameter or field.
struct Attributes {
  Direction dir = Direction::None;
  bool string = false;                 // [string]
  std::optional<std::string> size_is;  // [size_is(name)]
  std::optional<std::uint32_t> size;   // [size(N)]
  bool persistent = false;             // [persistent], function pointers only
};

struct Field {
  std::string name;
  Type type;
  Attributes attrs;
};

struct StructDef {
  std::string name;
  std::vector<Field> fields;
};

struct Param {
  std::string name;  // "argN" (N from 0) when unnamed
  Type type;
  Attributes attrs;  // defaults applied (see parse())
};

struct Function {
  std::string name;
  CallConv conv = CallConv::Cdecl;
  Type ret;
  std::vector<Param> params;
  bool variadic = false;  // never for a function pointer
  std::vector<std::shared_ptr<const StructDef>>
      structs;  // in declaration order (empty in a function pointer)
  // Function pointer: 1 + the deepest function pointer among its parameters
  // and return, struct fields included (at most 8); 0 for the declared function.
  int depth = 0;
};

// Parses "struct ...; typedef ...; ... R conv name(params);" (trailing ';'
// optional). Applies the defaults of docs/signature-language.md: `const char*`
// and `const wchar_t*` become [in, string]; in a function pointer's own
// parameter list every data pointer without a direction is [in]. Throws
// dllbridge::Error with kind bad_signature and a message that starts
// "at position N: " on any error.
Function parse(std::string_view text);

// The parsed declaration as the client's declaration tree: attributes
// resolved (pointer fields without a direction are [in, out], opaque void* /
// HANDLE pointers and other returned pointers are Handle values, char* /
// wchar_t* returns are text, function pointers are decl::callback trees with
// their own declaration, returned ones are Handle values). Checks come after, in make_signature, the same
// for every declaration (a parse error has a position; a lowering one names
// the parameter). Throws Error(bad_signature) for a struct without a definition.
FunctionDecl lower(const Function& fn);

// Human-readable spelling of a scalar ("unsigned int", "DWORD", ...).
std::string_view scalar_name(Scalar s);

}  // namespace dllbridge::sig
