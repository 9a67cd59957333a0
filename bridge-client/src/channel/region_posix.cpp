// The region's segments on Linux: anonymous memfds (MFD_CLOEXEC), sealed at
// their size and mapped shared; surrogates receive the descriptors
// themselves over their socket (SCM_RIGHTS), so no name exists that another
// process could open.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "channel/region.hpp"
#include "dllbridge/rpc/transport.hpp"

namespace dllbridge::detail {

bool Region::make_segment(std::uint64_t size, Segment& out) {
  const int fd = ::memfd_create("dllbridge-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return false;
  // Sealed at its size: a surrogate maps it only so (a segment that could
  // shrink under its mapping would fault the surrogate).
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0 ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    ::close(fd);
    return false;
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    ::close(fd);
    return false;
  }
  out.native = fd;
  out.base = static_cast<unsigned char*>(base);
  out.size = size;
  return true;
}

void Region::drop_segment(Segment& s) noexcept {
  ::munmap(s.base, s.size);
  ::close(static_cast<int>(s.native));
}

bool Region::give(std::uint32_t i, rpc::Transport& transport, long, std::uint64_t& handle) const {
  handle = 0;
  return transport.pass_fd_with_next_send(static_cast<int>(native(i)));
}

// Only the whole pages of [offset, offset + size): a page it shares with a
// neighbouring block keeps its bytes (punching part of one only zeroes it).
void Region::discard(const Segment& s, std::uint64_t offset, std::uint64_t size) noexcept {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t from = (offset + page - 1) / page * page, to = (offset + size) / page * page;
  if (from >= to) return;
  ::fallocate(static_cast<int>(s.native), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
              static_cast<off_t>(from), static_cast<off_t>(to - from));
}

}  // namespace dllbridge::detail
