// dllbridge-gen: from C headers and a 32-bit library to the signature file,
// the report, typed bindings and a drop-in 64-bit proxy library
// (docs/gen-reference.md).
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "emit.hpp"
#include "reader.hpp"

namespace {

// The model's C side, for reviewing what the back end is given.
void print(const dllbridge::gen::Model& m, std::ostream& out) {
  for (const auto& s : m.structs) {
    out << "struct " << s.sig_name << " (C: '" << s.c_spelling << "')\n";
    for (const auto& f : s.fields) out << "  field '" << f.name << "': '" << f.c_type << "'\n";
  }
  for (const auto& f : m.functions) {
    out << "function " << f.name << " -> " << f.symbol << ": '" << f.c_return << "'\n";
    for (const auto& p : f.params) out << "  param '" << p.name << "': '" << p.c_type << "'\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dllbridge::gen;
  Options o;
  std::string target;
  CLI::App app{"Generate typed bindings and a 64-bit proxy library from a 32-bit library's C headers"};
  app.allow_windows_style_options(false);
  app.add_option("--header", o.headers, "a C header declaring the library's functions (repeatable)")
      ->required();
  app.add_option("-I", o.include_dirs, "an include folder for the headers (repeatable)");
  app.add_option("-D", o.defines, "a macro NAME or NAME=VALUE for the headers (repeatable)");
  app.add_option("--library", o.library, "the 32-bit library (.so or .dll) whose exports are used")
      ->required();
  app.add_option("--annotations", o.annotations,
                 "declarations in the signature language that override the headers");
  app.add_option("--name", o.name, "the proxy library's name (default: the library's base name)");
  app.add_option("--target", target,
                 "linux or windows (default: the --library's format, ELF linux, PE windows)")
      ->check(CLI::IsMember({"linux", "windows"}));
  app.add_option("--out", o.out, "the folder to write into (created)")->required();
  app.add_flag("--skip-unresolved", o.skip_unresolved,
               "leave out (and list) functions with pointers it cannot decide instead of failing");
  bool print_model = false;
  app.add_flag("--print-model", print_model,
               "also print the model (C spellings of structs, fields, parameters)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (!target.empty()) o.target = target == "windows" ? Target::windows : Target::linux_;
  try {
    const Model m = read_model(o);
    std::error_code ec;
    std::filesystem::create_directories(o.out, ec);
    if (ec) throw GenError("--out " + o.out + ": cannot be created (" + ec.message() + ")");
    write_signature_file(m, o.out);
    write_report(m, o.out);
    write_project(m, o.out);
    if (print_model) print(m, std::cout);
    std::size_t left_out = 0;
    for (const Note& n : m.notes) left_out += n.kind == Note::Kind::skipped;
    std::cout << "dllbridge-gen: " << m.functions.size() << " functions, " << m.structs.size() << " structs, "
              << left_out << " left out; see " << (std::filesystem::path(o.out) / "report.txt").string()
              << "\n";
    return 0;
  } catch (const GenError& e) {
    // One line per problem, each prefixed as a compiler would.
    std::string line;
    std::istringstream lines(e.what());
    while (std::getline(lines, line))
      if (!line.empty()) std::cerr << "dllbridge-gen: error: " << line << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "dllbridge-gen: error: " << e.what() << "\n";
    return 1;
  }
}
