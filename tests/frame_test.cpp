// Framing: headers, the size cap, malformed payloads. Frames over a real
// socket pair / named pipe: frame_stream_posix_test.cpp / frame_stream_win_test.cpp.
#include <gtest/gtest.h>

#include "dllbridge/wire/frame.hpp"

using namespace dllbridge::wire;

TEST(Frame, HeaderIsLittleEndianLength) {
  const Header h = encode_header(0x01020304);
  EXPECT_EQ(h[0], 0x04);
  EXPECT_EQ(h[3], 0x01);
  EXPECT_EQ(decode_header(h), 0x01020304u);
}

TEST(Frame, OversizedHeaderIsRejectedBeforeAllocating) {
  const Header h = encode_header(kMaxFrameSize + 1);
  EXPECT_THROW(decode_header(h), FrameError);
  EXPECT_THROW(decode_header(Header{0xff, 0xff, 0xff, 0xff}), FrameError);
  EXPECT_EQ(decode_header(encode_header(kMaxFrameSize)), kMaxFrameSize);
}

TEST(Frame, EncodeThenDecodeRoundTrips) {
  Request req;
  req.set_id(77);
  req.mutable_call()->set_function(3);
  req.mutable_call()->add_args()->set_i(-5);
  req.mutable_call()->add_args()->set_text(std::string("a\0b", 3));
  const std::string frame = encode_frame(req);
  ASSERT_GE(frame.size(), kHeaderSize);
  Header h;
  std::copy_n(frame.begin(), kHeaderSize, h.begin());
  EXPECT_EQ(decode_header(h), frame.size() - kHeaderSize);
  Request back;
  decode_payload(frame.substr(kHeaderSize), back);
  EXPECT_EQ(back.id(), 77u);
  ASSERT_EQ(back.call().args_size(), 2);
  EXPECT_EQ(back.call().args(0).i(), -5);
  EXPECT_EQ(back.call().args(1).text(), std::string("a\0b", 3));
}

TEST(Frame, MalformedPayloadIsAnError) {
  Reply r;
  EXPECT_THROW(decode_payload(std::string("\xff\xff\xff\xff\xff", 5), r), FrameError);
}
