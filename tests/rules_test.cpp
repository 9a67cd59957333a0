// The type rules both ends share (proto/rules): scalar sizes per ABI, the
// element-count rules, UTF-16 counting and the caps.
#include <gtest/gtest.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>

#include "dllbridge/rules/counts.hpp"
#include "dllbridge/rules/limits.hpp"
#include "dllbridge/rules/reply.hpp"
#include "dllbridge/rules/scalars.hpp"
#include "dllbridge/wire/utf8.hpp"

using namespace dllbridge;
using rules::Abi;
using rules::Class;

namespace {

constexpr Abi kLinux32{4, false};
constexpr Abi kLinux64{8, false};
constexpr Abi kWin32{4, true};
constexpr Abi kWin64{8, true};

unsigned size(wire::Scalar k, const Abi& abi) { return rules::scalar(k, abi).size; }

}  // namespace

TEST(Rules, LongIsFourBytesOnWindowsAndI386EightOnLinux64) {
  EXPECT_EQ(size(wire::LONG, kLinux32), 4u);
  EXPECT_EQ(size(wire::LONG, kLinux64), 8u);
  EXPECT_EQ(size(wire::LONG, kWin32), 4u);
  EXPECT_EQ(size(wire::LONG, kWin64), 4u);
  EXPECT_EQ(size(wire::ULONG, kWin64), 4u);
  EXPECT_EQ(rules::scalar(wire::ULONG, kLinux64).cls, Class::unsigned_int);
}

TEST(Rules, PointerSizedKindsFollowThePointer) {
  for (const Abi& abi : {kLinux32, kLinux64, kWin32, kWin64}) {
    EXPECT_EQ(size(wire::SIZE_T, abi), abi.pointer_size);
    EXPECT_EQ(size(wire::HANDLE, abi), abi.pointer_size);
    EXPECT_EQ(size(wire::STRING, abi), abi.pointer_size);
    EXPECT_EQ(size(wire::WSTRING, abi), abi.pointer_size);
    EXPECT_EQ(size(wire::WIN_BOOL, abi), 4u) << "BOOL is an int";
    EXPECT_EQ(rules::scalar(wire::WIN_BOOL, abi).cls, Class::signed_int);
    EXPECT_EQ(size(wire::BOOL, abi), 1u) << "C99 bool";
    EXPECT_EQ(size(wire::LONGLONG, abi), 8u);
    EXPECT_EQ(size(wire::WIN_DWORD, abi), 4u);
    EXPECT_EQ(size(wire::DOUBLE, abi), 8u);
  }
}

TEST(Rules, WcharIsUtf16OnWindowsAndUtf32Elsewhere) {
  EXPECT_EQ(rules::wchar_size(kWin32), 2u);
  EXPECT_EQ(rules::wchar_size(kWin64), 2u);
  EXPECT_EQ(rules::wchar_size(kLinux32), 4u);
  EXPECT_EQ(rules::scalar(wire::WCHAR, kWin64).cls, Class::unsigned_int);
  EXPECT_EQ(rules::scalar(wire::WCHAR, kLinux64).cls, Class::signed_int);
  EXPECT_TRUE(rules::is_text_unit(wire::CHAR));
  EXPECT_TRUE(rules::is_text_unit(wire::WCHAR));
  EXPECT_FALSE(rules::is_text_unit(wire::UCHAR));
  EXPECT_FALSE(rules::is_text_unit(wire::WIN_BYTE));
}

TEST(Rules, TheNativeAbiIsThisCompilers) {
  // This process has the ABI of the 64-bit surrogate on the same system
  // (surrogate32/src/core/ffi_types.cpp checks its own at compile time).
  constexpr Abi abi = rules::native_abi();
  static_assert(rules::scalar(wire::LONG, abi).size == sizeof(long));
  static_assert(rules::scalar(wire::SIZE_T, abi).size == sizeof(std::size_t));
  static_assert(rules::scalar(wire::WCHAR, abi).size == sizeof(wchar_t));
  static_assert(rules::scalar(wire::HANDLE, abi).size == sizeof(void*));
  static_assert(rules::scalar(wire::INT, abi).size == sizeof(int));
  static_assert(rules::scalar(wire::SHORT, abi).size == sizeof(short));
  static_assert(rules::scalar(wire::LONGLONG, abi).size == sizeof(long long));
  EXPECT_EQ(rules::scalar(wire::WCHAR, abi).cls, WCHAR_MIN < 0 ? Class::signed_int : Class::unsigned_int);
}

TEST(Rules, UnknownKindsAreUnknown) {
  EXPECT_EQ(rules::scalar(static_cast<wire::Scalar>(99), kLinux64).cls, Class::unknown);
  EXPECT_EQ(rules::scalar(wire::SCALAR_VOID, kLinux64).cls, Class::none);
}

TEST(Rules, CountSourcesHaveAPrecedence) {
  using rules::CountSource;
  EXPECT_EQ(rules::count_source(3, 2, true, true), CountSource::fixed);
  EXPECT_EQ(rules::count_source(0, 2, true, true), CountSource::sibling);
  EXPECT_EQ(rules::count_source(0, 0, true, true), CountSource::from_value);
  EXPECT_EQ(rules::count_source(0, 0, false, true), CountSource::text_length);
  EXPECT_EQ(rules::count_source(0, 0, false, false), CountSource::single);
}

TEST(Rules, CountsAreCapped) {
  EXPECT_EQ(rules::count_problem(std::int64_t{0}), "");
  EXPECT_EQ(rules::count_problem(static_cast<std::uint64_t>(rules::kMaxElements)), "");
  EXPECT_NE(rules::count_problem(std::int64_t{-1}).find("negative"), std::string::npos);
  EXPECT_NE(rules::count_problem(rules::kMaxElements + 1).find("too large"), std::string::npos);
  EXPECT_NE(rules::count_problem(std::int64_t{INT64_MAX}).find("too large"), std::string::npos);
}

TEST(Rules, TextUnitsCountWhatTheConversionMakes) {
  const std::string samples[] = {
      "",
      "plain",
      "h\xC3\xA9",                           // 2-byte sequence
      "\xE2\x82\xAC",                        // euro sign, 3 bytes
      "\xF0\x9F\x98\x80",                    // U+1F600: a surrogate pair in UTF-16
      "a\xF0\x9F\x98\x80z\xF4\x8F\xBF\xBF",  // and U+10FFFF
      "\xFF\xFE",                            // invalid bytes: one U+FFFD each
      "\xC3",                                // truncated sequence
      "\xE2\x82",                            // truncated 3-byte sequence
      "\xC0\xAF",                            // overlong
      "\xED\xA0\x80",                        // an encoded surrogate
      "\xF4\x90\x80\x80",                    // above U+10FFFF
  };
  for (const std::string& s : samples) {
    EXPECT_EQ(rules::text_units(s, 1), s.size());
    EXPECT_EQ(rules::text_units(s, 2), wire::units_from_utf8<char16_t>(s).size()) << s;
    EXPECT_EQ(rules::text_units(s, 4), wire::units_from_utf8<char32_t>(s).size()) << s;
  }
  EXPECT_EQ(rules::text_units("\xF0\x9F\x98\x80", 2), 2u);
  EXPECT_EQ(rules::text_units("\xF0\x9F\x98\x80", 4), 1u);
  EXPECT_EQ(rules::text_need("ab", 1, true), 3u);
  EXPECT_EQ(rules::text_need("ab", 1, false), 2u);
}

TEST(Rules, CapsAreConsistent) {
  // A buffer at the element cap of the smallest element fits the call memory;
  // a struct at its cap fits too.
  EXPECT_LE(rules::kMaxElements, rules::kMaxCallMemory);
  EXPECT_LE(rules::kMaxStructSize, rules::kMaxCallMemory);
  EXPECT_LE(rules::kMaxArrayLength, rules::kMaxAggregateElements);
  EXPECT_GE(rules::kMaxDepth, 2);
}

namespace {

wire::TypeNode scalar_node(wire::Scalar s) {
  wire::TypeNode n;
  n.set_kind(wire::TypeNode::SCALAR);
  n.set_scalar(s);
  return n;
}

// [dir, size_is(arg ref)] elem* (ref 0: no count).
wire::TypeNode pointer_node(wire::Direction dir, const wire::TypeNode& elem, std::uint32_t ref) {
  wire::TypeNode n;
  n.set_kind(wire::TypeNode::POINTER);
  n.set_dir(dir);
  n.set_count_ref(ref);
  *n.mutable_elem() = elem;
  return n;
}

}  // namespace

TEST(Rules, PointeeCountsFollowTheCountRulesWhateverTheWireForm) {
  google::protobuf::RepeatedPtrField<wire::Value> args;
  args.Add()->set_null(true);
  args.Add()->set_i(5);
  const wire::TypeNode out = pointer_node(wire::DIR_OUT, scalar_node(wire::INT32), 2);
  EXPECT_EQ(rules::pointee_count(out, args.Get(0), &args, kLinux32), 5);
  wire::TypeNode own = pointer_node(wire::DIR_IN, scalar_node(wire::INT32), 0);
  own.set_count_from_value(true);
  wire::Value packed;
  packed.set_packed(std::string(12, '\0'));
  EXPECT_EQ(rules::pointee_count(own, packed, &args, kLinux32), 3);  // 12 bytes of 4-byte ints
  EXPECT_EQ(rules::pointee_count(own, args.Get(0), &args, kLinux32), rules::kNullPointee);
  EXPECT_EQ(rules::pointee_count(pointer_node(wire::DIR_OUT, scalar_node(wire::INT32), 0), args.Get(0), &args,
                                 kLinux32),
            rules::kSinglePointee);
  args.Mutable(1)->set_u((std::uint64_t{1} << 32) + 8);  // capped, never cut to 8
  EXPECT_EQ(rules::pointee_count(out, args.Get(0), &args, kLinux32), std::int64_t{rules::kMaxElements});
}

TEST(Rules, TheReplyBoundCoversPackedNumbersTextAndStructLists) {
  wire::RegisterFunction fn;
  *fn.mutable_ret() = scalar_node(wire::SCALAR_VOID);
  *fn.add_params() = pointer_node(wire::DIR_OUT, scalar_node(wire::UINT16), 2);
  *fn.add_params() = scalar_node(wire::INT32);
  wire::Call call;
  call.add_args()->set_null(true);
  call.add_args()->set_i(16 << 20);
  const std::uint64_t u16 = rules::call_reply_bound(fn.ret(), fn.params(), call, kLinux32);
  EXPECT_GE(u16, std::uint64_t{32} << 20);           // 16 Mi two-byte elements, packed
  EXPECT_LT(u16, (std::uint64_t{32} << 20) + 1024);  // and little more
  EXPECT_TRUE(rules::reply_problem(u16).empty());
  // The same count of two-int structs: lists of field values, past a frame.
  wire::TypeNode pt;
  pt.set_kind(wire::TypeNode::STRUCT);
  *pt.add_fields() = scalar_node(wire::INT32);
  *pt.add_fields() = scalar_node(wire::INT32);
  *fn.mutable_params(0) = pointer_node(wire::DIR_OUT, pt, 2);
  call.mutable_args(1)->set_i(4 << 20);
  EXPECT_FALSE(rules::reply_problem(rules::call_reply_bound(fn.ret(), fn.params(), call, kLinux32)).empty());
  // Text: up to 3 UTF-8 bytes per UTF-16 unit, 4 per UTF-32 unit.
  wire::TypeNode text = pointer_node(wire::DIR_OUT, scalar_node(wire::WCHAR), 2);
  text.set_text(true);
  *fn.mutable_params(0) = text;
  call.mutable_args(1)->set_i(1000);
  const std::uint64_t win = rules::call_reply_bound(fn.ret(), fn.params(), call, kWin32);
  const std::uint64_t lin = rules::call_reply_bound(fn.ret(), fn.params(), call, kLinux32);
  EXPECT_EQ(lin - win, 1000u);
  EXPECT_GE(win, 3000u);
}
