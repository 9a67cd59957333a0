// What only Windows has: the loader's errors, UTF-16 paths, decorated names
// and ordinals, the Job Object around the surrogate, and standalone mode on
// a named pipe with owner-only security. Runs under Wine here.
#include <gtest/gtest.h>

#include "dllbridge/wire/win32.hpp"  // before anything that includes the wire enums

#include <functional>
#include <set>
#include <thread>

#include <asio/windows/stream_handle.hpp>

#include "win_security.hpp"

#include "dllbridge/bridge.hpp"
#include "dllbridge/wire/frame.hpp"
#include "os.hpp"
#include "sample.h"
#include "test_support.hpp"

using namespace dllbridge;
namespace paths = dllbridge::test;
namespace win = dllbridge::win;
using dllbridge::test::error_of;
using dllbridge::test::i64;
using dllbridge::test::Target;

namespace {

class WindowsChain : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam());
    bridge_ = std::make_unique<Bridge>(test::options_for(GetParam()));
    lib_ = std::make_unique<Library>(bridge_->load(GetParam().sample));
  }
  std::unique_ptr<Bridge> bridge_;
  std::unique_ptr<Library> lib_;
};

}  // namespace

TEST_P(WindowsChain, AMissingDependencyIsNamedAsSuch) {
  const char* dll = GetParam().pointer_size == 4 ? paths::kNeedsDep32 : paths::kNeedsDep64;
  Error e = error_of([&] { bridge_->load(dll); });
  EXPECT_EQ(e.kind(), ErrorKind::library_load_failed);
  EXPECT_NE(std::string(e.what()).find("one of its dependencies was not found"), std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find(dll), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("126"), std::string::npos) << e.what();
}

TEST_P(WindowsChain, TheWrongBitnessNamesTheArchitectureItIs) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();  // the 64-bit target's library of the other bitness is the 32-bit sample
  const char* other = GetParam().pointer_size == 4 ? paths::kSample64 : paths::kSample32;
  Error e = error_of([&] { bridge_->load(other); });
  EXPECT_EQ(e.kind(), ErrorKind::library_load_failed);
  const std::string want = GetParam().pointer_size == 4 ? "not a 32-bit DLL (it is a 64-bit x86-64 file)"
                                                        : "not a 64-bit DLL (it is a 32-bit x86 file)";
  EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
}

TEST_P(WindowsChain, Utf8PathsReachTheLoaderAsUtf16) {
  const std::string copy =
      test::os::temp_path("s\xC3\xA4mple-\xD1\x82\xD0\xB5\xD1\x81\xD1\x82.dll");  // "sämple-тест"
  ASSERT_TRUE(::CopyFileW(win::widen(GetParam().sample).c_str(), win::widen(copy).c_str(), FALSE));
  {
    Library lib = bridge_->load(copy);
    EXPECT_EQ(lib.function<int32_t(int32_t, int32_t)>("add")(40, 2), 42);
  }
  bridge_.reset();  // the surrogate unloads it as it ends
  ::DeleteFileW(win::widen(copy).c_str());
}

TEST_P(WindowsChain, DecoratedNamesAndOrdinalsAreFound) {
  Function std_fn = lib_->function("int __stdcall add_std(int a, int b)");
  EXPECT_EQ(i64(std_fn.call({std::int64_t{2}, std::int64_t{40}}).ret), 42);
  Function fast_fn = lib_->function("int __fastcall sub_fast(int a, int b)");
  if (GetParam().pointer_size == 4) {
    EXPECT_EQ(std_fn.resolved_name(), "add_std@8") << "MinGW decorates stdcall exports";
    EXPECT_EQ(fast_fn.resolved_name(), "@sub_fast@8") << "and fastcall ones";
  } else {
    EXPECT_EQ(std_fn.resolved_name(), "add_std") << "x64 has one convention and no decoration";
  }
  FunctionOptions by_ordinal;
  by_ordinal.symbol = "#100";  // sample.def: exported by ordinal only, no name
  auto nameless = lib_->function<int32_t(int32_t)>("ordinal_only", CallConv::Cdecl, by_ordinal);
  EXPECT_EQ(nameless(14), ordinal_only(14));
  EXPECT_EQ(error_of([&] { lib_->function("int ordinal_only(int)"); }).kind(), ErrorKind::symbol_not_found)
      << "it has no name to find it by";
  by_ordinal.symbol = "#60000";
  EXPECT_EQ(error_of([&] { lib_->function("int add(int, int)", by_ordinal); }).kind(),
            ErrorKind::symbol_not_found);
}

TEST_P(WindowsChain, GetLastErrorIsReadOnTheCallingThreadAndClearedBefore) {
  CallResult r = lib_->function("int set_errno(int v)").call({std::int64_t{ERROR_ACCESS_DENIED}});
  EXPECT_EQ(r.last_error, ERROR_ACCESS_DENIED);
  r = lib_->function("int add(int, int)").call({std::int64_t{1}, std::int64_t{1}});
  EXPECT_EQ(r.last_error, 0);
}

TEST_P(WindowsChain, TheSurrogateRunsInsideAJobObject) {
  win::UniqueHandle h(::OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, bridge_->surrogate().pid));
  ASSERT_TRUE(h);
  BOOL in_job = FALSE;
  ASSERT_TRUE(::IsProcessInJob(h.get(), nullptr, &in_job));
  EXPECT_TRUE(in_job);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, WindowsChain, ::testing::ValuesIn(test::kTargets),
                         [](const auto& info) { return std::string(info.param.name); });

// `surrogate32.exe --listen \\.\pipe\NAME`: one session after another, the
// pipe open to this user and SYSTEM only, and its name not up for grabs.
class StandalonePipe : public ::testing::Test {
 protected:
  void SetUp() override {
    DLLBRIDGE_SKIP_WITHOUT_32BIT();
    pipe_ = win::narrow(win::random_pipe_name());
    server_ = test::os::start_standalone(paths::kSurrogate32, pipe_, {"--log-level", "warn"});
  }
  std::string pipe_;
  std::unique_ptr<test::os::Child> server_;
};

TEST_F(StandalonePipe, ServesOneSessionAfterAnother) {
  for (int round = 0; round < 2; ++round) {
    BridgeOptions o;
    o.connect = pipe_;
    Bridge b(o);
    EXPECT_EQ(b.surrogate().pointer_size, 4u);
    EXPECT_EQ(b.surrogate().pid, server_->pid());
    EXPECT_EQ(b.surrogate().os, "windows");
    Library lib = b.load(paths::kSample32);
    EXPECT_EQ(lib.function<int32_t(int32_t, int32_t)>("add")(round, 40), round + 40);
  }
}

TEST_F(StandalonePipe, ThePipeGrantsOnlyTheUserAndSystem) {
  win::UniqueHandle h(::CreateFileW(win::widen(pipe_).c_str(), GENERIC_READ | GENERIC_WRITE | READ_CONTROL, 0,
                                    nullptr, OPEN_EXISTING, SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                                    nullptr));
  ASSERT_TRUE(h) << win::error_text(::GetLastError());
  const std::set<std::string> sids = dllbridge::test::granted_sids(h.get());
  EXPECT_EQ(sids.count("S-1-1-0"), 0u) << "Everyone";
  EXPECT_EQ(sids.count("S-1-5-7"), 0u) << "Anonymous";
  EXPECT_EQ(sids.count("S-1-5-18"), 1u) << "SYSTEM";
  EXPECT_EQ(sids.size(), 2u);
}

TEST_F(StandalonePipe, ASecondSurrogateCannotTakeTheName) {
  test::os::Output r = test::os::run({paths::kSurrogate32, "--listen", pipe_});
  EXPECT_NE(r.status, 0) << "FILE_FLAG_FIRST_PIPE_INSTANCE refuses a name already served";
  BridgeOptions o;
  o.connect = pipe_;
  Bridge b(o);  // the first one still serves
  EXPECT_EQ(b.surrogate().pid, server_->pid());
}

TEST_F(StandalonePipe, DllbridgeCallConnectsToIt) {
  DLLBRIDGE_SKIP_WITHOUT_CALL_TOOL();
  const test::os::Output r =
      test::os::run({paths::kDllbridgeCall, "--json", "--connect", pipe_, paths::kSample32,
                     "int __stdcall add_std(int a, int b)", "2", "40"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"return\":42"), std::string::npos) << r.out;
}

TEST_F(StandalonePipe, TheNameIsNeverFreeBetweenSessions) {
  {
    BridgeOptions o;
    o.connect = pipe_;
    Bridge b(o);
    EXPECT_EQ(b.surrogate().pid, server_->pid());
  }
  // The session is over; a listening instance of the surrogate's still
  // holds the name (Windows then refuses anyone a first instance of it;
  // Wine does not enforce that flag while instances are free, so what is
  // checked here is that the name exists).
  const BOOL available = ::WaitNamedPipeW(win::widen(pipe_).c_str(), 1);
  const DWORD err = available ? 0 : ::GetLastError();
  EXPECT_NE(err, static_cast<DWORD>(ERROR_FILE_NOT_FOUND)) << "the name was free between sessions";
}

namespace {

// A pipe server that is no surrogate: waits for a client on `server`,
// answers its Hello (pointer size 4) and its Shutdown, and counts the bytes
// of what it was sent in `heard`.
void serve_fake(win::UniqueHandle server, std::size_t& heard) {
  if (!win::wait_for_client(server.get(), std::chrono::milliseconds(30000)).empty()) return;
  asio::io_context io;
  asio::windows::stream_handle s(io);
  s.assign(server.release());
  try {
    wire::Frame in;
    while (wire::read_frame(s, in)) {
      heard += in.ByteSizeLong();
      wire::Frame out;
      out.mutable_reply()->set_id(in.request().id());
      if (in.request().has_hello()) {
        out.mutable_reply()->mutable_hello()->set_protocol_version(wire::kProtocolVersion);
        out.mutable_reply()->mutable_hello()->set_pointer_size(4);
      } else {
        out.mutable_reply()->mutable_shutdown();
      }
      wire::write_frame(s, out);
    }
  } catch (const std::exception&) {
    // the client went away
  }
}

}  // namespace

// In connect mode the client checks the pipe server's user before it sends
// anything. Wine runs everything as one user, so only the accepting path
// can be tested here: a pipe served by a process that is no surrogate but
// runs as this user is checked and then spoken to.
TEST(PipeServerCheck, AServerOfThisUserPasses) {
  const std::wstring name = win::random_pipe_name();
  std::size_t heard = 0;
  std::thread probe_server(serve_fake, win::create_pipe_server(name, true), std::ref(heard));
  {
    win::UniqueHandle probe = win::open_pipe_client(name, std::chrono::milliseconds(5000));
    EXPECT_EQ(win::check_server_is_same_user(probe.get()), "");
  }
  probe_server.join();
  EXPECT_EQ(heard, 0u) << "nothing is sent by the check itself";
  std::thread server(serve_fake, win::create_pipe_server(name, true), std::ref(heard));
  {
    BridgeOptions o;
    o.connect = win::narrow(name);
    Bridge b(o);
    EXPECT_EQ(b.surrogate().pointer_size, 4u);
  }
  server.join();
  EXPECT_GT(heard, 0u) << "the check passed and the handshake was sent";
}
