#include "dllbridge/wire/win32.hpp"

#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/stream_transport.hpp"
#include "core/transport.hpp"

namespace dllbridge::surrogate {

using win::UniqueHandle;

Stream adopt_inherited(asio::io_context& io, const std::string& value) {
  if (value.rfind("\\\\.\\pipe\\", 0) != 0) {
    throw std::runtime_error("--pipe expects \\\\.\\pipe\\NAME, got '" + value + "'");
  }
  Stream stream(io);
  stream.assign(win::open_pipe_client(win::widen(value), std::chrono::milliseconds(5000)).release());
  return stream;
}

void follow_parent(long parent_pid) {
  // The Job Object the client put us in already ends us with it; this also
  // covers a surrogate started by hand with --parent-pid.
  HANDLE parent = ::OpenProcess(SYNCHRONIZE, FALSE, static_cast<DWORD>(parent_pid));
  if (parent == nullptr) ::TerminateProcess(::GetCurrentProcess(), 0);  // gone already
  std::thread([parent] {
    ::WaitForSingleObject(parent, INFINITE);
    ::TerminateProcess(::GetCurrentProcess(), 0);
  }).detach();
}

void end_process_group() {}  // the Job Object holds what the library started

void listen(asio::io_context& io, const std::string& endpoint, const std::function<void(Stream&)>& serve) {
  if (endpoint.rfind("\\\\.\\pipe\\", 0) != 0 || endpoint.size() <= 9) {
    throw std::runtime_error("a Windows endpoint is a pipe name \\\\.\\pipe\\NAME, got '" + endpoint + "'");
  }
  const std::wstring name = win::widen(endpoint);
  spdlog::info("listening on {}", endpoint);
  for (;;) {
    // A fresh single instance per session; FILE_FLAG_FIRST_PIPE_INSTANCE
    // fails if another process already owns the name (no squatting).
    UniqueHandle pipe = win::create_pipe_server(name, true);
    const std::string why = win::wait_for_client(pipe.get(), std::chrono::milliseconds(INFINITE));
    if (!why.empty()) throw std::runtime_error("waiting for a client on " + endpoint + ": " + why);
    ULONG pid = 0;
    ::GetNamedPipeClientProcessId(pipe.get(), &pid);
    Stream stream(io);
    stream.assign(pipe.release());
    if (const std::string denied = win::check_client_is_same_user(stream.native_handle()); !denied.empty()) {
      spdlog::warn("rejected client pid {}: {}", pid, denied);
      reject_unauthorized(stream, denied);
      continue;
    }
    spdlog::info("session from pid {}", pid);
    serve(stream);
    spdlog::info("session from pid {} ended", pid);
  }
}

void interrupt(Stream& stream, const std::atomic<bool>& reader_done) noexcept {
  // CancelIoEx cancels only what is pending now; the reader may be between
  // two reads, so cancel until it has noticed (it checks before each read).
  for (int i = 0; i < 400 && !reader_done; ++i) {
    ::CancelIoEx(stream.native_handle(), nullptr);
    ::Sleep(5);
  }
}

unsigned current_pid() { return static_cast<unsigned>(::GetCurrentProcessId()); }

}  // namespace dllbridge::surrogate
