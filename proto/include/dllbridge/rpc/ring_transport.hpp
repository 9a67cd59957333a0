// Frames through shared memory (Linux): the transport a client and the
// surrogate it started use when both can. Each direction is a ring of bytes
// in one memfd the client creates and passes over their socket; a side that
// waits for bytes (or for room) sleeps on a futex in the same memory. The
// socket stays, for what only it can do: passing descriptors, and telling
// each side that the other is gone (a process that dies closes it). See
// src/ring_transport_posix.cpp and docs/architecture.md ("Frames through
// shared memory").
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "dllbridge/rpc/transport.hpp"

namespace dllbridge::rpc {

struct RingOptions {
  // Low-latency mode: a thread reading for what it waits for watches the
  // ring for a short, adaptive time before it sleeps (docs/performance.md).
  bool low_latency = false;
  // When not 0: the first frame read may be at most this large (the
  // handshake's Hello; later frames up to wire::kMaxFrameSize).
  std::uint32_t first_frame_cap = 0;
};

// The client's end over `fd`, a connected stream socket it owns from now on
// (closed with it, even when this throws). Creates the rings and passes them
// to the peer, which must call accept_ring_transport on its end; when they
// cannot be created (`why` says why), tells the peer so and returns a socket
// transport instead. Throws std::system_error when neither can be set up.
std::unique_ptr<Transport> offer_ring_transport(int fd, RingOptions options, std::string* why = nullptr);

// The surrogate's end: waits up to `wait` for what offer_ring_transport
// sends and returns the ring transport it offers, or a socket transport
// when the client has no rings. Throws std::runtime_error (with the reason)
// when nothing usable came: the socket ended or broke, the time passed, or
// the rings do not have this build's layout.
std::unique_ptr<Transport> accept_ring_transport(int fd, RingOptions options, std::chrono::milliseconds wait);

}  // namespace dllbridge::rpc
