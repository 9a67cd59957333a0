#include "dllbridge/bridge.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include "process/figures.hpp"
#include "channel/codec.hpp"
#include "channel/environment.hpp"
#include "channel/session.hpp"
#include "signature/signature.hpp"
#include "supervisor/pool.hpp"
#include "dllbridge/wire/utf8.hpp"

namespace dllbridge {
namespace detail {

// A library as the application sees it: loaded again in each new surrogate
// (in each member of a pool, on first use there).
struct LibraryState {
  LibraryState(std::shared_ptr<Pool> p, std::string library_path)
      : pool(std::move(p)), path(std::move(library_path)), in(pool->size()) {}
  std::shared_ptr<Pool> pool;
  std::string path;

  // The library's id in `session`, loading it there first if needed.
  std::uint64_t ensure(Session& session, const Slot& slot, std::chrono::milliseconds timeout) {
    std::lock_guard lock(mu);
    Loaded& l = in[slot.member];
    if (l.generation != slot.generation) {
      l.id = session.load_library(path, timeout);
      l.generation = slot.generation;
    }
    return l.id;
  }

 private:
  struct Loaded {
    std::uint64_t generation = 0;  // 0: not loaded in this member yet
    std::uint64_t id = 0;
  };
  std::mutex mu;
  std::vector<Loaded> in;  // per pool member
};

// A declared function: registered again in each new surrogate (in each
// member of a pool, on first use there).
struct FunctionState {
  explicit FunctionState(std::shared_ptr<LibraryState> lib)
      : library(std::move(lib)), registered(library->pool->size()) {}
  std::shared_ptr<LibraryState> library;
  Signature signature;  // the declaration, checked, for the surrogate's ABI
  FunctionOptions options;

  // The function's id in `session`, registering it there first if needed.
  std::uint32_t ensure(Session& session, const Slot& slot, std::chrono::milliseconds timeout) const {
    const std::uint64_t lib = library->ensure(session, slot, timeout);
    std::lock_guard lock(mu);
    Registered& r = registered[slot.member];
    if (r.generation != slot.generation) {
      const RegisteredFunction got = session.register_function(
          lib, options.symbol.empty() ? signature.fn.name : options.symbol, signature, timeout);
      r.id = got.id;
      resolved = got.resolved_name;
      r.generation = slot.generation;
    }
    return r.id;
  }

  std::string resolved_name() const {
    std::lock_guard lock(mu);
    return resolved;
  }

 private:
  struct Registered {
    std::uint64_t generation = 0;  // 0: not registered in this member yet
    std::uint32_t id = 0;
  };
  mutable std::mutex mu;
  mutable std::vector<Registered> registered;  // per pool member
  mutable std::string resolved;
};

// What of Function the typed API reaches through call_function.
struct FunctionAccess {
  static CallResult call(const Function& f, Span<Value> args, Span<Buffer> outs) {
    return f.call(args, std::nullopt, outs);
  }
};

CallResult call_function(const Function& f, Span<Value> args) { return FunctionAccess::call(f, args, {}); }

CallResult call_function(const Function& f, Span<Value> args, Span<Buffer> out_buffers) {
  return FunctionAccess::call(f, args, out_buffers);
}

}  // namespace detail

namespace {

// A bad DLLBRIDGE_* variable fails the construction, not a later start.
std::shared_ptr<detail::Pool> checked_pool(BridgeOptions options) {
  detail::check_environment();
  return std::make_shared<detail::Pool>(std::move(options));
}

}  // namespace

Bridge::Bridge(BridgeOptions options) : pool_(checked_pool(std::move(options))) {}
Bridge::~Bridge() = default;
Bridge::Bridge(Bridge&&) noexcept = default;
Bridge& Bridge::operator=(Bridge&&) noexcept = default;

SurrogateInfo Bridge::surrogate() const { return pool_->info(); }
std::string Bridge::surrogate_path() const { return pool_->surrogate_path(); }
BridgeStats Bridge::stats() const { return pool_->stats(); }
std::vector<BridgeStats> Bridge::member_stats() const { return pool_->member_stats(); }
int Bridge::subscribe(std::function<void(const BridgeEvent&)> h) { return pool_->subscribe(std::move(h)); }
void Bridge::unsubscribe(int id) { pool_->unsubscribe(id); }
int Bridge::on_restart(std::function<void()> hook) { return pool_->on_restart(std::move(hook)); }

void Bridge::remove_restart_hook(int id) { pool_->remove_restart_hook(id); }
void Bridge::for_each_surrogate(const std::function<void(std::size_t)>& fn) { pool_->for_each_member(fn); }
void Bridge::restart() { pool_->restart("restart requested by the application"); }
void Bridge::stop() { pool_->stop(); }
std::shared_ptr<void> Bridge::alloc_shared(std::size_t n, std::size_t size, void*& data) const {
  if (size != 0 && n > (std::size_t{1} << 40) / size)
    throw Error(ErrorKind::bad_argument, "alloc: " + std::to_string(n) + " elements are too many");
  const std::size_t bytes = std::max<std::size_t>(n * size, 1);
  if (std::shared_ptr<detail::Region> region = pool_->region()) {  // this bridge's own
    auto lease = std::make_shared<detail::RegionLease>(region->allocate(bytes));
    if (lease->data()) {
      std::memset(lease->data(), 0, bytes);
      data = lease->data();
      return lease;
    }
  }
  // No region (or no room in it): ordinary memory, which calls copy.
  std::shared_ptr<unsigned char[]> heap(
      new (std::align_val_t{64}) unsigned char[bytes](),
      [](unsigned char* p) { ::operator delete[](p, std::align_val_t{64}); });
  data = heap.get();
  return heap;
}

ProcessFigures Bridge::figures() const {
  const BridgeStats s = pool_->stats();
  if (s.pid != 0) {
    if (auto f = detail::read_figures(s.pid)) return *f;
  }
  throw Error(ErrorKind::crashed, "no surrogate process is running (" + std::string(to_string(s.state)) +
                                      (s.reason.empty() ? "" : ": " + s.reason) + ")");
}

Library Bridge::load(const std::string& path) {
  // Checked before anything is sent: nothing to restart for a bad path.
  if (path.empty()) throw Error(ErrorKind::bad_argument, "the library path is empty");
  if (!wire::is_valid_utf8(path))
    throw Error(ErrorKind::bad_argument, "the library path is not valid UTF-8 (paths travel as UTF-8)");
  auto state = std::make_shared<detail::LibraryState>(pool_, path);
  pool_->execute([&](detail::Session& s, const detail::Slot& slot,
                     std::chrono::milliseconds timeout) { state->ensure(s, slot, timeout); },
                 detail::CallOptions{true, pool_->options().policy.call_timeout, false});
  return Library(std::move(state));
}

const std::string& Library::path() const { return state_->path; }

Function Library::function(std::string_view text, FunctionOptions options) const {
  return function(sig::lower(sig::parse(text)), std::move(options));
}

Function Library::function(FunctionDecl declaration, FunctionOptions options) const {
  detail::Pool& pool = *state_->pool;
  const SurrogateInfo info = pool.info();
  auto state = std::make_shared<detail::FunctionState>(state_);
  state->options = std::move(options);
  state->signature = detail::make_signature(std::move(declaration),
                                            detail::TargetAbi{info.pointer_size, info.os == "windows"});
  pool.execute([&](detail::Session& s, const detail::Slot& slot,
                   std::chrono::milliseconds timeout) { state->ensure(s, slot, timeout); },
               detail::CallOptions{true, pool.options().policy.call_timeout, false});
  return Function(std::move(state));
}

CallResult Function::call(const std::vector<Value>& args,
                          std::optional<std::chrono::milliseconds> timeout) const {
  return call(detail::Span<Value>(args), timeout, {});
}

CallResult Function::call(detail::Span<Value> args, std::optional<std::chrono::milliseconds> timeout,
                          detail::Span<Buffer> out_buffers) const {
  const detail::FunctionState& s = *state_;
  detail::Pool& pool = *s.library->pool;
  const auto deadline = timeout ? *timeout : s.options.timeout.value_or(pool.options().policy.call_timeout);
  detail::EncodedCall encoded =
      detail::Channel::encode(s.signature, args, out_buffers, pool.region());  // bad_argument before anything
  CallResult result;
  // One reference captured: the std::function holds it in place (no allocation).
  struct Call {
    const detail::FunctionState& s;
    detail::EncodedCall& encoded;
    CallResult& result;
  } call{s, encoded, result};
  try {
    pool.execute(
        [&call](detail::Session& session, const detail::Slot& slot, std::chrono::milliseconds left) {
          const std::uint32_t id = call.s.ensure(session, slot, left);
          call.result = session.channel().call(id, call.s.signature, call.encoded,
                                               left);  // a retry sends the same arguments
        },
        detail::CallOptions{s.options.idempotent, deadline, true});
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::timeout) encoded.abandon_region();  // a DLL may still write there
    throw;
  }
  return result;
}

std::string Function::resolved_name() const { return state_->resolved_name(); }
const std::string& Function::name() const { return state_->signature.fn.name; }
const FunctionDecl& Function::declaration() const { return state_->signature.fn; }

std::vector<std::string> Function::parameter_names() const {
  std::vector<std::string> names;
  for (const auto& p : state_->signature.fn.params) names.push_back(p.name);
  return names;
}

}  // namespace dllbridge
