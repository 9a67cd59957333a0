// Fuzz target `json_args`: dllbridge-call's JSON argument conversion
// (bridge-client/src/json/json_args.cpp: by the declaration, recording stubs for
// function pointers included) and the checks of the values against a
// declared signature (the codec's encode_call), as `dllbridge-call` and
// `--batch` run them before anything is sent. Input: a byte that picks a
// signature from fuzz_support.hpp and the surrogate's ABI, then JSON text:
// an array is the argument list, anything else one argument. The same
// arguments also go to a declaration with function pointers (parameters and
// a struct field), and as a callback's arguments to the recording's JSON.
// The contract: dllbridge::Error(bad_argument) or encoded arguments, and
// every Value turns back into JSON; anything else is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "channel/channel.hpp"
#include "channel/codec.hpp"
#include "dllbridge/error.hpp"
#include "fuzz_client.hpp"
#include "json_args.hpp"
#include "signature/signature.hpp"

using namespace dllbridge;
using json = nlohmann::json;

namespace {

[[noreturn]] void finding(const char* what, const Error& e) {
  std::fprintf(stderr, "json_args_fuzz: %s failed with kind %s: %s\n", what,
               std::string(to_string(e.kind())).c_str(), e.what());
  std::abort();
}

// Function pointers where dllbridge-call takes stubs: parameters of each
// return kind and lifetime, and a struct field behind a pointer.
const FunctionDecl& with_callbacks() {
  static const FunctionDecl fn = sig::lower(sig::parse(
      "struct ops { int (*cmp)(const int* a, const int* b); void* ctx; };"
      "typedef BOOL (CALLBACK *ENUMPROC)(int index, void* ctx);"
      "int f([in] const struct ops* o, ENUMPROC proc, [persistent] void (*h)(int x, const char* s),"
      "      double (*g)(const char* label, [size_is(n)] const double* v, int n), ...)"));
  return fn;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)fuzz::pick_signature(0);  // the list checked once
  (void)with_callbacks();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Reader in(data, size);
  const std::uint8_t pick = in.byte();
  const detail::Signature* signature = fuzz::pick_signature(pick);

  json j;
  try {
    j = json::parse(in.rest());
  } catch (const json::exception&) {
    return 0;  // dllbridge-call takes such an argument as a bare word: text
  }
  const std::vector<json> raw = j.is_array() ? j.get<std::vector<json>>() : std::vector<json>{j};
  const auto where = [](std::size_t i) { return "argument " + std::to_string(i + 1); };
  tools::Stubs stubs;
  try {
    const std::vector<Value> stubbed = tools::to_arguments(with_callbacks(), raw, where, stubs);
    (void)tools::invocation_json(with_callbacks(), stubbed);
    (void)stubs.recorder->take();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::bad_argument) finding("the JSON conversion with stubs", e);
  }
  std::vector<Value> args;
  try {
    if (signature) {
      args = tools::to_arguments(signature->fn, raw, where, stubs);
    } else {
      for (std::size_t i = 0; i < raw.size(); ++i) args.push_back(tools::to_value(raw[i], where(i)));
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::bad_argument) finding("the JSON conversion", e);
    return 0;
  }
  for (const Value& v : args) {
    const std::string shown = tools::to_json(v).dump(-1, ' ', false, json::error_handler_t::replace);
    (void)shown;
  }
  try {
    detail::EncodedCall call =
        signature ? detail::Channel::encode(*signature, detail::Span<Value>(args)) : detail::EncodedCall{};
    (void)call;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::bad_argument) finding("the argument check", e);
  }
  return 0;
}
