/* sample: a legacy-style C library, the kind of vendor DLL dllbridge exists
 * for. cdecl and stdcall exports over every scalar type and text, plus a few
 * that misbehave on purpose. Tests call each through the surrogate and, where
 * possible, directly, and compare. */
#ifndef DLLBRIDGE_SAMPLE_H
#define DLLBRIDGE_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

#if defined(_WIN32)
#  define SAMPLE_API __declspec(dllexport)
#else
#  define SAMPLE_API __attribute__((visibility("default")))
#endif
#if defined(_MSC_VER) && defined(_M_IX86)
#  define SAMPLE_STDCALL __stdcall
#  define SAMPLE_FASTCALL __fastcall
#  define SAMPLE_THISCALL /* MSVC allows __thiscall only on member functions */
#elif defined(__i386__)
#  define SAMPLE_STDCALL __attribute__((stdcall))
#  define SAMPLE_FASTCALL __attribute__((fastcall))
#  define SAMPLE_THISCALL __attribute__((thiscall))
#else /* one convention on x86-64 */
#  define SAMPLE_STDCALL
#  define SAMPLE_FASTCALL
#  define SAMPLE_THISCALL
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* cdecl */
SAMPLE_API int32_t add(int32_t a, int32_t b);
SAMPLE_API int8_t neg_i8(int8_t v);
SAMPLE_API uint8_t inc_u8(uint8_t v);
SAMPLE_API int16_t neg_i16(int16_t v);
SAMPLE_API uint16_t inc_u16(uint16_t v);
SAMPLE_API uint32_t inc_u32(uint32_t v);
SAMPLE_API int64_t mul_i64(int64_t a, int64_t b);
SAMPLE_API uint64_t add_u64(uint64_t a, uint64_t b);
SAMPLE_API float scale_f(float v, float k);
SAMPLE_API double mix_d(int32_t a, double b, float c, int64_t d);
SAMPLE_API bool is_even(int32_t v);
SAMPLE_API bool not_b(bool v);
SAMPLE_API long neg_long(long v);
SAMPLE_API unsigned long long shl_ull(unsigned long long v, unsigned int bits);
SAMPLE_API char upper_c(char c);
SAMPLE_API int32_t bool32_not(int32_t v); /* a Windows BOOL */
SAMPLE_API int64_t sum8(int8_t a, int16_t b, int32_t c, int64_t d, uint8_t e, uint16_t f,
                        uint32_t g, uint64_t h);
SAMPLE_API size_t str_len(const char* s);             /* SIZE_MAX for NULL */
SAMPLE_API int32_t count_char(const char* s, char c);
SAMPLE_API size_t wstr_len(const wchar_t* s);         /* code units; SIZE_MAX for NULL */
SAMPLE_API int32_t wstr_first(const wchar_t* s);      /* first code unit */
SAMPLE_API const char* greeting(void);
SAMPLE_API int32_t pointer_size(void);                /* sizeof(void*) of the caller's ABI */
SAMPLE_API int32_t long_size(void);
SAMPLE_API int32_t set_errno(int32_t value);          /* sets errno (and SetLastError on Windows), returns -1 */
SAMPLE_API int32_t counter_next(void);                /* 1, 2, 3, ... per process */
SAMPLE_API void counter_reset(void);

/* stdcall (callee pops; decorated on Windows) */
SAMPLE_API int32_t SAMPLE_STDCALL add_std(int32_t a, int32_t b);
SAMPLE_API int64_t SAMPLE_STDCALL sum_i64_std(int64_t a, int32_t b);
SAMPLE_API double SAMPLE_STDCALL mul_d_std(double a, double b);
SAMPLE_API float SAMPLE_STDCALL half_f_std(float v);
SAMPLE_API uint16_t SAMPLE_STDCALL swap_u16_std(uint16_t v);
SAMPLE_API uint32_t SAMPLE_STDCALL hash_str_std(const char* s); /* FNV-1a 32 */
SAMPLE_API int8_t SAMPLE_STDCALL clamp_i8_std(int32_t v);

/* fastcall (a, b in ecx, edx; MinGW exports "@sub_fast@8") and thiscall
 * ("this" in ecx), as C++ vendor SDKs and Borland-era DLLs use them */
SAMPLE_API int32_t SAMPLE_FASTCALL sub_fast(int32_t a, int32_t b);
SAMPLE_API int64_t SAMPLE_FASTCALL mix_fast(int32_t a, int64_t b, int8_t c);
SAMPLE_API int32_t SAMPLE_THISCALL this_add(void* self, int32_t b); /* (int32)(intptr)self + b */

/* Windows: exported by ordinal 100 only, with no name (sample.def). */
int32_t ordinal_only(int32_t v); /* v * 3 */

/* misbehaving on purpose */
SAMPLE_API int32_t crash_segv(void);    /* writes through a null pointer */
SAMPLE_API int32_t crash_abort(void);   /* calls abort() */
SAMPLE_API int32_t sleep_ms(int32_t ms); /* sleeps, then returns ms */
SAMPLE_API int32_t hang_forever(void);  /* never returns */
SAMPLE_API int32_t leak_mb(int32_t mb); /* leaks mb MiB (touched); returns the total leaked */
SAMPLE_API int32_t exit_with(int32_t code);      /* calls exit(code) */
SAMPLE_API int32_t stack_overflow(int32_t depth); /* recurses until the stack runs out */
SAMPLE_API int32_t crash_if_absent(const char* marker); /* creates marker and crashes; 1 if it exists */
SAMPLE_API int32_t set_state(int32_t v); /* library state lost on restart: set / get */
SAMPLE_API int32_t get_state(void);
SAMPLE_API int32_t get_pid(void);      /* the hosting process's id */

#ifdef __cplusplus
}
#endif

#endif
