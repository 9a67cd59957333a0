// The transport over a connected Unix stream socket (POSIX), the same on
// both ends: a thread that waits for a reply, or a surrogate worker that
// waits for work, reads the socket itself (Transport::read_until), so what
// it waits for wakes no other thread first; the transport's own reading
// thread reads whenever no such thread does. See
// src/socket_transport_posix.cpp for how the reader role is handed on.
#pragma once

#include <memory>

#include "dllbridge/rpc/transport.hpp"

namespace dllbridge::rpc {

struct SocketOptions {
  // Low-latency mode: a thread reading for what it waits for polls for a
  // short, adaptive time before it sleeps (docs/performance.md).
  bool low_latency = false;
};

// A transport over `fd`, a connected stream socket, which it owns from now
// on (closed with it, even when this throws). Throws std::system_error when
// the reading cannot be set up.
std::unique_ptr<Transport> socket_transport(int fd, SocketOptions options = {});

}  // namespace dllbridge::rpc
