// dllbridge client API: call functions of a 32-bit library from a 64-bit
// program through a surrogate process.
//
//   dllbridge::Bridge bridge;                            // starts surrogate32
//   dllbridge::Library lib = bridge.load("legacy.dll");
//   auto add = lib.function<int32_t(int32_t, int32_t)>("add", dllbridge::CallConv::Stdcall);
//   int32_t r = add(2, 40);                              // 42, computed in the surrogate
//
// Every operation throws dllbridge::Error on failure. Bridge, Library and
// Function are cheap handles onto one shared session and safe to use from
// several threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dllbridge/error.hpp"
#include "dllbridge/export.hpp"
#include "dllbridge/typed.hpp"
#include "dllbridge/types.hpp"

namespace dllbridge {

namespace detail {
class Session;
struct FunctionState;
}  // namespace detail

// How to reach a surrogate and how long to wait for it.
struct BridgeOptions {
  Arch arch = Arch::x86;                       // which surrogate to start
  std::string surrogate_path;                  // empty: $DLLBRIDGE_SURROGATE_DIR, then next to the client
  std::vector<std::string> launcher;           // run the surrogate through this (e.g. an emulator)
  std::string connect;                         // endpoint of a standalone surrogate; empty: start one
  std::chrono::milliseconds start_timeout{10000};   // spawn + handshake
  std::chrono::milliseconds call_timeout{30000};    // default deadline of each call
  std::string surrogate_log_level = "warn";    // trace|debug|info|warn|error|off
};

class Function;
class Library;

// A connection to one surrogate process (started, or standalone).
class DLLBRIDGE_API Bridge {
 public:
  // Starts (or connects to) the surrogate and completes the handshake.
  // Throws Error(surrogate_start_failed | protocol | unauthorized).
  explicit Bridge(BridgeOptions options = {});
  ~Bridge();
  Bridge(Bridge&&) noexcept;
  Bridge& operator=(Bridge&&) noexcept;

  // What the surrogate said about itself in the handshake.
  const SurrogateInfo& surrogate() const;

  // The surrogate's OS figures now (CPU time, memory, threads, handles).
  // Throws Error(crashed) when the process is gone.
  ProcessFigures figures() const;

  // Loads a library in the surrogate (UTF-8 path; loading twice is cheap).
  // Throws Error(library_load_failed) with the loader's reason.
  Library load(const std::string& path);

  // The full path of the surrogate program this bridge starts (empty in
  // connect mode).
  const std::string& surrogate_path() const;

 private:
  std::shared_ptr<detail::Session> session_;
};

// A library loaded in the surrogate.
class DLLBRIDGE_API Library {
 public:
  // Declares a function by a signature (docs/contracts section 3), resolves
  // its export and prepares its call. Throws Error(bad_signature |
  // symbol_not_found).
  Function function(std::string_view signature) const;

  // Typed form: the C++ signature gives the parameter and return types.
  // Throws like function(signature).
  template <class Signature>
  TypedFunction<Signature> function(const std::string& name, CallConv conv = CallConv::Cdecl) const;

  const std::string& path() const { return path_; }

 private:
  friend class Bridge;
  Library(std::shared_ptr<detail::Session> s, std::uint64_t id, std::string path)
      : session_(std::move(s)), id_(id), path_(std::move(path)) {}
  std::shared_ptr<detail::Session> session_;
  std::uint64_t id_ = 0;
  std::string path_;
};

// A callable export with a known signature.
class DLLBRIDGE_API Function {
 public:
  // Calls the function. `args` holds one value per parameter; each is checked
  // against its parameter before anything is sent (Error(bad_argument) names
  // the parameter). Other failures: timeout (past `timeout`, or the bridge's
  // default), crashed (the surrogate died; names the signal), protocol.
  CallResult call(const std::vector<Value>& args,
                  std::optional<std::chrono::milliseconds> timeout = std::nullopt) const;

  // The export that matched (maybe a decorated form of the name).
  const std::string& resolved_name() const;
  // The name as declared.
  const std::string& name() const;
  // Parameter names in order, and the scalar kind of the return value.
  std::vector<std::string> parameter_names() const;

 private:
  friend class Library;
  explicit Function(std::shared_ptr<const detail::FunctionState> s) : state_(std::move(s)) {}
  std::shared_ptr<const detail::FunctionState> state_;
};

template <class Signature>
TypedFunction<Signature> Library::function(const std::string& name, CallConv conv) const {
  return TypedFunction<Signature>(function(detail::typed_declaration<Signature>(name, conv)));
}

template <class R, class... A>
TypedFunction<R(A...)>::TypedFunction(Function f)
    : function_(std::make_shared<Function>(std::move(f))) {}

}  // namespace dllbridge
