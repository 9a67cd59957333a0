// dllbridge-gen's model: what the front end (gen/reader*: libclang, the
// annotations file, SAL, the defaults, the library's exports) learned from
// the vendor header, and what the back end (gen/emit*: proxy library, typed
// bindings, signature file, CMake project, report) writes from it. The two
// meet only here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dllbridge/declaration.hpp"
#include "dllbridge/types.hpp"

namespace dllbridge::gen {

enum class Target : std::uint8_t { linux_, windows };

// A parameter as the application's header declares it (host target).
struct CParam {
  std::string name;    // the header's name, or "argN" (N from 0) when it has none
  std::string c_type;  // spelled for C with the header included: "const char *",
                       // "struct sample_point *", "HANDLE", "int (*)(const void *, const void *)"
};

// A field of a generated struct as the application's header declares it.
struct CField {
  std::string name;    // empty for an anonymous member
  std::string c_type;  // as CParam::c_type; an array keeps its extent: "int32_t[3]"
};

// A struct the header defines and some generated function uses (by value,
// by pointer, or inside another such struct). Listed so that a struct comes
// after every struct it contains.
struct Struct {
  std::string c_spelling;   // how C code names it: "struct sample_point", or a typedef name "POINT"
  std::string sig_name;     // its name in the signature file
  std::string declaration;  // its definition in the signature language: "struct sample_point { int32_t x;
                            // int32_t y; };"
  std::vector<CField> fields;
  // The fields as the signature file declares them (directions and counts
  // resolved, the same order as `fields`).
  std::vector<FieldDecl> decls;
};

// A function the proxy exports and the bindings wrap.
struct Function {
  std::string name;    // the C name: the proxy's export, the bindings' method
  std::string symbol;  // the export of the 32-bit library it resolves to: the name,
                       // a decorated form ("_add@8"), or "#N" for an ordinal
  CallConv conv = CallConv::Cdecl;
  std::string c_return;  // the return type spelled for C ("int32_t", "const char *", "void")
  std::vector<CParam> params;
  bool variadic = false;  // C `...` (cdecl only): the proxy cannot forward it; the
                          // front end reports it and leaves the function out
  std::string signature;  // its declaration in the signature language, one line, structs
                          // not repeated ("int32_t lg_upper([in, string] const char* in, ...);")
  FunctionDecl decl;      // `signature` parsed with the structs (what the bridge is given)
};

// One line of report.txt, with where it came from.
struct Note {
  enum class Kind : std::uint8_t {
    defaulted,    // a default rule decided a pointer's meaning: check it
    annotated,    // the annotations file decided it
    sal,          // a SAL annotation decided it
    skipped,      // left out (unresolved with --skip-unresolved, variadic, not exported, ...)
    unsupported,  // a construct the generator does not handle (union, bit-field, variable, ...)
    info
  };
  Kind kind = Kind::info;
  std::string where;  // "lg_upper, parameter out", "struct sample_mixed", "header.h:12"
  std::string text;
};

struct Model {
  std::string name;                       // --name: the proxy library's name (and NAME_bridge.hpp's)
  std::string library;                    // --library as given (absolute): the default 32-bit library
  Target target = Target::linux_;         // --target
  std::vector<std::string> headers;       // --header as given (absolute), included by the generated code
  std::vector<std::string> include_dirs;  // -I, for the generated CMake project
  std::vector<std::string> defines;       // -D NAME[=VALUE], likewise
  std::vector<Struct> structs;
  std::vector<Function> functions;  // in header order; only those that are generated
  std::vector<Note> notes;
};

}  // namespace dllbridge::gen
