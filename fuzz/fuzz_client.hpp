// The signatures of fuzz_support.hpp checked by the client's codec, for the
// targets that drive the client (json_args, client_reply).
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include "channel/codec.hpp"
#include "dllbridge/error.hpp"
#include "fuzz_support.hpp"
#include "signature/signature.hpp"

namespace dllbridge::fuzz {

// The signature and ABI that byte `pick` selects: bits 0-1 the ABI
// (abi_from), the rest an index into signatures(). Null when that ABI refuses
// the signature. Every signature must be accepted by some ABI: a list that
// has a typo aborts at the first use, not as a finding later.
inline const detail::Signature* pick_signature(std::uint8_t pick) {
  static const auto table = [] {
    std::array<std::vector<std::optional<detail::Signature>>, 4> t;
    for (const std::string& text : signatures()) {
      bool any = false;
      for (std::uint8_t b = 0; b < 4; ++b) {
        try {
          t[b].push_back(detail::make_signature(sig::lower(sig::parse(text)), abi_from(b)));
          any = true;
        } catch (const Error&) {
          t[b].push_back(std::nullopt);
        }
      }
      if (!any) {
        std::fprintf(stderr, "fuzz: no ABI accepts the listed signature '%s'\n", text.c_str());
        std::abort();
      }
    }
    return t;
  }();
  const auto& list = table[pick & 3];
  const auto& s = list[(pick >> 2) % list.size()];
  return s ? &*s : nullptr;
}

}  // namespace dllbridge::fuzz
