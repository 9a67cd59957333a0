// clang-format off
/* The golden case's 32-bit library: only its exports matter. */
#include "unsupported.h"
int32_t lg_errno_value;
int32_t lg_set(union lg_value v) { return v.i; }
int32_t lg_flags_get(const struct lg_flags* f) { return f->mode; }
int32_t lg_sum_list(const struct lg_node* head) { return head ? head->v : 0; }
int32_t lg_printf(const char* fmt, ...) { (void)fmt; return 0; }
int32_t lg_copy(const char* in, char* out) { (void)in; (void)out; return 0; }
long double lg_precise(double x) { return x; }
int32_t* lg_buffer(void) { return &lg_errno_value; }
int32_t lg_anon_sum(const struct lg_anon* p) { return p->tag + p->pair.a + p->pair.b + p->lo + p->hi; }
int32_t lg_versioned_get(const struct lg_versioned* v) { return v->version + v->value; }
int32_t lg_fine(int32_t x) { return x; }
