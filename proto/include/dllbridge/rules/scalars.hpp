// Scalar sizes per ABI: what each wire scalar kind is in the surrogate's
// process. The client checks value ranges with these; the surrogate's libffi
// types are checked against them at compile time (core/ffi_types.cpp).
#pragma once

#include <cstdint>

#include "dllbridge/dllbridge.pb.h"

namespace dllbridge::rules {

// The ABI facts the type rules depend on.
struct Abi {
  unsigned pointer_size = 4;  // 4 (i386) or 8 (x86-64)
  bool windows = false;       // LLP64 and a 2-byte wchar_t on Windows; LP64 / ILP32 and 4 bytes elsewhere
};

// The ABI of the process compiling this.
constexpr Abi native_abi() noexcept {
#if defined(_WIN32)
  return Abi{static_cast<unsigned>(sizeof(void*)), true};
#else
  return Abi{static_cast<unsigned>(sizeof(void*)), false};
#endif
}

// How a scalar's bits are read: its kind of value.
enum class Class : std::uint8_t {
  unknown,  // not a scalar kind this version knows
  none,     // void
  boolean,  // C99 bool: one byte, 0 or 1
  signed_int,
  unsigned_int,
  floating,
  text,       // char* return read as text (STRING)
  wide_text,  // wchar_t* return read as text (WSTRING)
};

struct ScalarRule {
  Class cls = Class::unknown;
  unsigned size = 0;  // bytes in the ABI (text kinds: a pointer)
  constexpr bool integer() const noexcept { return cls == Class::signed_int || cls == Class::unsigned_int; }
};

// `long` is 4 bytes on Windows and on i386, 8 on LP64 Linux; wchar_t is a
// signed 4-byte int on Linux and an unsigned 2-byte UTF-16 unit on Windows;
// size_t, HANDLE and pointers are the pointer size; BOOL is a 4-byte int.
constexpr ScalarRule scalar(wire::Scalar k, const Abi& abi) noexcept {
  const unsigned ptr = abi.pointer_size;
  const unsigned lng = abi.windows ? 4 : ptr;
  switch (k) {
    case wire::SCALAR_VOID: return {Class::none, 0};
    case wire::BOOL: return {Class::boolean, 1};
    case wire::CHAR:
    case wire::SCHAR:
    case wire::INT8: return {Class::signed_int, 1};
    case wire::UCHAR:
    case wire::UINT8:
    case wire::WIN_BYTE: return {Class::unsigned_int, 1};
    case wire::SHORT:
    case wire::INT16: return {Class::signed_int, 2};
    case wire::USHORT:
    case wire::UINT16:
    case wire::WIN_WORD: return {Class::unsigned_int, 2};
    case wire::INT:
    case wire::INT32:
    case wire::WIN_BOOL: return {Class::signed_int, 4};
    case wire::UINT:
    case wire::UINT32:
    case wire::WIN_DWORD: return {Class::unsigned_int, 4};
    case wire::LONG: return {Class::signed_int, lng};
    case wire::ULONG: return {Class::unsigned_int, lng};
    case wire::LONGLONG:
    case wire::INT64: return {Class::signed_int, 8};
    case wire::ULONGLONG:
    case wire::UINT64: return {Class::unsigned_int, 8};
    case wire::SIZE_T:
    case wire::HANDLE: return {Class::unsigned_int, ptr};
    case wire::WCHAR:
      return abi.windows ? ScalarRule{Class::unsigned_int, 2} : ScalarRule{Class::signed_int, 4};
    case wire::FLOAT: return {Class::floating, 4};
    case wire::DOUBLE: return {Class::floating, 8};
    case wire::STRING: return {Class::text, ptr};
    case wire::WSTRING: return {Class::wide_text, ptr};
    default: return {Class::unknown, 0};
  }
}

// The size of one wchar_t unit in the ABI.
constexpr unsigned wchar_size(const Abi& abi) noexcept { return scalar(wire::WCHAR, abi).size; }

// A unit of text buffers and arrays: plain char and wchar_t travel as text;
// signed / unsigned char and BYTE are numbers (binary data).
constexpr bool is_text_unit(wire::Scalar k) noexcept { return k == wire::CHAR || k == wire::WCHAR; }

}  // namespace dllbridge::rules
