// The annotations file: declarations in the signature language that say
// what a header cannot (docs/gen-reference.md, "Annotations file").
#pragma once

#include <map>
#include <string>

#include "signature/signature.hpp"

namespace dllbridge::gen {

struct Annotations {
  struct Fn {
    sig::Function fn;   // parsed after every struct and typedef of the file
    std::string where;  // "FILE:LINE"
  };
  struct Symbol {
    std::string symbol;  // an export name, or "#N" for ordinal N
    std::string where;
  };
  std::map<std::string, Fn> functions;                                   // by function name
  std::map<std::string, std::shared_ptr<const sig::StructDef>> structs;  // by struct name
  std::map<std::string, std::string> struct_where;
  std::map<std::string, Symbol> symbols;  // `symbol NAME = SYMBOL;` by function name
};

// Reads `path` (empty: no file, no annotations). Statements end at a
// top-level ';': `struct S { ... };`, `typedef ...;`, a function
// declaration, or `symbol NAME = EXPORT;` / `symbol NAME = #ORDINAL;`;
// `//` and `/* */` comments. Throws GenError "FILE:LINE: ..." for a
// statement the signature parser refuses or a function declared twice.
Annotations read_annotations(const std::string& path);

}  // namespace dllbridge::gen
