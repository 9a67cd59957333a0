#include "dllbridge/wire/frame_reader.hpp"

#include <cstring>

#include "dllbridge/wire/frame.hpp"

namespace dllbridge::wire {

namespace {

// The length a header at `p` gives (not checked).
std::uint32_t length_at(const char* p) noexcept {
  const auto* h = reinterpret_cast<const unsigned char*>(p);
  return std::uint32_t(h[0]) | std::uint32_t(h[1]) << 8 | std::uint32_t(h[2]) << 16 |
         std::uint32_t(h[3]) << 24;
}

}  // namespace

FrameReader::FrameReader(std::uint32_t first_frame_cap)
    : first_frame_cap_(first_frame_cap), buf_(new char[kBufferSize]) {}

FrameReader::Next FrameReader::next() {
  if (big_) {
    if (got_ < payload_.size()) return Next::more;
    big_ = false;
    first_frame_cap_ = 0;
    return Next::frame;
  }
  const std::size_t avail = end_ - begin_;
  if (avail >= kHeaderSize) {
    Header header;
    std::memcpy(header.data(), buf_.get() + begin_, header.size());
    std::uint32_t size = 0;
    try {
      size = decode_header(header);
    } catch (const FrameError& e) {
      error_ = e.what();
      return Next::bad;
    }
    if (first_frame_cap_ != 0 && size > first_frame_cap_) {
      error_ = "a first frame of " + std::to_string(size) + " bytes (at most " +
               std::to_string(first_frame_cap_) + " before the handshake)";
      return Next::bad;
    }
    const std::size_t whole = kHeaderSize + size;
    if (whole <= avail) {
      payload_.assign(buf_.get() + begin_ + kHeaderSize, size);
      begin_ += whole;
      if (begin_ == end_) begin_ = end_ = 0;
      first_frame_cap_ = 0;
      return Next::frame;
    }
    if (whole > kBufferSize) {
      // Too large for the buffer: the rest goes straight into the payload.
      payload_.resize(size);
      got_ = avail - kHeaderSize;
      std::memcpy(&payload_[0], buf_.get() + begin_ + kHeaderSize, got_);
      begin_ = end_ = 0;
      big_ = true;
      return Next::more;
    }
  }
  if (begin_ > 0) {  // room at the end for the rest of the frame
    std::memmove(buf_.get(), buf_.get() + begin_, avail);
    begin_ = 0;
    end_ = avail;
  }
  return Next::more;
}

FrameReader::Space FrameReader::space() {
  if (big_) return {&payload_[got_], payload_.size() - got_};
  return {buf_.get() + end_, kBufferSize - end_};
}

void FrameReader::took(std::size_t n) noexcept {
  if (big_) {
    got_ += n;
  } else {
    end_ += n;
  }
}

void FrameReader::release_large_payload() {
  if (payload_.capacity() > kBufferSize) std::string().swap(payload_);
}

std::size_t FrameReader::unparsed() const noexcept { return big_ ? kHeaderSize + got_ : end_ - begin_; }

bool FrameReader::frame_buffered() const noexcept {
  if (big_) return got_ == payload_.size();
  const std::size_t avail = end_ - begin_;
  if (avail < kHeaderSize) return false;
  const std::uint32_t size = length_at(buf_.get() + begin_);
  return static_cast<std::uint64_t>(size) + kHeaderSize <= avail || size > kMaxFrameSize ||
         (first_frame_cap_ != 0 && size > first_frame_cap_);
}

}  // namespace dllbridge::wire
