// write_project (dllbridge-gen's back end) from Models built by hand: which
// files it writes, what it leaves out and says so, the Windows .def, the
// export lookups. gen_proxy builds and runs what it writes for sample.h.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "emit.hpp"
#include "signature/signature.hpp"

namespace dllbridge::gen {
namespace {

// The structs `t` reaches, each after those it contains.
void collect(const TypeDecl& t, Model& m, std::set<std::string>& seen) {
  if (t.elem) collect(*t.elem, m, seen);
  if (t.kind != TypeDecl::Kind::structure) return;
  for (const auto& f : t.fields) collect(f.type, m, seen);
  if (!seen.insert(t.struct_name).second) return;
  Struct s;
  s.c_spelling = "struct " + t.struct_name;
  s.sig_name = t.struct_name;
  s.decls = t.fields;
  for (const auto& f : t.fields) s.fields.push_back({f.name, "int"});
  m.structs.push_back(std::move(s));
}

// A Model of `functions` (signature-language lines, each with `structs` before it).
Model model_of(const std::string& structs, const std::vector<std::string>& functions,
               Target target = Target::linux_) {
  Model m;
  m.name = "vendor";
  m.library = "/opt/vendor32/libvendor.so";
  m.target = target;
  m.headers = {"/opt/vendor/include/vendor.h"};
  std::set<std::string> seen;
  for (const std::string& line : functions) {
    Function f;
    f.decl = sig::lower(sig::parse(structs + line));
    f.name = f.decl.name;
    f.symbol = f.name;
    f.conv = f.decl.conv;
    f.signature = line;
    f.variadic = f.decl.variadic;
    collect(f.decl.ret, m, seen);
    for (const auto& p : f.decl.params) {
      collect(p.type, m, seen);
      f.params.push_back({p.name, "int"});
    }
    m.functions.push_back(std::move(f));
  }
  return m;
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string quote_path(const std::filesystem::path& p) { return "\"" + p.lexically_normal().string() + "\""; }

class WriteProject : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("dllbridge-emit-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(WriteProject, WritesTheProjectTheBindingsAndTheProxy) {
  Model m =
      model_of("struct pt { int32_t x; int32_t y; };", {"int32_t pt_sum(struct pt p);",
                                                        "int32_t lg_upper([in, string] const char* in, "
                                                        "[out, size_is(cap)] char* out, int32_t cap);"});
  m.include_dirs = {"inc"};
  m.defines = {"VENDOR_EXPORTS", "LEVEL=2"};
  write_project(m, dir_);
  const std::string cmake = read(dir_ / "CMakeLists.txt");
  EXPECT_NE(cmake.find(quote_path(std::filesystem::absolute("inc"))), std::string::npos) << cmake;
  EXPECT_NE(cmake.find("target_compile_definitions(vendor PRIVATE \"VENDOR_EXPORTS\" \"LEVEL=2\")"),
            std::string::npos)
      << cmake;
  EXPECT_NE(cmake.find("find_package(dllbridge REQUIRED)"), std::string::npos);
  EXPECT_NE(cmake.find("add_library(vendor SHARED vendor_proxy.cpp)"), std::string::npos);
  EXPECT_NE(cmake.find("\"/opt/vendor/include\""), std::string::npos);
  EXPECT_NE(cmake.find("install(TARGETS vendor"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "vendor.def"));  // Linux

  const std::string hpp = read(dir_ / "vendor_bridge.hpp");
  EXPECT_NE(hpp.find("#include \"vendor.h\""), std::string::npos);
  EXPECT_NE(hpp.find("DLLBRIDGE_DESCRIBE(vendor_bridge_types::c_pt, \"pt\""), std::string::npos);
  EXPECT_NE(hpp.find("class vendor_bridge {"), std::string::npos);
  EXPECT_NE(
      hpp.find("std::int32_t lg_upper(const char* a0, dllbridge::Out<char, 2> a1, std::int32_t a2) const"),
      std::string::npos);

  const std::string cpp = read(dir_ / "vendor_proxy.cpp");
  EXPECT_NE(
      cpp.find("extern \"C\" DLLBRIDGE_PROXY_EXPORT dllbridge::proxy::ret_t<decltype(::pt_sum)> pt_sum("),
      std::string::npos);
  EXPECT_NE(cpp.find("const char* vendor_bridge_last_error(void)"), std::string::npos);
  EXPECT_NE(cpp.find("void vendor_bridge_set_error_handler("), std::string::npos);
  EXPECT_NE(cpp.find("\"/opt/vendor32/libvendor.so\""), std::string::npos);  // the default library
}

TEST_F(WriteProject, WindowsGetsADefFileWithThePlainNamesAndTheDecoratedSymbolIsLookedUp) {
  Model m = model_of("", {"int32_t __stdcall Open(int32_t a, int32_t b);", "int32_t Close(void* h);"},
                     Target::windows);
  m.functions[0].symbol = "_Open@8";
  write_project(m, dir_);
  const std::string def = read(dir_ / "vendor.def");
  EXPECT_NE(def.find("LIBRARY vendor.dll"), std::string::npos);
  EXPECT_NE(def.find("  Open\n"), std::string::npos);
  EXPECT_EQ(def.find("@8"), std::string::npos);
  EXPECT_NE(def.find("  Close\n"), std::string::npos);
  EXPECT_NE(def.find("  vendor_bridge_last_error\n"), std::string::npos);
  EXPECT_NE(read(dir_ / "CMakeLists.txt").find("vendor_proxy.cpp vendor.def"), std::string::npos);
  const std::string hpp = read(dir_ / "vendor_bridge.hpp");
  EXPECT_NE(hpp.find("\"Open\", dllbridge::CallConv::Stdcall, dllbridge_options(\"_Open@8\")"),
            std::string::npos);
  EXPECT_NE(hpp.find("std::int32_t Close(dllbridge::Handle a0)"), std::string::npos);
}

TEST_F(WriteProject, LeavesOutWhatTheTypedApiCannotCarryAndReportsIt) {
  const std::string structs =
      "struct with_ptr { int32_t n; int32_t* p; };"
      "struct with_fn { int32_t (*map)(int32_t x); };"
      "struct many { struct with_fn fs[2]; };";
  const Model m = model_of(structs, {"int32_t use_ptr([in] const struct with_ptr* s);",
                                     "int32_t use_many([in] const struct many* s);",
                                     "struct with_fn make_fn(int32_t x);", "int32_t fine(int32_t x);"});
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "report.txt") << "the front end's report\n";

  write_project(m, dir_);
  const std::string report = read(dir_ / "report.txt");
  EXPECT_EQ(report.rfind("the front end's report\n", 0), 0u) << "appended, not replaced";
  EXPECT_NE(report.find("use_ptr: struct with_ptr, field p: a pointer field without a size_is count"),
            std::string::npos)
      << report;
  EXPECT_NE(
      report.find("use_many: struct many, field fs: an array or pointer of structs with function pointers"),
      std::string::npos)
      << report;
  EXPECT_NE(report.find("make_fn: the return value: a struct with function pointers"), std::string::npos)
      << report;
  EXPECT_EQ(report.find("fine"), std::string::npos);
  const std::string cpp = read(dir_ / "vendor_proxy.cpp");
  EXPECT_NE(cpp.find("decltype(::fine)"), std::string::npos);
  EXPECT_EQ(cpp.find("decltype(::use_ptr)"), std::string::npos);
  EXPECT_EQ(cpp.find("decltype(::use_many)"), std::string::npos);
  EXPECT_EQ(read(dir_ / "vendor_bridge.hpp").find("DLLBRIDGE_DESCRIBE(vendor_bridge_types::m_many"),
            std::string::npos);
}

TEST_F(WriteProject, AStructWithFunctionPointersIsMirroredWithFnAndConvertedByTheProxy) {
  const std::string structs =
      "struct with_fn { int32_t (*map)(int32_t x); int32_t bias; };"
      "struct outer { int32_t tag; struct with_fn inner; };";
  const Model m = model_of(
      structs, {"int32_t use_fn([in, out] struct with_fn* s);", "int32_t use_outer(struct outer s);"});
  write_project(m, dir_);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "report.txt")) << read(dir_ / "report.txt");
  const std::string hpp = read(dir_ / "vendor_bridge.hpp");
  EXPECT_NE(
      hpp.find("struct m_with_fn {\n  dllbridge::Fn<std::int32_t(std::int32_t), dllbridge::CallConv::Cdecl, "
               "false> map;\n  decltype(c_with_fn::bias) bias;\n};"),
      std::string::npos)
      << hpp;
  EXPECT_NE(hpp.find("struct m_outer {\n  decltype(c_outer::tag) tag;\n  m_with_fn inner;\n};"),
            std::string::npos)
      << hpp;
  // Its own layout: no layout checks against the C struct.
  EXPECT_EQ(hpp.find("sizeof(m_with_fn)"), std::string::npos) << hpp;
  EXPECT_EQ(hpp.find("offsetof(m_outer"), std::string::npos) << hpp;
  EXPECT_NE(hpp.find("DLLBRIDGE_DESCRIBE(vendor_bridge_types::m_with_fn, \"with_fn\""), std::string::npos);
  EXPECT_NE(hpp.find("std::int32_t use_fn(dllbridge::InOut<vendor_bridge_types::m_with_fn, -1> a0) const"),
            std::string::npos)
      << hpp;

  const std::string cpp = read(dir_ / "vendor_proxy.cpp");
  EXPECT_NE(cpp.find("struct Converter<vendor_bridge_types::m_with_fn, vendor_bridge_types::c_with_fn> {"),
            std::string::npos)
      << cpp;
  EXPECT_NE(
      cpp.find("    t.map = c.map ? decltype(t.map)([p = c.map](std::int32_t x0) -> std::int32_t { return "
               "dllbridge::proxy::call_back<std::int32_t>(p, x0); }) : decltype(t.map)();\n"),
      std::string::npos)
      << cpp;
  EXPECT_NE(cpp.find("    copy_bytes(c.bias, t.bias);\n"), std::string::npos) << cpp;
  EXPECT_EQ(cpp.find("c.map = "), std::string::npos) << "the application's function pointer is kept";
  EXPECT_NE(
      cpp.find("    t.inner = Converter<vendor_bridge_types::m_with_fn, vendor_bridge_types::c_with_fn>::"
               "to_typed(c.inner);\n"),
      std::string::npos)
      << cpp;
  EXPECT_NE(cpp.find("decltype(::use_fn)"), std::string::npos);
  EXPECT_NE(cpp.find("decltype(::use_outer)"), std::string::npos);
  EXPECT_EQ(cpp.find("Keep<"), std::string::npos) << "nothing [persistent] to keep";
}

TEST_F(WriteProject, AnOutStructOrACallbackReturnWithFunctionPointersIsLeftOutWithTheReason) {
  const std::string structs = "struct api { int32_t (*open)(int32_t x); int32_t version; };";
  const Model m = model_of(structs, {"int32_t get_api([out] struct api* a);",
                                     "int32_t ask(struct api (*f)(int32_t i));", "int32_t fine(int32_t x);"});
  write_project(m, dir_);
  const std::string report = read(dir_ / "report.txt");
  EXPECT_NE(
      report.find("get_api, parameter a: an [out] struct with function pointers (the library would fill "
                  "in function pointers this process cannot call)"),
      std::string::npos)
      << report;
  EXPECT_NE(report.find("ask: a callback returning a struct with function pointers"), std::string::npos)
      << report;
  const std::string cpp = read(dir_ / "vendor_proxy.cpp");
  EXPECT_EQ(cpp.find("decltype(::get_api)"), std::string::npos);
  EXPECT_EQ(cpp.find("decltype(::ask)"), std::string::npos);
  EXPECT_NE(cpp.find("decltype(::fine)"), std::string::npos);
}

TEST_F(WriteProject, AStructWhoseFunctionPointerTheLibraryKeepsIsKeptByTheProxyUntilTheNextCall) {
  const std::string structs =
      "struct kept { [persistent] int32_t (*on)(int32_t x); int32_t scale; };"
      "struct holder { struct kept k; };";
  const Model m =
      model_of(structs, {"void keep_it([in] const struct kept* k);", "void hold(struct holder h);"});
  write_project(m, dir_);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "report.txt")) << read(dir_ / "report.txt");
  const std::string hpp = read(dir_ / "vendor_bridge.hpp");
  EXPECT_NE(hpp.find("  dllbridge::Fn<std::int32_t(std::int32_t), dllbridge::CallConv::Cdecl, true> on;\n"),
            std::string::npos)
      << hpp;
  const std::string cpp = read(dir_ / "vendor_proxy.cpp");
  EXPECT_NE(cpp.find("    static dllbridge::proxy::Keep<std::vector<vendor_bridge_types::m_kept>> keep0;\n"
                     "    keep0.set(s0.copies());\n"),
            std::string::npos)
      << cpp;
  // By value, and through a containing struct.
  EXPECT_NE(cpp.find("    auto v0 = dllbridge::proxy::to_typed<vendor_bridge_types::m_holder>(a0);\n"),
            std::string::npos)
      << cpp;
  EXPECT_NE(cpp.find("    keep0.set(v0);\n"), std::string::npos) << cpp;
}

// A model with `struct with_anon { int32_t tag; struct { int16_t lo; int16_t hi; }; long n; size_t z; void*
// h; }` as the front end gives it: the anonymous member's type unnamed, the member named anon0 in the
// signature.
Model anonymous_model(Target target) {
  Model m = model_of(
      "struct with_anon_0 { int16_t lo; int16_t hi; };"
      "struct with_anon { int32_t tag; struct with_anon_0 anon0; long n; size_t z; void* h; };",
      {"int32_t use_anon([in] const struct with_anon* s);"}, target);
  for (Struct& s : m.structs) {
    if (s.sig_name == "with_anon_0") s.c_spelling.clear();
    if (s.sig_name == "with_anon") s.fields[1].name.clear();
  }
  return m;
}

TEST_F(WriteProject, MirrorsAStructWithAnonymousMembersOrFieldsOfAnotherSize) {
  write_project(anonymous_model(Target::linux_), dir_);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "report.txt"));
  const std::string hpp = read(dir_ / "vendor_bridge.hpp");
  EXPECT_NE(hpp.find("using c_with_anon = struct with_anon;"), std::string::npos) << hpp;
  EXPECT_NE(
      hpp.find(
          "struct m_with_anon_0 {\n  decltype(c_with_anon::lo) lo;\n  decltype(c_with_anon::hi) hi;\n};"),
      std::string::npos)
      << hpp;
  EXPECT_NE(hpp.find("struct m_with_anon {\n  decltype(c_with_anon::tag) tag;\n  m_with_anon_0 anon0;\n"
                     "  dllbridge::Long n;\n  dllbridge::SizeT z;\n  dllbridge::Handle h;\n};"),
            std::string::npos)
      << hpp;
  EXPECT_NE(hpp.find("static_assert(sizeof(m_with_anon) == sizeof(c_with_anon)"), std::string::npos);
  EXPECT_NE(hpp.find("static_assert(offsetof(m_with_anon, anon0) == offsetof(c_with_anon, lo)"),
            std::string::npos);
  EXPECT_NE(hpp.find("DLLBRIDGE_DESCRIBE(vendor_bridge_types::m_with_anon, \"with_anon\""),
            std::string::npos);
  EXPECT_NE(read(dir_ / "vendor_proxy.cpp").find("decltype(::use_anon)"), std::string::npos);
}

TEST_F(WriteProject, ALongFieldNeedsNoMirrorOnWindowsWhereBothSidesAgree) {
  write_project(anonymous_model(Target::windows), dir_);
  const std::string hpp = read(dir_ / "vendor_bridge.hpp");
  EXPECT_NE(hpp.find("  decltype(c_with_anon::n) n;\n  dllbridge::SizeT z;"), std::string::npos) << hpp;
}

TEST_F(WriteProject, PersistentCallbacksAreKeptAndCallScopedOnesAreNot) {
  const Model m = model_of("", {"void on_event([persistent] void (*f)(int32_t code, void* ctx), void* ctx);",
                                "int32_t each(int32_t n, int32_t (*f)(int32_t i));"});
  write_project(m, dir_);
  const std::string cpp = read(dir_ / "vendor_proxy.cpp");
  EXPECT_NE(
      cpp.find("using F0 = dllbridge::Fn<void(std::int32_t, dllbridge::Handle), dllbridge::CallConv::Cdecl, "
               "true>;"),
      std::string::npos)
      << cpp;
  EXPECT_NE(cpp.find("static dllbridge::proxy::Keep<F0> keep0;"), std::string::npos);
  EXPECT_NE(cpp.find("keep0.set(f0);"), std::string::npos);
  EXPECT_EQ(cpp.find("keep1"), std::string::npos);
}

TEST_F(WriteProject, AFileItCannotWriteIsNamed) {
  std::filesystem::create_directories(dir_ / "vendor_proxy.cpp");  // a folder where the file goes
  const Model m = model_of("", {"int32_t f(int32_t x);"});
  try {
    write_project(m, dir_);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("vendor_proxy.cpp"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dllbridge::gen
