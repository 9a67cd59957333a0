// Parser of the signature language (docs/signature-language.md): a tokenizer
// and a recursive-descent parser over C declarations with MIDL attributes.
#include "signature/signature.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>

#include "dllbridge/error.hpp"

namespace dllbridge::sig {
namespace {

constexpr std::size_t npos = std::string_view::npos;

[[noreturn]] void fail(std::size_t pos, const std::string& what) {
  throw Error(ErrorKind::bad_signature, "at position " + std::to_string(pos) + ": " + what);
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// ---------------------------------------------------------------- tokens

enum class Tok { Ident, Number, Punct, Ellipsis, End };

struct Token {
  Tok kind;
  std::string_view text;
  std::size_t pos;  // byte offset into the input
};

std::string describe(const Token& t) { return t.kind == Tok::End ? "end of input" : quoted(t.text); }

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

std::vector<Token> tokenize(std::string_view s) {
  constexpr std::string_view punct = "()[]{}*,;";
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const std::size_t start = i;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (s.compare(i, 2, "//") == 0) {
      i = s.find('\n', i);
      if (i == npos) i = s.size();
    } else if (s.compare(i, 2, "/*") == 0) {
      const std::size_t end = s.find("*/", i + 2);
      if (end == npos) fail(i, "unterminated comment");
      i = end + 2;
    } else if (is_ident_start(c) || is_digit(c)) {
      // Numbers swallow identifier characters too, so "16abc" is one bad number.
      while (i < s.size() && is_ident_char(s[i])) ++i;
      out.push_back({is_digit(c) ? Tok::Number : Tok::Ident, s.substr(start, i - start), start});
    } else if (s.compare(i, 3, "...") == 0) {
      i += 3;
      out.push_back({Tok::Ellipsis, s.substr(start, 3), start});
    } else if (punct.find(c) != npos) {
      ++i;
      out.push_back({Tok::Punct, s.substr(start, 1), start});
    } else if (std::isprint(static_cast<unsigned char>(c))) {
      fail(i, "unexpected character " + quoted(s.substr(i, 1)));
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(c));
      fail(i, std::string("unexpected byte ") + hex);
    }
  }
  out.push_back({Tok::End, {}, s.size()});
  return out;
}

// A decimal or 0x-hex count that fits 32 bits.
std::uint32_t to_count(const Token& t) {
  std::string_view s = t.text;
  unsigned base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  std::uint64_t v = 0;
  for (char c : s) {
    const int d = is_digit(c) ? c - '0'
                  : (base == 16 && std::isxdigit(static_cast<unsigned char>(c)))
                      ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                      : -1;
    if (d < 0) fail(t.pos, "invalid number " + quoted(t.text));
    v = v * base + static_cast<unsigned>(d);
    if (v > UINT32_MAX) fail(t.pos, "number " + quoted(t.text) + " is too large");
  }
  return static_cast<std::uint32_t>(v);
}

// ---------------------------------------------------------------- vocabulary

// Type-specifier keywords, combined the C way ("long unsigned int").
enum SpecBit : unsigned {
  kSigned = 1,
  kUnsigned = 2,
  kShort = 4,
  kLong = 8,
  kInt = 16,
  kChar = 32,
  kInt64 = 64,
  kNamed = 128,
};

struct SpecWord {
  std::string_view word;
  unsigned bit;
  Scalar named;  // for kNamed words
};

constexpr SpecWord kSpecWords[] = {
    {"signed", kSigned, Scalar::Void}, {"unsigned", kUnsigned, Scalar::Void},
    {"short", kShort, Scalar::Void},   {"long", kLong, Scalar::Void},
    {"int", kInt, Scalar::Void},       {"char", kChar, Scalar::Void},
    {"__int64", kInt64, Scalar::Void}, {"void", kNamed, Scalar::Void},
    {"bool", kNamed, Scalar::Bool},    {"_Bool", kNamed, Scalar::Bool},
    {"float", kNamed, Scalar::Float},  {"double", kNamed, Scalar::Double},
};

// Which specifiers may not appear together with `bit`.
unsigned conflicts(unsigned bit) {
  switch (bit) {
    case kSigned: return kUnsigned | kNamed;
    case kUnsigned: return kSigned | kNamed;
    case kShort: return kLong | kChar | kInt64 | kNamed;
    case kLong: return kShort | kChar | kInt64 | kNamed;
    case kInt: return kChar | kInt64 | kNamed;
    case kChar: return kShort | kLong | kInt | kInt64 | kNamed;
    case kInt64: return kShort | kLong | kInt | kChar | kNamed;
    default: return ~0u;  // a named type stands alone
  }
}

// Typedef-like names: a scalar, possibly already a pointer (LPCSTR).
struct Typedef {
  std::string_view name;
  Scalar scalar;
  int depth;
  bool is_const;
};

constexpr Typedef kTypedefs[] = {
    {"int8_t", Scalar::Int8, 0, false},     {"int16_t", Scalar::Int16, 0, false},
    {"int32_t", Scalar::Int32, 0, false},   {"int64_t", Scalar::Int64, 0, false},
    {"uint8_t", Scalar::UInt8, 0, false},   {"uint16_t", Scalar::UInt16, 0, false},
    {"uint32_t", Scalar::UInt32, 0, false}, {"uint64_t", Scalar::UInt64, 0, false},
    {"size_t", Scalar::SizeT, 0, false},    {"wchar_t", Scalar::WChar, 0, false},
    {"BOOL", Scalar::BOOL, 0, false},       {"BYTE", Scalar::BYTE, 0, false},
    {"WORD", Scalar::WORD, 0, false},       {"DWORD", Scalar::DWORD, 0, false},
    {"HANDLE", Scalar::Handle, 0, false},   {"UINT", Scalar::UInt, 0, false},
    {"INT", Scalar::Int, 0, false},         {"LONG", Scalar::Long, 0, false},
    {"ULONG", Scalar::ULong, 0, false},     {"CHAR", Scalar::Char, 0, false},
    {"SHORT", Scalar::Short, 0, false},     {"USHORT", Scalar::UShort, 0, false},
    {"FLOAT", Scalar::Float, 0, false},     {"LPCSTR", Scalar::Char, 1, true},
    {"LPSTR", Scalar::Char, 1, false},      {"LPCWSTR", Scalar::WChar, 1, true},
    {"LPWSTR", Scalar::WChar, 1, false},    {"LPVOID", Scalar::Void, 1, false},
};

struct ConvWord {
  std::string_view word;
  CallConv conv;
};

constexpr ConvWord kConvWords[] = {
    {"__cdecl", CallConv::Cdecl},       {"_cdecl", CallConv::Cdecl},        {"cdecl", CallConv::Cdecl},
    {"__stdcall", CallConv::Stdcall},   {"_stdcall", CallConv::Stdcall},    {"stdcall", CallConv::Stdcall},
    {"WINAPI", CallConv::Stdcall},      {"CALLBACK", CallConv::Stdcall},    {"APIENTRY", CallConv::Stdcall},
    {"__fastcall", CallConv::Fastcall}, {"__thiscall", CallConv::Thiscall},
};

const SpecWord* find_spec(std::string_view w) {
  for (const SpecWord& e : kSpecWords)
    if (e.word == w) return &e;
  return nullptr;
}
const Typedef* find_typedef(std::string_view w) {
  for (const Typedef& e : kTypedefs)
    if (e.name == w) return &e;
  return nullptr;
}
const ConvWord* find_conv(std::string_view w) {
  for (const ConvWord& e : kConvWords)
    if (e.word == w) return &e;
  return nullptr;
}

bool is_keyword(std::string_view w) {
  return find_spec(w) || w == "const" || w == "volatile" || w == "struct";
}

bool is_integer(Scalar s) {
  switch (s) {
    case Scalar::Void:
    case Scalar::Bool:
    case Scalar::Float:
    case Scalar::Double:
    case Scalar::WChar:
    case Scalar::BOOL:
    case Scalar::Handle: return false;
    default: return true;
  }
}

// ---------------------------------------------------------------- parser

// Where the pieces of one parameter or field were written, for messages.
struct Spots {
  std::size_t type = 0, name = 0;
  std::size_t out = npos, string = npos, size = npos, size_is = npos, size_is_name = npos;
  bool has_attrs = false;
};

template <class Decl>  // Param or Field
struct Parsed {
  Decl decl;
  Spots at;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : toks_(tokenize(text)) {}

  Function run() {
    // "struct Name {" starts a definition; "struct Name f(" is a return type.
    while (at_word("struct") && (is_punct(1, '{') || (peek(1).kind == Tok::Ident && is_punct(2, '{')))) {
      parse_struct();
    }
    fn_.ret = parse_type();
    if (const ConvWord* c = find_conv(peek().text)) {  // only identifiers can match
      fn_.conv = c->conv;
      next();
      if (find_conv(peek().text)) fail(peek().pos, "more than one calling convention");
    }
    fn_.name = std::string(expect_ident("the function name").text);
    parse_params();
    accept(';');
    if (peek().kind != Tok::End)
      fail(peek().pos, "unexpected " + describe(peek()) + " after the declaration");
    return std::move(fn_);
  }

 private:
  const Token& peek(std::size_t ahead = 0) const { return toks_[std::min(i_ + ahead, toks_.size() - 1)]; }
  const Token& next() {
    const Token& t = toks_[i_];
    if (i_ + 1 < toks_.size()) ++i_;
    return t;
  }
  bool is_punct(std::size_t ahead, char c) const {
    const Token& t = peek(ahead);
    return t.kind == Tok::Punct && t.text[0] == c;
  }
  bool at(char c) const { return is_punct(0, c); }
  bool at_word(std::string_view w) const { return peek().kind == Tok::Ident && peek().text == w; }
  bool accept(char c) {
    if (!at(c)) return false;
    next();
    return true;
  }
  void expect(char c) {
    if (!accept(c)) fail(peek().pos, "expected '" + std::string(1, c) + "' but found " + describe(peek()));
  }
  const Token& expect_ident(const char* what) {
    if (peek().kind != Tok::Ident || is_keyword(peek().text)) {
      fail(peek().pos, std::string("expected ") + what + " but found " + describe(peek()));
    }
    return next();
  }

  std::shared_ptr<const StructDef> find_struct(std::string_view name) const {
    for (const auto& s : fn_.structs) {
      if (s->name == name) return s;
    }
    return nullptr;
  }

  // Base type with its qualifiers, no pointer stars: "unsigned long const",
  // "struct Point", "LPCSTR". Ends before the first word that cannot extend it.
  Type parse_base() {
    Type t;
    unsigned mask = 0;
    int longs = 0;
    bool written_const = false;
    const Typedef* td = nullptr;
    std::string words;  // the type words so far, for messages
    while (peek().kind == Tok::Ident) {
      const Token& tok = peek();
      const std::string_view w = tok.text;
      if (w == "const" || w == "volatile") {
        written_const |= w == "const";
        next();
        continue;
      }
      const SpecWord* spec = find_spec(w);
      unsigned bit = spec ? spec->bit : kNamed;
      // Typedef and struct names only start a type; after one, a plain name is the declarator.
      if (!spec && w != "struct") {
        if (mask != 0) break;
        if (!find_typedef(w) && !find_struct(w)) {
          if (find_conv(w))
            fail(tok.pos, "calling convention " + quoted(w) + " must come right before the function name");
          fail(tok.pos, "unknown type " + quoted(w));
        }
      }
      const bool dup = (mask & bit) != 0 && !(bit == kLong && longs < 2);
      if (dup && bit == kLong) fail(tok.pos, "'long long long' is too long");
      if (dup && bit != kNamed) fail(tok.pos, "duplicate " + quoted(w));
      if (dup || (conflicts(bit) & mask))
        fail(tok.pos, quoted(w) + " cannot be combined with " + quoted(words));
      next();
      mask |= bit;
      longs += bit == kLong;
      words += (words.empty() ? "" : " ") + std::string(w);
      if (spec) {
        t.scalar = spec->named;
      } else if (w == "struct") {
        const Token& name = expect_ident("a struct name");
        set_struct(t, name);
        words += " " + std::string(name.text);
      } else if ((td = find_typedef(w))) {
        t.scalar = td->scalar;
        t.pointer_depth = td->depth;
      } else {
        set_struct(t, tok);
      }
    }
    if (mask == 0) fail(peek().pos, "expected a type but found " + describe(peek()));
    if (!(mask & kNamed)) t.scalar = integer_scalar(mask, longs);
    // `const LPSTR` is `char* const`: the const qualifies the pointer, not the text.
    t.is_const = td && td->depth > 0 ? td->is_const : written_const;
    return t;
  }

  static Scalar integer_scalar(unsigned mask, int longs) {
    const bool u = mask & kUnsigned;
    if (mask & kChar) return u ? Scalar::UChar : (mask & kSigned) ? Scalar::SChar : Scalar::Char;
    if (mask & kInt64) return u ? Scalar::ULongLong : Scalar::LongLong;
    if (mask & kShort) return u ? Scalar::UShort : Scalar::Short;
    if (longs == 2) return u ? Scalar::ULongLong : Scalar::LongLong;
    if (longs == 1) return u ? Scalar::ULong : Scalar::Long;
    return u ? Scalar::UInt : Scalar::Int;
  }

  void set_struct(Type& t, const Token& name) {
    t.is_struct = true;
    t.struct_name = std::string(name.text);
    t.def = find_struct(name.text);
    if (!t.def) {
      fail(name.pos, name.text == defining_
                         ? "struct " + quoted(name.text) + " cannot contain itself"
                         : "struct " + quoted(name.text) + " is used before it is defined");
    }
  }

  // Pointer stars after a base type; a const after a star qualifies the pointer and is dropped.
  void parse_stars(Type& t) {
    for (;;) {
      if (at('*')) {
        if (t.pointer_depth == 2) fail(peek().pos, "more than two levels of pointer are not supported");
        ++t.pointer_depth;
        next();
      } else if (at_word("const") || at_word("volatile")) {
        next();
      } else {
        return;
      }
    }
  }

  Type parse_type() {
    Type t = parse_base();
    parse_stars(t);
    return t;
  }

  // Zero or more "[a, b(...)]" groups.
  Attributes parse_attrs(Spots& sp) {
    Attributes a;
    std::size_t in = npos;
    sp.has_attrs = is_punct(0, '[');
    while (accept('[')) {
      do {
        const Token& tok = peek();
        if (tok.kind != Tok::Ident) fail(tok.pos, "expected an attribute but found " + describe(tok));
        const std::string_view w = tok.text;
        next();
        if (w == "in" || w == "out" || w == "inout") {
          const bool is_in = w != "out", is_out = w != "in";
          if ((is_in && in != npos) || (is_out && sp.out != npos)) {
            fail(tok.pos, quoted(w) + " repeats a direction already given");
          }
          if (is_in) in = tok.pos;
          if (is_out) sp.out = tok.pos;
        } else if (w == "string") {
          if (a.string) fail(tok.pos, "duplicate attribute 'string'");
          a.string = true;
          sp.string = tok.pos;
        } else if (w == "size_is" || w == "size") {
          if (sp.size_is != npos || sp.size != npos) {
            fail(tok.pos, sp.size_is != npos && w == "size_is" ? "duplicate attribute 'size_is'"
                          : sp.size != npos && w == "size"     ? "duplicate attribute 'size'"
                                                               : "'size' and 'size_is' cannot both be given");
          }
          expect('(');
          if (w == "size_is") {
            sp.size_is = tok.pos;
            sp.size_is_name = peek().pos;
            if (accept('*')) {
              a.size_is = "*";  // the element count is the length of the value passed (typed API spans)
            } else {
              a.size_is = std::string(expect_ident("a parameter or field name").text);
            }
          } else {
            sp.size = tok.pos;
            if (peek().kind != Tok::Number)
              fail(peek().pos, "expected a number but found " + describe(peek()));
            const Token& n = next();
            a.size = to_count(n);
            if (*a.size == 0) fail(n.pos, "size must be greater than 0");
          }
          expect(')');
        } else {
          fail(tok.pos, "unknown attribute " + quoted(w));
        }
      } while (accept(','));
      expect(']');
    }
    a.dir = in != npos && sp.out != npos ? Direction::InOut
            : in != npos                 ? Direction::In
            : sp.out != npos             ? Direction::Out
                                         : Direction::None;
    return a;
  }

  // Checks shared by parameters and fields, then the text default.
  static void check(const char* what, const std::string& name, const Type& t, Attributes& a,
                    const Spots& sp) {
    const std::string who = std::string(what) + " " + quoted(name);
    const bool pointer = t.pointer_depth > 0;
    if (!t.is_struct && t.scalar == Scalar::Void && !pointer) fail(sp.type, who + " has type void");
    if (sp.out != npos && !pointer) fail(sp.out, "[out] needs a pointer, but " + who + " is not one");
    if (sp.size_is != npos && !pointer)
      fail(sp.size_is, "[size_is] needs a pointer, but " + who + " is not one");
    if (sp.size != npos && !pointer) fail(sp.size, "[size] needs a pointer, but " + who + " is not one");
    if (sp.string != npos && !pointer && !t.array_len) {
      fail(sp.string, "[string] needs a pointer or an array, but " + who + " is neither");
    }
    // docs/signature-language.md 5.3: `const char*` and `const wchar_t*` are [in, string].
    const bool text = t.pointer_depth == 1 && t.is_const && !t.is_struct && !t.array_len &&
                      (t.scalar == Scalar::Char || t.scalar == Scalar::WChar);
    if (text && !a.size_is && !a.size) {
      if (a.dir == Direction::None) a.dir = Direction::In;
      if (a.dir == Direction::In) a.string = true;
    }
  }

  // [size_is(x)] must name an integer sibling; names must be unique.
  template <class Decl>
  static void check_siblings(const std::vector<Parsed<Decl>>& list, const char* what,
                             const std::string& where) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Decl& d = list[i].decl;
      if (d.attrs.size_is && *d.attrs.size_is != "*") {
        const Decl* target = nullptr;
        for (const auto& o : list) {
          if (o.decl.name == *d.attrs.size_is) target = &o.decl;
        }
        const std::string ref = "size_is(" + *d.attrs.size_is + ")";
        if (!target) fail(list[i].at.size_is_name, ref + " names no " + what + " of " + where);
        const Type& tt = target->type;
        if (tt.is_struct || tt.pointer_depth > 0 || tt.array_len || !is_integer(tt.scalar)) {
          fail(list[i].at.size_is_name,
               ref + " must name an integer " + what + ", but " + quoted(target->name) + " is not one");
        }
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (list[j].decl.name == d.name)
          fail(list[i].at.name, std::string("duplicate ") + what + " name " + quoted(d.name));
      }
    }
  }

  void parse_params() {
    expect('(');
    std::vector<Parsed<Param>> params;
    if (!at(')')) {
      do {
        if (peek().kind == Tok::Ellipsis) {
          if (params.empty()) fail(peek().pos, "'...' must follow at least one parameter");
          next();
          fn_.variadic = true;
          break;
        }
        Parsed<Param> p;
        p.decl.attrs = parse_attrs(p.at);
        p.at.type = peek().pos;
        p.decl.type = parse_type();
        if (peek().kind == Tok::Ident) {
          p.at.name = peek().pos;
          p.decl.name = std::string(next().text);
        } else {
          p.at.name = p.at.type;
          p.decl.name = "arg" + std::to_string(params.size());
        }
        if (at('['))
          fail(peek().pos, "arrays are only allowed in struct fields; use a pointer with [size(N)]");
        params.push_back(std::move(p));
      } while (accept(','));
    }
    expect(')');

    // "(void)" alone means no parameters.
    if (params.size() == 1 && !fn_.variadic && !params[0].at.has_attrs &&
        params[0].at.name == params[0].at.type) {
      const Type& t = params[0].decl.type;
      if (!t.is_struct && t.scalar == Scalar::Void && t.pointer_depth == 0) params.clear();
    }
    for (auto& [p, spots] : params) {
      check("parameter", p.name, p.type, p.attrs, spots);
      // void* and struct pointers without attributes are opaque handles; other data needs a direction.
      const bool opaque = p.type.pointer_depth == 1 && (p.type.is_struct || p.type.scalar == Scalar::Void) &&
                          !p.attrs.string && !p.attrs.size && !p.attrs.size_is;
      if (p.type.pointer_depth > 0 && p.attrs.dir == Direction::None && !opaque) {
        fail(spots.name,
             "parameter " + quoted(p.name) + " is a pointer to data and needs [in], [out] or [in, out]");
      }
    }
    check_siblings(params, "parameter", "function " + quoted(fn_.name));
    for (auto& p : params) fn_.params.push_back(std::move(p.decl));
  }

  // struct Name { [attrs] type a, *b, c[4]; ... };
  void parse_struct() {
    next();  // "struct"
    const Token& name = expect_ident("a struct name");
    if (find_struct(name.text)) fail(name.pos, "struct " + quoted(name.text) + " is defined twice");
    defining_ = name.text;
    expect('{');
    std::vector<Parsed<Field>> fields;
    while (!accept('}')) {
      Spots spots;
      const Attributes attrs = parse_attrs(spots);
      spots.type = peek().pos;
      const Type base = parse_base();
      do {
        Parsed<Field> f{Field{{}, base, attrs}, spots};
        parse_stars(f.decl.type);
        const Token& id = expect_ident("a field name");
        f.decl.name = std::string(id.text);
        f.at.name = id.pos;
        if (accept('[')) {
          if (peek().kind != Tok::Number)
            fail(peek().pos, "expected an array length but found " + describe(peek()));
          const Token& n = next();
          f.decl.type.array_len = to_count(n);
          if (*f.decl.type.array_len == 0) fail(n.pos, "array length must be greater than 0");
          expect(']');
        }
        fields.push_back(std::move(f));
      } while (accept(','));
      expect(';');
    }
    expect(';');
    defining_ = {};
    if (fields.empty()) fail(name.pos, "struct " + quoted(name.text) + " has no fields");
    for (auto& [f, spots] : fields) check("field", f.name, f.type, f.attrs, spots);
    check_siblings(fields, "field", "struct " + quoted(name.text));
    auto def = std::make_shared<StructDef>();
    def->name = std::string(name.text);
    for (auto& f : fields) def->fields.push_back(std::move(f.decl));
    fn_.structs.push_back(std::move(def));
  }

  std::vector<Token> toks_;
  std::size_t i_ = 0;
  Function fn_;
  std::string_view defining_;  // struct whose body is being parsed
};

}  // namespace

Function parse(std::string_view text) { return Parser(text).run(); }

std::string_view scalar_name(Scalar s) {
  switch (s) {
    case Scalar::Void: return "void";
    case Scalar::Bool: return "bool";
    case Scalar::Char: return "char";
    case Scalar::SChar: return "signed char";
    case Scalar::UChar: return "unsigned char";
    case Scalar::Short: return "short";
    case Scalar::UShort: return "unsigned short";
    case Scalar::Int: return "int";
    case Scalar::UInt: return "unsigned int";
    case Scalar::Long: return "long";
    case Scalar::ULong: return "unsigned long";
    case Scalar::LongLong: return "long long";
    case Scalar::ULongLong: return "unsigned long long";
    case Scalar::Float: return "float";
    case Scalar::Double: return "double";
    case Scalar::Int8: return "int8_t";
    case Scalar::Int16: return "int16_t";
    case Scalar::Int32: return "int32_t";
    case Scalar::Int64: return "int64_t";
    case Scalar::UInt8: return "uint8_t";
    case Scalar::UInt16: return "uint16_t";
    case Scalar::UInt32: return "uint32_t";
    case Scalar::UInt64: return "uint64_t";
    case Scalar::SizeT: return "size_t";
    case Scalar::WChar: return "wchar_t";
    case Scalar::BOOL: return "BOOL";
    case Scalar::BYTE: return "BYTE";
    case Scalar::WORD: return "WORD";
    case Scalar::DWORD: return "DWORD";
    case Scalar::Handle: return "HANDLE";
  }
  return "?";
}

static_assert(static_cast<int>(Direction::In) == static_cast<int>(Dir::in) &&
              static_cast<int>(Direction::Out) == static_cast<int>(Dir::out) &&
              static_cast<int>(Direction::InOut) == static_cast<int>(Dir::inout));

namespace {

bool is_text_unit(const Type& t) {
  return !t.is_struct && !t.array_len && (t.scalar == Scalar::Char || t.scalar == Scalar::WChar);
}

enum class Place { Param, Field, Return };

TypeDecl lower_type(const std::string& who, const Type& t, const Attributes& a, Place place);

// A type at pointer depth 0: scalar, struct or (in a struct) fixed array.
TypeDecl value_type(const std::string& who, Type t) {
  if (t.array_len) {
    const std::uint32_t n = *t.array_len;
    t.array_len.reset();
    TypeDecl out = decl::array(n, value_type(who, t));
    out.text = is_text_unit(t);
    return out;
  }
  if (t.is_struct) {
    if (!t.def)
      throw Error(ErrorKind::bad_signature, "'" + who + "': struct " + t.struct_name + " is not defined");
    TypeDecl out;
    out.kind = TypeDecl::Kind::structure;
    out.struct_name = t.def->name;
    for (const Field& f : t.def->fields) {
      out.fields.push_back(FieldDecl{f.name, lower_type(who + "." + f.name, f.type, f.attrs, Place::Field)});
    }
    return out;
  }
  return decl::scalar(t.scalar);
}

TypeDecl lower_type(const std::string& who, const Type& t, const Attributes& a, Place place) {
  if (t.pointer_depth == 0) return value_type(who, t);
  const bool opaque =
      t.pointer_depth == 1 && !t.is_struct && (t.scalar == Scalar::Void || t.scalar == Scalar::Handle);
  if (place == Place::Return) {
    if (t.pointer_depth == 1 && is_text_unit(t)) return decl::text_return(t.scalar);  // copied back as text
    return decl::scalar(Scalar::Handle);  // any other pointer comes back as a number
  }
  if (opaque && a.dir == Direction::None && !a.size && !a.size_is && !a.string) {
    return decl::scalar(Scalar::Handle);  // an opaque pointer travels as a number
  }
  Dir dir = static_cast<Dir>(a.dir);
  if (dir == Dir::none && place == Place::Field) dir = Dir::inout;  // pointer fields: filled in, read back
  Type pointee = t;
  pointee.pointer_depth -= 1;
  TypeDecl elem;
  if (pointee.pointer_depth > 0) {
    const bool handle = pointee.pointer_depth == 1 && !pointee.is_struct &&
                        (pointee.scalar == Scalar::Void || pointee.scalar == Scalar::Handle);
    elem = handle ? decl::scalar(Scalar::Handle) : decl::pointer(Dir::none, decl::scalar(pointee.scalar));
  } else {
    elem = value_type(who, pointee);
  }
  TypeDecl out = decl::pointer(dir, std::move(elem));
  const bool counted = a.size || a.size_is;
  out.text = pointee.pointer_depth == 0 && is_text_unit(pointee) && (a.string || counted || dir == Dir::in);
  out.nul_terminated = a.string || (out.text && !counted);
  out.size = a.size.value_or(0);
  out.size_is = a.size_is.value_or("");
  return out;
}

}  // namespace

FunctionDecl lower(const Function& fn) {
  FunctionDecl out;
  out.name = fn.name;
  out.conv = fn.conv;
  out.variadic = fn.variadic;
  out.ret = lower_type(fn.name, fn.ret, Attributes{}, Place::Return);
  for (const Param& p : fn.params)
    out.params.push_back(ParamDecl{p.name, lower_type(p.name, p.type, p.attrs, Place::Param)});
  return out;
}

}  // namespace dllbridge::sig
