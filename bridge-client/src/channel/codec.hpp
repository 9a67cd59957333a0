// From a parsed signature to what travels: a type tree per parameter for the
// registration (sizes and layout stay with the surrogate), and checked wire
// values for each call; results and [out] parameters back to Values.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "dllbridge/dllbridge.pb.h"
#include "dllbridge/types.hpp"
#include "signature/signature.hpp"

namespace dllbridge::detail {

// The ABI facts of the surrogate that argument checks depend on.
struct TargetAbi {
  unsigned pointer_size = 4;
  bool windows = false;
};

// Caps the client checks before sending (the surrogate checks its own).
inline constexpr std::uint64_t kMaxElements = 1u << 24;  // elements of one buffer
inline constexpr int kMaxNesting = 8;                      // structs / pointers inside each other

// A declared function as the wire sees it.
struct WireSignature {
  TargetAbi abi;
  std::string name;
  wire::TypeNode ret;
  std::vector<wire::TypeNode> params;  // each carries its parameter name
  // The parameters that take an argument in a call, in order: all but [out]
  // ones (an [out, size_is(*)] parameter takes its element count).
  std::vector<std::size_t> inputs;
  bool variadic = false;
};

// Throws Error(bad_signature) naming the parameter for constructs that
// cannot be marshaled (a data pointer without direction, [out] text without
// a size, pointers to pointers to data, self-nesting structs).
WireSignature lower(const sig::Function& fn, const TargetAbi& abi);

// Fills the types of a registration: return, parameters, variadic (the
// caller sets the library, the export name and the calling convention).
void encode_register(const WireSignature& s, wire::RegisterFunction& reg);

// Checks `args` (one per input parameter, then for a variadic function the
// extra arguments as {"type": value}) and encodes them into `call`: one wire
// value per parameter, then the extras with their types. Throws
// Error(bad_argument) naming the parameter when anything does not fit, before
// anything is sent.
void encode_call(const WireSignature& s, const std::vector<Value>& args, wire::Call& call);

// A wire value of type `t` as a Value (Object for structs, List for arrays).
Value decode_value(const wire::TypeNode& t, const wire::Value& v);

// The return value and the [out] / [in, out] parameters of a reply.
CallResult decode_reply(const WireSignature& s, const wire::CallReply& reply);

// The element count in wchar_t units of UTF-8 `text` on the target.
std::size_t wide_units(const std::string& text, const TargetAbi& abi);

}  // namespace dllbridge::detail
