// dllbridge client API: call functions of a 32-bit library from a 64-bit
// program through a surrogate process.
//
//   dllbridge::Bridge bridge;                            // starts surrogate32
//   dllbridge::Library lib = bridge.load("legacy.dll");
//   auto add = lib.function<int32_t(int32_t, int32_t)>("add", dllbridge::CallConv::Stdcall);
//   int32_t r = add(2, 40);                              // 42, computed in the surrogate
//
// Every operation throws dllbridge::Error on failure. Bridge, Library and
// Function are cheap handles onto one supervised surrogate (or a pool of
// them, BridgeOptions::pool_size) and safe to use from several threads at once. When the surrogate crashes,
// hangs or is recycled, a new one takes over: libraries and functions are loaded and registered again in it
// by themselves.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dllbridge/declaration.hpp"
#include "dllbridge/error.hpp"
#include "dllbridge/export.hpp"
#include "dllbridge/policy.hpp"
#include "dllbridge/typed.hpp"
#include "dllbridge/types.hpp"

namespace dllbridge {

namespace rpc {
class Transport;  // dllbridge/rpc/transport.hpp
}  // namespace rpc

namespace detail {
class Pool;
struct LibraryState;
struct FunctionState;
struct FunctionAccess;
}  // namespace detail

// How to reach a surrogate, and how to supervise it.
struct BridgeOptions {
  Arch arch = Arch::x86;              // which surrogate to start
  std::string surrogate_path;         // empty: $DLLBRIDGE_SURROGATE_DIR, then next to the client
  std::vector<std::string> launcher;  // run the surrogate through this (e.g. an emulator)
  std::string connect;                // endpoint of a standalone surrogate; empty: start one
  // A file holding the token of a standalone surrogate started with
  // --token-file (read at each connect, one trailing newline dropped); it
  // goes in the handshake. Empty: no token.
  std::string token_file;
  // Makes the channel to a surrogate instead of starting or connecting one
  // (called for every start): e.g. an in-process session for tests and for
  // debugging a library of this program's own bitness. Empty: a process.
  std::function<std::unique_ptr<rpc::Transport>()> transport;
  std::string surrogate_log_level = "warn";  // trace|debug|info|warn|error|off
  // Low-latency mode: a caller polls for its reply for a short, adaptive
  // time before it sleeps, saving a wake-up per call at the cost of CPU
  // time while it polls; it backs off by itself where polling does not pay
  // (docs/performance.md). Off by default. Linux; ignored on Windows for now.
  // Calls that copy buffers into the shared region poll in both modes, each
  // poll bounded by the copies' time (docs/performance.md, "Bulk data:
  // polls bounded by the copies"; DLLBRIDGE_BULK_POLL=off turns that off).
  bool low_latency = false;
  // Start surrogates through a fork server (Linux; ignored on Windows and
  // with a launcher): the first start also starts, for the rest of this
  // process, a server process of surrogate_path that forks every later
  // surrogate of this process (of any Bridge, restarts and spares too),
  // already initialised, so a start or restart skips the program's own
  // start. Each surrogate gets this process's environment and working
  // directory as they are at its start; its resource limits, umask and
  // what the dynamic loader reads (LD_LIBRARY_PATH) are the server's, this
  // process's at the first start. The environment's
  // DLLBRIDGE_FORK_SERVER=on / off overrides this. docs/supervision.md,
  // "Fork server".
  bool fork_server = false;
  // Surrogate processes: 1 (the default) is one surrogate; N (up to 64)
  // starts N, each supervised on its own, and sends each call to the least
  // loaded one that is not failing fast. For libraries without state shared
  // across calls, or whose state each process sets up in an on_restart hook:
  // handles a library returns are only valid in the process that made them.
  // Not with `connect`. docs/supervision.md, "A pool of surrogates".
  std::size_t pool_size = 1;
  // The shared region for bulk data (docs/performance.md, "Bulk data"):
  // parameter buffers of 32 KiB or more and memory from alloc() cross
  // through it without framing. false: every buffer travels in the frames
  // (their caps apply), alloc() gives ordinary memory. The environment's
  // DLLBRIDGE_SHARED_REGION=off turns it off whatever this says.
  bool shared_region = true;
  // Frames through shared memory (Linux, a surrogate this bridge starts):
  // requests and replies cross in two rings of a memory object the client
  // and its surrogate share, and a waiting side sleeps on a futex there,
  // rather than in a socket (docs/architecture.md, "Frames through shared
  // memory"); the socket stays for the end of the session. false: every
  // frame goes through the socket. The environment's
  // DLLBRIDGE_SHARED_FRAMES=off / on overrides this.
  bool shared_frames = true;
  // Bytes of freed region blocks that keep their pages for later calls;
  // past it the least recently freed give theirs back to the system. 0:
  // every freed block gives its pages back. Empty: DLLBRIDGE_REGION_BUDGET
  // (bytes, or with a K, M or G suffix), else 64 MiB.
  std::optional<std::uint64_t> region_budget;
  SupervisionPolicy policy;  // deadlines, restarts, breaker, retries, recycling
};

// Per-function choices, given when the function is declared.
struct FunctionOptions {
  // Safe to send again after a failure that leaves its effect unknown; only
  // such calls are retried automatically (RetryPolicy).
  bool idempotent = false;
  // Deadline of each call of this function; default: policy.call_timeout.
  std::optional<std::chrono::milliseconds> timeout;
  // The export to look up instead of the declared name: a decorated or
  // mangled name ("?Open@@YAHPBD@Z"), or "#N" for ordinal N (Windows).
  // Empty: the declared name, then its decorated forms (docs/signature-language.md, section 9).
  std::string symbol;
};

class Function;
class Library;

// A supervised connection to a surrogate process (started, or standalone).
class DLLBRIDGE_API Bridge {
 public:
  // Starts (or connects to) the surrogate and completes the handshake,
  // unless options.policy.lazy_start. Throws Error(surrogate_start_failed |
  // protocol | unauthorized).
  explicit Bridge(BridgeOptions options = {});
  // Stops the surrogate (Shutdown, then SIGTERM, then SIGKILL, per StopPolicy).
  ~Bridge();
  Bridge(Bridge&&) noexcept;
  Bridge& operator=(Bridge&&) noexcept;

  // What the current surrogate said about itself in the handshake (starts a
  // lazy one). Throws like the constructor.
  SurrogateInfo surrogate() const;

  // The current surrogate's OS figures (CPU time, memory, threads, handles);
  // with a pool, those of the one stats().pid names. Throws Error(crashed) when no surrogate process runs.
  ProcessFigures figures() const;

  // A snapshot: state, pid, restarts, call counts, latency, breaker, figures.
  // With a pool: over all its surrogates (counts and figures summed).
  BridgeStats stats() const;

  // One snapshot per surrogate of the pool, in member order (BridgeEvent::member).
  std::vector<BridgeStats> member_stats() const;

  // Calls `handler` for each event, in order, on a thread of its own (it may
  // call into the bridge).
  // Returns an id for unsubscribe().
  int subscribe(std::function<void(const BridgeEvent&)> handler);
  void unsubscribe(int id);

  // Runs `hook` after every restart, before any queued call reaches the new
  // surrogate: re-initialise the library there (calls made inside the hook
  // go through, to that surrogate). A hook that throws gets the new
  // surrogate killed. With a pool it also runs at each surrogate's first
  // start and, now, in each one already running: per-process initialisation.
  // Returns an id for remove_restart_hook().
  int on_restart(std::function<void()> hook);
  // Removes the on-restart hook `id` (no effect when there is none): it runs
  // at no later start; a start that is running hooks now still runs it.
  void remove_restart_hook(int id);

  // Calls fn(member) once for each surrogate of the pool (just once, with
  // 0, without a pool), in order, on this thread: the calls fn makes go to
  // that surrogate (starting a lazy one). For per-process set-up or checks
  // at any time. Throws what fn throws.
  void for_each_surrogate(const std::function<void(std::size_t member)>& fn);

  // Replaces the surrogate (every one of a pool) now (also after a
  // crash-loop stop or stop()).
  void restart();

  // Stops the surrogate (every one of a pool; StopPolicy escalation); calls
  // then fail with surrogate_start_failed until restart().
  void stop();

  // Loads a library in the surrogate (UTF-8 path; loading twice is cheap);
  // it is loaded again in every new surrogate. Throws
  // Error(library_load_failed) with the loader's reason.
  Library load(const std::string& path);

  // The surrogate program this bridge starts (empty in connect mode or
  // before a lazy start).
  std::string surrogate_path() const;

  // `n` zeroed elements of number type T in the shared region, which calls
  // pass to the DLL without copying (SharedBuffer). Falls back to ordinary
  // memory when the region has no room or cannot be used. Throws
  // Error(bad_argument) when n elements of T cannot be addressed.
  template <class T>
  SharedBuffer<T> alloc(std::size_t n) {
    static_assert(std::is_arithmetic_v<T>, "alloc<T>: T is a number type (int32_t, double, uint8_t, ...)");
    void* data = nullptr;
    std::shared_ptr<void> block = alloc_shared(n, sizeof(T), data);
    return SharedBuffer<T>(std::move(block), static_cast<T*>(data), n);
  }

 private:
  // `n` zeroed elements of `size` bytes, aligned to 64; their holder and address.
  std::shared_ptr<void> alloc_shared(std::size_t n, std::size_t size, void*& data) const;

  std::shared_ptr<detail::Pool> pool_;
};

// A library loaded in the surrogate.
class DLLBRIDGE_API Library {
 public:
  // Declares a function by a signature (docs/signature-language.md), resolves
  // its export and prepares its call. Throws Error(bad_signature |
  // symbol_not_found).
  Function function(std::string_view signature, FunctionOptions options = {}) const;

  // Declares a function by its declaration tree (what the signature parser
  // and the typed forms build); checked like a parsed signature. Throws
  // Error(bad_signature | symbol_not_found).
  Function function(FunctionDecl declaration, FunctionOptions options = {}) const;

  // Typed form: the C++ signature gives the parameter and return types.
  // Throws like function(signature).
  template <class Signature>
  TypedFunction<Signature> function(const std::string& name, CallConv conv = CallConv::Cdecl,
                                    FunctionOptions options = {}) const;

  // Typed variadic (cdecl) function: Signature names the fixed parameters;
  // the extra arguments of each call are typed by their C++ types.
  template <class Signature>
  VariadicFunction<Signature> variadic(const std::string& name, FunctionOptions options = {}) const;

  const std::string& path() const;

 private:
  friend class Bridge;
  explicit Library(std::shared_ptr<detail::LibraryState> s) : state_(std::move(s)) {}
  std::shared_ptr<detail::LibraryState> state_;
};

// A callable export with a known signature.
class DLLBRIDGE_API Function {
 public:
  // Calls the function. `args` holds one value per parameter that is not
  // [out] (an [out, size_is(*)] one takes its element count), then for a
  // variadic function the extra arguments as Object{{"int", 3}}. Values are
  // as in docs/cli.md, section 3: List for arrays and buffers, Object for
  // structs, text for char buffers, integers for handles, Null for a null
  // pointer. Each is checked against its parameter before anything is sent
  // (Error(bad_argument) names the parameter). The result holds the return
  // value and every [out] / [in, out] parameter by name (CallResult::out). Other failures: timeout (past
  // `timeout`, or the default), crashed (the surrogate died; names the signal), circuit_open, protocol.
  // Error::may_have_run() tells whether the call may have run.
  CallResult call(const std::vector<Value>& args,
                  std::optional<std::chrono::milliseconds> timeout = std::nullopt) const;

  // The export that matched (maybe a decorated form of the name).
  std::string resolved_name() const;
  // The name as declared.
  const std::string& name() const;
  // Parameter names in order.
  std::vector<std::string> parameter_names() const;
  // The declaration as checked: each parameter's type tree, function pointers' own
  // declarations included (what dllbridge-call converts its JSON arguments by).
  const FunctionDecl& declaration() const;

 private:
  friend class Library;
  friend struct detail::FunctionAccess;
  explicit Function(std::shared_ptr<const detail::FunctionState> s) : state_(std::move(s)) {}
  // call() whose [out] numbers of parameters that take no value go to `out_buffers` (the typed API's).
  CallResult call(detail::Span<Value> args, std::optional<std::chrono::milliseconds> timeout,
                  detail::Span<Buffer> out_buffers) const;
  std::shared_ptr<const detail::FunctionState> state_;
};

template <class Signature>
TypedFunction<Signature> Library::function(const std::string& name, CallConv conv,
                                           FunctionOptions options) const {
  return TypedFunction<Signature>(function(detail::typed_declaration<Signature>(name, conv), options));
}

template <class Signature>
VariadicFunction<Signature> Library::variadic(const std::string& name, FunctionOptions options) const {
  return VariadicFunction<Signature>(
      function(detail::typed_declaration<Signature>(name, CallConv::Cdecl, true), options));
}

template <class R, class... A>
detail::TypedBase<R, A...>::TypedBase(Function f) : function_(std::make_shared<Function>(std::move(f))) {}

template <class R, class... A>
TypedFunction<R(A...)>::TypedFunction(Function f) : detail::TypedBase<R, A...>(std::move(f)) {}

template <class R, class... A>
VariadicFunction<R(A...)>::VariadicFunction(Function f) : detail::TypedBase<R, A...>(std::move(f)) {}

}  // namespace dllbridge
