// Frames through shared memory (Linux), both ends.
//
// The memory: one memfd the client creates, sealed against shrinking and
// passed to the surrogate over their socket (SCM_RIGHTS) before anything
// else. It holds a header page and two rings of bytes, one per direction.
// A ring carries the same byte stream a socket would (frames as
// wire::encode_frame makes them), so reading it is wire::FrameReader's work
// as it is for a socket. Positions are byte counts modulo 2^32; the
// capacity divides that. Only the client writes the first ring and only
// the surrogate the second; each side checks what the other wrote (a
// position that runs ahead of the capacity ends the channel as a bad frame:
// a library in the surrogate may scribble over any memory it can reach).
//
// Waking: each side has a bell in the header, a futex word that whatever
// should wake that side bumps: the peer after it wrote bytes for it, or
// made room where it waits to write; and its own threads (close(), the
// peer's end, a release of the reader role). A side's threads announce
// that they sleep on it (`sleepers`), so a writer makes the futex call only
// when somebody sleeps. Every position, bell and sleeper count is
// sequentially consistent: a sleeper announces itself, then checks; a
// writer publishes, then looks for sleepers; one of them sees the other.
//
// Reading: as in the socket transport (socket_transport_posix.cpp), one
// thread at a time holds the reader role: a thread waiting for its reply
// (or, in the surrogate, for work) reads the ring itself, and sleeps on the
// bell when nothing is there; the transport's own thread reads when no
// caller does. While calls follow each other, that thread does not sleep on
// the bell (it would wake with every reply): it looks every kHandBack
// instead, and sleeps on the bell again once a whole period passed without
// a call ending.
//
// Writing: a frame goes into the ring as far as there is room; the rest is
// queued and moved on by whoever holds the reader role when the peer makes
// room (its bell rings), so a send never waits for the peer.
//
// The socket: descriptors (pass_fd_with_next_send) go over it, each with
// the stream position where its frame begins, before that frame enters the
// ring: they are there when the frame is read, and none is taken before
// its frame was delivered. And it tells the end: a process that dies closes
// it, close() shuts it down, and a watching thread of each side (poll for
// the hang-up) then wakes that side. What the peer wrote before it went is
// still read first.
#include "dllbridge/rpc/ring_transport.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "dllbridge/rpc/fd_passing.hpp"
#include "dllbridge/rpc/socket_transport.hpp"
#include "dllbridge/rpc/spin_advisor.hpp"
#include "dllbridge/wire/frame_reader.hpp"

#if defined(__SANITIZE_THREAD__)
#  define DLLBRIDGE_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define DLLBRIDGE_TSAN 1
#  endif
#endif
#if defined(DLLBRIDGE_TSAN)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace dllbridge::rpc {
namespace {

// Both ends in one process (the tests) map the rings at two addresses, so
// ThreadSanitizer cannot see the order a published position gives to what
// was written before it. It is told, on one object per direction.
#if defined(DLLBRIDGE_TSAN)
char tsan_ring_order[2];
void tsan_published(int ring) { __tsan_release(&tsan_ring_order[ring]); }
void tsan_seen(int ring) { __tsan_acquire(&tsan_ring_order[ring]); }
#else
void tsan_published(int) {}
void tsan_seen(int) {}
#endif

using Clock = std::chrono::steady_clock;
constexpr auto kSeq = std::memory_order_seq_cst;

constexpr std::uint32_t kMagic = 0x52424c44;  // "DLBR"
constexpr std::uint32_t kLayoutVersion = 1;
// Bytes per direction: a call's frames fit many times over; a larger frame
// streams through.
constexpr std::uint32_t kCapacity = 256 * 1024;
static_assert((kCapacity & (kCapacity - 1)) == 0, "positions wrap at 2^32: the capacity must divide it");
constexpr std::size_t kHeaderSize = 4096;
constexpr std::size_t kMappingSize = kHeaderSize + 2 * std::size_t{kCapacity};

// What the client sends first over the socket.
constexpr char kOfferRings = 'R';         // with the memfd
constexpr char kOfferNothing = 'S';       // no rings: frames go over the socket
constexpr char kPassedFd = 'F';           // later: a descriptor, then the stream position of its frame
constexpr std::size_t kPassedRecord = 9;  // the byte, the position (64 bits: no wrap)

// One direction's positions, each written by one side only.
struct alignas(64) RingIndex {
  std::atomic<std::uint32_t> head;  // bytes written so far (the producer's)
  char pad0[60];
  std::atomic<std::uint32_t> tail;       // bytes read so far (the consumer's)
  std::atomic<std::uint32_t> want_room;  // the producer waits for room: ring its bell, then clear
  char pad1[56];
};

// What wakes one side.
struct alignas(64) Bell {
  std::atomic<std::uint32_t> word;      // a futex; bumped by whatever should wake the side
  std::atomic<std::uint32_t> sleepers;  // the side's threads asleep on it (or about to be)
  char pad[56];
};

// The header page; the same layout in 32- and 64-bit processes.
struct Header {
  std::uint32_t magic;
  std::uint32_t version;
  std::uint32_t capacity;
  std::uint32_t header_size;
  char pad[48];
  RingIndex ring[2];  // [0]: client -> surrogate; [1]: surrogate -> client
  Bell bell[2];       // [0]: the client's; [1]: the surrogate's
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "the futex words must be plain words");
static_assert(sizeof(RingIndex) == 128 && sizeof(Bell) == 64, "one layout for 32- and 64-bit processes");
static_assert(offsetof(Header, ring) == 64 && offsetof(Header, bell) == 320 && sizeof(Header) <= kHeaderSize);

static_assert(sizeof(time_t) == sizeof(long), "SYS_futex takes the kernel's timespec of this ABI");

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value, const timespec* at) noexcept {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, at, nullptr,
                   FUTEX_BITSET_MATCH_ANY);
}

// Sleeps while `*word` is `expected`, until `deadline` (time_point::max():
// none); `shared`: woken from another process. False when the deadline passed.
bool futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, Clock::time_point deadline,
                bool shared) noexcept {
  const int op = FUTEX_WAIT_BITSET | (shared ? 0 : FUTEX_PRIVATE_FLAG);
  if (deadline == Clock::time_point::max())
    return futex(word, op, expected, nullptr) == 0 || errno != ETIMEDOUT;
  // steady_clock is CLOCK_MONOTONIC, which FUTEX_WAIT_BITSET takes as an
  // absolute time: no clock read for the wait.
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
  timespec at{};
  at.tv_sec = static_cast<time_t>(ns / 1000000000);
  at.tv_nsec = static_cast<long>(ns % 1000000000);
  return futex(word, op, expected, &at) == 0 || errno != ETIMEDOUT;
}

void futex_wake(std::atomic<std::uint32_t>* word, bool shared) noexcept {
  futex(word, (shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE), INT_MAX, nullptr);
}

// Wakes the side that sleeps on `bell`.
void ring_bell(Bell& bell) noexcept {
  bell.word.fetch_add(1, kSeq);
  if (bell.sleepers.load(kSeq) != 0) futex_wake(&bell.word, true);
}

// Wakes this side's own sleepers on `bell`: unconditionally, since the
// count of sleepers is in memory the peer can overwrite.
void wake_own(Bell& bell) noexcept {
  bell.word.fetch_add(1, kSeq);
  futex_wake(&bell.word, true);
}

void pause() noexcept {
#if defined(__i386__) || defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

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
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// The mapped memory.
class Mapping {
 public:
  Mapping() = default;
  explicit Mapping(void* base) : base_(base) {}
  ~Mapping() {
    if (base_ != nullptr) ::munmap(base_, kMappingSize);
  }
  Mapping(Mapping&& other) noexcept : base_(std::exchange(other.base_, nullptr)) {}
  Mapping& operator=(Mapping&& other) noexcept {
    std::swap(base_, other.base_);
    return *this;
  }
  Header* header() const { return static_cast<Header*>(base_); }
  char* data(int ring) const {
    return static_cast<char*>(base_) + kHeaderSize + std::size_t{kCapacity} * ring;
  }

 private:
  void* base_ = nullptr;
};

// Maps the memfd `fd`; nullptr-based Mapping (errno set) on failure.
Mapping map_rings(int fd) {
  void* p = ::mmap(nullptr, kMappingSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return Mapping(p == MAP_FAILED ? nullptr : p);
}

class RingTransport final : public Transport {
 public:
  // `side`: 0 the client, 1 the surrogate.
  RingTransport(int fd, Mapping mapping, int side, RingOptions options)
      : low_latency_(options.low_latency),
        side_(side),
        socket_(fd),
        fd_(fd),
        mapping_(std::move(mapping)),
        out_(&mapping_.header()->ring[side]),
        in_(&mapping_.header()->ring[1 - side]),
        out_data_(mapping_.data(side)),
        in_data_(mapping_.data(1 - side)),
        my_bell_(&mapping_.header()->bell[side]),
        peer_bell_(&mapping_.header()->bell[1 - side]),
        in_tail_(0),
        frames_(options.first_frame_cap),
        out_head_(0) {}

  ~RingTransport() override {
    close();
    for (std::thread* t : {&thread_, &watcher_}) {
      if (!t->joinable()) continue;
      if (t->get_id() == std::this_thread::get_id()) {
        t->detach();  // the receiver dropped us from inside on_end
      } else {
        t->join();
      }
    }
    std::lock_guard lock(fds_mu_);
    for (const PassedFd& p : passed_fds_) ::close(p.fd);
  }

  void start(Receiver& receiver) override {
    {
      std::lock_guard lock(mu_);
      receiver_ = &receiver;
    }
    watcher_ = std::thread([this] { watch(); });
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
    // A descriptor went over the socket before its frame entered the ring,
    // tagged with where in the stream that frame begins: it is taken once
    // that frame was delivered.
    const std::uint64_t delivered = delivered_end_.load(std::memory_order_acquire);
    std::lock_guard lock(fds_mu_);
    receive_passed_fds();
    if (passed_fds_.empty() || passed_fds_.front().at >= delivered) return -1;
    const int fd = passed_fds_.front().fd;
    passed_fds_.pop_front();
    return fd;
  }

  void send(std::string frame) override { send_impl(frame.data(), frame.size(), &frame); }

  void send_bytes(const char* data, std::size_t size) override { send_impl(data, size, nullptr); }

  void close() noexcept override {
    if (closing_.exchange(true)) return;
    // The peer's watching thread sees the hang-up, and so does ours.
    ::shutdown(fd_, SHUT_RDWR);
    wake_own(*my_bell_);
    wake_thread();
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
    }
    CallerRead result = CallerRead::busy;
    if (done(context)) {
      // What we wait for came through another reader just before we took the role.
      release_role();
      return CallerRead::done;
    }
    // Low-latency mode: the advisor's plan for this wait, when the wait
    // began, and whether the frame came within the spin (after how long).
    SpinAdvisor::Plan plan;
    bool planned = false;
    bool hit = false;
    Clock::time_point wait_start;
    std::chrono::nanoseconds hit_after{0};
    bool polled = false;  // poll_for spent
    bool in_time = true;
    for (;;) {
      // Reading the ring costs no system call: read first, then wait.
      Pull p = pull(done, context);
      if (p == Pull::would_block && !planned && !polled && poll_for > poll_for.zero()) {
        // A caller that expects its frame soon (its own hint, in place of
        // the advisor's plan in low-latency mode).
        polled = true;
        p = spin(poll_for, done, context, deadline, Clock::now(), hit_after);
      }
      if (p == Pull::would_block && low_latency_ && !planned && !polled) {
        planned = true;
        plan = advisor_.next();
        if (plan.timed) wait_start = Clock::now();  // (a spin is always timed)
        if (plan.spin) {
          p = spin(plan.budget, done, context, deadline, wait_start, hit_after);
          hit = p == Pull::satisfied;
        }
      }
      if (p == Pull::satisfied) {
        if (planned && plan.timed) advisor_.record(plan, Clock::now() - wait_start, hit, hit_after);
        result = CallerRead::done;
        break;
      }
      if (p == Pull::ended) break;  // the reading thread reports it
      if (!in_time) {
        result = CallerRead::timeout;
        break;
      }
      in_time = sleep_on_bell(deadline);
    }
    release_role();
    return result;
  }

 private:
  // While calls follow each other, the reading thread looks this often
  // whether they stopped (then it sleeps on the bell again): what comes
  // when nobody reads (a request of the peer) waits at most about this
  // long, and the thread is not woken by every reply.
  static constexpr std::chrono::milliseconds kHandBack{1};
  // The longest the reading thread sleeps on the bell before it looks anyway.
  static constexpr std::chrono::seconds kBellLook{1};
  enum class Reader { none, thread, caller };
  enum class Pull { satisfied, would_block, ended };
  // How the reading thread waits: on the bell (nobody reads), on the bell
  // for room only (a caller reads, writes are queued), on its own
  // word without a limit (a caller holds the role and its release wakes
  // it), or on its own word for kHandBack while calls follow each other.
  enum class ThreadWait { running, bell, room, own, period };
  // Where the reading thread sleeps now (for wake_thread).
  enum ThreadPlace : std::uint32_t { kAwake, kOnOwnWord, kOnBell };

  // Low-latency mode: reads without sleeping for up to `budget` from
  // `start` (or the deadline). satisfied: the frame came, `hit_after` from
  // `start`; would_block: it has not come, sleep.
  Pull spin(std::chrono::nanoseconds budget, bool (*done)(void*), void* context, Clock::time_point deadline,
            Clock::time_point start, std::chrono::nanoseconds& hit_after) {
    const Clock::time_point until = std::min(start + budget, deadline);
    for (;;) {
      for (int i = 0; i < 64 && !input_waiting(); ++i) pause();
      const Pull p = pull(done, context);
      const Clock::time_point now = Clock::now();
      if (p == Pull::satisfied) hit_after = now - start;
      if (p != Pull::would_block || now >= until) return p;
    }
  }

  // Whether the peer wrote bytes the reader has not taken (any thread).
  // Against our own copies of our positions: the peer can overwrite the
  // shared ones, and a check that stays true would never let us sleep.
  bool input_waiting() const { return in_->head.load(kSeq) != in_read_.load(kSeq); }

  // Whether the queued writes could move on now.
  bool room_for_writes() const {
    return pending_writes_.load(kSeq) && out_written_.load(kSeq) - out_->tail.load(kSeq) < kCapacity;
  }

  // Whether a sleeper of this side has something to look at.
  bool something_new() const {
    return input_waiting() || closing_.load(kSeq) || peer_gone_.load(kSeq) || corrupt_.load(kSeq) ||
           room_for_writes();
  }

  // A reading caller's sleep: until the bell rings (or something new is
  // there already) or `deadline`. False when the deadline passed.
  bool sleep_on_bell(Clock::time_point deadline) {
    my_bell_->sleepers.fetch_add(1, kSeq);
    const std::uint32_t seen = my_bell_->word.load(kSeq);
    bool in_time;
    if (!something_new()) {
      // A wait without a deadline looks again now and then: the bell is in
      // memory the peer can overwrite (a sleeper count set to 0 would stop
      // its wake-ups).
      in_time = deadline == Clock::time_point::max()
                    ? (futex_wait(&my_bell_->word, seen, Clock::now() + kBellLook, true), true)
                    : futex_wait(&my_bell_->word, seen, deadline, true);
    } else {
      // (Nothing read: the deadline must still end a wait that never sleeps.)
      in_time = deadline == Clock::time_point::max() || Clock::now() < deadline;
    }
    my_bell_->sleepers.fetch_sub(1, kSeq);
    return in_time;
  }

  // Writes `data`: into the ring as far as it has room, the rest queued (a
  // copy, unless `owned` holds the frame and may be taken).
  void send_impl(const char* data, std::size_t size, std::string* owned) {
    std::lock_guard lock(write_mu_);
    if (closing_ || write_broken_) return;
    if (outgoing_fd_) {
      // Before the frame: it is there when the frame is read.
      pass_fd(outgoing_fd_->get(), out_total_ + queued_bytes_);
      outgoing_fd_.reset();
    }
    std::size_t done = 0;
    const bool already_pending = !writes_.empty();  // the thread was told then
    if (!already_pending) {
      done = put(data, size);
      if (done == size || write_broken_) return;
    }
    if (owned != nullptr) {
      writes_.push_back(std::move(*owned));
      if (writes_.size() == 1) front_done_ = done;
    } else {
      writes_.emplace_back(data + done, size - done);
    }
    queued_bytes_ += size - done;
    pending_writes_.store(true, kSeq);
    out_->want_room.store(1, kSeq);
    flush_locked();  // room may have come before the peer saw the flag
    if (!already_pending && pending_writes_.load(kSeq)) wake_thread();  // someone must wait for room
  }

  // Sends descriptor `fd` over the socket with the stream position `at` of
  // the frame it goes with (briefly blocking if it must; one that cannot go
  // is dropped: the receiver finds none).
  void pass_fd(int fd, std::uint64_t at) {
    unsigned char record[kPassedRecord];
    record[0] = static_cast<unsigned char>(kPassedFd);
    std::memcpy(record + 1, &at, sizeof at);
    for (;;) {
      const ssize_t n = rpc::send_with_fd(fd_, record, sizeof record, fd, MSG_DONTWAIT);
      if (n > 0) return;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, 1000) > 0) continue;
      }
      return;
    }
  }

  // Copies as much of `data` into the ring as it has room for and tells the
  // peer; how much (write_mu_ held).
  std::size_t put(const char* data, std::size_t size) {
    const std::uint32_t used = out_head_ - out_->tail.load(kSeq);
    if (used > kCapacity) {
      broken("the surrogate's side of the shared frame ring was overwritten (its read position is wrong)");
      return 0;
    }
    const std::size_t n = std::min<std::size_t>(size, kCapacity - used);
    if (n == 0) return 0;
    const std::uint32_t at = out_head_ & (kCapacity - 1);
    const std::size_t first = std::min<std::size_t>(n, kCapacity - at);
    std::memcpy(out_data_ + at, data, first);
    std::memcpy(out_data_, data + first, n - first);
    out_head_ += static_cast<std::uint32_t>(n);
    out_total_ += n;
    out_written_.store(out_head_, kSeq);
    tsan_published(side_);
    out_->head.store(out_head_, kSeq);
    ring_bell(*peer_bell_);
    return n;
  }

  // Moves queued writes on as far as the ring has room (write_mu_ held).
  void flush_locked() {
    while (!writes_.empty() && !write_broken_) {
      const std::string& front = writes_.front();
      const std::size_t n = put(front.data() + front_done_, front.size() - front_done_);
      front_done_ += n;
      queued_bytes_ -= n;
      if (front_done_ < front.size()) break;
      writes_.pop_front();
      front_done_ = 0;
    }
    if (write_broken_) {
      writes_.clear();
      queued_bytes_ = 0;
    }
    const bool pending = !writes_.empty();
    if (pending) out_->want_room.store(1, kSeq);
    pending_writes_.store(pending, kSeq);
  }

  void flush_writes() {
    std::lock_guard lock(write_mu_);
    flush_locked();
  }

  // The peer broke the shared memory's rules: the channel ends as for a bad frame.
  void broken(const char* why) {
    write_broken_ = true;
    {
      std::lock_guard lock(corrupt_mu_);
      if (corrupt_why_.empty()) corrupt_why_ = why;
    }
    corrupt_.store(true, kSeq);
    wake_own(*my_bell_);
    wake_thread();
  }

  // Copies what the peer wrote (up to `size`) to `dst`; how much, or -1 when
  // its write position is impossible. The holder of the reader role only.
  long take(char* dst, std::size_t size) {
    const std::uint32_t avail = in_->head.load(kSeq) - in_tail_;
    if (avail > kCapacity) return -1;
    const std::size_t n = std::min<std::size_t>(size, avail);
    if (n == 0) return 0;
    tsan_seen(1 - side_);
    const std::uint32_t at = in_tail_ & (kCapacity - 1);
    const std::size_t first = std::min<std::size_t>(n, kCapacity - at);
    std::memcpy(dst, in_data_ + at, first);
    std::memcpy(dst + first, in_data_, n - first);
    in_tail_ += static_cast<std::uint32_t>(n);
    in_total_ += n;
    in_read_.store(in_tail_, kSeq);
    in_->tail.store(in_tail_, kSeq);
    if (in_->want_room.load(kSeq) != 0 && in_->want_room.exchange(0, kSeq) != 0) ring_bell(*peer_bell_);
    return static_cast<long>(n);
  }

  // Reads what has arrived and delivers each complete frame, until `done`
  // holds after one, nothing more is there now, or the stream ended. Only
  // the holder of the reader role calls it.
  Pull pull(bool (*done)(void*), void* context) {
    if (pending_writes_.load(std::memory_order_relaxed)) flush_writes();
    for (;;) {
      if (ended_) return Pull::ended;
      switch (frames_.next()) {
        case wire::FrameReader::Next::frame:
          if (deliver(done, context)) return Pull::satisfied;
          continue;
        case wire::FrameReader::Next::bad: end_with(frames_.error(), true); return Pull::ended;
        case wire::FrameReader::Next::more: break;
      }
      // Read before the ring: what the peer wrote before it went is still read.
      const bool gone = peer_gone_.load(kSeq);
      if (corrupt_.load(kSeq)) {
        std::lock_guard lock(corrupt_mu_);
        end_with(corrupt_why_, true);
        return Pull::ended;
      }
      if (closing_.load(kSeq)) {
        end_with("the channel was closed", false);
        return Pull::ended;
      }
      const wire::FrameReader::Space space = frames_.space();
      const long n = take(space.data, space.size);
      if (n < 0) {
        end_with("the peer's side of the shared frame ring was overwritten (its write position is wrong)",
                 true);
        return Pull::ended;
      }
      if (n > 0) {
        frames_.took(static_cast<std::size_t>(n));
        continue;
      }
      if (gone) {
        end_with("end of stream", false);
        return Pull::ended;
      }
      return Pull::would_block;
    }
  }

  // Reads the descriptors the peer passed so far (each with the stream
  // position of its frame) into passed_fds_ (fds_mu_ held: in order).
  void receive_passed_fds() {
    for (;;) {
      unsigned char record[kPassedRecord];
      int fd = -1;
      const ssize_t n = receive_with_fds(
          fd_, record, sizeof record, MSG_DONTWAIT,
          [](void* got, int passed) {
            int& first = *static_cast<int*>(got);
            if (first < 0) {
              first = passed;
            } else {
              ::close(passed);  // one per record
            }
          },
          &fd);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      std::uint64_t at = 0;
      std::memcpy(&at, record + 1, sizeof at);
      if (n != kPassedRecord || record[0] != static_cast<unsigned char>(kPassedFd) || fd < 0 ||
          passed_fds_.size() >= kMaxPassedFds) {
        if (fd >= 0) ::close(fd);  // not ours to keep: a peer that floods us gets none kept
        continue;
      }
      passed_fds_.push_back(PassedFd{at, fd});
    }
  }

  // Hands the payload to the receiver; whether `done` holds now.
  bool deliver(bool (*done)(void*), void* context) {
    // Where this frame ends in the stream: descriptors passed with it (and
    // earlier ones) may be taken now.
    delivered_end_.store(in_total_ - frames_.unparsed(), std::memory_order_release);
    receiver_->on_frame(frames_.payload());
    frames_.release_large_payload();  // no 64 MiB kept for good
    return done && done(context);
  }

  // Records why the stream ended (the first reason wins).
  void end_with(const std::string& why, bool bad_frame) {
    if (ended_) return;
    ended_ = true;
    end_why_ = why;
    end_bad_ = bad_frame;
    std::lock_guard lock(mu_);
    end_found_ = true;
  }

  // Wakes the reading thread wherever it sleeps.
  void wake_thread() noexcept {
    thread_word_.fetch_add(1, kSeq);
    switch (thread_place_.load(kSeq)) {
      case kOnOwnWord: futex_wake(&thread_word_, false); break;
      case kOnBell: wake_own(*my_bell_); break;
      default: break;
    }
  }

  // A caller gives the reader role back. While calls follow each other the
  // reading thread looks every kHandBack; one that sleeps on its own word
  // without a limit is woken to begin that.
  void release_role() {
    // Frames read behind the caller's own are the reading thread's to
    // deliver now (the ring will not wake it for them).
    const bool leftover = frames_.frame_buffered();
    bool need_wake = leftover;
    bool others;
    {
      std::lock_guard lock(mu_);
      reader_ = Reader::none;
      if (leftover) look_ = true;
      ++releases_;
      others = turned_away_;
      turned_away_ = false;
      if (pending_writes_.load(kSeq)) {
        need_wake = true;  // the thread waits for room from now on
      } else if (thread_wait_ == ThreadWait::own || thread_wait_ == ThreadWait::room) {
        hand_back_ = true;  // it wakes, looks, and goes on looking every kHandBack
        need_wake = true;
      }
      if (end_found_) need_wake = true;  // the thread reports the end
    }
    if (need_wake) wake_thread();
    if (others) receiver_->on_reader_free();
  }

  // How the reading thread sleeps next, and its word when that was decided
  // (under mu_: a wake-up after the decision ends the sleep at once).
  struct NextSleep {
    ThreadWait how;
    std::uint32_t seen;
  };

  // The reading thread gives the role back: it sleeps on the bell again
  // unless a caller's release just handed it over while calls follow each
  // other (then it looks again after kHandBack).
  NextSleep thread_release_role() {
    bool others;
    NextSleep next;
    {
      std::lock_guard lock(mu_);
      reader_ = Reader::none;
      others = turned_away_;
      turned_away_ = false;
      thread_wait_ = hand_back_ && !pending_writes_.load(kSeq) ? ThreadWait::period : ThreadWait::bell;
      hand_back_ = false;
      seen_releases_ = releases_;
      next = NextSleep{thread_wait_, thread_word_.load(kSeq)};
    }
    if (others) receiver_->on_reader_free();
    return next;
  }

  // The reading thread's sleep as `how` says; false when a period passed.
  // `seen`: its word when it last looked (anything since wakes it at once).
  bool thread_sleep(ThreadWait how, std::uint32_t seen) {
    if (how == ThreadWait::bell || how == ThreadWait::room) {
      my_bell_->sleepers.fetch_add(1, kSeq);
      const std::uint32_t bell = my_bell_->word.load(kSeq);
      thread_place_.store(kOnBell, kSeq);
      // Waiting for room only, input is the reading caller's: it must not
      // keep us awake. Bounded: the bell is in memory the peer can
      // overwrite (a word put back to its old value would hide a wake-up of ours).
      const bool look = how == ThreadWait::room ? room_for_writes() : something_new();
      if (thread_word_.load(kSeq) == seen && !look)
        futex_wait(&my_bell_->word, bell, Clock::now() + kBellLook, true);
      thread_place_.store(kAwake, kSeq);
      my_bell_->sleepers.fetch_sub(1, kSeq);
      return true;
    }
    thread_place_.store(kOnOwnWord, kSeq);
    const bool in_time =
        futex_wait(&thread_word_, seen,
                   how == ThreadWait::period ? Clock::now() + kHandBack : Clock::time_point::max(), false);
    thread_place_.store(kAwake, kSeq);
    return in_time;
  }

  // The transport's reading thread: reads whenever no caller does, moves
  // queued writes on, and reports the end of the stream.
  void run() {
    NextSleep sleep;
    {
      std::lock_guard lock(mu_);
      sleep = NextSleep{thread_wait_, thread_word_.load(kSeq)};
    }
    for (;;) {
      const bool woken = thread_sleep(sleep.how, sleep.seen);
      enum class Next { sleep, write, read } next = Next::sleep;
      {
        std::lock_guard lock(mu_);
        const bool calls_ended = releases_ != seen_releases_;
        seen_releases_ = releases_;
        if (reader_ != Reader::none) {
          if (pending_writes_.load(kSeq)) {
            // Queued writes are ours to move on while a caller reads (it
            // may be long in a frame's delivery): we wake as room comes.
            thread_wait_ = ThreadWait::room;
            next = Next::write;
          } else {
            // A caller reads. Look again after kHandBack, unless it held
            // the role that whole time (a long call): then its release wakes us.
            thread_wait_ = !woken && !calls_ended ? ThreadWait::own : ThreadWait::period;
          }
          hand_back_ = false;
        } else {
          const bool work = look_ || end_found_ || pending_writes_.load(kSeq) || something_new();
          if (!work && ((!woken && calls_ended) || (woken && hand_back_))) {
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
        sleep = NextSleep{thread_wait_, thread_word_.load(kSeq)};
      }
      if (next == Next::write) flush_writes();
      if (next != Next::read) continue;
      const Pull p = pull(nullptr, nullptr);
      sleep = thread_release_role();
      if (p == Pull::ended) break;
    }
    receiver_->on_end(end_why_, end_bad_);
  }

  // Watches the socket for the end: the peer's death or close(), or ours.
  void watch() {
    for (;;) {
      pollfd p{fd_, POLLRDHUP, 0};
      if (::poll(&p, 1, -1) < 0 && errno == EINTR) continue;
      break;
    }
    peer_gone_.store(true, kSeq);
    wake_own(*my_bell_);
    wake_thread();
  }

  const bool low_latency_;
  const int side_;       // 0: the client, 1: the surrogate
  SpinAdvisor advisor_;  // the holder of the reader role only (low-latency mode)

  OwnedFd socket_;
  const int fd_;
  Mapping mapping_;
  RingIndex* const out_;
  RingIndex* const in_;
  char* const out_data_;
  char* const in_data_;
  Bell* const my_bell_;
  Bell* const peer_bell_;

  Receiver* receiver_ = nullptr;
  std::thread thread_;
  std::thread watcher_;
  std::atomic<bool> closing_{false};
  std::atomic<bool> peer_gone_{false};
  std::atomic<bool> corrupt_{false};
  std::mutex corrupt_mu_;
  std::string corrupt_why_;  // corrupt_mu_

  std::atomic<std::uint32_t> thread_word_{0};  // the reading thread's own futex
  std::atomic<std::uint32_t> thread_place_{kAwake};

  std::mutex mu_;  // the reader role
  Reader reader_ = Reader::none;
  ThreadWait thread_wait_ = ThreadWait::bell;
  std::uint64_t releases_ = 0;       // callers' releases of the role so far
  std::uint64_t seen_releases_ = 0;  // releases_ when the thread last looked
  bool hand_back_ = false;           // a release woke the thread to look every kHandBack
  bool look_ = false;                // a release left whole frames in the buffer for the thread
  bool turned_away_ = false;         // a caller found the role taken
  bool end_found_ = false;           // the stream ended; the reading thread reports it

  // The holder of the reader role only.
  std::uint32_t in_tail_;
  std::uint64_t in_total_ = 0;             // bytes read from the ring in all
  std::atomic<std::uint32_t> in_read_{0};  // in_tail_, for checks of any thread
  wire::FrameReader frames_;
  bool ended_ = false;
  std::string end_why_;
  bool end_bad_ = false;

  // Descriptors the peer passed ahead of the frames read (a segment of the
  // shared region each): more than this many is a flood.
  static constexpr std::size_t kMaxPassedFds = 64;
  struct PassedFd {
    std::uint64_t at;  // where its frame begins in the stream
    int fd;
  };
  std::mutex fds_mu_;
  std::deque<PassedFd> passed_fds_;  // passed, not taken yet (fds_mu_)
  // Where the last frame delivered ends in the stream (the reader role's; read by take_passed_fd).
  std::atomic<std::uint64_t> delivered_end_{0};
  std::unique_ptr<OwnedFd> outgoing_fd_;  // goes before the next frame sent (write_mu_)

  std::mutex write_mu_;
  std::uint32_t out_head_;                     // write_mu_
  std::uint64_t out_total_ = 0;                // bytes written to the ring in all (write_mu_)
  std::atomic<std::uint32_t> out_written_{0};  // out_head_, for checks of any thread
  std::deque<std::string> writes_;             // what the ring had no room for yet (write_mu_)
  std::size_t front_done_ = 0;                 // of writes_.front(), what went already (write_mu_)
  std::size_t queued_bytes_ = 0;               // in writes_, not yet in the ring (write_mu_)
  bool write_broken_ = false;                  // write_mu_
  std::atomic<bool> pending_writes_{false};
};

// Sends `byte` (and `fd`, when >= 0) as the first thing on the socket.
bool send_offer(int sock, char byte, int fd) {
  for (;;) {
    const ssize_t n = fd >= 0 ? send_with_fd(sock, &byte, 1, fd) : ::send(sock, &byte, 1, MSG_NOSIGNAL);
    if (n == 1) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

// Creates the rings' memory: the memfd (owned by `fd`) and its mapping, set
// up. An empty string, or why not.
std::string create_rings(OwnedFd& fd, Mapping& mapping) {
  fd.reset(::memfd_create("dllbridge-frames", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd.get() < 0) return std::string("memfd_create: ") + std::strerror(errno);
  if (::ftruncate(fd.get(), static_cast<off_t>(kMappingSize)) != 0 ||
      ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    return std::string("cannot size and seal the rings' memory: ") + std::strerror(errno);
  Mapping m = map_rings(fd.get());
  if (m.header() == nullptr) return std::string("mmap: ") + std::strerror(errno);
  Header* h = m.header();
  h->magic = kMagic;
  h->version = kLayoutVersion;
  h->capacity = kCapacity;
  h->header_size = static_cast<std::uint32_t>(kHeaderSize);
  mapping = std::move(m);
  return {};
}

}  // namespace

std::unique_ptr<Transport> offer_ring_transport(int fd, RingOptions options, std::string* why) {
  OwnedFd sock(fd);
  OwnedFd memory;
  Mapping mapping;
  const std::string problem = create_rings(memory, mapping);
  if (!problem.empty()) {
    if (why != nullptr) *why = problem;
    if (!send_offer(sock.get(), kOfferNothing, -1))
      throw std::system_error(errno, std::generic_category(), "cannot start the channel");
    return socket_transport(sock.release(), SocketOptions{options.low_latency, options.first_frame_cap});
  }
  if (!send_offer(sock.get(), kOfferRings, memory.get()))
    throw std::system_error(errno, std::generic_category(), "cannot pass the frame rings to the surrogate");
  return std::make_unique<RingTransport>(sock.release(), std::move(mapping), 0, options);
}

std::unique_ptr<Transport> accept_ring_transport(int fd, RingOptions options,
                                                 std::chrono::milliseconds wait) {
  OwnedFd sock(fd);
  pollfd p{sock.get(), POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&p, 1, static_cast<int>(std::min<std::chrono::milliseconds::rep>(wait.count(), INT_MAX)));
  } while (ready < 0 && errno == EINTR);
  if (ready == 0)
    throw std::runtime_error("the client sent no frame rings within " + std::to_string(wait.count()) + " ms");
  char byte = 0;
  OwnedFd memory;
  ssize_t n;
  do {
    n = receive_with_fds(
        sock.get(), &byte, 1, 0,
        [](void* m, int passed) {
          auto& owned = *static_cast<OwnedFd*>(m);
          if (owned.get() < 0) {
            owned.reset(passed);
          } else {
            ::close(passed);
          }
        },
        &memory);
  } while (n < 0 && errno == EINTR);
  if (n <= 0)
    throw std::runtime_error(n == 0 ? "the client closed the connection before its first frame"
                                    : std::string("cannot read the client's first bytes: ") +
                                          std::strerror(errno));
  if (byte == kOfferNothing)
    return socket_transport(sock.release(), SocketOptions{options.low_latency, options.first_frame_cap});
  if (byte != kOfferRings || memory.get() < 0)
    throw std::runtime_error("the client's first bytes offer neither frame rings nor a socket");
  struct stat st {};
  const int seals = ::fcntl(memory.get(), F_GET_SEALS);
  if (::fstat(memory.get(), &st) != 0 || static_cast<std::size_t>(st.st_size) != kMappingSize || seals < 0 ||
      (seals & F_SEAL_SHRINK) == 0)
    throw std::runtime_error("the client's frame rings are not a sealed memory object of this build's size");
  Mapping mapping = map_rings(memory.get());
  if (mapping.header() == nullptr)
    throw std::runtime_error(std::string("mmap of the frame rings: ") + std::strerror(errno));
  const Header* h = mapping.header();
  if (h->magic != kMagic || h->version != kLayoutVersion || h->capacity != kCapacity ||
      h->header_size != kHeaderSize)
    throw std::runtime_error("the client's frame rings have another layout (version " +
                             std::to_string(h->version) + ", this surrogate's " +
                             std::to_string(kLayoutVersion) + ")");
  return std::make_unique<RingTransport>(sock.release(), std::move(mapping), 1, options);
}

}  // namespace dllbridge::rpc
