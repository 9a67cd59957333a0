// The client's side of callbacks: the callables behind dllbridge::Callback,
// the ids they travel under, and the threads they run on.
//
// A callable passed to a call is bound to an id for that call (call-scoped:
// the binding ends with the call's encoding) or, for a [persistent]
// parameter, for as long as the callable lives; the surrogate's closures
// send Invoke requests with that id. Ids are unique in the process, so an
// id can never reach the wrong callable, also across surrogate restarts.
// A callable runs on the thread that made the call when the DLL calls back
// during the call on the thread that runs it (as a local callback would),
// watched against the call's deadline; an invocation from the DLL's own
// threads is queued to a callback thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "dllbridge/declaration.hpp"
#include "dllbridge/rules/scalars.hpp"
#include "dllbridge/types.hpp"

namespace dllbridge::detail {

// Where persistent callbacks went: a channel that is told when they are
// released. Lives as long as its channel; detach() cuts it off.
class ReleaseSink {
 public:
  using Send = std::function<void(const std::vector<std::uint64_t>& ids)>;
  explicit ReleaseSink(Send send) : send_(std::move(send)) {}
  // Sends `ids` to the channel's surrogate if the channel still exists.
  void release(const std::vector<std::uint64_t>& ids);
  // The channel is going: nothing is sent from now on (waits for a send in progress).
  void detach();

 private:
  std::mutex mu_;
  Send send_;
};

struct CallbackState {
  explicit CallbackState(CallbackFunction f) : fn(std::move(f)) {}
  // Unbinds its persistent ids and releases them in every surrogate they went to.
  ~CallbackState();
  CallbackFunction fn;
  std::mutex mu;
  std::vector<std::pair<const FunctionDecl*, std::uint64_t>> persistent_ids;  // by declaration
  std::vector<std::weak_ptr<ReleaseSink>> sent_to;
};

struct CallbackAccess {
  static const std::shared_ptr<CallbackState>& state(const Callback& c) { return c.state_; }
};

// The callback arguments of one call's encoding: call-scoped bindings end
// when this ends; persistent ones are noted where the call is sent
// (note_sent), so that releasing them reaches that surrogate.
struct CallbackUse {
  std::vector<std::shared_ptr<const void>> scoped;
  std::vector<std::shared_ptr<CallbackState>> persistent;
  // Records `sink` as a place the persistent callbacks of this call went to.
  void note_sent(const std::shared_ptr<ReleaseSink>& sink) const;
};

// Binds `cb` for declaration `fn` for the call whose CallbackUse is `use`;
// returns its id.
std::uint64_t bind_scoped(const Callback& cb, const std::shared_ptr<const FunctionDecl>& fn,
                          const rules::Abi& abi, CallbackUse& use);
// Binds `cb` for declaration `fn` until the callable ends (the same id every
// time it is passed with that declaration); returns its id.
std::uint64_t bind_persistent(const Callback& cb, const std::shared_ptr<const FunctionDecl>& fn,
                              const rules::Abi& abi, CallbackUse& use);

// What an id is bound to now.
struct BoundCallback {
  std::shared_ptr<CallbackState> state;
  std::shared_ptr<const FunctionDecl> fn;
  rules::Abi abi;
};
// Nothing when the id is unknown or its callable was released.
std::optional<BoundCallback> find_callback(std::uint64_t id);

// While it lives, runs `on_expiry` once on a watcher thread (shared by the
// process) if `deadline` passes: a callable that holds its call past the
// call's deadline. Destroying it disarms it (waiting for an on_expiry in
// progress to end).
class DeadlineWatch {
 public:
  DeadlineWatch(std::chrono::steady_clock::time_point deadline, std::function<void()> on_expiry);
  ~DeadlineWatch();
  DeadlineWatch(const DeadlineWatch&) = delete;
  DeadlineWatch& operator=(const DeadlineWatch&) = delete;
  // Whether on_expiry ran (or is running).
  bool fired() const { return fired_.load(std::memory_order_acquire); }

 private:
  friend class Watcher;
  std::chrono::steady_clock::time_point deadline_;
  std::function<void()> on_expiry_;
  std::atomic<bool> fired_{false};
};

// At most this many callback threads at once (process-wide): a library that
// calls back from more threads at once than this has the extra invocations
// wait, in order, for a thread to come free.
inline constexpr std::size_t kMaxCallbackThreads = 64;

// The threads callables run on (shared by every bridge of the process):
// post() hands a task to an idle one, starting another when none is idle
// and fewer than kMaxCallbackThreads run; idle threads end after a minute.
void run_on_callback_thread(std::function<void()> task);
// How many callback threads are alive now (busy or idle).
std::size_t callback_threads();

}  // namespace dllbridge::detail
