/* The floor of a bridged call on Windows: a synchronous named-pipe ping-pong
 * between this process and a process of the surrogate's bitness.
 *
 *   pipe_pingpong64.exe PEER N [SIZE [REPLY]]
 *       creates a pipe, starts PEER (e.g. pipe_pingpong32.exe) as its echo,
 *       sends N frames of SIZE payload bytes and reads a frame of REPLY
 *       payload bytes back each time (defaults 16 and 20: a trivial call's
 *       request and reply, as overhead_bench measures them), then
 *       prints {"calls":N,"latency_us":{"p50":..,"p90":..,"p99":..,"max":..}}
 *       (the shape of dllbridge-call --json --repeat's percentiles).
 *   pipe_pingpong32.exe --echo PIPE REPLY
 *       the echo: answers each frame (4-byte little-endian length, payload)
 *       with a frame of REPLY payload bytes (0: the frame itself).
 * Both ends use blocking ReadFile / WriteFile on a byte-mode pipe, as a
 * synchronous client and surrogate would. */
#include <windows.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads exactly n bytes; 0 at the end of the stream. */
static int read_all(HANDLE h, char* p, DWORD n) {
  while (n > 0) {
    DWORD got = 0;
    if (!ReadFile(h, p, n, &got, NULL) || got == 0) return 0;
    p += got;
    n -= got;
  }
  return 1;
}

static int write_all(HANDLE h, const char* p, DWORD n) {
  while (n > 0) {
    DWORD put = 0;
    if (!WriteFile(h, p, n, &put, NULL) || put == 0) return 0;
    p += put;
    n -= put;
  }
  return 1;
}

static void put_size(char* h, DWORD size) {
  h[0] = (char)(size & 0xff);
  h[1] = (char)(size >> 8 & 0xff);
  h[2] = (char)(size >> 16 & 0xff);
  h[3] = (char)(size >> 24 & 0xff);
}

static int echo(const char* name, DWORD reply) {
  HANDLE h = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
  if (h == INVALID_HANDLE_VALUE) return 1;
  DWORD cap = reply > 65536 ? reply : 65536;
  char* buf = calloc(cap + 4, 1);
  if (!buf) return 1;
  for (;;) {
    unsigned char head[4];
    if (!read_all(h, (char*)head, 4)) break;
    const DWORD size = (DWORD)head[0] | (DWORD)head[1] << 8 | (DWORD)head[2] << 16 | (DWORD)head[3] << 24;
    if (size > cap) {
      char* grown = realloc(buf, (size_t)size + 4);
      if (!grown) return 1;
      memset(grown + cap + 4, 0, size - cap);
      buf = grown;
      cap = size;
    }
    if (!read_all(h, buf + 4, size)) break;
    const DWORD out = reply ? reply : size;
    put_size(buf, out);
    if (!write_all(h, buf, out + 4)) break;
  }
  CloseHandle(h);
  free(buf);
  return 0;
}

static int cmp_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static int ping(const char* peer, long n, DWORD size, DWORD reply) {
  char name[128];
  snprintf(name, sizeof name, "\\\\.\\pipe\\dllbridge-pingpong-%lu", GetCurrentProcessId());
  HANDLE h = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE,
                              PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1,
                              65536, 65536, 0, NULL);
  if (h == INVALID_HANDLE_VALUE) {
    fprintf(stderr, "pipe_pingpong: CreateNamedPipe failed (%lu)\n", GetLastError());
    return 1;
  }
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "\"%s\" --echo %s %lu", peer, name, (unsigned long)reply);
  STARTUPINFOA si;
  PROCESS_INFORMATION pi;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
    fprintf(stderr, "pipe_pingpong: cannot start %s (%lu)\n", peer, GetLastError());
    return 1;
  }
  if (!ConnectNamedPipe(h, NULL) && GetLastError() != ERROR_PIPE_CONNECTED) {
    fprintf(stderr, "pipe_pingpong: ConnectNamedPipe failed (%lu)\n", GetLastError());
    return 1;
  }
  char* out = calloc((size_t)size + 4, 1);
  char* back = calloc((size_t)reply + 4, 1);
  double* us = calloc((size_t)n, sizeof(double));
  if (!out || !back || !us) return 1;
  put_size(out, size);
  LARGE_INTEGER freq, t0, t1;
  QueryPerformanceFrequency(&freq);
  for (long i = 0; i < n; ++i) {
    QueryPerformanceCounter(&t0);
    if (!write_all(h, out, size + 4) || !read_all(h, back, reply + 4)) {
      fprintf(stderr, "pipe_pingpong: the echo went away\n");
      return 1;
    }
    QueryPerformanceCounter(&t1);
    us[i] = (double)(t1.QuadPart - t0.QuadPart) * 1e6 / (double)freq.QuadPart;
  }
  CloseHandle(h); /* the echo reads the end of the stream and exits */
  WaitForSingleObject(pi.hProcess, 10000);
  CloseHandle(pi.hProcess);
  CloseHandle(pi.hThread);
  qsort(us, (size_t)n, sizeof(double), cmp_double);
  printf("{\"calls\":%ld,\"latency_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}}\n", n,
         us[n / 2], us[n * 9 / 10], us[n * 99 / 100], us[n - 1]);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "--echo") == 0) return echo(argv[2], (DWORD)strtoul(argv[3], NULL, 10));
  if (argc >= 3 && argc <= 5) {
    const long n = strtol(argv[2], NULL, 10);
    const DWORD size = argc > 3 ? (DWORD)strtoul(argv[3], NULL, 10) : 16;
    const DWORD reply = argc > 4 ? (DWORD)strtoul(argv[4], NULL, 10) : 20;
    if (n > 0 && size > 0 && reply > 0) return ping(argv[1], n, size, reply);
  }
  fprintf(stderr, "usage: pipe_pingpong PEER N [SIZE [REPLY]] | pipe_pingpong --echo PIPE REPLY\n");
  return 2;
}
