#include "reader_annotations.hpp"

#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include "dllbridge/error.hpp"
#include "reader.hpp"

namespace dllbridge::gen {
namespace {

struct Statement {
  std::string text;
  int line = 0;
};

// Splits at top-level ';' with comments blanked out (line numbers kept).
std::vector<Statement> split(const std::string& src, const std::string& path) {
  std::vector<Statement> out;
  std::string cur;
  int line = 1, start_line = 0, depth = 0;
  for (std::size_t i = 0; i < src.size(); ++i) {
    const char c = src[i];
    if (c == '/' && i + 1 < src.size() && src[i + 1] == '/') {
      while (i < src.size() && src[i] != '\n') ++i;
      --i;
      continue;
    }
    if (c == '/' && i + 1 < src.size() && src[i + 1] == '*') {
      const std::size_t end = src.find("*/", i + 2);
      if (end == std::string::npos)
        throw GenError(path + ":" + std::to_string(line) + ": unterminated /* comment");
      for (std::size_t k = i; k < end; ++k) line += src[k] == '\n';
      cur += ' ';
      i = end + 1;
      continue;
    }
    if (c == '\n') ++line;
    if (!std::isspace(static_cast<unsigned char>(c)) && start_line == 0) start_line = line;
    if (c == '{' || c == '(') ++depth;
    if (c == '}' || c == ')') --depth;
    cur += c;
    if (c == ';' && depth == 0) {
      out.push_back({cur, start_line});
      cur.clear();
      start_line = 0;
    }
  }
  if (start_line != 0)
    throw GenError(path + ":" + std::to_string(start_line) + ": the last declaration does not end with ';'");
  return out;
}

bool starts_with_word(const std::string& s, const std::string& w) {
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  if (s.compare(i, w.size(), w) != 0) return false;
  const std::size_t end = i + w.size();
  return end == s.size() || (!std::isalnum(static_cast<unsigned char>(s[end])) && s[end] != '_');
}

// "at position N: ..." counted in `prefix + text` -> counted in `text`.
std::string relative_message(const std::string& msg, std::size_t prefix) {
  static const std::regex pos(R"(^at position (\d+): )");
  std::smatch m;
  if (std::regex_search(msg, m, pos)) {
    const std::size_t n = std::stoul(m[1].str());
    if (n >= prefix)
      return "at position " + std::to_string(n - prefix) + " of the declaration: " + m.suffix().str();
    return "in an earlier struct or typedef: " + m.suffix().str();
  }
  return msg;
}

// Parses `text` after `prefix`. A struct the file uses without defining it
// is the header's: a stand-in definition lets the declaration parse (only
// its attributes and type names are used, never the stand-in's fields).
sig::Function parse_with_stubs(std::string& prefix, const std::string& text) {
  static const std::regex undefined(R"(struct '([A-Za-z_]\w*)' is used before it is defined)");
  for (int tries = 0;; ++tries) {
    try {
      return sig::parse(prefix + text);
    } catch (const Error& e) {
      std::smatch m;
      const std::string msg = e.what();
      if (tries > 64 || !std::regex_search(msg, m, undefined)) throw;
      const std::string stub = "struct " + m[1].str() + " { int32_t dllbridge_gen_stub; };\n";
      if (prefix.find(stub) != std::string::npos) throw;
      prefix = stub + prefix;
    }
  }
}

}  // namespace

Annotations read_annotations(const std::string& path) {
  Annotations a;
  if (path.empty()) return a;
  std::ifstream in(path);
  if (!in) throw GenError("--annotations " + path + ": cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string prefix;  // every struct and typedef so far
  static const std::regex symbol_re(
      R"(^\s*symbol\s+([A-Za-z_]\w*)\s*=\s*(#\d+|[@A-Za-z_?][\w@?$]*)\s*;\s*$)");
  for (const Statement& st : split(ss.str(), path)) {
    const std::string where = path + ":" + std::to_string(st.line);
    if (starts_with_word(st.text, "symbol")) {
      std::smatch m;
      if (!std::regex_match(st.text, m, symbol_re))
        throw GenError(where + ": expected `symbol NAME = EXPORT;` or `symbol NAME = #ORDINAL;`");
      a.symbols[m[1].str()] = {m[2].str(), where};
      continue;
    }
    const bool is_struct = starts_with_word(st.text, "struct") && st.text.find('{') != std::string::npos &&
                           st.text.find('(') > st.text.find('{');
    if (is_struct || starts_with_word(st.text, "typedef")) {
      std::string stubbed = prefix;
      try {
        const sig::Function f = parse_with_stubs(stubbed, st.text + " void dllbridge_gen_probe(void);");
        prefix = stubbed;
        for (const auto& s : f.structs) {
          if (s->fields.size() == 1 && s->fields[0].name == "dllbridge_gen_stub") continue;
          if (!a.structs.count(s->name)) a.struct_where[s->name] = where;
          a.structs[s->name] = s;
        }
      } catch (const Error& e) {
        throw GenError(where + ": bad annotation: " + relative_message(e.what(), stubbed.size()));
      }
      prefix += st.text + "\n";
      continue;
    }
    std::string stubbed = prefix;
    try {
      sig::Function f = parse_with_stubs(stubbed, st.text);
      prefix = stubbed;
      const std::string name = f.name;
      if (a.functions.count(name))
        throw GenError(where + ": '" + name + "' is annotated twice (first at " + a.functions[name].where +
                       ")");
      a.functions[name] = {std::move(f), where};
    } catch (const Error& e) {
      throw GenError(where + ": bad annotation: " + relative_message(e.what(), stubbed.size()));
    }
  }
  return a;
}

}  // namespace dllbridge::gen
