// dllbridge-gen's reader: C declarations (libclang, i386 view for the DLL,
// host view for the application's spellings) -> decisions on every pointer
// (annotations, then SAL, then defaults) -> signature text, checked by the
// bridge's own parser and codec -> Model.
#include "reader.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <tuple>

#include "channel/codec.hpp"
#include "dllbridge/error.hpp"
#include "exports.hpp"
#include "reader_annotations.hpp"
#include "reader_clang.hpp"
#include "signature/signature.hpp"

namespace dllbridge::gen {
namespace {
namespace fs = std::filesystem;
using clangx::spelling;

// ---------------------------------------------------------------- C types

// Typedef names the signature language knows, kept as written when their
// size in the DLL's ABI is the one the language gives them.
struct KnownName {
  const char* name;
  unsigned linux_size;
  unsigned windows_size;
};
constexpr KnownName kKnown[] = {
    {"int8_t", 1, 1},   {"int16_t", 2, 2},  {"int32_t", 4, 4},  {"int64_t", 8, 8}, {"uint8_t", 1, 1},
    {"uint16_t", 2, 2}, {"uint32_t", 4, 4}, {"uint64_t", 8, 8}, {"size_t", 4, 4},  {"wchar_t", 4, 2},
    {"BOOL", 4, 4},     {"BYTE", 1, 1},     {"WORD", 2, 2},     {"DWORD", 4, 4},   {"UINT", 4, 4},
    {"INT", 4, 4},      {"LONG", 4, 4},     {"ULONG", 4, 4},    {"CHAR", 1, 1},    {"SHORT", 2, 2},
    {"USHORT", 2, 2},   {"FLOAT", 4, 4},
};

std::optional<std::string> builtin_name(CXTypeKind k) {
  switch (k) {
    case CXType_Void: return "void";
    case CXType_Bool: return "bool";
    case CXType_Char_S:
    case CXType_Char_U: return "char";
    case CXType_SChar: return "signed char";
    case CXType_UChar: return "unsigned char";
    case CXType_Short: return "short";
    case CXType_UShort: return "unsigned short";
    case CXType_Int: return "int";
    case CXType_UInt: return "unsigned int";
    case CXType_Long: return "long";
    case CXType_ULong: return "unsigned long";
    case CXType_LongLong: return "long long";
    case CXType_ULongLong: return "unsigned long long";
    case CXType_Float: return "float";
    case CXType_Double: return "double";
    case CXType_WChar: return "wchar_t";
    default: return std::nullopt;
  }
}

// A C type as the generator sees it (DLL view).
struct CT {
  enum class K : std::uint8_t { scalar, record, pointer, array, function, unsupported };
  K k = K::unsupported;
  std::string scalar;  // scalar: the signature spelling ("int32_t", "unsigned int", "void")
  bool is_const = false;
  CXCursor record{};         // record: its declaration
  std::string typedef_name;  // record: the typedef it was reached through (names an unnamed struct)
  std::shared_ptr<CT> elem;  // pointer: pointee; array: element
  long long extent = 0;      // array
  CXType fn{};               // function: the function type
  std::string why;           // unsupported: what it is
  CXType raw{};              // the type as written
};

int text_unit(const CT& t) {
  if (t.k != CT::K::scalar) return 0;
  if (t.scalar == "char" || t.scalar == "CHAR") return 1;
  if (t.scalar == "wchar_t") return 2;
  return 0;
}

// Whether a field of type `t` is itself const or volatile (an array: its
// elements), through typedefs; a pointer to const data is not.
bool const_or_volatile(CXType t) {
  t = clang_getCanonicalType(t);
  while (t.kind == CXType_ConstantArray || t.kind == CXType_IncompleteArray) {
    if (clang_isConstQualifiedType(t) || clang_isVolatileQualifiedType(t)) return true;
    t = clang_getCanonicalType(clang_getArrayElementType(t));
  }
  return clang_isConstQualifiedType(t) || clang_isVolatileQualifiedType(t);
}

bool is_union(CXCursor record) { return clang_getCursorKind(record) == CXCursor_UnionDecl; }
bool is_complete(CXCursor record) { return !clang_Cursor_isNull(clang_getCursorDefinition(record)); }
bool is_void(const CT& t) { return t.k == CT::K::scalar && t.scalar == "void"; }
// A pointee that makes the pointer an opaque handle: void, or a struct without definition.
bool opaque_pointee(const CT& t) {
  return is_void(t) || (t.k == CT::K::record && !is_union(t.record) && !is_complete(t.record));
}

CT classify(CXType t, Target target) {
  CT out;
  out.raw = t;
  std::string via_typedef;
  for (int guard = 0; guard < 64; ++guard) {
    out.is_const = out.is_const || clang_isConstQualifiedType(t);
    if (t.kind == CXType_Elaborated) {
      t = clang_Type_getNamedType(t);
      continue;
    }
    if (t.kind == CXType_Typedef) {
      CXCursor decl = clang_getTypeDeclaration(t);
      const std::string name = spelling(decl);
      for (const KnownName& k : kKnown) {
        const long long want = target == Target::windows ? k.windows_size : k.linux_size;
        if (name == k.name && clang_Type_getSizeOf(t) == want) {
          out.k = CT::K::scalar;
          out.scalar = name;
          return out;
        }
      }
      via_typedef = name;
      t = clang_getTypedefDeclUnderlyingType(decl);
      continue;
    }
    break;
  }
  if (auto b = builtin_name(t.kind)) {
    out.k = CT::K::scalar;
    out.scalar = *b;
    return out;
  }
  switch (t.kind) {
    case CXType_Enum: {
      CT e = classify(clang_getEnumDeclIntegerType(clang_getTypeDeclaration(t)), target);
      e.raw = out.raw;
      e.is_const = out.is_const;
      return e;
    }
    case CXType_Record:
      out.k = CT::K::record;
      out.record = clang_getTypeDeclaration(t);
      out.typedef_name = via_typedef;
      return out;
    case CXType_Pointer:
      out.k = CT::K::pointer;
      out.elem = std::make_shared<CT>(classify(clang_getPointeeType(t), target));
      return out;
    case CXType_ConstantArray:
      out.k = CT::K::array;
      out.extent = clang_getArraySize(t);
      out.elem = std::make_shared<CT>(classify(clang_getArrayElementType(t), target));
      return out;
    case CXType_FunctionProto:
    case CXType_FunctionNoProto:
      out.k = CT::K::function;
      out.fn = t;
      return out;
    case CXType_IncompleteArray:  // T v[]: a parameter's pointer (a field's flexible array is refused)
      out.k = CT::K::array;
      out.extent = 0;
      out.elem = std::make_shared<CT>(classify(clang_getArrayElementType(t), target));
      return out;
    case CXType_LongDouble: out.why = "long double"; break;
    case CXType_Int128:
    case CXType_UInt128: out.why = "a 128-bit integer"; break;
    case CXType_Complex: out.why = "a _Complex number"; break;
    case CXType_Vector: out.why = "a vector type"; break;
    default: out.why = "the type '" + spelling(t) + "'"; break;
  }
  out.k = CT::K::unsupported;
  return out;
}

std::optional<std::string> conv_keyword(CXType fn, std::string& why) {
  switch (clang_getFunctionTypeCallingConv(fn)) {
    case CXCallingConv_C: return "";
    case CXCallingConv_X86StdCall: return "__stdcall";
    case CXCallingConv_X86FastCall: return "__fastcall";
    case CXCallingConv_X86ThisCall: return "__thiscall";
    default:
      why = "its calling convention (only cdecl, stdcall, fastcall and thiscall are supported)";
      return std::nullopt;
  }
}

CallConv conv_of(const std::string& keyword) {
  if (keyword == "__stdcall") return CallConv::Stdcall;
  if (keyword == "__fastcall") return CallConv::Fastcall;
  if (keyword == "__thiscall") return CallConv::Thiscall;
  return CallConv::Cdecl;
}

// ---------------------------------------------------------------- decisions

// Why a declaration cannot be generated.
struct Problem {
  enum class Kind : std::uint8_t { unresolved, unsupported };
  Kind kind;
  std::string where;  // "lg_upper, parameter out" (+ location)
  std::string text;
};

struct Decided {
  std::string text;               // "[in, string] const char* s"
  std::vector<Note> notes;        // how it was decided
  std::set<std::string> structs;  // sig names of the structs it uses (by value or pointer)
  std::optional<Problem> problem;
};

// Size-equivalence classes of the signature language's scalars in the DLL's
// ABI, for checking an annotation against the header.
// (long and size_t are 4 bytes in both i386 ABIs.)
std::string scalar_class(sig::Scalar s) {
  using S = sig::Scalar;
  switch (s) {
    case S::Void: return "void";
    case S::Bool: return "bool";
    case S::Char: return "char";
    case S::WChar: return "wchar";
    case S::SChar:
    case S::Int8: return "i8";
    case S::UChar:
    case S::UInt8:
    case S::BYTE: return "u8";
    case S::Short:
    case S::Int16: return "i16";
    case S::UShort:
    case S::UInt16:
    case S::WORD: return "u16";
    case S::Int:
    case S::Int32:
    case S::BOOL:
    case S::Long: return "i32";
    case S::UInt:
    case S::UInt32:
    case S::DWORD:
    case S::ULong:
    case S::SizeT: return "u32";
    case S::LongLong:
    case S::Int64: return "i64";
    case S::ULongLong:
    case S::UInt64: return "u64";
    case S::Float: return "f32";
    case S::Double: return "f64";
    case S::Handle: return "ptr";
  }
  return "?";
}

std::string type_class(const sig::Type& t) {
  if (t.callback) return "callback";
  std::string base = t.is_struct ? "struct " + t.struct_name : scalar_class(t.scalar);
  if (!t.is_struct && t.scalar == sig::Scalar::Handle) return t.pointer_depth == 0 ? "ptr" : "ptr*";
  if (t.pointer_depth > 0 && !t.is_struct && t.scalar == sig::Scalar::Void)
    return t.pointer_depth == 1 ? "ptr" : "ptr*";
  return base + std::string(static_cast<std::size_t>(t.pointer_depth), '*');
}

// An annotation's type that may stand for a header's void*: one level of
// pointer to a number (not void, not a handle, not a struct).
bool refines_void(const sig::Type& t) {
  return !t.callback && !t.is_struct && t.pointer_depth == 1 && t.scalar != sig::Scalar::Void &&
         t.scalar != sig::Scalar::Handle;
}

std::string render_attrs(std::vector<std::string> a) {
  if (a.empty()) return "";
  std::string s = "[";
  for (std::size_t i = 0; i < a.size(); ++i) s += (i ? ", " : "") + a[i];
  return s + "] ";
}

std::vector<std::string> attr_words(const sig::Attributes& a,
                                    const std::function<std::string(const std::string&)>& rename) {
  std::vector<std::string> w;
  if (a.dir == sig::Direction::In) w.push_back("in");
  if (a.dir == sig::Direction::Out) w.push_back("out");
  if (a.dir == sig::Direction::InOut) w.insert(w.end(), {"in", "out"});
  if (a.string) w.push_back("string");
  if (a.size_is) w.push_back("size_is(" + (*a.size_is == "*" ? std::string("*") : rename(*a.size_is)) + ")");
  if (a.size) w.push_back("size(" + std::to_string(*a.size) + ")");
  if (a.persistent) w.push_back("persistent");
  return w;
}

struct Reader;

// Everything one parameter or field needs to be decided.
struct Slot {
  std::string owner;  // "lg_upper" or "struct sample_poly"
  std::string label;  // "parameter out" / "field pts"
  std::string name;   // its name in the signature
  std::string where;  // "h.h:12"
  CT type;
  std::vector<std::string> sal;          // "sal:..." annotations
  const sig::Attributes* ann = nullptr;  // the annotation's attributes, when annotated
  const sig::Type* ann_type = nullptr;
  std::function<std::string(const std::string&)> rename;  // annotation name -> header name
  bool field = false;
  std::vector<std::string> callback_names;  // a function pointer's parameter names, as declared
};

// The parameter names of the function pointer a parameter or field
// declares, inline or through its typedef (empty when it declares none).
std::vector<std::string> callback_param_names(CXCursor decl) {
  std::vector<std::string> names;
  for (int depth = 0; depth < 8; ++depth) {
    CXCursor next = clang_getNullCursor();
    for (CXCursor k : clangx::children(decl)) {
      if (clang_getCursorKind(k) == CXCursor_ParmDecl) names.push_back(spelling(k));
      if (clang_getCursorKind(k) == CXCursor_TypeRef) next = clang_getCursorReferenced(k);
    }
    if (!names.empty() || clang_Cursor_isNull(next) || clang_getCursorKind(next) != CXCursor_TypedefDecl)
      break;
    decl = next;
  }
  return names;
}

struct StructEntry {
  std::string usr;
  std::string sig_name;
  std::string where;
  CXCursor decl{};
  bool done = false;
  bool busy = false;
  std::optional<Problem> problem;
  std::set<std::string> deps;  // struct sig names it needs defined first
  std::string declaration;
  std::string c_spelling;  // "struct tag", a typedef name, or "" (an unnamed member's type)
  std::vector<CField> fields;
  std::vector<Note> notes;
  int order = -1;
};

struct Reader {
  const Options& o;
  Annotations ann;
  bool windows;
  std::map<std::string, StructEntry> structs;  // by USR
  std::map<std::string, std::string> usr_of;   // sig name -> USR
  int next_order = 0;
  std::vector<std::string> ordered;  // sig names, dependencies first

  Reader(const Options& opt, Annotations a)
      : o(opt), ann(std::move(a)), windows(opt.target == Target::windows) {}

  std::string type_text(const CT& t) {
    switch (t.k) {
      case CT::K::scalar: return t.scalar;
      case CT::K::record: return "struct " + structs.at(clangx::take(clang_getCursorUSR(t.record))).sig_name;
      case CT::K::pointer:
        if (opaque_pointee(*t.elem)) return "void*";
        if (t.elem->k == CT::K::pointer) return "void**";
        return (t.elem->is_const ? "const " : "") + type_text(*t.elem) + "*";
      default: return "?";
    }
  }

  // Makes sure the struct behind `t` (a record) is read; its sig name, or a problem.
  std::optional<Problem> need_struct(const CT& t, const std::string& who, std::set<std::string>& uses,
                                     const std::string& parent_name = "", const std::string& member = "") {
    CXCursor decl = t.record;
    if (is_union(decl))
      return Problem{Problem::Kind::unsupported, "union " + spelling(decl) + " (" + clangx::where(decl) + ")",
                     "unions are not supported (needed by " + who + ")"};
    if (!is_complete(decl))
      return Problem{Problem::Kind::unsupported, who,
                     "struct " + spelling(decl) + " is used by value but never defined"};
    CXCursor def = clang_getCursorDefinition(decl);
    const std::string usr = clangx::take(clang_getCursorUSR(def));
    auto it = structs.find(usr);
    if (it == structs.end()) {
      StructEntry e;
      e.usr = usr;
      e.decl = def;
      e.where = clangx::where(def);
      std::string tag = spelling(def);
      if (tag.empty() || tag.find('(') != std::string::npos || tag.find(' ') != std::string::npos)
        tag.clear();
      if (!tag.empty())
        e.sig_name = tag;
      else if (!t.typedef_name.empty())
        e.sig_name = t.typedef_name;
      else
        e.sig_name = parent_name + "_" + member;
      // Two structs may not share a name in one signature (a typedef named like another's tag).
      for (int k = 2; usr_of.count(e.sig_name); ++k)
        e.sig_name =
            (k == 2 ? e.sig_name : e.sig_name.substr(0, e.sig_name.rfind('_'))) + "_" + std::to_string(k);
      usr_of[e.sig_name] = usr;
      it = structs.emplace(usr, std::move(e)).first;
      read_struct(it->second, !tag.empty() ? "struct " + tag : t.typedef_name);
    } else if (it->second.busy) {
      return Problem{Problem::Kind::unsupported,
                     "struct " + it->second.sig_name + " (" + it->second.where + ")",
                     "contains itself through a pointer (a linked structure, or a function pointer field "
                     "taking its own struct): not supported"};
    }
    if (it->second.problem) return it->second.problem;
    uses.insert(it->second.sig_name);
    return std::nullopt;
  }

  void read_struct(StructEntry& e, const std::string& c_spelling) {
    e.busy = true;
    const std::string owner = "struct " + e.sig_name;
    const sig::StructDef* ann_def = nullptr;
    if (auto a = ann.structs.find(e.sig_name); a != ann.structs.end()) ann_def = a->second.get();
    // The fields, anonymous members included (clang_Type_visitFields sees them all).
    std::vector<CXCursor> fields;
    clang_Type_visitFields(
        clang_getCursorType(e.decl),
        [](CXCursor c, CXClientData d) {
          static_cast<std::vector<CXCursor>*>(d)->push_back(c);
          return CXVisit_Continue;
        },
        &fields);
    if (ann_def && ann_def->fields.size() != fields.size())
      e.problem = Problem{Problem::Kind::unresolved, owner + " (" + ann.struct_where[e.sig_name] + ")",
                          "the annotation has " + std::to_string(ann_def->fields.size()) +
                              " fields, the header (" + e.where + ") " + std::to_string(fields.size())};
    std::string body;
    int anon = 0;
    for (std::size_t i = 0; i < fields.size() && !e.problem; ++i) {
      CXCursor f = fields[i];
      std::string name = spelling(f);
      const bool anonymous = name.empty() || clang_Cursor_isAnonymousRecordDecl(
                                                 clang_getTypeDeclaration(clang_getCursorType(f)));
      const std::string sig_field = anonymous ? "anon" + std::to_string(anon++) : name;
      const std::string label = "field " + (anonymous ? "(anonymous member " + sig_field + ")" : name);
      e.fields.push_back({anonymous ? "" : name, ""});
      if (clang_Cursor_isBitField(f)) {
        e.problem =
            Problem{Problem::Kind::unsupported, owner + ", field " + name + " (" + clangx::where(f) + ")",
                    "bit-fields are not supported"};
        break;
      }
      if (const_or_volatile(clang_getCursorType(f))) {
        e.problem =
            Problem{Problem::Kind::unsupported, owner + ", field " + name + " (" + clangx::where(f) + ")",
                    "const or volatile fields are not supported (the bindings could not fill them in)"};
        break;
      }
      if (ann_def && !anonymous && ann_def->fields[i].name != name) {
        e.problem =
            Problem{Problem::Kind::unresolved, owner + " (" + ann.struct_where[e.sig_name] + ")",
                    "the annotation's field " + std::to_string(i + 1) + " is '" + ann_def->fields[i].name +
                        "', the header's (" + clangx::where(f) + ") '" + name + "'"};
        break;
      }
      CT t = classify(clang_getCursorType(f), *o.target);
      Slot s;
      s.owner = owner;
      s.label = label;
      s.name = sig_field;
      s.where = clangx::where(f);
      s.type = t;
      s.field = true;
      s.callback_names = callback_param_names(f);
      s.sal = clangx::annotations(f);
      if (ann_def) {
        s.ann = &ann_def->fields[i].attrs;
        s.ann_type = &ann_def->fields[i].type;
        s.rename = [&](const std::string& n) {
          for (std::size_t k = 0; k < ann_def->fields.size(); ++k)
            if (ann_def->fields[k].name == n) return k < fields.size() ? spelling(fields[k]) : n;
          return n;
        };
      }
      Decided d;
      if (t.k == CT::K::array && t.extent <= 0) {
        d.problem = Problem{Problem::Kind::unsupported, owner + ", " + label + " (" + s.where + ")",
                            "a flexible array member (no size) is not supported"};
      } else if (t.k == CT::K::array) {
        if (t.elem->k == CT::K::scalar && !is_void(*t.elem)) {
          d.text = t.elem->scalar + " " + sig_field + "[" + std::to_string(t.extent) + "]";
        } else if (t.elem->k == CT::K::record) {
          if (auto p = need_struct(*t.elem, owner + ", " + label, d.structs, e.sig_name, sig_field))
            d.problem = p;
          else
            d.text = type_text(*t.elem) + " " + sig_field + "[" + std::to_string(t.extent) + "]";
        } else {
          d.problem = Problem{Problem::Kind::unsupported, owner + ", " + label + " (" + s.where + ")",
                              "arrays of pointers or of arrays are not supported"};
        }
      } else if (t.k == CT::K::record) {
        if (auto p = need_struct(t, owner + ", " + label, d.structs, e.sig_name, sig_field))
          d.problem = p;
        else
          d.text = type_text(t) + " " + sig_field;
      } else {
        d = decide(s);
      }
      if (d.problem) {
        e.problem = d.problem;
        break;
      }
      body += " " + d.text + ";";
      e.deps.insert(d.structs.begin(), d.structs.end());
      for (Note& nt : d.notes) {
        nt.where += " (" + s.where + ")";  // the field's own line
        e.notes.push_back(nt);
      }
    }
    if (!e.problem && fields.empty())
      e.problem =
          Problem{Problem::Kind::unsupported, owner + " (" + e.where + ")", "a struct without fields"};
    e.declaration = "struct " + e.sig_name + " {" + body + " };";
    e.c_spelling = c_spelling;
    e.busy = false;
    e.done = true;
    if (!e.problem) {
      e.order = next_order++;
      ordered.push_back(e.sig_name);
    }
  }

  // The sig text of a function pointer called `name`, its callback parameters
  // with the annotation's attributes when `ann_cb` is given.
  Decided callback_text(const CT& fnptr, const std::string& name, const Slot& s) {
    Decided d;
    const CXType fn = fnptr.elem->fn;
    std::string why;
    auto conv = conv_keyword(fn, why);
    auto fail = [&](const std::string& what) {
      d.problem = Problem{Problem::Kind::unsupported, s.owner + ", " + s.label + " (" + s.where + ")", what};
      return d;
    };
    if (!conv) return fail("the function pointer has " + why);
    if (fnptr.elem->fn.kind == CXType_FunctionNoProto) return fail("a function pointer without a prototype");
    if (clang_isFunctionTypeVariadic(fn)) return fail("a variadic function pointer");
    const sig::Function* ann_cb = s.ann_type && s.ann_type->callback ? s.ann_type->callback.get() : nullptr;
    const int n = clang_getNumArgTypes(fn);
    if (ann_cb && static_cast<int>(ann_cb->params.size()) != n)
      return fail("the annotation's function pointer has " + std::to_string(ann_cb->params.size()) +
                  " parameters, the header's " + std::to_string(n));
    CT ret = classify(clang_getResultType(fn), *o.target);
    std::string rtext;
    if (ret.k == CT::K::scalar) {
      rtext = ret.scalar;
    } else if (ret.k == CT::K::record) {
      if (auto p = need_struct(ret, s.owner + ", " + s.label, d.structs)) {
        d.problem = p;
        return d;
      }
      rtext = type_text(ret);
    } else {
      return fail("the function pointer returns " + spelling(ret.raw) +
                  " (callbacks return scalars, structs or void)");
    }
    std::string params;
    for (int i = 0; i < n; ++i) {
      CT p = classify(clang_getArgType(fn, static_cast<unsigned>(i)), *o.target);
      std::string pname = ann_cb ? ann_cb->params[static_cast<std::size_t>(i)].name
                          : static_cast<std::size_t>(i) < s.callback_names.size() &&
                                  !s.callback_names[static_cast<std::size_t>(i)].empty()
                              ? s.callback_names[static_cast<std::size_t>(i)]
                              : "arg" + std::to_string(i);
      std::string attrs;
      if (ann_cb)
        attrs = render_attrs(attr_words(ann_cb->params[static_cast<std::size_t>(i)].attrs,
                                        [](const std::string& x) { return x; }));
      std::string ptext;
      if (p.k == CT::K::scalar && !is_void(p)) {
        ptext = p.scalar;
      } else if (p.k == CT::K::record) {
        if (auto pr = need_struct(p, s.owner + ", " + s.label, d.structs)) {
          d.problem = pr;
          return d;
        }
        ptext = type_text(p);
      } else if (p.k == CT::K::pointer && p.elem->k != CT::K::function) {
        if (p.elem->k == CT::K::record && !opaque_pointee(*p.elem))
          if (auto pr = need_struct(*p.elem, s.owner + ", " + s.label, d.structs)) {
            d.problem = pr;
            return d;
          }
        if (p.elem->k == CT::K::unsupported) return fail("a callback parameter of " + p.elem->why);
        ptext = type_text(p);
      } else {
        return fail("a callback parameter of type " + spelling(p.raw) + " (not supported)");
      }
      params += (i ? ", " : "") + attrs + ptext + " " + pname;
    }
    const std::string conv_text = conv->empty() ? "" : *conv + " ";
    d.text = rtext + " (" + conv_text + "*" + name + ")(" + params + ")";
    return d;
  }

  // One parameter or field: its attributes and signature text.
  Decided decide(const Slot& slot) {
    Decided d;
    // A parameter declared as an array (`const int32_t v[4]`) is C's pointer, N elements by default.
    Slot s = slot;
    long long extent = 0;
    if (!s.field && s.type.k == CT::K::array &&
        (s.type.elem->k == CT::K::scalar || s.type.elem->k == CT::K::record)) {
      extent = s.type.extent > 0 ? s.type.extent : -1;
      CT p;
      p.k = CT::K::pointer;
      p.elem = s.type.elem;
      p.raw = s.type.raw;
      s.type = p;
    }
    const CT& t = s.type;
    const std::string who = s.owner + ", " + s.label;
    auto problem = [&](Problem::Kind k, const std::string& text) {
      d.problem = Problem{k, who + " (" + s.where + ")", text};
      return d;
    };
    auto note = [&](Note::Kind k, const std::string& text) { d.notes.push_back({k, who, text}); };
    if (t.k == CT::K::unsupported) return problem(Problem::Kind::unsupported, t.why + " is not supported");
    if (t.k == CT::K::function) return problem(Problem::Kind::unsupported, "a function type");
    if (t.k == CT::K::array) return problem(Problem::Kind::unsupported, "an array parameter");
    if (t.k == CT::K::scalar) {
      if (is_void(t)) return problem(Problem::Kind::unsupported, "a void parameter");
      d.text = t.scalar + " " + s.name;
      return d;
    }
    if (t.k == CT::K::record) {
      if (auto p = need_struct(t, who, d.structs)) {
        d.problem = p;
        return d;
      }
      d.text = type_text(t) + " " + s.name;
      return d;
    }
    // A pointer.
    const CT& pe = *t.elem;
    if (pe.k == CT::K::function) {
      Decided cb = callback_text(t, s.name, s);
      if (cb.problem) return cb;
      const bool persistent = s.ann && s.ann->persistent;
      cb.text = (persistent ? "[persistent] " : "") + cb.text;
      if (s.ann)
        note(Note::Kind::annotated, persistent
                                        ? "callback, [persistent]: valid until the application releases it"
                                        : "callback, valid during the call only");
      else
        note(Note::Kind::defaulted,
             "callback, valid during the call only (annotate [persistent] if the library keeps it)");
      cb.notes = d.notes;
      return cb;
    }
    if (pe.k == CT::K::unsupported)
      return problem(Problem::Kind::unsupported, "a pointer to " + pe.why + " is not supported");
    if (pe.k == CT::K::record && is_union(pe.record))
      return problem(
          Problem::Kind::unsupported,
          "union " + spelling(pe.record) + " (" + clangx::where(pe.record) + "): unions are not supported");
    if (pe.k == CT::K::array)
      return problem(Problem::Kind::unsupported, "a pointer to an array is not supported");
    // The struct it points to, read first.
    if (pe.k == CT::K::record && !opaque_pointee(pe))
      if (auto p = need_struct(pe, who, d.structs)) {
        d.problem = p;
        return d;
      }
    const std::string type = type_text(t);
    const int unit = text_unit(pe);
    std::vector<std::string> attrs;
    // 1. The annotations file.
    if (s.ann) {
      if (opaque_pointee(pe) && s.ann->dir == sig::Direction::None) {
        note(Note::Kind::annotated, "opaque pointer: a handle (a number)");
        d.text = type + " " + s.name;
        return d;
      }
      attrs = attr_words(
          *s.ann, s.rename ? s.rename : [](const std::string& x) { return x; });
      // A header's void* annotated as a buffer of numbers (`const void* data` as
      // `[in, size_is(n)] const uint8_t* data`): the annotation's element type.
      std::string typed = type;
      if (opaque_pointee(pe) && s.ann_type && refines_void(*s.ann_type))
        typed =
            (s.ann_type->is_const ? "const " : "") + std::string(sig::scalar_name(s.ann_type->scalar)) + "*";
      note(Note::Kind::annotated, render_attrs(attrs) + typed);
      d.text = render_attrs(attrs) + typed + " " + s.name;
      return d;
    }
    // 2. SAL.
    std::string sal, sal_arg;
    for (const std::string& a : s.sal) {
      if (a.rfind("sal:", 0) != 0) continue;
      const std::string body = a.substr(4);
      const auto colon = body.find(':');
      sal = body.substr(0, colon);
      sal_arg = colon == std::string::npos ? "" : body.substr(colon + 1);
      break;
    }
    if (!sal.empty() && !(is_void(pe))) {
      std::string count;
      if (!sal_arg.empty()) {
        std::string a = sal_arg;
        a.erase(std::remove_if(a.begin(), a.end(), [](unsigned char c) { return std::isspace(c); }), a.end());
        if (!a.empty() && std::all_of(a.begin(), a.end(), [](unsigned char c) { return std::isdigit(c); }))
          count = "size(" + a + ")";
        else if (!a.empty() && (std::isalpha(static_cast<unsigned char>(a[0])) || a[0] == '_') &&
                 std::all_of(a.begin(), a.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; }))
          count = "size_is(" + a + ")";
        else
          return problem(
              Problem::Kind::unresolved,
              "the SAL size '" + sal_arg + "' is neither a parameter nor a number: annotate the parameter");
      }
      const bool z = sal.size() > 2 && sal.compare(sal.size() - 2, 2, "_z") == 0;
      const std::string base = z ? sal.substr(0, sal.size() - 2) : sal;
      if (base == "in" || base == "in_reads")
        attrs = {"in"};
      else if (base == "out" || base == "out_writes")
        attrs = {"out"};
      else if (base == "inout" || base == "inout_updates")
        attrs = {"in", "out"};
      else if (base == "outptr")
        attrs = {"out"};
      else if (base == "field_size" && s.field && !count.empty())
        attrs = pe.is_const ? std::vector<std::string>{"in"} : std::vector<std::string>{"in", "out"};
      if (!attrs.empty()) {
        if (base == "outptr" && pe.k != CT::K::pointer)
          return problem(Problem::Kind::unresolved,
                         "_Outptr_ on a pointer that is not a pointer to a pointer");
        if (z && unit && base != "out_writes") attrs.push_back("string");
        if (!count.empty()) attrs.push_back(count);
        if (base == "outptr" && !opaque_pointee(*pe.elem))
          return problem(Problem::Kind::unresolved,
                         "_Outptr_ to " + spelling(pe.raw) +
                             ": the library's pointer would reach the application as "
                             "a 32-bit number; declare it void** or annotate the function");
        note(Note::Kind::sal, render_attrs(attrs) + type);
        d.text = render_attrs(attrs) + type + " " + s.name;
        return d;
      }
    }
    // 3. Defaults.
    if (extent < 0)
      return problem(Problem::Kind::unresolved, spelling(t.raw) +
                                                    ": an array parameter without a size: annotate it "
                                                    "(e.g. [in, size_is(n)]) or use SAL (_In_reads_(n))");
    if (opaque_pointee(pe)) {
      note(Note::Kind::defaulted, is_void(pe)
                                      ? "void*: an opaque handle (a number)"
                                      : "pointer to struct " + spelling(pe.record) +
                                            ", which the headers never define: an opaque handle (a number)");
      d.text = "void* " + s.name;
      return d;
    }
    if (pe.k == CT::K::pointer) {
      if (opaque_pointee(*pe.elem)) {
        note(Note::Kind::defaulted, spelling(t.raw) + ": [out] handle");
        d.text = "[out] void** " + s.name;
        return d;
      }
      return problem(
          Problem::Kind::unresolved,
          spelling(t.raw) +
              " is a pointer to a pointer to data: the library's pointer would reach the application as a "
              "32-bit number; annotate the function (e.g. [out] void** as a handle)");
    }
    if (unit && extent > 0) {
      attrs = pe.is_const ? std::vector<std::string>{"in"} : std::vector<std::string>{"in", "out"};
      attrs.push_back("size(" + std::to_string(extent) + ")");
      note(Note::Kind::defaulted, spelling(t.raw) + ": text in a buffer of " + std::to_string(extent) +
                                      " units, " +
                                      render_attrs(attrs).substr(0, render_attrs(attrs).size() - 1));
      d.text = render_attrs(attrs) + type + " " + s.name;
      return d;
    }
    if (unit) {
      if (pe.is_const) {
        note(Note::Kind::defaulted,
             std::string(unit == 2 ? "const wchar_t*" : "const char*") + ": [in, string] text");
        d.text = "[in, string] " + type + " " + s.name;
        return d;
      }
      return problem(Problem::Kind::unresolved,
                     spelling(t.raw) +
                         " without a size: say whether it is text or a buffer and how long: annotate it "
                         "(e.g. [out, size_is(cap)], [in, out, string, size_is(cap)], [in, string]) or "
                         "use SAL (_Out_writes_(cap), _In_z_)");
    }
    const std::string count = extent > 0 ? std::to_string(extent) + " elements" : "one element";
    if (pe.is_const) {
      note(Note::Kind::defaulted, (extent ? "const array: [in], " : "const pointer: [in], ") + count);
      attrs = {"in"};
    } else {
      note(Note::Kind::defaulted, (extent ? "array: [in, out], " : "pointer: [in, out], ") + count);
      attrs = {"in", "out"};
    }
    if (extent > 0) attrs.push_back("size(" + std::to_string(extent) + ")");
    d.text = render_attrs(attrs) + type + " " + s.name;
    return d;
  }
};

bool in_headers(CXCursor c, const std::set<std::string>& files) {
  return files.count(clangx::file_of(c)) > 0;
}

// The closure of `roots` over the structs' dependencies, in definition order.
std::vector<std::string> closure(Reader& r, const std::set<std::string>& roots) {
  std::set<std::string> seen;
  std::vector<std::string> stack(roots.begin(), roots.end());
  while (!stack.empty()) {
    std::string n = stack.back();
    stack.pop_back();
    if (!seen.insert(n).second) continue;
    const StructEntry& e = r.structs.at(r.usr_of.at(n));
    stack.insert(stack.end(), e.deps.begin(), e.deps.end());
  }
  std::vector<std::string> out(seen.begin(), seen.end());
  std::sort(out.begin(), out.end(), [&](const std::string& a, const std::string& b) {
    return r.structs.at(r.usr_of.at(a)).order < r.structs.at(r.usr_of.at(b)).order;
  });
  return out;
}

// A host type as C and C++ both spell it: C's `_Bool` (what <stdbool.h>'s
// `bool` names) is `bool`, which the including code has either way.
std::string c_spelling(CXType t) {
  static const std::regex bool_word(R"(\b_Bool\b)");
  return std::regex_replace(spelling(t), bool_word, "bool");
}

unsigned arg_bytes(CXType fn) {
  unsigned total = 0;
  const int n = clang_getNumArgTypes(fn);
  for (int i = 0; i < n; ++i) {
    const long long size = clang_Type_getSizeOf(clang_getArgType(fn, static_cast<unsigned>(i)));
    total += static_cast<unsigned>((std::max<long long>(size, 0) + 3) / 4 * 4);
  }
  return total;
}

}  // namespace

std::string default_name(const std::string& library) {
  std::string stem = fs::path(library).filename().string();
  // "libfoo.so" -> "foo" (the Unix prefix, as written); "Library.dll" keeps its name.
  if (stem.rfind("lib", 0) == 0 && stem.size() > 3 && stem[3] != '.') stem = stem.substr(3);
  const auto dot = stem.find('.');
  if (dot != std::string::npos && dot > 0) stem = stem.substr(0, dot);
  return stem;
}

Model read_model(const Options& given) {
  Options o = given;
  if (o.headers.empty()) throw GenError("no --header given");
  for (const std::string& h : o.headers)
    if (!fs::is_regular_file(h)) throw GenError("--header " + h + ": no such file");
  if (!fs::is_regular_file(o.library)) throw GenError("--library " + o.library + ": no such file");
  for (const std::string& i : o.include_dirs)
    if (!fs::is_directory(i)) throw GenError("-I " + i + ": no such folder");

  Model m;
  m.name = o.name.empty() ? default_name(o.library) : o.name;
  if (m.name.empty() ||
      !std::all_of(m.name.begin(), m.name.end(),
                   [](unsigned char c) { return std::isalnum(c) || c == '_'; }) ||
      std::isdigit(static_cast<unsigned char>(m.name[0])))
    throw GenError("--name '" + m.name +
                   "': the proxy's name must be a C identifier (letters, digits, '_'); give --name");
  m.library = fs::absolute(o.library).lexically_normal().string();
  const Exports exports = read_exports(o.library);
  const Target from_library = exports.format == Exports::Format::pe32 ? Target::windows : Target::linux_;
  if (!o.target) o.target = from_library;
  m.target = *o.target;
  for (const std::string& h : o.headers) m.headers.push_back(fs::absolute(h).lexically_normal().string());
  for (const std::string& i : o.include_dirs)
    m.include_dirs.push_back(fs::absolute(i).lexically_normal().string());
  m.defines = o.defines;

  Reader r(o, read_annotations(o.annotations));
  if (o.target == Target::windows && exports.format != Exports::Format::pe32)
    throw GenError("--library " + o.library +
                   ": --target windows needs the 32-bit DLL (PE), this is an ELF file");
  if (o.target == Target::linux_ && exports.format != Exports::Format::elf32)
    throw GenError("--library " + o.library +
                   ": --target linux needs the 32-bit shared object (ELF), this is a PE DLL");
  const std::string lib_name = fs::path(o.library).filename().string();

  clangx::SalPrelude sal;
  clangx::Unit dll(o, true, sal);
  clangx::Unit host(o, false, sal);
  const std::set<std::string> files(m.headers.begin(), m.headers.end());

  // The host view: functions and records by name / USR.
  std::map<std::string, CXCursor> host_fns;
  std::map<std::string, CXCursor> host_records;
  for (CXCursor c : clangx::children(host.root())) {
    const CXCursorKind k = clang_getCursorKind(c);
    if (k == CXCursor_FunctionDecl && !host_fns.count(spelling(c))) host_fns[spelling(c)] = c;
  }
  std::function<void(CXCursor)> collect_records = [&](CXCursor c) {
    for (CXCursor k : clangx::children(c)) {
      const CXCursorKind kind = clang_getCursorKind(k);
      if (kind == CXCursor_StructDecl && clang_isCursorDefinition(k)) {
        host_records[clangx::take(clang_getCursorUSR(k))] = k;
        collect_records(k);
      } else if (kind == CXCursor_TypedefDecl) {
        collect_records(k);
      }
    }
  };
  collect_records(host.root());

  // The DLL view: every function and variable the headers declare, in order.
  std::vector<CXCursor> fns;
  std::set<std::string> seen_fns;
  std::vector<Problem> errors;
  std::vector<Note> unsupported_notes;
  for (CXCursor c : clangx::children(dll.root())) {
    if (!in_headers(c, files)) continue;
    const CXCursorKind k = clang_getCursorKind(c);
    if (k == CXCursor_FunctionDecl && seen_fns.insert(spelling(c)).second) fns.push_back(c);
    if (k == CXCursor_VarDecl)
      unsupported_notes.push_back(
          {Note::Kind::unsupported, "variable " + spelling(c) + " (" + clangx::where(c) + ")",
           "exported variables are not supported: the proxy forwards functions only"});
  }
  for (const auto& [name, a] : r.ann.functions)
    if (!seen_fns.count(name))
      throw GenError(a.where + ": annotation for '" + name + "', which the headers do not declare");
  for (const auto& [name, a] : r.ann.symbols)
    if (!seen_fns.count(name))
      throw GenError(a.where + ": symbol for '" + name + "', which the headers do not declare");

  std::set<std::string> used_structs;
  for (CXCursor c : fns) {
    const std::string name = spelling(c);
    const std::string at = clangx::where(c);
    auto skip = [&](const std::string& why) {
      m.notes.push_back({Note::Kind::skipped, name + " (" + at + ")", why});
    };
    if (clang_Cursor_getStorageClass(c) == CX_SC_Static) {
      skip("a static function: not an export of the library");
      continue;
    }
    const CXType fty = clang_getCursorType(c);
    if (clang_isFunctionTypeVariadic(fty)) {
      skip(
          "variadic (...): a proxy cannot forward a C variable argument list; call it through dllbridge "
          "(Library::function, dllbridge-call) instead");
      continue;
    }
    if (fty.kind == CXType_FunctionNoProto) {
      skip("declared without a prototype (write (void) for no parameters)");
      continue;
    }
    std::string why;
    auto conv = conv_keyword(fty, why);
    if (!conv) {
      m.notes.push_back({Note::Kind::unsupported, name + " (" + at + ")", "not generated: " + why});
      continue;
    }
    const Annotations::Fn* ann = nullptr;
    if (auto a = r.ann.functions.find(name); a != r.ann.functions.end()) ann = &a->second;
    const int n = clang_Cursor_getNumArguments(c);
    if (ann && static_cast<int>(ann->fn.params.size()) != n) {
      errors.push_back({Problem::Kind::unresolved, name + " (" + ann->where + ")",
                        "the annotation declares " + std::to_string(ann->fn.params.size()) +
                            " parameters, the header (" + at + ") " + std::to_string(n)});
      continue;
    }
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i) {
      std::string pn = spelling(clang_Cursor_getArgument(c, static_cast<unsigned>(i)));
      names.push_back(pn.empty() ? "arg" + std::to_string(i) : pn);
    }
    auto rename = [&](const std::string& x) {
      if (ann)
        for (std::size_t k = 0; k < ann->fn.params.size(); ++k)
          if (ann->fn.params[k].name == x) return names[k];
      return x;
    };

    Function f;
    f.name = name;
    f.conv = conv_of(*conv);
    std::vector<Note> notes;
    std::set<std::string> uses;
    std::optional<Problem> problem;

    // The return type.
    CT ret = classify(clang_getResultType(fty), *o.target);
    std::string ret_text;
    const std::string rwho = name + ", return";
    if (ret.k == CT::K::scalar) {
      ret_text = ret.scalar;
    } else if (ret.k == CT::K::record) {
      if (auto p = r.need_struct(ret, rwho, uses))
        problem = p;
      else
        ret_text = r.type_text(ret);
    } else if (ret.k == CT::K::pointer) {
      const bool ann_handle = ann && !ann->fn.ret.is_struct && ann->fn.ret.scalar == sig::Scalar::Void &&
                              ann->fn.ret.pointer_depth == 1;
      const bool ret_z = [&] {
        for (const std::string& a : clangx::annotations(c))
          if (a == "sal:ret_z") return true;
        return false;
      }();
      if (text_unit(*ret.elem)) {
        ret_text = r.type_text(ret);
        if (ret_z)
          notes.push_back({Note::Kind::sal, rwho, "_Ret_z_: text read up to its NUL"});
        else if (ann)
          notes.push_back({Note::Kind::annotated, rwho, "text read up to its NUL"});
        else
          notes.push_back({Note::Kind::defaulted, rwho, spelling(ret.raw) + ": text read up to its NUL"});
      } else if (opaque_pointee(*ret.elem) || ret.elem->k == CT::K::function || ann_handle) {
        ret_text = "void*";
        notes.push_back({ann_handle ? Note::Kind::annotated : Note::Kind::defaulted, rwho,
                         spelling(ret.raw) + ": an opaque handle (a number)"});
      } else {
        problem = Problem{
            Problem::Kind::unresolved, rwho + " (" + at + ")",
            "returns " + spelling(ret.raw) +
                ", a pointer to data: the application would get the library's 32-bit address; annotate "
                "the function with a void* return to pass it as a handle"};
      }
    } else {
      problem = Problem{
          Problem::Kind::unsupported, rwho + " (" + at + ")",
          "returns " + (ret.k == CT::K::unsupported ? ret.why : spelling(ret.raw)) + ": not supported"};
    }

    std::string params;
    for (int i = 0; i < n && !problem; ++i) {
      CXCursor pc = clang_Cursor_getArgument(c, static_cast<unsigned>(i));
      Slot s;
      s.owner = name;
      s.label = "parameter " + names[static_cast<std::size_t>(i)];
      s.name = names[static_cast<std::size_t>(i)];
      s.where = clangx::where(pc);
      s.type = classify(clang_getCursorType(pc), *o.target);
      s.sal = clangx::annotations(pc);
      s.callback_names = callback_param_names(pc);
      if (ann) {
        const sig::Param& ap = ann->fn.params[static_cast<std::size_t>(i)];
        s.ann = &ap.attrs;
        s.ann_type = &ap.type;
        s.rename = rename;
      }
      Decided d = r.decide(s);
      if (d.problem) {
        problem = d.problem;
        break;
      }
      // An annotation must declare the header's types.
      if (ann) {
        const sig::Type& at_ = ann->fn.params[static_cast<std::size_t>(i)].type;
        std::string header_class = "callback";
        if (!(s.type.k == CT::K::pointer && s.type.elem->k == CT::K::function)) {
          std::string prefix;
          for (const std::string& sn : closure(r, d.structs))
            prefix += r.structs.at(r.usr_of.at(sn)).declaration + " ";
          // The header's type alone (no attributes), as the parser reads it.
          const bool ptr2 = s.type.k == CT::K::pointer && s.type.elem->k == CT::K::pointer;
          const std::string type = ptr2 ? "void**" : r.type_text(s.type);
          const bool data_ptr = s.type.k == CT::K::pointer && type.rfind("void*", 0) != 0;
          const std::string text = (data_ptr ? "[in] " : "") + type + " x";
          try {
            header_class =
                type_class(sig::parse(prefix + "void dllbridge_gen_probe(" + text + ")").params.at(0).type);
          } catch (const Error& e) {
            header_class = std::string("? (") + e.what() + ")";
          }
        }
        const bool void_refined = header_class == "ptr" && refines_void(at_);
        if (header_class != type_class(at_) && !void_refined) {
          problem = Problem{Problem::Kind::unresolved, name + ", " + s.label + " (" + ann->where + ")",
                            "the annotation's type (" + type_class(at_) + ") is not the header's (" +
                                spelling(s.type.raw) + " at " + s.where + ", " + header_class + ")"};
          break;
        }
      }
      params += (i ? ", " : "") + d.text;
      notes.insert(notes.end(), d.notes.begin(), d.notes.end());
      uses.insert(d.structs.begin(), d.structs.end());
    }
    if (problem) {
      if (problem->kind == Problem::Kind::unsupported) {
        m.notes.push_back({Note::Kind::unsupported, problem->where, problem->text});
        skip("needs what is not supported: " + problem->where);
      } else if (o.skip_unresolved) {
        m.notes.push_back(
            {Note::Kind::skipped, problem->where, "left out (--skip-unresolved): " + problem->text});
      } else {
        errors.push_back(*problem);
      }
      continue;
    }
    f.signature = ret_text + " " + (conv->empty() ? "" : *conv + " ") + name + "(" + params + ");";

    // Its export.
    std::optional<std::string> symbol = find_export(exports, name, f.conv, arg_bytes(fty));
    if (!symbol)
      if (auto s = r.ann.symbols.find(name); s != r.ann.symbols.end()) {
        if (has_export(exports, s->second.symbol)) {
          symbol = s->second.symbol;
          notes.push_back({Note::Kind::annotated, name, "export " + *symbol + " (" + s->second.where + ")"});
        } else {
          skip("not exported by " + lib_name + " (nor as " + s->second.symbol + ", the annotation's symbol)");
          continue;
        }
      }
    if (!symbol) {
      skip("not exported by " + lib_name);
      continue;
    }
    f.symbol = *symbol;
    if (f.symbol != name) notes.push_back({Note::Kind::info, name, "exported as " + f.symbol});

    // The application's view.
    auto h = host_fns.find(name);
    if (h == host_fns.end() || clang_Cursor_getNumArguments(h->second) != n) {
      skip("not declared the same way for the application's target (x86-64)");
      continue;
    }
    f.c_return = c_spelling(clang_getResultType(clang_getCursorType(h->second)));
    for (int i = 0; i < n; ++i) {
      // A parameter declared as an array is a pointer in C: spelled so.
      CXType pt = clang_getCursorType(clang_Cursor_getArgument(h->second, static_cast<unsigned>(i)));
      const bool array = pt.kind == CXType_ConstantArray || pt.kind == CXType_IncompleteArray;
      f.params.push_back({names[static_cast<std::size_t>(i)],
                          array ? c_spelling(clang_getArrayElementType(pt)) + " *" : c_spelling(pt)});
    }

    // What the bridge will be given: the signature with its structs, parsed and checked.
    std::string prefix;
    for (const std::string& sn : closure(r, uses)) prefix += r.structs.at(r.usr_of.at(sn)).declaration + " ";
    try {
      f.decl = sig::lower(sig::parse(prefix + f.signature));
      detail::make_signature(f.decl, rules::Abi{4, r.windows});
    } catch (const Error& e) {
      const Problem p{ann ? Problem::Kind::unresolved : Problem::Kind::unsupported,
                      name + " (" + (ann ? ann->where : at) + ")",
                      std::string("the bridge refuses `") + f.signature + "`: " + e.what()};
      if (p.kind == Problem::Kind::unsupported) {
        m.notes.push_back({Note::Kind::unsupported, p.where, p.text});
        skip("needs what is not supported: " + p.where);
      } else if (o.skip_unresolved) {
        skip("left out (--skip-unresolved): " + p.text);
      } else {
        errors.push_back(p);
      }
      continue;
    }
    for (const std::string& sn : closure(r, uses)) used_structs.insert(sn);
    for (Note& nt : notes) {
      if (nt.where.find('(') == std::string::npos) nt.where += " (" + at + ")";
      m.notes.push_back(nt);
    }
    m.functions.push_back(std::move(f));
  }

  if (!errors.empty()) {
    std::string msg;
    std::set<std::string> said;  // a struct's problem is every user's: said once
    for (const Problem& p : errors)
      if (said.insert(p.where + ": " + p.text).second) msg += p.where + ": " + p.text + "\n";
    if (!o.skip_unresolved)
      msg +=
          "(annotate these in --annotations FILE, or give --skip-unresolved to leave such functions out)\n";
    throw GenError(msg);
  }

  // The structs the generated functions use, dependencies first.
  for (const std::string& sn : r.ordered) {
    if (!used_structs.count(sn)) continue;
    const StructEntry& e = r.structs.at(r.usr_of.at(sn));
    Struct s;
    s.sig_name = sn;
    s.declaration = e.declaration;
    s.fields = e.fields;
    s.c_spelling = e.c_spelling;
    if (auto hr = host_records.find(e.usr); hr != host_records.end()) {
      std::vector<CXCursor> hf;
      clang_Type_visitFields(
          clang_getCursorType(hr->second),
          [](CXCursor fc, CXClientData d) {
            static_cast<std::vector<CXCursor>*>(d)->push_back(fc);
            return CXVisit_Continue;
          },
          &hf);
      for (std::size_t i = 0; i < hf.size() && i < s.fields.size(); ++i) {
        s.fields[i].c_type = c_spelling(clang_getCursorType(hf[i]));
        // An unnamed struct member's type has no C spelling.
        if (s.fields[i].c_type.find("(unnamed") != std::string::npos ||
            s.fields[i].c_type.find("(anonymous") != std::string::npos)
          s.fields[i].c_type.clear();
      }
    }
    std::string prefix;
    for (const std::string& dn : closure(r, {sn})) prefix += r.structs.at(r.usr_of.at(dn)).declaration + " ";
    const FunctionDecl probe =
        sig::lower(sig::parse(prefix + "void dllbridge_gen_probe([in] struct " + sn + "* p)"));
    s.decls = probe.params.at(0).type.elem->fields;
    m.notes.insert(m.notes.end(), e.notes.begin(), e.notes.end());
    if (e.declaration.find('[') != std::string::npos && r.ann.structs.count(sn))
      m.notes.push_back(
          {Note::Kind::annotated, "struct " + sn, "fields as " + r.ann.struct_where[sn] + " declares them"});
    m.structs.push_back(std::move(s));
  }
  m.notes.insert(m.notes.end(), unsupported_notes.begin(), unsupported_notes.end());
  // A struct's problem is reported for each function that needs it: once is enough.
  std::set<std::tuple<Note::Kind, std::string, std::string>> seen_notes;
  m.notes.erase(std::remove_if(m.notes.begin(), m.notes.end(),
                               [&](const Note& n) {
                                 return !seen_notes.insert({n.kind, n.where, n.text}).second;
                               }),
                m.notes.end());
  return m;
}

}  // namespace dllbridge::gen
