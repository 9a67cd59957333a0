// The fork server as the client library meets it, frame by frame
// (surrogate --fork-server, dllbridge/wire/fork_server.hpp): a request
// forks a surrogate that serves the endpoint that came with it, in a
// process group of its own; a bad request is refused and the server serves
// on; a child's end is reported with how it ended; the server ends when its
// client closes the socket.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "os.hpp"
#include "spawn_posix.hpp"

#include "dllbridge/dllbridge.pb.h"
#include "dllbridge/rpc/fd_passing.hpp"
#include "dllbridge/wire/fork_server.hpp"
#include "dllbridge/wire/frame.hpp"
#include "surrogate_targets.hpp"
#include "test_paths.hpp"

using namespace dllbridge;
namespace paths = dllbridge::test;
namespace fs = dllbridge::wire::fork_server;

namespace {

using Target = test::SurrogateTarget;
using test::kSurrogateTargets;

// Field `index` (1-based) of /proc/PID/stat, or "" when there is none.
std::string stat_field(pid_t pid, int index) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t close = text.rfind(')');  // the name may hold spaces
  if (close == std::string::npos) return "";
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= index && rest >> field; ++i) {
    if (i == index) return field;
  }
  return "";
}

// One message from the server within 20 s; its descriptor (or -1) in *fd.
bool receive(int sock, fs::Message& m, int* fd) {
  pollfd p{sock, POLLIN, 0};
  if (::poll(&p, 1, 20000) != 1) return false;
  int got = -1;
  const ssize_t n = rpc::receive_with_fds(
      sock, &m, sizeof m, 0, [](void* c, int f) { *static_cast<int*>(c) = f; }, &got);
  if (fd) {
    *fd = got;
  } else if (got >= 0) {
    ::close(got);
  }
  return n == static_cast<ssize_t>(sizeof m);
}

std::string request_of(const std::vector<std::string>& args) {
  std::string r;
  for (const std::string& a : args) r += "a:" + a + '\0';
  return r;
}

class ForkServerProtocol : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    if (std::string_view(GetParam().name) == "surrogate32" && !paths::kHave32) {
      GTEST_SKIP() << "skipped: this build has no 32-bit part (configured with DLLBRIDGE_BUILD_32BIT=OFF)";
    }
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    const int rc =
        test::spawn_with_channel({GetParam().surrogate, "--fork-server", "--fd", "3"}, sv[1], server_);
    ::close(sv[1]);
    control_ = sv[0];
    ASSERT_EQ(rc, 0) << GetParam().surrogate;
  }
  void TearDown() override {
    if (control_ >= 0) ::close(control_);
    if (server_ > 0) {
      ::kill(server_, SIGKILL);
      ::waitpid(server_, nullptr, 0);
    }
  }
  pid_t server_ = 0;
  int control_ = -1;
};

}  // namespace

TEST_P(ForkServerProtocol, ARequestForksASurrogateThatServesTheEndpointThatCameWithIt) {
  // A request without an endpoint, and one that is not '\0'-ended: refused,
  // and the server serves on.
  const std::string args = request_of({GetParam().surrogate, "--log-level", "off"});
  ASSERT_EQ(::send(control_, args.data(), args.size(), 0), static_cast<ssize_t>(args.size()));
  fs::Message m;
  ASSERT_TRUE(receive(control_, m, nullptr));
  EXPECT_EQ(m.kind, fs::started);
  EXPECT_EQ(m.pid, 0);
  EXPECT_EQ(m.code, EINVAL);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const std::string malformed[] = {std::string("a:no end"), std::string("x:what\0", 8),
                                   std::string("e:NO_EQUALS\0", 13), std::string("e:A=1\0", 6)};
  for (const std::string& bad : malformed) {  // unended, unknown field, bad variable, no argv[0]
    ASSERT_GT(rpc::send_with_fd(control_, bad.data(), bad.size(), sv[1]), 0);
    ASSERT_TRUE(receive(control_, m, nullptr));
    EXPECT_EQ(m.pid, 0) << bad;
    EXPECT_EQ(m.code, EINVAL) << bad;
  }

  ASSERT_EQ(rpc::send_with_fd(control_, args.data(), args.size(), sv[1]), static_cast<ssize_t>(args.size()));
  ::close(sv[1]);
  int pidfd = -1;
  ASSERT_TRUE(receive(control_, m, &pidfd));
  ASSERT_EQ(m.kind, fs::started);
  ASSERT_GT(m.pid, 0) << "errno " << m.code;
  EXPECT_GE(pidfd, 0) << "a pidfd comes with the pid";
  const pid_t child = m.pid;
  EXPECT_EQ(stat_field(child, 4), std::to_string(server_)) << "the server is its parent";
  EXPECT_EQ(stat_field(child, 5), std::to_string(child)) << "it leads a process group of its own";

  asio::io_context io;
  test::os::RawStream stream(io);
  stream.assign(asio::local::stream_protocol(), sv[0]);
  wire::Frame out;
  out.mutable_request()->set_id(1);
  out.mutable_request()->mutable_hello()->set_protocol_version(wire::kProtocolVersion);
  wire::write_frame(stream, out);
  wire::Frame in;
  ASSERT_TRUE(wire::read_frame(stream, in));
  ASSERT_TRUE(in.reply().has_hello());
  EXPECT_EQ(in.reply().hello().pid(), static_cast<std::uint32_t>(child));

  // Its session ends without a Shutdown, as when its client dies: it kills
  // its group, itself included; the server reaps it and says so.
  stream.close();
  ASSERT_TRUE(receive(control_, m, nullptr));
  EXPECT_EQ(m.kind, fs::ended);
  EXPECT_EQ(m.pid, child);
  EXPECT_EQ(m.signaled, 1);
  EXPECT_EQ(m.code, SIGKILL);
  pollfd p{pidfd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 1) << "its pidfd says it ended";
  if (pidfd >= 0) ::close(pidfd);

  // The client closes its end: the server ends.
  ::close(control_);
  control_ = -1;
  int status = 0;
  ASSERT_EQ(::waitpid(server_, &status, 0), server_);
  server_ = 0;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_P(ForkServerProtocol, AChildsExitCodeIsReported) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  // --workers 0 is out of range: the child's command line fails as a
  // started program's would, with CLI11's exit code.
  const std::string args = request_of({GetParam().surrogate, "--workers", "0"});
  ASSERT_GT(rpc::send_with_fd(control_, args.data(), args.size(), sv[1]), 0);
  ::close(sv[1]);
  fs::Message m;
  ASSERT_TRUE(receive(control_, m, nullptr));
  ASSERT_GT(m.pid, 0);
  const pid_t child = m.pid;
  ASSERT_TRUE(receive(control_, m, nullptr));
  EXPECT_EQ(m.kind, fs::ended);
  EXPECT_EQ(m.pid, child);
  EXPECT_EQ(m.signaled, 0);
  EXPECT_NE(m.code, 0);
  ::close(sv[0]);
}

TEST_P(ForkServerProtocol, AServerOnAStreamSocketOrNoSocketRefusesToStart) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  pid_t server = 0;
  ASSERT_EQ(test::spawn_with_channel({GetParam().surrogate, "--fork-server", "--fd", "3"}, sv[1], server), 0);
  ::close(sv[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(server, &status, 0), server);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << status;
  ::close(sv[0]);
  std::unique_ptr<test::os::Child> c =
      test::os::Child::start({GetParam().surrogate, "--fork-server", "--fd", "0"});  // stdin: a pipe
  EXPECT_EQ(c->wait(), 2);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, ForkServerProtocol, ::testing::ValuesIn(kSurrogateTargets),
                         [](const auto& info) { return std::string(info.param.name); });
