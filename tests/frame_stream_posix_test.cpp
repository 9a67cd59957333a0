// Frames over a real socket pair, as between client and surrogate on POSIX.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>

#include "dllbridge/wire/frame.hpp"

using namespace dllbridge::wire;

TEST(Frame, TravelsOverASocketPair) {
  asio::io_context io;
  asio::local::stream_protocol::socket a(io), b(io);
  asio::local::connect_pair(a, b);
  Reply out;
  out.set_id(9);
  out.mutable_error()->set_kind(SYMBOL_NOT_FOUND);
  out.mutable_error()->set_message("nope");
  write_frame(a, out);
  write_frame(a, out);
  Reply in;
  ASSERT_TRUE(read_frame(b, in));
  EXPECT_EQ(in.id(), 9u);
  EXPECT_EQ(in.error().message(), "nope");
  ASSERT_TRUE(read_frame(b, in));
  a.close();
  EXPECT_FALSE(read_frame(b, in));  // clean end of stream
}

TEST(Frame, OversizedFrameOnTheStreamThrows) {
  asio::io_context io;
  asio::local::stream_protocol::socket a(io), b(io);
  asio::local::connect_pair(a, b);
  const Header h = encode_header(kMaxFrameSize + 100);
  asio::write(a, asio::buffer(h));
  Reply in;
  EXPECT_THROW(read_frame(b, in), FrameError);
}
