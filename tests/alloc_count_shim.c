/* A counting allocator for another process (alloc_count_tests preloads it
 * into surrogate64 with LD_PRELOAD): counts every malloc, calloc, realloc
 * and aligned allocation of the process, on every thread (libstdc++'s
 * operator new and protobuf's arenas allocate through malloc, so they are
 * counted there), into the first 8 bytes of the file named by
 * DLLBRIDGE_ALLOC_COUNT_FILE, mapped shared: the test reads the count
 * while the process runs. Without that variable it counts nothing. glibc
 * only (it forwards to glibc's own __libc_* functions). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);

static uint64_t* counter; /* null until the file is mapped */

static void count(void) {
  if (counter) __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void map_counter(void) {
  const char* path = getenv("DLLBRIDGE_ALLOC_COUNT_FILE");
  if (!path || !*path) return;
  const int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  void* p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p != MAP_FAILED) counter = (uint64_t*)p;
}

void* malloc(size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) {
  count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
  count();
  return __libc_realloc(p, n);
}
void* memalign(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}
void* aligned_alloc(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
  count();
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return 22; /* EINVAL */
  void* p = __libc_memalign(align, n);
  if (!p) return 12; /* ENOMEM */
  *out = p;
  return 0;
}
