// Win32 pieces both ends of the named-pipe channel share: an owned HANDLE,
// UTF-8 <-> UTF-16, error text, and the owner-only pipe security. Windows only.
#pragma once

#if !defined(_WIN32)
#  error "win32.hpp is for Windows builds"
#endif

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#  define NOMINMAX
#endif
#include <windows.h>

namespace dllbridge::win {

// An owned kernel HANDLE (process, thread, job, pipe, event); closes it on
// destruction. Treats both NULL and INVALID_HANDLE_VALUE as "none".
class UniqueHandle {
 public:
  UniqueHandle() = default;
  explicit UniqueHandle(HANDLE h) noexcept : h_(h) {}
  UniqueHandle(UniqueHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  UniqueHandle& operator=(UniqueHandle&& o) noexcept {
    if (this != &o) reset(std::exchange(o.h_, nullptr));
    return *this;
  }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  ~UniqueHandle() { reset(); }

  HANDLE get() const noexcept { return h_; }
  bool valid() const noexcept { return h_ != nullptr && h_ != INVALID_HANDLE_VALUE; }
  explicit operator bool() const noexcept { return valid(); }
  HANDLE release() noexcept { return std::exchange(h_, nullptr); }
  void reset(HANDLE h = nullptr) noexcept {
    if (valid()) ::CloseHandle(h_);
    h_ = h;
  }

 private:
  HANDLE h_ = nullptr;
};

// UTF-8 to UTF-16 and back (invalid sequences become U+FFFD).
std::wstring widen(const std::string& utf8);
std::string narrow(const std::wstring& utf16);

// A command line from UTF-8 arguments, each quoted so CommandLineToArgvW
// and the C runtime's parser give back exactly that argument.
std::wstring command_line(const std::vector<std::string>& argv);

// "message (error N)" for a GetLastError() value.
std::string error_text(DWORD code);

// CreateProcessW (no security attributes, the caller's environment block
// and directory), tried again, at most twice, when it fails with
// ERROR_INTERNAL_ERROR: the new process ended before it had started, with
// no status of its own, so nothing of it ran. Wine reports that for a start
// its loader lost on a loaded machine (seen once in a few hundred starts).
// Any other failure returns at once; GetLastError() tells it.
BOOL create_process(const wchar_t* application, wchar_t* command_line, BOOL inherit_handles, DWORD flags,
                    STARTUPINFOW* startup, PROCESS_INFORMATION* info);

// A security descriptor whose DACL grants full access to the current user
// and SYSTEM only (no Everyone, no Anonymous, no network logons). Owns the
// descriptor; attributes() points into it and is not inheritable.
class OwnerOnlySecurity {
 public:
  // Throws std::runtime_error when the token or descriptor cannot be built.
  OwnerOnlySecurity();
  SECURITY_ATTRIBUTES* attributes() noexcept { return &sa_; }

 private:
  std::unique_ptr<void, decltype(&::LocalFree)> descriptor_{nullptr, &::LocalFree};
  SECURITY_ATTRIBUTES sa_{};
};

// "\\.\pipe\dllbridge-<pid>-<32 hex digits>": 128 random bits from the
// system RNG. Throws std::runtime_error when the RNG fails.
std::wstring random_pipe_name();

// Creates the server end of a byte-mode duplex pipe for overlapped I/O with
// at most `instances` instances (1 to 255), remote clients rejected, and
// owner-only security. `first_instance` adds FILE_FLAG_FIRST_PIPE_INSTANCE
// (no one may already own the name). Throws std::runtime_error naming the pipe.
UniqueHandle create_pipe_server(const std::wstring& name, bool first_instance, DWORD instances = 1);

// Waits up to `timeout` for a client on `pipe` (made by create_pipe_server),
// giving up early when `abort_on` (a process handle, may be null) is
// signalled. Returns "" when connected, otherwise why not.
std::string wait_for_client(HANDLE pipe, std::chrono::milliseconds timeout, HANDLE abort_on = nullptr);

// Opens the client end of pipe `name` for overlapped I/O, identifying (not
// delegating) this process to the server: SECURITY_SQOS_PRESENT |
// SECURITY_IDENTIFICATION. Waits up to `timeout` while the pipe is busy,
// and up to 1 s (within `timeout`) while it does not exist yet.
// Throws std::runtime_error naming the pipe and the reason.
UniqueHandle open_pipe_client(const std::wstring& name, std::chrono::milliseconds timeout);

// Whether a connected client of server end `pipe` runs as this process's
// user; "" when it does, otherwise why not (the client must have opened the
// pipe with at least SECURITY_IDENTIFICATION).
std::string check_client_is_same_user(HANDLE pipe);

// Whether the server of client end `pipe` (GetNamedPipeServerProcessId)
// runs as this process's user; "" when it does, otherwise why not.
std::string check_server_is_same_user(HANDLE pipe);

}  // namespace dllbridge::win
