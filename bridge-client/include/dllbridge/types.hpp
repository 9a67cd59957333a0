// Vocabulary shared by the typed and the dynamic API.
#pragma once

#include <chrono>
#include <functional>
#include <initializer_list>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dllbridge/export.hpp"

namespace dllbridge {

// Scalar kinds of the signature language by spelling (docs/signature-language.md, section 2);
// their sizes are those of the surrogate's ABI.
enum class Scalar : std::uint8_t {
  Void,
  Bool,
  Char,
  SChar,
  UChar,
  Short,
  UShort,
  Int,
  UInt,
  Long,
  ULong,
  LongLong,
  ULongLong,
  Float,
  Double,
  Int8,
  Int16,
  Int32,
  Int64,
  UInt8,
  UInt16,
  UInt32,
  UInt64,
  SizeT,
  WChar,
  BOOL,
  BYTE,
  WORD,
  DWORD,
  Handle
};

// Calling convention of an export. On x86-64 every convention is the
// platform's one; on i386 each selects its own libffi ABI.
enum class CallConv : std::uint8_t { Cdecl, Stdcall, Fastcall, Thiscall };

// Who fills the memory behind a pointer parameter: [in], [out], [in, out];
// none for a pointer without a direction.
enum class Dir : std::uint8_t { none = 0, in = 1, out = 2, inout = 3 };

// Which surrogate to use: the 32-bit one (the point of dllbridge) or the
// 64-bit build of the same host (for testing and for 64-bit DLLs that must
// be isolated).
enum class Arch : std::uint8_t { x86, x64 };

// A null pointer, for a parameter or result that is one.
using Null = std::monostate;

struct Value;
// Array and buffer elements. A class of its own rather than a std::vector
// alias, so that `f.call({List{...}})` passes one list argument instead of
// being taken as the argument vector itself.
struct List {
  std::vector<Value> items;
  List() = default;
  List(std::initializer_list<Value> values);
  explicit List(std::vector<Value> values) : items(std::move(values)) {}
  std::size_t size() const noexcept { return items.size(); }
  bool empty() const noexcept { return items.empty(); }
  const Value& at(std::size_t i) const { return items.at(i); }
  Value& at(std::size_t i) { return items.at(i); }
  const Value& operator[](std::size_t i) const { return items[i]; }
  Value& operator[](std::size_t i) { return items[i]; }
  void push_back(Value v);
  void reserve(std::size_t n) { items.reserve(n); }
  auto begin() const noexcept { return items.begin(); }
  auto end() const noexcept { return items.end(); }
  auto begin() noexcept { return items.begin(); }
  auto end() noexcept { return items.end(); }
};
// Struct fields by name; a variadic extra argument {"int": 3}.
using Object = std::map<std::string, Value, std::less<>>;

// Numbers in the caller's memory, passed without a Value per element (what
// the typed API makes for its buffers and arrays of numbers): `count`
// elements of `size` bytes, read from `in` when sent and, for an [out] /
// [in, out] parameter, written to `out` straight from the reply (then the
// result holds this Buffer, not a List). The memory must stay valid during
// the call. A dynamic caller may pass one where a List of numbers goes.
struct Buffer {
  enum class Number : std::uint8_t { signed_int, unsigned_int, floating, boolean };
  const void* in = nullptr;  // the elements to send (null: nothing is sent, an [out] buffer)
  void* out = nullptr;       // where the returned elements go (null: returned as a List)
  std::size_t count = 0;     // elements
  std::uint8_t size = 0;     // bytes of one element in this program
  Number number = Number::signed_int;
  friend bool operator==(const Buffer& a, const Buffer& b) noexcept {
    return a.in == b.in && a.out == b.out && a.count == b.count && a.size == b.size && a.number == b.number;
  }
};

// Elements of T in the bridge's shared region (Bridge::alloc): passed to a
// DLL as an In / Out / InOut buffer (dllbridge::in(b), out(b), inout(b)),
// or to the dynamic API as buffer(), they are not copied at all: the DLL
// works on these very pages. Zeroed when made. Copies share the memory,
// which lives as long as the last copy. Where the region cannot be used
// (a surrogate that did not map it, BridgeOptions::shared_region false,
// DLLBRIDGE_SHARED_REGION=off) it is
// ordinary memory and calls copy it like any buffer.
template <class T>
class SharedBuffer {
 public:
  SharedBuffer() = default;
  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  T& front() noexcept { return data_[0]; }
  T& back() noexcept { return data_[size_ - 1]; }
  T* begin() noexcept { return data_; }
  T* end() noexcept { return data_ + size_; }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + size_; }

 private:
  friend class Bridge;
  SharedBuffer(std::shared_ptr<void> block, T* data, std::size_t n)
      : block_(std::move(block)), data_(data), size_(n) {}
  std::shared_ptr<void> block_;  // the block of the region (or of the heap) it lives in
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

namespace detail {
struct CallbackState;
struct CallbackAccess;

// `size()` elements at `data()`, not owned (C++17 has no std::span): how the
// typed API hands its arguments to the library without a vector per call.
template <class T>
class Span {
 public:
  Span() = default;
  Span(const T* data, std::size_t size) : data_(data), size_(size) {}
  explicit Span(const std::vector<T>& v) : data_(v.data()), size_(v.size()) {}
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  const T* data_ = nullptr;
  std::size_t size_ = 0;
};
}  // namespace detail

// The body of a callback, dynamic form: called with one Value per parameter
// of the callback's declaration (as results are: integers, text, Object for
// structs, List for counted [in] pointers, the element itself for a
// one-element one, Null for a null pointer and for an [out] one), it
// returns the value the DLL gets (Null for void; as arguments are given).
// For an [out] / [in, out] pointer it may put into `args` what the DLL's
// memory gets (as arguments are given; at most the pointer's count; Null
// leaves it as it is). An exception it throws makes the DLL see the default
// return (zero) and the call fail with callback_failed. A callable taking
// `const std::vector<Value>&` fits too.
using CallbackFunction = std::function<Value(std::vector<Value>& args)>;

// A function the DLL may call, for a function-pointer parameter
// (docs/calling-your-dll.md, "Callbacks"). Copies share one callable. Given
// to a call-scoped parameter, the DLL may call it during that call only; to
// a [persistent] one, until the last copy of this handle is destroyed, which
// releases it in every surrogate it went to (a DLL that calls it after that
// gets the default return). When the DLL calls back during the call on the
// thread that runs it, the callable runs on the thread that made the call
// (as a local callback would); calls from the DLL's own threads run on a
// callback thread of the bridge, concurrently when the DLL calls from
// several threads at once (each thread's calls in order). It may call into
// the bridge again.
class DLLBRIDGE_API Callback {
 public:
  // A null function pointer.
  Callback() = default;
  // Wraps `fn` (an empty std::function is a null function pointer).
  explicit Callback(CallbackFunction fn);
  // False for a null function pointer.
  explicit operator bool() const noexcept { return state_ != nullptr; }
  // The same callable (copies of one handle).
  friend bool operator==(const Callback& a, const Callback& b) noexcept { return a.state_ == b.state_; }
  friend bool operator!=(const Callback& a, const Callback& b) noexcept { return a.state_ != b.state_; }

 private:
  friend struct detail::CallbackAccess;
  std::shared_ptr<detail::CallbackState> state_;
};

using ValueBase = std::variant<Null, bool, std::int64_t, std::uint64_t, double, std::string, List, Object,
                               Buffer, Callback>;

// One argument or result of the dynamic API (JSON forms: docs/cli.md, section 3).
// Integers keep their signedness (uint64_t only for unsigned parameters
// above INT64_MAX, int64_t otherwise is accepted for any integer parameter
// within range); text is UTF-8; handles are integers; a null pointer is Null.
struct Value : ValueBase {
  using ValueBase::ValueBase;
  using ValueBase::operator=;
  Value() = default;
  const ValueBase& base() const noexcept { return *this; }
};

inline List::List(std::initializer_list<Value> values) : items(values) {}
inline void List::push_back(Value v) { items.push_back(std::move(v)); }

// What a call returned.
struct CallResult {
  Value ret;                           // Null for void functions
  Object out;                          // every [out] and [in, out] parameter by name
  std::int64_t last_error = 0;         // errno / GetLastError() right after the call
  std::chrono::nanoseconds elapsed{};  // time inside the DLL function
};

// Facts the surrogate reported in the handshake.
struct SurrogateInfo {
  std::uint32_t protocol_version = 0;
  std::uint32_t pid = 0;
  std::uint32_t pointer_size = 0;  // 4 or 8
  std::string os;                  // "linux" / "windows"
  std::string arch;                // "i386" / "x86_64"
};

// Circuit breaker states (see BreakerPolicy).
enum class BreakerState : std::uint8_t { closed, open, half_open };

// The surrogate process as the OS sees it, read on demand.
struct ProcessFigures {
  std::uint32_t pid = 0;
  std::chrono::microseconds cpu_user{};    // CPU time in user mode
  std::chrono::microseconds cpu_kernel{};  // CPU time in the kernel
  std::uint64_t resident_bytes = 0;        // resident memory now
  std::uint64_t peak_resident_bytes = 0;   // its high-water mark
  std::uint64_t virtual_bytes = 0;         // virtual size
  std::uint32_t threads = 0;
  std::uint32_t handles = 0;  // open file descriptors / handles (0 under Wine, which does not count them)
};

// Where the supervised surrogate is in its life.
enum class SurrogateState : std::uint8_t {
  not_started,  // lazy start, no call yet
  starting,     // spawning / handshake / on-restart hooks
  ready,        // serving calls
  restarting,   // died or was stopped; a new one is on its way
  failed,       // restarting gave up (crash loop, restarts disabled); see BridgeStats::reason
  stopped,      // stop() was called
};

// A snapshot of the bridge and its surrogate (Bridge::stats()).
struct BridgeStats {
  SurrogateState state = SurrogateState::not_started;
  std::uint32_t pid = 0;               // current surrogate (0 when none)
  std::uint32_t bits = 0;              // 32 or 64
  std::chrono::milliseconds uptime{};  // of the current surrogate
  std::uint64_t starts = 0;            // surrogates started, the first included
  std::uint64_t restarts = 0;          // starts after the first (crash, hang, recycle, manual)
  std::uint32_t spare_pid = 0;         // the warm spare, ready to take over (0: none; per member)
  std::uint32_t spare_preloaded = 0;   // loads and registrations already made in the spare (preload_spare)
  std::uint64_t spares_lost = 0;  // spares let go before taking over: failed to start or preload, or died
  std::uint64_t calls_ok = 0;
  std::uint64_t calls_failed = 0;  // all failures, timeouts included
  std::uint64_t calls_timed_out = 0;
  std::uint64_t retries = 0;  // automatic resends of idempotent calls
  std::uint32_t in_flight = 0;
  std::chrono::microseconds latency_p50{};  // over the last 1024 successful calls
  std::chrono::microseconds latency_p99{};
  BreakerState breaker = BreakerState::closed;
  std::string reason;      // why the last surrogate ended / why failed
  ProcessFigures process;  // zero when no surrogate runs
};

// Something that happened to the surrogate (Bridge::subscribe).
struct BridgeEvent {
  enum class Kind : std::uint8_t { started, exited, restarted, breaker_changed } kind;
  std::uint32_t pid = 0;
  bool signaled = false;                        // exited: killed by a signal / ended by an exception
  std::int64_t code = 0;                        // exited: exit code, signal number or exception code
  std::string reason;                           // exited / restarted: why, in words
  BreakerState breaker = BreakerState::closed;  // breaker_changed: the new state
  // When it happened (events reach subscribers later, on their own thread).
  std::chrono::steady_clock::time_point at{};
  std::uint32_t member = 0;  // which surrogate of a pool (BridgeOptions::pool_size); 0 without one
};

// Names for logs and JSON: "ready", "half_open", "exited", ...
DLLBRIDGE_API std::string_view to_string(SurrogateState s) noexcept;
DLLBRIDGE_API std::string_view to_string(BreakerState s) noexcept;
DLLBRIDGE_API std::string_view to_string(BridgeEvent::Kind k) noexcept;

}  // namespace dllbridge
