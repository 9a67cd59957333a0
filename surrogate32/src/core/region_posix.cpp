#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/region.hpp"

namespace dllbridge::surrogate {

std::string RegionMap::map_native(std::intptr_t native, std::uint64_t size, Segment& out) {
  const int fd = static_cast<int>(native);
  struct Close {
    int fd;
    ~Close() {
      if (fd >= 0) ::close(fd);
    }
  } closer{fd};
  if (fd < 0) return "no descriptor came with the request";
  if (size == 0) return "an empty segment";
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return "the descriptor is not a memory object";
  if (static_cast<std::uint64_t>(st.st_size) < size)
    return "the memory object holds " + std::to_string(st.st_size) + " bytes, not " + std::to_string(size);
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) return "the memory object is not sealed against shrinking";
  void* p = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return std::string("mmap: ") + std::strerror(errno);
  out.base = static_cast<unsigned char*>(p);
  out.size = size;
  return {};
}

std::intptr_t RegionMap::received(std::uint64_t, int passed_fd) { return passed_fd; }

void RegionMap::unmap(const Segment& s) noexcept { ::munmap(s.base, static_cast<std::size_t>(s.size)); }

}  // namespace dllbridge::surrogate
