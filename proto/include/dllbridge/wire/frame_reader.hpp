// Splitting a byte stream into frames (wire/frame.hpp's framing: a 4-byte
// little-endian length, then the payload), the same for every stream
// transport (Unix socket, named pipe): the transport reads into space(),
// reports it with took(), and takes each whole frame that next() finds.
// A frame that fits the buffer is copied out of it once; a larger one is
// read straight into its payload. No I/O and no locking here: the holder of
// a transport's reader role owns its FrameReader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace dllbridge::wire {

class FrameReader {
 public:
  // The buffer frames are read into; a larger frame gets a buffer of its own.
  static constexpr std::size_t kBufferSize = 64 * 1024;

  // `first_frame_cap` (0: none): the first frame may be at most this large
  // (the handshake's Hello); later frames up to kMaxFrameSize.
  explicit FrameReader(std::uint32_t first_frame_cap = 0);

  // What next() found.
  enum class Next {
    frame,  // a whole frame: its payload is in payload() until the next call
    more,   // no whole frame yet: read into space(), then call took()
    bad,    // the header breaks the rules (error() says how); the stream is unusable
  };

  // Takes the next whole frame out of what was read, if there is one.
  Next next();

  // Where the next read goes: `size` (> 0) bytes at `data`, valid until the
  // next call of next() or took(). Only after next() returned `more`.
  struct Space {
    char* data;
    std::size_t size;
  };
  Space space();

  // `n` bytes were read into space().
  void took(std::size_t n) noexcept;

  // The payload of the frame next() returned last; the caller may modify it.
  std::string& payload() noexcept { return payload_; }

  // The frame's payload was handed over: a very large one's memory is given
  // back rather than kept for good.
  void release_large_payload();

  // Whether next() would return a frame or `bad` without more bytes.
  bool frame_buffered() const noexcept;

  // Bytes read but not yet part of a frame next() returned.
  std::size_t unparsed() const noexcept;

  // Whether no bytes of an unfinished frame are held.
  bool empty() const noexcept { return !big_ && begin_ == end_; }

  // Why next() returned `bad`.
  const std::string& error() const noexcept { return error_; }

 private:
  std::uint32_t first_frame_cap_;
  std::unique_ptr<char[]> buf_;
  std::size_t begin_ = 0, end_ = 0;  // the unparsed bytes in buf_
  std::string payload_;
  bool big_ = false;     // reading a large frame's payload straight into payload_
  std::size_t got_ = 0;  // of payload_, while big_
  std::string error_;
};

}  // namespace dllbridge::wire
