// One client session: handshake, then requests answered in order until the
// client says Shutdown or closes the connection.
#pragma once

#include "core/transport.hpp"

namespace dllbridge::surrogate {

// How a session ended.
enum class SessionEnd { shutdown, disconnected, protocol_error };

// Serves one connected client on `stream`, running DLL calls on `workers`
// threads (1: on the reading thread, in order). Never throws for anything
// the client sends; a crash inside the DLL ends the process, by design.
SessionEnd serve_session(Stream& stream, int workers = 1);

}  // namespace dllbridge::surrogate
