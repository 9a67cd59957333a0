/* The floor of a bridged call: a process that sends every frame it reads
 * straight back (4-byte little-endian length, then the payload), over the
 * socket it inherits as file descriptor FD. Built for the surrogate's
 * bitness, it measures the raw round trip between a 64-bit and a 32-bit
 * process on the same transport. `--spin`: poll for each frame for up to
 * 50 us before sleeping (the floor of low-latency mode). `--reply N`: answer
 * each frame with a frame of N payload bytes instead (a reply of a call's
 * reply size: the floor of calls whose request and reply differ in size). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int spin;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Reads exactly n bytes; 0 at the end of the stream. */
static int read_all(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t got = recv(fd, p, n, MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (spin) {
        const int64_t until = now_ns() + 50000;
        while ((got = recv(fd, p, n, MSG_DONTWAIT)) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
               now_ns() < until) {
        }
      }
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        struct pollfd pfd = {fd, POLLIN, 0};
        poll(&pfd, 1, -1);
        continue;
      }
    }
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return 0;
    p += got;
    n -= (size_t)got;
  }
  return 1;
}

static int write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t put = send(fd, p, n, MSG_NOSIGNAL);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return 0;
    p += put;
    n -= (size_t)put;
  }
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: pingpong_echo FD [--spin] [--reply N]\n");
    return 2;
  }
  const int fd = atoi(argv[1]);
  size_t reply = 0; /* 0: echo each frame */
  for (int i = 2; i < argc; ++i) {
    if (strcmp(argv[i], "--spin") == 0) {
      spin = 1;
    } else if (strcmp(argv[i], "--reply") == 0 && i + 1 < argc) {
      reply = (size_t)strtoul(argv[++i], NULL, 10);
    } else {
      fprintf(stderr, "pingpong_echo: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  size_t cap = reply > (1 << 16) ? reply : (1 << 16);
  char* buf = calloc(cap + 4, 1);
  if (!buf) return 1;
  for (;;) {
    unsigned char h[4];
    if (!read_all(fd, (char*)h, 4)) return 0;
    const size_t size = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
    if (size > cap) {
      char* grown = realloc(buf, size + 4);
      if (!grown) return 1;
      memset(grown + cap + 4, 0, size - cap);
      buf = grown;
      cap = size;
    }
    if (!read_all(fd, buf + 4, size)) return 0;
    const size_t out = reply ? reply : size;
    buf[0] = (char)(out & 0xff);
    buf[1] = (char)(out >> 8 & 0xff);
    buf[2] = (char)(out >> 16 & 0xff);
    buf[3] = (char)(out >> 24 & 0xff);
    if (!write_all(fd, buf, out + 4)) return 0;
  }
}
