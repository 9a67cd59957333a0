// libclang for dllbridge-gen: owners for its handles, the SAL prelude, and
// parsing the headers for one target.
#pragma once

#include <clang-c/Index.h>

#include <filesystem>
#include <string>
#include <vector>

#include "reader.hpp"

namespace dllbridge::gen::clangx {

// A CXString's text (disposed).
std::string take(CXString s);
std::string spelling(CXCursor c);
std::string spelling(CXType t);

// A temporary folder with the SAL prelude: each SAL macro the generator
// understands defined as __attribute__((annotate("sal:..."))), and a sal.h
// that includes the system's (when there is one) and then redefines them.
// Removed when this ends.
class SalPrelude {
 public:
  SalPrelude();
  ~SalPrelude();
  SalPrelude(const SalPrelude&) = delete;
  SalPrelude& operator=(const SalPrelude&) = delete;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

// One parsed translation unit of every --header, owned.
class Unit {
 public:
  // Parses for the DLL's target (i386) when `dll_view`, else the host's
  // (x86-64). Throws GenError with clang's errors (file:line:col: message).
  Unit(const Options& o, bool dll_view, const SalPrelude& sal);
  ~Unit();
  Unit(const Unit&) = delete;
  Unit& operator=(const Unit&) = delete;
  CXCursor root() const { return clang_getTranslationUnitCursor(tu_); }

 private:
  CXIndex index_ = nullptr;
  CXTranslationUnit tu_ = nullptr;
};

// The file a cursor is spelled in (absolute, lexically normal) and "name.h:12".
std::string file_of(CXCursor c);
std::string where(CXCursor c);

// The annotate("...") attributes on a declaration (SAL, via the prelude).
std::vector<std::string> annotations(CXCursor c);

// The direct children of a cursor.
std::vector<CXCursor> children(CXCursor c);

}  // namespace dllbridge::gen::clangx
