// clang-format off
/* Golden case (Windows): a header on windows.h, with its SAL, WINAPI and typedefs. */
#include <windows.h>
BOOL WINAPI lg_f(_In_ LPCSTR s, _Out_writes_(n) LPSTR out, DWORD n);
HANDLE WINAPI lg_open(LPCWSTR path);
DWORD WINAPI lg_size(HANDLE h, _Out_opt_ LPDWORD high);
typedef struct tagLGRECT { LONG left, top, right, bottom; } LGRECT, *PLGRECT;
BOOL WINAPI lg_rect(_Inout_ PLGRECT r);
