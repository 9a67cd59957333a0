// The surrogate's ABI: each wire scalar's native C type as a libffi type, and
// each calling convention as a libffi ABI.
#pragma once

#include <ffi.h>

#include <cstddef>

#include "dllbridge/dllbridge.pb.h"

namespace dllbridge::surrogate {

// How a scalar's bits are carried on the wire.
enum class Carrier { None, Signed, Unsigned, Floating, Text, WideText };

struct NativeType {
  ffi_type* ffi;     // libffi description (pointer type for text)
  std::size_t size;  // sizeof the native type
  Carrier carrier;
};

// The native type of `scalar` in this process. Throws Failure(BAD_SIGNATURE)
// for a value that is not a known scalar.
NativeType native_type(wire::Scalar scalar);

// The libffi ABI for `conv` here. Throws Failure(BAD_SIGNATURE) when this
// platform has no such convention (never on i386; on x86-64 all map to the
// platform default, as compilers do).
ffi_abi native_abi(wire::CallConv conv);

}  // namespace dllbridge::surrogate
