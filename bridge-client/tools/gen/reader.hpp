// dllbridge-gen's front end: from the vendor headers, the annotations file
// and the 32-bit library's export table to the Model (model.hpp).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model.hpp"

namespace dllbridge::gen {

// The command line (docs/gen-reference.md), paths as given.
struct Options {
  std::vector<std::string> headers;       // --header, at least one
  std::vector<std::string> include_dirs;  // -I
  std::vector<std::string> defines;       // -D NAME[=VALUE]
  std::string library;                    // --library: the 32-bit .so / .dll
  std::string annotations;                // --annotations (empty: none)
  std::string name;                       // --name (empty: from the library's file name)
  std::string out;                        // --out
  std::optional<Target> target;           // --target (none: from the library's format)
  bool skip_unresolved = false;           // --skip-unresolved: leave such functions out (listed)
};

// What stops the generator: a missing file, a header that does not compile,
// a bad annotation, pointers it cannot decide. what() is the whole message
// for the user, one problem per line, each naming where (file:line, function,
// parameter) and what to do.
class GenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The proxy's default name: the library's file name without "lib" and its
// suffix ("/x/libsample.so" -> "sample", "Legacy.dll" -> "Legacy").
std::string default_name(const std::string& library);

// Reads everything and decides each function: generated (Model::functions),
// left out with a reason, or an error. Throws GenError.
Model read_model(const Options& options);

}  // namespace dllbridge::gen
