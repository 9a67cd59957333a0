// The export table of a 32-bit library, read from the file without loading
// it: ELF32 .dynsym (Linux .so) or the PE export directory (Windows .dll).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "dllbridge/types.hpp"

namespace dllbridge::gen {

struct Exports {
  enum class Format : std::uint8_t { elf32, pe32 };
  Format format = Format::elf32;
  std::set<std::string> names;       // exported function names (ELF: defined global / weak FUNC symbols)
  std::set<std::uint32_t> ordinals;  // PE: every exported ordinal (with or without a name)
};

// Reads `path`. Throws GenError naming the file for what is not a 32-bit
// x86 ELF shared object or PE DLL, or a truncated / inconsistent table.
Exports read_exports(const std::string& path);

// The export that `name` resolves to, the way the surrogate looks it up
// (docs/signature-language.md, section 9): the name, then the decorated
// forms of `conv` (stdcall `name@N`, `_name@N`; fastcall `@name@N`; cdecl
// `_name`) with N = `arg_bytes`; nullopt when none is exported.
std::optional<std::string> find_export(const Exports& e, const std::string& name, CallConv conv,
                                       unsigned arg_bytes);

// Whether `symbol` (a name, or "#N" for an ordinal) is exported.
bool has_export(const Exports& e, const std::string& symbol);

}  // namespace dllbridge::gen
