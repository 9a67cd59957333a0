#include "sample.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if !defined(_WIN32)
#  include <fcntl.h>
#  include <signal.h>
#  include <unistd.h>
#endif
#if defined(_WIN32)
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#  include <process.h>
#  define getpid _getpid
#else
#  include <unistd.h>
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

int64_t sum8(int8_t a, int16_t b, int32_t c, int64_t d, uint8_t e, uint16_t f, uint32_t g, uint64_t h) {
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
const char* not_utf8(void) {
  return "A\xff\xfe"
         "B";
}
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

int8_t SAMPLE_STDCALL clamp_i8_std(int32_t v) { return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v); }

int32_t sum_i32(const int32_t* v, int32_t n) {
  int32_t t = 0;
  if (!v) return -1;
  for (int32_t i = 0; i < n; ++i) t += v[i];
  return t;
}

double sum_f64(const double* v, uint32_t n) {
  double t = 0;
  for (uint32_t i = 0; i < n; ++i) t += v[i];
  return t;
}

void fill_seq_u16(uint16_t* out, int32_t n, uint16_t start) {
  for (int32_t i = 0; i < n; ++i) out[i] = (uint16_t)(start + i * 3);
}

void xor_u8(uint8_t* v, int32_t n, uint8_t k) {
  for (int32_t i = 0; i < n; ++i) v[i] ^= k;
}

void touch_u8(uint8_t* v, int32_t n, uint8_t k) {
  if (n <= 0) return;
  v[0] ^= k;
  if (n > 1) v[n - 1] ^= k;
}

void scale_i64(int64_t* v, int32_t n, int64_t k) {
  for (int32_t i = 0; i < n; ++i) v[i] *= k;
}

void reverse4_u8(uint8_t* v) {
  uint8_t t = v[0];
  v[0] = v[3];
  v[3] = t;
  t = v[1];
  v[1] = v[2];
  v[2] = t;
}

int32_t divmod(int32_t a, int32_t b, int32_t* q, int32_t* r) {
  if (b == 0) return -1;
  *q = a / b;
  *r = a % b;
  return 0;
}

int32_t present(const int32_t* a, const double* b) { return (a ? 1 : 0) | (b ? 2 : 0); }

int32_t copy_upper(const char* in, char* out, int32_t cap) {
  int32_t n = 0;
  if (cap <= 0) return -1;
  for (; in[n] && n < cap - 1; ++n) out[n] = (char)toupper((unsigned char)in[n]);
  out[n] = 0;
  return n;
}

int32_t reverse_str(char* buf, int32_t cap) {
  int32_t n = (int32_t)strnlen(buf, (size_t)cap);
  for (int32_t i = 0; i < n / 2; ++i) {
    char t = buf[i];
    buf[i] = buf[n - 1 - i];
    buf[n - 1 - i] = t;
  }
  return n;
}

int32_t wide_upper(wchar_t* buf, int32_t cap) {
  int32_t n = 0;
  for (; n < cap && buf[n]; ++n) {
    if (buf[n] >= L'a' && buf[n] <= L'z') buf[n] = (wchar_t)(buf[n] - L'a' + L'A');
  }
  return n;
}

static const wchar_t kWideHello[] = {L'h', 0xE9, L'l', L'l', L'o', L' ', 0x20AC, 0};

int32_t wide_hello(wchar_t* out, int32_t cap) {
  int32_t n = 0;
  if (cap <= 0) return -1;
  for (; kWideHello[n] && n < cap - 1; ++n) out[n] = kWideHello[n];
  out[n] = 0;
  return n;
}

const wchar_t* wide_greeting(void) { return kWideHello; }

int32_t point_sum(struct sample_point p) { return p.x + p.y; }

struct sample_point point_make(int32_t x, int32_t y) {
  struct sample_point p;
  p.x = x;
  p.y = y;
  return p;
}

int32_t rect_area(const struct sample_rect* r) {
  if (!r) return -1;
  return (r->br.x - r->tl.x) * (r->br.y - r->tl.y);
}

void rect_grow(struct sample_rect* r, int32_t by) {
  r->tl.x -= by;
  r->tl.y -= by;
  r->br.x += by;
  r->br.y += by;
}

struct sample_mixed mixed_make(char c, double d, int16_t s, int64_t q) {
  struct sample_mixed m;
  memset(&m, 0, sizeof m);
  m.c = c;
  m.d = d;
  m.s = s;
  m.q = q;
  return m;
}

double mixed_sum(struct sample_mixed m) { return (double)m.c + m.d + (double)m.s + (double)m.q; }
int32_t mixed_offset_d(void) { return (int32_t)offsetof(struct sample_mixed, d); }
int32_t mixed_size(void) { return (int32_t)sizeof(struct sample_mixed); }

void named_fill(struct sample_named* n, int32_t base) {
  memset(n, 0, sizeof *n);
  snprintf(n->name, sizeof n->name, "named-%d", (int)base);
  for (int i = 0; i < 3; ++i) n->vals[i] = base + i;
  for (int i = 0; i < 2; ++i) {
    n->pts[i].x = base * 10 + i;
    n->pts[i].y = -(base * 10 + i);
  }
}

int32_t named_sum(const struct sample_named* n) {
  int32_t t = (int32_t)strnlen(n->name, sizeof n->name);
  for (int i = 0; i < 3; ++i) t += n->vals[i];
  for (int i = 0; i < 2; ++i) t += n->pts[i].x + n->pts[i].y;
  return t;
}

int32_t poly_sum(const struct sample_poly* p) {
  int32_t t = p->tag;
  if (!p->pts) return t;
  for (int32_t i = 0; i < p->n; ++i) t += p->pts[i].x + p->pts[i].y;
  return t;
}

void poly_shift(struct sample_poly* p, int32_t dx) {
  for (int32_t i = 0; p->pts && i < p->n; ++i) p->pts[i].x += dx;
  p->tag = (uint8_t)(p->tag + 1);
}

struct sample_obj {
  uint32_t magic;
  int32_t value;
};
#define SAMPLE_OBJ_MAGIC 0x0B1EC7u

int32_t obj_create(int32_t initial, void** out) {
  struct sample_obj* o = (struct sample_obj*)malloc(sizeof *o);
  if (!o || !out) return -1;
  o->magic = SAMPLE_OBJ_MAGIC;
  o->value = initial;
  *out = o;
  return 0;
}

int32_t obj_add(void* h, int32_t v) {
  struct sample_obj* o = (struct sample_obj*)h;
  if (!o || o->magic != SAMPLE_OBJ_MAGIC) return -1;
  return o->value += v;
}

int32_t obj_get(void* h) {
  struct sample_obj* o = (struct sample_obj*)h;
  return o && o->magic == SAMPLE_OBJ_MAGIC ? o->value : -1;
}

void obj_destroy(void* h) {
  struct sample_obj* o = (struct sample_obj*)h;
  if (o) o->magic = 0;
  free(o);
}

int32_t fmt_print(char* out, int32_t cap, const char* fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(out, (size_t)cap, fmt, ap);
  va_end(ap);
  return (int32_t)n;
}

double sum_doubles(int32_t n, ...) {
  va_list ap;
  double t = 0;
  va_start(ap, n);
  for (int32_t i = 0; i < n; ++i) t += va_arg(ap, double);
  va_end(ap);
  return t;
}

int64_t sum_mixed_va(int32_t n, ...) {
  va_list ap;
  int64_t t = 0;
  va_start(ap, n);
  for (int32_t i = 0; i < n; ++i) {
    const int kind = va_arg(ap, int);
    if (kind == 0)
      t += va_arg(ap, int);
    else if (kind == 1)
      t += va_arg(ap, long long);
    else
      t += (int64_t)va_arg(ap, double);
  }
  va_end(ap);
  return t;
}

int32_t SAMPLE_STDCALL sum_i32_std(const int32_t* v, int32_t n) { return sum_i32(v, n); }
int32_t SAMPLE_STDCALL divmod_std(int32_t a, int32_t b, int32_t* q, int32_t* r) { return divmod(a, b, q, r); }
int32_t SAMPLE_STDCALL point_sum_std(struct sample_point p) { return p.x * 100 + p.y; }
double SAMPLE_STDCALL mixed_sum_std(struct sample_mixed m) { return mixed_sum(m) * 2.0; }
int32_t SAMPLE_STDCALL copy_upper_std(const char* in, char* out, int32_t cap) {
  return copy_upper(in, out, cap);
}
void SAMPLE_STDCALL rect_grow_std(struct sample_rect* r, int32_t by) { rect_grow(r, by * 2); }

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
#  pragma GCC diagnostic ignored "-Winfinite-recursion" /* the point of it */
#endif
#if defined(__SANITIZE_ADDRESS__)
/* The overflow is the point: under ASan (scripts/test.sh --sanitize) it must
   still end in the guard page's SIGSEGV, not in a report about a write into
   the poisoned stack of the thread next door. */
__attribute__((no_sanitize_address))
#endif
static int32_t
recurse(volatile char* prev, int32_t depth) {
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

static int32_t copy_out(const char* value, char* out, int32_t cap) {
  if (!value || !out || cap <= 0) return -1;
  const size_t n = strlen(value);
  if (n >= (size_t)cap) return -1;
  memcpy(out, value, n + 1);
  return (int32_t)n;
}

int32_t env_value(const char* name, char* out, int32_t cap) { return copy_out(getenv(name), out, cap); }

int32_t working_dir(char* out, int32_t cap) {
  char dir[4096];
#if defined(_WIN32)
  const DWORD n = GetCurrentDirectoryA(sizeof dir, dir);
  if (n == 0 || n >= sizeof dir) return -1;
#else
  if (!getcwd(dir, sizeof dir)) return -1;
#endif
  return copy_out(dir, out, cap);
}

#if defined(_WIN32)
int32_t on_sigterm_write(const char* path) {
  (void)path;
  return -1;
}
#else
static char term_marker[1024];
static void write_term_marker(int sig) {
  (void)sig;
  /* Only async-signal-safe calls here. */
  const int fd = open(term_marker, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) {
    char text[32] = "sigterm ";
    size_t n = 8;
    char digits[12];
    int k = 0;
    for (unsigned v = (unsigned)getpid(); v > 0 && k < 11; v /= 10) digits[k++] = (char)('0' + v % 10);
    while (k > 0) text[n++] = digits[--k];
    text[n++] = '\n';
    (void)!write(fd, text, n);
    close(fd);
  }
  _exit(0);
}
int32_t on_sigterm_write(const char* path) {
  if (!path || strlen(path) >= sizeof term_marker) return -1;
  strcpy(term_marker, path);
  signal(SIGTERM, write_term_marker);
  return 0;
}
#endif

int32_t wait_for_file(const char* started, const char* go, int32_t limit_ms) {
  FILE* f = fopen(started, "w");
  if (f) fclose(f);
  for (int32_t waited = 0;; waited += 5) {
    f = fopen(go, "r");
    if (f) {
      fclose(f);
      return 1;
    }
    if (waited >= limit_ms) return 0;
    sleep_ms(5);
  }
}

static char exit_marker[1024];
static void write_exit_marker(void) {
  FILE* f = fopen(exit_marker, "wb"); /* "\n" on every platform */
  if (!f) return;
  fprintf(f, "atexit %d\n", (int)getpid());
  fclose(f);
}
int32_t on_exit_write(const char* path) {
  if (!path || strlen(path) >= sizeof exit_marker) return -1;
  const int first = exit_marker[0] == '\0';
  strcpy(exit_marker, path);
  if (first) atexit(write_exit_marker);
  return 0;
}
