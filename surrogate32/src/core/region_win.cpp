// Segments on Windows: section handles the client duplicated into this
// process (unnamed, pagefile-backed file mappings), mapped whole. A handle
// value that is not a section of at least the size claimed is refused and
// left alone (it may be one of this process's own handles).
#include <windows.h>

#include "core/region.hpp"

namespace dllbridge::surrogate {

std::string RegionMap::map_native(std::intptr_t native, std::uint64_t size, Segment& out) {
  HANDLE section = reinterpret_cast<HANDLE>(native);
  if (native == 0 || native == -1) return "no handle came with the request";
  if (size == 0) return "an empty segment";
  if (size > static_cast<std::uint64_t>(SIZE_MAX)) return "a segment larger than this address space";
  void* p = ::MapViewOfFile(section, FILE_MAP_ALL_ACCESS, 0, 0, static_cast<SIZE_T>(size));
  if (p == nullptr)
    return "the handle is not a section of " + std::to_string(size) + " bytes (MapViewOfFile: error " +
           std::to_string(::GetLastError()) + ")";
  // The view must hold the whole size (MapViewOfFile refuses a larger size
  // than the section's; checked again on what was mapped).
  MEMORY_BASIC_INFORMATION info{};
  if (::VirtualQuery(p, &info, sizeof info) == 0 || info.Type != MEM_MAPPED) {
    ::UnmapViewOfFile(p);
    return "the mapped view cannot be checked";
  }
  ::CloseHandle(section);  // the view keeps the section
  out.base = static_cast<unsigned char*>(p);
  out.size = size;
  return {};
}

std::intptr_t RegionMap::received(std::uint64_t handle, int) {
  return static_cast<std::intptr_t>(static_cast<std::uintptr_t>(handle));
}

void RegionMap::unmap(const Segment& s) noexcept { ::UnmapViewOfFile(s.base); }

}  // namespace dllbridge::surrogate
