// The region on Linux: an anonymous memfd (MFD_CLOEXEC), mapped shared;
// surrogates receive the descriptor itself over their socket (SCM_RIGHTS),
// so no name exists that another process could open.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "channel/region.hpp"

namespace dllbridge::detail {

std::shared_ptr<Region> Region::create() {
  const int fd = ::memfd_create("dllbridge-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return nullptr;
  // Sealed at its size: a surrogate maps it only so (a region that could
  // shrink under its mapping would fault the surrogate).
  if (::ftruncate(fd, static_cast<off_t>(kRegionSize)) != 0 ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    ::close(fd);
    return nullptr;
  }
  void* base = ::mmap(nullptr, kRegionSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    ::close(fd);
    return nullptr;
  }
  return std::shared_ptr<Region>(new Region(fd, static_cast<unsigned char*>(base), kRegionSize));
}

Region::~Region() {
  ::munmap(base_, size_);
  ::close(static_cast<int>(native_));
}

void Region::discard(std::uint64_t offset, std::uint64_t size) noexcept {
  ::fallocate(static_cast<int>(native_), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
              static_cast<off_t>(offset), static_cast<off_t>(size));
}

}  // namespace dllbridge::detail
