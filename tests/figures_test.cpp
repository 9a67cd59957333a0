// The /proc parsers behind Bridge::figures() / stats() on Linux: odd input
// gives no figure, never an exception.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "process/figures_posix.hpp"

using dllbridge::detail::parse_proc_stat;
using dllbridge::detail::parse_status_kb;
using dllbridge::detail::ProcStat;
using dllbridge::detail::ticks_to_us;

namespace {

// A stat line with `comm` and fields 3.. as given (field 3 first).
std::string stat_line(const std::string& comm, const std::string& fields) {
  return "4242 (" + comm + ") " + fields;
}

// Fields 3..23 with utime 11, stime 22, 7 threads and vsize 123456789.
const std::string kFields =
    "S 1 4242 4242 0 -1 4194560 100 0 0 0 11 22 0 0 20 0 7 0 555 123456789 300 extra fields";

}  // namespace

TEST(Figures, ReadsAWellFormedStatLine) {
  const auto s = parse_proc_stat(stat_line("surrogate32", kFields));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->utime_ticks, 11u);
  EXPECT_EQ(s->stime_ticks, 22u);
  EXPECT_EQ(s->threads, 7u);
  EXPECT_EQ(s->vsize_bytes, 123456789u);
}

TEST(Figures, ACommWithSpacesAndParenthesesDoesNotShiftTheFields) {
  const auto s = parse_proc_stat(stat_line("a) b (c) d", kFields));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->threads, 7u);
  EXPECT_EQ(s->vsize_bytes, 123456789u);
}

TEST(Figures, OddStatLinesGiveNothingAndNeverThrow) {
  // Each of these made std::stoull throw (or substr go out of range) before.
  const std::string odd[] = {
      "",
      "4242 (x)",  // nothing after the name: substr past the end
      "no parenthesis at all",
      stat_line("x", "S 1 2 3"),  // too few fields
      stat_line("x", "S 1 4242 4242 0 -1 4194560 100 0 0 0 abc 22 0 0 20 0 7 0 555 123456789"),  // utime
      stat_line("x", "S 1 4242 4242 0 -1 4194560 100 0 0 0 11 22 0 0 20 0 7 0 555 -5"),          // negative
      stat_line("x", "S 1 4242 4242 0 -1 4194560 100 0 0 0 11 22 0 0 20 0 99999999999999999999999 0 555 1"),
      stat_line("x", "S 1 4242 4242 0 -1 4194560 100 0 0 0 11x 22 0 0 20 0 7 0 555 1"),  // trailing junk
  };
  for (const std::string& line : odd) {
    std::optional<ProcStat> s;
    EXPECT_NO_THROW(s = parse_proc_stat(line)) << line;
    EXPECT_FALSE(s) << line;
  }
}

TEST(Figures, ReadsStatusLinesInBytes) {
  const std::string status = "Name:\tsurrogate32\nVmHWM:\t    2048 kB\nVmRSS:\t    1234 kB\nThreads:\t3\n";
  EXPECT_EQ(parse_status_kb(status, "VmRSS:"), std::optional<std::uint64_t>(1234u * 1024));
  EXPECT_EQ(parse_status_kb(status, "VmHWM:"), std::optional<std::uint64_t>(2048u * 1024));
}

TEST(Figures, OddStatusTextGivesNothingAndNeverThrows) {
  const std::pair<std::string, const char*> odd[] = {
      {"", "VmRSS:"},
      {"Name:\tx\n", "VmRSS:"},  // absent
      {"VmRSS:\n", "VmRSS:"},    // no number: stoull threw invalid_argument
      {"VmRSS:\t abc kB\n", "VmRSS:"},
      {"VmRSS:", "VmRSS:"},                                // key at the very end
      {"VmRSS:\t99999999999999999999999 kB\n", "VmRSS:"},  // stoull threw out_of_range
      {"VmRSS:\t18446744073709551615 kB\n", "VmRSS:"},     // fits, but not once in bytes
      {"XVmRSS:\t12 kB\n", "VmRSS:"},                      // only at the start of a line
      {"VmRSS:\t-12 kB\n", "VmRSS:"},
  };
  for (const auto& [text, key] : odd) {
    std::optional<std::uint64_t> v;
    EXPECT_NO_THROW(v = parse_status_kb(text, key)) << text;
    EXPECT_FALSE(v) << text;
  }
}

TEST(Figures, TicksBecomeMicrosecondsWithoutOverflow) {
  EXPECT_EQ(ticks_to_us(150, 100), 1500000u);
  EXPECT_EQ(ticks_to_us(1, 3), 333333u);
  EXPECT_EQ(ticks_to_us(250, -1), 2500000u) << "an unknown tick rate is taken as 100";
  EXPECT_EQ(ticks_to_us(std::numeric_limits<std::uint64_t>::max(), 100),
            std::numeric_limits<std::uint64_t>::max());
}
