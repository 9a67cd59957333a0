#include "channel/environment.hpp"

#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dllbridge/error.hpp"

namespace dllbridge::detail {
namespace {

const char* value_of(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

[[noreturn]] void refuse(const char* name, const char* value, const char* what) {
  throw Error(ErrorKind::bad_argument,
              std::string(name) + " must be " + what + ", not '" + value + "' (unset it for the default)");
}

}  // namespace

std::optional<bool> env_switch(const char* name) {
  const char* v = value_of(name);
  if (!v) return std::nullopt;
  const std::string_view s(v);
  if (s == "on") return true;
  if (s == "off") return false;
  refuse(name, v, "on or off");
}

std::optional<std::uint64_t> env_bytes(const char* name) {
  const char* v = value_of(name);
  if (!v) return std::nullopt;
  constexpr const char* kWhat = "a number of bytes, optionally with a K, M or G suffix";
  if (*v < '0' || *v > '9') refuse(name, v, kWhat);
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (errno != 0) refuse(name, v, kWhat);
  const std::string_view unit(end);
  const int shift = unit.empty() ? 0 : unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : -1;
  if (shift < 0 || n > (~std::uint64_t{0} >> shift)) refuse(name, v, kWhat);
  return std::uint64_t{n} << shift;
}

void check_environment() {
  for (const char* name : {"DLLBRIDGE_FORK_SERVER", "DLLBRIDGE_SHARED_FRAMES", "DLLBRIDGE_SHARED_REGION",
                           "DLLBRIDGE_COPY_AFTER_SEND", "DLLBRIDGE_BULK_POLL"})
    (void)env_switch(name);
  (void)env_bytes("DLLBRIDGE_REGION_BUDGET");
}

}  // namespace dllbridge::detail
