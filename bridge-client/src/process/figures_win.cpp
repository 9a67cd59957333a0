#include "dllbridge/wire/win32.hpp"

#include <psapi.h>
#include <winternl.h>
#include <tlhelp32.h>

#include "process/figures.hpp"

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

// Reserved + committed address space, from the kernel's VM counters.
// (Not a VirtualQueryEx walk: Wine answers that through the target process
// itself, which blocks while the target is busy or exiting.)
std::uint64_t virtual_size(HANDLE process) {
  using QueryProcess = LONG(WINAPI*)(HANDLE, PROCESSINFOCLASS, PVOID, ULONG, PULONG);
  static const auto query = reinterpret_cast<QueryProcess>(reinterpret_cast<void*>(
      ::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "NtQueryInformationProcess")));
  VM_COUNTERS vm{};
  if (query == nullptr || query(process, ProcessVmCounters, &vm, sizeof vm, nullptr) < 0) return 0;
  return vm.VirtualSize;
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
