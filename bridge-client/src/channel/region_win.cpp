// The region's segments on Windows: unnamed pagefile-backed file mappings
// (no name: no other process can open them), mapped here; each surrogate
// gets a duplicate of the section handle in its own process
// (DuplicateHandle), never a handle to this process.
#include <windows.h>

#include "channel/region.hpp"

namespace dllbridge::detail {

bool Region::make_segment(std::uint64_t size, Segment& out) {
  HANDLE section = ::CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE,
                                        static_cast<DWORD>(size >> 32), static_cast<DWORD>(size), nullptr);
  if (section == nullptr) return false;
  void* base = ::MapViewOfFile(section, FILE_MAP_ALL_ACCESS, 0, 0, static_cast<SIZE_T>(size));
  if (base == nullptr) {
    ::CloseHandle(section);
    return false;
  }
  out.native = reinterpret_cast<std::intptr_t>(section);
  out.base = static_cast<unsigned char*>(base);
  out.size = size;
  return true;
}

void Region::drop_segment(Segment& s) noexcept {
  ::UnmapViewOfFile(s.base);
  ::CloseHandle(reinterpret_cast<HANDLE>(s.native));
}

// Pages of a pagefile-backed section stay committed until it goes.
void Region::discard(const Segment&, std::uint64_t, std::uint64_t) noexcept {}

bool Region::give(std::uint32_t i, rpc::Transport&, long pid, std::uint64_t& handle) const {
  if (pid <= 0) return false;
  HANDLE process = ::OpenProcess(PROCESS_DUP_HANDLE, FALSE, static_cast<DWORD>(pid));
  if (process == nullptr) return false;
  HANDLE there = nullptr;
  const BOOL ok = ::DuplicateHandle(::GetCurrentProcess(), reinterpret_cast<HANDLE>(native(i)), process,
                                    &there, 0, FALSE, DUPLICATE_SAME_ACCESS);
  ::CloseHandle(process);
  if (!ok) return false;
  handle = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(there));
  return true;
}

}  // namespace dllbridge::detail
