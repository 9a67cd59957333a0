/* The floor of a bridged call: a process that sends every frame it reads
 * straight back (4-byte little-endian length, then the payload), over the
 * socket it inherits as file descriptor FD. Built for the surrogate's
 * bitness, it measures the raw round trip between a 64-bit and a 32-bit
 * process on the same transport. `--spin`: poll for each frame for up to
 * 50 us before sleeping (the floor of low-latency mode). `--reply N`: answer
 * each frame with a frame of N payload bytes instead (a reply of a call's
 * reply size: the floor of calls whose request and reply differ in size).
 *
 * `--shm futex|eventfd`: the frames cross through shared memory instead
 * (the floor of a transport that does not carry frames over the socket): a
 * shared page inherited as descriptor 4 holds one slot per direction (a
 * sequence number, a length, the bytes; shm_slot below), and the side that
 * waits sleeps on a futex on the sequence number (`futex`), or in poll on
 * an eventfd its peer writes (`eventfd`: descriptors 5, ours, and 6, the
 * peer's), so that it could watch the socket too. The socket only ends it. */
#include <errno.h>
#include <signal.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int spin;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* What has been read and not yet answered: frames are read as the surrogate
 * reads them, as much as the socket holds in one recv (a frame that arrived
 * whole costs one system call, not one for its header and one for the rest). */
static char* in;
static size_t in_have, in_cap;

/* Makes in_cap at least n; 0 when out of memory. */
static int reserve(size_t n) {
  if (n <= in_cap) return 1;
  char* grown = realloc(in, n);
  if (!grown) return 0;
  in = grown;
  in_cap = n;
  return 1;
}

/* Reads until at least n bytes are buffered; 0 at the end of the stream. */
static int fill(int fd, size_t n) {
  while (in_have < n) {
    ssize_t got = recv(fd, in + in_have, in_cap - in_have, MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (spin) {
        const int64_t until = now_ns() + 50000;
        while ((got = recv(fd, in + in_have, in_cap - in_have, MSG_DONTWAIT)) < 0 &&
               (errno == EAGAIN || errno == EWOULDBLOCK) && now_ns() < until) {
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
    in_have += (size_t)got;
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

/* One direction of --shm: the bench writes the request slot (offset 0), the
 * echo the reply slot (offset 2048). The same layout in both bitnesses. */
struct shm_slot {
  _Atomic uint32_t seq; /* bumped once the bytes are there */
  uint32_t size;
  char bytes[2040];
};
_Static_assert(sizeof(struct shm_slot) == 2048, "the same layout in both bitnesses");

static void futex_wait(_Atomic uint32_t* word, uint32_t seen) {
  syscall(SYS_futex, (uint32_t*)word, FUTEX_WAIT, seen, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t* word) {
  syscall(SYS_futex, (uint32_t*)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* --shm: echoes each request slot into the reply slot until the socket ends. */
static int shm_echo(int fd, int use_eventfd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* a futex waiter sees no end of the socket */
  if (getppid() == 1) return 0;     /* the bench was gone before that */
  char* page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 4, 0);
  if (page == MAP_FAILED) {
    perror("pingpong_echo: mmap");
    return 1;
  }
  struct shm_slot* req = (struct shm_slot*)page;
  struct shm_slot* rep = (struct shm_slot*)(page + 2048);
  uint32_t seen = 0;
  for (;;) {
    uint32_t now;
    while ((now = atomic_load_explicit(&req->seq, memory_order_acquire)) == seen) {
      if (use_eventfd) {
        struct pollfd pfd[2] = {{5, POLLIN, 0}, {fd, POLLIN, 0}};
        poll(pfd, 2, -1);
        if (pfd[1].revents) return 0; /* the bench closed its end */
        uint64_t count;
        if (read(5, &count, sizeof count) < 0 && errno != EAGAIN) return 1;
      } else {
        futex_wait(&req->seq, seen);
      }
    }
    if (now == UINT32_MAX) return 0; /* the bench's last frame */
    seen = now;
    rep->size = req->size <= sizeof rep->bytes ? req->size : (uint32_t)sizeof rep->bytes;
    memcpy(rep->bytes, req->bytes, rep->size);
    atomic_store_explicit(&rep->seq, now, memory_order_release);
    if (use_eventfd) {
      const uint64_t one = 1;
      if (write(6, &one, sizeof one) < 0) return 1;
    } else {
      futex_wake(&rep->seq);
    }
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: pingpong_echo FD [--spin] [--reply N] [--shm futex|eventfd]\n");
    return 2;
  }
  const int fd = atoi(argv[1]);
  size_t reply = 0; /* 0: echo each frame */
  for (int i = 2; i < argc; ++i) {
    if (strcmp(argv[i], "--spin") == 0) {
      spin = 1;
    } else if (strcmp(argv[i], "--shm") == 0 && i + 1 < argc) {
      ++i;
      if (strcmp(argv[i], "futex") != 0 && strcmp(argv[i], "eventfd") != 0) {
        fprintf(stderr, "pingpong_echo: --shm takes futex or eventfd, not %s\n", argv[i]);
        return 2;
      }
      return shm_echo(fd, strcmp(argv[i], "eventfd") == 0);
    } else if (strcmp(argv[i], "--reply") == 0 && i + 1 < argc) {
      reply = (size_t)strtoul(argv[++i], NULL, 10);
    } else {
      fprintf(stderr, "pingpong_echo: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  char* out_buf = NULL; /* --reply: the answer, zeroes after its header */
  if (reply) {
    out_buf = calloc(reply + 4, 1);
    if (!out_buf) return 1;
    out_buf[0] = (char)(reply & 0xff);
    out_buf[1] = (char)(reply >> 8 & 0xff);
    out_buf[2] = (char)(reply >> 16 & 0xff);
    out_buf[3] = (char)(reply >> 24 & 0xff);
  }
  if (!reserve(1 << 16)) return 1;
  for (;;) {
    if (!fill(fd, 4)) return 0;
    const unsigned char* h = (const unsigned char*)in;
    const size_t size = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
    if (!reserve(size + 4) || !fill(fd, size + 4)) return 0;
    /* An echo sends the frame back as it came, header and all. */
    if (!(reply ? write_all(fd, out_buf, reply + 4) : write_all(fd, in, size + 4))) return 0;
    in_have -= size + 4;
    memmove(in, in + size + 4, in_have);
  }
}
