#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "os.hpp"

namespace dllbridge::test::os {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class PosixChild final : public Child {
 public:
  explicit PosixChild(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[0]);
      ::close(in[1]);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      if (errno == ENOEXEC) {  // no IA-32 emulation in this kernel: the same program under qemu-i386
        args.insert(args.begin(), const_cast<char*>("/usr/bin/qemu-i386-static"));
        ::execv(args[0], args.data());
      }
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
  }
  ~PosixChild() override {
    close_stdin();
    if (out_ >= 0) ::close(out_);
    if (!reaped_) {
      kill();
      wait();
    }
  }
  std::uint32_t pid() const override { return static_cast<std::uint32_t>(pid_); }
  bool write(const std::string& text) override {
    return in_ >= 0 && ::write(in_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  }
  void close_stdin() override {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }
  std::string read_line() override {
    std::string line;
    char c;
    while (::read(out_, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }
  std::string read_all() override {
    std::string all;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out_, buf, sizeof buf)) > 0) all.append(buf, static_cast<std::size_t>(n));
    return all;
  }
  bool kill() override { return !reaped_ && ::kill(pid_, SIGKILL) == 0; }
  int wait() override {
    if (!reaped_) {
      ::waitpid(pid_, &status_, 0);
      reaped_ = true;
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  int status_ = 0;
  bool reaped_ = false;
};

}  // namespace

const char* const kOsName = "linux";

const char* const kWrongBitness = "ELF";

const FaultNames kFaults{"SIGSEGV", SIGSEGV, "SIGABRT", "SIGSEGV"};

std::uint32_t self_pid() { return static_cast<std::uint32_t>(::getpid()); }

namespace {

// This process's scratch folder, $TMPDIR/dllbridge-test-PID-XXXXXX, made on
// first use and removed with everything in it when the process exits (not by
// a forked child that exits: only by the process that made it).
class ScratchDir {
 public:
  ScratchDir() {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern =
        std::string(dir && *dir ? dir : "/tmp") + "/dllbridge-test-" + std::to_string(::getpid()) + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    if (::getpid() != owner_) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  pid_t owner_ = ::getpid();
  std::string path_;
};

}  // namespace

std::string temp_path(const std::string& tag) {
  static const ScratchDir scratch;
  std::string p = scratch.path() + "/" + tag;
  std::remove(p.c_str());
  return p;
}

bool process_gone(std::uint32_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!stat || !std::getline(stat, line)) return true;
  const std::size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

bool kill_process(std::uint32_t pid) { return ::kill(static_cast<pid_t>(pid), SIGKILL) == 0; }

bool freeze_process(std::uint32_t pid) { return ::kill(static_cast<pid_t>(pid), SIGSTOP) == 0; }

int process_bits(std::uint32_t pid, std::string* note) {
  char exe[4096];
  const std::string link = "/proc/" + std::to_string(pid) + "/exe";
  const ssize_t n = ::readlink(link.c_str(), exe, sizeof exe - 1);
  std::string image = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : "";
  if (image.find("qemu-i386") != std::string::npos) {
    // A kernel without IA-32 emulation: the guest program is qemu's argv[1].
    const std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
    const std::size_t first = cmdline.find('\0');
    const std::size_t second = first == std::string::npos ? first : cmdline.find('\0', first + 1);
    image = first == std::string::npos ? "" : cmdline.substr(first + 1, second - first - 1);
    if (note) *note = "this kernel has no IA-32 emulation; " + image + " runs under qemu-i386";
  }
  const std::string head = read_file(image).substr(0, 5);
  if (head.size() < 5 || head.compare(0, 4,
                                      "\x7f"
                                      "ELF") != 0)
    return 0;
  return head[4] == 1 ? 32 : head[4] == 2 ? 64 : 0;
}

std::string fresh_endpoint(const std::string& tag) { return temp_path(tag + ".sock"); }

RawStream connect_raw(asio::io_context& io, const std::string& endpoint) {
  RawStream s(io);
  s.connect(asio::local::stream_protocol::endpoint(endpoint));
  return s;
}

bool handle_count_reported() { return true; }

void set_env(const std::string& name, const std::string& value) { ::setenv(name.c_str(), value.c_str(), 1); }
void unset_env(const std::string& name) { ::unsetenv(name.c_str()); }

std::unique_ptr<Child> Child::start(const std::vector<std::string>& argv) {
  return std::make_unique<PosixChild>(argv);
}

}  // namespace dllbridge::test::os
