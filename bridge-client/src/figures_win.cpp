#include "dllbridge/wire/win32.hpp"

#include <psapi.h>
#include <tlhelp32.h>

#include "figures.hpp"

namespace dllbridge::detail {
namespace {

std::chrono::microseconds to_us(const FILETIME& ft) {
  const std::uint64_t ticks = (std::uint64_t{ft.dwHighDateTime} << 32) | ft.dwLowDateTime;  // 100 ns
  return std::chrono::microseconds(ticks / 10);
}

// Threads of `pid` from a toolhelp snapshot (no per-process API gives it).
std::uint32_t thread_count(std::uint32_t pid) {
  win::UniqueHandle snap(::CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0));
  if (!snap) return 0;
  PROCESSENTRY32W e{};
  e.dwSize = sizeof e;
  for (BOOL ok = ::Process32FirstW(snap.get(), &e); ok; ok = ::Process32NextW(snap.get(), &e)) {
    if (e.th32ProcessID == pid) return e.cntThreads;
  }
  return 0;
}

// Reserved and committed address space, region by region.
std::uint64_t virtual_size(HANDLE process) {
  std::uint64_t total = 0;
  MEMORY_BASIC_INFORMATION mbi{};
  const unsigned char* at = nullptr;
  while (::VirtualQueryEx(process, at, &mbi, sizeof mbi) == sizeof mbi) {
    if (mbi.State != MEM_FREE) total += mbi.RegionSize;
    const unsigned char* next = static_cast<const unsigned char*>(mbi.BaseAddress) + mbi.RegionSize;
    if (next <= at) break;
    at = next;
  }
  return total;
}

}  // namespace

std::optional<ProcessFigures> read_figures(std::uint32_t pid) {
  win::UniqueHandle process(
      ::OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ | SYNCHRONIZE, FALSE, pid));
  if (!process) process.reset(::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE, pid));
  if (!process) return std::nullopt;
  DWORD code = 0;
  if (::GetExitCodeProcess(process.get(), &code) && code != STILL_ACTIVE) return std::nullopt;

  ProcessFigures f;
  f.pid = pid;
  FILETIME created{}, exited{}, kernel{}, user{};
  if (::GetProcessTimes(process.get(), &created, &exited, &kernel, &user)) {
    f.cpu_user = to_us(user);
    f.cpu_kernel = to_us(kernel);
  }
  PROCESS_MEMORY_COUNTERS mem{};
  mem.cb = sizeof mem;
  if (::GetProcessMemoryInfo(process.get(), &mem, sizeof mem)) {
    f.resident_bytes = mem.WorkingSetSize;
    f.peak_resident_bytes = mem.PeakWorkingSetSize;
  }
  f.virtual_bytes = virtual_size(process.get());
  DWORD handles = 0;
  if (::GetProcessHandleCount(process.get(), &handles)) f.handles = handles;
  f.threads = thread_count(pid);
  return f;
}

}  // namespace dllbridge::detail
