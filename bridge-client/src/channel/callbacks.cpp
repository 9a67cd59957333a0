#include "channel/callbacks.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <thread>
#include <unordered_map>

namespace dllbridge {

Callback::Callback(CallbackFunction fn) {
  if (fn) state_ = std::make_shared<detail::CallbackState>(std::move(fn));
}

namespace detail {
namespace {

struct Binding {
  std::shared_ptr<CallbackState> strong;  // call-scoped: held for the call
  std::weak_ptr<CallbackState> weak;      // persistent: as long as the callable lives
  std::shared_ptr<const FunctionDecl> fn;
  rules::Abi abi;
};

// Every binding of the process by id. Never destroyed: runner threads and
// callables that outlive main() may still look ids up.
class Table {
 public:
  static Table& instance() {
    static Table* table = new Table;
    return *table;
  }
  std::uint64_t add(Binding b) {
    std::lock_guard lock(mu_);
    const std::uint64_t id = next_++;
    bindings_.emplace(id, std::move(b));
    return id;
  }
  void remove(std::uint64_t id) {
    Binding gone;  // destroyed outside the lock: it may end a callable
    std::lock_guard lock(mu_);
    auto it = bindings_.find(id);
    if (it == bindings_.end()) return;
    gone = std::move(it->second);
    bindings_.erase(it);
  }
  std::optional<BoundCallback> find(std::uint64_t id) {
    std::lock_guard lock(mu_);
    auto it = bindings_.find(id);
    if (it == bindings_.end()) return std::nullopt;
    std::shared_ptr<CallbackState> state = it->second.strong ? it->second.strong : it->second.weak.lock();
    if (!state) return std::nullopt;
    return BoundCallback{std::move(state), it->second.fn, it->second.abi};
  }

 private:
  std::mutex mu_;
  std::uint64_t next_ = 1;
  std::unordered_map<std::uint64_t, Binding> bindings_;
};

// Ends a call-scoped binding when the call's encoding ends.
struct ScopedBinding {
  explicit ScopedBinding(std::uint64_t i) : id(i) {}
  ~ScopedBinding() { Table::instance().remove(id); }
  ScopedBinding(const ScopedBinding&) = delete;
  ScopedBinding& operator=(const ScopedBinding&) = delete;
  std::uint64_t id;
};

// Threads for callables: grow on demand up to kMaxCallbackThreads, end after
// a minute idle; past the cap, tasks wait for a thread to come free.
class Runner {
 public:
  static Runner& instance() {
    static Runner* runner = new Runner;  // never destroyed: its threads are detached
    return *runner;
  }
  void post(std::function<void()> task) {
    bool spawn = false;
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(task));
      if (idle_ < tasks_.size() && threads_ < kMaxCallbackThreads) {
        spawn = true;
        ++idle_;  // counted idle until it takes its first task
        ++threads_;
      }
    }
    if (spawn) {
      std::thread([this] { loop(); }).detach();
    } else {
      cv_.notify_one();
    }
  }

  std::size_t threads() {
    std::lock_guard lock(mu_);
    return threads_;
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (!cv_.wait_for(lock, std::chrono::minutes(1), [this] { return !tasks_.empty(); })) {
        --idle_;
        --threads_;
        return;
      }
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      --idle_;
      lock.unlock();
      task();
      task = nullptr;  // whatever it held goes before the thread counts as idle
      lock.lock();
      ++idle_;
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::size_t idle_ = 0;     // threads waiting for a task (or about to)
  std::size_t threads_ = 0;  // threads alive, at most kMaxCallbackThreads
};

}  // namespace

// The thread that fires DeadlineWatches: asleep until the earliest armed
// deadline (woken only when a watch is armed earlier than that).
class Watcher {
 public:
  static Watcher& instance() {
    static Watcher* watcher = new Watcher;  // never destroyed: its thread is detached
    return *watcher;
  }
  void arm(DeadlineWatch* w) {
    std::lock_guard lock(mu_);
    armed_.emplace(w->deadline_, w);
    if (!started_) {
      started_ = true;
      std::thread([this] { loop(); }).detach();
    }
    if (w->deadline_ < planned_) cv_.notify_one();
  }
  void disarm(DeadlineWatch* w) {
    std::unique_lock lock(mu_);
    for (auto it = armed_.lower_bound(w->deadline_); it != armed_.end() && it->first == w->deadline_; ++it) {
      if (it->second == w) {
        armed_.erase(it);
        return;
      }
    }
    done_cv_.wait(lock, [&] { return firing_ != w; });  // fired: its on_expiry may still run
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      planned_ = armed_.empty() ? std::chrono::steady_clock::time_point::max() : armed_.begin()->first;
      if (planned_ == std::chrono::steady_clock::time_point::max()) {
        cv_.wait(lock);
        continue;
      }
      if (std::chrono::steady_clock::now() < planned_) {
        cv_.wait_until(lock, planned_);
        continue;
      }
      DeadlineWatch* w = armed_.begin()->second;
      armed_.erase(armed_.begin());
      w->fired_.store(true, std::memory_order_release);
      firing_ = w;
      lock.unlock();
      w->on_expiry_();
      lock.lock();
      firing_ = nullptr;
      done_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::multimap<std::chrono::steady_clock::time_point, DeadlineWatch*> armed_;
  std::chrono::steady_clock::time_point planned_ = std::chrono::steady_clock::time_point::max();
  DeadlineWatch* firing_ = nullptr;
  bool started_ = false;
};

DeadlineWatch::DeadlineWatch(std::chrono::steady_clock::time_point deadline, std::function<void()> on_expiry)
    : deadline_(deadline), on_expiry_(std::move(on_expiry)) {
  if (deadline_ != std::chrono::steady_clock::time_point::max()) Watcher::instance().arm(this);
}

DeadlineWatch::~DeadlineWatch() {
  if (deadline_ != std::chrono::steady_clock::time_point::max()) Watcher::instance().disarm(this);
}

void ReleaseSink::release(const std::vector<std::uint64_t>& ids) {
  std::lock_guard lock(mu_);
  if (send_) send_(ids);
}

void ReleaseSink::detach() {
  std::lock_guard lock(mu_);
  send_ = nullptr;
}

CallbackState::~CallbackState() {
  std::vector<std::uint64_t> ids;
  for (const auto& [decl, id] : persistent_ids) {
    Table::instance().remove(id);
    ids.push_back(id);
  }
  if (ids.empty()) return;
  for (const std::weak_ptr<ReleaseSink>& weak : sent_to) {
    if (std::shared_ptr<ReleaseSink> sink = weak.lock()) {
      // Not on this thread: the last handle may go anywhere, also where a
      // round trip to the surrogate would wait for this very thread.
      run_on_callback_thread([sink, ids] { sink->release(ids); });
    }
  }
}

void CallbackUse::note_sent(const std::shared_ptr<ReleaseSink>& sink) const {
  for (const std::shared_ptr<CallbackState>& state : persistent) {
    std::lock_guard lock(state->mu);
    bool known = false;
    for (auto it = state->sent_to.begin(); it != state->sent_to.end();) {
      std::shared_ptr<ReleaseSink> s = it->lock();
      if (!s) {
        it = state->sent_to.erase(it);  // a channel that has gone
        continue;
      }
      known = known || s == sink;
      ++it;
    }
    if (!known) state->sent_to.push_back(sink);
  }
}

std::uint64_t bind_scoped(const Callback& cb, const std::shared_ptr<const FunctionDecl>& fn,
                          const rules::Abi& abi, CallbackUse& use) {
  Binding b;
  b.strong = CallbackAccess::state(cb);
  b.fn = fn;
  b.abi = abi;
  const std::uint64_t id = Table::instance().add(std::move(b));
  use.scoped.push_back(std::make_shared<const ScopedBinding>(id));
  return id;
}

std::uint64_t bind_persistent(const Callback& cb, const std::shared_ptr<const FunctionDecl>& fn,
                              const rules::Abi& abi, CallbackUse& use) {
  const std::shared_ptr<CallbackState>& state = CallbackAccess::state(cb);
  use.persistent.push_back(state);
  std::lock_guard lock(state->mu);
  for (const auto& [decl, id] : state->persistent_ids) {
    if (decl == fn.get()) return id;
  }
  Binding b;
  b.weak = state;
  b.fn = fn;
  b.abi = abi;
  const std::uint64_t id = Table::instance().add(std::move(b));
  state->persistent_ids.emplace_back(fn.get(), id);
  return id;
}

std::optional<BoundCallback> find_callback(std::uint64_t id) { return Table::instance().find(id); }

void run_on_callback_thread(std::function<void()> task) { Runner::instance().post(std::move(task)); }

std::size_t callback_threads() { return Runner::instance().threads(); }

}  // namespace detail
}  // namespace dllbridge
