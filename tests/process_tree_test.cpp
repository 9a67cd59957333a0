// What the library's own processes can and cannot do to the client: a
// forked child that holds the channel open does not hide its parent's crash,
// the processes the library starts end with the surrogate (killed, crashed,
// stopped, or orphaned by a kill -9 of the client; Windows: the Job Object),
// and programs the library runs do not inherit the channel (POSIX: it sits at
// an unpredictable descriptor number too).
#if !defined(_WIN32)
#  include <dirent.h>
#  include <unistd.h>
#endif

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "os.hpp"
#include "test_support.hpp"

using namespace dllbridge;
using namespace dllbridge::test;
using std::chrono::milliseconds;

namespace {

using os::process_gone;

// The pid written in `path`, or 0 when there is none yet.
std::uint32_t pid_in(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  return in >> pid && pid > 0 ? static_cast<std::uint32_t>(pid) : 0;
}

#if !defined(_WIN32)
// The descriptor numbers of process `pid` that are sockets.
std::vector<int> socket_fds(std::uint32_t pid) {
  std::vector<int> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[256];
    const ssize_t n = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n > 0 && std::string(target, static_cast<std::size_t>(n)).rfind("socket:", 0) == 0) {
      out.push_back(std::stoi(e->d_name));
    }
  }
  ::closedir(d);
  return out;
}
#endif

// A generous bound for a process the bridge should have ended: polled, it
// only decides failure if the process is still there after it.
constexpr milliseconds kGone(20000);

// Whether process `pid` ends within kGone; kills it when it does not, so a
// failing test leaves no sleeper behind.
bool ends(std::int64_t pid) {
  const auto p = static_cast<std::uint32_t>(pid);
  if (eventually([&] { return process_gone(p); }, kGone)) return true;
  os::kill_process(p);
  return false;
}

class ProcessTree : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override { DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam()); }
  BridgeOptions opts() {
    BridgeOptions o = options_for(GetParam());
    o.policy.breaker.enabled = false;
    // A crash that went unnoticed would show as a timeout, a different kind.
    o.policy.call_timeout = milliseconds(60000);
    return o;
  }
  std::int32_t spawn_sleeper(Library& lib) {
    Function f = lib.function("int spawn_sleeper(const char* pid_file, int seconds)");
    return static_cast<std::int32_t>(i64(f.call({Null{}, std::int64_t{120}}).ret));
  }
};

}  // namespace

TEST_P(ProcessTree, ACrashIsSeenAtOnceThoughAForkedChildHoldsTheChannelOpen) {
  Bridge b(opts());
  Library lib = b.load(GetParam().sample);
  const std::uint32_t surrogate = b.surrogate().pid;
  const std::string pid_file = os::temp_path("sleeper-crash");
  Function f = lib.function("int spawn_sleeper_and_crash(const char* pid_file, int seconds)");
  Error e = error_of([&] { f.call({pid_file, std::int64_t{120}}); });
  EXPECT_EQ(e.kind(), ErrorKind::crashed) << e.what();
  EXPECT_NE(std::string(e.what()).find(os::kFaults.segv), std::string::npos) << e.what();
  const std::uint32_t child = pid_in(pid_file);
  ASSERT_NE(child, 0u) << "the library wrote its child's pid";
  EXPECT_TRUE(ends(child)) << "child " << child << " outlived its surrogate";
  EXPECT_TRUE(process_gone(surrogate));
  EXPECT_EQ(i64(lib.function("int add(int, int)").call({std::int64_t{2}, std::int64_t{3}}).ret), 5);
}

TEST_P(ProcessTree, TheLibrarysChildrenEndWhenTheSurrogateIsKilled) {
  Bridge b(opts());
  Library lib = b.load(GetParam().sample);
  const std::uint32_t surrogate = b.surrogate().pid;
  const std::int32_t child = spawn_sleeper(lib);
  ASSERT_GT(child, 0);
  ASSERT_FALSE(process_gone(static_cast<std::uint32_t>(child)));
  ASSERT_TRUE(os::kill_process(surrogate));
  EXPECT_TRUE(ends(child)) << "child " << child << " outlived its surrogate";
  // Seen from the process, not from the stream (POSIX: the child holds it open).
  EXPECT_TRUE(eventually([&] { return b.surrogate().pid != surrogate; }, kGone)) << "a new surrogate";
  EXPECT_EQ(i64(lib.function("int add(int, int)").call({std::int64_t{2}, std::int64_t{3}}).ret), 5);
}

TEST_P(ProcessTree, TheLibrarysChildrenEndWhenTheBridgeStops) {
  std::int32_t child = 0;
  {
    Bridge b(opts());
    Library lib = b.load(GetParam().sample);
    child = spawn_sleeper(lib);
    ASSERT_GT(child, 0);
    b.stop();
    EXPECT_TRUE(ends(child)) << "child " << child << " outlived the stop";
    b.restart();
    child = spawn_sleeper(lib);
    ASSERT_GT(child, 0);
  }
  EXPECT_TRUE(ends(child)) << "child " << child << " outlived the bridge";
}

TEST_P(ProcessTree, TheChannelIsAtAnUnpredictableNumberAndProgramsTheLibraryRunsDoNotGetIt) {
  Bridge b(opts());
  Library lib = b.load(GetParam().sample);
#if !defined(_WIN32)
  const std::vector<int> fds = socket_fds(b.surrogate().pid);
  ASSERT_EQ(fds.size(), 1u) << "the channel is the surrogate's one socket";
  EXPECT_GE(fds[0], 100) << "not the number it was passed on (3)";
  EXPECT_LT(fds[0], 1000);
#endif
  // POSIX: sockets an exec'd shell holds; Windows: inheritable pipe handles.
  EXPECT_EQ(i64(lib.function("int exec_child_sockets(void)").call({}).ret), 0)
      << "a program the library runs inherits no channel";
}

INSTANTIATE_TEST_SUITE_P(Surrogates, ProcessTree, ::testing::ValuesIn(kTargets),
                         [](const auto& info) { return std::string(info.param.name); });

// kill -9 of a client program: its surrogate and everything the library
// started go with it.
TEST(ProcessTreeOrphans, KillingTheClientTakesTheLibrarysChildrenWithIt) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  DLLBRIDGE_SKIP_WITHOUT_CALL_TOOL();
  std::unique_ptr<os::Child> client = os::Child::start({kDllbridgeCall, "--batch", kSample32});
  auto answer = [&](const std::string& request) -> std::int64_t {
    if (!client->write(request + "\n")) return -1;
    const std::string line = client->read_line();
    const std::size_t at = line.find("\"return\":");
    return at == std::string::npos ? -1 : std::stoll(line.substr(at + 9));
  };
  const std::int64_t surrogate = answer(R"j({"signature": "int get_pid(void)"})j");
  const std::int64_t child = answer(
      R"j({"signature": "int spawn_sleeper(const char* pid_file, int seconds)", "args": [null, 120]})j");
  ASSERT_GT(surrogate, 0);
  ASSERT_GT(child, 0);
  ASSERT_FALSE(process_gone(static_cast<std::uint32_t>(child)));

  ASSERT_TRUE(client->kill());
  client->wait();
  EXPECT_TRUE(eventually([&] { return process_gone(static_cast<std::uint32_t>(surrogate)); }, kGone))
      << "surrogate " << surrogate << " outlived its client";
  EXPECT_TRUE(ends(child)) << "the library's child " << child << " outlived the client";
}
