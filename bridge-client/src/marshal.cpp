#include "marshal.hpp"

#include <cmath>
#include <limits>

#include "dllbridge/error.hpp"

namespace dllbridge::detail {
namespace {

struct IntInfo {
  wire::Scalar kind;
  unsigned size;
  bool is_signed;
};

// Integer kinds with their size in the surrogate's ABI; `long` is 4 bytes on
// both 32-bit targets and on Win64, 8 on LP64 Linux.
IntInfo int_info(Scalar s, const TargetAbi& abi) {
  const unsigned ptr = abi.pointer_size;
  const unsigned lng = abi.windows ? 4 : ptr;
  switch (s) {
    case Scalar::Char: return {wire::CHAR, 1, true};
    case Scalar::SChar: return {wire::SCHAR, 1, true};
    case Scalar::UChar: return {wire::UCHAR, 1, false};
    case Scalar::Short: return {wire::SHORT, 2, true};
    case Scalar::UShort: return {wire::USHORT, 2, false};
    case Scalar::Int: return {wire::INT, 4, true};
    case Scalar::UInt: return {wire::UINT, 4, false};
    case Scalar::Long: return {wire::LONG, lng, true};
    case Scalar::ULong: return {wire::ULONG, lng, false};
    case Scalar::LongLong: return {wire::LONGLONG, 8, true};
    case Scalar::ULongLong: return {wire::ULONGLONG, 8, false};
    case Scalar::Int8: return {wire::INT8, 1, true};
    case Scalar::Int16: return {wire::INT16, 2, true};
    case Scalar::Int32: return {wire::INT32, 4, true};
    case Scalar::Int64: return {wire::INT64, 8, true};
    case Scalar::UInt8: return {wire::UINT8, 1, false};
    case Scalar::UInt16: return {wire::UINT16, 2, false};
    case Scalar::UInt32: return {wire::UINT32, 4, false};
    case Scalar::UInt64: return {wire::UINT64, 8, false};
    case Scalar::SizeT: return {wire::SIZE_T, ptr, false};
    case Scalar::WChar: return abi.windows ? IntInfo{wire::WCHAR, 2, false} : IntInfo{wire::WCHAR, 4, true};
    case Scalar::BOOL: return {wire::WIN_BOOL, 4, true};
    case Scalar::BYTE: return {wire::WIN_BYTE, 1, false};
    case Scalar::WORD: return {wire::WIN_WORD, 2, false};
    case Scalar::DWORD: return {wire::WIN_DWORD, 4, false};
    case Scalar::Handle: return {wire::HANDLE, ptr, false};
    default: return {wire::SCALAR_VOID, 0, false};
  }
}

[[noreturn]] void unsupported(const std::string& what, const std::string& name) {
  throw Error(ErrorKind::bad_signature,
              what + " '" + name + "' is not supported yet (this version passes scalars, "
                     "[in, string] text and opaque handles)");
}

WireParam lower_one(const std::string& name, const sig::Type& t, const sig::Attributes& a,
                    bool is_return, const TargetAbi& abi) {
  const char* what = is_return ? "return type of" : "parameter";
  WireParam p;
  p.name = name;
  if (t.is_struct || t.array_len) unsupported(std::string(what) + " (struct)", name);
  if (t.pointer_depth == 0) {
    switch (t.scalar) {
      case Scalar::Void: p.kind = wire::SCALAR_VOID; return p;
      case Scalar::Bool: p.kind = wire::BOOL; p.size = 1; return p;
      case Scalar::Float: p.kind = wire::FLOAT; p.size = 4; return p;
      case Scalar::Double: p.kind = wire::DOUBLE; p.size = 8; return p;
      default: {
        const IntInfo i = int_info(t.scalar, abi);
        p.kind = i.kind;
        p.size = i.size;
        p.is_signed = i.is_signed;
        return p;
      }
    }
  }
  const bool text_char = t.scalar == Scalar::Char || t.scalar == Scalar::SChar || t.scalar == Scalar::UChar;
  if (t.pointer_depth == 1) {
    if (is_return && text_char) {  // char* return: copied back as text
      p.kind = wire::STRING;
      return p;
    }
    if (!is_return && a.string && (a.dir == sig::Direction::In) && !a.size_is && !a.size) {
      if (text_char) { p.kind = wire::STRING; return p; }
      if (t.scalar == Scalar::WChar) { p.kind = wire::WSTRING; return p; }
    }
    if ((t.scalar == Scalar::Void || t.scalar == Scalar::Handle) && a.dir == sig::Direction::None) {
      p.kind = wire::HANDLE;  // an opaque pointer travels as a number
      p.size = abi.pointer_size;
      return p;
    }
  }
  unsupported(std::string(what) + " (pointer)", name);
}

[[noreturn]] void bad(const WireParam& p, const std::string& why) {
  throw Error(ErrorKind::bad_argument, "parameter '" + p.name + "': " + why);
}

const char* type_of(const Value& v) {
  switch (v.index()) {
    case 0: return "null";
    case 1: return "a boolean";
    case 2: case 3: return "an integer";
    case 4: return "a floating-point number";
    default: return "text";
  }
}

// The integer in `v` as a checked value of `p`'s size and signedness.
wire::Value encode_integer(const WireParam& p, const Value& v) {
  wire::Value out;
  const unsigned bits = p.size * 8;
  if (const auto* b = std::get_if<bool>(&v); b && (p.kind == wire::WIN_BOOL || p.kind == wire::INT)) {
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
  } else {
    bad(p, std::string("expects an integer, got ") + type_of(v));
  }
  if (p.is_signed) {
    const std::int64_t lo = bits >= 64 ? std::numeric_limits<std::int64_t>::min() : -(std::int64_t{1} << (bits - 1));
    const std::int64_t hi = bits >= 64 ? std::numeric_limits<std::int64_t>::max() : (std::int64_t{1} << (bits - 1)) - 1;
    const bool too_big = !negative && u > static_cast<std::uint64_t>(hi);
    if (too_big || s < lo) {
      bad(p, "value out of range for a " + std::to_string(bits) + "-bit signed integer [" +
                 std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    out.set_i(s);
  } else {
    const std::uint64_t hi = bits >= 64 ? std::numeric_limits<std::uint64_t>::max() : (std::uint64_t{1} << bits) - 1;
    if (negative || u > hi) {
      bad(p, "value out of range for a " + std::to_string(bits) + "-bit unsigned integer [0, " +
                 std::to_string(hi) + "]");
    }
    out.set_u(u);
  }
  return out;
}

}  // namespace

WireSignature lower(const sig::Function& fn, const TargetAbi& abi) {
  if (fn.variadic) unsupported("variadic function", fn.name);
  WireSignature out;
  out.ret = lower_one(fn.name, fn.ret, sig::Attributes{}, true, abi);
  for (const sig::Param& p : fn.params) {
    out.params.push_back(lower_one(p.name, p.type, p.attrs, false, abi));
  }
  return out;
}

wire::Value encode_argument(const WireParam& p, const Value& v) {
  wire::Value out;
  switch (p.kind) {
    case wire::BOOL:
      if (const auto* b = std::get_if<bool>(&v)) {
        out.set_i(*b);
      } else if (const auto* i = std::get_if<std::int64_t>(&v); i && (*i == 0 || *i == 1)) {
        out.set_i(*i);
      } else {
        bad(p, std::string("expects a boolean, got ") + type_of(v));
      }
      return out;
    case wire::FLOAT:
    case wire::DOUBLE:
      if (const auto* d = std::get_if<double>(&v)) {
        if (p.kind == wire::FLOAT && std::isfinite(*d) && std::fabs(*d) > std::numeric_limits<float>::max()) {
          bad(p, "value out of range for a float");
        }
        out.set_f(*d);
      } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
        out.set_f(static_cast<double>(*i));
      } else if (const auto* u = std::get_if<std::uint64_t>(&v)) {
        out.set_f(static_cast<double>(*u));
      } else {
        bad(p, std::string("expects a number, got ") + type_of(v));
      }
      return out;
    case wire::STRING:
    case wire::WSTRING:
      if (const auto* s = std::get_if<std::string>(&v)) {
        if (s->find('\0') != std::string::npos) bad(p, "text contains a NUL character");
        out.set_text(*s);
      } else if (std::holds_alternative<Null>(v)) {
        out.set_null(true);
      } else {
        bad(p, std::string("expects text or null, got ") + type_of(v));
      }
      return out;
    case wire::HANDLE:
      if (std::holds_alternative<Null>(v)) {
        out.set_u(0);
        return out;
      }
      return encode_integer(p, v);
    default:
      return encode_integer(p, v);
  }
}

Value decode_result(const WireParam& p, const wire::Value& v) {
  if (p.kind == wire::BOOL) return v.v_case() == wire::Value::kI ? v.i() != 0 : v.u() != 0;
  switch (v.v_case()) {
    case wire::Value::kNull: return Null{};
    case wire::Value::kText: return v.text();
    case wire::Value::kF: return v.f();
    case wire::Value::kU: return v.u();
    case wire::Value::kI: return v.i();
    default: return Null{};
  }
}

}  // namespace dllbridge::detail
