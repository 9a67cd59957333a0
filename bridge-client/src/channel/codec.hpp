// From a declared function to what travels: its type trees for the
// registration (sizes and layout stay with the surrogate), checked wire
// values for each call, and results and [out] parameters back to Values, all
// by the client's own declaration (FunctionDecl). The wire `name` of a type
// node is only a label for the surrogate's messages; nothing is decoded from it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "channel/callbacks.hpp"
#include "channel/region.hpp"
#include "dllbridge/declaration.hpp"
#include "dllbridge/dllbridge.pb.h"
#include "dllbridge/rules/limits.hpp"
#include "dllbridge/rules/scalars.hpp"
#include "dllbridge/types.hpp"

namespace dllbridge::detail {

// The ABI facts of the surrogate that argument checks depend on.
using TargetAbi = rules::Abi;

// A declared function, checked, for one surrogate ABI.
struct Signature {
  TargetAbi abi;
  FunctionDecl fn;
  // The parameters that take an argument in a call, in order: all but [out]
  // ones (an [out, size_is(*)] parameter takes its element count).
  std::vector<std::size_t> inputs;
  // The wire types (what encode_register sends): the reply's size bound and
  // its checks come from them, by the rules both ends share.
  wire::RegisterFunction types;
};

// Checks `fn` against the type rules and returns it ready for the codec.
// Throws Error(bad_signature) naming the parameter (its path for fields:
// 's.pts') for what cannot be marshaled: a data pointer without direction,
// [out] text without a size, pointers to pointers to data, a void* with a
// direction, [string] on non-text, size_is naming no integer sibling, arrays
// outside structs, nesting or sizes past the caps. The signature parser's
// and the typed API's declarations go through this same check.
Signature make_signature(FunctionDecl fn, const TargetAbi& abi);

// Fills conv, ret, params and variadic of `reg` (library id and export name
// are the caller's).
void encode_register(const Signature& s, wire::RegisterFunction& reg);

// What a call's reply needs, from encode_call.
struct ReplyPlan {
  std::uint64_t budget = 0;  // the most bytes the reply may take
  // Per parameter: the caller's memory its returned numbers go to, or null;
  // empty (no allocation) when no parameter has any.
  std::vector<const Buffer*> sinks;
  CallbackUse callbacks;  // the callables of its function-pointer arguments, bound while it lives
  // The shared region its large buffers were placed in (Value.region), and
  // their blocks, lent for as long as the plan lives.
  std::shared_ptr<Region> region;
  std::vector<RegionLease> leases;
  bool placed = false;         // a value of the call is in the region (leased, or memory from Bridge::alloc)
  std::uint32_t segments = 0;  // the segments of the region it names: [0, segments)
  // Bytes still to be put in its blocks once the call is sent (the caller's
  // memory copied, or zeroes where `from` is null; place_pending), and the
  // word (Call.ready, in a block of `leases`) that says they are.
  struct Pending {
    unsigned char* to;
    const unsigned char* from;
    std::size_t bytes;
  };
  std::vector<Pending> pending;
  void* ready = nullptr;
  // Standard mode's bulk polls (Channel::call): `timed`, the copies into
  // the region are timed (`copied_for`, ending at `copied_at`); `poll`, the
  // caller polls for the reply for `poll_for` (the copies' time, capped).
  bool timed = false;
  bool poll = false;
  std::chrono::nanoseconds copied_for{0};
  std::chrono::nanoseconds poll_for{0};
  std::chrono::steady_clock::time_point copied_at;
};

// Checks `args` (one per input parameter, then for a variadic function the
// extra arguments as {"type": value}) and encodes them into `call`: one wire
// value per parameter (numbers packed in the target's layout), then the
// extras with their types. `out_buffers`, when given, holds per parameter
// the caller's memory for [out] numbers of parameters that take no value
// (Buffer::out null for none); a Buffer argument with `out` is its own.
// Buffers above kRegionThreshold go into `region` (the bridge's, when it
// has one), and memory of that region (Bridge::alloc) is named in place;
// memory of any other region is copied like any other. The caller's bytes
// for the region are copied after the call is sent (ReplyPlan::pending,
// place_pending): the caller's memory must stay as it is until then.
// Returns the reply's byte budget (rules::call_reply_bound, at least
// rules::kMinReplyBudget) and those sinks. Throws Error(bad_argument) naming
// the parameter when anything does not fit (a sink smaller than its count
// too), or when the reply could not come back in one frame, before
// anything is sent.
ReplyPlan encode_call(const Signature& s, Span<Value> args, wire::Call& call, Span<Buffer> out_buffers = {},
                      std::shared_ptr<Region> region = nullptr);
// The same from vectors (`out_buffers` null: none).
inline ReplyPlan encode_call(const Signature& s, const std::vector<Value>& args, wire::Call& call,
                             const std::vector<Buffer>* out_buffers = nullptr,
                             std::shared_ptr<Region> region = nullptr) {
  return encode_call(s, Span<Value>(args), call, out_buffers ? Span<Buffer>(*out_buffers) : Span<Buffer>(),
                     std::move(region));
}

// A wire value of type `t` as a Value (Object for structs keyed by the
// declaration's field names, List for arrays and counted buffers). Throws
// Error(protocol) when `v` is not a value of that type (a number for text,
// a list of the wrong length for a fixed array or a struct, ...).
Value decode_value(const TypeDecl& t, const wire::Value& v, const TargetAbi& abi);

// The return value and the [out] / [in, out] parameters of a reply, by name.
// Checked against the declaration and, with `sent` (the call as encoded),
// against what was asked: one out value per parameter, null for the others,
// exactly the requested element count for counted buffers, text no longer
// than its buffer. Throws Error(protocol) for a reply that disagrees.
// Numbers of parameters with a sink (ReplyPlan::sinks) are written to the
// caller's memory, and the result holds that Buffer. A buffer the call
// placed in `region` must come back in place (the same block), and is read
// from there.
CallResult decode_reply(const Signature& s, const wire::CallReply& reply, const wire::Call* sent = nullptr,
                        const std::vector<const Buffer*>* sinks = nullptr, const Region* region = nullptr);

// Puts the call's pending bytes in its region blocks and publishes its
// ready word (the surrogate may then read them). Runs right after the call
// is sent, so the copies overlap the surrogate's wake-up; once only (a
// retry finds nothing pending). Where the platform cannot wake the
// surrogate from here (wire::ready_word_wakes_other_processes), encode_call
// copies at once and sets no ready word.
void place_pending(ReplyPlan& plan) noexcept;

// Turns the call's buffers placed in the region back into framed values
// (for a surrogate that did not map the region) and recomputes the reply's
// budget in `plan`. Throws Error(bad_argument) when the call can then not
// be framed (a buffer over the frame's caps).
void frame_placed(const Signature& s, wire::Call& call, ReplyPlan& plan);

// The arguments of an invocation of callback `fn` (one Value per parameter,
// decoded like results). Throws Error(protocol) when they do not fit its
// declaration.
std::vector<Value> decode_invoke(const FunctionDecl& fn, const wire::Invoke& invoke, const TargetAbi& abi);

// What callback `fn`'s callable left in its [out] / [in, out] parameters
// (`args` after the call; Null leaves the DLL's memory as it is), checked and
// encoded into `reply.out`: at most each pointer's count (fixed, or the
// sibling argument's value), text within it with its NUL. Throws
// Error(bad_argument) naming the callback and parameter.
void encode_invoke_outs(const FunctionDecl& fn, const std::vector<Value>& args, const TargetAbi& abi,
                        wire::InvokeReply& reply);

// What callback `fn` returned, checked and encoded for the DLL (null for a
// void callback). Throws Error(bad_argument) naming the callback when `v`
// does not fit its return type.
wire::Value encode_invoke_return(const FunctionDecl& fn, const Value& v, const TargetAbi& abi);

// The element count in wchar_t units of UTF-8 `text` on the target.
std::size_t wide_units(const std::string& text, const TargetAbi& abi);

}  // namespace dllbridge::detail
