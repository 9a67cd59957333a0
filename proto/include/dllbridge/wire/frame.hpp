// Framing shared by client and surrogate: a 4-byte little-endian payload
// length, then a serialized wire::Frame (a Request or a Reply). The length is checked against
// kMaxFrameSize before anything is allocated for the payload.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <asio/read.hpp>
#include <asio/write.hpp>
#include <asio/error.hpp>

#include "dllbridge/dllbridge.pb.h"

namespace dllbridge::wire {

// Bumped on every incompatible change of dllbridge.proto or the framing.
// 3: Frame envelope, requests both ways; 4: arrays of numbers as packed bytes;
// 5: callbacks (FUNCTION_POINTER type nodes, Invoke and Release); 6: the
// shared region for bulk data (Hello.region_size, Value.region); 7: the
// region in segments (Value.region.segment, MapSegment); 8: a call sent
// before its region bytes are in place (Call.ready).
inline constexpr std::uint32_t kProtocolVersion = 8;
inline constexpr std::size_t kHeaderSize = 4;
// Hard cap on one frame's payload; larger frames are a protocol error.
inline constexpr std::uint32_t kMaxFrameSize = 64u << 20;
// Cap on a frame's payload before the handshake is done: a Hello (with its
// token) fits many times over, and an unknown peer cannot make the surrogate
// allocate more than this.
inline constexpr std::uint32_t kMaxHandshakeFrameSize = 4u << 10;

using Header = std::array<unsigned char, kHeaderSize>;

// A frame violated the framing rules (oversized, unparsable payload).
class FrameError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Encodes a payload length as a frame header.
Header encode_header(std::uint32_t length) noexcept;

// Decodes a frame header; throws FrameError when it exceeds `cap`.
std::uint32_t decode_header(const Header& header, std::uint32_t cap = kMaxFrameSize);

// Serializes a message into one complete frame (header + payload).
std::string encode_frame(const google::protobuf::MessageLite& message);

// Serializes a Request or Reply as one complete frame (header + a Frame
// payload holding it) into `out`, whose capacity is reused: no Frame is
// built and, once `out` is large enough, nothing is allocated. Throws
// FrameError when the frame would exceed kMaxFrameSize.
void encode_frame_into(const Request& request, std::string& out);
void encode_frame_into(const Reply& reply, std::string& out);

// Where the Request (`field` 1) or Reply (2) of serialized Frame `payload`
// lies, when the payload holds just that: [offset, offset + length).
// False for anything else (then parse the whole Frame).
bool frame_body(const std::string& payload, std::uint32_t field, std::size_t& offset, std::size_t& length);

// Parses a payload into `message`; throws FrameError when it is malformed.
void decode_payload(const std::string& payload, google::protobuf::MessageLite& message);

// Reads one frame from a synchronous Asio stream. Returns false on a clean
// end of stream before a header; throws FrameError or asio::system_error.
template <class SyncReadStream, class Message>
bool read_frame(SyncReadStream& stream, Message& message) {
  Header header;
  asio::error_code ec;
  asio::read(stream, asio::buffer(header), ec);
  // A closed socket reads as eof; a closed Windows pipe as broken_pipe.
  if (ec == asio::error::eof || ec == asio::error::broken_pipe) return false;
  if (ec) throw asio::system_error(ec);
  std::string payload(decode_header(header), '\0');
  asio::read(stream, asio::buffer(payload));
  decode_payload(payload, message);
  return true;
}

// Writes one message as a frame to a synchronous Asio stream.
template <class SyncWriteStream>
void write_frame(SyncWriteStream& stream, const google::protobuf::MessageLite& message) {
  const std::string frame = encode_frame(message);
  asio::write(stream, asio::buffer(frame));
}

}  // namespace dllbridge::wire
