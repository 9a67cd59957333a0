#include "dllbridge/wire/win32.hpp"

#include <tlhelp32.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "os.hpp"

namespace dllbridge::test::os {
namespace {

using win::UniqueHandle;
using win::widen;

class WinChild final : public Child {
 public:
  explicit WinChild(const std::vector<std::string>& argv) {
    SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, TRUE};
    HANDLE in_r = nullptr, in_w = nullptr, out_r = nullptr, out_w = nullptr;
    if (!::CreatePipe(&in_r, &in_w, &sa, 0) || !::CreatePipe(&out_r, &out_w, &sa, 0)) {
      throw std::runtime_error("CreatePipe failed");
    }
    UniqueHandle child_in(in_r), child_out(out_w);
    in_.reset(in_w);
    out_.reset(out_r);
    ::SetHandleInformation(in_.get(), HANDLE_FLAG_INHERIT, 0);
    ::SetHandleInformation(out_.get(), HANDLE_FLAG_INHERIT, 0);
    std::wstring cmdline = win::command_line(argv);
    STARTUPINFOW si{};
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = child_in.get();
    si.hStdOutput = child_out.get();
    si.hStdError = ::GetStdHandle(STD_ERROR_HANDLE);
    PROCESS_INFORMATION pi{};
    if (!win::create_process(widen(argv.at(0)).c_str(), cmdline.data(), TRUE, 0, &si, &pi)) {
      throw std::runtime_error("cannot start " + argv[0] + ": " + win::error_text(::GetLastError()));
    }
    process_.reset(pi.hProcess);
    ::CloseHandle(pi.hThread);
    pid_ = pi.dwProcessId;
  }
  ~WinChild() override {
    close_stdin();
    out_.reset();
    kill();
    wait();
  }
  std::uint32_t pid() const override { return pid_; }
  bool write(const std::string& text) override {
    DWORD n = 0;
    return in_ && ::WriteFile(in_.get(), text.data(), static_cast<DWORD>(text.size()), &n, nullptr) &&
           n == text.size();
  }
  void close_stdin() override { in_.reset(); }
  std::string read_line() override {
    std::string line;
    char c;
    DWORD n = 0;
    while (::ReadFile(out_.get(), &c, 1, &n, nullptr) && n == 1 && c != '\n') line += c;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  std::string read_all() override {
    std::string all;
    char buf[4096];
    DWORD n = 0;
    while (::ReadFile(out_.get(), buf, sizeof buf, &n, nullptr) && n > 0) all.append(buf, n);
    return all;
  }
  bool kill() override {
    DWORD code = 0;
    if (!::GetExitCodeProcess(process_.get(), &code) || code != STILL_ACTIVE) return false;
    return ::TerminateProcess(process_.get(), 0xDEAD) != FALSE;
  }
  int wait() override {
    ::WaitForSingleObject(process_.get(), INFINITE);
    DWORD code = 0;
    ::GetExitCodeProcess(process_.get(), &code);
    return code == 0xDEAD || (code & 0xC0000000u) == 0xC0000000u ? -1 : static_cast<int>(code);
  }

 private:
  UniqueHandle process_, in_, out_;
  std::uint32_t pid_ = 0;
};

}  // namespace

// abort() in the surrogate ends it the way the MSVC runtime does (fast fail).
const char* const kOsName = "windows";

const char* const kWrongBitness = "-bit DLL";

const FaultNames kFaults{"0xC0000005", 0xC0000005LL, "0xC0000409", "0xC00000FD"};

std::uint32_t self_pid() { return ::GetCurrentProcessId(); }

namespace {

// This process's scratch folder, %TEMP%\dllbridge-test-PID-N, made on first
// use and removed with everything in it when the process exits.
class ScratchDir {
 public:
  ScratchDir() {
    wchar_t dir[MAX_PATH + 1];
    const DWORD n = ::GetTempPathW(MAX_PATH + 1, dir);
    const std::wstring base = std::wstring(dir, n) + L"dllbridge-test-" + std::to_wstring(self_pid()) + L"-";
    for (unsigned i = 0;; ++i) {
      const std::wstring candidate = base + std::to_wstring(::GetTickCount() + i);
      if (::CreateDirectoryW(candidate.c_str(), nullptr)) {
        path_ = candidate;
        return;
      }
      if (::GetLastError() != ERROR_ALREADY_EXISTS || i > 1000) {
        throw std::runtime_error("CreateDirectory " + win::narrow(candidate) + " failed");
      }
    }
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string path() const { return win::narrow(path_); }

 private:
  std::wstring path_;
};

}  // namespace

std::string temp_path(const std::string& tag) {
  static const ScratchDir scratch;
  std::string p = scratch.path() + "\\" + tag;
  std::remove(p.c_str());
  return p;
}

bool process_gone(std::uint32_t pid) {
  UniqueHandle h(::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE, pid));
  if (!h) return true;
  return ::WaitForSingleObject(h.get(), 0) == WAIT_OBJECT_0;
}

bool kill_process(std::uint32_t pid) {
  UniqueHandle h(::OpenProcess(PROCESS_TERMINATE, FALSE, pid));
  return h && ::TerminateProcess(h.get(), 0xDEAD);
}

bool freeze_process(std::uint32_t pid) {
  UniqueHandle snap(::CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0));
  if (!snap) return false;
  THREADENTRY32 t{};
  t.dwSize = sizeof t;
  int frozen = 0;
  for (BOOL ok = ::Thread32First(snap.get(), &t); ok; ok = ::Thread32Next(snap.get(), &t)) {
    if (t.th32OwnerProcessID != pid) continue;
    UniqueHandle th(::OpenThread(THREAD_SUSPEND_RESUME, FALSE, t.th32ThreadID));
    if (th && ::SuspendThread(th.get()) != static_cast<DWORD>(-1)) ++frozen;
  }
  return frozen > 0;
}

int process_bits(std::uint32_t pid, std::string* note) {
  UniqueHandle h(::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid));
  if (!h) return 0;
  BOOL wow64 = FALSE;
  if (!::IsWow64Process(h.get(), &wow64)) return 0;
  if (note) *note = wow64 ? "runs under WOW64" : "";
  // This test program is 64-bit, so the OS is: WOW64 means a 32-bit image.
  return wow64 ? 32 : 64;
}

std::string fresh_endpoint(const std::string&) { return win::narrow(win::random_pipe_name()); }

RawStream connect_raw(asio::io_context& io, const std::string& endpoint) {
  RawStream s(io);
  s.assign(win::open_pipe_client(widen(endpoint), std::chrono::milliseconds(5000)).release());
  return s;
}

bool handle_count_reported() {
  return ::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "wine_get_version") == nullptr;
}

void set_env(const std::string& name, const std::string& value) { ::_putenv_s(name.c_str(), value.c_str()); }
void unset_env(const std::string& name) { ::_putenv_s(name.c_str(), ""); }

std::unique_ptr<Child> Child::start(const std::vector<std::string>& argv) {
  return std::make_unique<WinChild>(argv);
}

}  // namespace dllbridge::test::os
