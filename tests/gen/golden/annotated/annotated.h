// clang-format off
/* Golden case: annotations, structs (nested, typedef'd, fixed arrays,
   pointer fields), callbacks, stdcall, an opaque handle, an export under
   another name. */
#ifndef GOLDEN_ANNOTATED_H
#define GOLDEN_ANNOTATED_H
#include <stdint.h>
#if defined(__i386__)
#define LG_API __attribute__((stdcall))
#else
#define LG_API
#endif

typedef struct { int32_t x; int32_t y; } LG_POINT;
struct lg_shape {
  uint8_t kind;
  LG_POINT origin;
  int32_t n;
  LG_POINT* pts;
  char label[8];
};
struct lg_opaque;
typedef int32_t (LG_API *lg_visit)(const LG_POINT* p, void* ctx);
typedef void (*lg_log)(int32_t level, const char* text);

int32_t LG_API lg_area(const struct lg_shape* s);
int32_t LG_API lg_move(struct lg_shape* s, int32_t dx, int32_t dy);
int32_t LG_API lg_visit_all(const struct lg_shape* s, lg_visit f, void* ctx);
void lg_set_log(lg_log f);
struct lg_opaque* lg_create(const char* name);
void lg_destroy(struct lg_opaque* o);
int32_t lg_name(struct lg_opaque* o, char* out, int32_t cap);
LG_POINT lg_mid(LG_POINT a, LG_POINT b);
int32_t lg_hidden(int32_t v);
#endif
