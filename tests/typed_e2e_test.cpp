// The typed API against the real surrogates: what is per calling thread.
#include <gtest/gtest.h>

#include <cstdint>
#include <future>
#include <vector>
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

class TypedBuffers : public test::SampleTest {};

TEST_P(TypedBuffers, SixteenMebibytesInAndOutThroughOneFrameEachWay) {
  // 16 MiB [in, out] uint8_t: 16 MiB of packed bytes each way (a List of
  // Values would have taken four wire bytes per byte, past the frame cap).
  auto xor_u8 = lib_->function<void(InOut<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
  std::vector<std::uint8_t> v(std::size_t{16} << 20);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(i);
  xor_u8(inout(v), static_cast<std::int32_t>(v.size()), 0x5a);
  for (std::size_t i : {std::size_t{0}, std::size_t{1}, v.size() / 2, v.size() - 1})
    EXPECT_EQ(v[i], static_cast<std::uint8_t>(static_cast<std::uint8_t>(i) ^ 0x5a)) << i;
  // int64_t elements, and [out] numbers with a count parameter.
  auto scale = lib_->function<void(InOut<std::int64_t, 1>, std::int32_t, std::int64_t)>("scale_i64");
  std::vector<std::int64_t> w{1, -2, std::int64_t{1} << 40};
  scale(inout(w), 3, 3);
  EXPECT_EQ(w, (std::vector<std::int64_t>{3, -6, std::int64_t{3} << 40}));
  auto fill = lib_->function<void(Out<std::uint16_t, 1>, std::int32_t, std::uint16_t)>("fill_seq_u16");
  std::vector<std::uint16_t> seq(4);
  fill(out(seq), 4, 10);
  EXPECT_EQ(seq, (std::vector<std::uint16_t>{10, 13, 16, 19}));
  EXPECT_EQ(test::error_of([&] { fill(out(seq), 5, 10); }).kind(), ErrorKind::bad_argument);
}

TEST_P(TypedBuffers, ADllThatTouchesOnlyBothEndsGetsEveryByteBackUnchangedInBetween) {
  // touch_u8 changes the first and the last byte only: every byte in between
  // must come back as it went (sizes below, at and above the region's
  // threshold, odd lengths included).
  auto touch = lib_->function<void(InOut<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("touch_u8");
  for (std::size_t n : {std::size_t{1}, std::size_t{3}, std::size_t{32} << 10, (std::size_t{1} << 20) + 7}) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 7 + 1);
    std::vector<std::uint8_t> want = v;
    want.front() ^= 0xa5;
    if (n > 1) want.back() ^= 0xa5;
    touch(inout(v), static_cast<std::int32_t>(n), 0xa5);
    EXPECT_TRUE(v == want) << n << " bytes";
  }
}

INSTANTIATE_TEST_SUITE_P(Surrogates, TypedBuffers, ::testing::ValuesIn(test::kTargets),
                         [](const auto& info) { return std::string(info.param.name); });
