// Serves the requests of one session: loads libraries, registers functions
// (symbol lookup + a libffi call interface built once), and calls them.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "dllbridge/dllbridge.pb.h"
#include "core/callbacks.hpp"
#include "core/library.hpp"
#include "dllbridge/rpc/peer.hpp"

namespace dllbridge::surrogate {

class Dispatcher {
 public:
  Dispatcher();
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Answers one request (not Hello / Shutdown, which the session handles)
  // in `reply` (empty; built in place, on its arena when it has one: a
  // call of scalars allocates nothing). Failures become Error replies;
  // only a crash inside the DLL escapes. Safe to call from several threads.
  void handle(const wire::Request& request, wire::Reply& reply);

  // The channel callbacks reach the client through (null: none any more,
  // the session is ending; waits for invocations in progress).
  void set_peer(rpc::Peer* peer) { callbacks_.set_peer(peer); }

  // The lock a standalone surrogate's sessions share (null: none): held
  // around each library load, registration, release and call, a call
  // taking it only once its bytes are in the shared region (Call.ready), so
  // a client that never puts them there holds up no other session.
  void set_dll_lock(std::recursive_mutex* lock) { dll_lock_ = lock; }

  // The session's channel ended: a call waiting for its bytes in the shared
  // region (Call.ready) stops waiting (within wire::kAbandonLook) and fails,
  // so its worker, and a standalone surrogate's session slot, come free at
  // once instead of after the 30 s give-up. Thread-safe.
  void abandon() noexcept { abandoned_.store(true, std::memory_order_release); }

  // Maps segment `index` of the client's shared region (RegionMap::map) for
  // the calls from now on; why not, or "". Thread-safe.
  std::string map_region(std::uint32_t index, std::intptr_t native, std::uint64_t size) {
    return region_.map(index, native, size);
  }

 private:
  struct Function;
  wire::LoadLibraryReply load(const wire::LoadLibraryRequest& req);
  wire::RegisterFunctionReply register_function(const wire::RegisterFunction& req);
  void call(const wire::Call& req, wire::CallReply& out);
  std::unique_lock<std::recursive_mutex> hold_dll() const {
    return dll_lock_ ? std::unique_lock(*dll_lock_) : std::unique_lock<std::recursive_mutex>();
  }

  std::recursive_mutex* dll_lock_ = nullptr;
  std::atomic<bool> abandoned_{false};  // abandon() was called

  Callbacks callbacks_;             // the closures handed to the DLL
  RegionMap region_;                // the client's shared region, once mapped
  std::mutex mu_;                   // guards the tables below (worker threads share them)
  std::vector<Library> libraries_;  // id = index + 1
  std::map<std::string, std::uint64_t> library_ids_;
  std::vector<std::unique_ptr<Function>> functions_;   // id = index + 1
  std::map<std::string, std::uint32_t> function_ids_;  // by registration key
};

// The export names tried for `name`, in order (docs/signature-language.md, section 9): as
// written, then name@N, _name@N, @name@N, _name for N = `stack_bytes`.
std::vector<std::string> symbol_candidates(const std::string& name, std::size_t stack_bytes);

}  // namespace dllbridge::surrogate
