// clang-format off
/* Golden case: what the generator does not handle is reported, and the
   functions that need it are left out; anonymous members are handled. */
#ifndef GOLDEN_UNSUPPORTED_H
#define GOLDEN_UNSUPPORTED_H
#include <stdint.h>

union lg_value { int32_t i; float f; };
struct lg_flags { uint32_t ready : 1; uint32_t mode : 3; };
struct lg_node { int32_t v; struct lg_node* next; };
struct lg_anon {
  int32_t tag;
  struct { int32_t a; int32_t b; } pair;
  struct { int16_t lo; int16_t hi; };
};
struct lg_versioned { const int32_t version; int32_t value; };
extern int32_t lg_errno_value;

int32_t lg_set(union lg_value v);
int32_t lg_flags_get(const struct lg_flags* f);
int32_t lg_sum_list(const struct lg_node* head);
int32_t lg_printf(const char* fmt, ...);
int32_t lg_copy(const char* in, char* out);
long double lg_precise(double x);
int32_t* lg_buffer(void);
int32_t lg_anon_sum(const struct lg_anon* p);
int32_t lg_versioned_get(const struct lg_versioned* v);
int32_t lg_fine(int32_t x);
#endif
