// The JSON forms of dllbridge-call and the C API (docs/cli.md, section 3):
// JSON arguments to Values and Values (results, [out] parameters) back to
// JSON, and the recording stubs that stand for function pointers. Compiled
// into the client library (for dllbridge_call_json) and into dllbridge-call,
// and reached by the fuzz target fuzz/json_args_fuzz.cpp.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dllbridge/declaration.hpp"
#include "dllbridge/types.hpp"

namespace dllbridge::tools {

// A JSON argument as a Value: arrays become lists, objects structs (or a
// typed variadic argument such as {"int": 3}). Throws
// dllbridge::Error(bad_argument) naming `where` for a value nested more than
// 16 deep or of a kind the tool does not pass.
Value to_value(const nlohmann::json& j, const std::string& where, int depth = 0);

// A Value as JSON: lists become arrays, structs objects. Never throws for
// any Value (text that is not UTF-8 is kept as it is; dump it with
// error_handler_t::replace).
nlohmann::json to_json(const Value& v);

// `j` for messages: compact, invalid UTF-8 replaced, cut to about 40 characters.
std::string shown(const nlohmann::json& j);

// The invocations of recording stubs, in the order they arrived, from any
// thread (the bridge's callback threads run the stubs).
class Recorder {
 public:
  // Appends {"param": param, "args": args}.
  void record(const std::string& param, nlohmann::json args);
  // What was recorded since the last take() (a JSON array, maybe empty); empties the record.
  nlohmann::json take();
  // Nobody reads the record any more (dllbridge_call_json after its
  // answer): drops it, and later invocations (of persistent stubs) record nothing.
  void close();

 private:
  std::mutex mu_;
  bool closed_ = false;
  nlohmann::json entries_ = nlohmann::json::array();
};

// The stubs of one dllbridge-call session: where they record, and the
// persistent ones, which must keep answering until the session ends.
struct Stubs {
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  // The stubs given to [persistent] function pointers: the DLL may keep them
  // and call them after their call; dropping the last copy would release them.
  std::vector<Callback> kept;
  std::size_t made = 0;  // stubs made so far
};

// `j` as the argument for a parameter (or a field or element inside one) of
// type `t` at `path` ("cmp", "o.cmp", "v[2]"): as to_value, except that a
// function pointer takes null (a null pointer) or a recording stub
// {"callback": {"returns": VALUE}}, which answers every invocation with
// VALUE and records its arguments in stubs.recorder as {"param": path,
// "args": invocation_json(...)}; "returns" is left out for (and only for) a
// void callback. Struct fields and pointees are walked by the declaration,
// so a function-pointer field takes a stub too. Throws
// dllbridge::Error(bad_argument) naming `path` for anything else given for a
// function pointer, a stub given for something else, or a "returns" of the
// wrong JSON kind for the callback's return type (its range is checked when
// the stub answers: a value out of range makes the call fail with
// callback_failed); naming `where` as to_value does.
Value to_argument(const nlohmann::json& j, const TypeDecl& t, const std::string& path,
                  const std::string& where, Stubs& stubs, int depth = 0);

// The JSON arguments of a call to `fn` as Values, by its declaration: one
// for each parameter that takes an argument (all but [out] ones; an
// [out, size_is(*)] one takes its count), by to_argument, then the variadic
// extras, by to_value. `where(i)` names argument i in messages. The count is
// not checked here (the call checks it). Throws dllbridge::Error(bad_argument).
std::vector<Value> to_arguments(const FunctionDecl& fn, const std::vector<nlohmann::json>& raw,
                                const std::function<std::string(std::size_t)>& where, Stubs& stubs);

// A callback's arguments as a JSON object keyed by the callback's own
// parameter names, values as to_json gives them. Never throws but for
// allocation.
nlohmann::json invocation_json(const FunctionDecl& fn, const std::vector<Value>& args);

}  // namespace dllbridge::tools
