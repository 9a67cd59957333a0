// How large a call's reply can be, computed from the function's wire types
// and the call's wire values before the call runs. Both ends use this one
// function: the surrogate refuses a call whose reply could not be sent back in
// one frame before it calls the DLL, and the client refuses it before sending
// and waits for at most this many reply bytes (anything larger is a protocol
// error, refused before it is parsed).
#pragma once

#include <cstdint>
#include <string>

#include "dllbridge/dllbridge.pb.h"
#include "dllbridge/rules/scalars.hpp"

namespace dllbridge::rules {

// A Value inside its parent: field tags and length prefixes (each at most 5 bytes).
inline constexpr std::uint64_t kValueOverhead = 12;
// One scalar Value: its overhead and a 10-byte varint (or an 8-byte double).
inline constexpr std::uint64_t kScalarBound = kValueOverhead + 10;
// The reply around the values: Frame, Reply, id, last_error, elapsed_ns.
inline constexpr std::uint64_t kReplyOverhead = 128;
// A Value.region echoed in a reply: two varints and their tags.
inline constexpr std::uint64_t kRegionBound = kValueOverhead + 24;
// What any reply may take however small the call: error messages, handshake.
inline constexpr std::uint64_t kMinReplyBudget = 64u << 10;

// The most UTF-8 bytes `units` units of `unit_size` bytes turn into: 1 each
// for bytes, 3 for UTF-16 (a pair of units makes 4), 4 for UTF-32 (an
// invalid one makes U+FFFD, 3).
constexpr std::uint64_t text_bytes_bound(std::uint64_t units, unsigned unit_size) noexcept {
  return units * (unit_size == 1 ? 1u : unit_size == 2 ? 3u : 4u);
}

// The wire element types of a function (RegisterFunction's ret and params).
using TypeNodes = google::protobuf::RepeatedPtrField<wire::TypeNode>;

// Whether the elements of pointer or array `t` travel as packed bytes
// (wire::Value.packed): numbers, that is scalar elements that are not text.
inline bool packs_elements(const wire::TypeNode& t) {
  return !t.text() && t.has_elem() && t.elem().kind() == wire::TypeNode::SCALAR;
}

// What pointer `t` (a parameter or field), sent as `v` next to `siblings`
// (the other arguments, or the struct's field values), points to in the
// surrogate: its element count (text: units) by the count rules, capped at
// kMaxElements, or one of these.
inline constexpr std::int64_t kSinglePointee = -1;  // one element, read back as a value, not a list
inline constexpr std::int64_t kNullPointee = -2;    // a null pointer: nothing
std::int64_t pointee_count(const wire::TypeNode& t, const wire::Value& v,
                           const google::protobuf::RepeatedPtrField<wire::Value>* siblings, const Abi& abi);

// An upper bound on the bytes of the frame that answers `call` (CallReply:
// the return value and every [out] / [in, out] pointee, read back as the
// surrogate reads them) for a function returning `ret` with `params`, in
// `abi`. `call` must have passed the value checks (counts within the caps).
// A pointer inside a struct counts with the elements sent for it: a DLL that
// points it elsewhere may make the reply larger (then it is refused when sent).
std::uint64_t call_reply_bound(const wire::TypeNode& ret, const TypeNodes& params, const wire::Call& call,
                               const Abi& abi);

// Why a call whose reply may take `bound` bytes cannot be made (the reply
// could not travel in one frame, wire::kMaxFrameSize), or an empty string.
std::string reply_problem(std::uint64_t bound);

}  // namespace dllbridge::rules
