#include "core/ffi_types.hpp"

#include <cstdint>
#include <type_traits>

#include "core/errors.hpp"

namespace dllbridge::surrogate {
namespace {

template <class T>
NativeType integer() {
  // libffi has no "long" of its own; pick the fixed-size type of that width.
  ffi_type* t = nullptr;
  constexpr bool s = std::is_signed_v<T>;
  switch (sizeof(T)) {
    case 1: t = s ? &ffi_type_sint8 : &ffi_type_uint8; break;
    case 2: t = s ? &ffi_type_sint16 : &ffi_type_uint16; break;
    case 4: t = s ? &ffi_type_sint32 : &ffi_type_uint32; break;
    default: t = s ? &ffi_type_sint64 : &ffi_type_uint64; break;
  }
  return {t, sizeof(T), s ? Carrier::Signed : Carrier::Unsigned};
}

}  // namespace

NativeType native_type(wire::Scalar scalar) {
  switch (scalar) {
    case wire::SCALAR_VOID: return {&ffi_type_void, 0, Carrier::None};
    case wire::BOOL: return integer<unsigned char>();  // C99 _Bool is one byte
    case wire::CHAR: return integer<char>();
    case wire::SCHAR: return integer<signed char>();
    case wire::UCHAR: return integer<unsigned char>();
    case wire::SHORT: return integer<short>();
    case wire::USHORT: return integer<unsigned short>();
    case wire::INT: return integer<int>();
    case wire::UINT: return integer<unsigned int>();
    case wire::LONG: return integer<long>();
    case wire::ULONG: return integer<unsigned long>();
    case wire::LONGLONG: return integer<long long>();
    case wire::ULONGLONG: return integer<unsigned long long>();
    case wire::FLOAT: return {&ffi_type_float, sizeof(float), Carrier::Floating};
    case wire::DOUBLE: return {&ffi_type_double, sizeof(double), Carrier::Floating};
    case wire::INT8: return integer<std::int8_t>();
    case wire::INT16: return integer<std::int16_t>();
    case wire::INT32: return integer<std::int32_t>();
    case wire::INT64: return integer<std::int64_t>();
    case wire::UINT8: return integer<std::uint8_t>();
    case wire::UINT16: return integer<std::uint16_t>();
    case wire::UINT32: return integer<std::uint32_t>();
    case wire::UINT64: return integer<std::uint64_t>();
    case wire::SIZE_T: return integer<std::size_t>();
    case wire::WCHAR: return integer<wchar_t>();
    case wire::WIN_BOOL: return integer<std::int32_t>();
    case wire::WIN_BYTE: return integer<std::uint8_t>();
    case wire::WIN_WORD: return integer<std::uint16_t>();
    case wire::WIN_DWORD: return integer<std::uint32_t>();
    case wire::HANDLE: return integer<std::uintptr_t>();
    case wire::STRING: return {&ffi_type_pointer, sizeof(void*), Carrier::Text};
    case wire::WSTRING: return {&ffi_type_pointer, sizeof(void*), Carrier::WideText};
    default: break;
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
