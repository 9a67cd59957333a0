// The transport interface under the channel: an ordered, two-way stream of
// frames between a client and a surrogate. Implementations: a Unix socket
// or named pipe (client: bridge-client/src/channel/stream_transport.*;
// surrogate: surrogate32/src/core/stream_transport.hpp), and in memory
// (in_memory_pair(), for tests and for hosting a library of the caller's own
// bitness in-process). No protobuf here: frames are bytes.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

namespace dllbridge::rpc {

class Transport {
 public:
  // Where a transport delivers what it reads.
  class Receiver {
   public:
    virtual ~Receiver() = default;
    // One frame's payload (its 4-byte header already checked and removed), in
    // order, on the transport's own thread. May modify `payload`.
    virtual void on_frame(std::string& payload) = 0;
    // The stream ended: the peer closed it, it broke, or (bad_frame) a frame
    // broke the framing rules. Called once, last, on the transport's thread.
    virtual void on_end(const std::string& why, bool bad_frame) = 0;
    // A thread that read for its reply (read_until) has stopped reading:
    // another waiting thread may take over. Called on that thread.
    virtual void on_reader_free() {}
  };

  // What read_until() did.
  enum class CallerRead {
    done,         // a delivered frame made done() true
    busy,         // another thread reads; wait for the frame, or for on_reader_free
    timeout,      // the deadline passed
    unsupported,  // this transport reads on its own thread only
  };

  virtual ~Transport() = default;

  // Starts delivering frames to `receiver` (which must outlive the
  // transport's reading, i.e. until close() returned or on_end ran). Once.
  virtual void start(Receiver& receiver) = 0;

  // Sends one whole frame (header + payload, as wire::encode_frame makes it).
  // Thread-safe; frames never interleave. Never blocks on the peer for long
  // and never throws for I/O: after the stream broke, frames are dropped and
  // the loss is reported through Receiver::on_end.
  virtual void send(std::string frame) = 0;
  // The same for a frame the caller keeps (a reused buffer): a transport
  // that can write it without a copy of its own overrides this.
  virtual void send_bytes(const char* data, std::size_t size) { send(std::string(data, size)); }

  // Ends the stream in both directions: the reading stops (on_end follows
  // unless it already ran) and later sends are dropped. Thread-safe, idempotent.
  virtual void close() noexcept = 0;

  // Optional (POSIX sockets): passes a duplicate of descriptor `fd` to the
  // peer with the next frame sent (SCM_RIGHTS). False when this transport
  // cannot pass descriptors (nothing is then passed).
  virtual bool pass_fd_with_next_send(int fd) {
    (void)fd;
    return false;
  }

  // Optional: the oldest descriptor the peer passed with the frames
  // delivered so far, now owned by the caller; -1 when none (or this
  // transport passes none). Descriptors arrive before the frame they came with.
  virtual int take_passed_fd() { return -1; }

  // Optional: lets a thread that waits for a reply read the stream itself,
  // so the reply wakes the thread that wants it instead of a reading thread
  // that then wakes it. Reads frames and delivers them to the receiver on
  // the calling thread until `done(context)` is true (checked first, then
  // after each frame) or `deadline` passes. One thread at a time; before
  // start() and at the end of the stream (always reported on the
  // transport's own thread): `busy`, wait to be woken. `poll_for`: the
  // caller expects its frame soon and may spend this long polling for it
  // before the first sleep (a transport that cannot poll ignores it; one in
  // low-latency mode follows its own SpinAdvisor instead).
  virtual CallerRead read_until(bool (*done)(void* context), void* context,
                                std::chrono::steady_clock::time_point deadline,
                                std::chrono::nanoseconds poll_for = std::chrono::nanoseconds::zero()) {
    (void)done;
    (void)context;
    (void)deadline;
    (void)poll_for;
    return CallerRead::unsupported;
  }
};

// Two connected in-memory transports: what one sends, the other receives.
// Each delivers on a thread of its own; closing either ends both.
std::pair<std::unique_ptr<Transport>, std::unique_ptr<Transport>> in_memory_pair();

}  // namespace dllbridge::rpc
