// Fuzz target `json_args`: dllbridge-call's JSON argument conversion
// (bridge-client/tools/json_args.cpp) and the checks of the values against a
// declared signature (the codec's encode_call), as `dllbridge-call` and
// `--batch` run them before anything is sent. Input: a byte that picks a
// signature from fuzz_support.hpp and the surrogate's ABI, then JSON text:
// an array is the argument list, anything else one argument. The contract:
// dllbridge::Error(bad_argument) or encoded arguments, and every Value turns
// back into JSON; anything else is a finding.
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

using namespace dllbridge;
using json = nlohmann::json;

namespace {

[[noreturn]] void finding(const char* what, const Error& e) {
  std::fprintf(stderr, "json_args_fuzz: %s failed with kind %s: %s\n", what,
               std::string(to_string(e.kind())).c_str(), e.what());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)fuzz::pick_signature(0);  // the list checked once
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
  std::vector<Value> args;
  try {
    if (j.is_array()) {
      for (const json& a : j) args.push_back(tools::to_value(a, "argument"));
    } else {
      args.push_back(tools::to_value(j, "argument 1"));
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
    detail::EncodedCall call = signature ? detail::Channel::encode(*signature, args) : detail::EncodedCall{};
    (void)call;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::bad_argument) finding("the argument check", e);
  }
  return 0;
}
