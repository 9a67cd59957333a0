#include "reader_clang.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace dllbridge::gen::clangx {
namespace fs = std::filesystem;

std::string take(CXString s) {
  const char* c = clang_getCString(s);
  std::string out = c ? c : "";
  clang_disposeString(s);
  return out;
}
std::string spelling(CXCursor c) { return take(clang_getCursorSpelling(c)); }
std::string spelling(CXType t) { return take(clang_getTypeSpelling(t)); }

namespace {

// SAL macro -> annotation (a function-like one appends its argument).
struct SalMacro {
  const char* name;
  const char* note;
  bool takes_size;
};
constexpr SalMacro kSal[] = {
    {"_In_", "in", false},
    {"_In_opt_", "in", false},
    {"_In_z_", "in_z", false},
    {"_In_opt_z_", "in_z", false},
    {"_In_reads_", "in_reads", true},
    {"_In_reads_opt_", "in_reads", true},
    {"_In_reads_z_", "in_reads_z", true},
    {"_Out_", "out", false},
    {"_Out_opt_", "out", false},
    {"_Out_writes_", "out_writes", true},
    {"_Out_writes_opt_", "out_writes", true},
    {"_Out_writes_z_", "out_writes_z", true},
    {"_Inout_", "inout", false},
    {"_Inout_opt_", "inout", false},
    {"_Inout_z_", "inout_z", false},
    {"_Inout_updates_", "inout_updates", true},
    {"_Inout_updates_opt_", "inout_updates", true},
    {"_Inout_updates_z_", "inout_updates_z", true},
    {"_Outptr_", "outptr", false},
    {"_Outptr_opt_", "outptr", false},
    {"_Outptr_result_maybenull_", "outptr", false},
    {"_Field_size_", "field_size", true},
    {"_Field_size_opt_", "field_size", true},
    {"_Ret_z_", "ret_z", false},
    {"_Ret_maybenull_z_", "ret_z", false},
};

std::string sal_definitions() {
  std::ostringstream s;
  s << "/* dllbridge-gen: SAL annotations as clang annotate attributes */\n";
  for (const SalMacro& m : kSal) {
    s << "#undef " << m.name << "\n";
    if (m.takes_size)
      s << "#define " << m.name << "(s) __attribute__((annotate(\"sal:" << m.note << ":\" #s)))\n";
    else
      s << "#define " << m.name << " __attribute__((annotate(\"sal:" << m.note << "\")))\n";
  }
  return s.str();
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
  if (!f) throw GenError("cannot write the temporary file " + p.string());
}

const char* triple(Target t, bool dll_view) {
  if (t == Target::windows) return dll_view ? "i686-w64-mingw32" : "x86_64-w64-mingw32";
  return dll_view ? "i386-pc-linux-gnu" : "x86_64-pc-linux-gnu";
}

}  // namespace

SalPrelude::SalPrelude() {
  std::string templ = (fs::temp_directory_path() / "dllbridge-gen-XXXXXX").string();
  if (!mkdtemp(templ.data()))
    throw GenError("cannot create a temporary folder in " + fs::temp_directory_path().string());
  dir_ = templ;
  write_file(dir_ / "dllbridge_gen_sal.h", sal_definitions());
  // A header that includes the system's sal.h gets it, then the prelude's meanings again.
  write_file(dir_ / "sal.h",
             "#if defined(__has_include_next) && __has_include_next(<sal.h>)\n#include_next <sal.h>\n#endif\n"
             "#include \"dllbridge_gen_sal.h\"\n");
}

SalPrelude::~SalPrelude() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

Unit::Unit(const Options& o, bool dll_view, const SalPrelude& sal) {
  std::string main_text;
  for (const std::string& h : o.headers)
    main_text += "#include \"" + fs::absolute(h).lexically_normal().string() + "\"\n";
  const std::string main_name = (sal.dir() / "dllbridge_gen_main.c").string();
  std::vector<std::string> args{
      "-x", "c", "-std=gnu11", "-target", triple(*o.target, dll_view), "-I" + sal.dir().string()};
  for (const std::string& i : o.include_dirs) args.push_back("-I" + fs::absolute(i).string());
  for (const std::string& d : o.defines) args.push_back("-D" + d);
#ifdef DLLBRIDGE_CLANG_RESOURCE_DIR
  if (fs::is_directory(DLLBRIDGE_CLANG_RESOURCE_DIR))
    args.insert(args.end(), {"-resource-dir", DLLBRIDGE_CLANG_RESOURCE_DIR});
#endif
  args.insert(args.end(), {"-include", (sal.dir() / "dllbridge_gen_sal.h").string(), "-Wno-everything"});
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  CXUnsavedFile unsaved{main_name.c_str(), main_text.c_str(), static_cast<unsigned long>(main_text.size())};

  // One thread, no signal handlers of libclang's: a command-line tool has
  // nothing to recover into, and sanitizer builds keep their own handlers.
  setenv("LIBCLANG_NOTHREADS", "1", 0);
  setenv("LIBCLANG_DISABLE_CRASH_RECOVERY", "1", 0);
  index_ = clang_createIndex(0, 0);
  const CXErrorCode rc = clang_parseTranslationUnit2(
      index_, main_name.c_str(), argv.data(), static_cast<int>(argv.size()), &unsaved, 1,
      CXTranslationUnit_SkipFunctionBodies | CXTranslationUnit_KeepGoing, &tu_);
  if (rc != CXError_Success || !tu_) {
    clang_disposeIndex(index_);
    throw GenError(std::string("libclang could not parse the headers for ") + triple(*o.target, dll_view) +
                   " (error " + std::to_string(rc) + ")");
  }
  std::string errors;
  const unsigned n = clang_getNumDiagnostics(tu_);
  for (unsigned i = 0; i < n; ++i) {
    CXDiagnostic d = clang_getDiagnostic(tu_, i);
    if (clang_getDiagnosticSeverity(d) >= CXDiagnostic_Error)
      errors +=
          take(clang_formatDiagnostic(d, CXDiagnostic_DisplaySourceLocation | CXDiagnostic_DisplayColumn)) +
          "\n";
    clang_disposeDiagnostic(d);
  }
  if (!errors.empty()) {
    clang_disposeTranslationUnit(tu_);
    clang_disposeIndex(index_);
    throw GenError(std::string("the headers do not compile for ") + triple(*o.target, dll_view) + ":\n" +
                   errors);
  }
}

Unit::~Unit() {
  clang_disposeTranslationUnit(tu_);
  clang_disposeIndex(index_);
}

std::string file_of(CXCursor c) {
  CXFile f = nullptr;
  clang_getSpellingLocation(clang_getCursorLocation(c), &f, nullptr, nullptr, nullptr);
  if (!f) return {};
  return fs::path(take(clang_getFileName(f))).lexically_normal().string();
}

std::string where(CXCursor c) {
  CXFile f = nullptr;
  unsigned line = 0;
  clang_getSpellingLocation(clang_getCursorLocation(c), &f, &line, nullptr, nullptr);
  if (!f) return "<built-in>";
  return fs::path(take(clang_getFileName(f))).filename().string() + ":" + std::to_string(line);
}

std::vector<CXCursor> children(CXCursor c) {
  std::vector<CXCursor> out;
  clang_visitChildren(
      c,
      [](CXCursor child, CXCursor, CXClientData data) {
        static_cast<std::vector<CXCursor>*>(data)->push_back(child);
        return CXChildVisit_Continue;
      },
      &out);
  return out;
}

std::vector<std::string> annotations(CXCursor c) {
  std::vector<std::string> out;
  for (CXCursor k : children(c))
    if (clang_getCursorKind(k) == CXCursor_AnnotateAttr) out.push_back(spelling(k));
  return out;
}

}  // namespace dllbridge::gen::clangx
