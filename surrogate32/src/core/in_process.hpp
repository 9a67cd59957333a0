// A surrogate session inside the calling process, over an in-memory channel:
// for tests that drive the dispatcher directly, and for debugging a library
// of this process's own bitness with the client API (BridgeOptions::transport).
// A crash inside the library ends this process: there is no isolation.
#pragma once

#include <memory>
#include <thread>

#include "core/session.hpp"
#include "dllbridge/rpc/transport.hpp"

namespace dllbridge::surrogate {

class InProcess {
 public:
  // Starts a session on a thread of its own, with `workers` DLL threads.
  explicit InProcess(int workers = 1);
  // Ends the channel and waits for the session to end.
  ~InProcess();
  InProcess(const InProcess&) = delete;
  InProcess& operator=(const InProcess&) = delete;

  // The client's end of the channel (once); the session serves the other.
  std::unique_ptr<rpc::Transport> client_end();
  // The session, e.g. to send requests to the client through peer().
  Session& session() { return session_; }

 private:
  std::unique_ptr<rpc::Transport> client_;
  std::unique_ptr<rpc::Transport> server_;
  Session session_;
  std::thread thread_;
};

// A transport to a fresh in-process session that it owns: destroying the
// transport ends the session. Fits BridgeOptions::transport.
std::unique_ptr<rpc::Transport> start_in_process(int workers = 1);

}  // namespace dllbridge::surrogate
