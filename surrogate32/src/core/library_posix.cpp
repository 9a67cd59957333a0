#include <dlfcn.h>

#include <cerrno>
#include <utility>

#include "core/errors.hpp"
#include "core/library.hpp"

namespace dllbridge::surrogate {

Library Library::open(const std::string& path) {
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    throw Failure(wire::LIBRARY_LOAD_FAILED,
                  "cannot load '" + path + "': " + (why ? why : "unknown dlopen error"));
  }
  return Library(handle, path);
}

Library::Library(Library&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), path_(std::move(other.path_)) {}

Library& Library::operator=(Library&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) dlclose(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

Library::~Library() {
  if (handle_ != nullptr) dlclose(handle_);
}

void* Library::symbol(const std::string& name) const { return dlsym(handle_, name.c_str()); }

void end_process_on_faults() {}  // the default dispositions already do: the signal ends it

void clear_last_error() noexcept { errno = 0; }
std::int64_t read_last_error() noexcept { return errno; }

}  // namespace dllbridge::surrogate
