// Serving the one client that started this surrogate, on its private
// endpoint (`--fd N` / `--pipe NAME`). One file per platform.
#pragma once

#include <chrono>

#include "core/session.hpp"
#include "core/transport.hpp"

namespace dllbridge::surrogate {

struct InheritedOptions {
  int workers = 1;  // threads for DLL work
  // An idle worker polls briefly for the next request before it sleeps
  // (Linux; docs/performance.md).
  bool low_latency = false;
  // A frame whose first byte came must be complete within this (Windows;
  // zero: none). On Linux the private socket is read without this limit:
  // the client that started us is trusted and its death is watched.
  std::chrono::milliseconds read_timeout{10000};
  // Linux: the client passes the memory for frames through shared memory
  // first (rpc::offer_ring_transport), or says it has none.
  bool shared_frames = false;
};

// Serves the session on the adopted endpoint `stream` (adopt_inherited)
// until its end, over rpc::socket_transport or rpc::accept_ring_transport
// (POSIX, with shared_frames) / rpc::pipe_transport
// (Windows, with the read timeout), where an idle worker reads for its work
// itself, and the first frame (the Hello) may hold 4 KiB. Throws
// std::runtime_error when the transport cannot be set up.
SessionEnd serve_inherited(Stream stream, const InheritedOptions& options);

}  // namespace dllbridge::surrogate
