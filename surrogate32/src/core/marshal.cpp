#include "core/marshal.hpp"

#include <algorithm>
#include <cstring>

#include "core/callbacks.hpp"
#include "core/errors.hpp"
#include "core/text.hpp"
#include "dllbridge/rules/counts.hpp"

namespace dllbridge::surrogate {
namespace {

[[noreturn]] void bad_type(const std::string& name, const std::string& why) {
  throw Failure(wire::BAD_SIGNATURE, "'" + name + "': " + why);
}
[[noreturn]] void bad_value(const Layout& t, const std::string& why) {
  throw Failure(wire::BAD_ARGUMENT, "'" + t.name + "': " + why);
}

bool is_char(const Layout& t) {
  return t.kind == wire::TypeNode::SCALAR &&
         (t.scalar.carrier == Carrier::Signed || t.scalar.carrier == Carrier::Unsigned) &&
         (t.size == 1 || t.size == sizeof(wchar_t));
}

// An aggregate libffi type over `members`; its size, alignment and the
// members' offsets come from libffi for this ABI.
void make_aggregate(Layout& l, std::vector<ffi_type*> members) {
  l.elements = std::move(members);
  l.elements.push_back(nullptr);
  l.owned = std::make_unique<ffi_type>();
  l.owned->size = 0;
  l.owned->alignment = 0;
  l.owned->type = FFI_TYPE_STRUCT;
  l.owned->elements = l.elements.data();
  l.offsets.assign(l.elements.size() - 1, 0);
  if (ffi_get_struct_offsets(FFI_DEFAULT_ABI, l.owned.get(), l.offsets.data()) != FFI_OK) {
    bad_type(l.name, "libffi cannot lay this aggregate out");
  }
  l.ffi = l.owned.get();
  l.size = l.owned->size;
  l.align = l.owned->alignment;
}

std::int64_t integer_of(const Layout& t, const wire::Value& v) {
  if (v.v_case() == wire::Value::kI) return v.i();
  if (v.v_case() == wire::Value::kU) return static_cast<std::int64_t>(v.u());
  bad_value(t, "expects an integer");
}

// An integer value of `t` checked against its range in 64 bits before it
// is narrowed to t.size bytes: what the DLL gets is the value sent (a count
// it reads is the count the buffer was sized with).
std::int64_t checked_integer(const Layout& t, const wire::Value& v) {
  const bool is_signed = t.scalar.carrier == Carrier::Signed;
  const unsigned bits = 8 * static_cast<unsigned>(t.size);
  bool ok = true;
  if (v.v_case() == wire::Value::kI) {
    const std::int64_t i = v.i();
    if (is_signed) {
      ok = bits >= 64 || (i >= -(std::int64_t{1} << (bits - 1)) && i < (std::int64_t{1} << (bits - 1)));
    } else {
      ok = i >= 0 && (bits >= 64 || static_cast<std::uint64_t>(i) >> bits == 0);
    }
  } else if (v.v_case() == wire::Value::kU) {
    const std::uint64_t u = v.u();
    ok = is_signed ? u >> (bits - 1) == 0 : bits >= 64 || u >> bits == 0;
  }
  const std::int64_t x = integer_of(t, v);
  if (!ok) {
    bad_value(t, "value " + (v.v_case() == wire::Value::kU ? std::to_string(v.u()) : std::to_string(v.i())) +
                     " out of range for a " + std::to_string(bits) + "-bit " +
                     (is_signed ? "signed" : "unsigned") + " integer");
  }
  return x;
}

void write_scalar(const Layout& t, const wire::Value& v, unsigned char* dst) {
  switch (t.scalar.carrier) {
    case Carrier::Signed:
    case Carrier::Unsigned: {
      const std::int64_t x = checked_integer(t, v);
      std::memcpy(dst, &x, t.size);  // little-endian: the low bytes first
      return;
    }
    case Carrier::Floating: {
      double d = 0;
      if (v.v_case() == wire::Value::kF) {
        d = v.f();
      } else {
        d = static_cast<double>(integer_of(t, v));
      }
      if (t.size == sizeof(float)) {
        const float f = static_cast<float>(d);
        std::memcpy(dst, &f, sizeof f);
      } else {
        std::memcpy(dst, &d, sizeof d);
      }
      return;
    }
    default: bad_value(t, "cannot be passed as a value");
  }
}

std::int64_t sign_extend(std::uint64_t bits, std::size_t size) {
  if (size >= 8) return static_cast<std::int64_t>(bits);
  const unsigned shift = 64 - 8 * static_cast<unsigned>(size);
  return static_cast<std::int64_t>(bits << shift) >> shift;
}

wire::Value read_scalar(const NativeType& t, const unsigned char* src) {
  wire::Value out;
  std::uint64_t bits = 0;
  switch (t.carrier) {
    case Carrier::Signed:
      std::memcpy(&bits, src, t.size);
      out.set_i(sign_extend(bits, t.size));
      break;
    case Carrier::Unsigned:
      std::memcpy(&bits, src, t.size);
      out.set_u(bits);
      break;
    case Carrier::Floating:
      if (t.size == sizeof(float)) {
        float f;
        std::memcpy(&f, src, sizeof f);
        out.set_f(f);
      } else {
        double d;
        std::memcpy(&d, src, sizeof d);
        out.set_f(d);
      }
      break;
    default: out.set_null(true);
  }
  return out;
}

// Text in a buffer of `units` elements of `unit` bytes, up to the first NUL.
std::string read_text(const unsigned char* p, std::size_t unit, std::size_t units) {
  if (unit == 1) {
    const char* s = reinterpret_cast<const char*>(p);
    return std::string(s, strnlen(s, units));
  }
  const auto* w = reinterpret_cast<const wchar_t*>(p);
  std::size_t n = 0;
  while (n < units && w[n] != 0) ++n;
  return wide_to_utf8(w, n);
}

// Text `v` into `units` elements of `unit` bytes at `dst` (zeroed), or the
// number of units it needs (with its NUL when `nul`) when dst is null.
std::size_t write_text(const Layout& t, const wire::Value& v, std::size_t unit, unsigned char* dst,
                       std::size_t units, bool nul) {
  if (v.v_case() != wire::Value::kText) bad_value(t, "expects text");
  const std::string& s = v.text();
  const std::size_t n = rules::text_units(s, static_cast<unsigned>(unit));
  const std::size_t need = n + (nul ? 1 : 0);
  if (dst == nullptr) return need;
  std::wstring wide;
  if (unit != 1) wide = utf8_to_wide(s);
  if (need > units || wide.size() > n) {
    bad_value(t, "text of " + std::to_string(n) + " units does not fit " + std::to_string(units) +
                     (nul ? " (with its NUL)" : ""));
  }
  std::memcpy(dst, unit == 1 ? static_cast<const void*>(s.data()) : wide.data(), n * unit);
  return need;
}

const wire::ValueList& list_of(const Layout& t, const wire::Value& v) {
  if (v.v_case() != wire::Value::kList) bad_value(t, "expects a list of values");
  return v.list();
}

// The number of `e.size`-byte elements in packed value `v`.
std::size_t packed_count(const Layout& t, const Layout& e, const wire::Value& v) {
  if (e.size == 0 || v.packed().size() % e.size != 0) {
    bad_value(t, "packed elements of " + std::to_string(v.packed().size()) + " bytes are not whole " +
                     std::to_string(e.size) + "-byte elements");
  }
  return v.packed().size() / e.size;
}

// Elements of number layout `e` from `v` (packed bytes, or a list of
// values) into `n` elements at `dst`; `exact`: exactly n, else at most n.
void write_elements(const Layout& t, const Layout& e, const wire::Value& v, unsigned char* dst, std::size_t n,
                    bool exact, CallMemory& mem) {
  std::size_t have;
  if (v.v_case() == wire::Value::kPacked && e.kind == wire::TypeNode::SCALAR) {
    have = packed_count(t, e, v);
  } else {
    have = static_cast<std::size_t>(list_of(t, v).items_size());
  }
  if (exact ? have != n : have > n) {
    bad_value(t, "has " + std::to_string(have) + " elements, " + (exact ? "its size says " : "the array ") +
                     std::to_string(n));
  }
  if (v.v_case() == wire::Value::kPacked) {
    std::memcpy(dst, v.packed().data(), v.packed().size());  // one copy, in the layout it travelled in
    return;
  }
  for (std::size_t i = 0; i < have; ++i)
    write_value(e, v.list().items(static_cast<int>(i)), dst + i * e.size, mem, nullptr);
}

// `n` elements of layout `e` at `src` as a value: packed bytes for numbers
// (one copy), a list for structs.
wire::Value read_elements(const Layout& e, const unsigned char* src, std::size_t n, const CallMemory& mem) {
  wire::Value out;
  if (e.kind == wire::TypeNode::SCALAR) {
    out.set_packed(src, n * e.size);
    return out;
  }
  wire::ValueList* items = out.mutable_list();
  items->mutable_items()->Reserve(static_cast<int>(n));
  for (std::size_t i = 0; i < n; ++i) *items->add_items() = read_value(e, src + i * e.size, mem);
  return out;
}

// The element count of pointer `t` holding `v` by the count rules, or -1 for
// a single element (no list). NUL-terminated text without a count is as long
// as the text and its NUL.
std::int64_t pointer_count(const Layout& t, const wire::Value& v, const Values* siblings) {
  const bool placed = v.v_case() == wire::Value::kRegion;  // bounded by the region, not the frame
  auto checked = [&](std::int64_t n) {
    const std::string problem = placed && n >= 0 && static_cast<std::uint64_t>(n) <= rules::kMaxRegionElements
                                    ? std::string()
                                    : rules::count_problem(n);
    if (!problem.empty()) bad_value(t, problem);
    return n;
  };
  switch (rules::count_source(t.count, t.count_ref, t.count_from_value, t.text)) {
    case rules::CountSource::fixed: return t.count;
    case rules::CountSource::sibling:
      if (!siblings || t.count_ref > static_cast<std::uint32_t>(siblings->size())) {
        bad_value(t, "its size_is names no value");
      }
      return checked(integer_of(t, (*siblings)[static_cast<int>(t.count_ref - 1)]));
    case rules::CountSource::from_value:
      if (v.v_case() == wire::Value::kRegion) {  // its length (checked whole against the count later)
        const std::uint64_t n = t.elem->size ? v.region().length() / t.elem->size : 0;
        if (n > rules::kMaxRegionElements) bad_value(t, "a buffer of " + std::to_string(n) + " elements");
        return static_cast<std::int64_t>(n);
      }
      if (t.dir == wire::DIR_OUT) return checked(integer_of(t, v));
      if (v.v_case() == wire::Value::kText) {
        return static_cast<std::int64_t>(write_text(t, v, t.elem->size, nullptr, 0, t.nul_terminated));
      }
      if (v.v_case() == wire::Value::kPacked && t.elem->kind == wire::TypeNode::SCALAR)
        return checked(static_cast<std::int64_t>(packed_count(t, *t.elem, v)));
      return checked(list_of(t, v).items_size());
    case rules::CountSource::text_length:
      return static_cast<std::int64_t>(write_text(t, v, t.elem->size, nullptr, 0, true));
    case rules::CountSource::single: break;
  }
  return -1;
}

// A buffer the client placed in the shared region: the DLL gets a pointer
// into this process's mapping, after the checks (never trusted: the block
// must lie inside the mapping, in 64 bits, and hold exactly the count).
void* placed_pointer(const Layout& t, const wire::Value& v, CallMemory& mem, const Values* siblings) {
  const Layout& e = *t.elem;
  if (t.text || e.kind != wire::TypeNode::SCALAR || e.size == 0)
    bad_value(t, "only buffers of numbers travel in the shared region");
  if (!mem.region || !mem.region->mapped())
    bad_value(t, "names the shared region, which this session has not mapped");
  const wire::Region& r = v.region();
  unsigned char* p = mem.region->at(r.segment(), r.offset(), r.length());
  if (!p) {
    bad_value(t, "names bytes " + std::to_string(r.offset()) + " + " + std::to_string(r.length()) +
                     " of segment " + std::to_string(r.segment()) + ", outside the shared region");
  }
  if (r.offset() % e.align != 0) bad_value(t, "names a misaligned block of the shared region");
  const std::int64_t count = pointer_count(t, v, siblings);
  if (count < 0 || static_cast<std::uint64_t>(count) > rules::kMaxRegionElements ||
      static_cast<std::uint64_t>(count) * e.size != r.length()) {
    bad_value(t, "a block of " + std::to_string(r.length()) + " bytes in the shared region for " +
                     std::to_string(count) + " elements of " + std::to_string(e.size) + " bytes");
  }
  mem.remember(p, static_cast<std::uint32_t>(count));
  mem.remember_placed(p, r);
  return p;
}

void write_pointer(const Layout& t, const wire::Value& v, unsigned char* dst, CallMemory& mem,
                   const Values* siblings) {
  void* p = nullptr;
  if (v.v_case() == wire::Value::kNull && (t.dir != wire::DIR_OUT || t.count_from_value)) {
    std::memcpy(dst, &p, sizeof p);  // an optional pointer left out
    return;
  }
  if (v.v_case() == wire::Value::kRegion) {
    p = placed_pointer(t, v, mem, siblings);
    std::memcpy(dst, &p, sizeof p);
    return;
  }
  const Layout& e = *t.elem;
  const std::int64_t count = pointer_count(t, v, siblings);
  const bool single = count < 0;
  // Checked in 64 bits before anything is narrowed to this process's size_t.
  const std::uint64_t wide = single ? 1 : static_cast<std::uint64_t>(count);
  if (wide > rules::kMaxElements || (e.size != 0 && wide > kMaxCallMemory / e.size))
    bad_value(t, "buffer of " + std::to_string(wide) + " elements is too large");
  const auto n = static_cast<std::size_t>(wide);
  auto* block = mem.allocate(std::max<std::size_t>(n * e.size, 1), t.name);
  p = block;
  mem.remember(p, static_cast<std::uint32_t>(n));
  if (t.dir != wire::DIR_OUT && v.v_case() != wire::Value::kNull) {
    if (t.text) {
      write_text(t, v, e.size, block, n, t.nul_terminated);
    } else if (single) {
      write_value(e, v, block, mem, nullptr);
    } else {
      write_elements(t, e, v, block, n, true, mem);
    }
  }
  std::memcpy(dst, &p, sizeof p);
}

}  // namespace

Layout build_layout(const wire::TypeNode& node, Role role, int depth, TypeBudget& budget,
                    const std::string& parent) {
  const std::string name = parent.empty() ? node.name() : parent + "." + node.name();
  if (depth > kMaxTypeDepth) bad_type(name, "types nest deeper than " + std::to_string(kMaxTypeDepth));
  if (++budget.nodes > kMaxTypeNodes)
    bad_type(name, "more than " + std::to_string(kMaxTypeNodes) + " type nodes");
  Layout l;
  l.kind = node.kind();
  l.name = name;
  switch (node.kind()) {
    case wire::TypeNode::SCALAR: {
      l.scalar = native_type(node.scalar());
      const bool text = l.scalar.carrier == Carrier::Text || l.scalar.carrier == Carrier::WideText;
      if (l.scalar.carrier == Carrier::None && role != Role::Return) bad_type(l.name, "void is not a value");
      if (text && role != Role::Return) bad_type(l.name, "text kinds are return values only");
      l.ffi = l.scalar.ffi;
      l.size = l.scalar.size;
      l.align = l.ffi->alignment;
      return l;
    }
    case wire::TypeNode::POINTER: {
      if (!node.has_elem()) throw Failure(wire::PROTOCOL, "pointer '" + l.name + "' without an element type");
      if (role == Role::Element || role == Role::Return)
        bad_type(l.name, "pointers to pointers to data are not supported");
      l.dir = node.dir();
      if (l.dir == wire::DIR_NONE) bad_type(l.name, "a pointer to data needs a direction");
      if (role == Role::CallbackParam && node.count_from_value())
        bad_type(l.name,
                 "a callback's pointer is counted by [size(N)] or [size_is(sibling)], not by its value");
      l.text = node.text();
      l.nul_terminated = node.nul_terminated();
      l.count = node.count();
      l.count_ref = node.count_ref();
      l.count_from_value = node.count_from_value();
      if (node.count() > kMaxCallMemory) bad_type(l.name, "[size] is too large");
      l.elem = std::make_unique<Layout>(build_layout(node.elem(), Role::Element, depth + 1, budget, parent));
      l.elem->name = l.name;
      if (l.text && !is_char(*l.elem)) bad_type(l.name, "text needs char or wchar_t elements");
      if (l.text && !l.count && !l.count_ref && !l.count_from_value && l.dir != wire::DIR_IN) {
        bad_type(l.name, "an [out] text buffer needs size_is or size");
      }
      if (l.elem->kind == wire::TypeNode::ARRAY) bad_type(l.name, "pointer to an array");
      l.ffi = &ffi_type_pointer;
      l.size = sizeof(void*);
      l.align = ffi_type_pointer.alignment;
      return l;
    }
    case wire::TypeNode::ARRAY: {
      if (role != Role::Field) bad_type(l.name, "fixed arrays exist only inside structs");
      if (!node.has_elem()) throw Failure(wire::PROTOCOL, "array '" + l.name + "' without an element type");
      if (node.count() == 0 || node.count() > kMaxArrayLength) bad_type(l.name, "array length out of range");
      l.count = node.count();
      l.text = node.text();
      l.elem = std::make_unique<Layout>(build_layout(node.elem(), Role::Field, depth + 1, budget, parent));
      l.elem->name = l.name;
      if (l.elem->kind == wire::TypeNode::POINTER || l.elem->kind == wire::TypeNode::ARRAY) {
        bad_type(l.name, "arrays of pointers or arrays are not supported");
      }
      if (l.text && !is_char(*l.elem)) bad_type(l.name, "text needs char or wchar_t elements");
      if (std::uint64_t{l.count} * l.elem->size > kMaxStructSize) bad_type(l.name, "array too large");
      budget.elements += l.count;
      if (budget.elements > kMaxAggregateElements)
        bad_type(l.name, "the function's arrays are too large together");
      make_aggregate(l, std::vector<ffi_type*>(l.count, l.elem->ffi));
      l.offsets.clear();
      return l;
    }
    case wire::TypeNode::STRUCT: {
      if (node.fields_size() == 0) bad_type(l.name, "a struct needs fields");
      std::vector<ffi_type*> members;
      std::uint64_t bytes = 0;  // in 64 bits: libffi's size_t sum could wrap in a 32-bit process
      for (const wire::TypeNode& f : node.fields()) {
        l.fields.push_back(build_layout(f, Role::Field, depth + 1, budget, l.name));
        members.push_back(l.fields.back().ffi);
        bytes += l.fields.back().size + l.fields.back().align - 1;  // with its padding at most
        if (bytes > kMaxStructSize) bad_type(l.name, "struct too large");
      }
      check_count_refs(l.fields, "struct '" + l.name + "'");
      make_aggregate(l, std::move(members));
      if (l.size > kMaxStructSize) bad_type(l.name, "struct too large");
      return l;
    }
    case wire::TypeNode::FUNCTION_POINTER: {
      if (role != Role::Parameter && role != Role::Field)
        bad_type(l.name, "a callback is a parameter or a struct field");
      l.callback = build_callback_type(node, depth, budget, l.name);
      l.ffi = &ffi_type_pointer;
      l.size = sizeof(void*);
      l.align = ffi_type_pointer.alignment;
      return l;
    }
    default: throw Failure(wire::PROTOCOL, "unknown type kind " + std::to_string(int(node.kind())));
  }
}

void check_count_refs(const std::vector<Layout>& siblings, const std::string& where) {
  for (const Layout& l : siblings) {
    if (l.kind != wire::TypeNode::POINTER || l.count_ref == 0) continue;
    const bool ok = l.count_ref <= siblings.size() &&
                    siblings[l.count_ref - 1].kind == wire::TypeNode::SCALAR &&
                    (siblings[l.count_ref - 1].scalar.carrier == Carrier::Signed ||
                     siblings[l.count_ref - 1].scalar.carrier == Carrier::Unsigned);
    if (!ok) throw Failure(wire::PROTOCOL, "size_is of '" + l.name + "' in " + where + " names no integer");
  }
}

unsigned char* CallMemory::allocate(std::size_t bytes, const std::string& what) {
  if (bytes > kMaxCallMemory - total_) {
    throw Failure(wire::BAD_ARGUMENT, "'" + what + "': the call's buffers exceed " +
                                          std::to_string(kMaxCallMemory >> 20) + " MiB");
  }
  total_ += bytes;
  const std::size_t n = (bytes + sizeof(Chunk) - 1) / sizeof(Chunk);
  if (n * sizeof(Chunk) <= kInline - inline_used_) {
    unsigned char* p = inline_ + inline_used_;
    inline_used_ += n * sizeof(Chunk);
    std::memset(p, 0, n * sizeof(Chunk));
    return p;
  }
  blocks_.push_back(std::unique_ptr<Chunk[]>(new Chunk[n]));
  auto* p = reinterpret_cast<unsigned char*>(blocks_.back().get());
  std::memset(p, 0, n * sizeof(Chunk));
  return p;
}

const std::uint32_t* CallMemory::count_of(const void* p) const {
  auto it = counts_.find(p);
  return it == counts_.end() ? nullptr : &it->second;
}

void write_value(const Layout& t, const wire::Value& v, unsigned char* dst, CallMemory& mem,
                 const Values* siblings) {
  switch (t.kind) {
    case wire::TypeNode::SCALAR: write_scalar(t, v, dst); return;
    case wire::TypeNode::POINTER: write_pointer(t, v, dst, mem, siblings); return;
    case wire::TypeNode::FUNCTION_POINTER: {
      void* fn = nullptr;
      if (v.v_case() == wire::Value::kU && v.u() != 0) {
        if (!mem.binder) bad_value(t, "a callback cannot be passed here");
        fn = mem.binder->bind(t.callback, v.u());
      } else if (v.v_case() != wire::Value::kNull) {
        bad_value(t, "expects a callback id or null");
      }
      std::memcpy(dst, &fn, sizeof fn);
      return;
    }
    case wire::TypeNode::ARRAY: {
      const Layout& e = *t.elem;
      if (t.text) {
        write_text(t, v, e.size, dst, t.count, false);
        return;
      }
      write_elements(t, e, v, dst, t.count, false, mem);
      return;
    }
    case wire::TypeNode::STRUCT: {
      const wire::ValueList& items = list_of(t, v);
      if (static_cast<std::size_t>(items.items_size()) != t.fields.size()) {
        bad_value(t, "has " + std::to_string(items.items_size()) + " field values, the struct " +
                         std::to_string(t.fields.size()));
      }
      for (std::size_t i = 0; i < t.fields.size(); ++i) {
        write_value(t.fields[i], items.items(static_cast<int>(i)), dst + t.offsets[i], mem, &items.items());
      }
      return;
    }
    default: break;
  }
}

wire::Value read_pointee(const Layout& t, const void* p, const CallMemory& mem) {
  wire::Value out;
  const std::uint32_t* count = p ? mem.count_of(p) : nullptr;
  if (count == nullptr) {  // not a buffer of ours: an opaque address
    if (p == nullptr) {
      out.set_null(true);
    } else {
      out.set_u(reinterpret_cast<std::uintptr_t>(p));
    }
    return out;
  }
  if (const wire::Region* where = mem.placed_at(p)) {  // in place: the client reads it there
    *out.mutable_region() = *where;
    return out;
  }
  const auto* src = static_cast<const unsigned char*>(p);
  const Layout& e = *t.elem;
  if (t.text) {
    out.set_text(read_text(src, e.size, *count));
  } else if (!t.count && !t.count_ref && !t.count_from_value) {
    out = read_value(e, src, mem);
  } else {
    out = read_elements(e, src, *count, mem);
  }
  return out;
}

wire::Value read_value(const Layout& t, const unsigned char* src, const CallMemory& mem) {
  wire::Value out;
  switch (t.kind) {
    case wire::TypeNode::SCALAR: return read_scalar(t.scalar, src);
    case wire::TypeNode::POINTER: {
      void* p;
      std::memcpy(&p, src, sizeof p);
      return read_pointee(t, p, mem);
    }
    case wire::TypeNode::ARRAY: {
      const Layout& e = *t.elem;
      if (t.text) {
        out.set_text(read_text(src, e.size, t.count));
        return out;
      }
      return read_elements(e, src, t.count, mem);
    }
    case wire::TypeNode::STRUCT: {
      wire::ValueList* items = out.mutable_list();
      for (std::size_t i = 0; i < t.fields.size(); ++i)
        *items->add_items() = read_value(t.fields[i], src + t.offsets[i], mem);
      return out;
    }
    default: out.set_null(true); return out;
  }
}

wire::Value read_return(const Layout& t, const unsigned char* ret) {
  wire::Value out;
  if (t.kind == wire::TypeNode::STRUCT) return read_value(t, ret, CallMemory());
  switch (t.scalar.carrier) {
    case Carrier::None: out.set_null(true); return out;
    case Carrier::Signed:
    case Carrier::Unsigned:
      if (t.size < sizeof(ffi_arg)) {  // libffi widens narrow integers to ffi_arg
        ffi_arg a;
        std::memcpy(&a, ret, sizeof a);
        const std::uint64_t bits = a;
        unsigned char low[8];
        std::memcpy(low, &bits, sizeof low);
        return read_scalar(t.scalar, low);
      }
      return read_scalar(t.scalar, ret);
    case Carrier::Floating: return read_scalar(t.scalar, ret);
    case Carrier::Text:
    case Carrier::WideText: {
      const unsigned char* p;
      std::memcpy(&p, ret, sizeof p);
      if (p == nullptr) {
        out.set_null(true);
      } else {
        out.set_text(
            read_text(p, t.scalar.carrier == Carrier::Text ? 1 : sizeof(wchar_t), rules::kMaxReturnedText));
      }
      return out;
    }
  }
  out.set_null(true);
  return out;
}

namespace {

// The element count of callback pointer parameter `t` as the DLL passed it
// (-1: one element, or text up to its NUL).
std::int64_t callback_count(const Layout& t, const std::vector<Layout>& params, void* const* args) {
  if (t.count) return t.count;
  if (!t.count_ref) return -1;
  const Layout& n = params[t.count_ref - 1];
  const wire::Value nv = read_scalar(n.scalar, static_cast<const unsigned char*>(args[t.count_ref - 1]));
  const std::int64_t count = nv.v_case() == wire::Value::kI ? nv.i() : static_cast<std::int64_t>(nv.u());
  if (count < 0) bad_value(t, "its count is negative (" + std::to_string(count) + ")");
  return count;
}

}  // namespace

wire::Value read_callback_arg(const std::vector<Layout>& params, std::size_t i, void* const* args) {
  const Layout& t = params[i];
  const auto* src = static_cast<const unsigned char*>(args[i]);
  if (t.kind != wire::TypeNode::POINTER) return read_value(t, src, CallMemory());
  wire::Value out;
  const unsigned char* p;
  std::memcpy(&p, src, sizeof p);
  if (p == nullptr || t.dir == wire::DIR_OUT) {  // [out]: nothing to read, the client fills it
    out.set_null(true);
    return out;
  }
  const Layout& e = *t.elem;
  const std::int64_t count = callback_count(t, params, args);
  if (t.text) {
    const std::size_t most = count >= 0 ? static_cast<std::size_t>(count) : rules::kMaxReturnedText;
    out.set_text(read_text(p, e.size, std::min<std::size_t>(most, rules::kMaxReturnedText)));
    return out;
  }
  if (count < 0) return read_value(e, p, CallMemory());
  if (static_cast<std::uint64_t>(count) > rules::kMaxElements ||
      (e.size != 0 && static_cast<std::uint64_t>(count) > kMaxCallMemory / e.size))
    bad_value(t, "buffer of " + std::to_string(count) + " elements is too large to pass to the client");
  return read_elements(e, p, static_cast<std::size_t>(count), CallMemory());
}

void write_callback_out(const std::vector<Layout>& params, std::size_t i, void* const* args,
                        const wire::Value& v) {
  const Layout& t = params[i];
  if (t.kind != wire::TypeNode::POINTER || (t.dir != wire::DIR_OUT && t.dir != wire::DIR_INOUT)) {
    if (v.v_case() != wire::Value::kNull && v.v_case() != wire::Value::V_NOT_SET)
      bad_value(t, "the client wrote into a parameter that is not [out]");
    return;
  }
  if (v.v_case() == wire::Value::kNull || v.v_case() == wire::Value::V_NOT_SET) return;  // left as it is
  unsigned char* p;
  std::memcpy(&p, args[i], sizeof p);
  if (p == nullptr) bad_value(t, "the client wrote into a null pointer");
  const Layout& e = *t.elem;
  const std::int64_t count = callback_count(t, params, args);
  CallMemory mem;
  if (t.text) {
    // [out] text has a count; the DLL's memory is not zeroed: the NUL is written too.
    const std::size_t need = write_text(t, v, e.size, p, static_cast<std::size_t>(count), true);
    std::memset(p + (need - 1) * e.size, 0, e.size);
  } else if (count < 0) {
    write_value(e, v, p, mem, nullptr);
  } else {
    write_elements(t, e, v, p, static_cast<std::size_t>(count), false, mem);  // at most its count
  }
}

void clear_callback_return(const Layout& t, void* ret) {
  if (t.kind == wire::TypeNode::SCALAR && t.scalar.carrier == Carrier::None) return;  // void
  std::memset(ret, 0, std::max<std::size_t>(t.size, sizeof(ffi_arg)));
}

void write_callback_return(const Layout& t, const wire::Value& v, void* ret) {
  if (t.kind == wire::TypeNode::STRUCT) {
    CallMemory mem;
    write_value(t, v, static_cast<unsigned char*>(ret), mem, nullptr);
    return;
  }
  switch (t.scalar.carrier) {
    case Carrier::None: return;
    case Carrier::Signed:
    case Carrier::Unsigned: {
      // libffi reads narrow integers back as a whole ffi_arg, extended.
      const std::int64_t x = checked_integer(t, v);
      if (t.size < sizeof(ffi_arg)) {
        const ffi_arg a = t.scalar.carrier == Carrier::Signed
                              ? static_cast<ffi_arg>(
                                    static_cast<ffi_sarg>(sign_extend(static_cast<std::uint64_t>(x), t.size)))
                              : static_cast<ffi_arg>(static_cast<std::uint64_t>(x) &
                                                     (~std::uint64_t{0} >> (64 - 8 * t.size)));
        std::memcpy(ret, &a, sizeof a);
      } else {
        std::memcpy(ret, &x, t.size);
      }
      return;
    }
    case Carrier::Floating: write_scalar(t, v, static_cast<unsigned char*>(ret)); return;
    default: bad_value(t, "a callback returns a scalar, a struct or void");
  }
}

}  // namespace dllbridge::surrogate
