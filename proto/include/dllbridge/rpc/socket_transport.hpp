// The transport over a connected Unix stream socket (POSIX), the same on
// both ends: a thread that waits for a reply, or a surrogate worker that
// waits for work, reads the socket itself (Transport::read_until), so what
// it waits for wakes no other thread first; the transport's own reading
// thread reads whenever no such thread does. See
// src/socket_transport_posix.cpp for how the reader role is handed on.
#pragma once

#include <cstdint>
#include <memory>

#include "dllbridge/rpc/transport.hpp"

namespace dllbridge::rpc {

struct SocketOptions {
  // Low-latency mode: a thread reading for what it waits for polls for a
  // short, adaptive time before it sleeps (docs/performance.md).
  bool low_latency = false;
  // When not 0: the first frame read may be at most this large (the
  // handshake's Hello; later frames up to wire::kMaxFrameSize). A larger one
  // ends the channel as a bad frame before anything is allocated for it.
  std::uint32_t first_frame_cap = 0;
};

// A transport over `fd`, a connected stream socket, which it owns from now
// on (closed with it, even when this throws). Throws std::system_error when
// the reading cannot be set up.
std::unique_ptr<Transport> socket_transport(int fd, SocketOptions options = {});

}  // namespace dllbridge::rpc
