// The surrogate's end of a named pipe, for synchronous use by two threads at
// once: the session reads requests while workers write replies. Each
// direction keeps one event for its overlapped I/O, made once (Asio's
// stream_handle makes and closes an event for every synchronous operation,
// two kernel calls more per request and per reply). Meets Asio's
// SyncReadStream / SyncWriteStream, so asio::read / asio::write work on it.
// Windows only.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>

#include "dllbridge/wire/win32.hpp"

namespace dllbridge::surrogate {

class PipeStream {
 public:
  explicit PipeStream(asio::io_context&) {}
  PipeStream(PipeStream&&) noexcept = default;
  PipeStream& operator=(PipeStream&&) noexcept = default;

  // Takes ownership of a pipe handle opened for overlapped I/O.
  void assign(HANDLE pipe) { pipe_.reset(pipe); }
  HANDLE native_handle() const { return pipe_.get(); }
  // Gives up ownership of the pipe handle (now the caller's to close).
  HANDLE release() { return pipe_.release(); }
  bool is_open() const { return pipe_.valid(); }
  void close(asio::error_code& ec) {
    pipe_.reset();
    ec = {};
  }
  void close() { pipe_.reset(); }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, asio::error_code& ec) {
    const asio::mutable_buffer b = *asio::buffer_sequence_begin(buffers);
    return transfer(true, b.data(), b.size(), ec);
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    asio::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw asio::system_error(ec);
    return n;
  }
  // Reads what comes into `buffer`, waiting at most `timeout` for it (zero:
  // no limit); ec is asio::error::timed_out when nothing came in time.
  std::size_t read_some_within(asio::mutable_buffer buffer, std::chrono::milliseconds timeout,
                               asio::error_code& ec) {
    return transfer(true, buffer.data(), buffer.size(), ec, timeout);
  }

  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, asio::error_code& ec) {
    const asio::const_buffer b = *asio::buffer_sequence_begin(buffers);
    return transfer(false, const_cast<void*>(b.data()), b.size(), ec);
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    asio::error_code ec;
    const std::size_t n = write_some(buffers, ec);
    if (ec) throw asio::system_error(ec);
    return n;
  }

 private:
  // One overlapped ReadFile / WriteFile, waited for on its direction's event
  // (at most `timeout` when not zero: then cancelled, and timed_out).
  std::size_t transfer(bool read, void* data, std::size_t size, asio::error_code& ec,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    ec = {};
    if (size == 0) return 0;
    win::UniqueHandle& event = read ? read_event_ : write_event_;
    if (!event) event.reset(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    OVERLAPPED ov{};
    ov.hEvent = event.get();
    DWORD n = 0;
    const DWORD want = static_cast<DWORD>(size > 0x7FFFFFFF ? 0x7FFFFFFF : size);
    const BOOL ok =
        read ? ::ReadFile(pipe_.get(), data, want, &n, &ov) : ::WriteFile(pipe_.get(), data, want, &n, &ov);
    if (!ok && ::GetLastError() == ERROR_IO_PENDING) {
      if (timeout.count() > 0 &&
          ::WaitForSingleObject(ov.hEvent, static_cast<DWORD>(std::min<long long>(
                                               timeout.count(), 0x7FFFFFFE))) == WAIT_TIMEOUT) {
        ::CancelIoEx(pipe_.get(), &ov);
        // The OVERLAPPED must outlive the I/O; what came before the cancel counts.
        if (::GetOverlappedResult(pipe_.get(), &ov, &n, TRUE) && n > 0) return n;
        if (::GetLastError() == ERROR_OPERATION_ABORTED) {
          ec = asio::error::timed_out;
          return 0;
        }
      } else if (::GetOverlappedResult(pipe_.get(), &ov, &n, TRUE)) {
        return n;
      }
    } else if (ok) {
      return n;
    }
    const DWORD err = ::GetLastError();
    // A closed pipe reads as the end of the stream, as a closed socket does.
    if (read && (err == ERROR_BROKEN_PIPE || err == ERROR_HANDLE_EOF || err == ERROR_PIPE_NOT_CONNECTED)) {
      ec = asio::error::eof;
    } else {
      ec = asio::error_code(static_cast<int>(err), asio::system_category());
    }
    return 0;
  }

  win::UniqueHandle pipe_;
  win::UniqueHandle read_event_;
  win::UniqueHandle write_event_;
};

}  // namespace dllbridge::surrogate
