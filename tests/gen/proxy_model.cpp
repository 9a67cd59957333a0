// A stand-in for dllbridge-gen's front end in the back end's tests: builds
// the Model from a file of signature-language declarations (structs first,
// then one function per line) and writes the project with write_project.
//   proxy_model SIGFILE HEADER LIBRARY NAME linux|windows OUTDIR
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>

#include "emit.hpp"
#include "signature/signature.hpp"

namespace gen = dllbridge::gen;

namespace {

// Adds the structs reached from `t`, each after those it contains.
void collect(const dllbridge::TypeDecl& t, gen::Model& m, std::set<std::string>& seen) {
  if (t.elem) collect(*t.elem, m, seen);
  if (t.callback) {
    collect(t.callback->ret, m, seen);
    for (const auto& p : t.callback->params) collect(p.type, m, seen);
  }
  if (t.kind != dllbridge::TypeDecl::Kind::structure) return;
  for (const auto& f : t.fields) collect(f.type, m, seen);
  if (!seen.insert(t.struct_name).second) return;
  gen::Struct s;
  s.c_spelling = "struct " + t.struct_name;
  s.sig_name = t.struct_name;
  s.decls = t.fields;
  for (const auto& f : t.fields) s.fields.push_back({f.name, ""});
  m.structs.push_back(std::move(s));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::cerr << "usage: proxy_model SIGFILE HEADER LIBRARY NAME linux|windows OUTDIR\n";
    return 2;
  }
  try {
    gen::Model m;
    m.headers = {std::filesystem::absolute(argv[2]).string()};
    m.library = argv[3];
    m.name = argv[4];
    m.target = std::string(argv[5]) == "windows" ? gen::Target::windows : gen::Target::linux_;
    std::ifstream in(argv[1]);
    std::string line, structs;
    std::set<std::string> seen;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (line.size() >= 2 && line.compare(line.size() - 2, 2, "};") == 0) {
        structs += line + "\n";
        continue;
      }
      const dllbridge::sig::Function parsed = dllbridge::sig::parse(structs + line);
      gen::Function f;
      f.decl = dllbridge::sig::lower(parsed);
      f.name = f.decl.name;
      f.symbol = f.name;
      f.conv = f.decl.conv;
      f.signature = line;
      collect(f.decl.ret, m, seen);
      for (const auto& p : f.decl.params) {
        collect(p.type, m, seen);
        f.params.push_back({p.name, ""});
      }
      m.functions.push_back(std::move(f));
    }
    gen::write_project(m, argv[6]);
  } catch (const std::exception& e) {
    std::cerr << "proxy_model: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
