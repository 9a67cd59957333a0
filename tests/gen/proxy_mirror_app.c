/* proxy_mirror.h's functions from an application that knows only the header. */
#include <stdio.h>

#include "proxy_mirror.h"

int main(void) {
  struct mr_item it = {0};
  it.tag = 1;
  it.lo = 2;
  it.hi = 3;
  it.pair.a = 4;
  it.pair.b = 5;
  it.n = -6;
  it.z = 7;
  printf("mr_sum %lld\n", (long long)mr_sum(&it));
  mr_scale(&it, 3);
  printf("mr_scale %d %d %d %d %d %ld %u %s\n", it.tag, it.lo, it.hi, it.pair.a, it.pair.b, it.n,
         (unsigned)it.z, it.h ? "h" : "null");
  struct mr_item made = mr_make(10, -1, 1, 100);
  printf("mr_make %d %d %d %d %d %ld %u %s\n", made.tag, made.lo, made.hi, made.pair.a, made.pair.b, made.n,
         (unsigned)made.z, made.h ? "h" : "null");
  struct mr_list l = {2, {it, made}};
  printf("mr_list_sum %lld\n", (long long)mr_list_sum(l));
  const unsigned char bytes[] = {1, 2, 250};
  printf("mr_bytes %d\n", mr_bytes(bytes, 3));
  return 0;
}
