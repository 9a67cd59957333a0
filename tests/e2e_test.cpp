// End to end: this 64-bit test process starts the real surrogate (32-bit and
// 64-bit), which loads the real sample library of its own bitness.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>

#include "dllbridge/bridge.hpp"
#include "sample.h"
#include "test_support.hpp"

using namespace dllbridge;
namespace paths = dllbridge::test;

namespace {

using test::Target;
using test::error_of;
using test::i64;
using test::kTargets;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// ELF class (1 = 32-bit, 2 = 64-bit) of a file.
int elf_class(const std::string& path) {
  const std::string head = read_file(path).substr(0, 5);
  if (head.size() < 5 || head.compare(0, 4, "\x7f" "ELF") != 0) return 0;
  return head[4];
}

// The program image a process runs. A kernel without IA-32 emulation runs
// surrogate32 under qemu-i386; then the image is the guest program qemu
// was given, and the test says so.
std::string running_image(unsigned pid, bool* emulated) {
  char exe[4096];
  const std::string link = "/proc/" + std::to_string(pid) + "/exe";
  const ssize_t n = ::readlink(link.c_str(), exe, sizeof exe - 1);
  std::string image = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : "";
  *emulated = image.find("qemu-i386") != std::string::npos;
  if (*emulated) {
    const std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
    std::vector<std::string> argv;
    for (std::size_t pos = 0; pos < cmdline.size();) {
      const std::size_t end = cmdline.find('\0', pos);
      argv.push_back(cmdline.substr(pos, end - pos));
      pos = end == std::string::npos ? cmdline.size() : end + 1;
    }
    image = argv.size() > 1 ? argv[1] : "";
  }
  return image;
}

// A fixture whose bridge is built for the parameter (not the default above).
class Chain : public test::SampleTest {
 protected:
  Value call(const std::string& sig, std::vector<Value> args) {
    return lib_->function(sig).call(args).ret;
  }
};

}  // namespace

TEST_P(Chain, HandshakeReportsTheSurrogatesBitnessAndItReallyIsThat) {
  const SurrogateInfo& info = bridge_->surrogate();
  EXPECT_EQ(info.pointer_size, GetParam().pointer_size);
  EXPECT_EQ(info.os, "linux");
  EXPECT_EQ(info.arch, GetParam().pointer_size == 4 ? "i386" : "x86_64");
  ASSERT_GT(info.pid, 0u);
  EXPECT_NE(info.pid, static_cast<unsigned>(::getpid()));
  bool emulated = false;
  const std::string image = running_image(info.pid, &emulated);
  EXPECT_EQ(elf_class(image), GetParam().pointer_size == 4 ? 1 : 2) << image;
  if (emulated) {
    EXPECT_EQ(GetParam().pointer_size, 4u) << "only the 32-bit surrogate is ever emulated";
    std::printf("note: this kernel has no IA-32 emulation; surrogate32 runs under qemu-i386 (%s)\n",
                image.c_str());
  }
  // The code in the library agrees: it was compiled for, and runs as, that ABI.
  EXPECT_EQ(i64(call("int32_t pointer_size(void)", {})), GetParam().pointer_size);
  EXPECT_EQ(i64(call("int long_size()", {})), GetParam().pointer_size);
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

TEST_P(Chain, EveryScalarTypeMatchesADirectCall) {
  EXPECT_EQ(i64(call("int8_t neg_i8(int8_t v)", {std::int64_t{-128}})), neg_i8(-128));
  EXPECT_EQ(i64(call("uint8_t inc_u8(uint8_t)", {std::int64_t{255}})), inc_u8(255));
  EXPECT_EQ(i64(call("short neg_i16(short)", {std::int64_t{-300}})), neg_i16(-300));
  EXPECT_EQ(i64(call("unsigned short inc_u16(unsigned short)", {std::int64_t{65535}})), inc_u16(65535));
  EXPECT_EQ(i64(call("DWORD inc_u32(DWORD)", {std::uint64_t{0xFFFFFFFEu}})), inc_u32(0xFFFFFFFEu));
  EXPECT_EQ(i64(call("long long mul_i64(long long, long long)",
                     {std::int64_t{-3000000000}, std::int64_t{3}})),
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
  EXPECT_EQ(std::get<std::uint64_t>(call("unsigned long long shl_ull(unsigned long long v, unsigned int bits)",
                                         {std::int64_t{1}, std::int64_t{63}})),
            shl_ull(1, 63));
  EXPECT_EQ(i64(call("char upper_c(char)", {std::int64_t{'q'}})), 'Q');
  EXPECT_EQ(i64(call("BOOL bool32_not(BOOL)", {false})), 1);
  EXPECT_EQ(i64(call("int64_t sum8(int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t)",
                     {std::int64_t{-1}, std::int64_t{-2}, std::int64_t{-3}, std::int64_t{-4},
                      std::int64_t{200}, std::int64_t{60000}, std::uint64_t{4000000000u},
                      std::int64_t{5}})),
            sum8(-1, -2, -3, -4, 200, 60000, 4000000000u, 5));
}

TEST_P(Chain, TextInAndOut) {
  EXPECT_EQ(i64(call("size_t str_len(const char* s)", {std::string("h\xc3\xa9llo")})), 6);
  const std::uint64_t size_max = GetParam().pointer_size == 4 ? 0xFFFFFFFFu : ~std::uint64_t{0};
  EXPECT_EQ(std::get<std::uint64_t>(call("size_t str_len(const char* s)", {Null{}})), size_max);
  EXPECT_EQ(i64(call("int count_char(const char* s, char c)", {std::string("banana"), std::int64_t{'a'}})), 3);
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

  const char* other = GetParam().pointer_size == 4 ? paths::kSample64 : paths::kSample32;
  e = error_of([&] { bridge_->load(other); });
  EXPECT_EQ(e.kind(), ErrorKind::library_load_failed);
  EXPECT_NE(std::string(e.what()).find("ELF"), std::string::npos) << e.what();

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
  EXPECT_NE(std::string(e.what()).find("SIGSEGV"), std::string::npos) << e.what();
  // The next call runs in a fresh surrogate: library and function come back by themselves.
  Function add_fn = lib_->function("int add(int, int)");
  EXPECT_EQ(i64(add_fn.call({std::int64_t{2}, std::int64_t{3}}).ret), 5);
  EXPECT_NE(bridge_->surrogate().pid, first_pid);
  EXPECT_EQ(bridge_->stats().restarts, 1u);
}

TEST_P(Chain, AbortIsReportedAsSigabrt) {
  Error e = error_of([&] { lib_->function("int crash_abort(void)").call({}); });
  EXPECT_EQ(e.kind(), ErrorKind::crashed);
  EXPECT_NE(std::string(e.what()).find("SIGABRT"), std::string::npos) << e.what();
}

TEST_P(Chain, ACallPastItsDeadlineFailsWithTimeoutWithoutWaitingForTheDll) {
  Function slow = lib_->function("int sleep_ms(int ms)");
  EXPECT_EQ(i64(slow.call({std::int64_t{1}}).ret), 1);
  const auto start = std::chrono::steady_clock::now();
  Error e = error_of([&] { slow.call({std::int64_t{30000}}, std::chrono::milliseconds(300)); });
  EXPECT_EQ(e.kind(), ErrorKind::timeout);
  // Behavioural, not a benchmark: it did not wait the DLL's 30 s out.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
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
  const std::string dir = std::string(paths::kSurrogate64).substr(0, std::string(paths::kSurrogate64).rfind('/'));
  ::setenv("DLLBRIDGE_SURROGATE_DIR", dir.c_str(), 1);
  BridgeOptions o;
  o.arch = Arch::x64;
  Bridge b(o);
  ::unsetenv("DLLBRIDGE_SURROGATE_DIR");
  EXPECT_EQ(b.surrogate_path(), dir + "/surrogate64");
  EXPECT_EQ(b.surrogate().pointer_size, 8u);
}

// Standalone mode: `surrogate32 --listen PATH`, clients of the same user only.
class Standalone : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(paths::kHave32);
    socket_ = "/tmp/dllbridge-test-" + std::to_string(::getpid()) + ".sock";
    ::unlink(socket_.c_str());
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const std::string s32 = paths::kSurrogate32;
      ::execl(s32.c_str(), s32.c_str(), "--listen", socket_.c_str(), "--log-level", "warn", nullptr);
      // No IA-32 emulation in this kernel: the same program under qemu-i386.
      ::execl("/usr/bin/qemu-i386-static", "qemu-i386-static", s32.c_str(), "--listen", socket_.c_str(),
              "--log-level", "warn", nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 500 && ::access(socket_.c_str(), F_OK) != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(::access(socket_.c_str(), F_OK), 0) << "surrogate32 --listen did not create " << socket_;
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st;
      ::waitpid(pid_, &st, 0);
    }
  }
  std::string socket_;
  pid_t pid_ = -1;
};

TEST_F(Standalone, ServesOneSessionAfterAnother) {
  for (int round = 0; round < 2; ++round) {
    BridgeOptions o;
    o.connect = socket_;
    Bridge b(o);
    EXPECT_EQ(b.surrogate().pointer_size, 4u);
    EXPECT_EQ(static_cast<pid_t>(b.surrogate().pid), pid_);
    Library lib = b.load(paths::kSample32);
    auto add_fn = lib.function<int32_t(int32_t, int32_t)>("add");
    EXPECT_EQ(add_fn(round, 40), round + 40);
  }
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "socket must be owner-only";
}

TEST_F(Standalone, RejectsAPeerOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  // Loosen the file mode so the connection reaches the surrogate: its
  // SO_PEERCRED check is the second line of defence and is what we test.
  ASSERT_EQ(::chmod(socket_.c_str(), 0666), 0);
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only async-signal-safe calls here: become "nobody", connect, read the answer.
    ::close(pipefd[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ::_exit(4);
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) ::write(pipefd[1], buf, static_cast<size_t>(n));
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string got;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int st;
  ::waitpid(child, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child could not connect";
  EXPECT_NE(got.find("not the surrogate's user"), std::string::npos) << got;
  // The surrogate still serves its own user afterwards.
  BridgeOptions o;
  o.connect = socket_;
  Bridge b(o);
  EXPECT_EQ(b.surrogate().pointer_size, 4u);
}
