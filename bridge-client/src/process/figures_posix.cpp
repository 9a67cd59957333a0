#include "process/figures_posix.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <limits>
#include <memory>
#include <string>

#include "process/figures.hpp"

namespace dllbridge::detail {
namespace {

// The whole of `text` as a decimal number, or nullopt.
std::optional<std::uint64_t> decimal(std::string_view text) {
  std::uint64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return v;
}

bool blank(char c) { return c == ' ' || c == '\t'; }

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view line) {
  const std::size_t close = line.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(close + 1);
  ProcStat s;
  // Fields after "(comm)": state is field 3; utime 14, stime 15, threads 20, vsize 23.
  for (int field = 3; field <= 23; ++field) {
    while (!rest.empty() && blank(rest.front())) rest.remove_prefix(1);
    std::size_t len = 0;
    while (len < rest.size() && !blank(rest[len]) && rest[len] != '\n') ++len;
    if (len == 0) return std::nullopt;
    const std::string_view token = rest.substr(0, len);
    rest.remove_prefix(len);
    std::uint64_t* into = field == 14   ? &s.utime_ticks
                          : field == 15 ? &s.stime_ticks
                          : field == 20 ? &s.threads
                          : field == 23 ? &s.vsize_bytes
                                        : nullptr;
    if (!into) continue;
    const std::optional<std::uint64_t> v = decimal(token);
    if (!v) return std::nullopt;
    *into = *v;
  }
  return s;
}

std::optional<std::uint64_t> parse_status_kb(std::string_view status, std::string_view key) {
  if (key.empty()) return std::nullopt;
  for (std::size_t at = 0; at < status.size();) {
    const std::size_t eol = std::min(status.find('\n', at), status.size());
    std::string_view line = status.substr(at, eol - at);
    at = eol + 1;
    if (line.substr(0, key.size()) != key) continue;
    line.remove_prefix(key.size());
    while (!line.empty() && blank(line.front())) line.remove_prefix(1);
    std::size_t len = 0;
    while (len < line.size() && line[len] >= '0' && line[len] <= '9') ++len;
    const std::optional<std::uint64_t> kb = decimal(line.substr(0, len));
    if (!kb || *kb > std::numeric_limits<std::uint64_t>::max() / 1024) return std::nullopt;
    return *kb * 1024;
  }
  return std::nullopt;
}

std::uint64_t ticks_to_us(std::uint64_t ticks, long ticks_per_second) {
  const std::uint64_t hz = ticks_per_second > 0 ? static_cast<std::uint64_t>(ticks_per_second) : 100;
  const std::uint64_t whole = ticks / hz, part = ticks % hz;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  if (whole > (kMax - 1000000) / 1000000) return kMax;
  return whole * 1000000 + part * 1000000 / hz;
}

namespace {

// A /proc file's contents, or nothing when it cannot be read whole. Plain
// read(2): a process that ends while it is read fails the read with ESRCH,
// which a std::filebuf reports by throwing out of an istreambuf_iterator.
std::optional<std::string> read_proc_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      text.append(buf, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      ::close(fd);
      if (n < 0) return std::nullopt;
      return text;
    }
  }
}

}  // namespace

std::optional<ProcessFigures> read_figures(std::uint32_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  const std::optional<std::string> stat_text = read_proc_file(dir + "/stat");
  if (!stat_text || stat_text->empty()) return std::nullopt;
  const std::string stat = stat_text->substr(0, stat_text->find('\n'));
  const std::string status = read_proc_file(dir + "/status").value_or(std::string());

  ProcessFigures f;
  f.pid = pid;
  const ProcStat s = parse_proc_stat(stat).value_or(ProcStat{});
  const long ticks = ::sysconf(_SC_CLK_TCK);
  f.cpu_user = std::chrono::microseconds(static_cast<std::int64_t>(
      std::min<std::uint64_t>(ticks_to_us(s.utime_ticks, ticks), std::numeric_limits<std::int64_t>::max())));
  f.cpu_kernel = std::chrono::microseconds(static_cast<std::int64_t>(
      std::min<std::uint64_t>(ticks_to_us(s.stime_ticks, ticks), std::numeric_limits<std::int64_t>::max())));
  f.threads = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(s.threads, std::numeric_limits<std::uint32_t>::max()));
  f.virtual_bytes = s.vsize_bytes;
  f.resident_bytes = parse_status_kb(status, "VmRSS:").value_or(0);
  f.peak_resident_bytes = parse_status_kb(status, "VmHWM:").value_or(0);
  const std::unique_ptr<DIR, int (*)(DIR*)> fds(::opendir((dir + "/fd").c_str()), ::closedir);
  if (fds) {
    while (const dirent* e = ::readdir(fds.get())) f.handles += e->d_name[0] != '.';
  }
  return f;
}

}  // namespace dllbridge::detail
