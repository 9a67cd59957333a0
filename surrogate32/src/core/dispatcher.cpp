#include "core/dispatcher.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

#include "core/errors.hpp"
#include "core/ffi_types.hpp"
#include "core/marshal.hpp"
#include "dllbridge/rules/reply.hpp"
#include "dllbridge/wire/ready_word.hpp"

namespace dllbridge::surrogate {

struct Dispatcher::Function {
  std::string name;  // the export that matched
  void* address = nullptr;
  ffi_abi abi = FFI_DEFAULT_ABI;
  bool variadic = false;
  ffi_cif cif{};  // fixed-argument functions: built once
  Layout ret;
  std::vector<Layout> params;
  std::vector<ffi_type*> arg_types;  // cif points into this
  wire::RegisterFunction types;      // the wire types, for the reply's size bound
};

Dispatcher::Dispatcher() = default;
Dispatcher::~Dispatcher() = default;

std::vector<std::string> symbol_candidates(const std::string& name, std::size_t stack_bytes) {
  if (!name.empty() && name[0] == '#') return {name};  // an ordinal: nothing to decorate
  const std::string n = std::to_string(stack_bytes);
  return {name, name + "@" + n, "_" + name + "@" + n, "@" + name + "@" + n, "_" + name};
}

void Dispatcher::handle(const wire::Request& request, wire::Reply& reply) {
  reply.set_id(request.id());
  try {
    switch (request.body_case()) {
      case wire::Request::kLoadLibrary: {
        const auto dll = hold_dll();
        *reply.mutable_load_library() = load(request.load_library());
        break;
      }
      case wire::Request::kRegisterFunction: {
        const auto dll = hold_dll();
        *reply.mutable_register_function() = register_function(request.register_function());
        break;
      }
      case wire::Request::kCall: call(request.call(), *reply.mutable_call()); break;  // takes it itself
      case wire::Request::kPing: reply.mutable_pong(); break;
      case wire::Request::kRelease: {
        const auto dll = hold_dll();
        callbacks_.release(request.release());
        reply.mutable_release();
        break;
      }
      default:
        throw Failure(wire::PROTOCOL, "unexpected request type " + std::to_string(int(request.body_case())));
    }
  } catch (const Failure& f) {
    reply.clear_body();
    reply.mutable_error()->set_kind(f.kind());
    reply.mutable_error()->set_message(f.what());
  }
}

wire::LoadLibraryReply Dispatcher::load(const wire::LoadLibraryRequest& req) {
  std::lock_guard lock(mu_);
  wire::LoadLibraryReply out;
  // An empty path would name this program itself (dlopen / GetModuleHandle): its
  // own symbols are not a library to call.
  if (req.path().empty()) throw Failure(wire::BAD_ARGUMENT, "the library path is empty");
  if (auto it = library_ids_.find(req.path()); it != library_ids_.end()) {
    out.set_library(it->second);
    return out;
  }
  libraries_.push_back(Library::open(req.path()));
  const std::uint64_t id = libraries_.size();
  library_ids_.emplace(req.path(), id);
  spdlog::debug("loaded {} as library {}", req.path(), id);
  out.set_library(id);
  return out;
}

wire::RegisterFunctionReply Dispatcher::register_function(const wire::RegisterFunction& req) {
  std::lock_guard lock(mu_);
  if (req.library() == 0 || req.library() > libraries_.size()) {
    throw Failure(wire::PROTOCOL, "unknown library id " + std::to_string(req.library()));
  }
  // The same declaration registered twice shares one call interface.
  std::string key = std::to_string(req.library()) + '/' + req.name() + '/' + std::to_string(req.conv()) +
                    (req.variadic() ? "/..." : "/") + req.ret().SerializeAsString();
  for (const wire::TypeNode& p : req.params()) key += '|' + p.SerializeAsString();
  wire::RegisterFunctionReply out;
  if (auto it = function_ids_.find(key); it != function_ids_.end()) {
    out.set_function(it->second);
    out.set_resolved_name(functions_[it->second - 1]->name);
    return out;
  }

  auto fn = std::make_unique<Function>();
  TypeBudget budget;
  fn->ret = build_layout(req.ret(), Role::Return, 0, budget);
  if (fn->ret.kind != wire::TypeNode::SCALAR && fn->ret.kind != wire::TypeNode::STRUCT) {
    throw Failure(wire::BAD_SIGNATURE, "a function returns a scalar, text or a struct");
  }
  std::size_t stack_bytes = 0;
  for (const wire::TypeNode& p : req.params()) {
    fn->params.push_back(build_layout(p, Role::Parameter, 0, budget));
    fn->arg_types.push_back(fn->params.back().ffi);
    stack_bytes += (fn->params.back().size + 3) / 4 * 4;  // i386 stack slots are 4 bytes
  }
  check_count_refs(fn->params, "the parameters of '" + req.name() + "'");
  *fn->types.mutable_ret() = req.ret();
  *fn->types.mutable_params() = req.params();
  fn->abi = native_abi(req.conv());
  fn->variadic = req.variadic();

  const Library& lib = libraries_[req.library() - 1];
  for (const std::string& candidate : symbol_candidates(req.name(), stack_bytes)) {
    if (void* address = lib.symbol(candidate)) {
      fn->address = address;
      fn->name = candidate;
      break;
    }
  }
  if (fn->address == nullptr) {
    throw Failure(wire::SYMBOL_NOT_FOUND, "no export '" + req.name() + "' (nor its decorated forms @" +
                                              std::to_string(stack_bytes) + ") in " + lib.path());
  }

  if (!fn->variadic) {
    const ffi_status status = ffi_prep_cif(&fn->cif, fn->abi, static_cast<unsigned>(fn->arg_types.size()),
                                           fn->ret.ffi, fn->arg_types.data());
    if (status != FFI_OK) {
      throw Failure(wire::BAD_SIGNATURE, "libffi cannot build a call interface for '" + req.name() +
                                             "' (status " + std::to_string(int(status)) + ")");
    }
  }
  functions_.push_back(std::move(fn));
  const auto id = static_cast<std::uint32_t>(functions_.size());
  function_ids_.emplace(std::move(key), id);
  out.set_function(id);
  out.set_resolved_name(functions_.back()->name);
  spdlog::debug("registered {} as function {}", functions_.back()->name, id);
  return out;
}

namespace {

// How long a call's ready word is polled before the surrogate sleeps on it:
// about what copying a few MiB takes, so the usual call never sleeps twice.
constexpr std::chrono::microseconds kReadySpin{200};
// How long the bytes of a call may take to arrive: far more than copying
// the largest region takes; past it the client is taken to be gone.
constexpr std::chrono::seconds kReadyGiveUp{30};

// Returns once the client has put the call's region bytes in place
// (Call.ready). Throws Failure(protocol) for a word outside the region,
// when the bytes did not come in kReadyGiveUp, or when `abandoned` was set
// meanwhile (the session ended).
void wait_for_bytes(const wire::Region& r, std::uint32_t copier_cpu, const RegionMap& region,
                    const std::atomic<bool>& abandoned) {
  unsigned char* p = r.length() == sizeof(wire::ReadyWord) && r.offset() % alignof(wire::ReadyWord) == 0
                         ? region.at(r.segment(), r.offset(), r.length())
                         : nullptr;
  if (p == nullptr) {
    throw Failure(wire::PROTOCOL, "the call's ready word (" + std::to_string(r.length()) + " bytes at " +
                                      std::to_string(r.offset()) + " of segment " +
                                      std::to_string(r.segment()) +
                                      ") is not an aligned word of the shared region");
  }
  const int cpu = copier_cpu != 0 && copier_cpu <= 0x10000 ? static_cast<int>(copier_cpu - 1) : -1;
  if (!wire::wait_ready(wire::ready_word_at(p), kReadySpin, cpu,
                        std::chrono::steady_clock::now() + kReadyGiveUp, &abandoned)) {
    if (abandoned.load(std::memory_order_acquire)) {
      throw Failure(wire::PROTOCOL, "the session ended before the call's buffers were in the shared region");
    }
    throw Failure(wire::PROTOCOL, "the client did not put the call's buffers in the shared region within " +
                                      std::to_string(kReadyGiveUp.count()) + " s");
  }
}

}  // namespace

void Dispatcher::call(const wire::Call& req, wire::CallReply& out) {
  const Function* found = nullptr;
  {
    std::lock_guard lock(mu_);  // entries never move: they live behind unique_ptr
    if (req.function() == 0 || req.function() > functions_.size()) {
      throw Failure(wire::PROTOCOL, "unknown function id " + std::to_string(req.function()));
    }
    found = functions_[req.function() - 1].get();
  }
  const Function& fn = *found;
  if (!fn.variadic && req.extra_types_size() != 0) {
    throw Failure(wire::BAD_ARGUMENT, fn.name + " is not variadic, got extra argument types");
  }
  const std::size_t fixed = fn.params.size();
  const std::size_t n = fixed + static_cast<std::size_t>(req.extra_types_size());
  if (static_cast<std::size_t>(req.args_size()) != n) {
    throw Failure(wire::BAD_ARGUMENT, fn.name + " takes " + std::to_string(n) + " arguments, got " +
                                          std::to_string(req.args_size()));
  }

  // Variadic calls: the extra arguments' types come with each call.
  std::vector<Layout> extras;
  std::vector<ffi_type*> arg_types;  // variadic only: fixed functions have their cif
  if (fn.variadic) arg_types = fn.arg_types;
  TypeBudget budget;
  for (const wire::TypeNode& t : req.extra_types()) {
    extras.push_back(build_layout(t, Role::Extra, 0, budget));
    arg_types.push_back(extras.back().ffi);
  }
  ffi_cif var_cif{};
  const ffi_cif* cif = &fn.cif;
  if (fn.variadic) {
    const ffi_status status = ffi_prep_cif_var(&var_cif, fn.abi, static_cast<unsigned>(fixed),
                                               static_cast<unsigned>(n), fn.ret.ffi, arg_types.data());
    if (status != FFI_OK) {
      throw Failure(wire::BAD_ARGUMENT, "libffi cannot call " + fn.name +
                                            " with these extra arguments (status " +
                                            std::to_string(int(status)) + ")");
    }
    cif = &var_cif;
  }

  // Nothing reads an argument before its bytes are in place, and no other
  // session waits for them (set_dll_lock).
  if (req.has_ready()) wait_for_bytes(req.ready(), req.copier_cpu(), region_, abandoned_);
  const auto dll = hold_dll();

  CallScope callbacks(callbacks_);  // ends after mem: closures outlive the call's memory
  CallMemory mem;
  mem.binder = &callbacks;
  mem.region = &region_;
  // The arguments' slots and libffi's pointers to them: on the stack for
  // up to kInlineArgs arguments (no allocation per call).
  constexpr std::size_t kInlineArgs = 16;
  unsigned char* slots_inline[kInlineArgs];
  void* values_inline[kInlineArgs];
  std::vector<unsigned char*> slots_heap;
  std::vector<void*> values_heap;
  unsigned char** slots = slots_inline;
  void** values = values_inline;
  if (n > kInlineArgs) {
    slots_heap.resize(n);
    values_heap.resize(n);
    slots = slots_heap.data();
    values = values_heap.data();
  }
  for (std::size_t i = 0; i < n; ++i) {
    const Layout& t = i < fixed ? fn.params[i] : extras[i - fixed];
    slots[i] = mem.allocate(std::max<std::size_t>(t.size, sizeof(std::uint64_t)), t.name);
    write_value(t, req.args(static_cast<int>(i)), slots[i], mem, &req.args());
    values[i] = slots[i];
  }
  unsigned char* ret = mem.allocate(std::max<std::size_t>(fn.ret.size, 16), "return value");
  // Limits before work: a reply that could not be sent back is refused
  // before the DLL runs (the client computes the same bound before sending).
  const std::uint64_t reply_bound =
      rules::call_reply_bound(fn.types.ret(), fn.types.params(), req, rules::native_abi());
  if (const std::string why = rules::reply_problem(reply_bound); !why.empty())
    throw Failure(wire::BAD_ARGUMENT, fn.name + ": " + why);

  // Nothing between the call and the last-error reads: not even the clock.
  const auto start = std::chrono::steady_clock::now();
  clear_last_error();
  ffi_call(const_cast<ffi_cif*>(cif), FFI_FN(fn.address), ret, values);
  const std::int64_t last_error = read_last_error();
  const auto stop = std::chrono::steady_clock::now();
  // A callback that failed in the client (it threw) fails the call: the DLL
  // went on with the default return, its result is not what was asked.
  if (const std::optional<CallbackFailure> failed = callbacks.failure())
    throw Failure(failed->kind, failed->message);

  out.set_last_error(last_error);
  if (req.has_ready()) {
    const int cpu = wire::current_cpu();
    out.set_cpu(cpu >= 0 ? static_cast<std::uint32_t>(cpu) + 1 : 0);
  }
  out.set_elapsed_ns(
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count()));
  *out.mutable_ret() = read_return(fn.ret, ret);
  for (std::size_t i = 0; i < fixed; ++i) {
    const Layout& t = fn.params[i];
    wire::Value* o = out.add_out();
    if (t.kind == wire::TypeNode::POINTER && (t.dir == wire::DIR_OUT || t.dir == wire::DIR_INOUT)) {
      void* p;
      std::memcpy(&p, slots[i], sizeof p);  // the buffer we passed (the DLL got a copy of the pointer)
      *o = read_pointee(t, p, mem);
    } else {
      o->set_null(true);
    }
  }
}

}  // namespace dllbridge::surrogate
