// Callbacks in the surrogate: for each function-pointer argument the DLL
// gets a real function pointer of the declared ABI (a libffi closure) whose
// body sends the invocation to the client (an Invoke request on the
// session's channel) and returns the client's answer to the DLL.
//
// Closures are reused: a call-scoped one goes back to its type's free list
// when the call ends; a persistent one stays bound to its id until the
// client releases it. None is ever freed: the DLL may keep a pointer and
// call it late, and then gets the default return (zero) and a log line
// instead of a jump into freed memory. A call on the thread that serves the
// call nests in it (the client runs the callable while its caller waits);
// one from the DLL's own threads reaches the client on its own.
#pragma once

#include <ffi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/marshal.hpp"
#include "dllbridge/dllbridge.pb.h"
#include "dllbridge/rpc/peer.hpp"

namespace dllbridge::surrogate {

struct Closure;

// A callback's signature resolved for this ABI, with its call interface.
struct CallbackType {
  std::string name;  // the parameter / field path, for messages
  ffi_abi abi = FFI_DEFAULT_ABI;
  bool persistent = false;
  Layout ret;
  std::vector<Layout> params;
  std::vector<ffi_type*> arg_types;  // cif points into this
  ffi_cif cif{};
  std::mutex mu;
  std::vector<Closure*> free;  // call-scoped closures between calls
};

// Checks a FUNCTION_POINTER node and builds its type (marshal's build_layout).
// Throws Failure(BAD_SIGNATURE) for what a callback cannot take or return.
std::shared_ptr<CallbackType> build_callback_type(const wire::TypeNode& node, int depth, TypeBudget& budget,
                                                  const std::string& name);

// The session's channel as closures see it, cut off when the session ends.
struct SessionLink {
  std::shared_mutex mu;
  rpc::Peer* peer = nullptr;
};

// What went wrong in a call's callbacks: the first failure, which the call
// then answers with instead of its result.
struct CallbackFailure {
  wire::ErrorKind kind;
  std::string message;
};

class CallScope;

// The callbacks of one session (one per Dispatcher).
class Callbacks {
 public:
  Callbacks();
  // Cuts every closure of the session off: from now on they answer the
  // default return.
  ~Callbacks();
  Callbacks(const Callbacks&) = delete;
  Callbacks& operator=(const Callbacks&) = delete;

  // The channel invocations go through; null cuts them off (the session is
  // ending). Waits for invocations in progress to end.
  void set_peer(rpc::Peer* peer);

  // The client released these persistent callbacks.
  void release(const wire::Release& request);

 private:
  friend class CallScope;
  void* bind_persistent(const std::shared_ptr<CallbackType>& type, std::uint64_t id);
  Closure* make_closure(const std::shared_ptr<CallbackType>& type);

  std::shared_ptr<SessionLink> link_ = std::make_shared<SessionLink>();
  std::mutex mu_;
  std::map<std::uint64_t, Closure*> persistent_;  // by the client's id
  std::vector<Closure*> all_;                     // every closure made, to cut off at the end
};

// The callback arguments of one call: call-scoped closures are bound for
// the call and go back to their free lists when it ends.
class CallScope final : public CallbackBinder {
 public:
  explicit CallScope(Callbacks& callbacks) : callbacks_(callbacks) {}
  ~CallScope();
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

  void* bind(const std::shared_ptr<CallbackType>& type, std::uint64_t id) override;

  // Notes a failure of one of the call's callbacks (the first one counts).
  void fail(wire::ErrorKind kind, const std::string& message);
  // The first failure, if any.
  std::optional<CallbackFailure> failure();

 private:
  Callbacks& callbacks_;
  std::vector<Closure*> taken_;
  std::mutex mu_;
  std::optional<CallbackFailure> failure_;
};

}  // namespace dllbridge::surrogate
