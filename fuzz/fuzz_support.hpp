// What the fuzz targets (fuzz/*_fuzz.cpp) and their seed maker
// (fuzz/make_seeds.cpp) share: how an input is cut into records, the
// signatures the targets declare, and the sample functions the surrogate
// target may call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include "dllbridge/rules/scalars.hpp"

namespace dllbridge::fuzz {

// No logs: neither the surrogate's (spdlog) nor protobuf's parse complaints.
inline void quiet() {
  spdlog::set_level(spdlog::level::off);
  google::protobuf::SetLogHandler(nullptr);
}

// Reads an input front to back; every read past the end yields zeros / nothing.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  // A record: a 4-byte little-endian length, then that many bytes (fewer at
  // the end of the input). False when the input is used up.
  bool record(std::string& out) {
    if (size_ - pos_ < 4 || pos_ >= size_) return false;
    const std::uint32_t n = std::uint32_t(data_[pos_]) | std::uint32_t(data_[pos_ + 1]) << 8 |
                            std::uint32_t(data_[pos_ + 2]) << 16 | std::uint32_t(data_[pos_ + 3]) << 24;
    pos_ += 4;
    const std::size_t take = std::min<std::size_t>(n, size_ - pos_);
    out.assign(reinterpret_cast<const char*>(data_ + pos_), take);
    pos_ += take;
    return true;
  }
  // The rest of the input.
  std::string rest() {
    std::string out(reinterpret_cast<const char*>(data_ + pos_), size_ - pos_);
    pos_ = size_;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// Appends a record as Reader::record reads it.
inline void put_record(std::string& out, const std::string& bytes) {
  const auto n = static_cast<std::uint32_t>(bytes.size());
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  out += static_cast<char>((n >> 16) & 0xff);
  out += static_cast<char>((n >> 24) & 0xff);
  out += bytes;
}

// The four ABIs a surrogate can have, chosen by the low two bits of `b`.
inline rules::Abi abi_from(std::uint8_t b) { return rules::Abi{(b & 1) ? 8u : 4u, (b & 2) != 0}; }

// Signatures the JSON and reply targets declare (the first byte of an input
// picks one): every kind of parameter and return the codec handles.
inline const std::vector<std::string>& signatures() {
  static const std::vector<std::string> list = {
      "int add(int a, int b)",
      "int64_t sum8(int8_t a, int16_t b, int32_t c, int64_t d, uint8_t e, uint16_t f, uint32_t g, uint64_t "
      "h)",
      "double mix_d(int a, double b, float c, long long d)",
      "bool not_b(bool v)",
      "unsigned long long shl_ull(unsigned long long v, unsigned int bits)",
      "long neg_long(long v)",
      "char upper_c(char c)",
      "size_t str_len(const char* s)",
      "size_t wstr_len(const wchar_t* s)",
      "const char* greeting(void)",
      "const wchar_t* wide_greeting(void)",
      "int sum_i32([in, size_is(n)] const int* v, int n)",
      "double sum_f64([in, size_is(n)] const double* v, unsigned n)",
      "void fill_seq_u16([out, size_is(n)] uint16_t* out, int n, uint16_t start)",
      "void scale_i64([in, out, size_is(n)] int64_t* v, int n, int64_t k)",
      "void reverse4_u8([in, out, size(4)] uint8_t* v)",
      "int divmod(int a, int b, [out] int* q, [out] int* r)",
      "int present([in] const int* a, [in] const double* b)",
      "int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)",
      "int reverse_str([in, out, string, size_is(cap)] char* buf, int cap)",
      "int wide_upper([in, out, string, size_is(cap)] wchar_t* buf, int cap)",
      "int wide_hello([out, size_is(cap)] wchar_t* out, int cap)",
      "struct P { int x; int y; }; int point_sum(struct P p)",
      "struct P { int x; int y; }; struct P point_make(int x, int y)",
      "struct P { int x; int y; }; struct R { struct P tl; struct P br; }; void rect_grow([in, out] struct "
      "R* r, "
      "int by)",
      "struct M { char c; double d; short s; long long q; }; struct M mixed_make(char c, double d, short s, "
      "long long q)",
      "struct P { int x; int y; }; struct N { char name[16]; int vals[3]; struct P pts[2]; }; "
      "void named_fill([out] struct N* n, int base)",
      "struct P { int x; int y; }; struct Q { uint8_t tag; int n; [size_is(n)] struct P* pts; }; "
      "void poly_shift([in, out] struct Q* p, int dx)",
      "int obj_create(int initial, [out] HANDLE* out)",
      "int obj_add(void* h, int v)",
      "int fmt_print([out, size_is(cap)] char* out, int cap, const char* fmt, ...)",
      "double sum_doubles(int n, ...)",
      "int __stdcall add_std(int a, int b)",
      "int64_t __fastcall mix_fast(int a, int64_t b, int8_t c)",
      "int __thiscall this_add(void* self, int b)",
      "int sized([out, size_is(*)] int* out)",
      "BOOL __stdcall win_types(DWORD a, WORD b, BYTE c, LONG d, ULONG e, wchar_t f, HANDLE g)",
  };
  return list;
}

// Sample functions the surrogate target may register under any declaration:
// they read only their own argument values (registers and stack slots) and
// return a value in registers, so no declaration makes them touch memory
// the surrogate did not give them. Their return type must still be a
// plain value (no text, which the surrogate would read through the returned
// bits as a pointer).
inline const std::vector<std::string_view>& any_declaration_functions() {
  static const std::vector<std::string_view> list = {
      "add",           "neg_i8",     "inc_u8",        "neg_i16",        "inc_u16",    "inc_u32",
      "mul_i64",       "add_u64",    "scale_f",       "mix_d",          "is_even",    "not_b",
      "neg_long",      "shl_ull",    "upper_c",       "bool32_not",     "sum8",       "pointer_size",
      "long_size",     "set_errno",  "counter_next",  "counter_reset",  "add_std",    "sum_i64_std",
      "mul_d_std",     "half_f_std", "swap_u16_std",  "clamp_i8_std",   "point_sum",  "point_make",
      "point_sum_std", "mixed_sum",  "mixed_sum_std", "mixed_offset_d", "mixed_size", "sub_fast",
      "mix_fast",      "this_add",   "set_state",     "get_state",      "get_pid"};
  return list;
}

// Sample functions the surrogate target may register only under their true
// declaration (names aside): they follow pointers, so a wrong declaration
// would make the *DLL* misbehave, as it would in a native caller; with the
// true one every argument is the surrogate's to get right (buffer sizes from
// size_is, NUL-terminated text, [out] buffers). Left out: functions that
// follow an [in] pointer without a NULL check (copy_upper, rect_grow, ...),
// handles (obj_*: a forged handle is a pointer), variadics (the DLL reads as
// many arguments as its format says), and the ones that crash, hang, sleep,
// leak, exit or touch files on purpose.
inline const std::vector<std::string>& true_declarations() {
  static const std::vector<std::string> list = {
      "size_t str_len(const char* s)",
      "int count_char(const char* s, char c)",
      "size_t wstr_len(const wchar_t* s)",
      "int wstr_first(const wchar_t* s)",
      "const char* greeting(void)",
      "const char* not_utf8(void)",
      "const wchar_t* wide_greeting(void)",
      "uint32_t __stdcall hash_str_std(const char* s)",
      "int sum_i32([in, size_is(n)] const int* v, int n)",
      "int __stdcall sum_i32_std([in, size_is(n)] const int* v, int n)",
      "void fill_seq_u16([out, size_is(n)] uint16_t* out, int n, uint16_t start)",
      "int divmod(int a, int b, [out] int* q, [out] int* r)",
      "int __stdcall divmod_std(int a, int b, [out] int* q, [out] int* r)",
      "int present([in] const int* a, [in] const double* b)",
      "int wide_hello([out, size_is(cap)] wchar_t* out, int cap)",
      "struct P { int x; int y; }; struct R { struct P tl; struct P br; }; int rect_area([in] const struct "
      "R* r)",
      "struct M { char c; double d; short s; long long q; }; struct M mixed_make(char c, double d, short s, "
      "long long q)",
      "struct P { int x; int y; }; struct N { char name[16]; int vals[3]; struct P pts[2]; }; "
      "void named_fill([out] struct N* n, int base)",
  };
  return list;
}

}  // namespace dllbridge::fuzz
