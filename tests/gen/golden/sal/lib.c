// clang-format off
/* The golden case's 32-bit library: only its exports matter. */
#include "sal.h"
int lg_upper(const char* in, char* out, int cap) { (void)in; (void)out; return cap; }
int lg_sum(const int32_t* v, int n) { (void)v; return n; }
void lg_fill(uint16_t* out) { (void)out; }
int lg_swap(struct lg_span* s) { (void)s; return 0; }
int lg_rev(char* buf, int cap) { (void)buf; return cap; }
int lg_open(const char* path, void** handle) { (void)path; (void)handle; return 0; }
const char* lg_version(void) { return "1.0"; }
int lg_peek(const int32_t* maybe) { return maybe != 0; }
int lg_divmod(int a, int b, int* q, int* r) { *q = a / b; *r = a % b; return 0; }
int lg_twice(const int32_t* v, int n) { (void)v; return n; }
int lg_avg(const int32_t v[4]) { return v[0]; }
int lg_label(char label[16]) { return label[0]; }
int lg_first(const int32_t v[], int n) { return n ? v[0] : 0; }
int lg_unsized(const int32_t v[]) { return v[0]; }
_Bool lg_ready(_Bool force) { return !force; }
