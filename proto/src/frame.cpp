#include "dllbridge/wire/frame.hpp"

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

void decode_payload(const std::string& payload, google::protobuf::MessageLite& message) {
  if (!message.ParseFromString(payload)) {
    throw FrameError("malformed " + message.GetTypeName() + " frame of " + std::to_string(payload.size()) +
                     " bytes");
  }
}

}  // namespace dllbridge::wire
