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

/* SAL annotations (as sal.h spells them) say what a pointer parameter is;
 * dllbridge-gen reads them. Defined away where no sal.h defined them first. */
#ifndef _In_
#  define _In_
#endif
#ifndef _In_z_
#  define _In_z_
#endif
#ifndef _In_reads_
#  define _In_reads_(s)
#endif
#ifndef _Out_
#  define _Out_
#endif
#ifndef _Out_writes_
#  define _Out_writes_(s)
#endif
#ifndef _Inout_
#  define _Inout_
#endif
#ifndef _Inout_updates_
#  define _Inout_updates_(s)
#endif
#ifndef _Inout_updates_z_
#  define _Inout_updates_z_(s)
#endif
#ifndef _Outptr_
#  define _Outptr_
#endif
#ifndef _Ret_z_
#  define _Ret_z_
#endif

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

/* structs passed by value, by pointer, nested, with fixed arrays and pointer fields */
struct sample_point {
  int32_t x;
  int32_t y;
};
struct sample_mixed {
  char c;
  double d;
  int16_t s;
  int64_t q;
}; /* layout differs between ABIs */
struct sample_rect {
  struct sample_point tl;
  struct sample_point br;
};
struct sample_named {
  char name[16];
  int32_t vals[3];
  struct sample_point pts[2];
};
struct sample_poly {
  uint8_t tag;
  int32_t n;
  struct sample_point* pts;
};

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
SAMPLE_API int64_t sum8(int8_t a, int16_t b, int32_t c, int64_t d, uint8_t e, uint16_t f, uint32_t g,
                        uint64_t h);
SAMPLE_API size_t str_len(const char* s); /* SIZE_MAX for NULL */
SAMPLE_API int32_t count_char(const char* s, char c);
SAMPLE_API size_t wstr_len(const wchar_t* s);    /* code units; SIZE_MAX for NULL */
SAMPLE_API int32_t wstr_first(const wchar_t* s); /* first code unit */
SAMPLE_API _Ret_z_ const char* greeting(void);
SAMPLE_API const char* not_utf8(void); /* "A\xff\xfeB": text that is not UTF-8 */
SAMPLE_API int32_t pointer_size(void); /* sizeof(void*) of the caller's ABI */
SAMPLE_API int32_t long_size(void);
SAMPLE_API int32_t set_errno(int32_t value); /* sets errno (and SetLastError on Windows), returns -1 */
SAMPLE_API int32_t counter_next(void);       /* 1, 2, 3, ... per process */
SAMPLE_API void counter_reset(void);

/* stdcall (callee pops; decorated on Windows) */
SAMPLE_API int32_t SAMPLE_STDCALL add_std(int32_t a, int32_t b);
SAMPLE_API int64_t SAMPLE_STDCALL sum_i64_std(int64_t a, int32_t b);
SAMPLE_API double SAMPLE_STDCALL mul_d_std(double a, double b);
SAMPLE_API float SAMPLE_STDCALL half_f_std(float v);
SAMPLE_API uint16_t SAMPLE_STDCALL swap_u16_std(uint16_t v);
SAMPLE_API uint32_t SAMPLE_STDCALL hash_str_std(const char* s); /* FNV-1a 32 */
SAMPLE_API int8_t SAMPLE_STDCALL clamp_i8_std(int32_t v);
SAMPLE_API int32_t SAMPLE_STDCALL sum_i32_std(const int32_t* v, int32_t n);
SAMPLE_API int32_t SAMPLE_STDCALL divmod_std(int32_t a, int32_t b, int32_t* q, int32_t* r);
SAMPLE_API int32_t SAMPLE_STDCALL point_sum_std(struct sample_point p);
SAMPLE_API double SAMPLE_STDCALL mixed_sum_std(struct sample_mixed m);
SAMPLE_API int32_t SAMPLE_STDCALL copy_upper_std(const char* in, char* out, int32_t cap);
SAMPLE_API void SAMPLE_STDCALL rect_grow_std(struct sample_rect* r, int32_t by);

/* buffers, [out] parameters and text buffers */
SAMPLE_API int32_t sum_i32(_In_reads_(n) const int32_t* v, int32_t n); /* [in, size_is(n)]; -1 for NULL */
SAMPLE_API double sum_f64(const double* v, uint32_t n);                /* [in, size_is(n)] */
SAMPLE_API void fill_seq_u16(_Out_writes_(n) uint16_t* out, int32_t n,
                             uint16_t start);                                   /* [out, size_is(n)] */
SAMPLE_API void scale_i64(_Inout_updates_(n) int64_t* v, int32_t n, int64_t k); /* [in, out, size_is(n)] */
SAMPLE_API void reverse4_u8(uint8_t* v);                                        /* [in, out, size(4)] */
SAMPLE_API void xor_u8(uint8_t* v, int32_t n, uint8_t k); /* [in, out, size_is(n)]: bulk data */
/* [in, out, size_is(n)]: xors only the first and the last byte with k (a DLL that
   hardly works on its buffer: what the bridge costs for bulk data) */
SAMPLE_API void touch_u8(_Inout_updates_(n) uint8_t* v, int32_t n, uint8_t k);
SAMPLE_API int32_t divmod(int32_t a, int32_t b, _Out_ int32_t* q,
                          _Out_ int32_t* r);                   /* [out] q, r; 0 or -1 for b == 0 */
SAMPLE_API int32_t present(const int32_t* a, const double* b); /* optional [in] pointers: bit 0 a, bit 1 b */
SAMPLE_API int32_t copy_upper(_In_z_ const char* in, _Out_writes_(cap) char* out,
                              int32_t cap); /* [out, size_is(cap)]; length */
SAMPLE_API int32_t reverse_str(_Inout_updates_z_(cap) char* buf,
                               int32_t cap);              /* [in, out, string, size_is(cap)] */
SAMPLE_API int32_t wide_upper(wchar_t* buf, int32_t cap); /* [in, out, string, size_is(cap)], ASCII */
SAMPLE_API int32_t wide_hello(wchar_t* out, int32_t cap); /* [out, size_is(cap)]: "h\u00e9llo \u20ac" */
SAMPLE_API const wchar_t* wide_greeting(void);

/* structs: by value, by pointer, nested, fixed arrays, pointer fields */
SAMPLE_API int32_t point_sum(struct sample_point p);
SAMPLE_API struct sample_point point_make(int32_t x, int32_t y);
SAMPLE_API int32_t rect_area(const struct sample_rect* r);
SAMPLE_API void rect_grow(_Inout_ struct sample_rect* r, int32_t by); /* [in, out] */
SAMPLE_API struct sample_mixed mixed_make(char c, double d, int16_t s, int64_t q);
SAMPLE_API double mixed_sum(struct sample_mixed m);
SAMPLE_API int32_t mixed_offset_d(void); /* offsetof(struct sample_mixed, d) */
SAMPLE_API int32_t mixed_size(void);
SAMPLE_API void named_fill(_Out_ struct sample_named* n, int32_t base); /* [out] */
SAMPLE_API int32_t named_sum(const struct sample_named* n);             /* vals + pts + strlen(name) */
SAMPLE_API int32_t poly_sum(const struct sample_poly* p);               /* tag + every x and y */
SAMPLE_API void poly_shift(struct sample_poly* p, int32_t dx);          /* [in, out]: moves every point */

/* handles: an object behind an opaque pointer */
SAMPLE_API int32_t obj_create(int32_t initial, _Outptr_ void** out); /* 0 and *out, or -1 */
SAMPLE_API int32_t obj_add(_In_ void* h, int32_t v);                 /* the new value */
SAMPLE_API int32_t obj_get(void* h);
SAMPLE_API void obj_destroy(void* h);

/* variadic (cdecl only) */
SAMPLE_API int32_t fmt_print(char* out, int32_t cap, const char* fmt, ...); /* vsnprintf */
SAMPLE_API double sum_doubles(int32_t n, ...);
SAMPLE_API int64_t sum_mixed_va(int32_t n, ...); /* n pairs (int kind, value): 0 int, 1 long long, 2 double */

/* fastcall (a, b in ecx, edx; MinGW exports "@sub_fast@8") and thiscall
 * ("this" in ecx), as C++ vendor SDKs and Borland-era DLLs use them */
SAMPLE_API int32_t SAMPLE_FASTCALL sub_fast(int32_t a, int32_t b);
SAMPLE_API int64_t SAMPLE_FASTCALL mix_fast(int32_t a, int64_t b, int8_t c);
SAMPLE_API int32_t SAMPLE_THISCALL this_add(void* self, int32_t b); /* (int32)(intptr)self + b */

/* Windows: exported by ordinal 100 only, with no name (sample.def). */
int32_t ordinal_only(int32_t v); /* v * 3 */

/* misbehaving on purpose */
SAMPLE_API int32_t crash_segv(void);                    /* writes through a null pointer */
SAMPLE_API int32_t crash_abort(void);                   /* calls abort() */
SAMPLE_API int32_t sleep_ms(int32_t ms);                /* sleeps, then returns ms */
SAMPLE_API int32_t hang_forever(void);                  /* never returns */
SAMPLE_API int32_t leak_mb(int32_t mb);                 /* leaks mb MiB (touched); returns the total leaked */
SAMPLE_API int32_t exit_with(int32_t code);             /* calls exit(code) */
SAMPLE_API int32_t stack_overflow(int32_t depth);       /* recurses until the stack runs out */
SAMPLE_API int32_t crash_if_absent(const char* marker); /* creates marker and crashes; 1 if it exists */
SAMPLE_API int32_t set_state(int32_t v);                /* library state lost on restart: set / get */
SAMPLE_API int32_t get_state(void);
SAMPLE_API int32_t get_pid(void); /* the hosting process's id */
/* The hosting process's environment variable `name` / working directory,
 * with its '\0', into out (cap bytes): its length, or -1 when it is not set
 * or does not fit. */
SAMPLE_API int32_t env_value(_In_z_ const char* name, _Out_writes_(cap) char* out, int32_t cap);
SAMPLE_API int32_t working_dir(_Out_writes_(cap) char* out, int32_t cap);
/* Registers an atexit handler that writes "atexit <pid>\n" to `path` when the
 * hosting process ends normally (never on a kill); returns 0, -1 if the path is too long. */
SAMPLE_API int32_t on_exit_write(const char* path);
/* POSIX: makes SIGTERM write "sigterm <pid>\n" to `path` and end the process
 * (exit status 0); returns 0. Windows has no such signal: returns -1. */
SAMPLE_API int32_t on_sigterm_write(const char* path);
/* Creates `started`, then waits (polling) until `go` exists or `limit_ms` passed:
 * 1 if `go` appeared, 0 if not. A call the test holds and releases at will. */
SAMPLE_API int32_t wait_for_file(const char* started, const char* go, int32_t limit_ms);

/* Processes the library starts. spawn_sleeper starts a process that sleeps
 * `seconds` (POSIX: a forked copy of the host, holding every descriptor the
 * host has; Windows: another copy of the host program, serving an unused
 * pipe until it is ended), writes its pid to `pid_file` (when not NULL) and
 * returns it, -1 on failure; spawn_sleeper_and_crash does the same, then
 * crashes (SIGSEGV / access violation). */
SAMPLE_API int32_t spawn_sleeper(const char* pid_file, int32_t seconds);
SAMPLE_API int32_t spawn_sleeper_and_crash(const char* pid_file, int32_t seconds);
/* What a program the library runs inherits of the host's channels. POSIX:
 * runs /bin/sh, which counts the sockets among its descriptors above 2: that
 * count, or -1 when it could not be run. Windows: the number of inheritable
 * pipe handles other than the standard ones (what CreateProcess with
 * bInheritHandles = TRUE would pass on). */
SAMPLE_API int32_t exec_child_sockets(void);

/* ---- callbacks (callbacks.c): function pointers the library calls back ---- */
typedef int32_t (*sample_cmp)(const int32_t* a, const int32_t* b);
typedef int32_t(SAMPLE_STDCALL* sample_cmp_std)(const int32_t* a, const int32_t* b);
/* Sorts v[0..n) ascending by cmp with a stable insertion sort (the same comparisons in the same
   order everywhere: cmp(&left, &right) with left the element before the one being placed);
   returns the number of comparator calls, -1 when v or cmp is NULL or n < 0. */
SAMPLE_API int32_t sort_i32(int32_t* v, int32_t n, sample_cmp cmp);
SAMPLE_API int32_t SAMPLE_STDCALL sort_i32_std(int32_t* v, int32_t n, sample_cmp_std cmp);

/* An enumerator with a context pointer (BOOL CALLBACK EnumProc): calls proc(i, ctx) for
   i = 0..count-1 until it returns 0; returns the number of calls made, -1 when proc is NULL. */
typedef int32_t(SAMPLE_STDCALL* sample_enum_proc)(int32_t index, void* ctx);
SAMPLE_API int32_t SAMPLE_STDCALL enum_items(int32_t count, sample_enum_proc proc, void* ctx);

/* Text and a buffer in, a double back: returns f(label, v, n) * 2 (-1 when f is NULL). */
typedef double (*sample_stat_proc)(const char* label, const double* v, int32_t n);
SAMPLE_API double stat_with(const char* label, const double* v, int32_t n, sample_stat_proc f);
/* Text and a buffer in, a struct back: p = f(name, xy, n); returns p.x * 1000 + p.y (-1 when f
   is NULL). */
typedef struct sample_point (*sample_point_proc)(const char* name, const int32_t* xy, int32_t n);
SAMPLE_API int32_t point_with(const char* name, const int32_t* xy, int32_t n, sample_point_proc f);

/* Re-entry: depth <= 0 returns 0 without calling f; else returns f(depth) + 1 (the callback
   may call reenter(depth - 1, f) again through the bridge); -1 when f is NULL. */
typedef int32_t (*sample_depth_proc)(int32_t depth);
SAMPLE_API int32_t reenter(int32_t depth, sample_depth_proc f);

/* Persistent handlers: the library keeps them (process-wide, until replaced). */
typedef void (*sample_event_proc)(int32_t source, int32_t seq, void* ctx);
SAMPLE_API void set_event_handler(sample_event_proc f, void* ctx); /* NULL clears */
/* Starts `threads` (1..16) library threads; thread t calls handler(t, seq, ctx) for
   seq = 0..n-1 in order, then ends (no calls when no handler is set). The handler and ctx are
   read when the call is made. Returns at once (0), or -1 when the arguments are out of range
   (n < 0 too), the threads could not be started, or the threads of an earlier events_start are
   still running or have not been waited for (events_wait) yet. */
SAMPLE_API int32_t events_start(int32_t threads, int32_t n);
/* Waits for the threads of events_start to end (joins them); returns the handler calls they
   made (0 when none ran or another events_wait is already joining them), -1 when called from
   one of those threads (the handler), which could never join itself. */
SAMPLE_API int32_t events_wait(void);
/* Calls the handler once on the calling thread, handler(-1, seq, ctx); 1 when one was set, else 0. */
SAMPLE_API int32_t event_fire(int32_t seq);
typedef int32_t (*sample_value_proc)(int32_t x);
SAMPLE_API void set_value_proc(sample_value_proc f); /* NULL clears */
SAMPLE_API int32_t value_call(int32_t x);            /* f(x) with the kept f; -1 when none is set */

/* [out] callback parameters: the library lends the callback its buffer. */
typedef int32_t (*sample_read_proc)(void* ctx, uint8_t* buf, int32_t cap);
/* Fills out[0..cap) by calling f(ctx, out + got, n) with n = min(chunk, cap - got) (the whole rest
   when chunk <= 0) until f returns 0, a negative error (returned as is), or the buffer is full;
   each call counts at most n. Returns the bytes read; -1 for a NULL f or out, or cap < 0. */
SAMPLE_API int32_t read_all(sample_read_proc f, void* ctx, uint8_t* out, int32_t cap, int32_t chunk);
typedef void (*sample_name_proc)(int32_t id, char* name, int32_t cap);
/* Lends f a 16-byte buffer filled with 'X' to write a NUL-terminated name for `id` in (the library
   ends it at byte 15 whatever f did), copies that into out (cap bytes, NUL-terminated); returns its
   length, -1 for a NULL f or out, or cap <= 0. */
SAMPLE_API int32_t name_via(sample_name_proc f, int32_t id, char* out, int32_t cap);

/* A function pointer in a struct, as in an SDK's table of callbacks. */
struct sample_ops {
  int32_t (*map)(int32_t x);
  int32_t bias;
};
/* ops->map(x) + ops->bias; -1 for a NULL ops or map. */
SAMPLE_API int32_t ops_apply(const struct sample_ops* ops, int32_t x);
/* ops->bias += ops->map(x); returns the new bias; -1 for a NULL ops or map. */
SAMPLE_API int32_t ops_accumulate(struct sample_ops* ops, int32_t x);

/* A table of callbacks the library keeps and calls later, as an SDK keeps
   its event handlers. */
struct sample_handlers {
  int32_t (*on_value)(int32_t x);
  int32_t scale;
};
/* Keeps a copy of *h (NULL forgets the kept one). */
SAMPLE_API void handlers_set(const struct sample_handlers* h);
/* on_value(x) * scale of the kept table; -1 when none is kept or its on_value is NULL. */
SAMPLE_API int32_t handlers_fire(int32_t x);

#ifdef __cplusplus
}
#endif

#endif
