#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/region.hpp"

namespace dllbridge::surrogate {

// The largest region this process maps (address space of a 32-bit surrogate).
constexpr std::uint64_t kMaxRegion = std::uint64_t{1} << 30;

std::string RegionMap::map(std::intptr_t native, std::uint64_t size) {
  const int fd = static_cast<int>(native);
  struct Close {
    int fd;
    ~Close() {
      if (fd >= 0) ::close(fd);
    }
  } closer{fd};
  if (base_) return "a region is mapped already";
  if (fd < 0) return "no descriptor came with the Hello";
  if (size == 0 || size > kMaxRegion)
    return "a region of " + std::to_string(size) + " bytes (at most " + std::to_string(kMaxRegion) + ")";
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return "the descriptor is not a memory object";
  if (static_cast<std::uint64_t>(st.st_size) < size)
    return "the memory object holds " + std::to_string(st.st_size) + " bytes, not " + std::to_string(size);
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) return "the memory object is not sealed against shrinking";
  void* p = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return std::string("mmap: ") + std::strerror(errno);
  base_ = static_cast<unsigned char*>(p);
  size_ = size;
  return {};
}

RegionMap::~RegionMap() {
  if (base_) ::munmap(base_, static_cast<std::size_t>(size_));
}

}  // namespace dllbridge::surrogate
