#include "dispatcher.hpp"

#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

#include "errors.hpp"
#include "ffi_types.hpp"
#include "text.hpp"

namespace dllbridge::surrogate {

struct Dispatcher::Function {
  std::string name;           // the export that matched
  void* address = nullptr;
  ffi_cif cif{};
  NativeType ret{};
  std::vector<NativeType> params;
  std::vector<ffi_type*> arg_types;  // cif points into this
};

Dispatcher::Dispatcher() = default;
Dispatcher::~Dispatcher() = default;

std::vector<std::string> symbol_candidates(const std::string& name, std::size_t stack_bytes) {
  if (!name.empty() && name[0] == '#') return {name};  // an ordinal: nothing to decorate
  const std::string n = std::to_string(stack_bytes);
  return {name, name + "@" + n, "_" + name + "@" + n, "@" + name + "@" + n, "_" + name};
}

wire::Reply Dispatcher::handle(const wire::Request& request) {
  wire::Reply reply;
  reply.set_id(request.id());
  try {
    switch (request.body_case()) {
      case wire::Request::kLoadLibrary:
        *reply.mutable_load_library() = load(request.load_library());
        break;
      case wire::Request::kRegisterFunction:
        *reply.mutable_register_function() = register_function(request.register_function());
        break;
      case wire::Request::kCall:
        *reply.mutable_call() = call(request.call());
        break;
      case wire::Request::kPing:
        reply.mutable_pong();
        break;
      default:
        throw Failure(wire::PROTOCOL, "unexpected request type " +
                                          std::to_string(int(request.body_case())));
    }
  } catch (const Failure& f) {
    reply.clear_body();
    reply.mutable_error()->set_kind(f.kind());
    reply.mutable_error()->set_message(f.what());
  }
  return reply;
}

wire::LoadLibraryReply Dispatcher::load(const wire::LoadLibraryRequest& req) {
  std::lock_guard lock(mu_);
  wire::LoadLibraryReply out;
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
  std::string key = std::to_string(req.library()) + '/' + req.name() + '/' +
                    std::to_string(req.conv()) + '/' + std::to_string(req.ret());
  for (int p : req.params()) key += ',' + std::to_string(p);
  wire::RegisterFunctionReply out;
  if (auto it = function_ids_.find(key); it != function_ids_.end()) {
    out.set_function(it->second);
    out.set_resolved_name(functions_[it->second - 1]->name);
    return out;
  }

  auto fn = std::make_unique<Function>();
  fn->ret = native_type(req.ret());
  if (req.ret() == wire::WSTRING) {
    throw Failure(wire::BAD_SIGNATURE, "wchar_t* return values are not supported yet");
  }
  std::size_t stack_bytes = 0;
  for (int p : req.params()) {
    const NativeType t = native_type(static_cast<wire::Scalar>(p));
    if (t.carrier == Carrier::None) throw Failure(wire::BAD_SIGNATURE, "a parameter cannot be void");
    fn->params.push_back(t);
    fn->arg_types.push_back(t.ffi);
    stack_bytes += (t.size + 3) / 4 * 4;  // i386 stack slots are 4 bytes
  }

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

  const ffi_status status =
      ffi_prep_cif(&fn->cif, native_abi(req.conv()), static_cast<unsigned>(fn->arg_types.size()),
                   fn->ret.ffi, fn->arg_types.data());
  if (status != FFI_OK) {
    throw Failure(wire::BAD_SIGNATURE, "libffi cannot build a call interface for '" + req.name() +
                                           "' (status " + std::to_string(int(status)) + ")");
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

// Reinterprets the low `size` bytes of `bits` as a signed / unsigned integer.
std::int64_t sign_extend(std::uint64_t bits, std::size_t size) {
  if (size >= 8) return static_cast<std::int64_t>(bits);
  const unsigned shift = 64 - 8 * static_cast<unsigned>(size);
  return static_cast<std::int64_t>(bits << shift) >> shift;
}
std::uint64_t zero_extend(std::uint64_t bits, std::size_t size) {
  return size >= 8 ? bits : bits & ((std::uint64_t{1} << (8 * size)) - 1);
}

constexpr std::size_t kMaxReturnedText = 1u << 20;

}  // namespace

wire::CallReply Dispatcher::call(const wire::Call& req) {
  const Function* found = nullptr;
  {
    std::lock_guard lock(mu_);  // entries never move: they live behind unique_ptr
    if (req.function() == 0 || req.function() > functions_.size()) {
      throw Failure(wire::PROTOCOL, "unknown function id " + std::to_string(req.function()));
    }
    found = functions_[req.function() - 1].get();
  }
  const Function& fn = *found;
  if (static_cast<std::size_t>(req.args_size()) != fn.params.size()) {
    throw Failure(wire::BAD_ARGUMENT, fn.name + " takes " + std::to_string(fn.params.size()) +
                                          " arguments, got " + std::to_string(req.args_size()));
  }

  const std::size_t n = fn.params.size();
  std::vector<std::uint64_t> slots(n);   // 8 bytes hold any scalar argument
  std::vector<void*> values(n);
  std::vector<std::string> texts(n);      // keeps text arguments alive
  std::vector<std::wstring> wide(n);
  for (std::size_t i = 0; i < n; ++i) {
    const wire::Value& v = req.args(static_cast<int>(i));
    const NativeType& t = fn.params[i];
    values[i] = &slots[i];
    switch (t.carrier) {
      case Carrier::Signed: {
        const std::int64_t x = v.v_case() == wire::Value::kU ? static_cast<std::int64_t>(v.u()) : v.i();
        std::memcpy(&slots[i], &x, t.size);  // little-endian: low bytes first
        break;
      }
      case Carrier::Unsigned: {
        const std::uint64_t x = v.v_case() == wire::Value::kI ? static_cast<std::uint64_t>(v.i()) : v.u();
        std::memcpy(&slots[i], &x, t.size);
        break;
      }
      case Carrier::Floating:
        if (t.size == sizeof(float)) {
          const float f = static_cast<float>(v.f());
          std::memcpy(&slots[i], &f, sizeof f);
        } else {
          const double d = v.f();
          std::memcpy(&slots[i], &d, sizeof d);
        }
        break;
      case Carrier::Text:
      case Carrier::WideText: {
        void* p = nullptr;
        if (v.v_case() == wire::Value::kText) {
          if (t.carrier == Carrier::Text) {
            texts[i] = v.text();
            p = texts[i].data();  // std::string keeps a NUL after the data
          } else {
            wide[i] = utf8_to_wide(v.text());
            p = wide[i].data();
          }
        } else if (v.v_case() != wire::Value::kNull) {
          throw Failure(wire::BAD_ARGUMENT, "argument " + std::to_string(i) + " of " + fn.name +
                                                " must be text or null");
        }
        std::memcpy(&slots[i], &p, sizeof p);
        break;
      }
      case Carrier::None:
        break;
    }
  }

  alignas(16) unsigned char ret[16] = {};
  clear_last_error();
  const auto start = std::chrono::steady_clock::now();
  ffi_call(const_cast<ffi_cif*>(&fn.cif), FFI_FN(fn.address), ret, values.data());
  const auto stop = std::chrono::steady_clock::now();
  const std::int64_t last_error = read_last_error();

  wire::CallReply out;
  out.set_last_error(last_error);
  out.set_elapsed_ns(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count()));
  // libffi widens integer results narrower than a register to ffi_arg.
  std::uint64_t bits = 0;
  if (fn.ret.size < sizeof(ffi_arg)) {
    ffi_arg a;
    std::memcpy(&a, ret, sizeof a);
    bits = a;
  } else {
    std::memcpy(&bits, ret, std::min<std::size_t>(fn.ret.size, sizeof bits));
  }
  wire::Value* r = out.mutable_ret();
  switch (fn.ret.carrier) {
    case Carrier::None: r->set_null(true); break;
    case Carrier::Signed: r->set_i(sign_extend(bits, fn.ret.size)); break;
    case Carrier::Unsigned: r->set_u(zero_extend(bits, fn.ret.size)); break;
    case Carrier::Floating:
      if (fn.ret.size == sizeof(float)) {
        float f;
        std::memcpy(&f, ret, sizeof f);
        r->set_f(f);
      } else {
        double d;
        std::memcpy(&d, ret, sizeof d);
        r->set_f(d);
      }
      break;
    case Carrier::Text: {
      const char* p;
      std::memcpy(&p, ret, sizeof p);
      if (p == nullptr) {
        r->set_null(true);
      } else {
        r->set_text(std::string(p, strnlen(p, kMaxReturnedText)));
      }
      break;
    }
    case Carrier::WideText: break;  // rejected at registration
  }
  return out;
}

}  // namespace dllbridge::surrogate
