// wire::FrameReader: the frame splitting both stream transports (Unix
// socket, named pipe) use, fed by hand in reads of every size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "dllbridge/wire/frame.hpp"
#include "dllbridge/wire/frame_reader.hpp"

using namespace dllbridge::wire;

namespace {

// One frame: header + payload.
std::string frame_of(const std::string& payload) {
  const Header h = encode_header(static_cast<std::uint32_t>(payload.size()));
  return std::string(h.begin(), h.end()) + payload;
}

// A payload of `size` bytes that differ from one frame to the next.
std::string payload_of(std::size_t size, char seed) {
  std::string p(size, '\0');
  for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<char>(seed + i * 7);
  return p;
}

// Feeds `stream` to `reader` in reads of at most `chunk` bytes (as much as
// space() allows) and collects every frame; stops at a bad frame.
std::vector<std::string> split(FrameReader& reader, const std::string& stream, std::size_t chunk,
                               bool* bad = nullptr) {
  std::vector<std::string> frames;
  std::size_t at = 0;
  for (;;) {
    const FrameReader::Next next = reader.next();
    if (next == FrameReader::Next::frame) {
      frames.push_back(reader.payload());
      reader.release_large_payload();
      continue;
    }
    if (next == FrameReader::Next::bad) {
      if (bad) *bad = true;
      return frames;
    }
    if (at == stream.size()) return frames;
    const FrameReader::Space space = reader.space();
    EXPECT_GT(space.size, 0u);
    const std::size_t n = std::min({chunk, space.size, stream.size() - at});
    std::memcpy(space.data, stream.data() + at, n);
    reader.took(n);
    at += n;
  }
}

}  // namespace

TEST(FrameReader, SplitsFramesWhateverTheReadSizes) {
  // Small frames, an empty one, one that fills the buffer exactly and one
  // larger than the buffer (read straight into its payload).
  const std::vector<std::string> payloads = {
      payload_of(16, 'a'),
      payload_of(0, 'b'),
      payload_of(300, 'c'),
      payload_of(FrameReader::kBufferSize - kHeaderSize, 'd'),
      payload_of(3 * FrameReader::kBufferSize + 5, 'e'),
      payload_of(20, 'f'),
  };
  std::string stream;
  for (const auto& p : payloads) stream += frame_of(p);
  for (const std::size_t chunk : {std::size_t(1), std::size_t(3), std::size_t(4), std::size_t(5),
                                  std::size_t(4093), std::size_t(65536), stream.size()}) {
    FrameReader reader;
    bool bad = false;
    const std::vector<std::string> got = split(reader, stream, chunk, &bad);
    EXPECT_FALSE(bad) << "reads of " << chunk;
    EXPECT_EQ(got, payloads) << "reads of " << chunk;
    EXPECT_TRUE(reader.empty()) << "reads of " << chunk;
  }
}

TEST(FrameReader, AnOversizedHeaderIsBadBeforeAnythingIsAllocated) {
  FrameReader reader;
  const Header h = encode_header(kMaxFrameSize + 1);
  bool bad = false;
  const auto got = split(reader, frame_of("ok") + std::string(h.begin(), h.end()), 1, &bad);
  EXPECT_TRUE(bad);
  EXPECT_EQ(got, std::vector<std::string>{"ok"});
  EXPECT_NE(reader.error().find("exceeds the limit"), std::string::npos) << reader.error();
  EXPECT_LT(reader.payload().capacity(), std::size_t(kMaxFrameSize));
}

TEST(FrameReader, TheFirstFrameCapHoldsForTheFirstFrameOnly) {
  {
    FrameReader reader(100);
    bool bad = false;
    EXPECT_TRUE(split(reader, frame_of(payload_of(101, 'x')), 64, &bad).empty());
    EXPECT_TRUE(bad);
    EXPECT_NE(reader.error().find("before the handshake"), std::string::npos) << reader.error();
  }
  FrameReader reader(100);
  bool bad = false;
  const std::vector<std::string> payloads = {payload_of(100, 'y'), payload_of(5000, 'z')};
  EXPECT_EQ(split(reader, frame_of(payloads[0]) + frame_of(payloads[1]), 7, &bad), payloads);
  EXPECT_FALSE(bad);
}

TEST(FrameReader, FrameBufferedSaysWhetherNextNeedsMoreBytes) {
  FrameReader reader;
  EXPECT_FALSE(reader.frame_buffered());
  EXPECT_TRUE(reader.empty());
  const std::string two = frame_of("first") + frame_of("second");
  // Two bytes of the header: nothing to take yet.
  ASSERT_EQ(reader.next(), FrameReader::Next::more);
  std::memcpy(reader.space().data, two.data(), 2);
  reader.took(2);
  EXPECT_FALSE(reader.frame_buffered());
  EXPECT_FALSE(reader.empty());
  // The rest of both frames at once: each is taken without another read.
  ASSERT_EQ(reader.next(), FrameReader::Next::more);
  std::memcpy(reader.space().data, two.data() + 2, two.size() - 2);
  reader.took(two.size() - 2);
  EXPECT_TRUE(reader.frame_buffered());
  ASSERT_EQ(reader.next(), FrameReader::Next::frame);
  EXPECT_EQ(reader.payload(), "first");
  EXPECT_TRUE(reader.frame_buffered());
  EXPECT_FALSE(reader.empty());
  ASSERT_EQ(reader.next(), FrameReader::Next::frame);
  EXPECT_EQ(reader.payload(), "second");
  EXPECT_FALSE(reader.frame_buffered());
  EXPECT_TRUE(reader.empty());
  EXPECT_EQ(reader.next(), FrameReader::Next::more);
}

TEST(FrameReader, ABadHeaderCountsAsBuffered) {
  FrameReader reader;
  const Header h = encode_header(kMaxFrameSize + 1);
  ASSERT_EQ(reader.next(), FrameReader::Next::more);
  std::memcpy(reader.space().data, h.data(), h.size());
  reader.took(h.size());
  EXPECT_TRUE(reader.frame_buffered());
  EXPECT_EQ(reader.next(), FrameReader::Next::bad);
}

TEST(FrameReader, ALargeFrameIsBufferedOnceComplete) {
  FrameReader reader;
  const std::string stream = frame_of(payload_of(2 * FrameReader::kBufferSize, 'q'));
  std::size_t at = 0;
  while (reader.next() == FrameReader::Next::more) {
    EXPECT_FALSE(reader.frame_buffered());
    const FrameReader::Space space = reader.space();
    const std::size_t n = std::min(space.size, stream.size() - at);
    ASSERT_GT(n, 0u);
    std::memcpy(space.data, stream.data() + at, n);
    reader.took(n);
    at += n;
    if (at == stream.size()) {
      EXPECT_TRUE(reader.frame_buffered());
    }
  }
  EXPECT_EQ(at, stream.size());
  EXPECT_EQ(reader.payload(), stream.substr(kHeaderSize));
  reader.release_large_payload();
  EXPECT_LE(reader.payload().capacity(), FrameReader::kBufferSize);
}
