/* A C99 program against the installed package (built with
 * `cc $(pkg-config --cflags --libs dllbridge)` by tests/c_api_package.cmake):
 * calls the 32-bit sample library through the C API. Usage: c_api_program
 * SAMPLE32. Prints "c_api_program: every check passed" and exits 0, or names
 * the first check that failed and exits 1. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dllbridge/dllbridge.h>

static dllbridge_library* lib;

static void fail(const char* what, const char* detail) {
  printf("FAIL: %s: %s\n", what, detail ? detail : "(null)");
  exit(1);
}

static dllbridge_function* declare(const char* sig) {
  dllbridge_function* f = NULL;
  if (dllbridge_declare(lib, sig, &f) != DLLBRIDGE_OK) fail(sig, dllbridge_last_error_message());
  return f;
}

/* Calls f(args) and checks the status and that the answer contains `expect`;
 * the answer, to free with dllbridge_free. */
static char* call_expect(dllbridge_function* f, const char* args, int64_t timeout_ms, dllbridge_status status,
                         const char* expect) {
  char* r = NULL;
  dllbridge_status s = dllbridge_call_json_timeout(f, args, timeout_ms, &r);
  if (s != status) {
    printf("FAIL: %s: status %s, expected %s\n", args, dllbridge_status_name(s),
           dllbridge_status_name(status));
    printf("answer: %s\n", r ? r : "(null)");
    exit(1);
  }
  if (r == NULL || strstr(r, expect) == NULL) {
    printf("FAIL: %s: the answer has no %s\n", args, expect);
    printf("answer: %s\n", r ? r : "(null)");
    exit(1);
  }
  return r;
}

static void check(dllbridge_function* f, const char* args, const char* expect) {
  dllbridge_free(call_expect(f, args, DLLBRIDGE_DEFAULT_TIMEOUT, DLLBRIDGE_OK, expect));
}

static dllbridge_function* add_fn;
static int thread_failures[4];

static void* adder(void* arg) {
  int t = *(const int*)arg;
  int i;
  for (i = 0; i < 25; ++i) {
    char args[64], expect[64];
    char* r = NULL;
    sprintf(args, "[%d, %d]", t * 1000, i);
    sprintf(expect, "\"return\":%d", t * 1000 + i);
    if (dllbridge_call_json(add_fn, args, &r) != DLLBRIDGE_OK || strstr(r, expect) == NULL)
      ++thread_failures[t];
    dllbridge_free(r);
  }
  return NULL;
}

int main(int argc, char** argv) {
  dllbridge_bridge* b = NULL;
  char* r;
  const char* h;
  char args[128];
  unsigned long long handle;
  pthread_t threads[4];
  int ids[4];
  int t;
  dllbridge_value v[2], ret;

  if (argc != 2) fail("usage", "c_api_program SAMPLE32");
  if (dllbridge_open(NULL, &b) != DLLBRIDGE_OK) fail("dllbridge_open", dllbridge_last_error_message());
  if (dllbridge_load(b, argv[1], &lib) != DLLBRIDGE_OK)
    fail("dllbridge_load", dllbridge_last_error_message());

  /* Scalars; it really is the 32-bit library. */
  add_fn = declare("int32_t add(int32_t a, int32_t b)");
  check(add_fn, "[2, 40]", "\"return\":42");
  check(declare("int32_t pointer_size(void)"), "[]", "\"return\":4");
  check(declare("double mix_d(int32_t a, double b, float c, int64_t d)"), "[1, 0.5, 0.25, 2]", "\"return\":");

  /* Text in and out. */
  check(declare("size_t str_len(const char* s)"), "[\"hello\"]", "\"return\":5");
  check(declare("int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)"),
        "[\"legacy api\", 32]", "\"out\":{\"out\":\"LEGACY API\"}");
  check(declare("const char* greeting(void)"), NULL, "\"return\":\"hello from sample\"");

  /* Buffers. */
  check(declare("int32_t sum_i32([in, size_is(n)] const int32_t* v, int32_t n)"), "[[1, 2, 3, 4], 4]",
        "\"return\":10");
  check(declare("void scale_i64([in, out, size_is(n)] int64_t* v, int32_t n, int64_t k)"),
        "[[1, -2, 3], 3, 10]", "\"v\":[10,-20,30]");

  /* A struct. */
  check(declare("struct P { int x; int y; }; struct R { struct P tl; struct P br; }; "
                "void rect_grow([in, out] struct R* r, int by)"),
        "[{\"tl\": {\"x\": 1, \"y\": 1}, \"br\": {\"x\": 4, \"y\": 5}}, 1]",
        "\"r\":{\"br\":{\"x\":5,\"y\":6},\"tl\":{\"x\":0,\"y\":0}}");

  /* A handle across calls. */
  r = call_expect(declare("int obj_create(int initial, [out] void** h)"), "[30]", DLLBRIDGE_DEFAULT_TIMEOUT,
                  DLLBRIDGE_OK, "\"h\":");
  h = strstr(r, "\"h\":") + 4;
  handle = strtoull(h, NULL, 10);
  dllbridge_free(r);
  if (handle == 0) fail("obj_create", "no handle");
  sprintf(args, "[%llu, 12]", handle);
  check(declare("int obj_add(void* h, int v)"), args, "\"return\":42");
  sprintf(args, "[%llu]", handle);
  check(declare("int obj_get(void* h)"), args, "\"return\":42");
  check(declare("void obj_destroy(void* h)"), args, "\"return\":null");

  /* errno. */
  check(declare("int32_t set_errno(int32_t value)"), "[13]", "\"last_error\":13");

  /* A crash, then a working call (a new surrogate). */
  dllbridge_free(call_expect(declare("int32_t crash_segv(void)"), "[]", DLLBRIDGE_DEFAULT_TIMEOUT,
                             DLLBRIDGE_CRASHED, "\"kind\":\"crashed\""));
  if (strlen(dllbridge_last_error_message()) == 0) fail("crash", "no message");
  check(add_fn, "[1, 2]", "\"return\":3");

  /* A timeout, then a working call. */
  dllbridge_free(call_expect(declare("int32_t hang_forever(void)"), "[]", 300, DLLBRIDGE_TIMEOUT,
                             "\"kind\":\"timeout\""));
  check(add_fn, "[20, 22]", "\"return\":42");

  /* Calls from several threads at once. */
  for (t = 0; t < 4; ++t) {
    ids[t] = t;
    if (pthread_create(&threads[t], NULL, adder, &ids[t]) != 0) fail("pthread_create", "");
  }
  for (t = 0; t < 4; ++t) pthread_join(threads[t], NULL);
  for (t = 0; t < 4; ++t)
    if (thread_failures[t] != 0) fail("threads", "a call from a thread failed or answered wrong");

  /* The typed scalar interface. */
  v[0].kind = DLLBRIDGE_VALUE_INT;
  v[0].as.i = -2;
  v[1].kind = DLLBRIDGE_VALUE_INT;
  v[1].as.i = 44;
  if (dllbridge_call_values(add_fn, v, 2, DLLBRIDGE_DEFAULT_TIMEOUT, &ret, NULL) != DLLBRIDGE_OK ||
      ret.kind != DLLBRIDGE_VALUE_INT || ret.as.i != 42)
    fail("dllbridge_call_values", dllbridge_last_error_message());

  /* Failures have their status and message. */
  if (dllbridge_call_json(add_fn, "[1,", NULL) != DLLBRIDGE_BAD_ARGUMENT)
    fail("bad JSON", "not bad_argument");
  if (strcmp(dllbridge_status_name(DLLBRIDGE_BAD_ARGUMENT), "bad_argument") != 0) fail("status name", "");

  dllbridge_close(b);
  printf("c_api_program: every check passed\n");
  return 0;
}
