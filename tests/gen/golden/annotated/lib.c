// clang-format off
/* The golden case's 32-bit library: only its exports matter. */
#include "annotated.h"
int32_t LG_API lg_area(const struct lg_shape* s) { return s->n; }
int32_t LG_API lg_move(struct lg_shape* s, int32_t dx, int32_t dy) { s->origin.x += dx; s->origin.y += dy; return 0; }
int32_t LG_API lg_visit_all(const struct lg_shape* s, lg_visit f, void* ctx) { return f(&s->origin, ctx); }
void lg_set_log(lg_log f) { (void)f; }
struct lg_opaque* lg_create(const char* name) { (void)name; return 0; }
void lg_destroy(struct lg_opaque* o) { (void)o; }
int32_t lg_name(struct lg_opaque* o, char* out, int32_t cap) { (void)o; (void)out; return cap; }
LG_POINT lg_mid(LG_POINT a, LG_POINT b) { LG_POINT m = {(a.x + b.x) / 2, (a.y + b.y) / 2}; return m; }
int32_t lg_hidden_impl(int32_t v) { return v; }
