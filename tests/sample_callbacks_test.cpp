// The sample library's callback exports called directly in this process with
// real C function pointers: what each does, and the reference results the
// bridge's callback tests compare theirs with.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "sample.h"

namespace {

// ---- comparators, counting their calls and recording their arguments ----

std::vector<std::pair<std::int32_t, std::int32_t>> g_compared;

std::int32_t ascending(const std::int32_t* a, const std::int32_t* b) {
  g_compared.emplace_back(*a, *b);
  return *a < *b ? -1 : *a > *b ? 1 : 0;
}

std::int32_t SAMPLE_STDCALL ascending_std(const std::int32_t* a, const std::int32_t* b) {
  return ascending(a, b);
}

// Orders by the tens only, so that equal keys show whether the sort is stable.
std::int32_t by_tens(const std::int32_t* a, const std::int32_t* b) { return *a / 10 - *b / 10; }

class SampleCallbacks : public ::testing::Test {
 protected:
  void SetUp() override { g_compared.clear(); }
  void TearDown() override {
    events_wait();
    set_event_handler(nullptr, nullptr);
    set_value_proc(nullptr);
  }
};

}  // namespace

TEST_F(SampleCallbacks, SortI32SortsWithTheComparatorAndCountsItsCalls) {
  std::vector<std::int32_t> v{5, 3, 9, 1, 7};
  EXPECT_EQ(sort_i32(v.data(), 5, ascending), 7);
  EXPECT_EQ(v, (std::vector<std::int32_t>{1, 3, 5, 7, 9}));
  // The comparisons, in order: the element before the one being placed first.
  const std::vector<std::pair<std::int32_t, std::int32_t>> expected{{5, 3}, {5, 9}, {9, 1}, {5, 1},
                                                                    {3, 1}, {9, 7}, {5, 7}};
  EXPECT_EQ(g_compared, expected);
}

TEST_F(SampleCallbacks, SortI32EdgeCases) {
  std::vector<std::int32_t> sorted{1, 2, 3, 4, 5, 6};
  EXPECT_EQ(sort_i32(sorted.data(), 6, ascending), 5);  // one comparison per element after the first
  std::vector<std::int32_t> reversed{6, 5, 4, 3, 2, 1};
  EXPECT_EQ(sort_i32(reversed.data(), 6, ascending), 15);  // n (n - 1) / 2
  EXPECT_EQ(reversed, sorted);
  std::int32_t one = 42;
  EXPECT_EQ(sort_i32(&one, 1, ascending), 0);
  EXPECT_EQ(sort_i32(&one, 0, ascending), 0);
  EXPECT_EQ(sort_i32(nullptr, 3, ascending), -1);
  EXPECT_EQ(sort_i32(&one, 1, nullptr), -1);
  EXPECT_EQ(sort_i32(&one, -1, ascending), -1);
  EXPECT_EQ(one, 42);
}

TEST_F(SampleCallbacks, SortI32IsStable) {
  std::vector<std::int32_t> v{31, 12, 35, 10, 33, 17, 14};
  sort_i32(v.data(), static_cast<std::int32_t>(v.size()), by_tens);
  EXPECT_EQ(v, (std::vector<std::int32_t>{12, 10, 17, 14, 31, 35, 33}));
}

TEST_F(SampleCallbacks, SortI32StdMakesTheSameComparisons) {
  std::vector<std::int32_t> a{8, -2, 8, 0, 2147483647, -2147483647 - 1, 3, 3, 1};
  std::vector<std::int32_t> b = a;
  const std::int32_t calls = sort_i32(a.data(), static_cast<std::int32_t>(a.size()), ascending);
  const auto cdecl_compared = g_compared;
  g_compared.clear();
  EXPECT_EQ(sort_i32_std(b.data(), static_cast<std::int32_t>(b.size()), ascending_std), calls);
  EXPECT_EQ(g_compared, cdecl_compared);
  EXPECT_EQ(a, b);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(static_cast<std::int32_t>(g_compared.size()), calls);
  EXPECT_EQ(sort_i32_std(b.data(), 2, nullptr), -1);
}

namespace {

struct EnumLog {
  std::vector<std::int32_t> seen;
  std::int32_t stop_at = -1;  // the index at which the callback returns 0
};

std::int32_t SAMPLE_STDCALL enum_proc(std::int32_t index, void* ctx) {
  auto* log = static_cast<EnumLog*>(ctx);
  log->seen.push_back(index);
  return index == log->stop_at ? 0 : 1;
}

}  // namespace

TEST_F(SampleCallbacks, EnumItemsPassesTheContextAndStopsWhenTheCallbackReturnsFalse) {
  EnumLog all;
  EXPECT_EQ(enum_items(5, enum_proc, &all), 5);
  EXPECT_EQ(all.seen, (std::vector<std::int32_t>{0, 1, 2, 3, 4}));

  EnumLog early;
  early.stop_at = 2;
  EXPECT_EQ(enum_items(10, enum_proc, &early), 3);
  EXPECT_EQ(early.seen, (std::vector<std::int32_t>{0, 1, 2}));

  EnumLog first;
  first.stop_at = 0;
  EXPECT_EQ(enum_items(10, enum_proc, &first), 1);

  EnumLog none;
  EXPECT_EQ(enum_items(0, enum_proc, &none), 0);
  EXPECT_EQ(enum_items(-3, enum_proc, &none), 0);
  EXPECT_TRUE(none.seen.empty());
  EXPECT_EQ(enum_items(3, nullptr, &none), -1);
}

namespace {

std::string g_label;
std::vector<double> g_values;

double mean_of(const char* label, const double* v, std::int32_t n) {
  g_label = label ? label : "(null)";
  g_values.assign(v, v + n);
  double t = 0;
  for (std::int32_t i = 0; i < n; ++i) t += v[i];
  return n > 0 ? t / n : 0.0;
}

sample_point point_of(const char* name, const std::int32_t* xy, std::int32_t n) {
  sample_point p{static_cast<std::int32_t>(std::strlen(name)), 0};
  for (std::int32_t i = 0; i < n; ++i) p.y += xy[i];
  return p;
}

}  // namespace

TEST_F(SampleCallbacks, StatWithPassesTextAndABufferAndDoublesTheResult) {
  const double v[] = {1.5, 2.5, 8.0};
  EXPECT_DOUBLE_EQ(stat_with("temps", v, 3, mean_of), 8.0);  // mean 4 * 2
  EXPECT_EQ(g_label, "temps");
  EXPECT_EQ(g_values, (std::vector<double>{1.5, 2.5, 8.0}));
  EXPECT_DOUBLE_EQ(stat_with("empty", v, 0, mean_of), 0.0);
  EXPECT_TRUE(g_values.empty());
  EXPECT_DOUBLE_EQ(stat_with("x", v, 3, nullptr), -1.0);
}

TEST_F(SampleCallbacks, PointWithTakesAStructBack) {
  const std::int32_t xy[] = {10, 20, 3};
  EXPECT_EQ(point_with("abcd", xy, 3, point_of), 4 * 1000 + 33);
  EXPECT_EQ(point_with("", xy, 2, point_of), 30);
  const std::int32_t neg[] = {-7};
  EXPECT_EQ(point_with("xy", neg, 1, point_of), 2000 - 7);
  EXPECT_EQ(point_with("xy", neg, 1, nullptr), -1);
}

namespace {

std::vector<std::int32_t> g_depths;

// Calls reenter again from inside the callback, as a callback through the
// bridge may: reenter(d) = f(d) + 1 = reenter(d - 1) + 11.
std::int32_t dive(std::int32_t depth) {
  g_depths.push_back(depth);
  return reenter(depth - 1, dive) + 10;
}

std::int32_t leaf(std::int32_t depth) { return depth * 100; }

}  // namespace

TEST_F(SampleCallbacks, ReenterRecursesThroughTheCallback) {
  g_depths.clear();
  EXPECT_EQ(reenter(8, dive), 88);
  EXPECT_EQ(g_depths, (std::vector<std::int32_t>{8, 7, 6, 5, 4, 3, 2, 1}));
  g_depths.clear();
  EXPECT_EQ(reenter(0, dive), 0);
  EXPECT_EQ(reenter(-4, dive), 0);
  EXPECT_TRUE(g_depths.empty());
  EXPECT_EQ(reenter(3, leaf), 301);
  EXPECT_EQ(reenter(3, nullptr), -1);
}

namespace {

// What the handler saw, per source (-1: event_fire), under a mutex: the
// library's threads call it concurrently.
struct EventLog {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::vector<std::int32_t>> per_source = std::vector<std::vector<std::int32_t>>(16);
  std::vector<std::int32_t> fired;
  std::vector<void*> contexts;
  // A gate the handler waits at, for the test to hold the threads while running.
  bool hold = false;
  int held = 0;  // handlers waiting at the gate
  // What a handler got back when it called into the library, on its first call.
  bool probe = false;
  std::int32_t start_from_handler = 0;
  std::int32_t wait_from_handler = 0;
};

void on_event(std::int32_t source, std::int32_t seq, void* ctx) {
  auto* log = static_cast<EventLog*>(ctx);
  std::unique_lock<std::mutex> lock(log->m);
  if (log->probe && source == 0 && seq == 0) {
    lock.unlock();
    const std::int32_t started = events_start(1, 1);
    const std::int32_t waited = events_wait();
    lock.lock();
    log->start_from_handler = started;
    log->wait_from_handler = waited;
  }
  ++log->held;
  log->cv.notify_all();
  log->cv.wait(lock, [&] { return !log->hold; });
  --log->held;
  log->contexts.push_back(ctx);
  if (source < 0)
    log->fired.push_back(seq);
  else
    log->per_source.at(static_cast<std::size_t>(source)).push_back(seq);
}

std::vector<std::int32_t> iota(std::int32_t n) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  for (std::int32_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

}  // namespace

TEST_F(SampleCallbacks, EventsFromSeveralThreadsArriveCompleteAndInOrderPerSource) {
  EventLog log;
  set_event_handler(on_event, &log);
  ASSERT_EQ(events_start(6, 500), 0);
  EXPECT_EQ(events_wait(), 6 * 500);
  for (std::int32_t s = 0; s < 6; ++s) EXPECT_EQ(log.per_source[static_cast<std::size_t>(s)], iota(500)) << s;
  for (std::size_t s = 6; s < log.per_source.size(); ++s) EXPECT_TRUE(log.per_source[s].empty()) << s;
  EXPECT_EQ(log.contexts.size(), 6u * 500u);
  EXPECT_TRUE(std::all_of(log.contexts.begin(), log.contexts.end(), [&](void* c) { return c == &log; }));
  EXPECT_TRUE(log.fired.empty());
  EXPECT_EQ(events_wait(), 0);  // nothing left to wait for

  // The most threads, and a run of no events.
  EventLog again;
  set_event_handler(on_event, &again);
  ASSERT_EQ(events_start(16, 3), 0);
  EXPECT_EQ(events_wait(), 48);
  for (std::size_t s = 0; s < 16; ++s) EXPECT_EQ(again.per_source[s], iota(3)) << s;
  ASSERT_EQ(events_start(2, 0), 0);
  EXPECT_EQ(events_wait(), 0);
}

TEST_F(SampleCallbacks, EventsStartRejectsArgumentsOutOfRangeAndASecondStart) {
  EventLog log;
  set_event_handler(on_event, &log);
  EXPECT_EQ(events_start(0, 1), -1);
  EXPECT_EQ(events_start(17, 1), -1);
  EXPECT_EQ(events_start(-1, 1), -1);
  EXPECT_EQ(events_start(1, -1), -1);
  EXPECT_EQ(events_wait(), 0);

  {
    std::lock_guard<std::mutex> lock(log.m);
    log.hold = true;
  }
  ASSERT_EQ(events_start(3, 4), 0);
  {
    // All three threads are in the handler: still running.
    std::unique_lock<std::mutex> lock(log.m);
    log.cv.wait(lock, [&] { return log.held == 3; });
  }
  EXPECT_EQ(events_start(1, 1), -1);
  // The handler was read when the call was made: clearing it now changes nothing for these threads.
  set_event_handler(nullptr, nullptr);
  {
    std::lock_guard<std::mutex> lock(log.m);
    log.hold = false;
  }
  log.cv.notify_all();
  EXPECT_EQ(events_wait(), 12);
  for (std::size_t s = 0; s < 3; ++s) EXPECT_EQ(log.per_source[s], iota(4)) << s;

  // Ended, but not waited for: a start is still refused until events_wait.
  set_event_handler(on_event, &log);
  ASSERT_EQ(events_start(1, 2), 0);
  EXPECT_EQ(events_start(1, 2), -1);
  EXPECT_EQ(events_wait(), 2);
  EXPECT_EQ(events_wait(), 0);

  // Without a handler the threads run and make no calls.
  set_event_handler(nullptr, nullptr);
  ASSERT_EQ(events_start(4, 10), 0);
  EXPECT_EQ(events_wait(), 0);
}

TEST_F(SampleCallbacks, AHandlerThatCallsEventsStartOrEventsWaitGetsMinusOne) {
  EventLog log;
  log.probe = true;
  set_event_handler(on_event, &log);
  ASSERT_EQ(events_start(2, 3), 0);
  EXPECT_EQ(events_wait(), 6);
  EXPECT_EQ(log.start_from_handler, -1);  // its own run is not over
  EXPECT_EQ(log.wait_from_handler, -1);   // it could not join itself
  EXPECT_EQ(log.per_source[0], iota(3));
  EXPECT_EQ(log.per_source[1], iota(3));
}

TEST_F(SampleCallbacks, EventFireCallsTheHandlerOnTheCallingThread) {
  EXPECT_EQ(event_fire(1), 0);
  EventLog log;
  set_event_handler(on_event, &log);
  EXPECT_EQ(event_fire(7), 1);
  EXPECT_EQ(event_fire(-3), 1);
  EXPECT_EQ(log.fired, (std::vector<std::int32_t>{7, -3}));
  EXPECT_EQ(log.contexts, (std::vector<void*>{&log, &log}));
  set_event_handler(nullptr, &log);
  EXPECT_EQ(event_fire(9), 0);
  EXPECT_EQ(log.fired.size(), 2u);
}

namespace {

std::int32_t triple(std::int32_t x) { return x * 3; }
std::int32_t negate(std::int32_t x) { return -x; }

}  // namespace

TEST_F(SampleCallbacks, ValueCallUsesTheKeptProc) {
  EXPECT_EQ(value_call(5), -1);
  set_value_proc(triple);
  EXPECT_EQ(value_call(5), 15);
  EXPECT_EQ(value_call(-2), -6);
  set_value_proc(negate);
  EXPECT_EQ(value_call(5), -5);
  set_value_proc(nullptr);
  EXPECT_EQ(value_call(5), -1);
}
