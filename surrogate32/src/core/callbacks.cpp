#include "core/callbacks.hpp"

#include <atomic>
#include <chrono>

#include <spdlog/spdlog.h>

#include "core/errors.hpp"
#include "core/ffi_types.hpp"

namespace dllbridge::surrogate {

struct Closure {
  enum State : int { idle, in_call, persistent, released };
  ffi_closure* closure = nullptr;
  void* code = nullptr;  // what the DLL calls
  std::shared_ptr<CallbackType> type;
  std::shared_ptr<SessionLink> link;
  std::atomic<std::uint64_t> id{0};
  std::atomic<int> state{idle};
  std::mutex mu;               // guards scope
  CallScope* scope = nullptr;  // in_call: the call it was passed to
};

namespace {

// Every closure ever made, reachable for the life of the process: none is
// freed (see the header), and leak checkers see them as kept, not lost.
struct Kept {
  std::mutex mu;
  std::vector<Closure*> closures;
};
Kept& kept() {
  static Kept* k = new Kept;
  return *k;
}

const char* why_default(int state) {
  return state == Closure::released ? "after it was released (or its session ended)"
                                    : "after the call it was passed to returned";
}

// Notes a failure in the call the closure belongs to, if it still runs.
void fail_call(Closure& c, wire::ErrorKind kind, const std::string& message) {
  std::lock_guard lock(c.mu);
  if (c.scope) c.scope->fail(kind, message);
}

// The body of every closure: the DLL called callback `user` with `args`.
// Nothing may escape into the DLL's frames: every failure becomes the
// default return (zero) and a log line, and fails the call it belongs to.
void invoke(ffi_cif*, void* ret, void** args, void* user) noexcept {
  auto& c = *static_cast<Closure*>(user);
  const CallbackType& t = *c.type;
  clear_callback_return(t.ret, ret);
  const int state = c.state.load(std::memory_order_acquire);
  if (state != Closure::in_call && state != Closure::persistent) {
    spdlog::warn("the library called callback '{}' {}; it gets the default return", t.name,
                 why_default(state));
    return;
  }
  try {
    wire::Request request;
    wire::Invoke* inv = request.mutable_invoke();
    inv->set_callback(c.id.load(std::memory_order_acquire));
    for (std::size_t i = 0; i < t.params.size(); ++i) *inv->add_args() = read_callback_arg(t.params, i, args);
    std::optional<wire::Reply> reply;
    {
      std::shared_lock lock(c.link->mu);
      if (!c.link->peer) {
        spdlog::warn("the library called callback '{}' after its session ended; it gets the default return",
                     t.name);
        return;
      }
      // No deadline here: the client enforces the call's (it stops this
      // process when a callback overruns it).
      const std::uint64_t budget = (64u << 10) + 16 * std::uint64_t{t.ret.size};
      reply = c.link->peer->request(std::move(request),
                                    std::chrono::steady_clock::now() + std::chrono::hours(24 * 365), budget);
    }
    if (!reply) return;
    if (reply->has_error()) {
      spdlog::log(reply->error().kind() == wire::CALLBACK_FAILED ? spdlog::level::info : spdlog::level::warn,
                  "callback '{}' failed in the client: {}; the library gets the default return", t.name,
                  reply->error().message());
      fail_call(c, reply->error().kind(), reply->error().message());
      return;
    }
    if (!reply->has_invoke())
      throw Failure(wire::PROTOCOL, "the client answered an invocation with something else");
    const wire::InvokeReply& answer = reply->invoke();
    if (answer.out_size() != 0 && static_cast<std::size_t>(answer.out_size()) != t.params.size())
      throw Failure(wire::PROTOCOL, "the client answered with " + std::to_string(answer.out_size()) +
                                        " out values for " + std::to_string(t.params.size()) + " parameters");
    for (int i = 0; i < answer.out_size(); ++i)
      write_callback_out(t.params, static_cast<std::size_t>(i), args, answer.out(i));
    write_callback_return(t.ret, answer.ret(), ret);
  } catch (const rpc::Closed& e) {
    spdlog::warn("callback '{}': the client is gone ({}); the library gets the default return", t.name,
                 e.what());
  } catch (const Failure& f) {
    clear_callback_return(t.ret, ret);
    spdlog::warn("callback '{}': {}; the library gets the default return", t.name, f.what());
    fail_call(c, f.kind(), "callback '" + t.name + "': " + f.what());
  } catch (const std::exception& e) {
    clear_callback_return(t.ret, ret);
    spdlog::warn("callback '{}': {}; the library gets the default return", t.name, e.what());
    fail_call(c, wire::CALLBACK_FAILED, "callback '" + t.name + "': " + e.what());
  }
}

}  // namespace

std::shared_ptr<CallbackType> build_callback_type(const wire::TypeNode& node, int depth, TypeBudget& budget,
                                                  const std::string& name) {
  if (!node.has_callback()) throw Failure(wire::PROTOCOL, "callback '" + name + "' without its signature");
  const wire::CallbackType& cb = node.callback();
  auto t = std::make_shared<CallbackType>();
  t->name = name;
  t->abi = native_abi(cb.conv());
  t->persistent = cb.persistent();
  t->ret = build_layout(cb.ret(), Role::Return, depth + 1, budget, name);
  const bool scalar_ret = t->ret.kind == wire::TypeNode::SCALAR && t->ret.scalar.carrier != Carrier::Text &&
                          t->ret.scalar.carrier != Carrier::WideText;
  if (!scalar_ret && t->ret.kind != wire::TypeNode::STRUCT)
    throw Failure(wire::BAD_SIGNATURE, "'" + name + "': a callback returns a scalar, a struct or void");
  for (const wire::TypeNode& p : cb.params()) {
    t->params.push_back(build_layout(p, Role::CallbackParam, depth + 1, budget, name));
    t->arg_types.push_back(t->params.back().ffi);
  }
  check_count_refs(t->params, "callback '" + name + "'");
  const ffi_status status = ffi_prep_cif(&t->cif, t->abi, static_cast<unsigned>(t->arg_types.size()),
                                         t->ret.ffi, t->arg_types.data());
  if (status != FFI_OK) {
    throw Failure(wire::BAD_SIGNATURE, "libffi cannot build a call interface for callback '" + name +
                                           "' (status " + std::to_string(int(status)) + ")");
  }
  return t;
}

Callbacks::Callbacks() = default;

Callbacks::~Callbacks() {
  set_peer(nullptr);
  std::lock_guard lock(mu_);
  for (Closure* c : all_) c->state.store(Closure::released, std::memory_order_release);
  // The closures stay allocated (the DLL may call one late): each answers
  // the default return from now on.
}

void Callbacks::set_peer(rpc::Peer* peer) {
  std::unique_lock lock(link_->mu);  // waits for invocations in progress
  link_->peer = peer;
}

Closure* Callbacks::make_closure(const std::shared_ptr<CallbackType>& type) {
  auto* c = new Closure;  // never freed: see the header
  c->type = type;
  c->link = link_;
  c->closure = static_cast<ffi_closure*>(ffi_closure_alloc(sizeof(ffi_closure), &c->code));
  if (!c->closure || ffi_prep_closure_loc(c->closure, &type->cif, &invoke, c, c->code) != FFI_OK) {
    if (c->closure) ffi_closure_free(c->closure);
    delete c;
    throw Failure(wire::BAD_ARGUMENT, "'" + type->name + "': libffi cannot make a closure for the callback");
  }
  {
    std::lock_guard lock(kept().mu);
    kept().closures.push_back(c);
  }
  std::lock_guard lock(mu_);
  all_.push_back(c);
  return c;
}

void* Callbacks::bind_persistent(const std::shared_ptr<CallbackType>& type, std::uint64_t id) {
  {
    std::lock_guard lock(mu_);
    if (auto it = persistent_.find(id); it != persistent_.end()) return it->second->code;
  }
  Closure* c = make_closure(type);
  c->id.store(id, std::memory_order_release);
  c->state.store(Closure::persistent, std::memory_order_release);
  std::lock_guard lock(mu_);
  auto [it, added] = persistent_.emplace(id, c);
  if (!added) c->state.store(Closure::released, std::memory_order_release);  // another thread bound it first
  return it->second->code;
}

void Callbacks::release(const wire::Release& request) {
  std::lock_guard lock(mu_);
  for (std::uint64_t id : request.callbacks()) {
    auto it = persistent_.find(id);
    if (it == persistent_.end()) continue;
    it->second->state.store(Closure::released, std::memory_order_release);
    spdlog::debug("released callback {} ('{}')", id, it->second->type->name);
    persistent_.erase(it);
  }
}

CallScope::~CallScope() {
  for (Closure* c : taken_) {
    c->state.store(Closure::idle, std::memory_order_release);
    {
      std::lock_guard lock(c->mu);
      c->scope = nullptr;
    }
    std::lock_guard lock(c->type->mu);
    c->type->free.push_back(c);
  }
}

void* CallScope::bind(const std::shared_ptr<CallbackType>& type, std::uint64_t id) {
  if (type->persistent) return callbacks_.bind_persistent(type, id);
  Closure* c = nullptr;
  {
    std::lock_guard lock(type->mu);
    if (!type->free.empty()) {
      c = type->free.back();
      type->free.pop_back();
    }
  }
  if (!c) c = callbacks_.make_closure(type);
  taken_.push_back(c);
  {
    std::lock_guard lock(c->mu);
    c->scope = this;
  }
  c->id.store(id, std::memory_order_release);
  c->state.store(Closure::in_call, std::memory_order_release);
  return c->code;
}

void CallScope::fail(wire::ErrorKind kind, const std::string& message) {
  std::lock_guard lock(mu_);
  if (!failure_) failure_ = CallbackFailure{kind, message};
}

std::optional<CallbackFailure> CallScope::failure() {
  std::lock_guard lock(mu_);
  return failure_;
}

}  // namespace dllbridge::surrogate
