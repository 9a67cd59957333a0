// Bulk data through the shared region (docs/architecture.md, "The shared
// region") against the real surrogates: buffers past the frame's caps, [out]
// buffers, the dynamic API, calls from several threads, a crash in a call
// that holds a block of the region, and copies into the region made before
// and after the call is sent (Call.ready).
#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "dllbridge/bridge.hpp"
#include "os.hpp"
#include "test_support.hpp"

using namespace dllbridge;

// GCC 12 warns that a moved-from Value (a std::variant) "may be used
// uninitialized" where a List of them is built below: a false positive of
// its variant move at -O2, not a bug here.
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace {

class SharedRegion : public test::SampleTest {
 protected:
  using XorFn = TypedFunction<void(InOut<std::uint8_t, 1>, std::int32_t, std::uint8_t)>;
  XorFn xor_u8() const {
    return lib_->function<void(InOut<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
  }

  // xor_u8 over `bytes` bytes with key `k`; every byte checked.
  static void round_trip(const XorFn& fn, std::size_t bytes, std::uint8_t k) {
    std::vector<std::uint8_t> v(bytes);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(i * 7 + (i >> 12));
    fn(inout(v), static_cast<std::int32_t>(v.size()), k);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < v.size(); ++i)
      wrong += v[i] != static_cast<std::uint8_t>(static_cast<std::uint8_t>(i * 7 + (i >> 12)) ^ k);
    EXPECT_EQ(wrong, 0u) << bytes << " bytes, key " << int(k);
  }

  // Four threads at once, each `rounds` round trips of `bytes` plus 4 KiB
  // per thread number, each with a key of its own.
  static void four_threads(const XorFn& fn, std::size_t bytes, int rounds) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&fn, t, bytes, rounds] {
        for (int round = 0; round < rounds; ++round)
          round_trip(fn, bytes + static_cast<std::size_t>(t) * 4096,
                     static_cast<std::uint8_t>(16 * t + round + 1));
      });
    }
    for (auto& th : threads) th.join();
  }
};

}  // namespace

TEST_P(SharedRegion, SixteenAndSixtyFourMebibyteBuffersRoundTrip) {
  // 64 Mi elements: past the frame's element cap (16 Mi) and its 64 MiB
  // size; only the region carries it.
  const XorFn fn = xor_u8();
  round_trip(fn, std::size_t{16} << 20, 0x5a);
  round_trip(fn, std::size_t{64} << 20, 0xa5);
}

TEST_P(SharedRegion, OutBuffersAndTheDynamicApiUseItToo) {
  auto fill = lib_->function<void(Out<std::uint16_t, 1>, std::int32_t, std::uint16_t)>("fill_seq_u16");
  std::vector<std::uint16_t> seq(std::size_t{1} << 20, 0xffff);  // 2 MiB
  fill(out(seq), static_cast<std::int32_t>(seq.size()), 10);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < seq.size(); ++i) wrong += seq[i] != static_cast<std::uint16_t>(10 + 3 * i);
  EXPECT_EQ(wrong, 0u);

  // A List of values above the threshold goes the same way and comes back a List.
  Function dyn = lib_->function("void xor_u8([in, out, size_is(n)] uint8_t* v, int n, uint8_t k)");
  List items;
  for (int i = 0; i < 100000; ++i) items.push_back(std::int64_t{i & 0xff});
  const CallResult r = dyn.call({items, std::int64_t{100000}, std::int64_t{0x0f}});
  const List& back = std::get<List>(r.out.at("v"));
  ASSERT_EQ(back.size(), 100000u);
  for (int i : {0, 1, 255, 99999})
    EXPECT_EQ(test::i64(back[static_cast<std::size_t>(i)]), (i & 0xff) ^ 0x0f) << i;
}

TEST_P(SharedRegion, FourThreadsCallWithLargeBuffersAtOnce) {
  four_threads(xor_u8(), std::size_t{4} << 20, 3);
}

TEST_P(SharedRegion, ACrashInACallFreesItsBlockForTheNextCall) {
  // crash_segv takes no arguments; cdecl lets the caller pass some, so the
  // call holds 192 MiB of the 256 MiB region when the surrogate dies.
  Function crash = lib_->function("int crash_segv([in, size_is(n)] const uint8_t* buf, int n)");
  {
    std::vector<std::uint8_t> big(std::size_t{192} << 20, 1);
    const Error e = test::error_of([&] {
      crash.call({Buffer{big.data(), nullptr, big.size(), 1, Buffer::Number::unsigned_int},
                  std::int64_t(big.size())});
    });
    EXPECT_EQ(e.kind(), ErrorKind::crashed) << e.what();
  }
  // 96 MiB fits only if the crashed call's block came back, and needs the
  // region (framed, it is past the caps): the new surrogate mapped it again.
  round_trip(xor_u8(), std::size_t{96} << 20, 0x3c);
}

TEST_P(SharedRegion, AllocatedBuffersAreTheDllsOwnMemory) {
  // xor_u8 declared with an [in] buffer: the DLL writes into what it was
  // given. A vector travels as a copy, so the caller's bytes stay; memory
  // from alloc is not copied at all, so the caller sees the DLL's writes.
  auto xor_in = lib_->function<void(In<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
  std::vector<std::uint8_t> copied(std::size_t{1} << 20, 0x11);
  xor_in(in(copied), static_cast<std::int32_t>(copied.size()), 0xff);
  EXPECT_EQ(copied.front(), 0x11);
  EXPECT_EQ(copied.back(), 0x11);

  SharedBuffer<std::uint8_t> shared = bridge_->alloc<std::uint8_t>(std::size_t{1} << 20);
  ASSERT_EQ(shared.size(), std::size_t{1} << 20);
  EXPECT_EQ(shared[0], 0) << "alloc zeroes";
  for (std::uint8_t& b : shared) b = 0x11;
  xor_in(in(shared), static_cast<std::int32_t>(shared.size()), 0xff);
  EXPECT_EQ(shared.front(), 0xee);
  EXPECT_EQ(shared[shared.size() / 2], 0xee);
  EXPECT_EQ(shared.back(), 0xee);
  // A small one too (no threshold for memory that is in the region already).
  SharedBuffer<std::uint8_t> small = bridge_->alloc<std::uint8_t>(16);
  xor_in(in(small), 16, 0x0f);
  EXPECT_EQ(small[15], 0x0f);
}

TEST_P(SharedRegion, AllocatedBuffersRoundTripAsInOutOutAndDynamicBuffers) {
  SharedBuffer<std::uint8_t> big = bridge_->alloc<std::uint8_t>(std::size_t{64} << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i);
  xor_u8()(inout(big), static_cast<std::int32_t>(big.size()), 0x5a);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < big.size(); ++i)
    wrong += big[i] != static_cast<std::uint8_t>(static_cast<std::uint8_t>(i) ^ 0x5a);
  EXPECT_EQ(wrong, 0u);

  auto fill = lib_->function<void(Out<std::uint16_t, 1>, std::int32_t, std::uint16_t)>("fill_seq_u16");
  SharedBuffer<std::uint16_t> seq = bridge_->alloc<std::uint16_t>(100000);
  fill(out(seq), 100000, 7);
  EXPECT_EQ(seq[0], 7);
  EXPECT_EQ(seq[99999], static_cast<std::uint16_t>(7 + 3 * 99999));

  Function dyn = lib_->function("void xor_u8([in, out, size_is(n)] uint8_t* v, int n, uint8_t k)");
  SharedBuffer<std::uint8_t> b = bridge_->alloc<std::uint8_t>(4096);
  const CallResult r = dyn.call({Buffer{b.data(), b.data(), b.size(), 1, Buffer::Number::unsigned_int},
                                 std::int64_t{4096}, std::int64_t{0x33}});
  EXPECT_TRUE(std::holds_alternative<Buffer>(r.out.at("v")));
  EXPECT_EQ(b[0], 0x33);
  EXPECT_EQ(b[4095], 0x33);
}

TEST_P(SharedRegion, EachBridgeHasItsOwnRegion) {
  // Bridge b's calls copy memory from a's region like any other memory:
  // its DLL never sees a's blocks, so an [in] buffer comes back unchanged
  // and an [in, out] one gets the right result through the copy.
  Bridge b(test::options_for(GetParam()));
  Library lib_b = b.load(GetParam().sample);
  auto xor_in_b = lib_b.function<void(In<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
  auto xor_inout_b = lib_b.function<void(InOut<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
  SharedBuffer<std::uint8_t> a_mem = bridge_->alloc<std::uint8_t>(std::size_t{1} << 20);
  for (std::uint8_t& x : a_mem) x = 0x11;
  xor_in_b(in(a_mem), static_cast<std::int32_t>(a_mem.size()), 0xff);
  EXPECT_EQ(a_mem.front(), 0x11) << "bridge b's DLL wrote into bridge a's region";
  EXPECT_EQ(a_mem.back(), 0x11);
  xor_inout_b(inout(a_mem), static_cast<std::int32_t>(a_mem.size()), 0x0f);
  EXPECT_EQ(a_mem.front(), 0x1e);
  EXPECT_EQ(a_mem.back(), 0x1e);
  // Its own memory is worked on in place, as a's is by a.
  SharedBuffer<std::uint8_t> b_mem = b.alloc<std::uint8_t>(4096);
  xor_in_b(in(b_mem), 4096, 0x22);
  EXPECT_EQ(b_mem[4095], 0x22);
  auto xor_in_a = lib_->function<void(In<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
  xor_in_a(in(b_mem), 4096, 0x01);
  EXPECT_EQ(b_mem[0], 0x22) << "bridge a's DLL wrote into bridge b's region";
  xor_in_a(in(a_mem), static_cast<std::int32_t>(a_mem.size()), 0x01);
  EXPECT_EQ(a_mem[12345], 0x1f);
}

TEST_P(SharedRegion, EveryPoolMemberAndARestartedSurrogateMapTheBridgesRegion) {
  BridgeOptions o = test::options_for(GetParam());
  o.pool_size = 2;
  Bridge pool(o);
  auto fn =
      pool.load(GetParam().sample).function<void(In<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
  SharedBuffer<std::uint8_t> mem = pool.alloc<std::uint8_t>(8192);
  std::uint8_t expect = 0;
  auto each = [&](std::uint8_t k) {
    pool.for_each_surrogate([&](std::size_t) {
      fn(in(mem), 8192, k);  // in place: the DLL's writes are ours
      expect ^= k;
      EXPECT_EQ(mem[0], expect);
      EXPECT_EQ(mem[8191], expect);
    });
  };
  each(0x03);
  pool.restart();
  each(0x50);
}

TEST_P(SharedRegion, ACallNeedingMoreThanTheFirstSegmentGetsANewOneToTheLiveSurrogate) {
  // 48 MiB held in the first segment (64 MiB): 32 MiB (32 Mi elements, past
  // the frame's caps: only the region carries it) needs a second segment.
  SharedBuffer<std::uint8_t> held = bridge_->alloc<std::uint8_t>(std::size_t{48} << 20);
  const XorFn fn = xor_u8();
  round_trip(fn, std::size_t{32} << 20, 0x77);
  // Memory in a later segment is the DLL's own too, before and after a restart.
  auto xor_in = lib_->function<void(In<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
  SharedBuffer<std::uint8_t> later = bridge_->alloc<std::uint8_t>(std::size_t{20} << 20);
  xor_in(in(later), static_cast<std::int32_t>(later.size()), 0x01);
  EXPECT_EQ(later.back(), 0x01);
  bridge_->restart();
  xor_in(in(later), static_cast<std::int32_t>(later.size()), 0x03);
  EXPECT_EQ(later.front(), 0x02);
  EXPECT_EQ(later.back(), 0x02);
}

TEST_P(SharedRegion, CopiesMadeBeforeOrAfterTheSendAreWholeWhenTheDllRuns) {
  // DLLBRIDGE_COPY_AFTER_SEND: "on" sends each call before its bytes are in
  // the region (where the platform can wake the surrogate: Linux), "off"
  // after; both must give the DLL every byte, for [in, out] buffers from
  // 64 KiB to 16 MiB (the surrogate then sleeps on the ready word), [out]
  // buffers (zeroed after the send), and four threads at once.
  for (const char* mode : {"on", "off"}) {
    SCOPED_TRACE(mode);
    test::os::set_env("DLLBRIDGE_COPY_AFTER_SEND", mode);
    Bridge bridge(test::options_for(GetParam()));
    test::os::unset_env("DLLBRIDGE_COPY_AFTER_SEND");
    Library lib = bridge.load(GetParam().sample);
    const XorFn fn = lib.function<void(InOut<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
    for (std::size_t bytes : {std::size_t{64} << 10, std::size_t{1} << 20, std::size_t{16} << 20})
      round_trip(fn, bytes, static_cast<std::uint8_t>(bytes >> 10));
    auto fill = lib.function<void(Out<std::uint16_t, 1>, std::int32_t, std::uint16_t)>("fill_seq_u16");
    std::vector<std::uint16_t> seq(std::size_t{1} << 19, 0xffff);
    fill(out(seq), static_cast<std::int32_t>(seq.size()), 7);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < seq.size(); ++i) wrong += seq[i] != static_cast<std::uint16_t>(7 + 3 * i);
    EXPECT_EQ(wrong, 0u);
    four_threads(fn, std::size_t{256} << 10, 5);
  }
}

TEST_P(SharedRegion, AThreeHundredMebibyteInOutBufferRoundTrips) {
  round_trip(xor_u8(), std::size_t{300} << 20, 0xc3);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, SharedRegion, ::testing::ValuesIn(test::kTargets),
                         [](const auto& info) { return std::string(info.param.name); });
