// The transport over a named pipe (Windows), both ends.
//
// Reading: one thread at a time holds the reader role. A thread waiting for
// a reply (or, in the surrogate, for work) takes it (read_until), issues its
// own overlapped ReadFile and waits for it on its own thread, so what it
// waits for wakes no other thread first. Under Wine this matters twice: an
// overlapped read completes through the thread that issued it (a system
// APC), so a read issued by another thread would wake that thread too. A
// caller therefore never leaves a read pending when it lets the role go:
// it stops after the read that brought what it waited for, and cancels
// (CancelIoEx, then waits for the cancelled read) when its deadline passes.
//
// The transport's own thread watches the pipe when no caller has read it
// for a short while (kStepBack): it issues a read and waits for it, without
// holding the role, delivering what comes (requests of the surrogate that
// come while nobody waits, the end of the stream, which it alone reports).
// A caller that takes the role while that read is pending cancels it and
// keeps what it brought; the cost of that is the first call after a quiet
// spell only. While callers come and go, the thread is woken about twice
// per kStepBack, whatever the call rate, and never for a reply.
//
// Writing: a caller writes its own frame (up to kDirectWriteLimit) with an
// overlapped WriteFile, which a pipe with room completes at once; what the
// pipe does not take at once is cancelled and, with larger frames, queued
// for the transport's thread, which issues and finishes those writes, so a
// send never blocks on the peer.
//
// No OS object per call: each direction's OVERLAPPED and event belong to the
// transport and are reused. The low bit of each event handle keeps
// completions off any completion port the pipe was associated with (the
// client's was made for Asio).
#include "dllbridge/rpc/pipe_transport.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "dllbridge/wire/frame_reader.hpp"
#include "dllbridge/wire/win32.hpp"

namespace dllbridge::rpc {
namespace {

using Clock = std::chrono::steady_clock;
using win::UniqueHandle;

// The event for an OVERLAPPED: low bit set, no completion packet.
HANDLE quiet(const UniqueHandle& event) {
  return reinterpret_cast<HANDLE>(reinterpret_cast<std::uintptr_t>(event.get()) | 1);
}

// Milliseconds to wait until `deadline` (INFINITE for time_point::max()).
DWORD ms_until(Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) return INFINITE;
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  return static_cast<DWORD>(
      std::min<std::int64_t>(std::chrono::ceil<std::chrono::milliseconds>(left).count(), 0x7FFFFFFE));
}

class PipeTransport final : public Transport {
 public:
  PipeTransport(UniqueHandle pipe, PipeOptions options)
      : pipe_(std::move(pipe)),
        frame_timeout_(options.frame_timeout),
        read_event_(::CreateEventW(nullptr, TRUE, FALSE, nullptr)),
        write_event_(::CreateEventW(nullptr, TRUE, FALSE, nullptr)),
        direct_event_(::CreateEventW(nullptr, TRUE, FALSE, nullptr)),
        wake_(::CreateEventW(nullptr, FALSE, FALSE, nullptr)),
        frames_(options.first_frame_cap) {
    if (!read_event_ || !write_event_ || !direct_event_ || !wake_) {
      throw std::system_error(static_cast<int>(::GetLastError()), std::system_category(),
                              "cannot set up the channel's reading");
    }
  }

  ~PipeTransport() override {
    close();
    if (thread_.joinable()) {
      if (thread_.get_id() == std::this_thread::get_id()) {
        thread_.detach();  // the receiver dropped us from inside on_end
      } else {
        thread_.join();
      }
    }
    // Not started, or ended before its pending read was taken: the OVERLAPPED
    // and buffer must outlive the I/O.
    if (read_pending_ && pipe_) {
      ::CancelIoEx(pipe_.get(), &read_ov_);
      ::WaitForSingleObject(read_event_.get(), INFINITE);
    }
  }

  void start(Receiver& receiver) override {
    {
      std::lock_guard lock(mu_);
      receiver_ = &receiver;
    }
    thread_ = std::thread([this] { run(); });
  }

  void send(std::string frame) override {
    std::lock_guard lock(write_mu_);
    if (closing_ || write_broken_ || frame.empty()) return;
    if (writes_.empty() && frame.size() <= kDirectWriteLimit) {
      const std::size_t n = write_now(frame);
      if (n == frame.size() || write_broken_) return;
      frame.erase(0, n);
    }
    if (io_done_) return;  // no thread left to finish it: the stream has ended
    writes_.push_back(std::move(frame));
    if (writes_.size() == 1) ::SetEvent(wake_.get());
  }

  void close() noexcept override {
    if (closing_.exchange(true)) return;
    {
      // Every read and write in progress returns; later ones see closing_.
      std::lock_guard lock(write_mu_);
      if (pipe_) ::CancelIoEx(pipe_.get(), nullptr);
    }
    ::SetEvent(wake_.get());
  }

  CallerRead read_until(bool (*done)(void*), void* context, Clock::time_point deadline,
                        std::chrono::nanoseconds poll_for = std::chrono::nanoseconds::zero()) override {
    (void)poll_for;  // not yet: a caller waits in the kernel (docs/performance.md, "Bulk data")
    {
      std::lock_guard lock(mu_);
      if (reader_ != Reader::none || end_found_ || receiver_ == nullptr) {  // (not started: busy)
        turned_away_ = true;
        return CallerRead::busy;
      }
      reader_ = Reader::caller;
    }
    CallerRead result = CallerRead::busy;
    // What we wait for may have come through another reader just before we
    // took the role.
    if (done(context)) {
      result = CallerRead::done;
    } else {
      switch (pull(done, context, deadline)) {
        case Pull::satisfied: result = CallerRead::done; break;
        case Pull::timed_out: result = CallerRead::timeout; break;
        default: break;  // ended: the transport's thread reports it
      }
    }
    release_role(true);
    return result;
  }

 private:
  // Frames up to this size are written by the caller (a quarter of the
  // pipe's 64 KiB buffer: how much of a cancelled larger write went is not
  // reported reliably under Wine).
  static constexpr std::size_t kDirectWriteLimit = 16 * 1024;
  // The transport's thread watches the pipe once no caller took the role
  // for this long.
  static constexpr std::chrono::milliseconds kStepBack{5};
  enum class Reader { none, thread, caller };
  enum class Pull { satisfied, timed_out, ended, watching };
  enum class Parse { frame, more, bad };

  // Writes `frame` from the caller's thread; how much went. A write the
  // pipe does not take at once is cancelled (write_mu_ held).
  std::size_t write_now(const std::string& frame) {
    OVERLAPPED ov{};
    ov.hEvent = quiet(direct_event_);
    DWORD n = 0;
    if (::WriteFile(pipe_.get(), frame.data(), static_cast<DWORD>(frame.size()), &n, &ov)) return n;
    if (::GetLastError() != ERROR_IO_PENDING) {
      write_broken_ = true;  // the reading side reports it
      return 0;
    }
    ::CancelIoEx(pipe_.get(), &ov);
    ::WaitForSingleObject(direct_event_.get(), INFINITE);  // the OVERLAPPED is ours again
    if (!::GetOverlappedResult(pipe_.get(), &ov, &n, FALSE) && ::GetLastError() != ERROR_OPERATION_ABORTED) {
      write_broken_ = true;
    }
    return n;
  }

  // The transport's thread: finishes the write in progress and starts the
  // next queued one, until one is pending or none is left.
  void service_writes() {
    std::lock_guard lock(write_mu_);
    for (;;) {
      if (io_write_pending_) {
        if (!HasOverlappedIoCompleted(&write_ov_)) return;
        DWORD n = 0;
        io_write_pending_ = false;
        if (!::GetOverlappedResult(pipe_.get(), &write_ov_, &n, FALSE)) write_broken_ = true;
        if (!write_broken_) {
          if (n < writes_.front().size()) {
            writes_.front().erase(0, n);
          } else {
            writes_.pop_front();
          }
        }
      }
      if (write_broken_ || closing_) writes_.clear();
      if (writes_.empty()) return;
      const std::string& front = writes_.front();  // std::deque keeps it in place while others queue
      write_ov_ = OVERLAPPED{};
      write_ov_.hEvent = quiet(write_event_);
      DWORD n = 0;
      if (::WriteFile(pipe_.get(), front.data(), static_cast<DWORD>(front.size()), &n, &write_ov_)) {
        if (n < front.size()) {
          writes_.front().erase(0, n);
        } else {
          writes_.pop_front();
        }
      } else if (::GetLastError() == ERROR_IO_PENDING) {
        io_write_pending_ = true;
      } else {
        write_broken_ = true;
      }
    }
  }

  // Cancels the transport's write in progress and waits for it (the end).
  void cancel_writes() {
    std::lock_guard lock(write_mu_);
    if (io_write_pending_) {
      ::CancelIoEx(pipe_.get(), &write_ov_);
      ::WaitForSingleObject(write_event_.get(), INFINITE);
      io_write_pending_ = false;
    }
    writes_.clear();
    io_done_ = true;
    if (closing_) {
      write_broken_ = true;
      pipe_.reset();  // the peer reads the end of the stream now
    }
  }

  // The next frame in the buffer: taken into frames_.payload() (frame), not
  // all here yet (more), or breaking the rules (bad: the end recorded).
  Parse next_frame() {
    switch (frames_.next()) {
      case wire::FrameReader::Next::frame:
        partial_since_ = frames_.empty() ? Clock::time_point{} : Clock::now();
        return Parse::frame;
      case wire::FrameReader::Next::bad: end_with(frames_.error(), true); return Parse::bad;
      case wire::FrameReader::Next::more: break;
    }
    return Parse::more;
  }

  // Whether a whole frame (or a header that breaks the rules) waits in the
  // buffer (reader role).
  bool frame_buffered() const { return frames_.frame_buffered(); }

  // When the frame begun in the buffer must be complete (max(): no limit).
  Clock::time_point frame_deadline() const {
    if (frame_timeout_.count() <= 0 || partial_since_ == Clock::time_point{}) return Clock::time_point::max();
    return partial_since_ + frame_timeout_;
  }

  // Starts a read into the buffer's free space (or a large frame's payload).
  // False when the stream ended (recorded).
  bool issue_read() {
    const wire::FrameReader::Space space = frames_.space();
    read_ov_ = OVERLAPPED{};
    read_ov_.hEvent = quiet(read_event_);
    DWORD n = 0;
    if (::ReadFile(pipe_.get(), space.data, static_cast<DWORD>(std::min<std::size_t>(space.size, 0x7FFFFFFF)),
                   &n, &read_ov_)) {
      took(n);
      return true;
    }
    const DWORD err = ::GetLastError();
    if (err != ERROR_IO_PENDING) {
      failed(err);
      return false;
    }
    read_pending_ = true;
    // close() may have cancelled what was pending just before this began.
    if (closing_) ::CancelIoEx(pipe_.get(), &read_ov_);
    return true;
  }

  // Takes the result of the pending read, which has completed (`cancel`:
  // cancels it first and waits for it). False when the stream ended.
  bool finish_read(bool cancel) {
    if (cancel) {
      ::CancelIoEx(pipe_.get(), &read_ov_);
      ::WaitForSingleObject(read_event_.get(), INFINITE);  // the buffer is ours again after this
    }
    read_pending_ = false;
    DWORD n = 0;
    if (::GetOverlappedResult(pipe_.get(), &read_ov_, &n, FALSE)) {
      took(n);
      return true;
    }
    const DWORD err = ::GetLastError();
    if (err == ERROR_OPERATION_ABORTED && !closing_) {
      took(n);  // what came before the cancel counts
      return true;
    }
    failed(err);
    return false;
  }

  void took(DWORD n) {
    if (n == 0) return;
    frames_.took(n);
    if (partial_since_ == Clock::time_point{}) partial_since_ = Clock::now();
  }

  void failed(DWORD err) {
    if (closing_) {
      end_with("the channel was closed", false);
    } else if (err == ERROR_BROKEN_PIPE || err == ERROR_HANDLE_EOF || err == ERROR_PIPE_NOT_CONNECTED ||
               err == ERROR_NO_DATA) {
      end_with("end of stream", false);
    } else {
      end_with(win::error_text(err), false);
    }
  }

  // Delivers what is buffered; then reads and delivers until `done` holds
  // after a frame (satisfied), `deadline` passes (timed_out), or the stream
  // ended. A caller's (reader role): waits for its own reads on this thread
  // and leaves none pending.
  Pull pull(bool (*done)(void*), void* context, Clock::time_point deadline) {
    for (;;) {
      if (ended_) return Pull::ended;
      const Parse p = next_frame();
      if (p == Parse::bad) return Pull::ended;
      if (p == Parse::frame) {
        if (deliver(done, context)) return Pull::satisfied;
        continue;
      }
      if (read_pending_) {  // the transport's thread's watch: take it over
        if (!finish_read(true)) return Pull::ended;
        continue;
      }
      if (closing_) {
        end_with("the channel was closed", false);
        return Pull::ended;
      }
      const Clock::time_point frame_by = frame_deadline();
      if (Clock::now() >= frame_by) {
        frame_late();
        return Pull::ended;
      }
      if (Clock::now() >= deadline) return Pull::timed_out;
      if (!issue_read()) return Pull::ended;
      if (!read_pending_) continue;  // completed at once
      const DWORD r = ::WaitForSingleObject(read_event_.get(), ms_until(std::min(deadline, frame_by)));
      if (!finish_read(r != WAIT_OBJECT_0)) return Pull::ended;
    }
  }

  // The transport's thread, holding the role: delivers what is buffered and
  // what has come, then leaves a read pending (watching) unless the stream
  // ended.
  Pull watch() {
    for (;;) {
      if (ended_) return Pull::ended;
      const Parse p = next_frame();
      if (p == Parse::bad) return Pull::ended;
      if (p == Parse::frame) {
        deliver(nullptr, nullptr);
        continue;
      }
      if (closing_) {
        if (read_pending_) finish_read(true);
        end_with("the channel was closed", false);
        return Pull::ended;
      }
      if (read_pending_) {
        if (HasOverlappedIoCompleted(&read_ov_)) {
          if (!finish_read(false)) return Pull::ended;
          continue;
        }
        if (Clock::now() < frame_deadline()) return Pull::watching;
        if (!finish_read(true)) return Pull::ended;
        if (frame_buffered()) continue;
        frame_late();
        return Pull::ended;
      }
      if (Clock::now() >= frame_deadline()) {
        frame_late();
        return Pull::ended;
      }
      if (!issue_read()) return Pull::ended;
    }
  }

  void frame_late() {
    end_with("a frame was not complete within " + std::to_string(frame_timeout_.count()) + " ms", false);
  }

  // Hands the payload to the receiver; whether `done` holds now.
  bool deliver(bool (*done)(void*), void* context) {
    receiver_->on_frame(frames_.payload());
    frames_.release_large_payload();
    return done && done(context);
  }

  // Records why the stream ended (the first reason wins; reader role).
  void end_with(const std::string& why, bool bad_frame) {
    if (ended_) return;
    ended_ = true;
    end_why_ = why;
    end_bad_ = bad_frame;
    std::lock_guard lock(mu_);
    end_found_ = true;
  }

  // `caller`: a caller read (its release starts the step-back time).
  void release_role(bool caller) {
    // Frames read behind a caller's own, and the end, are the transport's
    // thread's to deliver and report: wake it for them.
    const bool hand_over = ended_ || frame_buffered();
    bool others;
    bool wake;
    {
      std::lock_guard lock(mu_);
      reader_ = Reader::none;
      others = turned_away_;
      turned_away_ = false;
      if (caller) released_at_ = Clock::now();
      if (hand_over && caller) hand_over_ = true;
      wake = caller && (hand_over || thread_parked_);
      thread_parked_ = false;
    }
    if (wake) ::SetEvent(wake_.get());
    if (others) receiver_->on_reader_free();
  }

  // The transport's thread: writes what callers queued, watches the pipe
  // when no caller has read it for kStepBack, and reports the end.
  void run() {
    for (;;) {
      bool take = false;
      DWORD timeout = INFINITE;
      {
        std::lock_guard lock(mu_);
        if (end_found_ && reader_ == Reader::none) break;
        if (reader_ != Reader::none) {
          thread_parked_ = true;  // the caller's release wakes us
        } else {
          const auto since = Clock::now() - released_at_;
          if (hand_over_ || closing_ || end_found_ || since >= kStepBack) {
            reader_ = Reader::thread;
            hand_over_ = false;
            take = true;
          } else {
            timeout = static_cast<DWORD>(std::max<std::int64_t>(
                1, std::chrono::ceil<std::chrono::milliseconds>(kStepBack - since).count()));
          }
        }
      }
      bool watching = false;
      if (take) {
        watching = watch() == Pull::watching;
        if (watching) timeout = ms_until(frame_deadline());
        release_role(false);
        if (!watching) continue;  // the end: reported above
      }
      HANDLE handles[3] = {wake_.get(), nullptr, nullptr};
      DWORD count = 1;
      bool writing;
      {
        std::lock_guard lock(write_mu_);
        writing = io_write_pending_;
      }
      if (writing) handles[count++] = write_event_.get();
      if (watching) handles[count++] = read_event_.get();
      ::WaitForMultipleObjects(count, handles, FALSE, timeout);
      service_writes();
    }
    cancel_writes();
    receiver_->on_end(end_why_, end_bad_);
  }

  UniqueHandle pipe_;
  const std::chrono::milliseconds frame_timeout_;
  UniqueHandle read_event_;    // the reader role's reads
  UniqueHandle write_event_;   // the transport's thread's writes
  UniqueHandle direct_event_;  // callers' writes (write_mu_)
  UniqueHandle wake_;          // auto-reset: the transport's thread has something to do
  Receiver* receiver_ = nullptr;
  std::thread thread_;
  std::atomic<bool> closing_{false};

  std::mutex mu_;  // the reader role
  Reader reader_ = Reader::none;
  bool turned_away_ = false;    // a caller found the role taken
  bool end_found_ = false;      // the stream ended; the transport's thread reports it
  bool hand_over_ = false;      // the thread should take the role now
  bool thread_parked_ = false;  // the thread waits for a caller's release
  Clock::time_point released_at_{};

  // The holder of the reader role only.
  OVERLAPPED read_ov_{};
  bool read_pending_ = false;  // a read of the transport's thread (a caller's: never at release)
  wire::FrameReader frames_;
  Clock::time_point partial_since_{};  // when the frame begun in the buffer started
  bool ended_ = false;
  std::string end_why_;
  bool end_bad_ = false;

  std::mutex write_mu_;
  std::deque<std::string> writes_;  // for the transport's thread; the front may be in progress
  OVERLAPPED write_ov_{};           // the transport's thread's write
  bool io_write_pending_ = false;
  bool write_broken_ = false;
  bool io_done_ = false;  // the transport's thread ended: nothing queued is written
};

}  // namespace

std::unique_ptr<Transport> pipe_transport(void* pipe, PipeOptions options) {
  UniqueHandle owned(static_cast<HANDLE>(pipe));  // closed if the transport cannot be made
  return std::make_unique<PipeTransport>(std::move(owned), options);
}

}  // namespace dllbridge::rpc
