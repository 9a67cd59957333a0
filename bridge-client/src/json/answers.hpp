// The answers dllbridge-call --json prints and dllbridge_call_json returns
// (docs/cli.md, docs/c-api.md): one definition for both, so that they cannot
// drift. Compiled into the client library and into dllbridge-call.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dllbridge/bridge.hpp"
#include "json_args.hpp"

namespace dllbridge::tools {

// The longest deadline a call may be given: 7 days. Anything longer is a
// mistake, and a huge one would overflow the clock arithmetic into an
// instant timeout.
constexpr std::int64_t kMaxTimeoutMs = std::int64_t{7} * 24 * 60 * 60 * 1000;

// What a deadline must be, for messages.
std::string timeout_range();

// `ms` as a call deadline; throws dllbridge::Error(bad_argument) naming `what` when out of range.
std::chrono::milliseconds checked_timeout(std::int64_t ms, const std::string& what);

// A JSON value (a batch line's or an options object's "timeout_ms") as a call
// deadline; throws dllbridge::Error(bad_argument) naming `what` for anything
// but an integer in range (text, null, fractions, huge numbers).
std::chrono::milliseconds json_timeout(const nlohmann::json& v, const std::string& what);

// {"error": {"kind": ..., "message": ...}}.
nlohmann::json error_json(ErrorKind kind, const std::string& message);

// The "stats" object of --stats.
nlohmann::json stats_json(const BridgeStats& s);

// A call's answer: {"return", "out", "last_error", "elapsed_us", "dll_us"}.
nlohmann::json result_json(const CallResult& result, double elapsed_us);

// Adds "callbacks" to an answer: the stubs' invocations recorded since the
// previous answer, when the call had a stub or any were recorded.
void add_callbacks(nlohmann::json& body, Stubs& stubs, bool had_stub);

// One call as an answer: converts `raw` by fn's declaration (to_arguments,
// `where` naming argument i), calls fn once, and gives result_json, or
// error_json for a dllbridge::Error or for a JSON shape no check foresaw
// (bad_argument, the message starting with `context`), with add_callbacks
// either way. `ok` tells which; `kind` is
// the error's. Throws only what allocation throws.
struct Answer {
  nlohmann::json body;
  bool ok = false;
  ErrorKind kind = ErrorKind::protocol;
};
Answer answer_call(const Function& fn, const std::vector<nlohmann::json>& raw,
                   std::optional<std::chrono::milliseconds> timeout,
                   const std::function<std::string(std::size_t)>& where, const std::string& context,
                   Stubs& stubs);

// An answer as printed: compact, one line (no newline), text that is not
// UTF-8 with U+FFFD.
std::string dump(const nlohmann::json& body);

}  // namespace dllbridge::tools
