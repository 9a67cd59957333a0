/* The proxy's failure path, seen from an application: `proxy_fail missing`
 * (run with DLLBRIDGE_SAMPLE_LIBRARY naming a file that does not exist) and
 * `proxy_fail crash` and `proxy_fail timeout` (DLLBRIDGE_SAMPLE_TIMEOUT_MS set) print the failure value, the
 * last-error code, the proxy's error text and what the error handler saw, then show that the next call works
 * (crash) or fails the same way (missing). Linked against the generated proxy only: the two exports below are
 * the proxy's own. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sample.h"

#if defined(_WIN32)
#  include <windows.h>
#  define LAST_ERROR() ((long)GetLastError())
#else
#  define LAST_ERROR() ((long)errno)
#endif

const char* sample_bridge_last_error(void);
void sample_bridge_set_error_handler(void (*h)(int kind, int code, const char* message,
                                               const char* function));

static int handled, handled_kind, handled_code;
static char handled_function[64];
static void on_error(int kind, int code, const char* message, const char* function) {
  (void)message;
  ++handled;
  handled_kind = kind;
  handled_code = code;
  snprintf(handled_function, sizeof handled_function, "%s", function);
}

/* `proxy_fail threads`: the first calls of the process come from 8 threads
 * at once (the proxy starts its bridge once), each checking 50 results. */
enum { kThreads = 8, kCalls = 50 };
static void* adder(void* arg) {
  int32_t base = (int32_t)(intptr_t)arg, good = 0;
  for (int32_t i = 0; i < kCalls; ++i) good += add(base, i) == base + i;
  return (void*)(intptr_t)good;
}
static int run_threads(void) {
  pthread_t t[kThreads];
  int32_t good = 0;
  for (int i = 0; i < kThreads; ++i) pthread_create(&t[i], NULL, adder, (void*)(intptr_t)(1000 * i));
  for (int i = 0; i < kThreads; ++i) {
    void* r = NULL;
    pthread_join(t[i], &r);
    good += (int32_t)(intptr_t)r;
  }
  printf("threads %d calls %d right %d text %s\n", kThreads, kThreads * kCalls, good,
         *sample_bridge_last_error() ? sample_bridge_last_error() : "-");
  return 0;
}

/* The text, or "-" when empty; flags whether `word` is in it. */
static void print_text(const char* word) {
  const char* t = sample_bridge_last_error();
  printf("text-has-%s %d text %s\n", word, t != NULL && strstr(t, word) != NULL, t && *t ? t : "-");
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  sample_bridge_set_error_handler(on_error);
  printf("before: text %s\n", *sample_bridge_last_error() ? sample_bridge_last_error() : "-");
  if (strcmp(argv[1], "missing") == 0) {
    int32_t r = add(2, 40);
    long code = LAST_ERROR();
    printf("add %d code %ld\n", r, code);
    print_text("no-such-libsample");
    printf("handler %d kind %d code %d function %s\n", handled, handled_kind, handled_code, handled_function);
    const char* g = greeting();
    printf("greeting %s code %ld handler %d\n", g ? g : "NULL", LAST_ERROR(), handled);
    struct sample_point p = point_make(3, 4);
    printf("point_make %d %d\n", p.x, p.y);
    return 0;
  }
  if (strcmp(argv[1], "crash") == 0) {
    printf("add %d pointer_size %d\n", add(2, 40), pointer_size()); /* the 32-bit library answers */
    int32_t r = crash_segv();
    long code = LAST_ERROR();
    printf("crash_segv %d code %ld\n", r, code);
    print_text("crash_segv:");
    printf("handler %d kind %d code %d function %s\n", handled, handled_kind, handled_code, handled_function);
    printf("after: add %d handler %d\n", add(2, 40), handled);
    return 0;
  }
  if (strcmp(argv[1], "threads") == 0) return run_threads();
  if (strcmp(argv[1], "timeout") == 0) { /* run with DLLBRIDGE_SAMPLE_TIMEOUT_MS set */
    printf("add %d\n", add(2, 40));
    int32_t r = hang_forever();
    long code = LAST_ERROR();
    printf("hang_forever %d code %ld\n", r, code);
    print_text("hang_forever:");
    printf("handler %d kind %d code %d function %s\n", handled, handled_kind, handled_code, handled_function);
    printf("after: add %d handler %d\n", add(2, 40), handled);
    return 0;
  }
  return 2;
}
