// clang-format off
/* Golden case: SAL annotations decide the pointers (dllbridge-gen predefines
   them; a native compiler without sal.h sees them defined away below). */
#ifndef GOLDEN_SAL_H
#define GOLDEN_SAL_H
#include <stdint.h>
#ifndef _In_z_
#define _In_z_
#define _In_opt_
#define _In_reads_(s)
#define _Out_
#define _Out_writes_(s)
#define _Inout_
#define _Inout_updates_z_(s)
#define _Outptr_
#define _Ret_z_
#endif

struct lg_span { int32_t first; int32_t count; };

int lg_upper(_In_z_ const char* in, _Out_writes_(cap) char* out, int cap);
int lg_sum(_In_reads_(n) const int32_t* v, int n);
void lg_fill(_Out_writes_(4) uint16_t* out);
int lg_swap(_Inout_ struct lg_span* s);
int lg_rev(_Inout_updates_z_(cap) char* buf, int cap);
int lg_open(_In_z_ const char* path, _Outptr_ void** handle);
_Ret_z_ const char* lg_version(void);
int lg_peek(_In_opt_ const int32_t* maybe);
int lg_divmod(int a, int b, _Out_ int* q, _Out_ int* r);
int lg_twice(_In_reads_(n * 2) const int32_t* v, int n);
int lg_missing(int a);
int lg_avg(const int32_t v[4]);
int lg_label(char label[16]);
int lg_first(_In_reads_(n) const int32_t v[], int n);
int lg_unsized(const int32_t v[]);
_Bool lg_ready(_Bool force);
#endif
