#include "dllbridge/bridge.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include "process/figures.hpp"
#include "channel/codec.hpp"
#include "channel/session.hpp"
#include "signature/signature.hpp"
#include "supervisor/supervisor.hpp"
#include "dllbridge/wire/utf8.hpp"

namespace dllbridge {
namespace detail {

// A library as the application sees it: loaded again in each new surrogate.
struct LibraryState {
  std::shared_ptr<Supervisor> supervisor;
  std::string path;

  // The library's id in `session`, loading it there first if needed.
  std::uint64_t ensure(Session& session, std::uint64_t generation, std::chrono::milliseconds timeout) {
    std::lock_guard lock(mu);
    if (loaded_in != generation) {
      id = session.channel().load_library(path, timeout);
      loaded_in = generation;
    }
    return id;
  }

 private:
  std::mutex mu;
  std::uint64_t loaded_in = 0;
  std::uint64_t id = 0;
};

// A declared function: registered again in each new surrogate.
struct FunctionState {
  std::shared_ptr<LibraryState> library;
  Signature signature;  // the declaration, checked, for the surrogate's ABI
  FunctionOptions options;

  // The function's id in `session`, registering it there first if needed.
  std::uint32_t ensure(Session& session, std::uint64_t generation, std::chrono::milliseconds timeout) const {
    const std::uint64_t lib = library->ensure(session, generation, timeout);
    std::lock_guard lock(mu);
    if (registered_in != generation) {
      const RegisteredFunction r = session.channel().register_function(
          lib, options.symbol.empty() ? signature.fn.name : options.symbol, signature, timeout);
      id = r.id;
      resolved = r.resolved_name;
      registered_in = generation;
    }
    return id;
  }

  std::string resolved_name() const {
    std::lock_guard lock(mu);
    return resolved;
  }

 private:
  mutable std::mutex mu;
  mutable std::uint64_t registered_in = 0;
  mutable std::uint32_t id = 0;
  mutable std::string resolved;
};

CallResult call_function(const Function& f, std::vector<Value>&& args) { return f.call(args); }

// What of Function the typed API reaches through call_function.
struct FunctionAccess {
  static CallResult call(const Function& f, const std::vector<Value>& args, const std::vector<Buffer>& outs) {
    return f.call(args, std::nullopt, &outs);
  }
};

CallResult call_function(const Function& f, std::vector<Value>&& args,
                         const std::vector<Buffer>& out_buffers) {
  return FunctionAccess::call(f, args, out_buffers);
}

}  // namespace detail

Bridge::Bridge(BridgeOptions options)
    : supervisor_(std::make_shared<detail::Supervisor>(std::move(options))) {}
Bridge::~Bridge() = default;
Bridge::Bridge(Bridge&&) noexcept = default;
Bridge& Bridge::operator=(Bridge&&) noexcept = default;

SurrogateInfo Bridge::surrogate() const { return supervisor_->info(); }
std::string Bridge::surrogate_path() const { return supervisor_->surrogate_path(); }

std::shared_ptr<void> Bridge::alloc_shared(std::size_t n, std::size_t size, void*& data) const {
  if (size != 0 && n > (std::size_t{1} << 40) / size)
    throw Error(ErrorKind::bad_argument, "alloc: " + std::to_string(n) + " elements are too many");
  const std::size_t bytes = std::max<std::size_t>(n * size, 1);
  if (std::shared_ptr<detail::Region> region = detail::Region::shared()) {
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
BridgeStats Bridge::stats() const { return supervisor_->stats(); }
int Bridge::subscribe(std::function<void(const BridgeEvent&)> h) {
  return supervisor_->subscribe(std::move(h));
}
void Bridge::unsubscribe(int id) { supervisor_->unsubscribe(id); }
void Bridge::on_restart(std::function<void()> hook) { supervisor_->on_restart(std::move(hook)); }
void Bridge::restart() { supervisor_->restart("restart requested by the application"); }
void Bridge::stop() { supervisor_->stop(); }

ProcessFigures Bridge::figures() const {
  const BridgeStats s = supervisor_->stats();
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
  auto state = std::make_shared<detail::LibraryState>();
  state->supervisor = supervisor_;
  state->path = path;
  supervisor_->execute([&](detail::Session& s, std::uint64_t generation,
                           std::chrono::milliseconds timeout) { state->ensure(s, generation, timeout); },
                       detail::CallOptions{true, supervisor_->options().policy.call_timeout, false});
  return Library(std::move(state));
}

const std::string& Library::path() const { return state_->path; }

Function Library::function(std::string_view text, FunctionOptions options) const {
  return function(sig::lower(sig::parse(text)), std::move(options));
}

Function Library::function(FunctionDecl declaration, FunctionOptions options) const {
  detail::Supervisor& sup = *state_->supervisor;
  const SurrogateInfo info = sup.info();
  auto state = std::make_shared<detail::FunctionState>();
  state->library = state_;
  state->options = std::move(options);
  state->signature = detail::make_signature(std::move(declaration),
                                            detail::TargetAbi{info.pointer_size, info.os == "windows"});
  sup.execute([&](detail::Session& s, std::uint64_t generation,
                  std::chrono::milliseconds timeout) { state->ensure(s, generation, timeout); },
              detail::CallOptions{true, sup.options().policy.call_timeout, false});
  return Function(std::move(state));
}

CallResult Function::call(const std::vector<Value>& args,
                          std::optional<std::chrono::milliseconds> timeout) const {
  return call(args, timeout, nullptr);
}

CallResult Function::call(const std::vector<Value>& args, std::optional<std::chrono::milliseconds> timeout,
                          const std::vector<Buffer>* out_buffers) const {
  const detail::FunctionState& s = *state_;
  detail::Supervisor& sup = *s.library->supervisor;
  const auto deadline = timeout ? *timeout : s.options.timeout.value_or(sup.options().policy.call_timeout);
  detail::EncodedCall encoded =
      detail::Channel::encode(s.signature, args, out_buffers);  // bad_argument before anything
  CallResult result;
  try {
    sup.execute(
        [&](detail::Session& session, std::uint64_t generation, std::chrono::milliseconds left) {
          const std::uint32_t id = s.ensure(session, generation, left);
          result =
              session.channel().call(id, s.signature, encoded, left);  // a retry sends the same arguments
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
