/* Structs the typed API cannot describe as the application declares them:
 * anonymous members, a named member of an unnamed type, and fields whose
 * size differs between the 64-bit application and the 32-bit library
 * (long on Linux, size_t, void*). The proxy describes them through mirror
 * structs; gen_proxy runs proxy_mirror_app.c against both libraries. */
#ifndef DLLBRIDGE_PROXY_MIRROR_H
#define DLLBRIDGE_PROXY_MIRROR_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mr_item {
  int32_t tag;
  struct {
    int16_t lo;
    int16_t hi;
  };
  struct {
    int32_t a;
    int32_t b;
  } pair;
  long n;
  size_t z;
  void* h;
};

struct mr_list {
  int32_t count;
  struct mr_item items[2];
};

/* tag + lo + hi + pair.a + pair.b + n + z (+1000 when h is not NULL) */
int64_t mr_sum(const struct mr_item* it);
/* Every number of `it` times k; h kept. */
void mr_scale(struct mr_item* it, int32_t k);
/* An item from its numbers, h NULL. */
struct mr_item mr_make(int32_t tag, int16_t lo, int16_t hi, long n);
/* The sums of the list's items. */
int64_t mr_list_sum(struct mr_list l);
/* The sum of n bytes (a void* buffer: proxy_mirror.annotations gives its meaning). */
int32_t mr_bytes(const void* data, int32_t n);

#ifdef __cplusplus
}
#endif
#endif
