/* Exports that call function pointers back: during the call (a sort, an
 * enumerator, text and buffers in and a struct or a double back, re-entry)
 * and after it (handlers the library keeps and calls, from its own threads
 * too). */
#include "sample.h"

#include <stddef.h>
#include <string.h>
#if defined(_WIN32)
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#else
#  include <pthread.h>
#endif

/* One comparator of either convention (they differ on i386 only). */
struct cmp_ref {
  sample_cmp cdecl_fn;
  sample_cmp_std std_fn;
};

static int32_t compare(const struct cmp_ref* c, const int32_t* a, const int32_t* b) {
  return c->cdecl_fn ? c->cdecl_fn(a, b) : c->std_fn(a, b);
}

/* Stable insertion sort: element i is placed by comparing it with the ones
 * before it, right to left, while they are greater. */
static int32_t insertion_sort(int32_t* v, int32_t n, const struct cmp_ref* c) {
  int32_t calls = 0;
  if (!v || n < 0) return -1;
  for (int32_t i = 1; i < n; ++i) {
    const int32_t x = v[i];
    int32_t j = i;
    while (j > 0) {
      ++calls;
      if (compare(c, &v[j - 1], &x) <= 0) break;
      v[j] = v[j - 1];
      --j;
    }
    v[j] = x;
  }
  return calls;
}

int32_t sort_i32(int32_t* v, int32_t n, sample_cmp cmp) {
  struct cmp_ref c = {cmp, NULL};
  return cmp ? insertion_sort(v, n, &c) : -1;
}

int32_t SAMPLE_STDCALL sort_i32_std(int32_t* v, int32_t n, sample_cmp_std cmp) {
  struct cmp_ref c = {NULL, cmp};
  return cmp ? insertion_sort(v, n, &c) : -1;
}

int32_t SAMPLE_STDCALL enum_items(int32_t count, sample_enum_proc proc, void* ctx) {
  int32_t calls = 0;
  if (!proc) return -1;
  for (int32_t i = 0; i < count; ++i) {
    ++calls;
    if (!proc(i, ctx)) break;
  }
  return calls;
}

double stat_with(const char* label, const double* v, int32_t n, sample_stat_proc f) {
  return f ? f(label, v, n) * 2.0 : -1.0;
}

int32_t point_with(const char* name, const int32_t* xy, int32_t n, sample_point_proc f) {
  struct sample_point p;
  if (!f) return -1;
  p = f(name, xy, n);
  return p.x * 1000 + p.y;
}

int32_t reenter(int32_t depth, sample_depth_proc f) {
  if (!f) return -1;
  return depth <= 0 ? 0 : f(depth) + 1;
}

/* ---- the kept handlers and the library's threads ---- */

#define SAMPLE_MAX_EVENT_THREADS 16

struct event_thread {
  int32_t source;
  int32_t n;
  sample_event_proc handler; /* as it was when events_start was called */
  void* ctx;
  int32_t calls; /* read once the thread is joined */
#if defined(_WIN32)
  HANDLE handle;
  DWORD id;
#else
  pthread_t thread;
#endif
};

/* All of it guarded by the lock, which is never held while a handler runs
 * or while threads are joined. */
static struct {
  sample_event_proc handler;
  void* ctx;
  sample_value_proc value_proc;
  struct sample_handlers handlers; /* handlers_set's copy */
  int32_t have_handlers;
  int32_t running; /* threads of the last events_start, until events_wait took them */
  int32_t joining; /* an events_wait is joining them */
  struct event_thread threads[SAMPLE_MAX_EVENT_THREADS];
} kept;

static void run_events(struct event_thread* t) {
  for (int32_t seq = 0; t->handler && seq < t->n; ++seq) {
    t->handler(t->source, seq, t->ctx);
    ++t->calls;
  }
}

#if defined(_WIN32)
static SRWLOCK kept_lock = SRWLOCK_INIT;
static void kept_acquire(void) { AcquireSRWLockExclusive(&kept_lock); }
static void kept_release(void) { ReleaseSRWLockExclusive(&kept_lock); }

static DWORD WINAPI event_thread_main(LPVOID arg) {
  run_events((struct event_thread*)arg);
  return 0;
}
static int start_thread(struct event_thread* t) {
  t->handle = CreateThread(NULL, 0, event_thread_main, t, 0, &t->id);
  return t->handle != NULL;
}
static void join_thread(struct event_thread* t) {
  WaitForSingleObject(t->handle, INFINITE);
  CloseHandle(t->handle);
  t->handle = NULL;
}
static int is_current_thread(const struct event_thread* t) { return t->id == GetCurrentThreadId(); }
#else
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static void kept_acquire(void) { pthread_mutex_lock(&kept_lock); }
static void kept_release(void) { pthread_mutex_unlock(&kept_lock); }

static void* event_thread_main(void* arg) {
  run_events((struct event_thread*)arg);
  return NULL;
}
static int start_thread(struct event_thread* t) {
  return pthread_create(&t->thread, NULL, event_thread_main, t) == 0;
}
static void join_thread(struct event_thread* t) { pthread_join(t->thread, NULL); }
static int is_current_thread(const struct event_thread* t) {
  return pthread_equal(t->thread, pthread_self());
}
#endif

void set_event_handler(sample_event_proc f, void* ctx) {
  kept_acquire();
  kept.handler = f;
  kept.ctx = f ? ctx : NULL;
  kept_release();
}

int32_t events_start(int32_t threads, int32_t n) {
  int32_t started = 0;
  if (threads < 1 || threads > SAMPLE_MAX_EVENT_THREADS || n < 0) return -1;
  kept_acquire();
  if (kept.running > 0 || kept.joining) {
    kept_release();
    return -1;
  }
  for (; started < threads; ++started) {
    struct event_thread* t = &kept.threads[started];
    t->source = started;
    t->n = n;
    t->handler = kept.handler;
    t->ctx = kept.ctx;
    t->calls = 0;
    if (!start_thread(t)) break;
  }
  if (started < threads) {
    /* Not all of them: none counts as started. The ones that run end on
     * their own (n calls at most); they are joined here, with the lock
     * given up so that their handlers may call in. */
    kept.joining = 1;
    kept_release();
    for (int32_t i = 0; i < started; ++i) join_thread(&kept.threads[i]);
    kept_acquire();
    kept.joining = 0;
    kept_release();
    return -1;
  }
  kept.running = threads;
  kept_release();
  return 0;
}

int32_t events_wait(void) {
  int32_t count;
  int32_t calls = 0;
  kept_acquire();
  count = kept.running;
  for (int32_t i = 0; i < count; ++i) {
    if (is_current_thread(&kept.threads[i])) {
      kept_release();
      return -1;
    }
  }
  if (count == 0 || kept.joining) {
    kept_release();
    return 0;
  }
  kept.joining = 1;
  kept_release();
  for (int32_t i = 0; i < count; ++i) {
    join_thread(&kept.threads[i]);
    calls += kept.threads[i].calls;
  }
  kept_acquire();
  kept.running = 0;
  kept.joining = 0;
  kept_release();
  return calls;
}

int32_t event_fire(int32_t seq) {
  sample_event_proc f;
  void* ctx;
  kept_acquire();
  f = kept.handler;
  ctx = kept.ctx;
  kept_release();
  if (!f) return 0;
  f(-1, seq, ctx);
  return 1;
}

void set_value_proc(sample_value_proc f) {
  kept_acquire();
  kept.value_proc = f;
  kept_release();
}

int32_t value_call(int32_t x) {
  sample_value_proc f;
  kept_acquire();
  f = kept.value_proc;
  kept_release();
  return f ? f(x) : -1;
}

/* ---- [out] callback parameters: the library lends its buffer ---- */

int32_t read_all(sample_read_proc f, void* ctx, uint8_t* out, int32_t cap, int32_t chunk) {
  int32_t got = 0;
  if (f == NULL || out == NULL || cap < 0) return -1;
  while (got < cap) {
    const int32_t room = cap - got;
    const int32_t ask = chunk > 0 && chunk < room ? chunk : room;
    const int32_t n = f(ctx, out + got, ask);
    if (n < 0) return n;
    if (n == 0) break;
    got += n > ask ? ask : n;
  }
  return got;
}

int32_t name_via(sample_name_proc f, int32_t id, char* out, int32_t cap) {
  char name[16];
  int32_t len = 0;
  if (f == NULL || out == NULL || cap <= 0) return -1;
  memset(name, 'X', sizeof name); /* what the callback does not overwrite shows */
  f(id, name, (int32_t)sizeof name);
  name[sizeof name - 1] = '\0';
  while (name[len] != '\0' && len < cap - 1) {
    out[len] = name[len];
    ++len;
  }
  out[len] = '\0';
  return len;
}

/* ---- a function pointer in a struct (an SDK's table of callbacks) ---- */

int32_t ops_apply(const struct sample_ops* ops, int32_t x) {
  if (ops == NULL || ops->map == NULL) return -1;
  return ops->map(x) + ops->bias;
}

int32_t ops_accumulate(struct sample_ops* ops, int32_t x) {
  if (ops == NULL || ops->map == NULL) return -1;
  ops->bias += ops->map(x);
  return ops->bias;
}

void handlers_set(const struct sample_handlers* h) {
  kept_acquire();
  kept.have_handlers = h != NULL;
  if (h) kept.handlers = *h;
  kept_release();
}

int32_t handlers_fire(int32_t x) {
  struct sample_handlers h;
  int32_t have;
  kept_acquire();
  h = kept.handlers;
  have = kept.have_handlers;
  kept_release();
  if (!have || h.on_value == NULL) return -1;
  return h.on_value(x) * h.scale;
}
