// The transport over a connected named pipe (Windows), the same on both
// ends: a thread that waits for a reply, or a surrogate worker that waits
// for work, reads the pipe itself (Transport::read_until) with a read it
// issues and waits for on its own thread, so what it waits for wakes no
// other thread first; the transport's own thread reads when no caller has
// for a short while, and reports the end of the stream. See
// src/pipe_transport_win.cpp for how the reader role is handed on.
// Windows only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "dllbridge/rpc/transport.hpp"

namespace dllbridge::rpc {

struct PipeOptions {
  // When not 0: the first frame read may be at most this large (the
  // handshake's Hello; later frames up to wire::kMaxFrameSize). A larger one
  // ends the channel as a bad frame before anything is allocated for it.
  std::uint32_t first_frame_cap = 0;
  // When not 0: a frame whose first bytes came must be complete within this,
  // else the channel ends ("a frame was not complete within N ms").
  std::chrono::milliseconds frame_timeout{0};
};

// A transport over `pipe` (a HANDLE), a connected byte-mode pipe opened for
// overlapped I/O, which it owns from now on (closed with it, even when this
// throws). Throws std::system_error when its events cannot be created.
std::unique_ptr<Transport> pipe_transport(void* pipe, PipeOptions options = {});

}  // namespace dllbridge::rpc
