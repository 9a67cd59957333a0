#include "sample.h"

#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <process.h>
#define getpid _getpid
#else
#include <unistd.h>
#endif

int32_t add(int32_t a, int32_t b) { return a + b; }
int8_t neg_i8(int8_t v) { return (int8_t)-v; }
uint8_t inc_u8(uint8_t v) { return (uint8_t)(v + 1); }
int16_t neg_i16(int16_t v) { return (int16_t)-v; }
uint16_t inc_u16(uint16_t v) { return (uint16_t)(v + 1); }
uint32_t inc_u32(uint32_t v) { return v + 1u; }
int64_t mul_i64(int64_t a, int64_t b) { return a * b; }
uint64_t add_u64(uint64_t a, uint64_t b) { return a + b; }
float scale_f(float v, float k) { return v * k; }
double mix_d(int32_t a, double b, float c, int64_t d) { return a + b * 2.0 + c * 4.0 + (double)d * 8.0; }
bool is_even(int32_t v) { return v % 2 == 0; }
bool not_b(bool v) { return !v; }
long neg_long(long v) { return -v; }
unsigned long long shl_ull(unsigned long long v, unsigned int bits) { return v << bits; }
char upper_c(char c) { return (char)toupper((unsigned char)c); }
int32_t bool32_not(int32_t v) { return v ? 0 : 1; }

int64_t sum8(int8_t a, int16_t b, int32_t c, int64_t d, uint8_t e, uint16_t f, uint32_t g,
             uint64_t h) {
  return (int64_t)a + b + c + d + e + f + (int64_t)g + (int64_t)h;
}

size_t str_len(const char* s) { return s ? strlen(s) : (size_t)-1; }

int32_t count_char(const char* s, char c) {
  int32_t n = 0;
  if (!s) return -1;
  for (; *s; ++s) n += *s == c;
  return n;
}

size_t wstr_len(const wchar_t* s) { return s ? wcslen(s) : (size_t)-1; }
int32_t wstr_first(const wchar_t* s) { return s ? (int32_t)s[0] : -1; }
const char* greeting(void) { return "hello from sample"; }
int32_t pointer_size(void) { return (int32_t)sizeof(void*); }
int32_t long_size(void) { return (int32_t)sizeof(long); }

int32_t set_errno(int32_t value) {
  errno = value;
#if defined(_WIN32)
  SetLastError((DWORD)value); /* what a Win32 API reports failures with */
#endif
  return -1;
}

static int32_t counter;
int32_t counter_next(void) { return ++counter; }
void counter_reset(void) { counter = 0; }

int32_t SAMPLE_STDCALL add_std(int32_t a, int32_t b) { return a + b; }
int64_t SAMPLE_STDCALL sum_i64_std(int64_t a, int32_t b) { return a + b; }
double SAMPLE_STDCALL mul_d_std(double a, double b) { return a * b; }
float SAMPLE_STDCALL half_f_std(float v) { return v / 2.0f; }
uint16_t SAMPLE_STDCALL swap_u16_std(uint16_t v) { return (uint16_t)((v >> 8) | (v << 8)); }

uint32_t SAMPLE_STDCALL hash_str_std(const char* s) {
  uint32_t h = 2166136261u;
  if (!s) return 0;
  for (; *s; ++s) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

int8_t SAMPLE_STDCALL clamp_i8_std(int32_t v) {
  return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
}

int32_t crash_segv(void) {
  volatile int32_t* p = NULL;
  *p = 42;
  return *p;
}

int32_t SAMPLE_FASTCALL sub_fast(int32_t a, int32_t b) { return a - b; }
int64_t SAMPLE_FASTCALL mix_fast(int32_t a, int64_t b, int8_t c) { return (int64_t)a * 1000 + b * 10 + c; }
int32_t SAMPLE_THISCALL this_add(void* self, int32_t b) { return (int32_t)(intptr_t)self + b; }

int32_t ordinal_only(int32_t v) { return v * 3; }

int32_t crash_abort(void) {
  abort();
  return 0;
}

int32_t sleep_ms(int32_t ms) {
#if defined(_WIN32)
  Sleep((DWORD)ms);
#else
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0) {
  }
#endif
  return ms;
}

int32_t hang_forever(void) {
  for (;;) sleep_ms(1000);
  return 0;
}

static int32_t leaked_mb;
static void* volatile last_leak; /* escapes, so the compiler keeps the allocation */
int32_t leak_mb(int32_t mb) {
  char* p = (char*)malloc((size_t)mb << 20);
  if (p) {
    memset(p, 0x5a, (size_t)mb << 20); /* touch it, so it is resident */
    last_leak = p;
    leaked_mb += mb;
  }
  return leaked_mb;
}

int32_t exit_with(int32_t code) {
  exit(code);
  return 0;
}

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Winfinite-recursion" /* the point of it */
#endif
static int32_t recurse(volatile char* prev, int32_t depth) {
  volatile char frame[4096];
  frame[0] = prev ? prev[0] : (char)depth;
  return recurse(frame, depth + 1) + frame[0];
}
int32_t stack_overflow(int32_t depth) { return recurse(NULL, depth); }

int32_t crash_if_absent(const char* marker) {
  FILE* f = fopen(marker, "r");
  if (f) {
    fclose(f);
    return 1;
  }
  f = fopen(marker, "w");
  if (f) fclose(f);
  return crash_segv();
}

static int32_t state;
int32_t set_state(int32_t v) { return state = v; }
int32_t get_state(void) { return state; }

int32_t get_pid(void) { return (int32_t)getpid(); }
