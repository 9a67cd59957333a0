// The text parsers behind read_figures on Linux (figures_posix.cpp), apart so
// tests can feed them odd input. They never throw: what they cannot read is
// left out (nullopt), never an exception out of Bridge::figures() / stats().
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace dllbridge::detail {

// The fields read_figures takes from a /proc/PID/stat line.
struct ProcStat {
  std::uint64_t utime_ticks = 0;  // field 14, in clock ticks
  std::uint64_t stime_ticks = 0;  // field 15, in clock ticks
  std::uint64_t threads = 0;      // field 20
  std::uint64_t vsize_bytes = 0;  // field 23
};

// Parses "PID (COMM) STATE ..." (COMM may hold spaces and parentheses: the
// last ')' ends it); nullopt when a field is missing or not a decimal number.
std::optional<ProcStat> parse_proc_stat(std::string_view line);

// The "KEY   1234 kB" line of /proc/PID/status text for `key` (e.g. "VmRSS:",
// matched at the start of a line) in bytes; nullopt when the line is absent,
// not a number, or would overflow.
std::optional<std::uint64_t> parse_status_kb(std::string_view status, std::string_view key);

// Clock ticks to microseconds for `ticks_per_second` (<= 0: the usual 100),
// without overflowing for large tick counts (saturates).
std::uint64_t ticks_to_us(std::uint64_t ticks, long ticks_per_second);

}  // namespace dllbridge::detail
