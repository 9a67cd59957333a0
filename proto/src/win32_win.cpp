#include "dllbridge/wire/win32.hpp"

#include <bcrypt.h>
#include <sddl.h>

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <vector>

namespace dllbridge::win {
namespace {

[[noreturn]] void fail(const std::string& what, DWORD code = ::GetLastError()) {
  throw std::runtime_error(what + ": " + error_text(code));
}

// The user SID of `token`'s owner, as bytes.
std::vector<unsigned char> token_user(HANDLE token) {
  DWORD size = 0;
  ::GetTokenInformation(token, TokenUser, nullptr, 0, &size);
  std::vector<unsigned char> buf(size ? size : 1);
  if (!::GetTokenInformation(token, TokenUser, buf.data(), size, &size)) return {};
  const auto* user = reinterpret_cast<const TOKEN_USER*>(buf.data());
  std::vector<unsigned char> sid(::GetLengthSid(user->User.Sid));
  ::CopySid(static_cast<DWORD>(sid.size()), sid.data(), user->User.Sid);
  return sid;
}

std::vector<unsigned char> process_user(HANDLE process) {
  HANDLE raw = nullptr;
  if (!::OpenProcessToken(process, TOKEN_QUERY, &raw)) return {};
  UniqueHandle token(raw);
  return token_user(token.get());
}

}  // namespace

std::wstring widen(const std::string& utf8) {
  if (utf8.empty()) return {};
  const int n = ::MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring out(static_cast<std::size_t>(n), L'\0');
  ::MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), out.data(), n);
  return out;
}

std::string narrow(const std::wstring& utf16) {
  if (utf16.empty()) return {};
  const int n = ::WideCharToMultiByte(CP_UTF8, 0, utf16.data(), static_cast<int>(utf16.size()), nullptr, 0,
                                      nullptr, nullptr);
  std::string out(static_cast<std::size_t>(n), '\0');
  ::WideCharToMultiByte(CP_UTF8, 0, utf16.data(), static_cast<int>(utf16.size()), out.data(), n, nullptr,
                        nullptr);
  return out;
}

std::wstring command_line(const std::vector<std::string>& argv) {
  std::wstring line;
  for (const std::string& a : argv) {
    const std::wstring arg = widen(a);
    if (!line.empty()) line.push_back(L' ');
    if (!arg.empty() && arg.find_first_of(L" \t\n\v\"") == std::wstring::npos) {
      line += arg;
      continue;
    }
    line.push_back(L'"');
    std::size_t backslashes = 0;
    for (wchar_t c : arg) {
      if (c == L'\\') {
        ++backslashes;
        continue;
      }
      // Backslashes are literal unless they precede a quote.
      line.append(c == L'"' ? backslashes * 2 + 1 : backslashes, L'\\');
      backslashes = 0;
      line.push_back(c);
    }
    line.append(backslashes * 2, L'\\');
    line.push_back(L'"');
  }
  return line;
}

BOOL create_process(const wchar_t* application, wchar_t* command_line, BOOL inherit_handles, DWORD flags,
                    STARTUPINFOW* startup, PROCESS_INFORMATION* info) {
  for (int attempt = 0;; ++attempt) {
    if (::CreateProcessW(application, command_line, nullptr, nullptr, inherit_handles, flags, nullptr,
                         nullptr, startup, info)) {
      return TRUE;
    }
    if (::GetLastError() != ERROR_INTERNAL_ERROR || attempt == 2) return FALSE;
  }
}

std::string error_text(DWORD code) {
  wchar_t* buf = nullptr;
  const DWORD n = ::FormatMessageW(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
      code, 0, reinterpret_cast<wchar_t*>(&buf), 0, nullptr);
  std::string text = n ? narrow(std::wstring(buf, n)) : std::string("unknown error");
  if (buf) ::LocalFree(buf);
  while (!text.empty() &&
         (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '.')) {
    text.pop_back();
  }
  return text + " (error " + std::to_string(code) + ")";
}

OwnerOnlySecurity::OwnerOnlySecurity() {
  std::vector<unsigned char> sid = process_user(::GetCurrentProcess());
  if (sid.empty()) fail("cannot read this process's user");
  wchar_t* sid_text = nullptr;
  if (!::ConvertSidToStringSidW(sid.data(), &sid_text)) fail("cannot format the user's SID");
  // Protected DACL: the user and SYSTEM, full access; nothing inherited.
  const std::wstring sddl = std::wstring(L"D:P(A;;GA;;;") + sid_text + L")(A;;GA;;;SY)";
  ::LocalFree(sid_text);
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1, &sd, nullptr)) {
    fail("cannot build the pipe's security descriptor");
  }
  descriptor_.reset(sd);
  sa_.nLength = sizeof sa_;
  sa_.lpSecurityDescriptor = sd;
  sa_.bInheritHandle = FALSE;
}

std::wstring random_pipe_name() {
  unsigned char bytes[16];
  if (!BCRYPT_SUCCESS(::BCryptGenRandom(nullptr, bytes, sizeof bytes, BCRYPT_USE_SYSTEM_PREFERRED_RNG))) {
    throw std::runtime_error("the system random number generator failed");
  }
  static const wchar_t hex[] = L"0123456789abcdef";
  std::wstring name = L"\\\\.\\pipe\\dllbridge-" + std::to_wstring(::GetCurrentProcessId()) + L"-";
  for (unsigned char b : bytes) {
    name.push_back(hex[b >> 4]);
    name.push_back(hex[b & 15]);
  }
  return name;
}

UniqueHandle create_pipe_server(const std::wstring& name, bool first_instance, DWORD instances) {
  OwnerOnlySecurity security;
  const DWORD open_mode =
      PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | (first_instance ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
  const DWORD pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
  UniqueHandle pipe(::CreateNamedPipeW(name.c_str(), open_mode, pipe_mode, instances, 64 * 1024, 64 * 1024, 0,
                                       security.attributes()));
  if (!pipe) fail("cannot create pipe " + narrow(name));
  return pipe;
}

std::string wait_for_client(HANDLE pipe, std::chrono::milliseconds timeout, HANDLE abort_on) {
  UniqueHandle event(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
  if (!event) return "cannot create an event: " + error_text(::GetLastError());
  OVERLAPPED ov{};
  ov.hEvent = event.get();
  if (::ConnectNamedPipe(pipe, &ov)) return "";
  const DWORD err = ::GetLastError();
  if (err == ERROR_PIPE_CONNECTED) return "";
  if (err != ERROR_IO_PENDING) return "ConnectNamedPipe: " + error_text(err);

  HANDLE waits[2] = {event.get(), abort_on};
  const DWORD count = abort_on ? 2 : 1;
  const DWORD r = ::WaitForMultipleObjects(count, waits, FALSE, static_cast<DWORD>(timeout.count()));
  DWORD ignored = 0;
  if (r == WAIT_OBJECT_0) {
    if (::GetOverlappedResult(pipe, &ov, &ignored, FALSE)) return "";
    return "ConnectNamedPipe: " + error_text(::GetLastError());
  }
  ::CancelIoEx(pipe, &ov);
  ::GetOverlappedResult(pipe, &ov, &ignored, TRUE);  // the OVERLAPPED must outlive the I/O
  if (r == WAIT_OBJECT_0 + 1) return "the process ended before it connected";
  if (r == WAIT_TIMEOUT) return "no connection within " + std::to_string(timeout.count()) + " ms";
  return "waiting for the connection failed: " + error_text(::GetLastError());
}

UniqueHandle open_pipe_client(const std::wstring& name, std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  // A name that stays missing this long is no surrogate that is starting.
  const auto missing_deadline =
      start + std::min<std::chrono::milliseconds>(timeout, std::chrono::milliseconds(1000));
  for (;;) {
    UniqueHandle h(::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                                 FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                                 nullptr));
    if (h) return h;
    const DWORD err = ::GetLastError();
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    // Busy: another client holds the one instance. Not found: a standalone
    // surrogate between two sessions has not made the next instance yet.
    const bool gave_up = err == ERROR_FILE_NOT_FOUND ? std::chrono::steady_clock::now() >= missing_deadline
                                                     : left.count() <= 0;
    if ((err != ERROR_PIPE_BUSY && err != ERROR_FILE_NOT_FOUND) || gave_up) {
      fail("cannot open pipe " + narrow(name), err);
    }
    if (err == ERROR_PIPE_BUSY) {
      ::WaitNamedPipeW(name.c_str(), static_cast<DWORD>(std::min<long long>(left.count(), 1000)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

namespace {

// Whether process `pid` (the `role` at the other end of a pipe) runs as
// this process's user; "" when it does, otherwise why not.
std::string check_same_user(ULONG pid, const char* role) {
  UniqueHandle process(::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid));
  if (!process) {
    return std::string("cannot open ") + role + " process " + std::to_string(pid) + ": " +
           error_text(::GetLastError());
  }
  const std::vector<unsigned char> theirs = process_user(process.get());
  const std::vector<unsigned char> ours = process_user(::GetCurrentProcess());
  if (theirs.empty())
    return std::string("cannot read the user of ") + role + " process " + std::to_string(pid);
  if (theirs.size() != ours.size() ||
      !::EqualSid(const_cast<unsigned char*>(theirs.data()), const_cast<unsigned char*>(ours.data()))) {
    return std::string(role) + " process " + std::to_string(pid) + " runs as another user";
  }
  return "";
}

}  // namespace

std::string check_client_is_same_user(HANDLE pipe) {
  ULONG pid = 0;
  if (!::GetNamedPipeClientProcessId(pipe, &pid)) {
    return "cannot identify the client: " + error_text(::GetLastError());
  }
  return check_same_user(pid, "client");
}

std::string check_server_is_same_user(HANDLE pipe) {
  ULONG pid = 0;
  if (!::GetNamedPipeServerProcessId(pipe, &pid)) {
    return "cannot identify the pipe's server: " + error_text(::GetLastError());
  }
  return check_same_user(pid, "server");
}

}  // namespace dllbridge::win
