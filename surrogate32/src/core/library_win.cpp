#include "dllbridge/wire/win32.hpp"

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include "core/errors.hpp"
#include "core/library.hpp"

namespace dllbridge::surrogate {
namespace {

using win::narrow;
using win::widen;

bool is_absolute(const std::wstring& p) {
  return (p.size() > 2 && p[1] == L':' && (p[2] == L'\\' || p[2] == L'/')) ||
         (p.size() > 1 && (p[0] == L'\\' || p[0] == L'/') && (p[1] == L'\\' || p[1] == L'/'));
}

// What a PE file was built for, from its COFF header ("x86-64", ...).
std::string pe_machine(const std::wstring& path) {
  std::ifstream f(path.c_str(), std::ios::binary);
  char dos[64] = {};
  if (!f.read(dos, sizeof dos) || dos[0] != 'M' || dos[1] != 'Z') return "not a PE file";
  std::uint32_t pe_offset = 0;
  std::memcpy(&pe_offset, dos + 0x3C, sizeof pe_offset);
  char head[6] = {};
  f.seekg(pe_offset);
  if (!f.read(head, sizeof head) || std::memcmp(head, "PE\0\0", 4) != 0) return "not a PE file";
  std::uint16_t machine = 0;
  std::memcpy(&machine, head + 4, sizeof machine);
  switch (machine) {
    case 0x014c: return "a 32-bit x86 file";
    case 0x8664: return "a 64-bit x86-64 file";
    case 0xAA64: return "an ARM64 file";
    case 0x01c4: return "an ARM file";
    default: return "a file for machine type " + std::to_string(machine);
  }
}

// Unhandled exceptions end the process at once with their code, which the
// client reads as the exit code: no error dialog, no debugger prompt.
LONG WINAPI end_with_exception_code(EXCEPTION_POINTERS* info) {
  ::TerminateProcess(::GetCurrentProcess(), info->ExceptionRecord->ExceptionCode);
  return EXCEPTION_EXECUTE_HANDLER;
}

// abort() ends the process as the modern MSVC runtime does: fast fail.
extern "C" void end_on_abort(int) { ::TerminateProcess(::GetCurrentProcess(), 0xC0000409); }

}  // namespace

Library Library::open(const std::string& path) {
  const std::wstring wide = widen(path);
  // For an absolute path, the DLLs next to it are found first.
  const DWORD flags = is_absolute(wide) ? LOAD_WITH_ALTERED_SEARCH_PATH : 0;
  HMODULE module = ::LoadLibraryExW(wide.c_str(), nullptr, flags);
  if (module == nullptr) {
    const DWORD err = ::GetLastError();
    std::string why;
    if (err == ERROR_BAD_EXE_FORMAT) {
      why = std::string("not a ") + (sizeof(void*) == 4 ? "32" : "64") + "-bit DLL (it is " +
            pe_machine(wide) + "); use the surrogate of its bitness";
    } else if (err == ERROR_MOD_NOT_FOUND) {
      why = "the DLL or one of its dependencies was not found";
    } else {
      why = win::error_text(err);
    }
    throw Failure(wire::LIBRARY_LOAD_FAILED,
                  "cannot load '" + path + "': " + why + " (error " + std::to_string(err) + ")");
  }
  return Library(module, path);
}

Library::Library(Library&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), path_(std::move(other.path_)) {}

Library& Library::operator=(Library&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) ::FreeLibrary(static_cast<HMODULE>(handle_));
    handle_ = std::exchange(other.handle_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

Library::~Library() {
  if (handle_ != nullptr) ::FreeLibrary(static_cast<HMODULE>(handle_));
}

void* Library::symbol(const std::string& name) const {
  auto* module = static_cast<HMODULE>(handle_);
  if (name.size() > 1 && name[0] == '#' && name.find_first_not_of("0123456789", 1) == std::string::npos) {
    const unsigned long ordinal = std::strtoul(name.c_str() + 1, nullptr, 10);
    if (ordinal == 0 || ordinal > 0xFFFF) return nullptr;
    return reinterpret_cast<void*>(::GetProcAddress(module, MAKEINTRESOURCEA(ordinal)));
  }
  return reinterpret_cast<void*>(::GetProcAddress(module, name.c_str()));
}

void clear_last_error() noexcept { ::SetLastError(0); }
std::int64_t read_last_error() noexcept { return static_cast<std::int64_t>(::GetLastError()); }

void end_process_on_faults() {
  ::SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
  ::SetUnhandledExceptionFilter(end_with_exception_code);
  std::signal(SIGABRT, end_on_abort);
}

}  // namespace dllbridge::surrogate
