// Fuzz target `signature`: the signature parser (bridge-client/src/signature/)
// and the checks after it. Input: signature text. It is parsed, lowered to a
// declaration tree, checked for each of the four surrogate ABIs and encoded
// as a registration. The contract: dllbridge::Error(bad_signature) or a
// result; any other exception, a crash or undefined behaviour is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "channel/codec.hpp"
#include "dllbridge/error.hpp"
#include "fuzz_support.hpp"
#include "signature/signature.hpp"

using namespace dllbridge;

namespace {

// A refusal must say bad_signature; anything else is a finding.
void expect_bad_signature(const Error& e, const char* stage) {
  if (e.kind() == ErrorKind::bad_signature) return;
  std::fprintf(stderr, "signature_fuzz: the %s failed with kind %s: %s\n", stage,
               std::string(to_string(e.kind())).c_str(), e.what());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  FunctionDecl decl;
  try {
    decl = sig::lower(sig::parse(text));
  } catch (const Error& e) {
    expect_bad_signature(e, "parse");
    return 0;
  }
  for (std::uint8_t b = 0; b < 4; ++b) {
    try {
      const detail::Signature s = detail::make_signature(decl, fuzz::abi_from(b));
      wire::RegisterFunction reg;
      detail::encode_register(s, reg);
      (void)reg.ByteSizeLong();
    } catch (const Error& e) {
      expect_bad_signature(e, "check");
    }
  }
  return 0;
}
