// The typed API against the real surrogates: what is per calling thread.
#include <gtest/gtest.h>

#include <cstdint>
#include <future>
#include <thread>

#include "dllbridge/bridge.hpp"
#include "test_support.hpp"

using namespace dllbridge;

namespace {

class TypedThreads : public test::SampleTest {};

}  // namespace

TEST_P(TypedThreads, LastErrorIsPerCallingThread) {
  // Thread A calls, then thread B calls the same object while A waits, then
  // A reads last_error(): A sees its own call's errno, not B's.
  const auto set_errno = lib_->function<std::int32_t(std::int32_t)>("set_errno");
  std::promise<void> a_called, b_called;
  std::shared_future<void> a_done = a_called.get_future().share();
  std::shared_future<void> b_done = b_called.get_future().share();
  std::int64_t seen_by_a = -1, seen_by_b = -1;
  std::thread a([&] {
    EXPECT_EQ(set_errno(11), -1);
    a_called.set_value();
    b_done.wait();
    seen_by_a = set_errno.last_error();
  });
  std::thread b([&] {
    a_done.wait();
    EXPECT_EQ(set_errno(22), -1);
    seen_by_b = set_errno.last_error();
    b_called.set_value();
  });
  a.join();
  b.join();
  EXPECT_EQ(seen_by_a, 11);
  EXPECT_EQ(seen_by_b, 22);
  EXPECT_EQ(set_errno.last_error(), 0) << "this thread made no call";
  set_errno(33);
  EXPECT_EQ(set_errno.last_error(), 33);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, TypedThreads, ::testing::ValuesIn(test::kTargets),
                         [](const auto& info) { return std::string(info.param.name); });
