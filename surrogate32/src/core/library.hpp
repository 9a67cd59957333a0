// Loading a library and finding its exports (dlopen / LoadLibraryExW), and
// the thread's last-error value (errno / GetLastError). One file per platform.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace dllbridge::surrogate {

// An open library; closes it on destruction. Move-only.
class Library {
 public:
  // Loads `path` (UTF-8). Throws Failure(LIBRARY_LOAD_FAILED) naming the path
  // and the loader's reason.
  static Library open(const std::string& path);

  Library(Library&&) noexcept;
  Library& operator=(Library&&) noexcept;
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  ~Library();

  // The address of export `name` exactly as spelled (on Windows "#N" is
  // ordinal N), or nullptr.
  void* symbol(const std::string& name) const;

  const std::string& path() const { return path_; }

 private:
  Library(void* handle, std::string path) : handle_(handle), path_(std::move(path)) {}
  void* handle_ = nullptr;
  std::string path_;
};

// Makes a fault inside the library end this process at once, so the client
// learns the signal (POSIX) or exception code (Windows): no error dialog, no
// debugger prompt, no handler that could hang. On POSIX, where no core file
// would be written, a fault also ends the process without the kernel's wait
// for its threads that a core dump needs. Call once at start.
void end_process_on_faults();

// Sets the calling thread's last-error value to 0.
void clear_last_error() noexcept;
// Reads the calling thread's last-error value.
std::int64_t read_last_error() noexcept;

}  // namespace dllbridge::surrogate
