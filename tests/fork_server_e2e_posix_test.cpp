// BridgeOptions::fork_server against the real surrogates (Linux): the
// surrogates of every Bridge of this process are forked by one server and
// serve calls; a crash is named and the next surrogate is forked too; what
// a library started ends with its surrogate; a server that ended is
// replaced while its surrogates serve on; a forked surrogate gets the
// client's environment and working directory as they are at its start; a
// server that does not answer is given up for a new one; a client that ignores SIGCHLD
// still learns how its surrogate ended; a launcher, or
// DLLBRIDGE_FORK_SERVER=off, starts the program itself; and a kill -9 of
// the client takes its surrogates and its server with it.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

#include "error_of.hpp"
#include "os.hpp"
#include "test_support.hpp"

using namespace dllbridge;
using namespace dllbridge::test;
using std::chrono::milliseconds;

namespace {

using os::process_gone;

// The parent of process `pid` (field 4 of /proc/PID/stat), or 0.
std::uint32_t parent_of(std::uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t close = text.rfind(')');  // the name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string state;
  long ppid = 0;
  return rest >> state >> ppid ? static_cast<std::uint32_t>(ppid) : 0;
}

// The command line of process `pid`, its arguments joined by spaces.
std::string command_line(std::uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : text) {
    if (c == '\0') c = ' ';
  }
  return text;
}

// Whether `pid` ends within 20 s; kills it when it does not.
bool ends(std::uint32_t pid) {
  if (eventually([&] { return process_gone(pid); }, milliseconds(20000))) return true;
  os::kill_process(pid);
  return false;
}

// Sets an environment variable for its scope, and restores what was there.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const char* value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value) {
      os::set_env(name_, value);
    } else {
      os::unset_env(name_);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      os::set_env(name_, *old_);
    } else {
      os::unset_env(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// A path to the target's surrogate of its own (a symbolic link in this
// process's scratch folder): the fork servers are one per program path, so
// a bridge started with it starts a server of its own, whatever the other
// tests of this process started.
std::string own_surrogate_path(const Target& t, const std::string& tag) {
  const std::string link = os::temp_path(tag + "-" + t.name);
  std::filesystem::create_symlink(t.surrogate, link);
  return link;
}

std::int64_t add(Library& lib, std::int64_t a, std::int64_t b) {
  return i64(lib.function("int add(int, int)").call({a, b}).ret);
}

class ForkServer : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override { DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam()); }
  BridgeOptions opts() {
    BridgeOptions o = options_for(GetParam());
    o.fork_server = true;
    o.policy.breaker.enabled = false;
    return o;
  }
};

}  // namespace

TEST_P(ForkServer, TheSurrogatesOfEveryBridgeAreForkedByOneServerAndServeCalls) {
  Bridge a(opts());
  Bridge b(opts());
  Library la = a.load(GetParam().sample);
  Library lb = b.load(GetParam().sample);
  EXPECT_EQ(add(la, 40, 2), 42);
  EXPECT_EQ(add(lb, 1, 2), 3);
  const std::uint32_t pa = a.surrogate().pid;
  const std::uint32_t pb = b.surrogate().pid;
  ASSERT_NE(pa, pb);
  const std::uint32_t server = parent_of(pa);
  EXPECT_NE(server, os::self_pid()) << "not started by this process";
  EXPECT_EQ(parent_of(pb), server) << "one server for both";
  EXPECT_EQ(parent_of(server), os::self_pid()) << "this process started the server";
  EXPECT_NE(command_line(server).find("--fork-server"), std::string::npos) << command_line(server);
  std::string emulated;
  EXPECT_EQ(os::process_bits(pa, &emulated), static_cast<int>(GetParam().pointer_size * 8));
  if (emulated.empty()) {
    EXPECT_EQ(command_line(pa).find("--fork-server"), std::string::npos) << command_line(pa);
    EXPECT_NE(command_line(pa).find("--forked"), std::string::npos) << command_line(pa);
  } else {
    // The command line the kernel shows is qemu's own, not the guest's
    // argv the child retitled: nothing there to check.
    std::cout << "not checked: the forked child's title (" << emulated << ")\n";
  }
  EXPECT_EQ(i64(la.function("int get_pid(void)").call({}).ret), static_cast<std::int64_t>(pa));
}

TEST_P(ForkServer, ACrashIsNamedAndTheNextSurrogateIsForkedToo) {
  Bridge b(opts());
  EventLog log;
  log.attach(b);
  Library lib = b.load(GetParam().sample);
  const std::uint32_t before = b.surrogate().pid;
  const std::uint32_t server = parent_of(before);
  Error e = error_of([&] { lib.function("int crash_segv(void)").call({}); });
  EXPECT_EQ(e.kind(), ErrorKind::crashed) << e.what();
  EXPECT_NE(std::string(e.what()).find(os::kFaults.segv), std::string::npos) << e.what();
  Error exited = error_of([&] { lib.function("int exit_with(int)").call({std::int64_t{3}}); });
  EXPECT_NE(std::string(exited.what()).find("exited with code 3"), std::string::npos) << exited.what();
  EXPECT_EQ(add(lib, 2, 3), 5);
  const std::uint32_t after = b.surrogate().pid;
  EXPECT_NE(after, before);
  EXPECT_EQ(parent_of(after), server) << "forked by the same server";
  // Events reach handlers on the bus's own thread: wait for both.
  ASSERT_TRUE(eventually([&] { return log.of(BridgeEvent::Kind::exited).size() >= 2; }));
  const auto exits = log.of(BridgeEvent::Kind::exited);
  EXPECT_EQ(exits[0].pid, before);
  EXPECT_TRUE(exits[0].signaled);
  EXPECT_EQ(exits[0].code, os::kFaults.segv_code);
  EXPECT_FALSE(exits[1].signaled);
  EXPECT_EQ(exits[1].code, 3);
}

TEST_P(ForkServer, WhatTheLibraryStartedEndsWithItsSurrogateKilledOrStopped) {
  std::uint32_t stopped_child = 0;
  {
    Bridge b(opts());
    Library lib = b.load(GetParam().sample);
    Function spawn = lib.function("int spawn_sleeper(const char* pid_file, int seconds)");
    const auto child = static_cast<std::uint32_t>(i64(spawn.call({Null{}, std::int64_t{120}}).ret));
    ASSERT_GT(child, 0u);
    ASSERT_TRUE(os::kill_process(b.surrogate().pid));
    EXPECT_TRUE(ends(child)) << "child " << child << " outlived its killed surrogate";
    EXPECT_EQ(add(lib, 1, 1), 2);
    stopped_child = static_cast<std::uint32_t>(i64(spawn.call({Null{}, std::int64_t{120}}).ret));
    ASSERT_GT(stopped_child, 0u);
  }
  EXPECT_TRUE(ends(stopped_child)) << "child " << stopped_child << " outlived its stopped surrogate";
}

TEST_P(ForkServer, AServerThatEndedIsReplacedAndItsSurrogatesServeOn) {
  Bridge a(opts());
  Library la = a.load(GetParam().sample);
  const std::uint32_t first = parent_of(a.surrogate().pid);
  ASSERT_TRUE(os::kill_process(first));
  ASSERT_TRUE(eventually([&] { return process_gone(first); }));
  EXPECT_EQ(add(la, 2, 2), 4) << "a surrogate outlives its server";
  Bridge b(opts());
  Library lb = b.load(GetParam().sample);
  EXPECT_EQ(add(lb, 3, 3), 6);
  const std::uint32_t second = parent_of(b.surrogate().pid);
  EXPECT_NE(second, first);
  EXPECT_NE(second, os::self_pid());
  // A's surrogate, whose server is gone, still stops and is told apart.
  const std::uint32_t orphan = a.surrogate().pid;
  a.stop();
  EXPECT_TRUE(ends(orphan));
}

TEST_P(ForkServer, ASurrogateGetsTheEnvironmentAndDirectoryTheClientHasAtItsStart) {
  BridgeOptions o = opts();
  o.surrogate_path = own_surrogate_path(GetParam(), "env");  // a server that starts below
  std::unique_ptr<Bridge> first;
  {
    ScopedEnv gone("DLLBRIDGE_TEST_GONE_LATER", "the server has it");
    first = std::make_unique<Bridge>(o);  // the server starts with this process's state as it is now
  }
  const std::string dir = os::temp_path("forked-cwd");
  std::filesystem::create_directories(dir);
  std::unique_ptr<Bridge> later;
  {
    ScopedEnv set("DLLBRIDGE_TEST_SET_LATER", "set after the server started");
    struct Cwd {
      std::filesystem::path before = std::filesystem::current_path();
      ~Cwd() { std::filesystem::current_path(before); }
    } restore;
    std::filesystem::current_path(dir);
    later = std::make_unique<Bridge>(o);
  }
  const std::uint32_t server = parent_of(first->surrogate().pid);
  EXPECT_EQ(parent_of(later->surrogate().pid), server) << "forked";
  EXPECT_NE(server, os::self_pid());

  Library lib = later->load(GetParam().sample);
  Function env =
      lib.function("int env_value([in, string] const char* name, [out, size_is(cap)] char* out, int cap)");
  CallResult set = env.call({std::string("DLLBRIDGE_TEST_SET_LATER"), std::int64_t{256}});
  ASSERT_GT(i64(set.ret), 0);
  EXPECT_EQ(std::get<std::string>(set.out.at("out")), "set after the server started");
  EXPECT_EQ(i64(env.call({std::string("DLLBRIDGE_TEST_GONE_LATER"), std::int64_t{256}}).ret), -1);
  Function wd = lib.function("int working_dir([out, size_is(cap)] char* out, int cap)");
  CallResult where = wd.call({std::int64_t{4096}});
  ASSERT_GT(i64(where.ret), 0);
  EXPECT_EQ(std::filesystem::canonical(std::get<std::string>(where.out.at("out"))),
            std::filesystem::canonical(dir));
}

TEST_P(ForkServer, ALauncherOrTheEnvironmentSayingOffStartsTheProgramItself) {
  {
    BridgeOptions o = opts();
    o.launcher = {"/usr/bin/env"};
    Bridge b(o);
    EXPECT_EQ(parent_of(b.surrogate().pid), os::self_pid());
  }
  {
    ScopedEnv off("DLLBRIDGE_FORK_SERVER", "off");
    Bridge b(opts());
    EXPECT_EQ(parent_of(b.surrogate().pid), os::self_pid());
  }
  {
    ScopedEnv on("DLLBRIDGE_FORK_SERVER", "on");
    BridgeOptions o = options_for(GetParam());  // fork_server false
    Bridge b(o);
    EXPECT_NE(parent_of(b.surrogate().pid), os::self_pid());
  }
}

TEST_P(ForkServer, AServerThatDoesNotAnswerIsGivenUpForANewOne) {
  BridgeOptions o = opts();
  o.surrogate_path = own_surrogate_path(GetParam(), "frozen");
  std::unique_ptr<Bridge> first = std::make_unique<Bridge>(o);
  const std::uint32_t server = parent_of(first->surrogate().pid);
  ASSERT_NE(server, os::self_pid());
  ASSERT_TRUE(os::freeze_process(server));  // alive, but it answers nothing
  // Waited out once for the frozen server; its replacement must answer
  // within it too, also on a loaded machine.
  o.policy.start_timeout = milliseconds(2000);
  Bridge second(o);
  Library lib = second.load(GetParam().sample);
  EXPECT_EQ(add(lib, 20, 22), 42);
  const std::uint32_t next = parent_of(second.surrogate().pid);
  EXPECT_NE(next, os::self_pid());
  EXPECT_NE(next, server) << "forked by a new server";
  EXPECT_TRUE(eventually([&] { return process_gone(server); })) << "the frozen server was killed";
  Library first_lib = first->load(GetParam().sample);
  EXPECT_EQ(add(first_lib, 1, 1), 2) << "its surrogates serve on";
}

TEST_P(ForkServer, AClientThatIgnoresSigchldStillLearnsHowItsSurrogateEnded) {
  struct sigaction ignore {
  }, before{};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ASSERT_EQ(::sigaction(SIGCHLD, &ignore, &before), 0);
  struct Restore {
    struct sigaction* before;
    ~Restore() { ::sigaction(SIGCHLD, before, nullptr); }
  } restore{&before};
  BridgeOptions o = opts();
  o.surrogate_path = own_surrogate_path(GetParam(), "nochld");  // a server that inherits SIG_IGN
  Bridge b(o);
  Library lib = b.load(GetParam().sample);
  const std::uint32_t before_pid = b.surrogate().pid;
  ASSERT_NE(parent_of(before_pid), os::self_pid());
  Error e = error_of([&] { lib.function("int crash_segv(void)").call({}); });
  EXPECT_EQ(e.kind(), ErrorKind::crashed) << e.what();
  EXPECT_NE(std::string(e.what()).find(os::kFaults.segv), std::string::npos) << e.what();
  EXPECT_EQ(add(lib, 1, 2), 3);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, ForkServer, ::testing::ValuesIn(kTargets),
                         [](const auto& info) { return std::string(info.param.name); });

// kill -9 of a client program whose surrogates are forked: they and the
// server go with it.
TEST(ForkServerOrphans, KillingTheClientTakesItsSurrogateAndItsServerWithIt) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  DLLBRIDGE_SKIP_WITHOUT_CALL_TOOL();
  std::unique_ptr<os::Child> client;
  {
    ScopedEnv on("DLLBRIDGE_FORK_SERVER", "on");
    client = os::Child::start({kDllbridgeCall, "--batch", kSample32});
  }
  ASSERT_TRUE(client->write("{\"signature\": \"int get_pid(void)\"}\n"));
  const std::string line = client->read_line();
  const std::size_t at = line.find("\"return\":");
  ASSERT_NE(at, std::string::npos) << line;
  const auto surrogate = static_cast<std::uint32_t>(std::stoul(line.substr(at + 9)));
  const std::uint32_t server = parent_of(surrogate);
  ASSERT_NE(server, client->pid()) << "forked by a server";
  ASSERT_EQ(parent_of(server), client->pid());

  ASSERT_TRUE(client->kill());
  client->wait();
  EXPECT_TRUE(ends(surrogate)) << "surrogate " << surrogate << " outlived its client";
  EXPECT_TRUE(ends(server)) << "fork server " << server << " outlived its client";
}
