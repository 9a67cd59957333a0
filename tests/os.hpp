// What the end-to-end suites need from the OS, one file per platform
// (os_posix.cpp / os_win.cpp), so the suites themselves are the same on
// Linux and under Wine.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#if defined(_WIN32)
#  include <asio/windows/stream_handle.hpp>
#else
#  include <asio/local/stream_protocol.hpp>
#endif

namespace dllbridge::test::os {

// A raw connection to a standalone surrogate (`--listen`), for frames no
// client would send: a Unix socket / a named pipe.
#if defined(_WIN32)
using RawStream = asio::windows::stream_handle;
#else
using RawStream = asio::local::stream_protocol::socket;
#endif

// A fresh endpoint for `surrogate --listen`: a socket path in the temporary
// folder / a pipe name with random bits.
std::string fresh_endpoint(const std::string& tag);

// Opens a raw stream to `endpoint`; throws std::runtime_error.
RawStream connect_raw(asio::io_context& io, const std::string& endpoint);

// What the surrogate says its OS is in the handshake: "linux" / "windows".
extern const char* const kOsName;

// Words the loader's error has when a library is of the other bitness:
// "ELF" (dlopen: "wrong ELF class") / "-bit DLL" ("not a 32-bit DLL").
extern const char* const kWrongBitness;

// This test process's id.
std::uint32_t self_pid();

// A path in this process's own scratch folder under the temporary folder,
// unique to this process and `tag`; any file already there is removed. The
// folder and all in it are removed when the process exits.
std::string temp_path(const std::string& tag);

// Whether process `pid` has ended (a zombie counts as ended).
bool process_gone(std::uint32_t pid);

// Ends process `pid` at once (SIGKILL / TerminateProcess); whether it could.
bool kill_process(std::uint32_t pid);

// Stops every thread of process `pid` without ending it (SIGSTOP /
// SuspendThread): alive, but silent. Whether it could.
bool freeze_process(std::uint32_t pid);

// Pointer width (32 / 64) of the program image process `pid` runs, read
// from the OS (ELF class of /proc/PID/exe; WOW64 status on Windows), or 0.
// Sets *note to something worth printing (e.g. "runs under qemu-i386").
int process_bits(std::uint32_t pid, std::string* note);

// Whether the OS reports another process's open handle count (Wine does
// not: GetProcessHandleCount gives 0 there).
bool handle_count_reported();

// Sets / removes an environment variable of this process.
void set_env(const std::string& name, const std::string& value);
void unset_env(const std::string& name);

// How the platform names the faults the sample library commits, as the
// client reports them.
struct FaultNames {
  const char* segv;            // "SIGSEGV" / "0xC0000005"
  std::int64_t segv_code;      // SIGSEGV / 0xC0000005 (BridgeEvent::code)
  const char* abort;           // "SIGABRT" / "0xC0000409"
  const char* stack_overflow;  // "SIGSEGV" / "0xC00000FD"
};
extern const FaultNames kFaults;

// A child process with pipes on its stdin and stdout (stderr is this
// process's). Killed and reaped when destroyed.
class Child {
 public:
  // Starts argv[0] with the rest as arguments (on a kernel that refuses
  // i386 programs, under qemu-i386 when installed); throws std::runtime_error.
  static std::unique_ptr<Child> start(const std::vector<std::string>& argv);
  virtual ~Child() = default;
  virtual std::uint32_t pid() const = 0;
  // Writes to the child's stdin; whether all of it went.
  virtual bool write(const std::string& text) = 0;
  virtual void close_stdin() = 0;
  // One line of its stdout without the newline; "" at the end.
  virtual std::string read_line() = 0;
  // The rest of its stdout.
  virtual std::string read_all() = 0;
  virtual bool kill() = 0;
  // Waits for it to end: its exit code, or -1 when a signal ended it.
  virtual int wait() = 0;
};

// Starts `surrogate --listen endpoint --ready-fd 1 extra...` and waits until
// it says "ready" on its stdout (it takes connections from then on). Throws
// std::runtime_error, with what it printed, when it ends first.
inline std::unique_ptr<Child> start_standalone(const std::string& surrogate, const std::string& endpoint,
                                               const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{surrogate, "--listen", endpoint, "--ready-fd", "1"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::unique_ptr<Child> c = Child::start(argv);
  for (;;) {
    const std::string line = c->read_line();
    if (line == "ready" || line == "ready\r") return c;
    if (line.empty()) {
      const int status = c->wait();  // it printed why on stderr (this process's)
      throw std::runtime_error(
          surrogate + " --listen " + endpoint + " ended before it was ready (" +
          (status < 0 ? std::string("killed or crashed") : "exit code " + std::to_string(status)) + ")");
    }
  }
}

// Runs argv with `input` on stdin; its exit code (-1 for a signal) and stdout.
struct Output {
  int status = -1;
  std::string out;
};
inline Output run(const std::vector<std::string>& argv, const std::string& input = "") {
  std::unique_ptr<Child> c = Child::start(argv);
  c->write(input);
  c->close_stdin();
  Output o;
  o.out = c->read_all();
  o.status = c->wait();
  return o;
}

}  // namespace dllbridge::test::os
