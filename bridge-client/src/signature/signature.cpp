// Parser of the signature language (docs/signature-language.md): a tokenizer
// and a recursive-descent parser over C declarations with MIDL attributes.
#include "signature/signature.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <utility>

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
    {"__cdecl", CallConv::Cdecl},     {"_cdecl", CallConv::Cdecl},        {"cdecl", CallConv::Cdecl},
    {"__stdcall", CallConv::Stdcall}, {"_stdcall", CallConv::Stdcall},    {"stdcall", CallConv::Stdcall},
    {"WINAPI", CallConv::Stdcall},    {"CALLBACK", CallConv::Stdcall},    {"APIENTRY", CallConv::Stdcall},
    {"NTAPI", CallConv::Stdcall},     {"PASCAL", CallConv::Stdcall},      {"CDECL", CallConv::Cdecl},
    {"WINAPIV", CallConv::Cdecl},     {"__fastcall", CallConv::Fastcall}, {"__thiscall", CallConv::Thiscall},
};

// How <stdint.h> and windows.h spell built-in names whose built-in meaning is
// written differently (DWORD is always 32 bits here, `unsigned long` is not):
// a pasted `typedef unsigned long DWORD;` is accepted and changes nothing.
constexpr Typedef kHeaderSpellings[] = {
    {"int8_t", Scalar::SChar, 0, false},  {"int16_t", Scalar::Short, 0, false},
    {"int32_t", Scalar::Int, 0, false},   {"int64_t", Scalar::LongLong, 0, false},
    {"uint8_t", Scalar::UChar, 0, false}, {"uint16_t", Scalar::UShort, 0, false},
    {"uint32_t", Scalar::UInt, 0, false}, {"uint64_t", Scalar::ULongLong, 0, false},
    {"BOOL", Scalar::Int, 0, false},      {"BYTE", Scalar::UChar, 0, false},
    {"WORD", Scalar::UShort, 0, false},   {"DWORD", Scalar::ULong, 0, false},
    {"HANDLE", Scalar::Void, 1, false},
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
  return find_spec(w) || w == "const" || w == "volatile" || w == "struct" || w == "typedef";
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
  std::size_t in = npos, out = npos, string = npos, size = npos, size_is = npos, size_is_name = npos;
  std::size_t persistent = npos;
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
    // Definitions first: "typedef ...;" and "struct Name {" (but "struct Name f(" is a return type).
    for (;;) {
      if (at_word("typedef")) {
        parse_typedef();
      } else if (at_struct_body()) {
        parse_struct();
      } else {
        break;
      }
    }
    fn_.ret = parse_type();
    if (const ConvWord* c = find_conv(peek().text)) {  // only identifiers can match
      fn_.conv = c->conv;
      next();
      if (find_conv(peek().text)) fail(peek().pos, "more than one calling convention");
    }
    fn_.name = std::string(expect_ident("the function name").text);
    fn_.params = parse_params("function " + quoted(fn_.name), false, &fn_.variadic);
    accept(';');
    if (peek().kind != Tok::End)
      fail(peek().pos, "unexpected " + describe(peek()) + " after the declaration");
    return std::move(fn_);
  }

 private:
  // Function pointers inside function pointers' parameter lists: at most this deep.
  static constexpr int kMaxCallbackDepth = 8;

  // A declarator's type and name (`pos` is where the name is, or the type when unnamed).
  struct Declarator {
    Type type;
    std::string name;
    std::size_t pos = 0;
    bool named = false;
  };

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
  // "struct {" or "struct Name {": a definition, not a use.
  bool at_struct_body() const {
    return at_word("struct") && (is_punct(1, '{') || (peek(1).kind == Tok::Ident && is_punct(2, '{')));
  }
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
  const Type* find_user_typedef(std::string_view name) const {
    for (const auto& [n, t] : typedefs_) {
      if (n == name) return &t;
    }
    return nullptr;
  }

  // Base type with its qualifiers, no pointer stars: "unsigned long const",
  // "struct Point", "LPCSTR", a typedef name. Ends before the first word that cannot extend it.
  Type parse_base() {
    Type t;
    unsigned mask = 0;
    int longs = 0;
    bool written_const = false;
    const Typedef* td = nullptr;
    const Type* user = nullptr;
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
        if (!find_user_typedef(w) && !find_typedef(w) && !find_struct(w)) {
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
      } else if ((user = find_user_typedef(w))) {
        t = *user;
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
    if (user) {
      t.is_const = user->pointer_depth > 0 ? user->is_const : user->is_const || written_const;
    } else {
      t.is_const = td && td->depth > 0 ? td->is_const : written_const;
    }
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
        if (t.callback) fail(peek().pos, "pointers to function pointers are not supported");
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

  // After the return type `ret`, at "(": "(" [convention] "*" [name] ")" "(" params ")".
  // `name_what` says what the name is when one is required (nullptr: optional,
  // then `fallback` names it). The declaration is named after the declarator.
  Declarator parse_function_pointer(Type ret, const char* name_what, const std::string& fallback) {
    const std::size_t open = peek().pos;
    expect('(');
    auto fn = std::make_shared<Function>();
    fn->ret = std::move(ret);
    if (const ConvWord* c = find_conv(peek().text)) {
      fn->conv = c->conv;
      next();
      if (find_conv(peek().text)) fail(peek().pos, "more than one calling convention");
    }
    expect('*');
    if (at('*')) fail(peek().pos, "pointers to function pointers are not supported");
    while (at_word("const") || at_word("volatile")) next();
    Declarator d;
    d.pos = open;
    if (name_what || peek().kind == Tok::Ident) {
      const Token& id = expect_ident(name_what ? name_what : "a parameter name");
      d.name = std::string(id.text);
      d.pos = id.pos;
      d.named = true;
    } else {
      d.name = fallback;
    }
    if (at('[')) fail(peek().pos, "arrays of function pointers are not supported");
    expect(')');
    if (!at('(')) fail(peek().pos, "expected '(' and the parameters of function pointer " + quoted(d.name));
    if (++callback_nesting_ > kMaxCallbackDepth)
      fail(open, "function pointers nest more than " + std::to_string(kMaxCallbackDepth) + " levels deep");
    fn->name = d.name;
    fn->params = parse_params("function pointer " + quoted(d.name), true, nullptr);
    --callback_nesting_;
    fn->depth = 1 + depth_of(fn->ret);
    for (const Param& p : fn->params) fn->depth = std::max(fn->depth, 1 + depth_of(p.type));
    if (fn->depth > kMaxCallbackDepth) {
      fail(open, "function pointers nest more than " + std::to_string(kMaxCallbackDepth) + " levels deep");
    }
    d.type.callback = std::move(fn);
    return d;
  }

  // A convention after a parameter's or field's type: "int __stdcall (*f)(int)".
  void refuse_misplaced_conv() const {
    if (!find_conv(peek().text)) return;
    const std::string w(peek().text);
    fail(peek().pos,
         "calling convention " + quoted(w) + " belongs inside the parentheses: '(" + w + " *name)'");
  }

  // How deep function pointers nest in `t`, through struct fields too.
  int depth_of(const Type& t) const {
    if (t.callback) return t.callback->depth;
    for (const auto& [def, depth] : struct_depths_) {
      if (t.is_struct && def == t.def.get()) return depth;
    }
    return 0;
  }

  // Zero or more "[a, b(...)]" groups.
  Attributes parse_attrs(Spots& sp) {
    Attributes a;
    sp.has_attrs = is_punct(0, '[');
    while (accept('[')) {
      do {
        const Token& tok = peek();
        if (tok.kind != Tok::Ident) fail(tok.pos, "expected an attribute but found " + describe(tok));
        const std::string_view w = tok.text;
        next();
        if (w == "in" || w == "out" || w == "inout") {
          const bool is_in = w != "out", is_out = w != "in";
          if ((is_in && sp.in != npos) || (is_out && sp.out != npos)) {
            fail(tok.pos, quoted(w) + " repeats a direction already given");
          }
          if (is_in) sp.in = tok.pos;
          if (is_out) sp.out = tok.pos;
        } else if (w == "string") {
          if (a.string) fail(tok.pos, "duplicate attribute 'string'");
          a.string = true;
          sp.string = tok.pos;
        } else if (w == "persistent") {
          if (a.persistent) fail(tok.pos, "duplicate attribute 'persistent'");
          a.persistent = true;
          sp.persistent = tok.pos;
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
    a.dir = sp.in != npos && sp.out != npos ? Direction::InOut
            : sp.in != npos                 ? Direction::In
            : sp.out != npos                ? Direction::Out
                                            : Direction::None;
    return a;
  }

  // Checks shared by parameters and fields, then the text default.
  static void check(const char* what, const std::string& name, const Type& t, Attributes& a,
                    const Spots& sp) {
    const std::string who = std::string(what) + " " + quoted(name);
    if (t.callback) {
      const std::size_t first = std::min({sp.in, sp.out, sp.string, sp.size, sp.size_is});
      if (first != npos) fail(first, who + " is a function pointer: its only attribute is [persistent]");
      return;
    }
    if (sp.persistent != npos)
      fail(sp.persistent, "[persistent] needs a function pointer, but " + who + " is not one");
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
        if (tt.is_struct || tt.pointer_depth > 0 || tt.array_len || tt.callback || !is_integer(tt.scalar)) {
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

  // "(" params ")" of `owner` ("function 'f'" / "function pointer 'cmp'"). In a
  // function pointer's list (`callback`) '...' is refused and data pointers
  // without a direction are [in]; otherwise `variadic` records a trailing '...'.
  std::vector<Param> parse_params(const std::string& owner, bool callback, bool* variadic) {
    expect('(');
    std::vector<Parsed<Param>> params;
    bool dots = false;
    if (!at(')')) {
      do {
        if (peek().kind == Tok::Ellipsis) {
          if (callback) fail(peek().pos, "a function pointer cannot be variadic ('...')");
          if (params.empty()) fail(peek().pos, "'...' must follow at least one parameter");
          next();
          dots = true;
          break;
        }
        Parsed<Param> p;
        p.decl.attrs = parse_attrs(p.at);
        p.at.type = peek().pos;
        p.decl.type = parse_type();
        const std::string fallback = "arg" + std::to_string(params.size());
        refuse_misplaced_conv();
        if (at('(')) {
          Declarator d = parse_function_pointer(std::move(p.decl.type), nullptr, fallback);
          p.decl.type = std::move(d.type);
          p.decl.name = std::move(d.name);
          p.at.name = d.named ? d.pos : p.at.type;
        } else if (peek().kind == Tok::Ident) {
          p.at.name = peek().pos;
          p.decl.name = std::string(next().text);
        } else {
          p.at.name = p.at.type;
          p.decl.name = fallback;
        }
        if (at('['))
          fail(peek().pos, "arrays are only allowed in struct fields; use a pointer with [size(N)]");
        params.push_back(std::move(p));
      } while (accept(','));
    }
    expect(')');
    if (variadic) *variadic = dots;

    // "(void)" alone means no parameters.
    if (params.size() == 1 && !dots && !params[0].at.has_attrs && params[0].at.name == params[0].at.type) {
      const Type& t = params[0].decl.type;
      if (!t.is_struct && !t.callback && t.scalar == Scalar::Void && t.pointer_depth == 0) params.clear();
    }
    for (auto& [p, spots] : params) {
      check("parameter", p.name, p.type, p.attrs, spots);
      if (p.type.pointer_depth == 0 || p.attrs.dir != Direction::None) continue;
      // void* without attributes is an opaque handle (struct pointers are left to the checks).
      const bool plain = !p.attrs.string && !p.attrs.size && !p.attrs.size_is;
      const bool opaque =
          p.type.pointer_depth == 1 && p.type.scalar == Scalar::Void && !p.type.is_struct && plain;
      if (callback) {
        // A function pointer's parameters are what the DLL passes it: read, never filled in.
        if (!opaque) p.attrs.dir = Direction::In;
      } else if (!opaque && !(p.type.pointer_depth == 1 && p.type.is_struct && plain)) {
        fail(spots.name,
             "parameter " + quoted(p.name) + " is a pointer to data and needs [in], [out] or [in, out]");
      }
    }
    check_siblings(params, "parameter", owner);
    std::vector<Param> out;
    for (auto& p : params) out.push_back(std::move(p.decl));
    return out;
  }

  // struct Name { [attrs] type a, *b, c[4], (*f)(int); ... };
  void parse_struct() {
    next();  // "struct"
    const Token& name = expect_ident("a struct name");
    if (find_struct(name.text)) fail(name.pos, "struct " + quoted(name.text) + " is defined twice");
    define_struct(name.text, name.pos, parse_fields(name.text, name.pos));
    expect(';');
  }

  // "{" fields "}" of struct `name` (empty: an anonymous one, written at `pos`).
  std::vector<Field> parse_fields(std::string_view name, std::size_t pos) {
    const std::string label = name.empty() ? std::string("anonymous struct") : "struct " + quoted(name);
    defining_ = name;
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
        refuse_misplaced_conv();
        if (at('(')) {
          Declarator d = parse_function_pointer(std::move(f.decl.type), "a field name", {});
          f.decl.type = std::move(d.type);
          f.decl.name = std::move(d.name);
          f.at.name = d.pos;
        } else {
          const Token& id = expect_ident("a field name");
          f.decl.name = std::string(id.text);
          f.at.name = id.pos;
        }
        if (at('[')) {
          if (f.decl.type.callback) fail(peek().pos, "arrays of function pointers are not supported");
          next();
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
    defining_ = {};
    if (fields.empty()) fail(pos, label + " has no fields");
    for (auto& [f, spots] : fields) check("field", f.name, f.type, f.attrs, spots);
    check_siblings(fields, "field", label);
    std::vector<Field> out;
    for (auto& f : fields) out.push_back(std::move(f.decl));
    return out;
  }

  // Adds struct `name` (checked not to exist) and returns it.
  std::shared_ptr<const StructDef> define_struct(std::string_view name, std::size_t pos,
                                                 std::vector<Field> fields) {
    if (find_struct(name)) fail(pos, "struct " + quoted(name) + " is defined twice");
    auto def = std::make_shared<StructDef>();
    def->name = std::string(name);
    def->fields = std::move(fields);
    int depth = 0;
    for (const Field& f : def->fields) depth = std::max(depth, depth_of(f.type));
    if (depth > 0) struct_depths_.emplace_back(def.get(), depth);
    fn_.structs.push_back(def);
    return def;
  }

  // typedef base declarator ("," declarator)* ";" where base may define a
  // struct (named or not) and a declarator is "*"* Name or a function pointer.
  void parse_typedef() {
    next();  // "typedef"
    Type base;
    if (at_struct_body()) {
      const Token& kw = next();  // "struct"
      if (at('{')) {
        std::vector<Field> fields = parse_fields({}, kw.pos);
        const auto [name, pos] = anonymous_name(kw.pos);
        base = struct_type(define_struct(name, pos, std::move(fields)));
      } else {
        const Token& tag = expect_ident("a struct name");
        if (find_struct(tag.text)) fail(tag.pos, "struct " + quoted(tag.text) + " is defined twice");
        base = struct_type(define_struct(tag.text, tag.pos, parse_fields(tag.text, tag.pos)));
      }
      while (at_word("const") || at_word("volatile")) base.is_const |= next().text == "const";
    } else {
      base = parse_base();
    }
    do {
      Declarator d;
      d.type = base;
      parse_stars(d.type);
      if (at('(')) {
        d = parse_function_pointer(std::move(d.type), "a typedef name", {});
      } else {
        const Token& id = expect_ident("a typedef name");
        d.name = std::string(id.text);
        d.pos = id.pos;
        if (at('[')) fail(peek().pos, "array typedefs are not supported");
      }
      define_typedef(d);
    } while (accept(','));
    expect(';');
  }

  // The name of an anonymous struct about to be named by typedef: its first typedef name
  // without a star ("Point" in "typedef struct { ... } *PPoint, Point;"), else a name no
  // declaration can spell. Returns it and its position (`pos` when made up).
  std::pair<std::string, std::size_t> anonymous_name(std::size_t pos) const {
    int depth = 0;
    bool starred = false;
    std::string first;
    for (std::size_t k = 0; peek(k).kind != Tok::End; ++k) {
      const Token& t = peek(k);
      if (is_punct(k, '(') || is_punct(k, ')')) {
        depth += is_punct(k, '(') ? 1 : -1;
      } else if (depth != 0) {
        continue;
      } else if (is_punct(k, ';')) {
        break;
      } else if (is_punct(k, ',') || is_punct(k, '*')) {
        starred = is_punct(k, '*');
      } else if (t.kind == Tok::Ident && !is_keyword(t.text)) {
        if (!starred) return {std::string(t.text), t.pos};
        if (first.empty()) first = std::string(t.text);
      }
    }
    return {"anonymous struct of " + first, pos};
  }

  static Type struct_type(const std::shared_ptr<const StructDef>& def) {
    Type t;
    t.is_struct = true;
    t.struct_name = def->name;
    t.def = def;
    return t;
  }

  static bool same_type(const Type& a, const Type& b) {
    return a.scalar == b.scalar && a.is_struct == b.is_struct && a.def == b.def && a.is_const == b.is_const &&
           a.pointer_depth == b.pointer_depth && a.array_len == b.array_len && a.callback == b.callback;
  }
  static bool same_as(const Type& t, const Typedef& e) {
    return !t.is_struct && !t.callback && t.scalar == e.scalar && t.pointer_depth == e.depth &&
           t.is_const == e.is_const;
  }

  // Names `d.type`. A name that is already a type may only be declared again as the same type
  // (as C allows; for the built-in names also as <stdint.h> / windows.h spell them), which changes nothing.
  void define_typedef(const Declarator& d) {
    const std::string_view name = d.name;
    if (find_conv(name)) fail(d.pos, quoted(name) + " is a calling convention, not a type name");
    bool same = false, exists = true;
    if (const Type* user = find_user_typedef(name)) {
      same = same_type(*user, d.type);
    } else if (const Typedef* td = find_typedef(name)) {
      same = same_as(d.type, *td);
      for (const Typedef& h : kHeaderSpellings) same |= h.name == name && same_as(d.type, h);
    } else if (const auto def = find_struct(name)) {
      same = d.type.is_struct && d.type.def == def && d.type.pointer_depth == 0 && !d.type.is_const;
    } else {
      exists = false;
    }
    if (exists && !same) fail(d.pos, quoted(name) + " is already a type");
    if (!exists) typedefs_.emplace_back(d.name, d.type);
  }

  std::vector<Token> toks_;
  std::size_t i_ = 0;
  Function fn_;
  std::vector<std::pair<std::string, Type>> typedefs_;  // user typedefs, in declaration order
  std::string_view defining_;                           // struct whose body is being parsed
  int callback_nesting_ = 0;                            // function pointers being parsed, one in another
  std::vector<std::pair<const StructDef*, int>> struct_depths_;  // structs holding function pointers
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
  if (t.callback) {
    if (place == Place::Return) return decl::scalar(Scalar::Handle);  // a returned function pointer's value
    return decl::callback(lower(*t.callback), a.persistent);
  }
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
