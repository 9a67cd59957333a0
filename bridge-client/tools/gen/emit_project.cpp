// dllbridge-gen's back end: the buildable project in --out DIR (emit.hpp).
//
//   NAME_bridge.hpp  typed C++ bindings: each struct described once, a class
//                    with one method per function on the typed API
//   NAME_proxy.cpp   the proxy library: one extern "C" definition per
//                    function with the header's prototype, forwarding through
//                    the bindings (dllbridge/proxy.hpp: lazy bridge, errno,
//                    failure values, error text and handler)
//   NAME.def         Windows: the export names
//   CMakeLists.txt   find_package(dllbridge), the proxy library, install rules
//
// A function whose types the typed API cannot carry with both layouts (a
// pointer field without a count, an array of function pointers, ...) is
// left out of the proxy and the bindings and listed at the end of
// report.txt. A struct with function-pointer fields is described through a
// mirror whose fields are dllbridge::Fn (its layout is not C's), and the
// proxy converts it field by field (dllbridge::proxy::Converter).
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "emit.hpp"

namespace dllbridge::gen {
namespace {

std::string ident(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    out += ok ? c : '_';
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out = "_" + out;
  return out;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A path for CMake (forward slashes).
std::string cmake_path(std::string s) {
  for (char& c : s)
    if (c == '\\') c = '/';
  return quote(s);
}

const char* conv_name(CallConv c) {
  switch (c) {
    case CallConv::Stdcall: return "dllbridge::CallConv::Stdcall";
    case CallConv::Fastcall: return "dllbridge::CallConv::Fastcall";
    case CallConv::Thiscall: return "dllbridge::CallConv::Thiscall";
    case CallConv::Cdecl: break;
  }
  return "dllbridge::CallConv::Cdecl";
}

const char* dir_name(Dir d) {
  switch (d) {
    case Dir::out: return "dllbridge::Out";
    case Dir::inout: return "dllbridge::InOut";
    default: return "dllbridge::In";
  }
}

// Thrown inside the emitter for a construct it leaves out (caught per function).
struct Unsupported {
  std::string why;
};

class Emitter {
 public:
  explicit Emitter(const Model& m) : m_(m), id_(ident(m.name)) {
    for (const Struct& s : m.structs) structs_[s.sig_name] = &s;
    check_structs();
  }

  void write(const std::filesystem::path& dir) {
    std::ostringstream methods, members, proxies;
    for (const Function& f : m_.functions) {
      try {
        Fn fn = function(f);
        methods << fn.method;
        members << fn.member;
        proxies << fn.proxy;
        exported_.push_back(f.name);
      } catch (const Unsupported& u) {
        skipped_.push_back({f.name, u.why});
      }
    }
    write_file(dir / (m_.name + "_bridge.hpp"), bindings(methods.str(), members.str()));
    write_file(dir / (m_.name + "_proxy.cpp"), proxy(proxies.str()));
    write_file(dir / "CMakeLists.txt", cmake());
    if (m_.target == Target::windows) write_file(dir / (m_.name + ".def"), def());
    if (!skipped_.empty()) {
      std::ofstream report(dir / "report.txt", std::ios::app);
      if (!report) throw std::runtime_error("cannot write " + (dir / "report.txt").string());
      report << "\nLeft out of the proxy and the bindings (the typed API cannot carry them with both "
                "layouts):\n";
      for (const auto& s : skipped_) report << "  " << s.first << ": " << s.second << "\n";
    }
  }

 private:
  struct Fn {
    std::string method, member, proxy;
  };

  // ---- structs ----

  const Struct& find_struct(const std::string& sig_name) const {
    auto it = structs_.find(sig_name);
    if (it == structs_.end()) throw Unsupported{"struct " + sig_name + " is not in the model"};
    auto bad = bad_structs_.find(sig_name);
    if (bad != bad_structs_.end()) throw Unsupported{bad->second};
    return *it->second;
  }

  // A scalar field the application lays out differently from what the
  // typed API infers from its C type (`long` on Linux, `size_t`, pointers):
  // described through a mirror struct with the typed API's Native / Handle
  // type of the same size in its place.
  bool mirrored_scalar(Scalar s) const {
    return s == Scalar::SizeT || s == Scalar::Handle ||
           ((s == Scalar::Long || s == Scalar::ULong) && m_.target == Target::linux_);
  }

  // Checks a field's type (Unsupported if the typed API cannot describe it);
  // true if it makes its struct need a mirror. `converted`: set when the
  // field is a function pointer or holds one (a struct that has one);
  // `keeps`: when that function pointer is [persistent] (the library keeps it).
  bool check_field_type(const TypeDecl& t, const std::string& where, bool& converted, bool& keeps,
                        bool in_array = false) const {
    switch (t.kind) {
      case TypeDecl::Kind::scalar: return mirrored_scalar(t.scalar);
      case TypeDecl::Kind::array:
        if (in_array || t.elem->kind == TypeDecl::Kind::array)
          throw Unsupported{where + ": an array of arrays"};
        return check_field_type(*t.elem, where, converted, keeps, true);
      case TypeDecl::Kind::structure: {
        if (auto bad = bad_structs_.find(t.struct_name); bad != bad_structs_.end())
          throw Unsupported{bad->second};
        auto in = info_.find(t.struct_name);
        if (in == info_.end()) throw Unsupported{where + ": struct " + t.struct_name + " unknown"};
        if (in->second.converted) {
          if (in_array) throw Unsupported{where + ": an array or pointer of structs with function pointers"};
          converted = true;
          keeps |= in->second.keeps;
        }
        return in->second.mirror;
      }
      case TypeDecl::Kind::pointer:
        if (t.size_is.empty() || t.size_is == "*")
          throw Unsupported{where + ": a pointer field without a size_is count"};
        if (t.elem->kind != TypeDecl::Kind::scalar && t.elem->kind != TypeDecl::Kind::structure)
          throw Unsupported{where + ": a pointer field to pointers, arrays or functions"};
        return check_field_type(*t.elem, where, converted, keeps, true);
      case TypeDecl::Kind::callback:
        if (in_array) throw Unsupported{where + ": an array of function pointers"};
        try {
          (void)callback_type(t);  // its signature is one the typed API carries
        } catch (const std::out_of_range&) {
          throw Unsupported{where + ": a function pointer field whose signature names a later struct"};
        }
        converted = true;
        keeps |= t.persistent;
        return true;
    }
    return false;
  }

  // Per struct: whether it is described through a mirror, and how C++ names
  // it and its fields. Structs come after those they contain (model.hpp).
  void check_structs() {
    // The types of anonymous members, and the member each type is reached through.
    for (const Struct& p : m_.structs) {
      for (std::size_t i = 0; i < p.decls.size(); ++i) {
        const TypeDecl* t = &p.decls[i].type;
        while (t->kind == TypeDecl::Kind::array) t = t->elem.get();
        if (t->kind != TypeDecl::Kind::structure) continue;
        Info& child = info_[t->struct_name];
        if (!child.parent.empty()) continue;
        child.parent = p.sig_name;
        child.member = i < p.fields.size() ? p.fields[i].name : p.decls[i].name;
        child.anonymous = child.member.empty();
      }
    }
    for (const Struct& s : m_.structs) {
      Info& in = info_[s.sig_name];
      try {
        if (s.decls.size() != s.fields.size() && !s.fields.empty())
          throw Unsupported{"struct " + s.sig_name + ": fields and declarations differ"};
        if (s.c_spelling.empty() && in.parent.empty())
          throw Unsupported{"struct " + s.sig_name + ": an unnamed type reached through no member"};
        bool mirror = in.anonymous;  // a type without a name of its own
        bool converted = false;
        bool keeps = false;
        bool any_anon = in.anonymous;
        for (std::size_t i = 0; i < s.decls.size(); ++i) {
          const bool anon = i < s.fields.size() && s.fields[i].name.empty();
          if (anon && s.decls[i].type.kind != TypeDecl::Kind::structure)
            throw Unsupported{"struct " + s.sig_name + ": an anonymous member that is not a struct"};
          mirror |= anon;
          any_anon |= anon;
          mirror |= check_field_type(s.decls[i].type, "struct " + s.sig_name + ", field " + s.decls[i].name,
                                     converted, keeps);
        }
        if (converted && any_anon)
          throw Unsupported{"struct " + s.sig_name + ": function pointers and anonymous members"};
        in.mirror = mirror;
        in.converted = converted;
        in.keeps = keeps;
      } catch (const Unsupported& u) {
        bad_structs_[s.sig_name] = u.why;
      }
    }
  }

  std::string ns() const { return id_ + "_bridge_types::"; }

  // The C++ type through which a struct's fields are named: its own, or for
  // an anonymous member's type, its parent's (the members are the parent's).
  std::string owner(const std::string& sig_name) const {
    const Info& in = info_.at(sig_name);
    if (in.anonymous) return owner(in.parent);
    return "c_" + ident(sig_name);
  }

  // The C type's alias (none for an anonymous member's type): the type of
  // the member it was reached through (an unnamed type has no other name),
  // else its C spelling.
  std::string c_alias(const Struct& s) const {
    const Info& in = info_.at(s.sig_name);
    std::string out = "using c_" + ident(s.sig_name) + " = ";
    if (in.parent.empty()) {
      const bool tagged = s.c_spelling.rfind("struct ", 0) == 0;
      return out + (tagged ? "" : "::") + s.c_spelling + ";\n";
    }
    return out + "std::remove_all_extents_t<decltype(" + owner(in.parent) + "::" + in.member + ")>;\n";
  }

  // The typed API's type of a struct (qualified).
  std::string struct_type(const std::string& sig_name) const {
    const Info& in = info_.at(sig_name);
    return ns() + (in.mirror ? "m_" : "c_") + ident(sig_name);
  }

  // A mirror: the application's layout, member for member, with typed-API
  // types where the C ones would be described with the wrong size, and
  // names for anonymous members.
  std::string mirror(const Struct& s) const {
    const std::string own = owner(s.sig_name);
    const std::string m = "m_" + ident(s.sig_name);
    std::ostringstream o, checks;
    o << "struct " << m << " {\n";
    for (std::size_t i = 0; i < s.decls.size(); ++i) {
      const FieldDecl& f = s.decls[i];
      const bool anon = i < s.fields.size() && s.fields[i].name.empty();
      const TypeDecl& t = f.type;
      const TypeDecl& e =
          (t.kind == TypeDecl::Kind::array || t.kind == TypeDecl::Kind::pointer) ? *t.elem : t;
      std::string type;
      if (t.kind == TypeDecl::Kind::callback) {
        type = callback_type(t);
      } else if (e.kind == TypeDecl::Kind::structure && info_.at(e.struct_name).mirror) {
        type = "m_" + ident(e.struct_name);
      } else if (e.kind == TypeDecl::Kind::scalar && mirrored_scalar(e.scalar)) {
        type = scalar_type(e.scalar);
      }
      if (type.empty()) {
        o << "  decltype(" << own << "::" << f.name << ") " << f.name << ";\n";
      } else if (t.kind == TypeDecl::Kind::array) {
        o << "  " << type << " " << f.name << "[" << t.size << "];\n";
      } else if (t.kind == TypeDecl::Kind::pointer) {
        o << "  " << type << "* " << f.name << ";\n";
      } else {
        o << "  " << type << " " << f.name << ";\n";
      }
      if (info_.at(s.sig_name).anonymous) continue;  // offsets are the parent's
      if (info_.at(s.sig_name).converted) continue;  // its own layout: converted field by field
      if (!anon) {
        checks << "static_assert(offsetof(" << m << ", " << f.name << ") == offsetof(" << own << ", "
               << f.name << "), \"" << s.sig_name << "." << f.name << "\");\n";
      } else if (const Struct* a = structs_.at(e.struct_name);
                 !a->decls.empty() && !a->fields.empty() && !a->fields[0].name.empty()) {
        checks << "static_assert(offsetof(" << m << ", " << f.name << ") == offsetof(" << own << ", "
               << a->decls[0].name << "), \"" << s.sig_name << "." << f.name << "\");\n";
      }
    }
    o << "};\n";
    if (!info_.at(s.sig_name).anonymous && !info_.at(s.sig_name).converted)
      o << "static_assert(sizeof(" << m << ") == sizeof(" << own << "), \"struct " << s.sig_name << "\");\n";
    return o.str() + checks.str();
  }

  std::string describe(const Struct& s) const {
    const std::string t = struct_type(s.sig_name);
    std::string out = "DLLBRIDGE_DESCRIBE(" + t + ", " + quote(s.sig_name);
    for (const FieldDecl& f : s.decls) {
      if (f.type.kind == TypeDecl::Kind::pointer) {
        out +=
            ",\n                  DLLBRIDGE_SIZED_FIELD(" + t + ", " + f.name + ", " + f.type.size_is + ")";
      } else {
        out += ",\n                  DLLBRIDGE_FIELD(" + t + ", " + f.name + ")";
      }
    }
    return out + ");\n";
  }

  // The structs' aliases, mirrors and descriptions, in the bindings header.
  std::string struct_section() const {
    std::ostringstream o;
    o << "namespace " << id_ << "_bridge_types {\n";
    // Containers first (a member's type is named through its container).
    for (auto it = m_.structs.rbegin(); it != m_.structs.rend(); ++it) {
      const Info& in = info_.at(it->sig_name);
      if (!in.anonymous && (!in.parent.empty() || !it->c_spelling.empty())) o << c_alias(*it);
    }
    for (const Struct& s : m_.structs)
      if (!bad_structs_.count(s.sig_name) && info_.at(s.sig_name).mirror) o << mirror(s);
    o << "}  // namespace " << id_ << "_bridge_types\n\n";
    for (const Struct& s : m_.structs)
      if (!bad_structs_.count(s.sig_name)) o << describe(s);
    return o.str();
  }

  // ---- types ----

  static std::string scalar_type(Scalar s) {
    switch (s) {
      case Scalar::Void: return "void";
      case Scalar::Bool: return "bool";
      case Scalar::Char: return "char";
      case Scalar::SChar:
      case Scalar::Int8: return "std::int8_t";
      case Scalar::UChar:
      case Scalar::UInt8:
      case Scalar::BYTE: return "std::uint8_t";
      case Scalar::Short:
      case Scalar::Int16: return "std::int16_t";
      case Scalar::UShort:
      case Scalar::UInt16:
      case Scalar::WORD: return "std::uint16_t";
      case Scalar::Int:
      case Scalar::Int32: return "std::int32_t";
      case Scalar::UInt:
      case Scalar::UInt32:
      case Scalar::DWORD: return "std::uint32_t";
      case Scalar::Long: return "dllbridge::Long";
      case Scalar::ULong: return "dllbridge::ULong";
      case Scalar::LongLong:
      case Scalar::Int64: return "std::int64_t";
      case Scalar::ULongLong:
      case Scalar::UInt64: return "std::uint64_t";
      case Scalar::Float: return "float";
      case Scalar::Double: return "double";
      case Scalar::SizeT: return "dllbridge::SizeT";
      case Scalar::WChar: return "wchar_t";
      case Scalar::BOOL: return "dllbridge::WinBool";
      case Scalar::Handle: return "dllbridge::Handle";
    }
    return "void";
  }

  // A value type: scalar or struct.
  std::string value_type(const TypeDecl& t) const {
    if (t.kind == TypeDecl::Kind::scalar) return scalar_type(t.scalar);
    if (t.kind == TypeDecl::Kind::structure) {
      find_struct(t.struct_name);
      return struct_type(t.struct_name);
    }
    throw Unsupported{"a pointer to a pointer, array or function pointer"};
  }

  static bool is_text_in(const TypeDecl& t) {
    return t.kind == TypeDecl::Kind::pointer && t.text && t.dir == Dir::in && t.size_is.empty() &&
           t.size == 0 && t.elem->kind == TypeDecl::Kind::scalar;
  }

  static int index_of(const std::vector<ParamDecl>& params, const std::string& name,
                      const std::string& where) {
    for (std::size_t i = 0; i < params.size(); ++i)
      if (params[i].name == name) return static_cast<int>(i);
    throw Unsupported{where + ": size_is(" + name + ") names no parameter"};
  }

  // Whether `t` is, or points to, a struct with function pointers.
  bool converted(const TypeDecl& t) const {
    const TypeDecl& e = t.kind == TypeDecl::Kind::pointer ? *t.elem : t;
    if (e.kind != TypeDecl::Kind::structure) return false;
    auto in = info_.find(e.struct_name);
    return in != info_.end() && in->second.converted;
  }

  // Whether `t` is, or points to, a struct with [persistent] function pointers.
  bool keeps(const TypeDecl& t) const {
    const TypeDecl& e = t.kind == TypeDecl::Kind::pointer ? *t.elem : t;
    if (e.kind != TypeDecl::Kind::structure) return false;
    auto in = info_.find(e.struct_name);
    return in != info_.end() && in->second.keeps;
  }

  // The typed API's type of a function-pointer parameter of a callback.
  std::string callback_param_type(const FunctionDecl& cb, std::size_t i) const {
    const TypeDecl& t = cb.params[i].type;
    const std::string where = "callback parameter " + cb.params[i].name;
    if (converted(t)) throw Unsupported{where + ": a struct with function pointers"};
    if (t.kind == TypeDecl::Kind::scalar || t.kind == TypeDecl::Kind::structure) return value_type(t);
    if (t.kind != TypeDecl::Kind::pointer) throw Unsupported{where + ": not a scalar, struct or pointer"};
    if (t.elem->kind == TypeDecl::Kind::scalar && t.elem->scalar == Scalar::Void)
      throw Unsupported{where + ": a pointer to void"};
    if (t.text && t.nul_terminated && t.dir == Dir::in && t.size_is.empty())
      return t.elem->scalar == Scalar::WChar ? "const wchar_t*" : "const char*";
    if (t.size > 0) throw Unsupported{where + ": a fixed-size pointer"};
    const int k = t.size_is.empty() || t.size_is == "*" ? -1 : index_of(cb.params, t.size_is, where);
    if (t.dir == Dir::in && k < 0) return "const " + value_type(*t.elem) + "*";
    return std::string(dir_name(t.dir)) + "<" + value_type(*t.elem) + ", " + std::to_string(k) + ">";
  }

  std::string callback_type(const TypeDecl& t) const {
    const FunctionDecl& cb = *t.callback;
    if (cb.ret.kind != TypeDecl::Kind::scalar && cb.ret.kind != TypeDecl::Kind::structure)
      throw Unsupported{"a callback returning a pointer"};
    if (converted(cb.ret)) throw Unsupported{"a callback returning a struct with function pointers"};
    std::string sig = value_type(cb.ret) + "(";
    for (std::size_t i = 0; i < cb.params.size(); ++i) sig += (i ? ", " : "") + callback_param_type(cb, i);
    sig += ")";
    return "dllbridge::Fn<" + sig + ", " + conv_name(cb.conv) + ", " + (t.persistent ? "true" : "false") +
           ">";
  }

  // ---- functions ----

  Fn function(const Function& f) const {
    if (f.variadic) throw Unsupported{"variadic"};
    const FunctionDecl& d = f.decl;
    const std::string where = f.name;
    std::string ret;  // the typed return type
    enum class Ret { none, value, text } ret_kind = Ret::value;
    if (d.ret.kind == TypeDecl::Kind::scalar && d.ret.scalar == Scalar::Void) {
      ret = "void";
      ret_kind = Ret::none;
    } else if (d.ret.kind == TypeDecl::Kind::pointer && d.ret.text) {
      ret = d.ret.elem->scalar == Scalar::WChar ? "std::wstring" : "std::string";
      ret_kind = Ret::text;
    } else {
      if (converted(d.ret)) throw Unsupported{"the return value: a struct with function pointers"};
      ret = value_type(d.ret);
    }

    std::vector<std::string> types;    // typed parameter types
    std::ostringstream before, after;  // proxy: conversions before and after the call
    std::vector<std::string> args;     // proxy: the typed arguments
    for (std::size_t i = 0; i < d.params.size(); ++i) {
      const TypeDecl& t = d.params[i].type;
      const std::string a = "a" + std::to_string(i);
      const std::string pw = where + ", parameter " + d.params[i].name;
      switch (t.kind) {
        case TypeDecl::Kind::scalar:
        case TypeDecl::Kind::structure: {
          const std::string vt = value_type(t);
          types.push_back(vt);
          if (keeps(t)) {
            // The library keeps its function pointers: so does the proxy, until the next call.
            before << "    auto v" << i << " = dllbridge::proxy::to_typed<" << vt << ">(" << a << ");\n";
            after << "    static dllbridge::proxy::Keep<" << vt << "> keep" << i << ";\n";
            after << "    keep" << i << ".set(v" << i << ");\n";
            args.push_back("v" + std::to_string(i));
          } else {
            args.push_back("dllbridge::proxy::to_typed<" + vt + ">(" + a + ")");
          }
          break;
        }
        case TypeDecl::Kind::callback: {
          const std::string ct = callback_type(t);
          types.push_back(ct);
          // The application's function pointer, called when the DLL calls back (null stays null).
          const std::string alias = "F" + std::to_string(i);
          before << "    using " << alias << " = " << ct << ";\n";
          before << "    const " << alias << " f" << i << " = " << wrap_callback(t, alias, a) << ";\n";
          if (t.persistent) before << "    static dllbridge::proxy::Keep<" << alias << "> keep" << i << ";\n";
          if (t.persistent) after << "    keep" << i << ".set(f" << i << ");\n";
          args.push_back("f" + std::to_string(i));
          break;
        }
        case TypeDecl::Kind::pointer: {
          if (is_text_in(t)) {
            const std::string tt = t.elem->scalar == Scalar::WChar ? "const wchar_t*" : "const char*";
            types.push_back(tt);
            args.push_back(a);
            break;
          }
          if (t.elem->kind == TypeDecl::Kind::scalar && t.elem->scalar == Scalar::Void)
            throw Unsupported{pw + ": a pointer to void with a direction"};
          const std::string et = value_type(*t.elem);
          int k = -1;
          std::string count = "1";
          if (!t.size_is.empty() && t.size_is != "*") {
            k = index_of(d.params, t.size_is, pw);
            count = "dllbridge::proxy::count(a" + std::to_string(k) + ")";
          } else if (t.size > 0) {
            count = std::to_string(t.size);
          } else if (t.size_is == "*") {
            throw Unsupported{pw + ": size_is(*)"};
          }
          const Dir dir = t.dir == Dir::none ? Dir::in : t.dir;
          if (dir == Dir::out && converted(t))
            throw Unsupported{pw +
                              ": an [out] struct with function pointers (the library would fill in "
                              "function pointers this process cannot call)"};
          const std::string pt = std::string(dir_name(dir)) + "<" + et + ", " + std::to_string(k) + ">";
          types.push_back(pt);
          before << "    auto s" << i << " = dllbridge::proxy::span<" << et << ", dllbridge::Dir::"
                 << (dir == Dir::out     ? "out"
                     : dir == Dir::inout ? "inout"
                                         : "in")
                 << ", " << k << ">(" << a << ", " << count << ");\n";
          if (dir != Dir::in) after << "    s" << i << ".finish();\n";
          if (keeps(t)) {
            after << "    static dllbridge::proxy::Keep<std::vector<" << et << ">> keep" << i << ";\n";
            after << "    keep" << i << ".set(s" << i << ".copies());\n";
          }
          args.push_back("s" + std::to_string(i) + ".arg()");
          break;
        }
        case TypeDecl::Kind::array: throw Unsupported{pw + ": an array parameter"};
      }
    }

    Fn out;
    const std::string sig_alias = f.name + "_t";
    std::string typed_params, typed_names, call_args;
    for (std::size_t i = 0; i < types.size(); ++i) {
      typed_params += (i ? ", " : "") + types[i] + " a" + std::to_string(i);
      typed_names += (i ? ", " : "") + types[i];
      call_args += (i ? ", a" : "a") + std::to_string(i);
    }
    // The bindings' method.
    std::ostringstream me;
    me << "  // " << f.signature << "\n";
    me << "  using " << sig_alias << " = " << ret << "(" << typed_names << ");\n";
    me << "  " << ret << " " << f.name << "(" << typed_params << ") const {\n";
    me << "    const auto& f = f_" << f.name << "_.get([&] { return lib_.function<" << sig_alias << ">("
       << quote(f.name) << ", " << conv_name(f.conv) << ", dllbridge_options("
       << quote(f.symbol == f.name ? "" : f.symbol) << ")); });\n";
    if (ret_kind == Ret::none) {
      me << "    f(" << call_args << ");\n";
      me << "    dllbridge::proxy::dll_last_error() = f.last_error();\n";
    } else {
      me << "    " << ret << " r = f(" << call_args << ");\n";
      me << "    dllbridge::proxy::dll_last_error() = f.last_error();\n";
      me << "    return r;\n";
    }
    me << "  }\n";
    out.method = me.str();
    out.member =
        "  mutable dllbridge::proxy::Lazy<dllbridge::TypedFunction<" + sig_alias + ">> f_" + f.name + "_;\n";

    // The proxy's export.
    const std::string ft = "decltype(::" + f.name + ")";
    std::ostringstream px;
    px << "// " << f.signature << "\n";
    px << "extern \"C\" DLLBRIDGE_PROXY_EXPORT dllbridge::proxy::ret_t<" << ft << "> " << f.name << "(";
    for (std::size_t i = 0; i < d.params.size(); ++i)
      px << (i ? ", " : "") << "dllbridge::proxy::param_t<" << ft << ", " << i << "> a" << i;
    px << ") {\n";
    px << "  using R = dllbridge::proxy::ret_t<" << ft << ">;\n";
    px << "  return instance().forward<R>(" << quote(f.name) << ", [&](" << id_ << "_bridge& b) -> R {\n";
    px << before.str();
    std::string call = "b." + f.name + "(";
    for (std::size_t i = 0; i < args.size(); ++i) call += (i ? ", " : "") + args[i];
    call += ")";
    if (ret_kind == Ret::none) {
      px << "    " << call << ";\n" << after.str();
    } else if (ret_kind == Ret::text) {
      px << "    struct tag;\n";
      px << "    R r = (R)dllbridge::proxy::keep_text<tag>(" << call << ");\n"
         << after.str() << "    return r;\n";
    } else {
      px << "    R r = dllbridge::proxy::to_c<R>(" << call << ");\n" << after.str() << "    return r;\n";
    }
    px << "  });\n}\n\n";
    out.proxy = px.str();
    return out;
  }

  // ---- files ----

  std::string header_includes() const {
    std::string out;
    for (const std::string& h : m_.headers) {
      out += "#include " + quote(std::filesystem::path(h).filename().string()) + "\n";
    }
    return out;
  }

  std::string bindings(const std::string& methods, const std::string& members) const {
    std::ostringstream o;
    o << "// Typed C++ bindings of " << m_.name << ", generated by dllbridge-gen from";
    for (const std::string& h : m_.headers) o << " " << std::filesystem::path(h).filename().string();
    o << ".\n// Every struct is described once; " << id_
      << "_bridge has one method per function (docs/proxy.md).\n"
         "//\n"
         "//   dllbridge::Bridge bridge;\n"
         "//   "
      << id_ << "_bridge lib(bridge.load(" << quote(m_.library) << "));\n"
      << "#pragma once\n\n#include <cstddef>\n#include <cstdint>\n#include <string>\n#include "
         "<type_traits>\n\n#include <dllbridge/bridge.hpp>\n"
         "#include <dllbridge/proxy.hpp>\n\n"
         "// The C headers a vendor header usually includes, first: below, the vendor\n"
         "// headers are included with C linkage in case they do not say so themselves.\n"
         "#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <wchar.h>\n\n"
         "extern \"C\" {\n"
      << header_includes() << "}\n\n";
    o << struct_section();
    o << "\n// The functions of " << m_.name << " in a loaded library. Each export is looked up on its\n"
      << "// first call; calls throw dllbridge::Error as the typed API does.\n";
    o << "class " << id_ << "_bridge {\n public:\n";
    o << "  explicit " << id_ << "_bridge(dllbridge::Library lib) : lib_(std::move(lib)) {}\n\n";
    o << "  // errno / GetLastError() of this thread's last call through any bindings.\n";
    o << "  static std::int64_t bridge_last_error() { return dllbridge::proxy::dll_last_error(); }\n\n";
    o << methods;
    o << "\n private:\n";
    o << "  static dllbridge::FunctionOptions dllbridge_options(const char* symbol) {\n"
         "    dllbridge::FunctionOptions o;\n"
         "    o.symbol = symbol;\n"
         "    return o;\n"
         "  }\n";
    o << "  dllbridge::Library lib_;\n" << members << "};\n";
    return o.str();
  }

  // A lambda calling the application's function pointer `fp` (an
  // expression) with a callback's typed arguments, as an Fn of `t`'s type:
  // the null Fn for a null pointer.
  std::string wrap_callback(const TypeDecl& t, const std::string& fn_type, const std::string& fp) const {
    const FunctionDecl& cb = *t.callback;
    std::string params, args;
    for (std::size_t k = 0; k < cb.params.size(); ++k) {
      params += (k ? ", " : "") + callback_param_type(cb, k) + " x" + std::to_string(k);
      args += ", x" + std::to_string(k);
    }
    const std::string cr = value_type(cb.ret);
    return fp + " ? " + fn_type + "([p = " + fp + "](" + params + ") -> " + cr +
           " { return dllbridge::proxy::call_back<" + cr + ">(p" + args + "); }) : " + fn_type + "()";
  }

  // dllbridge::proxy::Converter for each struct with function pointers: to
  // the mirror (fields copied, the application's function pointers wrapped
  // in Fn) and back (fields copied, its function pointers left as they are).
  std::string converters() const {
    std::ostringstream o;
    for (const Struct& s : m_.structs) {
      if (bad_structs_.count(s.sig_name) || !info_.at(s.sig_name).converted) continue;
      const std::string t = ns() + "m_" + ident(s.sig_name);
      const std::string c = ns() + "c_" + ident(s.sig_name);
      std::ostringstream in, back;
      for (const FieldDecl& f : s.decls) {
        const TypeDecl& ft = f.type;
        if (ft.kind == TypeDecl::Kind::callback) {
          in << "    t." << f.name << " = " << wrap_callback(ft, "decltype(t." + f.name + ")", "c." + f.name)
             << ";\n";
        } else if (ft.kind == TypeDecl::Kind::structure && info_.at(ft.struct_name).converted) {
          const std::string conv = "Converter<" + ns() + "m_" + ident(ft.struct_name) + ", " + ns() + "c_" +
                                   ident(ft.struct_name) + ">";
          in << "    t." << f.name << " = " << conv << "::to_typed(c." << f.name << ");\n";
          back << "    " << conv << "::back(t." << f.name << ", c." << f.name << ");\n";
        } else {
          in << "    copy_bytes(t." << f.name << ", c." << f.name << ");\n";
          back << "    copy_bytes(c." << f.name << ", t." << f.name << ");\n";
        }
      }
      o << "// struct " << s.sig_name << ": its function pointers make the mirror's layout its own.\n"
        << "namespace dllbridge::proxy {\ntemplate <>\nstruct Converter<" << t << ", " << c << "> {\n"
        << "  static " << t << " to_typed(const " << c << "& c) {\n    " << t << " t{};\n"
        << in.str() << "    return t;\n  }\n"
        << "  static void back([[maybe_unused]] const " << t << "& t, [[maybe_unused]] " << c << "& c) {\n"
        << back.str() << "  }\n};\n}  // namespace dllbridge::proxy\n\n";
    }
    return o.str();
  }

  std::string proxy(const std::string& functions) const {
    std::ostringstream o;
    o << "// The proxy library " << m_.name << ", generated by dllbridge-gen: it exports the C functions of";
    for (const std::string& h : m_.headers) o << " " << std::filesystem::path(h).filename().string();
    o << "\n// and forwards each to the 32-bit library through dllbridge (docs/proxy.md).\n";
    if (!skipped_.empty()) {
      o << "// Left out (report.txt):";
      for (const auto& s : skipped_) o << " " << s.first;
      o << "\n";
    }
    o << "#include <type_traits>\n\n#include \"" << m_.name << "_bridge.hpp\"\n\n";
    o << converters();
    o << "#if defined(_WIN32)\n#  define DLLBRIDGE_PROXY_EXPORT\n"
         "#else\n#  define DLLBRIDGE_PROXY_EXPORT __attribute__((visibility(\"default\")))\n#endif\n\n";
    o << "namespace {\n";
    o << "int anchor;\n";
    o << "// Never destroyed: the bridge lives until the process ends (the surrogate ends with it).\n";
    o << "dllbridge::proxy::Proxy<" << id_ << "_bridge>& instance() {\n";
    o << "  static auto* p = new dllbridge::proxy::Proxy<" << id_ << "_bridge>(" << quote(m_.name) << ", "
      << quote(m_.library) << ", &anchor);\n";
    o << "  return *p;\n}\n}  // namespace\n\n";
    o << "// This thread's last bridge failure (\"\" when none), e.g. \"add: the surrogate crashed ...\".\n";
    o << "extern \"C\" DLLBRIDGE_PROXY_EXPORT const char* " << id_
      << "_bridge_last_error(void) { return instance().last_error_text(); }\n\n";
    o << "// Called on each bridge failure, before the function returns its failure value (NULL: none).\n";
    o << "extern \"C\" DLLBRIDGE_PROXY_EXPORT void " << id_
      << "_bridge_set_error_handler(dllbridge::proxy::ErrorHandler h) { instance().set_handler(h); }\n\n";
    o << functions;
    return o.str();
  }

  std::string cmake() const {
    std::ostringstream o;
    const std::string t = id_;
    o << "# The proxy library " << m_.name << ", generated by dllbridge-gen (docs/proxy.md):\n"
      << "#   cmake -S . -B build -DCMAKE_PREFIX_PATH=<dllbridge prefix> && cmake --build build\n"
      << "cmake_minimum_required(VERSION 3.20)\n"
      << "project(" << t << "_proxy LANGUAGES CXX)\n"
      << "include(GNUInstallDirs)\n"
      << "find_package(dllbridge REQUIRED)\n\n"
      << "add_library(" << t << " SHARED " << m_.name << "_proxy.cpp";
    if (m_.target == Target::windows) o << " " << m_.name << ".def";
    o << ")\n";
    o << "set_target_properties(" << t << " PROPERTIES OUTPUT_NAME " << quote(m_.name)
      << " CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON INSTALL_RPATH_USE_LINK_PATH ON)\n";
    o << "if(WIN32)\n  set_target_properties(" << t << " PROPERTIES PREFIX \"\")  # " << m_.name
      << ".dll, as the application expects\nendif()\n";
    std::set<std::string> dirs;
    o << "target_include_directories(" << t << " PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}";
    for (const std::string& h : m_.headers) {
      const std::string d = std::filesystem::path(h).parent_path().string();
      if (dirs.insert(d).second) o << "\n  " << cmake_path(d);
    }
    for (const std::string& i : m_.include_dirs) {  // -I as given: relative to where the generator ran
      const std::string d = std::filesystem::absolute(i).lexically_normal().string();
      if (dirs.insert(d).second) o << "\n  " << cmake_path(d);
    }
    o << ")\n";
    if (!m_.defines.empty()) {
      o << "target_compile_definitions(" << t << " PRIVATE";
      for (const std::string& d : m_.defines) o << " " << quote(d);
      o << ")\n";
    }
    o << "target_link_libraries(" << t << " PRIVATE dllbridge::client)\n";
    o << "install(TARGETS " << t
      << "\n  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}\n  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}\n"
         "  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})\n";
    o << "install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/" << m_.name
      << "_bridge.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})\n";
    return o.str();
  }

  std::string def() const {
    std::ostringstream o;
    o << "LIBRARY " << m_.name << ".dll\nEXPORTS\n";
    for (const std::string& n : exported_) o << "  " << n << "\n";
    o << "  " << id_ << "_bridge_last_error\n  " << id_ << "_bridge_set_error_handler\n";
    return o.str();
  }

  static void write_file(const std::filesystem::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary);
    out << text;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + p.string());
  }

  const Model& m_;
  std::string id_;
  std::map<std::string, const Struct*> structs_;
  struct Info {
    bool mirror = false;     // described through a mirror struct m_NAME
    bool converted = false;  // it has function pointers (or a struct that has): the proxy converts it
    bool keeps = false;      // one of them is [persistent]: the proxy keeps the converted copy
    bool anonymous = false;  // the type of an anonymous member
    std::string parent;      // the struct whose member has this type (first one)
    std::string member;      // that member's C name ("" when anonymous)
  };
  std::map<std::string, Info> info_;                // by sig_name
  std::map<std::string, std::string> bad_structs_;  // sig_name -> why
  std::vector<std::string> exported_;
  std::vector<std::pair<std::string, std::string>> skipped_;
};

}  // namespace

void write_project(const Model& m, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
  Emitter(m).write(dir);
}

}  // namespace dllbridge::gen
