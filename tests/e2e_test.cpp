// End to end: this 64-bit test process starts the real surrogate (32-bit and
// 64-bit), which loads the real sample library of its own bitness.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>

#include "dllbridge/bridge.hpp"
#include "os.hpp"
#include "sample.h"
#include "test_support.hpp"

using namespace dllbridge;
namespace paths = dllbridge::test;

namespace {

using test::error_of;
using test::i64;
using test::kTargets;
using test::Target;

// A fixture whose bridge is built for the parameter (not the default above).
class Chain : public test::SampleTest {
 protected:
  Value call(const std::string& sig, std::vector<Value> args) { return lib_->function(sig).call(args).ret; }
};

}  // namespace

TEST_P(Chain, HandshakeReportsTheSurrogatesBitnessAndItReallyIsThat) {
  const SurrogateInfo& info = bridge_->surrogate();
  EXPECT_EQ(info.pointer_size, GetParam().pointer_size);
  EXPECT_EQ(info.os, test::os::kOsName);
  EXPECT_EQ(info.arch, GetParam().pointer_size == 4 ? "i386" : "x86_64");
  ASSERT_GT(info.pid, 0u);
  EXPECT_NE(info.pid, test::os::self_pid());
  // The OS agrees: the running image really is of that bitness.
  std::string note;
  EXPECT_EQ(test::os::process_bits(info.pid, &note), GetParam().pointer_size == 4 ? 32 : 64);
  if (!note.empty()) std::printf("note: %s\n", note.c_str());
  // The code in the library agrees: it was compiled for, and runs as, that ABI.
  EXPECT_EQ(i64(call("int32_t pointer_size(void)", {})), GetParam().pointer_size);
  // long: 32-bit on both 32-bit ABIs and on Win64 (LLP64), 64-bit on Linux x86-64 (LP64).
  const bool llp64 = std::string(test::os::kOsName) == "windows";
  EXPECT_EQ(i64(call("int long_size()", {})), llp64 ? 4 : GetParam().pointer_size);
}

TEST_P(Chain, TypedApiCallsCdeclAndStdcall) {
  auto add_fn = lib_->function<int32_t(int32_t, int32_t)>("add");
  EXPECT_EQ(add_fn(2, 40), 42);
  EXPECT_EQ(add_fn(-5, 3), add(-5, 3));
  auto add_std_fn = lib_->function<int32_t(int32_t, int32_t)>("add_std", CallConv::Stdcall);
  EXPECT_EQ(add_std_fn(2, 40), 42);
  auto sum_fn = lib_->function<int64_t(int64_t, int32_t)>("sum_i64_std", CallConv::Stdcall);
  EXPECT_EQ(sum_fn(int64_t{1} << 40, -1), sum_i64_std(int64_t{1} << 40, -1));
  auto mul_fn = lib_->function<double(double, double)>("mul_d_std", CallConv::Stdcall);
  EXPECT_DOUBLE_EQ(mul_fn(1.5, -4.25), mul_d_std(1.5, -4.25));
  auto half_fn = lib_->function<float(float)>("half_f_std", CallConv::Stdcall);
  EXPECT_FLOAT_EQ(half_fn(3.0f), 1.5f);
  auto swap_fn = lib_->function<uint16_t(uint16_t)>("swap_u16_std", CallConv::Stdcall);
  EXPECT_EQ(swap_fn(0x1234), 0x3412);
  auto clamp_fn = lib_->function<int8_t(int32_t)>("clamp_i8_std", CallConv::Stdcall);
  EXPECT_EQ(clamp_fn(1000), 127);
  EXPECT_EQ(clamp_fn(-1000), -128);
  auto hash_fn = lib_->function<uint32_t(const char*)>("hash_str_std", CallConv::Stdcall);
  EXPECT_EQ(hash_fn("dllbridge"), hash_str_std("dllbridge"));
  auto count_fn = lib_->function<int32_t(std::string, char)>("count_char");
  EXPECT_EQ(count_fn(std::string("mississippi"), 's'), 4);
}

TEST_P(Chain, FastcallAndThiscallMatchADirectCall) {
  EXPECT_EQ(i64(call("int __fastcall sub_fast(int a, int b)", {std::int64_t{50}, std::int64_t{8}})),
            sub_fast(50, 8));
  EXPECT_EQ(i64(call("int64_t __fastcall mix_fast(int a, int64_t b, int8_t c)",
                     {std::int64_t{7}, std::int64_t{1} << 33, std::int64_t{-3}})),
            mix_fast(7, std::int64_t{1} << 33, -3));
  EXPECT_EQ(i64(call("int __thiscall this_add(void* self, int b)", {std::uint64_t{1000}, std::int64_t{234}})),
            this_add(reinterpret_cast<void*>(std::uintptr_t{1000}), 234));
  EXPECT_EQ(i64(call("int __thiscall this_add(void* self, int b)", {std::uint64_t{40}, std::int64_t{2}})),
            42);
}

TEST_P(Chain, EveryScalarTypeMatchesADirectCall) {
  EXPECT_EQ(i64(call("int8_t neg_i8(int8_t v)", {std::int64_t{-128}})), neg_i8(-128));
  EXPECT_EQ(i64(call("uint8_t inc_u8(uint8_t)", {std::int64_t{255}})), inc_u8(255));
  EXPECT_EQ(i64(call("short neg_i16(short)", {std::int64_t{-300}})), neg_i16(-300));
  EXPECT_EQ(i64(call("unsigned short inc_u16(unsigned short)", {std::int64_t{65535}})), inc_u16(65535));
  EXPECT_EQ(i64(call("DWORD inc_u32(DWORD)", {std::uint64_t{0xFFFFFFFEu}})), inc_u32(0xFFFFFFFEu));
  EXPECT_EQ(
      i64(call("long long mul_i64(long long, long long)", {std::int64_t{-3000000000}, std::int64_t{3}})),
      mul_i64(-3000000000LL, 3));
  EXPECT_EQ(std::get<std::uint64_t>(call("uint64_t add_u64(uint64_t, uint64_t)",
                                         {std::uint64_t{0xFFFFFFFFFFFFFFF0u}, std::int64_t{15}})),
            add_u64(0xFFFFFFFFFFFFFFF0u, 15));
  EXPECT_FLOAT_EQ(static_cast<float>(std::get<double>(call("float scale_f(float, float)", {2.5, 4.0}))),
                  scale_f(2.5f, 4.0f));
  EXPECT_DOUBLE_EQ(std::get<double>(call("double mix_d(int a, double b, float c, int64_t d)",
                                         {std::int64_t{1}, 0.25, 0.5, std::int64_t{-2}})),
                   mix_d(1, 0.25, 0.5f, -2));
  EXPECT_EQ(std::get<bool>(call("bool is_even(int)", {std::int64_t{10}})), true);
  EXPECT_EQ(std::get<bool>(call("bool not_b(bool)", {true})), false);
  EXPECT_EQ(i64(call("long neg_long(long)", {std::int64_t{-2147483647}})), 2147483647);
  EXPECT_EQ(
      std::get<std::uint64_t>(call("unsigned long long shl_ull(unsigned long long v, unsigned int bits)",
                                   {std::int64_t{1}, std::int64_t{63}})),
      shl_ull(1, 63));
  EXPECT_EQ(i64(call("char upper_c(char)", {std::int64_t{'q'}})), 'Q');
  EXPECT_EQ(i64(call("BOOL bool32_not(BOOL)", {false})), 1);
  EXPECT_EQ(i64(call("int64_t sum8(int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t)",
                     {std::int64_t{-1}, std::int64_t{-2}, std::int64_t{-3}, std::int64_t{-4},
                      std::int64_t{200}, std::int64_t{60000}, std::uint64_t{4000000000u}, std::int64_t{5}})),
            sum8(-1, -2, -3, -4, 200, 60000, 4000000000u, 5));
}

TEST_P(Chain, TextInAndOut) {
  EXPECT_EQ(i64(call("size_t str_len(const char* s)", {std::string("h\xc3\xa9llo")})), 6);
  const std::uint64_t size_max = GetParam().pointer_size == 4 ? 0xFFFFFFFFu : ~std::uint64_t{0};
  EXPECT_EQ(std::get<std::uint64_t>(call("size_t str_len(const char* s)", {Null{}})), size_max);
  EXPECT_EQ(i64(call("int count_char(const char* s, char c)", {std::string("banana"), std::int64_t{'a'}})),
            3);
  EXPECT_EQ(i64(call("size_t wstr_len(const wchar_t* s)", {std::string("h\xc3\xa9llo")})), 5);
  EXPECT_EQ(i64(call("int wstr_first(const wchar_t* s)", {std::string("\xe2\x82\xac!")})), 0x20AC);
  EXPECT_EQ(std::get<std::string>(call("const char* greeting(void)", {})), greeting());
}

TEST_P(Chain, LastErrorIsErrnoRightAfterTheCall) {
  CallResult r = lib_->function("int set_errno(int v)").call({std::int64_t{42}});
  EXPECT_EQ(i64(r.ret), -1);
  EXPECT_EQ(r.last_error, 42);
  r = lib_->function("int add(int, int)").call({std::int64_t{1}, std::int64_t{1}});
  EXPECT_EQ(r.last_error, 0);  // cleared before each call
}

TEST_P(Chain, ErrorsAreKindedAndPrecise) {
  Error e = error_of([&] { bridge_->load("/nonexistent/legacy.so"); });
  EXPECT_EQ(e.kind(), ErrorKind::library_load_failed);
  EXPECT_NE(std::string(e.what()).find("/nonexistent/legacy.so"), std::string::npos) << e.what();

  // A library of the other bitness (which the 64-bit target lacks without the 32-bit part).
  if (paths::kHave32) {
    const char* other = GetParam().pointer_size == 4 ? paths::kSample64 : paths::kSample32;
    e = error_of([&] { bridge_->load(other); });
    EXPECT_EQ(e.kind(), ErrorKind::library_load_failed);
    EXPECT_NE(std::string(e.what()).find(test::os::kWrongBitness), std::string::npos) << e.what();
  }

  e = error_of([&] { lib_->function("int no_such_function(int)"); });
  EXPECT_EQ(e.kind(), ErrorKind::symbol_not_found);
  EXPECT_NE(std::string(e.what()).find("no_such_function"), std::string::npos) << e.what();

  e = error_of([&] { lib_->function("int add(int a, int b"); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_signature);
  EXPECT_NE(std::string(e.what()).find("position"), std::string::npos) << e.what();

  Function add_fn = lib_->function("int add(int a, int b)");
  e = error_of([&] { add_fn.call({std::int64_t{1}, std::string("two")}); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
  EXPECT_NE(std::string(e.what()).find("'b'"), std::string::npos) << e.what();
  e = error_of([&] { add_fn.call({std::int64_t{1}}); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
  e = error_of([&] { add_fn.call({std::int64_t{1}, std::int64_t{1} << 40}); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
  // None of that hurt the session.
  EXPECT_EQ(i64(add_fn.call({std::int64_t{20}, std::int64_t{22}}).ret), 42);
}

TEST_P(Chain, ACrashInTheLibraryIsReportedWithItsSignalAndTheNextCallWorks) {
  const std::uint32_t first_pid = bridge_->surrogate().pid;
  Function crash = lib_->function("int crash_segv(void)");
  Error e = error_of([&] { crash.call({}); });
  EXPECT_EQ(e.kind(), ErrorKind::crashed);
  EXPECT_TRUE(e.may_have_run());
  EXPECT_NE(std::string(e.what()).find(test::os::kFaults.segv), std::string::npos) << e.what();
  // The next call runs in a fresh surrogate: library and function come back by themselves.
  Function add_fn = lib_->function("int add(int, int)");
  EXPECT_EQ(i64(add_fn.call({std::int64_t{2}, std::int64_t{3}}).ret), 5);
  EXPECT_NE(bridge_->surrogate().pid, first_pid);
  EXPECT_EQ(bridge_->stats().restarts, 1u);
}

TEST_P(Chain, AbortIsReportedByName) {
  Error e = error_of([&] { lib_->function("int crash_abort(void)").call({}); });
  EXPECT_EQ(e.kind(), ErrorKind::crashed);
  EXPECT_NE(std::string(e.what()).find(test::os::kFaults.abort), std::string::npos) << e.what();
}

TEST_P(Chain, ACallPastItsDeadlineFailsWithTimeoutWithoutWaitingForTheDll) {
  Function slow = lib_->function("int sleep_ms(int ms)");
  EXPECT_EQ(i64(slow.call({std::int64_t{1}}).ret), 1);
  // The DLL never returns, so an answer at all (no clock compared) shows the
  // caller did not wait for the DLL.
  Function hang = lib_->function("int hang_forever(void)");
  Error e = error_of([&] { hang.call({}, std::chrono::milliseconds(300)); });
  EXPECT_EQ(e.kind(), ErrorKind::timeout);
  EXPECT_EQ(i64(slow.call({std::int64_t{2}}).ret), 2) << "the next call is served";
}

TEST_P(Chain, ManyThreadsShareOneBridgeAndGetTheirOwnResults) {
  Function add_fn = lib_->function("int add(int a, int b)");
  std::atomic<int> wrong{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        const Value r = add_fn.call({std::int64_t{i}, std::int64_t{t * 1000}}).ret;
        if (std::get<std::int64_t>(r) != i + t * 1000) ++wrong;
        ++done;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(done.load(), 600);
}

TEST_P(Chain, CountsPastThirtyTwoBitsAndRepliesPastAFrameAreBadArgumentsWithoutARestart) {
  const std::uint32_t pid = bridge_->surrogate().pid;
  Function sum = lib_->function("int sum_i32([in, size_is(n)] const int32_t* v, int n)");
  for (std::int64_t k : {0, 1, 8}) {
    List v;
    for (std::int64_t i = 0; i < k; ++i) v.push_back(std::int64_t{1});
    const Error e = error_of([&] { sum.call({v, (std::int64_t{1} << 32) + k}); });
    EXPECT_EQ(e.kind(), ErrorKind::bad_argument) << e.what();
  }
  // A legitimate [out] buffer whose reply could not come back in one frame
  // (4 Mi structs, a list of field values each): refused before it runs,
  // the surrogate goes on, nothing is retried.
  FunctionOptions idempotent;
  idempotent.idempotent = true;
  Function points = lib_->function(
      "struct P { int x; int y; }; void fill_seq_u16([out, size_is(n)] struct P* out, int n, uint16_t start)",
      idempotent);
  const Error big = error_of([&] { points.call({std::int64_t{4} << 20, std::int64_t{0}}); });
  EXPECT_EQ(big.kind(), ErrorKind::bad_argument) << big.what();
  EXPECT_NE(std::string(big.what()).find("frame"), std::string::npos) << big.what();
  Function fill =
      lib_->function("void fill_seq_u16([out, size_is(n)] uint16_t* out, int n, uint16_t start)", idempotent);
  const List three = std::get<List>(fill.call({std::int64_t{3}, std::int64_t{5}}).out.at("out"));
  ASSERT_EQ(three.size(), 3u);
  std::uint16_t direct[3];
  fill_seq_u16(direct, 3, 5);
  EXPECT_EQ(i64(three[2]), direct[2]);
  const BridgeStats s = bridge_->stats();
  EXPECT_EQ(s.restarts, 0u);
  EXPECT_EQ(s.retries, 0u);
  EXPECT_EQ(s.breaker, BreakerState::closed);
  EXPECT_EQ(bridge_->surrogate().pid, pid);
}

TEST_P(Chain, EmptyAndNonUtf8LibraryPathsAreBadArgumentsWithoutARestart) {
  EXPECT_EQ(error_of([&] { bridge_->load(""); }).kind(), ErrorKind::bad_argument);
  EXPECT_EQ(error_of([&] { bridge_->load("/tmp/lib\xff\xfe.so"); }).kind(), ErrorKind::bad_argument);
  const BridgeStats s = bridge_->stats();
  EXPECT_EQ(s.restarts, 0u);
  EXPECT_EQ(s.breaker, BreakerState::closed);
  EXPECT_EQ(i64(call("int add(int a, int b)", {std::int64_t{40}, std::int64_t{2}})), 42);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, Chain, ::testing::ValuesIn(kTargets),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Bridge, AMissingSurrogateIsAStartFailure) {
  BridgeOptions o;
  o.surrogate_path = "/nonexistent/surrogate32";
  Error e = error_of([&] { Bridge b(o); });
  EXPECT_EQ(e.kind(), ErrorKind::surrogate_start_failed);
  EXPECT_NE(std::string(e.what()).find("/nonexistent/surrogate32"), std::string::npos) << e.what();
}

TEST(Bridge, FindsTheSurrogateThroughTheEnvironment) {
  const std::string path = paths::kSurrogate64;
  const std::string dir = path.substr(0, path.rfind('/'));
  test::os::set_env("DLLBRIDGE_SURROGATE_DIR", dir);
  BridgeOptions o;
  o.arch = Arch::x64;
  Bridge b(o);
  test::os::unset_env("DLLBRIDGE_SURROGATE_DIR");
  EXPECT_EQ(b.surrogate_path(), path);
  EXPECT_EQ(b.surrogate().pointer_size, 8u);
}
