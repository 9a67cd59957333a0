// From a parsed signature to what travels: wire scalar kinds for the
// registration, and checked wire values for each call.
#pragma once

#include <string>
#include <vector>

#include "dllbridge/dllbridge.pb.h"
#include "dllbridge/types.hpp"
#include "signature.hpp"

namespace dllbridge::detail {

// The ABI facts of the surrogate that argument checks depend on.
struct TargetAbi {
  unsigned pointer_size = 4;
  bool windows = false;
};

// One parameter (or the return value) as the wire sees it.
struct WireParam {
  std::string name;
  wire::Scalar kind = wire::SCALAR_VOID;
  unsigned size = 0;       // bytes in the surrogate's ABI (integers)
  bool is_signed = false;  // integers
};

// What a registration needs: every parameter's and the return value's kind.
// Throws Error(bad_signature) for constructs this version cannot marshal.
struct WireSignature {
  WireParam ret;
  std::vector<WireParam> params;
};
WireSignature lower(const sig::Function& fn, const TargetAbi& abi);

// Checks `value` against `param` and encodes it. Throws Error(bad_argument)
// naming the parameter when it does not fit.
wire::Value encode_argument(const WireParam& param, const Value& value);

// Decodes a result of kind `param.kind`.
Value decode_result(const WireParam& param, const wire::Value& value);

}  // namespace dllbridge::detail
