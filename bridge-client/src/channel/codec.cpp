#include "channel/codec.hpp"

#include <cmath>
#include <limits>

#include "dllbridge/error.hpp"

namespace dllbridge::detail {
namespace {

// ---------------------------------------------------------------- scalars

enum class Class { Void, Bool, Integer, Floating, Text };

struct ScalarInfo {
  Class cls;
  unsigned size;     // bytes in the surrogate's ABI
  bool is_signed;
};

// Each wire scalar in the surrogate's ABI; `long` is 4 bytes on both 32-bit
// targets and on Win64, 8 on LP64 Linux; wchar_t is UTF-16 on Windows.
ScalarInfo info(wire::Scalar k, const TargetAbi& abi) {
  const unsigned ptr = abi.pointer_size;
  const unsigned lng = abi.windows ? 4 : ptr;
  switch (k) {
    case wire::SCALAR_VOID: return {Class::Void, 0, false};
    case wire::BOOL: return {Class::Bool, 1, false};
    case wire::CHAR: case wire::SCHAR: case wire::INT8: return {Class::Integer, 1, true};
    case wire::UCHAR: case wire::UINT8: case wire::WIN_BYTE: return {Class::Integer, 1, false};
    case wire::SHORT: case wire::INT16: return {Class::Integer, 2, true};
    case wire::USHORT: case wire::UINT16: case wire::WIN_WORD: return {Class::Integer, 2, false};
    case wire::INT: case wire::INT32: case wire::WIN_BOOL: return {Class::Integer, 4, true};
    case wire::UINT: case wire::UINT32: case wire::WIN_DWORD: return {Class::Integer, 4, false};
    case wire::LONG: return {Class::Integer, lng, true};
    case wire::ULONG: return {Class::Integer, lng, false};
    case wire::LONGLONG: case wire::INT64: return {Class::Integer, 8, true};
    case wire::ULONGLONG: case wire::UINT64: return {Class::Integer, 8, false};
    case wire::SIZE_T: case wire::HANDLE: return {Class::Integer, ptr, false};
    case wire::WCHAR: return {Class::Integer, abi.windows ? 2u : 4u, !abi.windows};
    case wire::FLOAT: return {Class::Floating, 4, true};
    case wire::DOUBLE: return {Class::Floating, 8, true};
    default: return {Class::Text, ptr, false};
  }
}

// Plain char and wchar_t buffers and arrays travel as text (docs/signature-language.md,
// section 5.3); signed / unsigned char and BYTE ones are numbers (binary data).
bool is_text_unit(const sig::Type& t) {
  return !t.is_struct && (t.scalar == Scalar::Char || t.scalar == Scalar::WChar);
}

// ---------------------------------------------------------------- lowering

[[noreturn]] void unsupported(const std::string& who, const std::string& why) {
  throw Error(ErrorKind::bad_signature, who + ": " + why);
}

wire::TypeNode scalar_node(wire::Scalar k, const std::string& name) {
  wire::TypeNode n;
  n.set_kind(wire::TypeNode::SCALAR);
  n.set_scalar(k);
  n.set_name(name);
  return n;
}

enum class Place { Param, Field, Return };

struct Lowering {
  const TargetAbi& abi;

  // A type at pointer depth 0: scalar, struct or (in a struct) fixed array.
  wire::TypeNode value_type(const std::string& name, sig::Type t, Place place, int depth) const {
    const std::string who = "'" + name + "'";
    if (depth > kMaxNesting) unsupported(who, "types nest deeper than " + std::to_string(kMaxNesting) + " levels");
    if (t.array_len) {
      wire::TypeNode n;
      n.set_kind(wire::TypeNode::ARRAY);
      n.set_name(name);
      n.set_count(*t.array_len);
      n.set_text(is_text_unit(t));
      t.array_len.reset();
      *n.mutable_elem() = value_type(name, t, Place::Field, depth + 1);
      return n;
    }
    if (t.is_struct) {
      if (!t.def) unsupported(who, "struct " + t.struct_name + " is not defined");
      wire::TypeNode n;
      n.set_kind(wire::TypeNode::STRUCT);
      n.set_name(name);
      std::vector<std::string> names;
      for (const sig::Field& f : t.def->fields) names.push_back(f.name);
      for (const sig::Field& f : t.def->fields) {
        *n.add_fields() = lower(name + "." + f.name, f.type, f.attrs, Place::Field, names, depth + 1);
      }
      return n;
    }
    if (t.scalar == Scalar::Void && place != Place::Return) unsupported(who, "void is not a value");
    return scalar_node(static_cast<wire::Scalar>(t.scalar), name);
  }

  wire::TypeNode lower(const std::string& name, const sig::Type& t, const sig::Attributes& a, Place place,
                       const std::vector<std::string>& siblings, int depth) const {
    const std::string who = (place == Place::Return ? "return type of '" : "'") + name + "'";
    if (t.pointer_depth == 0) return value_type(name, t, place, depth);
    const bool opaque = t.pointer_depth == 1 && !t.is_struct && (t.scalar == Scalar::Void || t.scalar == Scalar::Handle);
    if (place == Place::Return) {
      if (t.pointer_depth == 1 && is_text_unit(t)) {  // char* return: copied back as text
        return scalar_node(t.scalar == Scalar::WChar ? wire::WSTRING : wire::STRING, name);
      }
      return scalar_node(wire::HANDLE, name);  // any other pointer comes back as a number
    }
    if (opaque && a.dir == sig::Direction::None && !a.size && !a.size_is && !a.string) {
      return scalar_node(wire::HANDLE, name);  // an opaque pointer travels as a number
    }
    sig::Direction dir = a.dir;
    if (dir == sig::Direction::None) {
      if (place != Place::Field) {
        unsupported(who, "a pointer to data needs a direction: [in], [out] or [in, out]");
      }
      dir = sig::Direction::InOut;  // pointer fields: filled in, read back
    }
    sig::Type pointee = t;
    pointee.pointer_depth -= 1;
    wire::TypeNode n;
    n.set_kind(wire::TypeNode::POINTER);
    n.set_name(name);
    n.set_dir(dir == sig::Direction::In ? wire::DIR_IN : dir == sig::Direction::Out ? wire::DIR_OUT : wire::DIR_INOUT);
    if (pointee.pointer_depth > 0) {
      const bool handle = pointee.pointer_depth == 1 && !pointee.is_struct &&
                          (pointee.scalar == Scalar::Void || pointee.scalar == Scalar::Handle);
      if (!handle) unsupported(who, "pointers to pointers to data are not supported (only void** / HANDLE* handles)");
      *n.mutable_elem() = scalar_node(wire::HANDLE, name);
    } else {
      if (!pointee.is_struct && pointee.scalar == Scalar::Void) {
        unsupported(who, "a void* with a direction has no element type; use a typed pointer");
      }
      *n.mutable_elem() = value_type(name, pointee, Place::Field, depth + 1);
    }
    const bool counted = a.size || a.size_is;
    const bool text = pointee.pointer_depth == 0 && is_text_unit(pointee) && (a.string || counted || dir == sig::Direction::In);
    if (a.string && !text) unsupported(who, "[string] needs a char or wchar_t pointer");
    n.set_text(text);
    n.set_nul_terminated(a.string || (text && !counted));
    if (a.size) {
      n.set_count(*a.size);
    } else if (a.size_is && *a.size_is == "*") {
      n.set_count_from_value(true);
    } else if (a.size_is) {
      for (std::size_t i = 0; i < siblings.size(); ++i) {
        if (siblings[i] == *a.size_is) n.set_count_ref(static_cast<std::uint32_t>(i + 1));
      }
      if (n.count_ref() == 0) unsupported(who, "size_is(" + *a.size_is + ") names nothing");
    }
    if (text && !counted && dir != sig::Direction::In) {
      unsupported(who, "an [out] text buffer needs [size_is(n)] or [size(N)]");
    }
    return n;
  }
};

// ---------------------------------------------------------------- encoding

[[noreturn]] void bad(const std::string& who, const std::string& why) {
  throw Error(ErrorKind::bad_argument, "parameter '" + who + "': " + why);
}

const char* type_of(const Value& v) {
  switch (v.index()) {
    case 0: return "null";
    case 1: return "a boolean";
    case 2: case 3: return "an integer";
    case 4: return "a floating-point number";
    case 5: return "text";
    case 6: return "a list";
    default: return "an object";
  }
}

// The integer in `v` as a checked value of `size` bytes and `is_signed`.
wire::Value encode_integer(const std::string& who, wire::Scalar kind, const ScalarInfo& si, const Value& v) {
  wire::Value out;
  const unsigned bits = si.size * 8;
  if (const auto* b = std::get_if<bool>(&v); b && (kind == wire::WIN_BOOL || kind == wire::INT)) {
    out.set_i(*b ? 1 : 0);
    return out;
  }
  std::int64_t s = 0;
  std::uint64_t u = 0;
  bool negative = false;
  if (const auto* i = std::get_if<std::int64_t>(&v)) {
    s = *i;
    negative = *i < 0;
    u = static_cast<std::uint64_t>(*i);
  } else if (const auto* x = std::get_if<std::uint64_t>(&v)) {
    u = *x;
    s = static_cast<std::int64_t>(*x);
  } else if (const auto* d = std::get_if<double>(&v); d && std::isfinite(*d) && std::trunc(*d) == *d &&
                                                          std::fabs(*d) < 9.007199254740992e15) {
    s = static_cast<std::int64_t>(*d);
    negative = s < 0;
    u = static_cast<std::uint64_t>(s);
  } else if (kind == wire::HANDLE && std::holds_alternative<Null>(v)) {
    out.set_u(0);
    return out;
  } else {
    bad(who, std::string("expects an integer, got ") + type_of(v));
  }
  if (si.is_signed) {
    const std::int64_t lo = bits >= 64 ? std::numeric_limits<std::int64_t>::min() : -(std::int64_t{1} << (bits - 1));
    const std::int64_t hi = bits >= 64 ? std::numeric_limits<std::int64_t>::max() : (std::int64_t{1} << (bits - 1)) - 1;
    const bool too_big = !negative && u > static_cast<std::uint64_t>(hi);
    if (too_big || s < lo) {
      bad(who, "value out of range for a " + std::to_string(bits) + "-bit signed integer [" + std::to_string(lo) +
                   ", " + std::to_string(hi) + "]");
    }
    out.set_i(s);
  } else {
    const std::uint64_t hi = bits >= 64 ? std::numeric_limits<std::uint64_t>::max() : (std::uint64_t{1} << bits) - 1;
    if (negative || u > hi) {
      bad(who, "value out of range for a " + std::to_string(bits) + "-bit unsigned integer [0, " +
                   std::to_string(hi) + "]");
    }
    out.set_u(u);
  }
  return out;
}

wire::Value encode_scalar(const std::string& who, wire::Scalar kind, const TargetAbi& abi, const Value& v) {
  const ScalarInfo si = info(kind, abi);
  wire::Value out;
  switch (si.cls) {
    case Class::Bool:
      if (const auto* b = std::get_if<bool>(&v)) {
        out.set_i(*b);
      } else if (const auto* i = std::get_if<std::int64_t>(&v); i && (*i == 0 || *i == 1)) {
        out.set_i(*i);
      } else {
        bad(who, std::string("expects a boolean, got ") + type_of(v));
      }
      return out;
    case Class::Floating:
      if (const auto* d = std::get_if<double>(&v)) {
        if (si.size == 4 && std::isfinite(*d) && std::fabs(*d) > std::numeric_limits<float>::max()) {
          bad(who, "value out of range for a float");
        }
        out.set_f(*d);
      } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
        out.set_f(static_cast<double>(*i));
      } else if (const auto* u = std::get_if<std::uint64_t>(&v)) {
        out.set_f(static_cast<double>(*u));
      } else {
        bad(who, std::string("expects a number, got ") + type_of(v));
      }
      return out;
    case Class::Integer:
      return encode_integer(who, kind, si, v);
    default:
      bad(who, "has no value of its own");
  }
}

// Values next to the one being encoded (the arguments, or a struct's fields),
// by position, for size_is.
using Siblings = std::vector<const Value*>;

struct Encoder {
  const TargetAbi& abi;

  // The element count a size_is / size gives, or -1 when none does.
  std::int64_t declared_count(const wire::TypeNode& t, const std::string& who, const Siblings& sib) const {
    if (t.count()) return t.count();
    if (t.count_ref() == 0) return -1;
    const Value* n = t.count_ref() <= sib.size() ? sib[t.count_ref() - 1] : nullptr;
    std::int64_t c = -1;
    if (n) {
      if (const auto* i = std::get_if<std::int64_t>(n)) c = *i;
      if (const auto* u = std::get_if<std::uint64_t>(n)) c = *u > kMaxElements ? -2 : static_cast<std::int64_t>(*u);
      if (const auto* d = std::get_if<double>(n); d && *d >= 0 && *d <= double(kMaxElements)) c = std::int64_t(*d);
    }
    if (c < 0) bad(who, "its size_is count is missing or not a count");
    if (static_cast<std::uint64_t>(c) > kMaxElements) {
      bad(who, "buffer of " + std::to_string(c) + " elements exceeds the limit of " + std::to_string(kMaxElements));
    }
    return c;
  }

  std::size_t text_units(const wire::TypeNode& elem, const std::string& s) const {
    return elem.scalar() == wire::WCHAR ? wide_units(s, abi) : s.size();
  }

  const std::string& text_of(const std::string& who, const Value& v) const {
    const auto* s = std::get_if<std::string>(&v);
    if (!s) bad(who, std::string("expects text, got ") + type_of(v));
    if (s->find('\0') != std::string::npos) bad(who, "text contains a NUL character");
    return *s;
  }

  const List& list_of(const std::string& who, const Value& v) const {
    const auto* l = std::get_if<List>(&v);
    if (!l) bad(who, std::string("expects a list, got ") + type_of(v));
    return *l;
  }

  wire::Value elements(const wire::TypeNode& elem, const std::string& who, const List& items) const {
    wire::Value out;
    wire::ValueList* list = out.mutable_list();
    for (std::size_t i = 0; i < items.size(); ++i) {
      *list->add_items() = encode(elem, items[i], who + "[" + std::to_string(i) + "]", {});
    }
    return out;
  }

  wire::Value pointer(const wire::TypeNode& t, const Value& v, const std::string& who, const Siblings& sib) const {
    wire::Value out;
    const std::int64_t count = declared_count(t, who, sib);
    if (t.dir() == wire::DIR_OUT) {
      if (t.count_from_value() && !std::holds_alternative<Null>(v)) {
        const wire::Value n = encode_scalar(who, wire::UINT64, abi, v);
        if (n.u() > kMaxElements) bad(who, "buffer of " + std::to_string(n.u()) + " elements exceeds the limit");
        return n;
      }
      if (!std::holds_alternative<Null>(v) && !t.count_from_value()) bad(who, "is [out]: it takes no value");
      out.set_null(true);
      return out;
    }
    if (std::holds_alternative<Null>(v)) {  // an optional pointer left out
      out.set_null(true);
      return out;
    }
    if (t.text()) {
      const std::string& s = text_of(who, v);
      const std::size_t need = text_units(t.elem(), s) + (t.nul_terminated() ? 1 : 0);
      if (count >= 0 && need > static_cast<std::uint64_t>(count)) {
        bad(who, "text needs " + std::to_string(need) + " units" + (t.nul_terminated() ? " with its NUL" : "") +
                     ", the buffer holds " + std::to_string(count));
      }
      out.set_text(s);
      return out;
    }
    if (count < 0 && !t.count_from_value()) return encode(t.elem(), v, who, {});  // one element
    const List& items = list_of(who, v);
    if (count >= 0 && items.size() != static_cast<std::uint64_t>(count)) {
      bad(who, "has " + std::to_string(items.size()) + " elements, its size says " + std::to_string(count));
    }
    if (items.size() > kMaxElements) bad(who, "too many elements");
    return elements(t.elem(), who, items);
  }

  wire::Value structure(const wire::TypeNode& t, const Value& v, const std::string& who) const {
    const auto* obj = std::get_if<Object>(&v);
    if (!obj) bad(who, std::string("expects an object with the struct's fields, got ") + type_of(v));
    const std::size_t n = static_cast<std::size_t>(t.fields_size());
    auto field_name = [&](std::size_t i) { return t.fields(static_cast<int>(i)).name().substr(t.name().size() + 1); };
    for (const auto& [key, value] : *obj) {
      bool known = false;
      for (std::size_t i = 0; i < n && !known; ++i) known = field_name(i) == key;
      if (!known) bad(who, "the struct has no field '" + key + "'");
    }
    static const Value kNull;
    Siblings fields(n);
    for (std::size_t i = 0; i < n; ++i) {
      auto it = obj->find(field_name(i));
      if (it != obj->end()) {
        fields[i] = &it->second;
      } else if (t.fields(static_cast<int>(i)).kind() == wire::TypeNode::POINTER) {
        fields[i] = &kNull;  // a pointer field left out is null
      } else {
        bad(who, "field '" + field_name(i) + "' is missing");
      }
    }
    wire::Value out;
    wire::ValueList* list = out.mutable_list();
    for (std::size_t i = 0; i < n; ++i) {
      *list->add_items() = encode(t.fields(static_cast<int>(i)), *fields[i], who + "." + field_name(i), fields);
    }
    return out;
  }

  wire::Value encode(const wire::TypeNode& t, const Value& v, const std::string& who, const Siblings& sib) const {
    switch (t.kind()) {
      case wire::TypeNode::POINTER:
        return pointer(t, v, who, sib);
      case wire::TypeNode::STRUCT:
        return structure(t, v, who);
      case wire::TypeNode::ARRAY: {
        if (t.text()) {
          const std::string& s = text_of(who, v);
          if (text_units(t.elem(), s) > t.count()) {
            bad(who, "text of " + std::to_string(text_units(t.elem(), s)) + " units does not fit char[" +
                         std::to_string(t.count()) + "]");
          }
          wire::Value out;
          out.set_text(s);
          return out;
        }
        const List& items = list_of(who, v);
        if (items.size() > t.count()) {
          bad(who, "has " + std::to_string(items.size()) + " elements, the array " + std::to_string(t.count()));
        }
        return elements(t.elem(), who, items);
      }
      default:
        return encode_scalar(who, t.scalar(), abi, v);
    }
  }
};

// The type of a variadic extra argument by its JSON key ({"int": 3}), with
// C's default argument promotions applied.
wire::TypeNode extra_type(const std::string& key, const std::string& who) {
  struct Entry {
    const char* key;
    wire::Scalar kind;
  };
  static constexpr Entry kScalars[] = {
      {"int", wire::INT}, {"char", wire::INT}, {"short", wire::INT}, {"bool", wire::INT},
      {"int32_t", wire::INT}, {"unsigned int", wire::UINT}, {"uint32_t", wire::UINT}, {"unsigned", wire::UINT},
      {"long", wire::LONG}, {"unsigned long", wire::ULONG}, {"long long", wire::LONGLONG},
      {"int64_t", wire::LONGLONG}, {"unsigned long long", wire::ULONGLONG}, {"uint64_t", wire::ULONGLONG},
      {"size_t", wire::SIZE_T}, {"double", wire::DOUBLE}, {"float", wire::DOUBLE},
      {"pointer", wire::HANDLE}, {"handle", wire::HANDLE}, {"HANDLE", wire::HANDLE}};
  for (const Entry& e : kScalars) {
    if (key == e.key) return scalar_node(e.kind, who);
  }
  if (key == "string" || key == "wstring") {
    wire::TypeNode n;
    n.set_kind(wire::TypeNode::POINTER);
    n.set_name(who);
    n.set_dir(wire::DIR_IN);
    n.set_text(true);
    n.set_nul_terminated(true);
    *n.mutable_elem() = scalar_node(key == "string" ? wire::CHAR : wire::WCHAR, who);
    return n;
  }
  bad(who, "unknown variadic type '" + key + "' (int, unsigned int, long, long long, uint64_t, size_t, double, "
           "string, wstring, pointer, ...)");
}

}  // namespace

std::size_t wide_units(const std::string& text, const TargetAbi& abi) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80) ++n;                       // a code point starts here
    if (abi.windows && (c & 0xF8) == 0xF0) ++n;        // beyond the BMP: a surrogate pair
  }
  return n;
}

WireSignature lower(const sig::Function& fn, const TargetAbi& abi) {
  const Lowering l{abi};
  WireSignature out;
  out.abi = abi;
  out.name = fn.name;
  out.variadic = fn.variadic;
  out.ret = l.lower(fn.name, fn.ret, sig::Attributes{}, Place::Return, {}, 0);
  std::vector<std::string> names;
  for (const sig::Param& p : fn.params) names.push_back(p.name);
  for (std::size_t i = 0; i < fn.params.size(); ++i) {
    const sig::Param& p = fn.params[i];
    out.params.push_back(l.lower(p.name, p.type, p.attrs, Place::Param, names, 0));
    const wire::TypeNode& t = out.params.back();
    if (t.kind() == wire::TypeNode::ARRAY) unsupported("'" + p.name + "'", "a parameter cannot be an array");
    if (!(t.kind() == wire::TypeNode::POINTER && t.dir() == wire::DIR_OUT && !t.count_from_value())) {
      out.inputs.push_back(i);
    }
  }
  return out;
}

void encode_register(const WireSignature& s, wire::RegisterFunction& reg) {
  *reg.mutable_ret() = s.ret;
  for (const wire::TypeNode& p : s.params) *reg.add_params() = p;
  reg.set_variadic(s.variadic);
}

void encode_call(const WireSignature& s, const std::vector<Value>& args, wire::Call& call) {
  const std::size_t fixed = s.inputs.size();
  if (args.size() < fixed || (!s.variadic && args.size() != fixed)) {
    std::string names;
    for (std::size_t i : s.inputs) names += (names.empty() ? "" : ", ") + s.params[i].name();
    throw Error(ErrorKind::bad_argument, s.name + " takes " + std::to_string(fixed) + (s.variadic ? " or more" : "") +
                                             " argument(s) (" + names + "), got " + std::to_string(args.size()));
  }
  static const Value kNull;
  Siblings values(s.params.size(), &kNull);
  for (std::size_t k = 0; k < fixed; ++k) values[s.inputs[k]] = &args[k];
  const Encoder enc{s.abi};
  call.clear_args();
  call.clear_extra_types();
  for (std::size_t i = 0; i < s.params.size(); ++i) {
    *call.add_args() = enc.encode(s.params[i], *values[i], s.params[i].name(), values);
  }
  for (std::size_t k = fixed; k < args.size(); ++k) {
    const std::string who = "extra argument " + std::to_string(k - fixed + 1);
    const auto* obj = std::get_if<Object>(&args[k]);
    if (!obj || obj->size() != 1) bad(who, "a variadic argument is typed: {\"int\": 3}, {\"double\": 1.5}, {\"string\": \"x\"}");
    const wire::TypeNode t = extra_type(obj->begin()->first, who);
    *call.add_args() = enc.encode(t, obj->begin()->second, who, {});
    *call.add_extra_types() = t;
  }
}

Value decode_value(const wire::TypeNode& t, const wire::Value& v) {
  const bool single = t.kind() == wire::TypeNode::POINTER && !t.text() && !t.count() && !t.count_ref() &&
                      !t.count_from_value();
  if (single && v.v_case() != wire::Value::kNull) return decode_value(t.elem(), v);  // one element
  const bool is_bool = t.kind() == wire::TypeNode::SCALAR && t.scalar() == wire::BOOL;
  switch (v.v_case()) {
    case wire::Value::kText: return v.text();
    case wire::Value::kF: return v.f();
    case wire::Value::kI: return is_bool ? Value(v.i() != 0) : Value(v.i());
    case wire::Value::kU: return is_bool ? Value(v.u() != 0) : Value(v.u());
    case wire::Value::kList: {
      const wire::ValueList& items = v.list();
      if (t.kind() == wire::TypeNode::STRUCT) {
        Object obj;
        for (int i = 0; i < items.items_size() && i < t.fields_size(); ++i) {
          const wire::TypeNode& f = t.fields(i);
          obj.emplace(f.name().substr(t.name().size() + 1), decode_value(f, items.items(i)));
        }
        return obj;
      }
      const wire::TypeNode& elem = t.has_elem() ? t.elem() : t;
      List list;
      list.reserve(static_cast<std::size_t>(items.items_size()));
      for (const wire::Value& item : items.items()) list.push_back(decode_value(elem, item));
      return list;
    }
    default: return Null{};
  }
}

CallResult decode_reply(const WireSignature& s, const wire::CallReply& r) {
  CallResult out;
  out.ret = decode_value(s.ret, r.ret());
  for (std::size_t i = 0; i < s.params.size(); ++i) {
    const wire::TypeNode& t = s.params[i];
    const bool is_out = t.kind() == wire::TypeNode::POINTER && (t.dir() == wire::DIR_OUT || t.dir() == wire::DIR_INOUT);
    if (!is_out) continue;
    const wire::Value empty;
    out.out.emplace(t.name(), decode_value(t, i < static_cast<std::size_t>(r.out_size()) ? r.out(static_cast<int>(i)) : empty));
  }
  out.last_error = r.last_error();
  out.elapsed = std::chrono::nanoseconds(r.elapsed_ns());
  return out;
}

}  // namespace dllbridge::detail
