#include "dllbridge/wire/frame.hpp"

#include "varint.hpp"

#include <algorithm>

namespace dllbridge::wire {

Header encode_header(std::uint32_t length) noexcept {
  return {static_cast<unsigned char>(length), static_cast<unsigned char>(length >> 8),
          static_cast<unsigned char>(length >> 16), static_cast<unsigned char>(length >> 24)};
}

std::uint32_t decode_header(const Header& h, std::uint32_t cap) {
  const std::uint32_t length =
      std::uint32_t(h[0]) | std::uint32_t(h[1]) << 8 | std::uint32_t(h[2]) << 16 | std::uint32_t(h[3]) << 24;
  if (length > cap) {
    throw FrameError("frame of " + std::to_string(length) + " bytes exceeds the limit of " +
                     std::to_string(cap) + (cap < kMaxFrameSize ? " before the handshake" : ""));
  }
  return length;
}

std::string encode_frame(const google::protobuf::MessageLite& message) {
  const std::size_t size = message.ByteSizeLong();
  if (size > kMaxFrameSize) {
    throw FrameError("message of " + std::to_string(size) + " bytes exceeds the frame limit of " +
                     std::to_string(kMaxFrameSize));
  }
  std::string frame(kHeaderSize + size, '\0');
  const Header h = encode_header(static_cast<std::uint32_t>(size));
  std::copy(h.begin(), h.end(), frame.begin());
  message.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(&frame[kHeaderSize]));
  return frame;
}

namespace {

// Writes `v` as a varint at `p`; the byte after it.
std::uint8_t* put_varint(std::uint8_t* p, std::uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<std::uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<std::uint8_t>(v);
  return p;
}

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

// The frame of a Frame whose only field is `body`, field number `field`.
void encode_enveloped(std::uint32_t field, const google::protobuf::MessageLite& body, std::string& out) {
  const std::size_t body_size = body.ByteSizeLong();
  const std::size_t size = 1 + varint_size(body_size) + body_size;
  if (size > kMaxFrameSize) {
    throw FrameError("message of " + std::to_string(size) + " bytes exceeds the frame limit of " +
                     std::to_string(kMaxFrameSize));
  }
  out.resize(kHeaderSize + size);
  auto* p = reinterpret_cast<std::uint8_t*>(&out[0]);
  const Header h = encode_header(static_cast<std::uint32_t>(size));
  p = std::copy(h.begin(), h.end(), p);
  *p++ = static_cast<std::uint8_t>(field << 3 | 2u);  // length-delimited
  p = put_varint(p, body_size);
  body.SerializeWithCachedSizesToArray(p);
}

}  // namespace

void encode_frame_into(const Request& request, std::string& out) { encode_enveloped(1, request, out); }
void encode_frame_into(const Reply& reply, std::string& out) { encode_enveloped(2, reply, out); }

bool frame_body(const std::string& payload, std::uint32_t field, std::size_t& offset, std::size_t& length) {
  std::size_t i = 0;
  std::uint64_t tag = 0;
  std::uint64_t n = 0;
  if (!detail::read_varint(payload, i, tag) || tag != (field << 3 | 2u) ||
      !detail::read_varint(payload, i, n))
    return false;
  if (n != payload.size() - i) return false;  // more than the one field
  offset = i;
  length = static_cast<std::size_t>(n);
  return true;
}

void decode_payload(const std::string& payload, google::protobuf::MessageLite& message) {
  if (!message.ParseFromString(payload)) {
    throw FrameError("malformed " + message.GetTypeName() + " frame of " + std::to_string(payload.size()) +
                     " bytes");
  }
}

}  // namespace dllbridge::wire
