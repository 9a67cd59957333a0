/* A 64-bit application written against sample-dll/sample.h alone, as it
 * would be against a native 64-bit libsample: no dllbridge include. The
 * proxy test builds it twice, linked against the native 64-bit sample
 * library and against the proxy dllbridge-gen generated (which forwards to
 * the 32-bit sample in surrogate32), and compares the two outputs line by
 * line. Each line is one check with the values it saw. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "sample.h"

#if defined(_WIN32)
#  include <windows.h>
#endif

static int cmp_asc(const int32_t* a, const int32_t* b) { return *a - *b; }
static int32_t SAMPLE_STDCALL cmp_desc_std(const int32_t* a, const int32_t* b) { return *b - *a; }
static double stat_sum(const char* label, const double* v, int32_t n) {
  double s = (double)strlen(label);
  for (int32_t i = 0; i < n; ++i) s += v[i];
  return s;
}
static struct sample_point point_cb(const char* name, const int32_t* xy, int32_t n) {
  struct sample_point p = {(int32_t)strlen(name), n > 1 ? xy[0] + xy[1] : -1};
  return p;
}
static int32_t depth_cb(int32_t depth) { return reenter(depth - 1, depth_cb) * 10; }
static int32_t triple(int32_t x) { return 3 * x; }
static void name_cb(int32_t id, char* name, int32_t cap) { snprintf(name, (size_t)cap, "item-%d", id); }

/* Text as ASCII, other code units as \uXXXX. */
static void print_wide(const char* label, const wchar_t* s) {
  printf("%s ", label);
  for (; *s; ++s) {
    if (*s < 128)
      putchar((int)*s);
    else
      printf("\\u%04x", (unsigned)*s);
  }
  putchar('\n');
}

int main(void) {
  /* scalars, cdecl */
  printf("add %d\n", add(2, 40));
  printf("neg_i8 %d inc_u8 %u neg_i16 %d inc_u16 %u inc_u32 %u\n", neg_i8(-128), inc_u8(255), neg_i16(300),
         inc_u16(65535), inc_u32(4294967295u));
  printf("mul_i64 %lld add_u64 %llu\n", (long long)mul_i64(-3000000000LL, 3),
         (unsigned long long)add_u64(1, 18446744073709551614ULL));
  printf("scale_f %.3f mix_d %.3f\n", scale_f(1.5f, 4.0f), mix_d(1, 2.5, 0.25f, 1000));
  printf("is_even %d not_b %d bool32_not %d\n", is_even(10), not_b(true), bool32_not(0));
  printf("neg_long %ld shl_ull %llu upper_c %c\n", neg_long(-77), shl_ull(1, 40), upper_c('q'));
  printf("sum8 %lld\n", (long long)sum8(-1, -2, -3, -4, 5, 6, 7, 8));
  /* text */
  printf("str_len %u count_char %d\n", (unsigned)str_len("hello"), count_char("banana", 'a'));
  printf("wstr_len %u wstr_first %d\n", (unsigned)wstr_len(L"h\u00e9llo"), wstr_first(L"\u00e9t\u00e9"));
  printf("greeting %s\n", greeting());
  print_wide("wide_greeting", wide_greeting());
  /* stdcall */
  printf("add_std %d sum_i64_std %lld mul_d_std %.3f half_f_std %.3f\n", add_std(20, 22),
         (long long)sum_i64_std(1LL << 40, -5), mul_d_std(1.5, -4), half_f_std(9));
  printf("swap_u16_std %u hash_str_std %u clamp_i8_std %d %d\n", swap_u16_std(0x1234),
         hash_str_std("dllbridge"), clamp_i8_std(1000), clamp_i8_std(-1000));
  {
    int32_t v[] = {1, 2, 3, 4, 5}, q = 0, r = 0;
    printf("sum_i32_std %d\n", sum_i32_std(v, 5));
    int32_t rc = divmod_std(47, 6, &q, &r);
    printf("divmod_std %d %d %d\n", rc, q, r);
  }
  {
    struct sample_point p = {3, 4};
    struct sample_mixed m = {'a', 2.5, -3, 1LL << 33};
    char out[8];
    printf("point_sum_std %d mixed_sum_std %.3f\n", point_sum_std(p), mixed_sum_std(m));
    int32_t n = copy_upper_std("truncate me", out, (int32_t)sizeof out);
    printf("copy_upper_std %d %s\n", n, out);
    struct sample_rect rc = {{1, 2}, {5, 7}};
    rect_grow_std(&rc, 2);
    printf("rect_grow_std %d %d %d %d\n", rc.tl.x, rc.tl.y, rc.br.x, rc.br.y);
  }
  /* buffers and out-parameters */
  {
    int32_t v[] = {10, 20, 30};
    double d[] = {0.5, 0.25, 2};
    uint16_t seq[4];
    int64_t w[] = {1, -2, 3};
    uint8_t b4[] = {1, 2, 3, 4}, bx[] = {0x0f, 0xf0, 0xff};
    printf("sum_i32 %d sum_f64 %.3f\n", sum_i32(v, 3), sum_f64(d, 3));
    fill_seq_u16(seq, 4, 65534);
    printf("fill_seq_u16 %u %u %u %u\n", seq[0], seq[1], seq[2], seq[3]);
    scale_i64(w, 3, -3);
    printf("scale_i64 %lld %lld %lld\n", (long long)w[0], (long long)w[1], (long long)w[2]);
    reverse4_u8(b4);
    xor_u8(bx, 3, 0xff);
    printf("reverse4_u8 %u %u %u %u xor_u8 %u %u %u\n", b4[0], b4[1], b4[2], b4[3], bx[0], bx[1], bx[2]);
    int32_t q = -1, r = -1;
    int32_t rc = divmod(47, 6, &q, &r);
    printf("divmod %d %d %d\n", rc, q, r);
    int32_t one = 1;
    double half = 0.5;
    printf("present %d %d %d %d\n", present(NULL, NULL), present(&one, NULL), present(NULL, &half),
           present(&one, &half));
  }
  {
    char out[32], buf[16] = "stressed";
    wchar_t wbuf[16] = L"mixed Case", wout[16];
    int32_t n = copy_upper("hello, world", out, (int32_t)sizeof out);
    printf("copy_upper %d %s\n", n, out);
    n = reverse_str(buf, (int32_t)sizeof buf);
    printf("reverse_str %d %s\n", n, buf);
    n = wide_upper(wbuf, 16);
    printf("wide_upper %d ", n);
    print_wide("", wbuf);
    n = wide_hello(wout, 16);
    printf("wide_hello %d ", n);
    print_wide("", wout);
  }
  /* structs */
  {
    struct sample_point p = {30, 12};
    struct sample_point made = point_make(-5, 9);
    struct sample_rect rc = {{1, 1}, {4, 6}};
    printf("point_sum %d point_make %d %d rect_area %d\n", point_sum(p), made.x, made.y, rect_area(&rc));
    rect_grow(&rc, 3);
    printf("rect_grow %d %d %d %d\n", rc.tl.x, rc.tl.y, rc.br.x, rc.br.y);
    struct sample_mixed m = mixed_make('z', -1.25, 300, -(1LL << 40));
    printf("mixed_make %c %.3f %d %lld mixed_sum %.3f\n", m.c, m.d, m.s, (long long)m.q, mixed_sum(m));
    struct sample_named nm;
    memset(&nm, 0, sizeof nm);
    named_fill(&nm, 5);
    printf("named_fill %s %d %d %d %d %d %d %d named_sum %d\n", nm.name, nm.vals[0], nm.vals[1], nm.vals[2],
           nm.pts[0].x, nm.pts[0].y, nm.pts[1].x, nm.pts[1].y, named_sum(&nm));
    struct sample_point pts[3] = {{1, 2}, {3, 4}, {5, 6}};
    struct sample_poly poly = {7, 3, pts};
    printf("poly_sum %d\n", poly_sum(&poly));
    poly_shift(&poly, 10);
    printf("poly_shift %d %d %d %d %d %d\n", pts[0].x, pts[0].y, pts[1].x, pts[1].y, pts[2].x, pts[2].y);
  }
  /* handles */
  {
    void* h = NULL;
    int32_t rc = obj_create(30, &h);
    printf("obj_create %d %s\n", rc, h ? "handle" : "null");
    int32_t a = obj_add(h, 5), b = obj_add(h, 7), g = obj_get(h);
    printf("obj_add %d %d obj_get %d\n", a, b, g);
    obj_destroy(h);
  }
  /* errno, state */
  {
    errno = 0;
    int32_t rc = set_errno(33);
    int e = errno;
#if defined(_WIN32) /* the DLL's GetLastError() (its CRT's errno is its own) */
    (void)e;
    DWORD le = GetLastError();
    printf("set_errno %d GetLastError %lu\n", rc, (unsigned long)le);
#else
    printf("set_errno %d errno %d\n", rc, e);
#endif
    counter_reset();
    int a = counter_next(), b = counter_next(), c = counter_next();
    printf("counter %d %d %d\n", a, b, c);
  }
  /* fastcall */
  printf("sub_fast %d mix_fast %lld\n", sub_fast(50, 8), (long long)mix_fast(1, 1LL << 35, -2));
  /* callbacks */
  {
    int32_t v[] = {5, 3, 9, 1, 7};
    int32_t calls = sort_i32(v, 5, cmp_asc);
    printf("sort_i32 %d: %d %d %d %d %d\n", calls, v[0], v[1], v[2], v[3], v[4]);
    calls = sort_i32_std(v, 5, cmp_desc_std);
    printf("sort_i32_std %d: %d %d %d %d %d\n", calls, v[0], v[1], v[2], v[3], v[4]);
    double d[] = {1, 2, 3.5};
    printf("stat_with %.3f\n", stat_with("abc", d, 3, stat_sum));
    int32_t xy[] = {40, 2};
    printf("point_with %d\n", point_with("four", xy, 2, point_cb));
    printf("reenter %d\n", reenter(3, depth_cb));
    set_value_proc(triple);
    printf("value_call %d %d\n", value_call(14), value_call(-1));
    set_value_proc(NULL);
    printf("value_call cleared %d\n", value_call(14));
    char name[32];
    int32_t n = name_via(name_cb, 42, name, (int32_t)sizeof name);
    printf("name_via %d %s\n", n, name);
    /* a function pointer in a struct: the proxy converts the struct */
    struct sample_ops ops = {triple, 10};
    printf("ops_apply %d", ops_apply(&ops, 14));
    ops.map = NULL;
    printf(" %d %d\n", ops_apply(&ops, 14), ops_apply(NULL, 1));
    /* [in, out]: the numbers come back, the function pointer stays the application's */
    struct sample_ops acc = {triple, 1};
    int32_t r1 = ops_accumulate(&acc, 2);
    int32_t r2 = ops_accumulate(&acc, 3);
    printf("ops_accumulate %d %d %d %d\n", r1, r2, acc.bias, acc.map == triple);
    /* a table of callbacks the library keeps: called in later calls */
    struct sample_handlers hs = {triple, 2};
    handlers_set(&hs);
    hs.on_value = NULL; /* the library has its own copy */
    printf("handlers_fire %d", handlers_fire(5));
    printf(" %d", handlers_fire(7));
    handlers_set(NULL);
    printf(" %d\n", handlers_fire(5));
  }
  return 0;
}
