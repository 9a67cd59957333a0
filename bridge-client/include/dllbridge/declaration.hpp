// The client's own description of a declared function: its name, calling
// convention, and a type tree for the return value and each parameter with
// every attribute resolved (direction, text, element counts, struct fields).
// Both the signature parser and the typed API produce it; Library::function
// checks it (the same bad_signature errors for both) and the codec sends and
// reads values by it. Sizes and layout are not here: they belong to the
// surrogate's ABI.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dllbridge/types.hpp"

namespace dllbridge {

struct FieldDecl;
struct FunctionDecl;

// One type: a scalar, a pointer to elements, a struct, a fixed array (in a
// struct only), or a function pointer the DLL calls back (a callback).
struct TypeDecl {
  enum class Kind : std::uint8_t { scalar, pointer, structure, array, callback };
  Kind kind = Kind::scalar;
  // scalar: the kind (void only as a return type; Handle for opaque pointers).
  Scalar scalar = Scalar::Void;
  // pointer: who fills the pointee. A parameter pointer needs one; a return
  // pointer has none (text returns only: other pointers return as Handle).
  Dir dir = Dir::none;
  // pointer / array of char or wchar_t whose value is text.
  bool text = false;
  // pointer: [string], the text ends with a NUL (text without a count is as
  // long as the text and its NUL).
  bool nul_terminated = false;
  // array: its length; pointer: [size(N)] (0: none).
  std::uint32_t size = 0;
  // pointer: [size_is(x)], the name of the sibling parameter / field that
  // holds the element count; "*" takes the count from the value itself (an
  // [out] one: the value is the count). Empty: `size`, text length, or one
  // element.
  std::string size_is;
  // pointer / array: the element type.
  std::shared_ptr<const TypeDecl> elem;
  // structure: its name in signatures and its fields in C order.
  std::string struct_name;
  std::vector<FieldDecl> fields;
  // callback: the function pointer's own declaration (its `name` is the
  // typedef's name, else the parameter's or field's; never variadic). Its
  // parameters: scalars, handles, structs by value, and pointers counted by
  // [size(N)] or [size_is(sibling)] (else one element; [string] text):
  // [in] ones read from the DLL, [out] / [in, out] ones filled by the
  // callable. It returns a scalar, a struct or void.
  std::shared_ptr<const FunctionDecl> callback;
  // callback: [persistent], the DLL may keep it and call it after the call
  // returns, until the application releases it (the last copy of its
  // dllbridge::Callback ends). Otherwise it is valid during the call only.
  bool persistent = false;
};

struct FieldDecl {
  std::string name;
  TypeDecl type;
};

struct ParamDecl {
  std::string name;  // "argN" (N from 0) when the declaration has none
  TypeDecl type;
};

struct FunctionDecl {
  std::string name;
  CallConv conv = CallConv::Cdecl;
  TypeDecl ret;  // scalar (void included), struct, or a text pointer
  std::vector<ParamDecl> params;
  bool variadic = false;
};

// Tree builders, for the parser's lowering and the typed API.
namespace decl {
inline TypeDecl scalar(Scalar s) {
  TypeDecl t;
  t.scalar = s;
  return t;
}
inline TypeDecl pointer(Dir dir, TypeDecl elem) {
  TypeDecl t;
  t.kind = TypeDecl::Kind::pointer;
  t.dir = dir;
  t.elem = std::make_shared<const TypeDecl>(std::move(elem));
  return t;
}
inline TypeDecl array(std::uint32_t length, TypeDecl elem) {
  TypeDecl t;
  t.kind = TypeDecl::Kind::array;
  t.size = length;
  t.elem = std::make_shared<const TypeDecl>(std::move(elem));
  return t;
}
// A function pointer with declaration `fn` (call-scoped unless `persistent`).
TypeDecl callback(FunctionDecl fn, bool persistent = false);
// A char* / wchar_t* return read back as text (`unit` Char or WChar).
inline TypeDecl text_return(Scalar unit) {
  TypeDecl t = pointer(Dir::none, scalar(unit));
  t.text = true;
  t.nul_terminated = true;
  return t;
}
}  // namespace decl

inline TypeDecl decl::callback(FunctionDecl fn, bool persistent) {
  TypeDecl t;
  t.kind = TypeDecl::Kind::callback;
  t.callback = std::make_shared<const FunctionDecl>(std::move(fn));
  t.persistent = persistent;
  return t;
}

}  // namespace dllbridge
