// Standalone mode on POSIX: `surrogate32 --listen PATH` on a Unix socket,
// clients of the same user only (file mode and SO_PEERCRED).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "dllbridge/bridge.hpp"
#include "os.hpp"
#include "test_support.hpp"

using namespace dllbridge;
namespace paths = dllbridge::test;

// Standalone mode: `surrogate32 --listen PATH`, clients of the same user only.
class Standalone : public ::testing::Test {
 protected:
  void SetUp() override {
    DLLBRIDGE_SKIP_WITHOUT_32BIT();
    socket_ = "/tmp/dllbridge-test-" + std::to_string(::getpid()) + ".sock";
    ::unlink(socket_.c_str());
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const std::string s32 = paths::kSurrogate32;
      ::execl(s32.c_str(), s32.c_str(), "--listen", socket_.c_str(), "--log-level", "warn", nullptr);
      // No IA-32 emulation in this kernel: the same program under qemu-i386.
      ::execl("/usr/bin/qemu-i386-static", "qemu-i386-static", s32.c_str(), "--listen", socket_.c_str(),
              "--log-level", "warn", nullptr);
      ::_exit(127);
    }
    // Served once a connect is taken, not once the file exists (bind() comes before listen()).
    ASSERT_TRUE(test::os::wait_for_endpoint(socket_)) << "surrogate32 --listen does not serve " << socket_;
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st;
      ::waitpid(pid_, &st, 0);
    }
  }
  std::string socket_;
  pid_t pid_ = -1;
};

TEST_F(Standalone, ServesOneSessionAfterAnother) {
  for (int round = 0; round < 2; ++round) {
    BridgeOptions o;
    o.connect = socket_;
    Bridge b(o);
    EXPECT_EQ(b.surrogate().pointer_size, 4u);
    EXPECT_EQ(static_cast<pid_t>(b.surrogate().pid), pid_);
    Library lib = b.load(paths::kSample32);
    auto add_fn = lib.function<int32_t(int32_t, int32_t)>("add");
    EXPECT_EQ(add_fn(round, 40), round + 40);
  }
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "socket must be owner-only";
}

TEST_F(Standalone, RejectsAPeerOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  // Loosen the file mode so the connection reaches the surrogate: its
  // SO_PEERCRED check is the second line of defence and is what we test.
  ASSERT_EQ(::chmod(socket_.c_str(), 0666), 0);
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only async-signal-safe calls here: become "nobody", connect, read the answer.
    ::close(pipefd[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ::_exit(4);
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) ::write(pipefd[1], buf, static_cast<size_t>(n));
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string got;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int st;
  ::waitpid(child, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child could not connect";
  EXPECT_NE(got.find("not the surrogate's user"), std::string::npos) << got;
  // The surrogate still serves its own user afterwards.
  BridgeOptions o;
  o.connect = socket_;
  Bridge b(o);
  EXPECT_EQ(b.surrogate().pointer_size, 4u);
}

TEST_F(Standalone, DllbridgeCallConnectsToIt) {
  DLLBRIDGE_SKIP_WITHOUT_CALL_TOOL();
  const test::os::Output r = test::os::run({paths::kDllbridgeCall, "--json", "--connect", socket_,
                                            paths::kSample32, "int add(int a, int b)", "2", "40"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"return\":42"), std::string::npos) << r.out;
}
