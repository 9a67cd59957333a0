// Passing descriptors over a Unix stream socket (SCM_RIGHTS), POSIX only:
// the shared region's memfd goes from the client to the surrogate with the
// Hello this way (docs/architecture.md, "The shared region").
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace dllbridge::rpc {

// sendmsg of `size` bytes at `data` on socket `sock` with descriptor `fd`
// attached to the first byte; `flags` as for send (MSG_NOSIGNAL is added).
// Returns what sendmsg returns (errno set on -1).
ssize_t send_with_fd(int sock, const void* data, std::size_t size, int fd, int flags = 0);

// recvmsg of at most `size` bytes into `dst` from `sock` (`flags` as for
// recv); each descriptor that came with them (close-on-exec) is handed to
// `keep(context, fd)`, which owns it from then on. Returns what recvmsg
// returns (errno set on -1).
ssize_t receive_with_fds(int sock, void* dst, std::size_t size, int flags,
                         void (*keep)(void* context, int fd), void* context);

}  // namespace dllbridge::rpc
