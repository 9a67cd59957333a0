#include <chrono>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "dllbridge/error.hpp"
#include "dllbridge/wire/win32.hpp"
#include "process/process.hpp"

namespace dllbridge::detail {

using win::UniqueHandle;

struct Process::Native {
  UniqueHandle process;
  UniqueHandle job;  // kill-on-close: the surrogate cannot outlive this handle
};
void Process::NativeDeleter::operator()(Native* n) const noexcept { delete n; }

namespace {

[[noreturn]] void start_failed(const std::string& what) {
  throw Error(ErrorKind::surrogate_start_failed, what);
}

// A Job Object that kills its processes when its last handle closes.
UniqueHandle make_kill_on_close_job() {
  UniqueHandle job(::CreateJobObjectW(nullptr, nullptr));
  if (!job) start_failed("CreateJobObject: " + win::error_text(::GetLastError()));
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
  limits.BasicLimitInformation.LimitFlags =
      JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
  if (!::SetInformationJobObject(job.get(), JobObjectExtendedLimitInformation, &limits, sizeof limits)) {
    start_failed("SetInformationJobObject: " + win::error_text(::GetLastError()));
  }
  return job;
}

// Inheritable duplicates of this process's stdout and stderr, so the
// surrogate's log lines reach the same place; nothing else is inherited.
struct StdHandles {
  UniqueHandle out, err;
  std::vector<HANDLE> list;
  StdHandles() {
    dup(STD_OUTPUT_HANDLE, out);
    dup(STD_ERROR_HANDLE, err);
  }
  void dup(DWORD which, UniqueHandle& into) {
    HANDLE h = ::GetStdHandle(which);
    if (h == nullptr || h == INVALID_HANDLE_VALUE) return;
    HANDLE copy = nullptr;
    if (::DuplicateHandle(::GetCurrentProcess(), h, ::GetCurrentProcess(), &copy, 0, TRUE,
                          DUPLICATE_SAME_ACCESS)) {
      into.reset(copy);
      list.push_back(copy);
    }
  }
};

// A PROC_THREAD_ATTRIBUTE_LIST naming exactly the handles to inherit.
class HandleListAttribute {
 public:
  explicit HandleListAttribute(std::vector<HANDLE>& handles) {
    SIZE_T size = 0;
    ::InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
    buf_.resize(size);
    auto* list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(buf_.data());
    if (handles.empty() || !::InitializeProcThreadAttributeList(list, 1, 0, &size)) return;
    initialized_ = true;
    ok_ = ::UpdateProcThreadAttribute(list, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handles.data(),
                                      handles.size() * sizeof(HANDLE), nullptr, nullptr) != FALSE;
  }
  ~HandleListAttribute() {
    if (initialized_) ::DeleteProcThreadAttributeList(get());
  }
  HandleListAttribute(const HandleListAttribute&) = delete;
  HandleListAttribute& operator=(const HandleListAttribute&) = delete;
  bool ok() const { return ok_; }
  LPPROC_THREAD_ATTRIBUTE_LIST get() { return reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(buf_.data()); }

 private:
  std::vector<unsigned char> buf_;
  bool initialized_ = false;
  bool ok_ = false;
};

std::string exception_name(std::uint32_t code) {
  switch (code) {
    case 0xC0000005: return "access violation";
    case 0xC00000FD: return "stack overflow";
    case 0xC0000094: return "integer divide by zero";
    case 0xC000001D: return "illegal instruction";
    case 0xC0000096: return "privileged instruction";
    case 0xC0000409: return "stack buffer overrun / fast fail";
    case 0xC0000374: return "heap corruption";
    case 0xC0000135: return "DLL not found";
    case 0xC0000142: return "DLL initialization failed";
    case 0x80000003: return "breakpoint";
    case 0xC000013A: return "Ctrl+C";
    default: return "exception";
  }
}

constexpr UINT kKilledExitCode = 0xDBDB0009;  // ours, so it reads as "killed"

}  // namespace

std::string ExitStatus::describe() const {
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08X", static_cast<unsigned>(code));
  if (!signaled) return "exited with code " + std::to_string(code);
  if (static_cast<std::uint32_t>(code) == kKilledExitCode) return std::string("was terminated (") + hex + ")";
  return std::string("ended by exception ") + hex + " (" + exception_name(static_cast<std::uint32_t>(code)) +
         ")";
}

std::optional<ExitStatus> Process::wait_for(std::chrono::milliseconds timeout) {
  if (status_ || !valid() || !native_) return status_;
  const DWORD r = ::WaitForSingleObject(native_->process.get(), static_cast<DWORD>(timeout.count()));
  if (r == WAIT_TIMEOUT) return std::nullopt;
  DWORD code = 0;
  if (r != WAIT_OBJECT_0 || !::GetExitCodeProcess(native_->process.get(), &code)) {
    status_ = ExitStatus{false, -1};
    return status_;
  }
  // NTSTATUS error and warning codes (0xC..., 0x8...) are exceptions.
  const bool exception = (code & 0xC0000000u) == 0xC0000000u || (code & 0xF0000000u) == 0x80000000u;
  status_ = ExitStatus{exception, static_cast<std::int64_t>(code)};
  // What the library started goes with it, as on POSIX.
  if (native_->job) ::TerminateJobObject(native_->job.get(), kKilledExitCode);
  return status_;
}

void Process::terminate() noexcept {
  // Windows has no polite signal for a console program we did not give a
  // console to; the Shutdown message is the polite step.
  kill();
}

void Process::kill() noexcept {
  if (!valid() || status_ || !native_) return;
  // The job holds the surrogate and whatever the library started.
  if (!native_->job || !::TerminateJobObject(native_->job.get(), kKilledExitCode)) {
    ::TerminateProcess(native_->process.get(), kKilledExitCode);
  }
}

struct ExitWatch::Impl {
  UniqueHandle process;  // a duplicate, so the watch does not depend on the Process's
  HANDLE wait = nullptr;
  std::function<void()> on_exit;

  static void CALLBACK fired(void* self, BOOLEAN /*timed_out*/) {
    try {
      static_cast<Impl*>(self)->on_exit();
    } catch (...) {
      // Nothing to tell it to: the owner finds out from the channel.
    }
  }
};

ExitWatch::ExitWatch(const Process& process, std::function<void()> on_exit) : impl_(new Impl) {
  impl_->on_exit = std::move(on_exit);
  const Process::Native* n = process.native();
  HANDLE copy = nullptr;
  if (!n || !::DuplicateHandle(::GetCurrentProcess(), n->process.get(), ::GetCurrentProcess(), &copy,
                               SYNCHRONIZE, FALSE, 0)) {
    start_failed("cannot watch process " + std::to_string(process.pid()) + ": " +
                 win::error_text(::GetLastError()));
  }
  impl_->process.reset(copy);
  if (!::RegisterWaitForSingleObject(&impl_->wait, impl_->process.get(), &Impl::fired, impl_.get(), INFINITE,
                                     WT_EXECUTEONLYONCE)) {
    start_failed("RegisterWaitForSingleObject: " + win::error_text(::GetLastError()));
  }
}

ExitWatch::~ExitWatch() {
  // INVALID_HANDLE_VALUE: returns once a callback that is running has finished.
  if (impl_->wait) ::UnregisterWaitEx(impl_->wait, INVALID_HANDLE_VALUE);
}

long current_pid() { return static_cast<long>(::GetCurrentProcessId()); }

Spawned spawn_surrogate(asio::io_context& io, const std::string& program,
                        const std::vector<std::string>& args, const std::vector<std::string>& launcher,
                        std::chrono::milliseconds connect_timeout, bool /*fork_server: POSIX only*/) {
  std::wstring pipe_name;
  UniqueHandle pipe;
  try {
    pipe_name = win::random_pipe_name();
    pipe = win::create_pipe_server(pipe_name, true);
  } catch (const std::exception& e) {
    start_failed(e.what());
  }

  std::vector<std::string> argv = launcher;
  argv.push_back(program);
  argv.push_back("--pipe");
  argv.push_back(win::narrow(pipe_name));
  argv.insert(argv.end(), args.begin(), args.end());
  std::wstring cmdline = win::command_line(argv);

  UniqueHandle job = make_kill_on_close_job();
  StdHandles std_handles;
  HandleListAttribute attribute(std_handles.list);

  STARTUPINFOEXW si{};
  si.StartupInfo.cb = sizeof si;
  DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT;
  BOOL inherit = FALSE;
  if (!std_handles.list.empty()) {
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = nullptr;
    si.StartupInfo.hStdOutput = std_handles.out.get();
    si.StartupInfo.hStdError = std_handles.err.get();
    inherit = TRUE;
    if (attribute.ok()) {
      si.StartupInfo.cb = sizeof(STARTUPINFOEXW);
      si.lpAttributeList = attribute.get();
      flags |= EXTENDED_STARTUPINFO_PRESENT;
    }
  }
  const std::wstring application = win::widen(argv.front());
  PROCESS_INFORMATION pi{};
  if (!win::create_process(application.c_str(), cmdline.data(), inherit, flags, &si.StartupInfo, &pi)) {
    start_failed("cannot start " + program + ": " + win::error_text(::GetLastError()));
  }
  UniqueHandle process(pi.hProcess);
  UniqueHandle thread(pi.hThread);
  // Into the job before it runs a single instruction, so even a surrogate
  // that starts children cannot leave one behind.
  if (!::AssignProcessToJobObject(job.get(), process.get())) {
    const DWORD err = ::GetLastError();
    ::TerminateProcess(process.get(), kKilledExitCode);
    start_failed("cannot put " + program + " in a Job Object: " + win::error_text(err));
  }
  ::ResumeThread(thread.get());

  const HANDLE process_handle = process.get();  // stays open: the Process below owns it
  Process::NativePtr native(new Process::Native());
  native->process = std::move(process);
  native->job = std::move(job);
  Process child(static_cast<long>(pi.dwProcessId), std::move(native));

  const std::string why = win::wait_for_client(pipe.get(), connect_timeout, process_handle);
  if (!why.empty()) {
    std::optional<ExitStatus> st = child.wait_for(std::chrono::milliseconds(0));
    start_failed(program + " did not connect to its pipe: " + why + (st ? " (" + st->describe() + ")" : ""));
  }
  ULONG client_pid = 0;
  if (!::GetNamedPipeClientProcessId(pipe.get(), &client_pid) || client_pid != pi.dwProcessId) {
    throw Error(ErrorKind::unauthorized, "pipe " + win::narrow(pipe_name) + " was opened by pid " +
                                             std::to_string(client_pid) + ", not by the surrogate (pid " +
                                             std::to_string(pi.dwProcessId) + ")");
  }
  Spawned out{std::move(child), Stream(io)};
  out.stream.assign(pipe.release());
  return out;
}

Stream connect_endpoint(asio::io_context& io, const std::string& endpoint) {
  Stream stream(io);
  try {
    stream.assign(win::open_pipe_client(win::widen(endpoint), std::chrono::milliseconds(5000)).release());
  } catch (const std::exception& e) {
    start_failed("cannot connect to surrogate at " + endpoint + ": " + e.what());
  }
  // Anyone may have created the name first: check the server before
  // anything is sent.
  if (const std::string denied = win::check_server_is_same_user(stream.native_handle()); !denied.empty()) {
    throw Error(ErrorKind::unauthorized, "pipe " + endpoint + ": " + denied + "; nothing was sent to it");
  }
  return stream;
}

std::string client_module_dir() {
  HMODULE module = nullptr;
  if (::GetModuleHandleExW(
          GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
          reinterpret_cast<LPCWSTR>(&client_module_dir), &module)) {
    std::wstring path(32768, L'\0');
    const DWORD n = ::GetModuleFileNameW(module, path.data(), static_cast<DWORD>(path.size()));
    if (n > 0) {
      path.resize(n);
      const std::size_t cut = path.find_last_of(L"\\/");
      return win::narrow(cut == std::wstring::npos ? L"." : path.substr(0, cut));
    }
  }
  return ".";
}

std::vector<std::string> find_i386_emulator() { return {}; }

}  // namespace dllbridge::detail
