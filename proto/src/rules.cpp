#include "dllbridge/rules/counts.hpp"
#include "dllbridge/rules/reply.hpp"

#include <algorithm>
#include <cstdint>

#include "dllbridge/wire/frame.hpp"
#include "dllbridge/wire/utf8.hpp"

namespace dllbridge::rules {

std::string count_problem(std::int64_t n) {
  if (n < 0) return "negative element count " + std::to_string(n);
  return count_problem(static_cast<std::uint64_t>(n));
}

std::string count_problem(std::uint64_t n) {
  if (n <= kMaxElements) return {};
  return "buffer of " + std::to_string(n) + " elements is too large (the limit is " +
         std::to_string(kMaxElements) + ")";
}

std::size_t text_units(std::string_view text, unsigned unit_size) {
  if (unit_size == 1) return text.size();
  // What wire::units_from_utf8 makes, counted instead of converted.
  std::size_t units = 0;
  for (std::size_t i = 0; i < text.size();) {
    const std::uint32_t cp = wire::next_code_point(text.data(), text.size(), i);
    units += unit_size == 2 && cp >= 0x10000 ? 2 : 1;
  }
  return units;
}

}  // namespace dllbridge::rules

// ---------------------------------------------------------------- reply bound

namespace dllbridge::rules {
namespace {

using Values = google::protobuf::RepeatedPtrField<wire::Value>;

std::uint64_t add(std::uint64_t a, std::uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
std::uint64_t mul(std::uint64_t a, std::uint64_t b) {
  return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

// A count as a value gives it (negative: none).
std::uint64_t count_in(const wire::Value& v) {
  if (v.v_case() == wire::Value::kI) return v.i() > 0 ? static_cast<std::uint64_t>(v.i()) : 0;
  if (v.v_case() == wire::Value::kU) return v.u();
  return 0;
}

const wire::Value& null_value() {
  static const wire::Value kNull;
  return kNull;
}

// The item `i` of list value `v`, or a null value.
const wire::Value& item(const wire::Value& v, std::uint64_t i) {
  if (v.v_case() != wire::Value::kList || i >= static_cast<std::uint64_t>(v.list().items_size()))
    return null_value();
  return v.list().items(static_cast<int>(i));
}

}  // namespace

std::int64_t pointee_count(const wire::TypeNode& t, const wire::Value& v, const Values* siblings,
                           const Abi& abi) {
  const bool is_null = v.v_case() == wire::Value::kNull || v.v_case() == wire::Value::V_NOT_SET;
  if (is_null && (t.dir() != wire::DIR_OUT || t.count_from_value())) return kNullPointee;
  const unsigned unit = scalar(t.elem().scalar(), abi).size;
  std::uint64_t count = 0;
  switch (count_source(t.count(), t.count_ref(), t.count_from_value(), t.text())) {
    case CountSource::fixed: count = t.count(); break;
    case CountSource::sibling:
      if (siblings && t.count_ref() <= static_cast<std::uint32_t>(siblings->size()))
        count = count_in((*siblings)[static_cast<int>(t.count_ref() - 1)]);
      break;
    case CountSource::from_value:
      if (v.v_case() == wire::Value::kRegion) {
        count = unit != 0 ? v.region().length() / unit : 0;
      } else if (t.dir() == wire::DIR_OUT) {
        count = count_in(v);
      } else if (v.v_case() == wire::Value::kText) {
        count = text_units(v.text(), unit) + (t.nul_terminated() ? 1 : 0);
      } else if (v.v_case() == wire::Value::kList) {
        count = static_cast<std::uint64_t>(v.list().items_size());
      } else if (v.v_case() == wire::Value::kPacked && unit != 0) {
        count = v.packed().size() / unit;
      }
      break;
    case CountSource::text_length:
      count = v.v_case() == wire::Value::kText ? text_units(v.text(), unit) + 1 : 0;
      break;
    case CountSource::single: return kSinglePointee;
  }
  // Elements in the shared region are bounded by the region, not the frame.
  const std::uint64_t cap = v.v_case() == wire::Value::kRegion ? kMaxRegionElements : kMaxElements;
  return static_cast<std::int64_t>(std::min<std::uint64_t>(count, cap));
}

namespace {

struct Bound {
  const Abi& abi;

  unsigned unit(const wire::TypeNode& elem) const { return scalar(elem.scalar(), abi).size; }

  std::uint64_t text(std::uint64_t units, const wire::TypeNode& elem) const {
    return add(kValueOverhead, text_bytes_bound(units, unit(elem)));
  }

  // A value of `t` read from memory; `v` is what was sent for it (null when nothing).
  std::uint64_t value(const wire::TypeNode& t, const wire::Value& v, const Values* siblings) const {
    switch (t.kind()) {
      case wire::TypeNode::STRUCT: {
        std::uint64_t n = kValueOverhead;
        const Values* fields = v.v_case() == wire::Value::kList ? &v.list().items() : nullptr;
        for (int i = 0; i < t.fields_size(); ++i) n = add(n, value(t.fields(i), item(v, i), fields));
        return n;
      }
      case wire::TypeNode::ARRAY: {
        if (t.text()) return text(t.count(), t.elem());
        if (packs_elements(t)) return add(kValueOverhead, mul(t.count(), unit(t.elem())));
        if (v.v_case() != wire::Value::kList)  // all alike
          return add(kValueOverhead, mul(t.count(), value(t.elem(), null_value(), nullptr)));
        std::uint64_t n = kValueOverhead;
        for (std::uint64_t i = 0; i < t.count(); ++i) n = add(n, value(t.elem(), item(v, i), nullptr));
        return n;
      }
      case wire::TypeNode::POINTER:
        // A pointer field: its elements when one of the call's buffers, else an address.
        return v.v_case() == wire::Value::kNull || v.v_case() == wire::Value::V_NOT_SET
                   ? kScalarBound
                   : std::max(kScalarBound, pointee(t, v, siblings));
      default: return kScalarBound;
    }
  }

  // What pointer `t` sent with `v` points to, read back (marshal.cpp read_pointee).
  std::uint64_t pointee(const wire::TypeNode& t, const wire::Value& v, const Values* siblings) const {
    if (v.v_case() == wire::Value::kRegion) return kRegionBound;  // echoed, the data stays in place
    const std::int64_t n = pointee_count(t, v, siblings, abi);
    if (n == kNullPointee) return kScalarBound;
    if (n == kSinglePointee) return value(t.elem(), t.dir() == wire::DIR_OUT ? null_value() : v, nullptr);
    const auto count = static_cast<std::uint64_t>(n);
    if (t.text()) return text(count, t.elem());
    if (packs_elements(t)) return add(kValueOverhead, mul(count, unit(t.elem())));
    const bool sent = t.dir() != wire::DIR_OUT && v.v_case() == wire::Value::kList;
    if (!sent)  // every element bounded alike
      return add(kValueOverhead, mul(count, value(t.elem(), null_value(), nullptr)));
    std::uint64_t total = kValueOverhead;
    for (std::uint64_t i = 0; i < count; ++i) total = add(total, value(t.elem(), item(v, i), nullptr));
    return total;
  }
};

}  // namespace

std::uint64_t call_reply_bound(const wire::TypeNode& ret, const TypeNodes& params, const wire::Call& call,
                               const Abi& abi) {
  const Bound b{abi};
  std::uint64_t n = kReplyOverhead;
  if (ret.kind() == wire::TypeNode::SCALAR &&
      (ret.scalar() == wire::STRING || ret.scalar() == wire::WSTRING)) {
    const unsigned unit = ret.scalar() == wire::STRING ? 1 : wchar_size(abi);
    n = add(n, add(kValueOverhead, text_bytes_bound(kMaxReturnedText, unit)));
  } else {
    n = add(n, b.value(ret, null_value(), nullptr));
  }
  for (int i = 0; i < params.size(); ++i) {
    const wire::TypeNode& p = params.Get(i);
    const bool read_back =
        p.kind() == wire::TypeNode::POINTER && (p.dir() == wire::DIR_OUT || p.dir() == wire::DIR_INOUT);
    const wire::Value& v = i < call.args_size() ? call.args(i) : null_value();
    n = add(n, read_back ? b.pointee(p, v, &call.args()) : kScalarBound);
  }
  return n;
}

std::string reply_problem(std::uint64_t bound) {
  if (bound <= wire::kMaxFrameSize) return {};
  return "its reply may take " + std::to_string(bound) + " bytes, more than one frame carries (" +
         std::to_string(wire::kMaxFrameSize >> 20) + " MiB); use smaller buffers";
}

}  // namespace dllbridge::rules
