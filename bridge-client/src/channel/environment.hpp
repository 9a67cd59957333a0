// The environment variables that override a bridge's options
// (docs/performance.md, "Knobs"): one reading of each, so that a value the
// bridge does not understand is an error that names it, never a silent
// default.
#pragma once

#include <cstdint>
#include <optional>

namespace dllbridge::detail {

// Variable `name` as a switch: nullopt when unset or empty, true for "on",
// false for "off". Throws Error(bad_argument) naming the variable for
// anything else.
std::optional<bool> env_switch(const char* name);

// Variable `name` as a number of bytes, optionally with a K, M or G suffix
// (binary): nullopt when unset or empty. Throws Error(bad_argument) naming
// the variable for anything else, or for more than 2^64 - 1 bytes.
std::optional<std::uint64_t> env_bytes(const char* name);

// Reads every variable a bridge reads (DLLBRIDGE_FORK_SERVER,
// DLLBRIDGE_SHARED_FRAMES, DLLBRIDGE_SHARED_REGION, DLLBRIDGE_REGION_BUDGET,
// DLLBRIDGE_COPY_AFTER_SEND, DLLBRIDGE_BULK_POLL), so that a bad one fails
// the Bridge's construction rather than a later start. Throws as above.
void check_environment();

}  // namespace dllbridge::detail
