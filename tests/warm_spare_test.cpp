// SupervisionPolicy::warm_spare against real surrogates: the spare is a live,
// separate process; a crash, Bridge::restart() and recycling take it over
// (the new surrogate's pid is the spare's); on-restart hooks, events and the
// restart count work as without it; no process is left behind. With
// SupervisionPolicy::preload_spare the spare has the library loaded and the
// functions registered before any crash, and one that cannot load it is let
// go without spoiling the restart.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <vector>

#include "os.hpp"
#include "test_support.hpp"

using namespace dllbridge;
using namespace dllbridge::test;

namespace {

class WarmSpare : public ::testing::TestWithParam<Target> {
 protected:
  BridgeOptions opts() {
    BridgeOptions o = options_for(GetParam());
    o.policy.breaker.enabled = false;
    o.policy.warm_spare = true;
    return o;
  }
  void SetUp() override { DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam()); }
};

// The spare's pid once the monitor has one ready (0 when none came).
std::uint32_t ready_spare(const Bridge& b) {
  std::uint32_t pid = 0;
  eventually([&] { return (pid = b.stats().spare_pid) != 0; });
  return pid;
}

}  // namespace

TEST_P(WarmSpare, ACrashHandsTheCallsToTheSpare) {
  std::mutex mu;
  std::vector<BridgeEvent> events;
  Bridge b(opts());
  b.subscribe([&](const BridgeEvent& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
  });
  std::atomic<int> hooks{0};
  b.on_restart([&] { ++hooks; });
  Library lib = b.load(GetParam().sample);
  auto add = lib.function<std::int32_t(std::int32_t, std::int32_t)>("add");
  ASSERT_EQ(add(2, 3), 5);
  const std::uint32_t first = b.stats().pid;
  const std::uint32_t spare = ready_spare(b);
  ASSERT_NE(spare, 0u) << "no spare was started";
  EXPECT_NE(spare, first);
  EXPECT_FALSE(os::process_gone(spare)) << "the spare is a live process";

  EXPECT_THROW(lib.function<std::int32_t()>("crash_segv")(), Error);
  EXPECT_EQ(add(20, 22), 42) << "the library was loaded again into the spare";
  const BridgeStats s = b.stats();
  EXPECT_EQ(s.pid, spare) << "the spare took over";
  EXPECT_EQ(s.restarts, 1u);
  EXPECT_EQ(hooks.load(), 1) << "on-restart hooks ran in the spare";
  EXPECT_TRUE(eventually([&] { return os::process_gone(first); }));

  // A new spare follows, and takes over the next time.
  const std::uint32_t second = ready_spare(b);
  ASSERT_NE(second, 0u);
  EXPECT_NE(second, spare);
  b.restart();
  EXPECT_EQ(add(1, 1), 2);
  EXPECT_EQ(b.stats().pid, second) << "Bridge::restart() takes the spare too";
  EXPECT_EQ(b.stats().restarts, 2u);

  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    int restarted = 0;
    for (const BridgeEvent& e : events) restarted += e.kind == BridgeEvent::Kind::restarted;
    return restarted == 2;
  }));
  std::lock_guard lock(mu);
  std::vector<std::uint32_t> started;
  for (const BridgeEvent& e : events) {
    // The first start may come before subscribe() (the constructor starts it).
    if (e.kind == BridgeEvent::Kind::started && e.pid != first) started.push_back(e.pid);
  }
  EXPECT_EQ(started, (std::vector<std::uint32_t>{spare, second}))
      << "started names each spare once, when it begins to serve";
}

TEST_P(WarmSpare, ASpareThatDiesIsNotUsedAndStoppingEndsIt) {
  std::uint32_t spare = 0, last_spare = 0;
  {
    Bridge b(opts());
    Library lib = b.load(GetParam().sample);
    auto add = lib.function<std::int32_t(std::int32_t, std::int32_t)>("add");
    ASSERT_EQ(add(1, 2), 3);  // a function call: the spare starts after one
    spare = ready_spare(b);
    ASSERT_NE(spare, 0u);
    ASSERT_TRUE(os::kill_process(spare));
    EXPECT_TRUE(eventually([&] { return b.stats().spare_pid == 0; })) << "a dead spare is let go";
    const std::uint32_t first = b.stats().pid;
    b.restart();
    EXPECT_EQ(add(3, 4), 7);
    EXPECT_NE(b.stats().pid, spare) << "the dead spare did not take over";
    EXPECT_EQ(b.stats().restarts, 1u) << "one start after restart(): the dead spare was not counted";
    EXPECT_NE(b.stats().pid, first);
    last_spare = ready_spare(b);
    ASSERT_NE(last_spare, 0u) << "the next start brings a new spare";
  }
  EXPECT_TRUE(eventually([&] { return os::process_gone(last_spare); })) << "the bridge's end ends its spare";
}

TEST_P(WarmSpare, OffByDefault) {
  Bridge b(options_for(GetParam()));
  Library lib = b.load(GetParam().sample);
  EXPECT_EQ(lib.function<std::int32_t(std::int32_t, std::int32_t)>("add")(1, 2), 3);
  EXPECT_EQ(b.stats().spare_pid, 0u);
}

TEST_P(WarmSpare, WithoutPreloadTheSpareLoadsNothingAhead) {
  Bridge b(opts());
  Library lib = b.load(GetParam().sample);
  EXPECT_EQ(lib.function<std::int32_t(std::int32_t, std::int32_t)>("add")(1, 2), 3);
  ASSERT_NE(ready_spare(b), 0u);
  EXPECT_EQ(b.stats().spare_preloaded, 0u);
}

namespace {

// A copy of the target's sample library next to it (where what it needs
// is found), at a path of its own that the tests move away and back,
// removed at the end.
class SampleCopy {
 public:
  explicit SampleCopy(const Target& t, const std::string& tag) {
    const std::filesystem::path sample = std::filesystem::u8path(t.sample);
    const std::filesystem::path copy =
        sample.parent_path() / (sample.stem().u8string() + "-" + tag + "-" + std::to_string(os::self_pid()) +
                                sample.extension().u8string());
    path_ = copy.u8string();
    away_ = path_ + ".away";
    std::filesystem::copy_file(sample, copy, std::filesystem::copy_options::overwrite_existing);
  }
  ~SampleCopy() {
    std::error_code ec;
    std::filesystem::remove(std::filesystem::u8path(path_), ec);
    std::filesystem::remove(std::filesystem::u8path(away_), ec);
  }
  const std::string& path() const { return path_; }
  // Moves the file away (no process can load it from path() then) or back.
  void hide() { std::filesystem::rename(std::filesystem::u8path(path_), std::filesystem::u8path(away_)); }
  void restore() { std::filesystem::rename(std::filesystem::u8path(away_), std::filesystem::u8path(path_)); }

 private:
  std::string path_, away_;
};

}  // namespace

TEST_P(WarmSpare, APreloadedSpareServesAfterACrashWithoutLoadingAgain) {
  BridgeOptions o = opts();
  o.policy.preload_spare = true;
  SampleCopy copy(GetParam(), "preload");
  Bridge b(o);
  std::atomic<int> hooks{0};
  b.on_restart([&] { ++hooks; });
  Library lib = b.load(copy.path());
  auto add = lib.function<std::int32_t(std::int32_t, std::int32_t)>("add");
  auto crash = lib.function<std::int32_t()>("crash_segv");
  ASSERT_EQ(add(2, 3), 5);
  const std::uint32_t first = b.stats().pid;
  const std::uint32_t spare = ready_spare(b);
  ASSERT_NE(spare, 0u);
  // The library, `add` and `crash_segv`: three replayed before any crash.
  ASSERT_TRUE(eventually([&] { return b.stats().spare_preloaded == 3; })) << b.stats().spare_preloaded;

  // A function declared now is replayed into the spare too (kept in step).
  auto mul = lib.function<std::int64_t(std::int64_t, std::int64_t)>("mul_i64");
  ASSERT_EQ(mul(6, 7), 42);
  ASSERT_TRUE(eventually([&] { return b.stats().spare_preloaded == 4; })) << b.stats().spare_preloaded;

  // From now on no process can load the library from its file: the calls
  // after the crash succeed only if the spare loaded it before the crash.
  copy.hide();
  EXPECT_THROW(crash(), Error);
  EXPECT_EQ(add(20, 22), 42) << "the spare had the library loaded";
  EXPECT_EQ(mul(3, 5), 15) << "and `mul_i64`, declared after it started";
  BridgeStats s = b.stats();
  EXPECT_EQ(s.pid, spare) << "the spare took over";
  EXPECT_EQ(s.restarts, 1u);
  EXPECT_EQ(hooks.load(), 1) << "on-restart hooks ran at the take-over";
  EXPECT_TRUE(eventually([&] { return os::process_gone(first); }));

  // The next spare cannot load the library: it is let go, and the serving
  // surrogate goes on.
  EXPECT_TRUE(eventually([&] { return b.stats().spares_lost == 1; }))
      << "the spare that could not load the library was let go";
  s = b.stats();
  EXPECT_EQ(s.spare_pid, 0u);
  EXPECT_EQ(s.pid, spare);
  EXPECT_EQ(add(1, 1), 2);
  copy.restore();
}

TEST_P(WarmSpare, ASpareThatCannotPreloadIsLetGoAndTheRestartStillWorks) {
  BridgeOptions o = opts();
  o.policy.preload_spare = true;
  SampleCopy copy(GetParam(), "unloadable");
  Bridge b(o);
  std::atomic<int> hooks{0};
  b.on_restart([&] { ++hooks; });
  Library lib = b.load(copy.path());
  auto add = lib.function<std::int32_t(std::int32_t, std::int32_t)>("add");
  auto crash = lib.function<std::int32_t()>("crash_segv");
  // Loaded and registered in the serving surrogate; hidden before the first
  // call, which is what starts the spare: its preload cannot load it.
  copy.hide();
  ASSERT_EQ(add(2, 3), 5);
  const std::uint32_t first = b.stats().pid;
  ASSERT_TRUE(eventually([&] { return b.stats().spares_lost == 1; })) << "the spare was let go";
  EXPECT_EQ(b.stats().spare_pid, 0u) << "and not replaced before the next start";

  copy.restore();
  EXPECT_THROW(crash(), Error);
  EXPECT_EQ(add(20, 22), 42) << "a fresh surrogate loaded the library";
  const BridgeStats s = b.stats();
  EXPECT_NE(s.pid, first);
  EXPECT_EQ(s.restarts, 1u);
  EXPECT_EQ(hooks.load(), 1) << "on-restart hooks ran in the fresh surrogate";
  // The next start brings a spare again, and it preloads.
  EXPECT_NE(ready_spare(b), 0u);
  EXPECT_TRUE(eventually([&] { return b.stats().spare_preloaded == 3; })) << b.stats().spare_preloaded;
}

INSTANTIATE_TEST_SUITE_P(Surrogates, WarmSpare, ::testing::ValuesIn(kTargets),
                         [](const auto& info) { return std::string(info.param.name); });
