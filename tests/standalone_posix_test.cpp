// Standalone mode on POSIX: `surrogate32 --listen PATH` on a Unix socket,
// clients of the same user only (file mode and SO_PEERCRED).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <poll.h>

#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "dllbridge/bridge.hpp"
#include "dllbridge/wire/frame.hpp"
#include "os.hpp"
#include "test_support.hpp"

using namespace dllbridge;
namespace paths = dllbridge::test;

namespace {

// The address of socket file `path` (async-signal-safe: for forked children too).
sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  return addr;
}

// Starts `surrogate32 --listen socket --ready-fd N extra...` (stderr to
// `log` when not empty) and waits for its "ready"; its pid, or -1.
pid_t start_listening(const std::string& socket, const std::vector<std::string>& extra = {},
                      const std::string& log = "") {
  int ready[2];
  if (::pipe(ready) != 0) return -1;
  std::vector<std::string> args{paths::kSurrogate32, "--listen", socket, "--ready-fd",
                                std::to_string(ready[1])};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<std::string> emulated = args;
  emulated.insert(emulated.begin(), "/usr/bin/qemu-i386-static");
  std::vector<char*> argv, argv_emulated;
  for (auto& a : args) argv.push_back(a.data());
  for (auto& a : emulated) argv_emulated.push_back(a.data());
  argv.push_back(nullptr);
  argv_emulated.push_back(nullptr);
  const int log_fd = log.empty() ? -1 : ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    if (log_fd >= 0) ::dup2(log_fd, 2);
    ::execv(argv[0], argv.data());
    // No IA-32 emulation in this kernel: the same program under qemu-i386.
    ::execv(argv_emulated[0], argv_emulated.data());
    ::_exit(127);
  }
  ::close(ready[1]);
  if (log_fd >= 0) ::close(log_fd);
  std::string said;
  char c;
  while (said != "ready\n" && ::read(ready[0], &c, 1) == 1) said += c;
  ::close(ready[0]);
  if (said != "ready\n") {
    int st;
    ::waitpid(pid, &st, 0);
    return -1;
  }
  return pid;
}

// Stops and reaps a surrogate started above: SIGTERM, its handler.
void stop(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  int st;
  ::waitpid(pid, &st, 0);
}

// A peak resident size (VmHWM) in KiB from /proc/PID/status, or -1.
long peak_rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long value = -1;
  while (status >> key) {
    if (key == "VmHWM:") {
      status >> value;
      return value;
    }
    status.ignore(1 << 20, '\n');
  }
  return -1;
}

ino_t inode_of(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Appends the decimal digits of `v` (>= 0) and `end` to buf[len...]
// (async-signal-safe, for forked children).
void append_number(char* buf, int& len, long v, char end) {
  char rev[24];
  int n = 0;
  do {
    rev[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n > 0) buf[len++] = rev[--n];
  buf[len++] = end;
}

// Reads connection `c` to its end and closes it; how many bytes came.
long drain(int c) {
  long total = 0;
  char buf[512];
  ssize_t n;
  while ((n = ::read(c, buf, sizeof buf)) > 0) total += n;
  ::close(c);
  return total;
}

// A socket owned by `nobody` (65534) at `path`, made by a forked child that
// counts the connections it gets and the bytes sent on them. report() tells
// it to take what is still queued (the clients are done by then) and say
// "CONNECTIONS BYTES".
struct Squatter {
  pid_t pid = -1;
  int control = -1;  // write end: report now
  int counted = -1;  // read end: the report

  static Squatter start(const std::string& path) {
    Squatter s;
    int control_pipe[2], count_pipe[2], ready_pipe[2];
    if (::pipe(control_pipe) != 0 || ::pipe(count_pipe) != 0 || ::pipe(ready_pipe) != 0) return s;
    s.pid = ::fork();
    if (s.pid == 0) {
      // Only async-signal-safe calls here: become "nobody", listen, count.
      ::close(control_pipe[1]);
      ::close(count_pipe[0]);
      ::close(ready_pipe[0]);
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
      const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un addr = unix_address(path);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 8) != 0)
        ::_exit(4);
      ::chmod(path.c_str(), 0777);
      ::write(ready_pipe[1], "r", 1);
      long connections = 0, bytes = 0;
      pollfd p[2] = {{fd, POLLIN, 0}, {control_pipe[0], POLLIN, 0}};
      for (;;) {
        if (::poll(p, 2, -1) < 0) continue;
        if (p[1].revents != 0) break;
        const int c = ::accept(fd, nullptr, nullptr);
        if (c >= 0) {
          ++connections;
          bytes += drain(c);
        }
      }
      // What is still queued: the clients are done, so each ends at once.
      ::fcntl(fd, F_SETFL, O_NONBLOCK);
      for (int c; (c = ::accept(fd, nullptr, nullptr)) >= 0;) {
        ++connections;
        bytes += drain(c);
      }
      char text[64];
      int len = 0;
      append_number(text, len, connections, ' ');
      append_number(text, len, bytes, '\n');
      ::write(count_pipe[1], text, static_cast<size_t>(len));
      ::_exit(0);
    }
    ::close(control_pipe[0]);
    ::close(count_pipe[1]);
    ::close(ready_pipe[1]);
    s.control = control_pipe[1];
    s.counted = count_pipe[0];
    char r;
    if (::read(ready_pipe[0], &r, 1) != 1) s.pid = -1;
    ::close(ready_pipe[0]);
    return s;
  }

  // Ends the squatter; "CONNECTIONS BYTES" it had.
  std::string report() {
    ::write(control, "x", 1);
    std::string all;
    char buf[64];
    ssize_t n;
    while ((n = ::read(counted, buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
    int st;
    ::waitpid(pid, &st, 0);
    pid = -1;
    ::close(control);
    ::close(counted);
    return all;
  }
};

}  // namespace

// Standalone mode: `surrogate32 --listen PATH`, clients of the same user only.
class Standalone : public ::testing::Test {
 protected:
  void SetUp() override {
    DLLBRIDGE_SKIP_WITHOUT_32BIT();
    socket_ = "/tmp/dllbridge-test-" + std::to_string(::getpid()) + ".sock";
    ::unlink(socket_.c_str());
    // Served once it says so (--ready-fd): never the socket file's existence.
    pid_ = start_listening(socket_);
    ASSERT_GT(pid_, 0) << "surrogate32 --listen " << socket_ << " did not say it was ready";
  }
  void TearDown() override { stop(pid_); }
  // The surrogate still serves its own user.
  void expect_serving() {
    BridgeOptions o;
    o.connect = socket_;
    Bridge b(o);
    EXPECT_EQ(static_cast<pid_t>(b.surrogate().pid), pid_);
    EXPECT_EQ(b.surrogate().pointer_size, 4u);
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
    sockaddr_un addr = unix_address(socket_);
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
  expect_serving();
}

TEST_F(Standalone, DllbridgeCallConnectsToIt) {
  DLLBRIDGE_SKIP_WITHOUT_CALL_TOOL();
  const test::os::Output r = test::os::run({paths::kDllbridgeCall, "--json", "--connect", socket_,
                                            paths::kSample32, "int add(int a, int b)", "2", "40"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"return\":42"), std::string::npos) << r.out;
}

// The client checks who serves a socket before it sends anything.
class Squatted : public ::testing::Test {
 protected:
  void SetUp() override {
    DLLBRIDGE_SKIP_WITHOUT_32BIT();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
    path_ = "/tmp/dllbridge-squat-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path_.c_str());
    squatter_ = Squatter::start(path_);
    ASSERT_GT(squatter_.pid, 0) << "the squatter could not listen";
  }
  void TearDown() override {
    if (squatter_.pid > 0) squatter_.report();  // an assertion ended the test early
    ::unlink(path_.c_str());
  }

  Error connect_with_secret() {
    BridgeOptions o;
    o.connect = path_;
    return test::error_of([&] {
      Bridge b(o);
      b.load("/secret/path/password=hunter2");
    });
  }
  std::string path_;
  Squatter squatter_;
};

TEST_F(Squatted, ASocketOfAnotherUserIsRefusedUnopened) {
  const Error e = connect_with_secret();
  EXPECT_EQ(e.kind(), ErrorKind::unauthorized) << e.what();
  EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("uid 65534"), std::string::npos) << e.what();
  EXPECT_EQ(squatter_.report(), "0 0\n") << "the squatter was never even connected to";
}

TEST_F(Squatted, AListenerOfAnotherUserBehindOurFileIsRefusedBeforeAnyByte) {
  // The file looks like ours; the process that listens is not: SO_PEERCRED.
  ASSERT_EQ(::lchown(path_.c_str(), ::geteuid(), ::getegid()), 0);
  const Error e = connect_with_secret();
  EXPECT_EQ(e.kind(), ErrorKind::unauthorized) << e.what();
  EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(squatter_.pid)), std::string::npos)
      << e.what();
  EXPECT_EQ(squatter_.report(), "1 0\n") << "one connection, zero bytes received";
}

TEST_F(Standalone, AStaleSocketIsReplacedAndOnlyOurOwnIsRemoved) {
  // A surrogate killed outright leaves its socket behind: a stale one.
  ::kill(pid_, SIGKILL);
  int st;
  ::waitpid(pid_, &st, 0);
  ASSERT_NE(inode_of(socket_), 0u);
  pid_ = start_listening(socket_);
  ASSERT_GT(pid_, 0) << "a stale socket must not stop a new surrogate";
  {
    BridgeOptions o;
    o.connect = socket_;
    Bridge b(o);
    EXPECT_EQ(static_cast<pid_t>(b.surrogate().pid), pid_);
  }
  // Someone else's socket now stands at the path: SIGTERM leaves it.
  const std::string moved = socket_ + ".moved";
  ASSERT_EQ(::rename(socket_.c_str(), moved.c_str()), 0);
  const pid_t other = start_listening(socket_);
  ASSERT_GT(other, 0);
  const ino_t others = inode_of(socket_);
  stop(pid_);
  pid_ = other;
  EXPECT_EQ(inode_of(socket_), others) << "the stopped surrogate removed a socket it did not create";
  EXPECT_NE(inode_of(moved), 0u) << "it found its own under another name only";
  ::unlink(moved.c_str());
  // And its own is removed when it stops.
  stop(pid_);
  pid_ = -1;
  EXPECT_EQ(inode_of(socket_), 0u);
}

TEST_F(Standalone, ASecondListenerLeavesTheServedSocketAlone) {
  const ino_t before = inode_of(socket_);
  const std::string log = test::os::temp_path("second-listener.txt");
  EXPECT_EQ(start_listening(socket_, {"--log-level", "off"}, log), -1)
      << "a second surrogate must refuse a served path";
  EXPECT_EQ(inode_of(socket_), before);
  std::ifstream in(log);
  const std::string said((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(said.find("already served"), std::string::npos)
      << "why it ended, even with --log-level off: " << said;
  std::remove(log.c_str());
  expect_serving();
}

TEST_F(Standalone, A60MBLengthBeforeHelloAllocatesNothing) {
  // Measured against the surrogate's own high-water mark before the frame:
  // what it needs to start differs by build (a sanitizer's shadow memory).
  const long before = peak_rss_kib(pid_);
  ASSERT_GT(before, 0);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = unix_address(socket_);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const unsigned char header[4] = {0, 0, 0xC0, 0x03};  // 60 MiB, little-endian
  ASSERT_EQ(::write(fd, header, sizeof header), 4);
  const std::string filler(1 << 20, 'x');
  for (int i = 0; i < 60; ++i) {
    if (::send(fd, filler.data(), filler.size(), MSG_NOSIGNAL) <= 0) break;  // dropped: as it should
  }
  char buf[512];
  while (::read(fd, buf, sizeof buf) > 0) {
  }
  ::close(fd);
  const long peak = peak_rss_kib(pid_);
  ASSERT_GT(peak, 0);
  // Far below the 60 MiB the claimed frame would take: nothing was
  // allocated for it.
  EXPECT_LT(peak - before, 16 * 1024) << "peak RSS " << peak << " KiB, " << before << " KiB before";
  expect_serving();
}

TEST(StandaloneToken, IsNeverLoggedAndMustBeOwnerOnly) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  const std::string socket = test::os::fresh_endpoint("token-log");
  const std::string token_file = test::os::temp_path("token-file");
  const std::string token = "do-not-log-this-token";
  std::ofstream(token_file) << token << "\n";
  ASSERT_EQ(::chmod(token_file.c_str(), 0644), 0);
  EXPECT_EQ(start_listening(socket, {"--token-file", token_file}), -1)
      << "a token others can read is refused";
  ASSERT_EQ(::chmod(token_file.c_str(), 0600), 0);
  const std::string log = test::os::temp_path("token-log.txt");
  const pid_t pid = start_listening(socket, {"--token-file", token_file, "--log-level", "trace"}, log);
  ASSERT_GT(pid, 0);
  const std::string wrong_file = test::os::temp_path("wrong-token");
  std::ofstream(wrong_file) << "not-" << token;
  for (const std::string& presented : {token_file, wrong_file}) {
    BridgeOptions o;
    o.connect = socket;
    o.token_file = presented;
    try {
      Bridge b(o);
    } catch (const Error&) {
    }
  }
  stop(pid);
  std::ifstream in(log);
  const std::string logged((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(logged.find("rejected pid"), std::string::npos) << logged;
  EXPECT_EQ(logged.find(token), std::string::npos) << logged;
}

TEST(ConnectMode, AHandshakeTimeoutDoesNotSayTheSurrogateWasKilled) {
  const std::string path = test::os::fresh_endpoint("mute");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = unix_address(path);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);  // takes connections, never answers
  BridgeOptions o;
  o.connect = path;
  o.policy.start_timeout = std::chrono::milliseconds(300);
  const Error e = test::error_of([&] { Bridge b(o); });
  ::close(fd);
  ::unlink(path.c_str());
  EXPECT_NE(std::string(e.what()).find("no reply within 300 ms"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find("killed"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find("stopped"), std::string::npos) << e.what();
}

TEST(ConnectMode, ARefusedSocketIsTriedAgainBriefly) {
  // Bound but not listening yet: a connect is refused until listen().
  const std::string path = test::os::fresh_endpoint("late");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = unix_address(path);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string outcome;
  std::thread client([&] {
    BridgeOptions o;
    o.connect = path;
    try {
      Bridge b(o);
      outcome = "pointer size " + std::to_string(b.surrogate().pointer_size);
    } catch (const Error& e) {
      outcome = e.what();
    }
  });
  ASSERT_EQ(::listen(fd, 4), 0);
  // A client that gave up before listen() (a very slow machine) ends the
  // test with what it said, rather than leaving accept() waiting forever.
  pollfd pending{fd, POLLIN, 0};
  if (::poll(&pending, 1, 20000) != 1) {
    client.join();
    ::close(fd);
    FAIL() << "no connection came: " << outcome;
  }
  // A minimal server: answers the Hello, then waits for the end.
  asio::io_context io;
  asio::local::stream_protocol::socket peer(io);
  peer.assign(asio::local::stream_protocol(), ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC));
  wire::Frame in;
  ASSERT_TRUE(wire::read_frame(peer, in));
  wire::Frame out;
  out.mutable_reply()->set_id(in.request().id());
  out.mutable_reply()->mutable_hello()->set_protocol_version(wire::kProtocolVersion);
  out.mutable_reply()->mutable_hello()->set_pointer_size(8);
  wire::write_frame(peer, out);
  try {
    while (wire::read_frame(peer, in)) {
      if (in.request().has_shutdown()) {
        wire::Frame bye;
        bye.mutable_reply()->set_id(in.request().id());
        bye.mutable_reply()->mutable_shutdown();
        wire::write_frame(peer, bye);
      }
    }
  } catch (const std::exception&) {
  }
  client.join();
  ::close(fd);
  ::unlink(path.c_str());
  EXPECT_EQ(outcome, "pointer size 8");
}
