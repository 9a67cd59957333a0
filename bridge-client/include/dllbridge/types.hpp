// Vocabulary shared by the typed and the dynamic API.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "dllbridge/export.hpp"

namespace dllbridge {

// Scalar kinds of the signature language by spelling (contracts section 3);
// their sizes are those of the surrogate's ABI.
enum class Scalar : std::uint8_t {
  Void, Bool, Char, SChar, UChar, Short, UShort, Int, UInt, Long, ULong,
  LongLong, ULongLong, Float, Double, Int8, Int16, Int32, Int64, UInt8,
  UInt16, UInt32, UInt64, SizeT, WChar, BOOL, BYTE, WORD, DWORD, Handle
};

// Calling convention of an export. On x86-64 every convention is the
// platform's one; on i386 each selects its own libffi ABI.
enum class CallConv : std::uint8_t { Cdecl, Stdcall, Fastcall, Thiscall };

// Which surrogate to use: the 32-bit one (the point of dllbridge) or the
// 64-bit build of the same host (for testing and for 64-bit DLLs that must
// be isolated).
enum class Arch : std::uint8_t { x86, x64 };

// A null pointer, for a parameter or result that is one.
using Null = std::monostate;

// One argument or result of the dynamic API. Integers keep their signedness
// (uint64_t only for unsigned parameters above INT64_MAX, int64_t otherwise
// is accepted for any integer parameter within range); text is UTF-8.
using Value = std::variant<Null, bool, std::int64_t, std::uint64_t, double, std::string>;

// What a call returned.
struct CallResult {
  Value ret;                          // Null for void functions
  std::int64_t last_error = 0;        // errno / GetLastError() right after the call
  std::chrono::nanoseconds elapsed{}; // time inside the DLL function
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
  std::uint32_t handles = 0;               // open file descriptors / handles (0 under Wine, which does not count them)
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
  std::uint32_t pid = 0;                    // current surrogate (0 when none)
  std::uint32_t bits = 0;                   // 32 or 64
  std::chrono::milliseconds uptime{};       // of the current surrogate
  std::uint64_t starts = 0;                 // surrogates started, the first included
  std::uint64_t restarts = 0;               // starts after the first (crash, hang, recycle, manual)
  std::uint64_t calls_ok = 0;
  std::uint64_t calls_failed = 0;           // all failures, timeouts included
  std::uint64_t calls_timed_out = 0;
  std::uint64_t retries = 0;                // automatic resends of idempotent calls
  std::uint32_t in_flight = 0;
  std::chrono::microseconds latency_p50{};  // over the last 1024 successful calls
  std::chrono::microseconds latency_p99{};
  BreakerState breaker = BreakerState::closed;
  std::string reason;                       // why the last surrogate ended / why failed
  ProcessFigures process;                   // zero when no surrogate runs
};

// Something that happened to the surrogate (Bridge::subscribe).
struct BridgeEvent {
  enum class Kind : std::uint8_t { started, exited, restarted, breaker_changed } kind;
  std::uint32_t pid = 0;
  bool signaled = false;      // exited: killed by a signal / ended by an exception
  std::int64_t code = 0;      // exited: exit code, signal number or exception code
  std::string reason;         // exited / restarted: why, in words
  BreakerState breaker = BreakerState::closed;  // breaker_changed: the new state
  // When it happened (events reach subscribers later, on their own thread).
  std::chrono::steady_clock::time_point at{};
};

// Names for logs and JSON: "ready", "half_open", "exited", ...
DLLBRIDGE_API std::string_view to_string(SurrogateState s) noexcept;
DLLBRIDGE_API std::string_view to_string(BreakerState s) noexcept;
DLLBRIDGE_API std::string_view to_string(BridgeEvent::Kind k) noexcept;

}  // namespace dllbridge
