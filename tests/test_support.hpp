// Helpers shared by the end-to-end suites.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "dllbridge/bridge.hpp"
#include "error_of.hpp"
#include "test_paths.hpp"

namespace dllbridge::test {

// One surrogate and the sample library of its bitness.
struct Target {
  const char* name;
  Arch arch;
  const char* surrogate;
  const char* sample;
  unsigned pointer_size;
};

inline const Target kTargets[] = {
    {"surrogate32", Arch::x86, kSurrogate32, kSample32, 4},
    {"surrogate64", Arch::x64, kSurrogate64, kSample64, 8},
};

inline void PrintTo(const Target& t, std::ostream* os) { *os << t.name; }

// Records a bridge's events for assertions (subscribe with attach()). The
// record is shared with the handler: events still delivered while the bridge
// stops, after this log went out of scope, land in it, not in freed memory.
struct EventLog {
  struct Record {
    std::mutex mu;
    std::vector<BridgeEvent> events;
  };
  std::shared_ptr<Record> record = std::make_shared<Record>();
  void attach(Bridge& b) {
    b.subscribe([r = record](const BridgeEvent& e) {
      std::lock_guard lock(r->mu);
      r->events.push_back(e);
    });
  }
  std::vector<BridgeEvent> snapshot() {
    std::lock_guard lock(record->mu);
    return record->events;
  }
  // The events of kind `k` so far, in order.
  std::vector<BridgeEvent> of(BridgeEvent::Kind k) {
    std::vector<BridgeEvent> out;
    for (const auto& e : snapshot()) {
      if (e.kind == k) out.push_back(e);
    }
    return out;
  }
  bool has(BridgeEvent::Kind k) { return !of(k).empty(); }
};

// Why a test that needs the 32-bit part / dllbridge-call cannot run in this build.
inline constexpr const char* kNo32Reason =
    "skipped: this build has no 32-bit part (configured with DLLBRIDGE_BUILD_32BIT=OFF)";
inline constexpr const char* kNoCallToolReason = "skipped: this build has no dllbridge-call";

// Whether this build made `t`'s surrogate and sample.
inline bool built(const Target& t) { return t.arch != Arch::x86 || kHave32; }

// Skip the running test (in a test body or SetUp) when this build did not make
// a part it needs, saying which. Never for a part that should be there: a
// part the build made but that is missing still fails the test.
#define DLLBRIDGE_SKIP_WITHOUT_32BIT() \
  if (!::dllbridge::test::kHave32) GTEST_SKIP() << ::dllbridge::test::kNo32Reason
#define DLLBRIDGE_SKIP_WITHOUT_TARGET(target) \
  if (!::dllbridge::test::built(target)) GTEST_SKIP() << ::dllbridge::test::kNo32Reason
#define DLLBRIDGE_SKIP_WITHOUT_CALL_TOOL() \
  if (!::dllbridge::test::kHaveDllbridgeCall) GTEST_SKIP() << ::dllbridge::test::kNoCallToolReason

// Options that start `t`'s surrogate, with a generous default deadline.
inline BridgeOptions options_for(const Target& t) {
  BridgeOptions o;
  o.arch = t.arch;
  o.surrogate_path = t.surrogate;
  o.policy.call_timeout = std::chrono::milliseconds(20000);
  return o;
}

// A bridge to the parameter's surrogate with its sample library loaded.
class SampleTest : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam());
    bridge_ = std::make_unique<Bridge>(options_for(GetParam()));
    lib_ = std::make_unique<Library>(bridge_->load(GetParam().sample));
  }
  std::unique_ptr<Bridge> bridge_;
  std::unique_ptr<Library> lib_;
};

// An integer result, whichever signedness it came back with.
inline std::int64_t i64(const Value& v) {
  if (auto* u = std::get_if<std::uint64_t>(&v)) return static_cast<std::int64_t>(*u);
  return std::get<std::int64_t>(v);
}

// Polls `done` until it holds or `limit` passes; whether it held. For
// waiting on asynchronous outcomes, never for asserting on durations.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(20000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace dllbridge::test
