#include "dllbridge/wire/win32.hpp"

#include <memory>
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

void follow_parent(long parent_pid, bool /*forked: never on Windows*/) {
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

namespace {

// Says "ready" on `target`: "1" is standard output (left open), another
// number an inherited handle value (closed after).
void signal_ready(const std::string& target) {
  if (target.empty()) return;
  unsigned long long value = 0;
  try {
    value = std::stoull(target);
  } catch (const std::exception&) {
    throw std::runtime_error("--ready-fd expects a handle number, got '" + target + "'");
  }
  const bool std_out = value == 1;
  const HANDLE h = std_out ? ::GetStdHandle(STD_OUTPUT_HANDLE) : reinterpret_cast<HANDLE>(value);
  const char line[] = "ready\n";
  DWORD written = 0;
  if (!::WriteFile(h, line, sizeof line - 1, &written, nullptr) || written != sizeof line - 1) {
    throw std::runtime_error("cannot write to --ready-fd " + target + ": " +
                             win::error_text(::GetLastError()));
  }
  if (!std_out) ::CloseHandle(h);
}

}  // namespace

void listen(asio::io_context& io, const ListenOptions& options,
            const std::function<void(Stream&, const std::string& peer)>& serve) {
  const std::string& endpoint = options.endpoint;
  if (endpoint.rfind("\\\\.\\pipe\\", 0) != 0 || endpoint.size() <= 9) {
    throw std::runtime_error("a Windows endpoint is a pipe name \\\\.\\pipe\\NAME, got '" + endpoint + "'");
  }
  const std::wstring name = win::widen(endpoint);
  // One instance listens while the sessions (and refusals on their way out)
  // hold theirs. The first is made with FILE_FLAG_FIRST_PIPE_INSTANCE: it
  // fails when anyone owns the name (another surrogate, a squatter); and one
  // instance of ours exists from then on, so the name is never free for
  // another to take. The cap on sessions is --max-sessions, not this.
  // A name that exists is served: refused even where the first-instance flag
  // is not enforced while instances are free (Wine). Asks, does not connect.
  if (::WaitNamedPipeW(name.c_str(), 1) || ::GetLastError() == ERROR_SEM_TIMEOUT ||
      ::GetLastError() == ERROR_PIPE_BUSY) {
    throw std::runtime_error(endpoint + " is already served by another process; not taking it over");
  }
  UniqueHandle next;
  try {
    next = win::create_pipe_server(name, true, PIPE_UNLIMITED_INSTANCES);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(e.what()) + " (is it already served by another process?)");
  }
  spdlog::info("listening on {} (at most {} sessions at once)", endpoint, options.max_sessions);
  signal_ready(options.ready);
  auto active = std::make_shared<std::atomic<int>>(0);
  for (;;) {
    UniqueHandle pipe = std::move(next);
    const std::string why = win::wait_for_client(pipe.get(), std::chrono::milliseconds(INFINITE));
    if (!why.empty()) throw std::runtime_error("waiting for a client on " + endpoint + ": " + why);
    // The next instance before this one is handed off: the name stays held.
    // All 255 instances in use (a flood of refused clients): wait for one.
    while (!next) {
      try {
        next = win::create_pipe_server(name, false, PIPE_UNLIMITED_INSTANCES);
      } catch (const std::exception& e) {
        spdlog::warn("{}; trying again", e.what());
        ::Sleep(100);
      }
    }
    ULONG pid = 0;
    ::GetNamedPipeClientProcessId(pipe.get(), &pid);
    Stream stream(io);
    stream.assign(pipe.release());
    if (const std::string denied = win::check_client_is_same_user(stream.native_handle()); !denied.empty()) {
      spdlog::warn("rejected client pid {}: {}", pid, denied);
      reject(std::move(stream), wire::UNAUTHORIZED, denied);
      continue;
    }
    serve_detached(std::move(stream), static_cast<unsigned long>(pid), options.max_sessions, active, serve);
  }
}

std::size_t read_some_within(Stream& stream, asio::mutable_buffer buffer, std::chrono::milliseconds timeout,
                             asio::error_code& ec, PassedFds*) {
  return stream.read_some_within(buffer, timeout, ec);
}

PassedFds::~PassedFds() = default;
void PassedFds::add(int) {}
int PassedFds::take() { return -1; }

std::string read_token_file(const std::string& path) {
  UniqueHandle file(::CreateFileW(win::widen(path).c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr,
                                  OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr));
  if (!file)
    throw std::runtime_error("cannot read token file " + path + ": " + win::error_text(::GetLastError()));
  std::string token;
  char buf[512];
  DWORD n = 0;
  while (::ReadFile(file.get(), buf, sizeof buf, &n, nullptr) && n > 0 && token.size() <= kMaxTokenSize) {
    token.append(buf, n);
  }
  return checked_token(token, path);
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
