#include "core/ffi_types.hpp"

#include <cstdint>
#include <type_traits>

#include "core/errors.hpp"
#include "dllbridge/rules/scalars.hpp"

namespace dllbridge::surrogate {
namespace {

constexpr rules::Abi kAbi = rules::native_abi();

// The type rules (proto/rules) must describe this compiler's types: sizes and
// signedness of the C types each kind names.
template <class T>
constexpr bool agrees(wire::Scalar k) {
  const rules::ScalarRule r = rules::scalar(k, kAbi);
  const bool sign = std::is_signed_v<T>
                        ? r.cls == rules::Class::signed_int
                        : (r.cls == rules::Class::unsigned_int || r.cls == rules::Class::boolean);
  return r.size == sizeof(T) && sign;
}
static_assert(agrees<bool>(wire::BOOL) && agrees<signed char>(wire::SCHAR) &&
              agrees<unsigned char>(wire::UCHAR));
static_assert(agrees<std::int8_t>(wire::CHAR), "plain char is signed on x86 (i386 and x86-64 ABIs)");
static_assert(agrees<short>(wire::SHORT) && agrees<unsigned short>(wire::USHORT));
static_assert(agrees<int>(wire::INT) && agrees<unsigned int>(wire::UINT));
static_assert(agrees<long>(wire::LONG) && agrees<unsigned long>(wire::ULONG));
static_assert(agrees<long long>(wire::LONGLONG) && agrees<unsigned long long>(wire::ULONGLONG));
static_assert(agrees<std::int8_t>(wire::INT8) && agrees<std::int16_t>(wire::INT16));
static_assert(agrees<std::int32_t>(wire::INT32) && agrees<std::int64_t>(wire::INT64));
static_assert(agrees<std::uint8_t>(wire::UINT8) && agrees<std::uint16_t>(wire::UINT16));
static_assert(agrees<std::uint32_t>(wire::UINT32) && agrees<std::uint64_t>(wire::UINT64));
static_assert(agrees<std::size_t>(wire::SIZE_T) && agrees<wchar_t>(wire::WCHAR) &&
              agrees<std::uintptr_t>(wire::HANDLE));
static_assert(agrees<std::int32_t>(wire::WIN_BOOL) && agrees<std::uint8_t>(wire::WIN_BYTE));
static_assert(agrees<std::uint16_t>(wire::WIN_WORD) && agrees<std::uint32_t>(wire::WIN_DWORD));
static_assert(rules::scalar(wire::FLOAT, kAbi).size == sizeof(float) &&
              rules::scalar(wire::DOUBLE, kAbi).size == sizeof(double));
static_assert(rules::scalar(wire::STRING, kAbi).size == sizeof(void*));

ffi_type* integer_ffi(bool is_signed, unsigned size) {
  switch (size) {
    case 1: return is_signed ? &ffi_type_sint8 : &ffi_type_uint8;
    case 2: return is_signed ? &ffi_type_sint16 : &ffi_type_uint16;
    case 4: return is_signed ? &ffi_type_sint32 : &ffi_type_uint32;
    default: return is_signed ? &ffi_type_sint64 : &ffi_type_uint64;
  }
}

}  // namespace

NativeType native_type(wire::Scalar scalar) {
  // Sizes come from the type rules (checked against this compiler above);
  // libffi has no "long" of its own: the fixed-size type of that width.
  const rules::ScalarRule r = rules::scalar(scalar, kAbi);
  switch (r.cls) {
    case rules::Class::none: return {&ffi_type_void, 0, Carrier::None};
    case rules::Class::boolean:
    case rules::Class::unsigned_int: return {integer_ffi(false, r.size), r.size, Carrier::Unsigned};
    case rules::Class::signed_int: return {integer_ffi(true, r.size), r.size, Carrier::Signed};
    case rules::Class::floating:
      return r.size == sizeof(float) ? NativeType{&ffi_type_float, sizeof(float), Carrier::Floating}
                                     : NativeType{&ffi_type_double, sizeof(double), Carrier::Floating};
    case rules::Class::text: return {&ffi_type_pointer, sizeof(void*), Carrier::Text};
    case rules::Class::wide_text: return {&ffi_type_pointer, sizeof(void*), Carrier::WideText};
    case rules::Class::unknown: break;
  }
  throw Failure(wire::BAD_SIGNATURE, "unknown scalar kind " + std::to_string(int(scalar)));
}

ffi_abi native_abi(wire::CallConv conv) {
#if defined(__i386__) || defined(_M_IX86)
  switch (conv) {
    case wire::CONV_CDECL: return FFI_DEFAULT_ABI;
    case wire::CONV_STDCALL: return FFI_STDCALL;
    case wire::CONV_FASTCALL: return FFI_FASTCALL;
    case wire::CONV_THISCALL: return FFI_THISCALL;
    default: break;
  }
  throw Failure(wire::BAD_SIGNATURE, "unknown calling convention " + std::to_string(int(conv)));
#else
  (void)conv;  // x86-64 has one convention per platform
  return FFI_DEFAULT_ABI;
#endif
}

}  // namespace dllbridge::surrogate
