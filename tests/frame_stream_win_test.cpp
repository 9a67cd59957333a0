// Frames over a real named pipe made the way client and surrogate make it,
// and the pipe's security: random names, owner-only DACL, no squatting.
#include <gtest/gtest.h>

#include <set>

#include "win_security.hpp"

#include <asio/io_context.hpp>
#include <asio/windows/stream_handle.hpp>

#include "dllbridge/wire/frame.hpp"
#include "dllbridge/wire/win32.hpp"

// Not `using namespace dllbridge::wire`: its enumerators (HANDLE, ULONG, ...)
// would hide the windows.h types.
using dllbridge::win::UniqueHandle;
using dllbridge::wire::encode_header;
using dllbridge::wire::FrameError;
using dllbridge::wire::Header;
using dllbridge::wire::kMaxFrameSize;
using dllbridge::wire::read_frame;
using dllbridge::wire::Reply;
using dllbridge::wire::write_frame;
namespace win = dllbridge::win;

namespace {

// A connected pair: the server end (as the client library makes it) and the
// client end (as the surrogate opens it).
struct PipePair {
  asio::io_context io;
  std::wstring name = win::random_pipe_name();
  asio::windows::stream_handle server{io}, client{io};
  PipePair() {
    UniqueHandle s = win::create_pipe_server(name, true);
    UniqueHandle c = win::open_pipe_client(name, std::chrono::milliseconds(2000));
    EXPECT_EQ(win::wait_for_client(s.get(), std::chrono::milliseconds(2000)), "");
    server.assign(s.release());
    client.assign(c.release());
  }
};

}  // namespace

TEST(FrameOverPipe, TravelsAndEndsCleanly) {
  PipePair p;
  Reply out;
  out.set_id(9);
  out.mutable_error()->set_kind(dllbridge::wire::SYMBOL_NOT_FOUND);
  out.mutable_error()->set_message("nope");
  write_frame(p.server, out);
  write_frame(p.server, out);
  Reply in;
  ASSERT_TRUE(read_frame(p.client, in));
  EXPECT_EQ(in.id(), 9u);
  EXPECT_EQ(in.error().message(), "nope");
  ASSERT_TRUE(read_frame(p.client, in));
  p.server.close();
  EXPECT_FALSE(read_frame(p.client, in));  // a closed pipe is a clean end of stream
}

TEST(FrameOverPipe, OversizedFrameOnThePipeThrows) {
  PipePair p;
  const Header h = encode_header(kMaxFrameSize + 100);
  asio::write(p.server, asio::buffer(h));
  Reply in;
  EXPECT_THROW(read_frame(p.client, in), FrameError);
}

TEST(PipeSecurity, NamesCarryAtLeast128RandomBits) {
  const std::wstring a = win::random_pipe_name(), b = win::random_pipe_name();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind(L"\\\\.\\pipe\\dllbridge-", 0), 0u);
  EXPECT_GE(a.size() - a.rfind(L'-') - 1, 32u) << "32 hex digits = 128 bits";
}

TEST(PipeSecurity, OnlyTheUserAndSystemAreGrantedAccess) {
  PipePair p;
  const std::set<std::string> sids = dllbridge::test::granted_sids(p.client.native_handle());
  EXPECT_EQ(sids.count("S-1-1-0"), 0u) << "Everyone";
  EXPECT_EQ(sids.count("S-1-5-7"), 0u) << "Anonymous";
  EXPECT_EQ(sids.count("S-1-5-2"), 0u) << "Network";
  EXPECT_EQ(sids.count("S-1-5-18"), 1u) << "SYSTEM";
  EXPECT_EQ(sids.size(), 2u) << "the user and SYSTEM, nothing else";
}

TEST(PipeSecurity, ASecondServerCannotTakeTheName) {
  const std::wstring name = win::random_pipe_name();
  UniqueHandle first = win::create_pipe_server(name, true);
  EXPECT_THROW(win::create_pipe_server(name, true), std::runtime_error) << "FILE_FLAG_FIRST_PIPE_INSTANCE";
  EXPECT_THROW(win::create_pipe_server(name, false), std::runtime_error) << "one instance only";
}

TEST(PipeSecurity, TheServerSeesTheClientAsTheSameUser) {
  PipePair p;
  EXPECT_EQ(win::check_client_is_same_user(p.server.native_handle()), "");
  ULONG pid = 0;
  ASSERT_TRUE(::GetNamedPipeClientProcessId(p.server.native_handle(), &pid));
  EXPECT_EQ(pid, ::GetCurrentProcessId());
}
