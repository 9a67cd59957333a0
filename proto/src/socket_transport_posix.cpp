// The transport over a Unix stream socket (POSIX), both ends.
//
// Reading: one thread at a time holds the reader role and reads the socket
// without blocking, delivering every complete frame to the receiver. A
// thread waiting for a reply (or, in the surrogate, for work) takes the role
// (read_until) when it is free, so what it waits for wakes no other thread
// first. The transport's own reading
// thread waits in epoll and reads when no caller does: requests of the
// surrogate that come when nobody waits, and the end of the stream, which
// it alone reports. While a caller reads, the socket's input is out of that
// epoll set, so the reply does not wake the reading thread too (only room
// to write, while frames other threads queued wait). It stays out
// while calls follow each other (no epoll_ctl per call): the reading thread
// then looks every kHandBack (1 ms) whether they stopped, and takes the
// socket back when a whole period passed without one ending (or when a
// call that held the role longer than that ends: its release wakes it).
//
// Low-latency mode: before it sleeps, a reading caller may poll for its
// reply for a while (the spin), which saves the wake-up when the reply
// comes within it. Whether to spin, and how long, is rpc::SpinAdvisor's
// call, from how long waits took with and without spinning (spinning
// loses where client and surrogate share one CPU: it only delays the other
// side).
//
// Writing: a caller writes its own frame without blocking; what the socket
// does not take at once is queued and finished by the reading thread, or by
// a reading caller that found it queued when its wait began, so a send never
// blocks on the surrogate. A reading caller waits on the socket alone.
#include "dllbridge/rpc/socket_transport.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include <system_error>

#include "dllbridge/rpc/fd_passing.hpp"
#include "dllbridge/rpc/spin_advisor.hpp"
#include "dllbridge/wire/frame_reader.hpp"

namespace dllbridge::rpc {
namespace {

using Clock = std::chrono::steady_clock;

// An owned file descriptor.
class OwnedFd {
 public:
  explicit OwnedFd(int fd = -1) : fd_(fd) {}
  ~OwnedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

class SocketTransport final : public Transport {
 public:
  SocketTransport(int fd, SocketOptions options)
      : low_latency_(options.low_latency),
        socket_(fd),
        fd_(fd),
        wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
        epoll_(::epoll_create1(EPOLL_CLOEXEC)),
        frames_(options.first_frame_cap) {
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.u32 = 1;
    epoll_event socket{};
    socket.events = EPOLLIN;
    socket.data.u32 = 0;
    if (wake_.get() < 0 || epoll_.get() < 0 ||
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &wake) != 0 ||
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd_, &socket) != 0) {
      throw std::system_error(errno, std::generic_category(), "cannot set up the channel's reading");
    }
    armed_ = EPOLLIN;
  }

  ~SocketTransport() override {
    close();
    if (thread_.joinable()) {
      if (thread_.get_id() == std::this_thread::get_id()) {
        thread_.detach();  // the receiver dropped us from inside on_end
      } else {
        thread_.join();
      }
    }
    std::lock_guard lock(fds_mu_);
    for (const int fd : passed_fds_) ::close(fd);
  }

  void start(Receiver& receiver) override {
    {
      std::lock_guard lock(mu_);
      receiver_ = &receiver;
    }
    thread_ = std::thread([this] { run(); });
  }

  bool pass_fd_with_next_send(int fd) override {
    const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return false;
    std::lock_guard lock(write_mu_);
    outgoing_fd_ = std::make_unique<OwnedFd>(dup);
    return true;
  }

  int take_passed_fd() override {
    std::lock_guard lock(fds_mu_);
    if (passed_fds_.empty()) return -1;
    const int fd = passed_fds_.front();
    passed_fds_.pop_front();
    return fd;
  }

  void send(std::string frame) override { send_impl(frame.data(), frame.size(), &frame); }

  void send_bytes(const char* data, std::size_t size) override { send_impl(data, size, nullptr); }

  void close() noexcept override {
    if (closing_.exchange(true)) return;
    // Sticky: every recv returns 0 from now on, and a poll on the socket
    // returns at once, so the reading thread reports the end.
    ::shutdown(fd_, SHUT_RDWR);
    wake();
  }

  CallerRead read_until(bool (*done)(void*), void* context, Clock::time_point deadline,
                        std::chrono::nanoseconds poll_for = std::chrono::nanoseconds::zero()) override {
    {
      std::lock_guard lock(mu_);
      if (reader_ != Reader::none || end_found_ || receiver_ == nullptr) {  // (not started: busy)
        turned_away_ = true;
        return CallerRead::busy;
      }
      reader_ = Reader::caller;
      arm(0);  // the reading thread sleeps through our reply
    }
    // What we wait for may have come through another reader just before we
    // took the role.
    if (done(context)) {
      release_role();
      return CallerRead::done;
    }
    CallerRead result = CallerRead::busy;
    // Low-latency mode: the advisor's plan for this wait, when the wait
    // began, and whether the frame came within the spin (after how long).
    SpinAdvisor::Plan plan;
    bool planned = false;
    bool hit = false;
    Clock::time_point wait_start;
    std::chrono::nanoseconds hit_after{0};
    bool polled = false;  // poll_for spent
    for (;;) {
      // The reply is rarely there yet: wait first, then read.
      const Clock::time_point now = Clock::now();
      const auto left = deadline - now;
      if (left <= Clock::duration::zero()) {
        result = CallerRead::timeout;
        break;
      }
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      Pull p = Pull::would_block;
      const bool ready = frame_buffered();
      if (!ready && !polled && poll_for > poll_for.zero()) {
        // A caller that expects its frame soon (its own hint, in place of
        // the advisor's plan in low-latency mode).
        polled = true;
        p = spin(poll_for, done, context, deadline, now, hit_after);
      }
      if (!ready && p == Pull::would_block && low_latency_ && !planned && !polled) {
        planned = true;
        plan = advisor_.next();
        wait_start = now;
        if (plan.spin) {
          p = spin(plan.budget, done, context, deadline, wait_start, hit_after);
          hit = p == Pull::satisfied;
        }
      }
      if (p == Pull::would_block) {
        if (!ready) wait_ready(static_cast<int>(std::min<std::int64_t>(ms, 1 << 30)));
        p = pull(done, context);
      }
      if (p == Pull::satisfied) {
        if (planned && plan.timed) advisor_.record(plan, Clock::now() - wait_start, hit, hit_after);
        result = CallerRead::done;
        break;
      }
      if (p == Pull::ended) break;  // the reading thread reports it
    }
    release_role();
    return result;
  }

 private:
  // While calls follow each other, the reading thread looks this often
  // whether they stopped (then it watches the socket again): what comes
  // when nobody reads (a request of the peer, the end) waits at most about
  // this long, and a call needs no epoll_ctl.
  static constexpr std::chrono::milliseconds kHandBack{1};
  enum class Reader { none, thread, caller };
  enum class Pull { satisfied, would_block, ended };

  // Low-latency mode: reads without sleeping for up to `budget` from
  // `start` (or the deadline). satisfied: the frame came, `hit_after` from
  // `start`; would_block: it has not come, sleep.
  Pull spin(std::chrono::nanoseconds budget, bool (*done)(void*), void* context, Clock::time_point deadline,
            Clock::time_point start, std::chrono::nanoseconds& hit_after) {
    const Clock::time_point until = std::min(start + budget, deadline);
    for (;;) {
      const Pull p = pull(done, context);
      const Clock::time_point now = Clock::now();
      if (p == Pull::satisfied) hit_after = now - start;
      if (p != Pull::would_block || now >= until) return p;
    }
  }

  // Writes `data` now as far as the socket takes it and queues the rest (a
  // copy, unless `owned` holds the frame and may be taken).
  void send_impl(const char* data, std::size_t size, std::string* owned) {
    std::lock_guard lock(write_mu_);
    if (closing_ || write_broken_) return;
    std::size_t done = 0;
    if (outgoing_fd_ && writes_.empty() && size != 0) {
      // The descriptor goes with the frame's first byte; that one write blocks
      // briefly if it must (the Hello: nothing is queued before it).
      done = write_with_fd(data, size, outgoing_fd_->get());
      outgoing_fd_.reset();
      if (done == size || write_broken_) return;
    }
    if (writes_.empty() && done < size) {
      done += write_some(data + done, size - done);
      if (done == size || write_broken_) return;
    }
    if (owned != nullptr) {
      if (done > 0) owned->erase(0, done);
      writes_.push_back(std::move(*owned));
    } else {
      writes_.emplace_back(data + done, size - done);
    }
    pending_writes_ = true;
    wake();  // the reading thread moves it on, even while a caller reads
  }

  // Writes at least the first byte of `data` with descriptor `fd` attached
  // (SCM_RIGHTS); how much was written. Marks the stream broken on an error.
  std::size_t write_with_fd(const char* data, std::size_t size, int fd) {
    for (;;) {
      const ssize_t n = rpc::send_with_fd(fd_, data, size, fd);
      if (n > 0) return static_cast<std::size_t>(n);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, 1000) > 0) continue;
      }
      write_broken_ = true;
      return 0;
    }
  }

  // Writes what the socket takes now; marks the stream broken on an error.
  std::size_t write_some(const char* data, std::size_t size) {
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::send(fd_, data + done, size - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) write_broken_ = true;  // reads report it
        break;
      }
    }
    return done;
  }

  // The reader's part of writing: moves queued frames on as the socket takes them.
  void flush_writes() {
    std::lock_guard lock(write_mu_);
    while (!writes_.empty() && !write_broken_) {
      std::string& front = writes_.front();
      const std::size_t n = write_some(front.data(), front.size());
      if (n < front.size()) {
        front.erase(0, n);
        break;
      }
      writes_.pop_front();
    }
    if (write_broken_) writes_.clear();
    pending_writes_ = !writes_.empty();
  }

  void wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
  }

  // A reading caller's wait: until the socket has data (or its end, which
  // close() brings about with shutdown), or takes the writes queued when the
  // wait began; up to `timeout_ms` (-1: no limit). The socket alone: writes
  // queued during the wait are the reading thread's to move on (wake()).
  void wait_ready(int timeout_ms) {
    pollfd socket{fd_, static_cast<short>(POLLIN | (pending_writes_ ? POLLOUT : 0)), 0};
    if (::poll(&socket, 1, timeout_ms) > 0 && (socket.revents & POLLOUT)) flush_writes();
  }

  // Reads what has arrived and delivers each complete frame, until `done`
  // holds after one, nothing more can be read now, or the stream ended.
  // Only the holder of the reader role calls it.
  Pull pull(bool (*done)(void*), void* context) {
    if (pending_writes_) flush_writes();
    for (;;) {
      if (ended_) return Pull::ended;
      switch (frames_.next()) {
        case wire::FrameReader::Next::frame:
          if (deliver(done, context)) return Pull::satisfied;
          continue;
        case wire::FrameReader::Next::bad: end_with(frames_.error(), true); return Pull::ended;
        case wire::FrameReader::Next::more: break;
      }
      const wire::FrameReader::Space space = frames_.space();
      const ssize_t n = receive(space.data, space.size);
      if (n > 0) {
        frames_.took(static_cast<std::size_t>(n));
        continue;
      }
      return n == 0 ? Pull::ended : Pull::would_block;
    }
  }

  // Whether a whole frame (or a header that breaks the rules) waits in the
  // buffer: then there is work before there is anything to wait for.
  bool frame_buffered() const { return frames_.frame_buffered(); }

  // recv without blocking: > 0 bytes read, 0 at the end of the stream (the
  // reason recorded), -1 when nothing is there now.
  ssize_t receive(char* dst, std::size_t size) {
    for (;;) {
      const ssize_t n = receive_with_fds(
          fd_, dst, size, MSG_DONTWAIT,
          [](void* self, int fd) { static_cast<SocketTransport*>(self)->keep(fd); }, this);
      if (n > 0) return n;
      if (n == 0) {
        end_with(closing_ ? "the channel was closed" : "end of stream", false);
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
      end_with(closing_ ? "the channel was closed" : std::strerror(errno), false);
      return 0;
    }
  }

  // Keeps a descriptor the peer passed (SCM_RIGHTS) for take_passed_fd.
  void keep(int fd) {
    std::lock_guard lock(fds_mu_);
    if (passed_fds_.size() < kMaxPassedFds) {
      passed_fds_.push_back(fd);
    } else {
      ::close(fd);  // a peer that floods us with descriptors gets none kept
    }
  }

  // Hands the payload to the receiver; whether `done` holds now.
  bool deliver(bool (*done)(void*), void* context) {
    receiver_->on_frame(frames_.payload());
    frames_.release_large_payload();  // no 64 MiB kept for good
    return done && done(context);
  }

  // Records why the stream ended (the first reason wins). For a bad frame,
  // the socket's reading side is shut so the reading thread wakes to report
  // it; the writing side stays open to say why.
  void end_with(const std::string& why, bool bad_frame) {
    if (ended_) return;
    ended_ = true;
    end_why_ = why;
    end_bad_ = bad_frame;
    if (bad_frame) ::shutdown(fd_, SHUT_RD);
    std::lock_guard lock(mu_);
    end_found_ = true;
  }

  // Which events of the socket wake the reading thread (mu_ held): while a
  // caller reads, none, or EPOLLOUT while writes are queued; otherwise
  // EPOLLIN, and EPOLLOUT while writes are queued. Level-triggered: what is
  // pending when armed wakes it at once (and a hang-up always does).
  void arm(std::uint32_t events) {
    if (events == armed_) return;
    epoll_event e{};
    e.events = events;
    e.data.u32 = 0;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd_, &e);
    armed_ = events;
  }

  // A caller gives the reader role back. The socket's input stays out of the
  // reading thread's set: while calls follow each other, the callers read it
  // and the thread only looks every kHandBack (no epoll_ctl per call). A
  // thread that sleeps without a limit and without the socket's input is
  // woken to take it back.
  void release_role() {
    // Frames read behind the caller's own are the reading thread's to
    // deliver now (the socket will not wake it for them).
    const bool leftover = frame_buffered();
    bool need_wake = leftover;
    bool others;
    {
      std::lock_guard lock(mu_);
      reader_ = Reader::none;
      if (leftover) look_ = true;
      ++releases_;
      others = turned_away_;
      turned_away_ = false;
      if (pending_writes_) {
        arm(EPOLLIN | EPOLLOUT);  // the thread finishes them
      } else {
        // Room to write, armed by the thread for writes this caller has
        // finished since (a send may succeed before the socket would say
        // it has room): nothing to wait for any more.
        if (armed_ == EPOLLOUT) arm(0);
        if (armed_ == 0 && thread_wait_ == ThreadWait::unlimited) {
          hand_back_ = true;  // it wakes, looks, and goes on looking every kHandBack
          need_wake = true;
        }
      }
      if (end_found_) need_wake = true;  // the thread reports the end
    }
    if (need_wake) wake();
    if (others) receiver_->on_reader_free();
  }

  // The reading thread gives the role back: it watches the socket again
  // (epoll) unless a caller's release just handed it over while calls
  // follow each other (then it looks again after kHandBack).
  void thread_release_role() {
    bool others;
    {
      std::lock_guard lock(mu_);
      reader_ = Reader::none;
      others = turned_away_;
      turned_away_ = false;
      if (hand_back_ && !pending_writes_) {
        thread_wait_ = ThreadWait::period;
      } else {
        arm(EPOLLIN | (pending_writes_ ? EPOLLOUT : 0u));
        thread_wait_ = ThreadWait::unlimited;
      }
      hand_back_ = false;
      seen_releases_ = releases_;
    }
    if (others) receiver_->on_reader_free();
  }

  // The transport's reading thread: reads whenever no caller does, and
  // reports the end of the stream.
  void run() {
    for (;;) {
      int timeout_ms;
      {
        std::lock_guard lock(mu_);
        timeout_ms = thread_wait_ == ThreadWait::period ? static_cast<int>(kHandBack.count()) : -1;
      }
      epoll_event events[2];
      const int n = ::epoll_wait(epoll_.get(), events, 2, timeout_ms);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u32 == 1) {
          std::uint64_t count;
          [[maybe_unused]] const ssize_t r = ::read(wake_.get(), &count, sizeof count);
        }
      }
      enum class Next { wait, write, read } next = Next::wait;
      {
        std::lock_guard lock(mu_);
        const bool calls_ended = releases_ != seen_releases_;
        seen_releases_ = releases_;
        if (reader_ != Reader::none) {
          // A caller reads (the socket is out of our set). Look again after
          // kHandBack, unless it held the role that whole time (a long
          // call): then its release wakes us.
          thread_wait_ = n == 0 && !calls_ended ? ThreadWait::unlimited : ThreadWait::period;
          hand_back_ = false;
          // Writes queued while it waits are ours to move on: it polls only
          // for those it found queued when its wait began.
          if (pending_writes_) {
            next = Next::write;
          } else if (armed_ == EPOLLOUT) {
            arm(0);
          }
        } else {
          const bool work = look_ || end_found_ || pending_writes_ || closing_;
          if (!work && ((n == 0 && calls_ended) || (n > 0 && hand_back_))) {
            // Calls follow each other: they read, and a frame that comes
            // between them waits for the next one or our next look.
            thread_wait_ = ThreadWait::period;
            hand_back_ = false;
          } else {
            look_ = false;
            reader_ = Reader::thread;
            thread_wait_ = ThreadWait::running;
            next = Next::read;
          }
        }
      }
      if (next == Next::write) {
        flush_writes();
        std::lock_guard lock(mu_);
        // What the socket did not take yet wakes us when it can take more.
        if (reader_ == Reader::caller) arm(pending_writes_ ? EPOLLOUT : 0u);
      }
      if (next != Next::read) continue;
      const Pull p = pull(nullptr, nullptr);
      thread_release_role();
      if (p == Pull::ended) break;
    }
    receiver_->on_end(end_why_, end_bad_);
  }

  const bool low_latency_;
  SpinAdvisor advisor_;  // the holder of the reader role only (low-latency mode)

  OwnedFd socket_;
  const int fd_;
  OwnedFd wake_;  // eventfd: the reading thread's doorbell (writes queued, a release, closing)
  OwnedFd
      epoll_;  // the reading thread's: wake_, and the socket (only its room to write while a caller reads)
  Receiver* receiver_ = nullptr;
  std::thread thread_;
  std::atomic<bool> closing_{false};

  std::mutex mu_;  // the reader role
  Reader reader_ = Reader::none;
  std::uint32_t armed_ = 0;  // the socket's events in epoll_
  // How the reading thread waits: without a limit (the socket's input in its
  // set, or a caller holds the role and its release wakes it), or looking
  // every kHandBack while calls follow each other (the input out of its set).
  enum class ThreadWait { running, unlimited, period };
  ThreadWait thread_wait_ = ThreadWait::unlimited;
  std::uint64_t releases_ = 0;       // callers' releases of the role so far
  std::uint64_t seen_releases_ = 0;  // releases_ when the thread last looked
  bool hand_back_ = false;           // a release woke the thread to look every kHandBack
  bool look_ = false;                // a release left whole frames in the buffer for the thread
  bool turned_away_ = false;         // a caller found the role taken
  bool end_found_ = false;           // the stream ended; the reading thread reports it

  // The holder of the reader role only.
  wire::FrameReader frames_;  // the frames in what was read
  bool ended_ = false;
  std::string end_why_;
  bool end_bad_ = false;

  static constexpr std::size_t kMaxPassedFds = 4;
  std::mutex fds_mu_;
  std::deque<int> passed_fds_;            // descriptors the peer passed, not taken yet (fds_mu_)
  std::unique_ptr<OwnedFd> outgoing_fd_;  // goes with the next frame sent (write_mu_)

  std::mutex write_mu_;
  std::deque<std::string> writes_;  // what the socket did not take yet (write_mu_)
  bool write_broken_ = false;       // write_mu_
  std::atomic<bool> pending_writes_{false};
};

}  // namespace

std::unique_ptr<Transport> socket_transport(int fd, SocketOptions options) {
  return std::make_unique<SocketTransport>(fd, options);
}

}  // namespace dllbridge::rpc
