/* The library of proxy_mirror.h, built 64-bit (native) and 32-bit (behind the proxy). */
#include "proxy_mirror.h"

int64_t mr_sum(const struct mr_item* it) {
  return it->tag + it->lo + it->hi + it->pair.a + it->pair.b + (int64_t)it->n + (int64_t)it->z +
         (it->h ? 1000 : 0);
}

void mr_scale(struct mr_item* it, int32_t k) {
  it->tag *= k;
  it->lo = (int16_t)(it->lo * k);
  it->hi = (int16_t)(it->hi * k);
  it->pair.a *= k;
  it->pair.b *= k;
  it->n *= k;
  it->z *= (size_t)k;
}

struct mr_item mr_make(int32_t tag, int16_t lo, int16_t hi, long n) {
  struct mr_item it = {0};
  it.tag = tag;
  it.lo = lo;
  it.hi = hi;
  it.pair.a = tag + 1;
  it.pair.b = tag + 2;
  it.n = n;
  it.z = (size_t)(n * 2);
  return it;
}

int64_t mr_list_sum(struct mr_list l) {
  int64_t s = 0;
  for (int32_t i = 0; i < l.count && i < 2; ++i) s += mr_sum(&l.items[i]);
  return s;
}

int32_t mr_bytes(const void* data, int32_t n) {
  const uint8_t* p = (const uint8_t*)data;
  int32_t s = 0;
  for (int32_t i = 0; i < n; ++i) s += p[i];
  return s;
}
