// The C API (dllbridge/dllbridge.h) over the C++ one: handles own C++
// objects, every exception becomes a status and the thread's message, JSON
// answers come from src/json (the same as dllbridge-call's).
#include "dllbridge/dllbridge.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dllbridge/bridge.hpp"
#include "json/answers.hpp"

using json = nlohmann::json;
namespace tools = dllbridge::tools;
using dllbridge::Error;
using dllbridge::ErrorKind;

struct dllbridge_library {
  dllbridge_bridge* owner;
  dllbridge::Library lib;
};

struct dllbridge_function {
  dllbridge_bridge* owner;
  dllbridge::Function fn;
};

struct dllbridge_bridge {
  explicit dllbridge_bridge(dllbridge::BridgeOptions options) : bridge(std::move(options)) {}
  // The stubs given to [persistent] function pointers: declared first so
  // that they outlive the bridge (the DLL may call them until it stops).
  std::vector<dllbridge::Callback> kept;
  dllbridge::Bridge bridge;
  std::mutex mu;  // guards kept, libraries and functions
  std::vector<std::unique_ptr<dllbridge_library>> libraries;
  std::vector<std::unique_ptr<dllbridge_function>> functions;
};

namespace {

thread_local std::string t_message;

dllbridge_status status_of(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::timeout: return DLLBRIDGE_TIMEOUT;
    case ErrorKind::crashed: return DLLBRIDGE_CRASHED;
    case ErrorKind::circuit_open: return DLLBRIDGE_CIRCUIT_OPEN;
    case ErrorKind::bad_signature: return DLLBRIDGE_BAD_SIGNATURE;
    case ErrorKind::bad_argument: return DLLBRIDGE_BAD_ARGUMENT;
    case ErrorKind::symbol_not_found: return DLLBRIDGE_SYMBOL_NOT_FOUND;
    case ErrorKind::library_load_failed: return DLLBRIDGE_LIBRARY_LOAD_FAILED;
    case ErrorKind::surrogate_start_failed: return DLLBRIDGE_SURROGATE_START_FAILED;
    case ErrorKind::protocol: return DLLBRIDGE_PROTOCOL;
    case ErrorKind::unauthorized: return DLLBRIDGE_UNAUTHORIZED;
    case ErrorKind::callback_failed: return DLLBRIDGE_CALLBACK_FAILED;
  }
  return DLLBRIDGE_INTERNAL;
}

// Records `a` + `b` as the thread's message and returns s. Never throws:
// without memory for the message, it is left empty.
dllbridge_status fail(dllbridge_status s, const char* a, const char* b = "") noexcept {
  try {
    t_message.assign(a);
    t_message.append(b);
  } catch (...) {
    t_message.clear();
  }
  return s;
}

Error bad(const std::string& message) { return Error(ErrorKind::bad_argument, message); }

// Runs f (which returns a status); every exception becomes a failed status and the thread's message.
template <class F>
dllbridge_status guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const Error& e) {
    return fail(status_of(e.kind()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(DLLBRIDGE_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return fail(DLLBRIDGE_INTERNAL, "internal error: ", e.what());
  } catch (...) {
    return fail(DLLBRIDGE_INTERNAL, "internal error: an exception of unknown type");
  }
}

void require(const void* p, const char* what) {
  if (p == nullptr) throw bad(std::string(what) + " is NULL");
}

// `text` (named `what`) as JSON; bad_argument when it is not JSON.
json parse(const char* text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw bad(what + ": not JSON: " + e.what());
  }
}

// `text` as a JSON object (named `what`).
json parse_object(const char* text, const std::string& what) {
  json j = parse(text, what);
  if (!j.is_object()) throw bad(what + " must be a JSON object, not " + tools::shown(j));
  return j;
}

std::string string_option(const json& v, const std::string& what) {
  if (!v.is_string()) throw bad(what + " must be a string, not " + tools::shown(v));
  return v.get<std::string>();
}

bool bool_option(const json& v, const std::string& what) {
  if (!v.is_boolean()) throw bad(what + " must be true or false, not " + tools::shown(v));
  return v.get<bool>();
}

dllbridge::BridgeOptions bridge_options(const char* text) {
  dllbridge::BridgeOptions o;
  if (text == nullptr) return o;
  const json given = parse_object(text, "options_json");
  for (const auto& [key, v] : given.items()) {
    const std::string what = "options_json: \"" + key + "\"";
    if (key == "arch") {
      if (!v.is_number_integer() || (v.get<std::int64_t>() != 32 && v.get<std::int64_t>() != 64))
        throw bad(what + " must be 32 or 64, not " + tools::shown(v));
      o.arch = v.get<std::int64_t>() == 64 ? dllbridge::Arch::x64 : dllbridge::Arch::x86;
    } else if (key == "call_timeout_ms") {
      o.policy.call_timeout = tools::json_timeout(v, what);
    } else if (key == "surrogate_path") {
      o.surrogate_path = string_option(v, what);
    } else if (key == "connect") {
      o.connect = string_option(v, what);
    } else if (key == "token_file") {
      o.token_file = string_option(v, what);
    } else if (key == "low_latency") {
      o.low_latency = bool_option(v, what);
    } else if (key == "fork_server") {
      o.fork_server = bool_option(v, what);
    } else if (key == "pool_size") {
      if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > 64)
        throw bad(what + " must be a whole number from 1 to 64, not " + tools::shown(v));
      o.pool_size = static_cast<std::size_t>(v.get<std::int64_t>());
    } else if (key == "shared_region") {
      o.shared_region = bool_option(v, what);
    } else if (key == "shared_frames") {
      o.shared_frames = bool_option(v, what);
    } else if (key == "region_budget") {
      if (!v.is_number_integer() || v.get<std::int64_t>() < 0)
        throw bad(what + " must be a whole number of bytes, 0 or more, not " + tools::shown(v));
      o.region_budget = static_cast<std::uint64_t>(v.get<std::int64_t>());
    } else if (key == "surrogate_log_level") {
      o.surrogate_log_level = string_option(v, what);
      static const char* const levels[] = {"trace", "debug", "info", "warn", "error", "off"};
      bool known = false;
      for (const char* l : levels) known = known || o.surrogate_log_level == l;
      if (!known) throw bad(what + " must be trace, debug, info, warn, error or off, not " + tools::shown(v));
    } else {
      throw bad("options_json: unknown key \"" + key +
                "\" (known: arch, call_timeout_ms, surrogate_path, connect, token_file, low_latency, "
                "fork_server, pool_size, shared_region, shared_frames, region_budget, "
                "surrogate_log_level)");
    }
  }
  return o;
}

dllbridge::FunctionOptions function_options(const char* text) {
  dllbridge::FunctionOptions o;
  if (text == nullptr) return o;
  const json given = parse_object(text, "options_json");
  for (const auto& [key, v] : given.items()) {
    const std::string what = "options_json: \"" + key + "\"";
    if (key == "idempotent") {
      o.idempotent = bool_option(v, what);
    } else if (key == "timeout_ms") {
      o.timeout = tools::json_timeout(v, what);
    } else if (key == "symbol") {
      o.symbol = string_option(v, what);
    } else {
      throw bad("options_json: unknown key \"" + key + "\" (known: idempotent, timeout_ms, symbol)");
    }
  }
  return o;
}

std::optional<std::chrono::milliseconds> call_timeout(std::int64_t timeout_ms) {
  if (timeout_ms == DLLBRIDGE_DEFAULT_TIMEOUT) return std::nullopt;
  return tools::checked_timeout(timeout_ms, "timeout_ms");
}

// A copy of `s` for the caller (dllbridge_free); throws bad_alloc.
char* c_string(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p == nullptr) throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

dllbridge_status call_json(dllbridge_function* f, const char* args_json, std::int64_t timeout_ms,
                           char** result_json) {
  if (result_json != nullptr) *result_json = nullptr;
  return guarded([&]() -> dllbridge_status {
    json body;
    dllbridge_status status = DLLBRIDGE_OK;
    try {
      require(f, "the function handle");
      std::vector<json> raw;
      if (args_json != nullptr) {
        json args = parse(args_json, "args_json");
        if (!args.is_array())
          throw bad("args_json must be a JSON array (one value per parameter that is not [out]), not " +
                    tools::shown(args));
        raw = args.get<std::vector<json>>();
      }
      const std::optional<std::chrono::milliseconds> timeout = call_timeout(timeout_ms);
      tools::Stubs stubs;
      tools::Answer a = tools::answer_call(
          f->fn, raw, timeout, [](std::size_t i) { return "argument " + std::to_string(i + 1); }, "args_json",
          stubs);
      stubs.recorder->close();  // the answer has the invocations; a persistent stub's later ones go nowhere
      if (!stubs.kept.empty()) {
        std::lock_guard<std::mutex> lock(f->owner->mu);
        for (dllbridge::Callback& c : stubs.kept) f->owner->kept.push_back(std::move(c));
      }
      body = std::move(a.body);
      if (!a.ok) status = status_of(a.kind);
    } catch (const Error& e) {
      body = tools::error_json(e.kind(), e.what());
      status = status_of(e.kind());
    } catch (const std::bad_alloc&) {
      throw;                             // no memory for an answer either
    } catch (const std::exception& e) {  // a bug: still an answer, of the C API's own kind
      body = {{"error", {{"kind", "internal"}, {"message", std::string("internal error: ") + e.what()}}}};
      status = DLLBRIDGE_INTERNAL;
    }
    if (status != DLLBRIDGE_OK) fail(status, body["error"]["message"].get_ref<const std::string&>().c_str());
    if (result_json != nullptr) *result_json = c_string(tools::dump(body));
    return status;
  });
}

dllbridge_value to_c(const dllbridge::Value& v) {
  dllbridge_value r{};
  r.kind = DLLBRIDGE_VALUE_NULL;
  if (const auto* b = std::get_if<bool>(&v)) {
    r.kind = DLLBRIDGE_VALUE_INT;
    r.as.i = *b ? 1 : 0;
  } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
    r.kind = DLLBRIDGE_VALUE_INT;
    r.as.i = *i;
  } else if (const auto* u = std::get_if<std::uint64_t>(&v)) {
    r.kind = DLLBRIDGE_VALUE_UINT;
    r.as.u = *u;
  } else if (const auto* d = std::get_if<double>(&v)) {
    r.kind = DLLBRIDGE_VALUE_DOUBLE;
    r.as.d = *d;
  } else if (!std::holds_alternative<dllbridge::Null>(v)) {
    throw Error(ErrorKind::protocol, "the return value is not a scalar");
  }
  return r;
}

dllbridge::Value from_c(const dllbridge_value& v, std::size_t i) {
  // The caller may have stored any number there (C allows it): read it as
  // one, not as the enum, whose other values C++ may assume away.
  std::underlying_type_t<dllbridge_kind> kind;
  static_assert(sizeof kind == sizeof v.kind);
  std::memcpy(&kind, &v.kind, sizeof kind);
  switch (kind) {
    case DLLBRIDGE_VALUE_NULL: return dllbridge::Null{};
    case DLLBRIDGE_VALUE_INT: return v.as.i;
    case DLLBRIDGE_VALUE_UINT: return v.as.u;
    case DLLBRIDGE_VALUE_DOUBLE: return v.as.d;
    default: break;
  }
  throw bad("args[" + std::to_string(i) + "]: kind " + std::to_string(kind) + " is not a dllbridge_kind");
}

}  // namespace

extern "C" {

dllbridge_status dllbridge_open(const char* options_json, dllbridge_bridge** out) {
  return guarded([&]() -> dllbridge_status {
    require(out, "dllbridge_open: out");
    dllbridge::BridgeOptions options = bridge_options(options_json);
    *out = new dllbridge_bridge(std::move(options));
    return DLLBRIDGE_OK;
  });
}

dllbridge_status dllbridge_load(dllbridge_bridge* b, const char* path_utf8, dllbridge_library** out) {
  return guarded([&]() -> dllbridge_status {
    require(b, "dllbridge_load: the bridge handle");
    require(path_utf8, "dllbridge_load: path_utf8");
    require(out, "dllbridge_load: out");
    auto lib = std::make_unique<dllbridge_library>(dllbridge_library{b, b->bridge.load(path_utf8)});
    std::lock_guard<std::mutex> lock(b->mu);
    b->libraries.push_back(std::move(lib));
    *out = b->libraries.back().get();
    return DLLBRIDGE_OK;
  });
}

dllbridge_status dllbridge_declare_ex(dllbridge_library* lib, const char* signature, const char* options_json,
                                      dllbridge_function** out) {
  return guarded([&]() -> dllbridge_status {
    require(lib, "dllbridge_declare: the library handle");
    require(signature, "dllbridge_declare: signature");
    require(out, "dllbridge_declare: out");
    dllbridge::FunctionOptions options = function_options(options_json);
    auto fn = std::make_unique<dllbridge_function>(
        dllbridge_function{lib->owner, lib->lib.function(signature, std::move(options))});
    std::lock_guard<std::mutex> lock(lib->owner->mu);
    lib->owner->functions.push_back(std::move(fn));
    *out = lib->owner->functions.back().get();
    return DLLBRIDGE_OK;
  });
}

dllbridge_status dllbridge_declare(dllbridge_library* lib, const char* signature, dllbridge_function** out) {
  return dllbridge_declare_ex(lib, signature, nullptr, out);
}

dllbridge_status dllbridge_call_json(dllbridge_function* f, const char* args_json, char** result_json) {
  return call_json(f, args_json, DLLBRIDGE_DEFAULT_TIMEOUT, result_json);
}

dllbridge_status dllbridge_call_json_timeout(dllbridge_function* f, const char* args_json, int64_t timeout_ms,
                                             char** result_json) {
  return call_json(f, args_json, timeout_ms, result_json);
}

dllbridge_status dllbridge_call_values(dllbridge_function* f, const dllbridge_value* args, size_t nargs,
                                       int64_t timeout_ms, dllbridge_value* ret, int64_t* last_error) {
  return guarded([&]() -> dllbridge_status {
    require(f, "dllbridge_call_values: the function handle");
    if (nargs > 0) require(args, "dllbridge_call_values: args");
    const dllbridge::FunctionDecl& decl = f->fn.declaration();
    if (decl.variadic)
      throw bad("dllbridge_call_values: " + decl.name + " is variadic: use dllbridge_call_json");
    for (const dllbridge::ParamDecl& p : decl.params) {
      if (p.type.kind != dllbridge::TypeDecl::Kind::scalar)
        throw bad("dllbridge_call_values: parameter '" + p.name + "' of " + decl.name +
                  " is not a scalar or a handle: use dllbridge_call_json");
    }
    if (decl.ret.kind != dllbridge::TypeDecl::Kind::scalar)
      throw bad("dllbridge_call_values: " + decl.name + " does not return a scalar: use dllbridge_call_json");
    std::vector<dllbridge::Value> values;
    values.reserve(nargs);
    for (std::size_t i = 0; i < nargs; ++i) values.push_back(from_c(args[i], i));
    const dllbridge::CallResult r = f->fn.call(values, call_timeout(timeout_ms));
    const dllbridge_value v = to_c(r.ret);
    if (ret != nullptr) *ret = v;
    if (last_error != nullptr) *last_error = r.last_error;
    return DLLBRIDGE_OK;
  });
}

dllbridge_status dllbridge_stats_json(dllbridge_bridge* b, char** stats_json) {
  if (stats_json != nullptr) *stats_json = nullptr;
  return guarded([&]() -> dllbridge_status {
    require(b, "dllbridge_stats_json: the bridge handle");
    require(stats_json, "dllbridge_stats_json: stats_json");
    *stats_json = c_string(tools::dump(tools::stats_json(b->bridge.stats())));
    return DLLBRIDGE_OK;
  });
}

dllbridge_status dllbridge_restart(dllbridge_bridge* b) {
  return guarded([&]() -> dllbridge_status {
    require(b, "dllbridge_restart: the bridge handle");
    b->bridge.restart();
    return DLLBRIDGE_OK;
  });
}

const char* dllbridge_status_name(dllbridge_status s) {
  switch (s) {
    case DLLBRIDGE_OK: return "ok";
    case DLLBRIDGE_TIMEOUT: return "timeout";
    case DLLBRIDGE_CRASHED: return "crashed";
    case DLLBRIDGE_CIRCUIT_OPEN: return "circuit_open";
    case DLLBRIDGE_BAD_SIGNATURE: return "bad_signature";
    case DLLBRIDGE_BAD_ARGUMENT: return "bad_argument";
    case DLLBRIDGE_SYMBOL_NOT_FOUND: return "symbol_not_found";
    case DLLBRIDGE_LIBRARY_LOAD_FAILED: return "library_load_failed";
    case DLLBRIDGE_SURROGATE_START_FAILED: return "surrogate_start_failed";
    case DLLBRIDGE_PROTOCOL: return "protocol";
    case DLLBRIDGE_UNAUTHORIZED: return "unauthorized";
    case DLLBRIDGE_CALLBACK_FAILED: return "callback_failed";
    case DLLBRIDGE_INTERNAL: return "internal";
    default: return "unknown";
  }
}

const char* dllbridge_last_error_message(void) { return t_message.c_str(); }

void dllbridge_free(char* s) { std::free(s); }

void dllbridge_close(dllbridge_bridge* b) { delete b; }

}  // extern "C"
