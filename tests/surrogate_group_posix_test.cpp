// A surrogate started as a client starts it (its own process group, the
// channel as descriptor 3, no --parent-pid) whose session ends without a
// Shutdown, as when its client dies: what the library started must end with
// it, whichever of the client-death paths notices first.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>

#include "os.hpp"
#include "spawn_posix.hpp"

#include "dllbridge/dllbridge.pb.h"
#include "dllbridge/wire/frame.hpp"
#include "surrogate_targets.hpp"
#include "test_paths.hpp"

using namespace dllbridge;
namespace paths = dllbridge::test;

namespace {

using Target = test::SurrogateTarget;
using test::kSurrogateTargets;

// Sends `request` with id 1 and returns the reply (a failed expectation when none comes).
wire::Reply ask(test::os::RawStream& stream, wire::Request request) {
  request.set_id(1);
  wire::Frame out;
  *out.mutable_request() = std::move(request);
  wire::write_frame(stream, out);
  wire::Frame in;
  EXPECT_TRUE(wire::read_frame(stream, in)) << "the surrogate answers";
  return in.reply();
}

wire::TypeNode scalar(wire::Scalar s) {
  wire::TypeNode n;
  n.set_kind(wire::TypeNode::SCALAR);
  n.set_scalar(s);
  return n;
}

// Whether `pid` ends within 20 s; kills it when it does not.
bool ends(std::uint32_t pid) {
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < limit) {
    if (test::os::process_gone(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  test::os::kill_process(pid);
  return false;
}

class SurrogateGroup : public ::testing::TestWithParam<Target> {};

}  // namespace

TEST_P(SurrogateGroup, ASessionEndingWithoutShutdownTakesWhatTheLibraryStarted) {
  if (std::string_view(GetParam().name) == "surrogate32" && !paths::kHave32) {
    GTEST_SKIP() << "skipped: this build has no 32-bit part (configured with DLLBRIDGE_BUILD_32BIT=OFF)";
  }
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const std::string program = GetParam().surrogate;
  pid_t surrogate = 0;
  const int rc = test::spawn_with_channel({program, "--fd", "3"}, sv[1], surrogate);
  ::close(sv[1]);
  ASSERT_EQ(rc, 0) << program;

  asio::io_context io;
  test::os::RawStream stream(io);
  stream.assign(asio::local::stream_protocol(), sv[0]);
  wire::Request hello;
  hello.mutable_hello()->set_protocol_version(wire::kProtocolVersion);
  ASSERT_TRUE(ask(stream, hello).has_hello());
  wire::Request load;
  load.mutable_load_library()->set_path(GetParam().sample);
  const wire::Reply loaded = ask(stream, load);
  ASSERT_TRUE(loaded.has_load_library()) << loaded.error().message();
  wire::Request reg;
  wire::RegisterFunction* f = reg.mutable_register_function();
  f->set_library(loaded.load_library().library());
  f->set_name("spawn_sleeper");
  *f->mutable_ret() = scalar(wire::INT);
  *f->add_params() = scalar(wire::HANDLE);  // const char* pid_file: NULL
  *f->add_params() = scalar(wire::INT);
  const wire::Reply registered = ask(stream, reg);
  ASSERT_TRUE(registered.has_register_function()) << registered.error().message();
  wire::Request call;
  call.mutable_call()->set_function(registered.register_function().function());
  call.mutable_call()->add_args()->set_u(0);
  call.mutable_call()->add_args()->set_i(120);
  const wire::Reply called = ask(stream, call);
  ASSERT_TRUE(called.has_call()) << called.error().message();
  const auto child = static_cast<std::uint32_t>(called.call().ret().i());
  ASSERT_GT(child, 0u);
  ASSERT_FALSE(test::os::process_gone(child));

  stream.close();  // the client is gone: no Shutdown
  int status = 0;
  ASSERT_EQ(::waitpid(surrogate, &status, 0), surrogate);
  EXPECT_TRUE(ends(child)) << "the library's child " << child << " outlived the session";
}

INSTANTIATE_TEST_SUITE_P(Surrogates, SurrogateGroup, ::testing::ValuesIn(kSurrogateTargets),
                         [](const auto& info) { return std::string(info.param.name); });
