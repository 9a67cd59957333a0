#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "process/figures.hpp"

namespace dllbridge::detail {
namespace {

// "VmRSS:   1234 kB" -> bytes.
std::uint64_t status_kb(const std::string& status, const char* key) {
  const std::size_t at = status.find(key);
  if (at == std::string::npos) return 0;
  return std::stoull(status.substr(at + std::char_traits<char>::length(key))) * 1024;
}

}  // namespace

std::optional<ProcessFigures> read_figures(std::uint32_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  std::ifstream stat_file(dir + "/stat");
  std::string stat;
  if (!stat_file || !std::getline(stat_file, stat)) return std::nullopt;
  std::ifstream status_file(dir + "/status");
  const std::string status((std::istreambuf_iterator<char>(status_file)), {});

  ProcessFigures f;
  f.pid = pid;
  // Fields after "(comm)": state is field 3; utime 14, stime 15, threads 20, vsize 23.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0, threads = 0, vsize = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
    if (i == 20) threads = std::stoull(field);
    if (i == 23) {
      vsize = std::stoull(field);
      break;
    }
  }
  const long ticks = ::sysconf(_SC_CLK_TCK);
  f.cpu_user = std::chrono::microseconds(utime * 1000000ull / static_cast<unsigned long long>(ticks));
  f.cpu_kernel = std::chrono::microseconds(stime * 1000000ull / static_cast<unsigned long long>(ticks));
  f.threads = static_cast<std::uint32_t>(threads);
  f.virtual_bytes = vsize;
  f.resident_bytes = status_kb(status, "VmRSS:");
  f.peak_resident_bytes = status_kb(status, "VmHWM:");
  if (DIR* d = ::opendir((dir + "/fd").c_str())) {
    while (const dirent* e = ::readdir(d)) f.handles += e->d_name[0] != '.';
    ::closedir(d);
  }
  return f;
}

}  // namespace dllbridge::detail
