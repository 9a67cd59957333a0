// clang-format off
/* The golden case's 32-bit DLL: only its exports matter. */
#include "winapi.h"
BOOL WINAPI lg_f(LPCSTR s, LPSTR out, DWORD n) { (void)s; (void)out; return n; }
HANDLE WINAPI lg_open(LPCWSTR path) { (void)path; return 0; }
DWORD WINAPI lg_size(HANDLE h, LPDWORD high) { (void)h; (void)high; return 0; }
BOOL WINAPI lg_rect(PLGRECT r) { (void)r; return 0; }
