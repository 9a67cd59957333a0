// Vocabulary shared by the typed and the dynamic API.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

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

// The surrogate process as the OS sees it, read on demand.
struct ProcessFigures {
  std::uint32_t pid = 0;
  std::chrono::microseconds cpu_user{};    // CPU time in user mode
  std::chrono::microseconds cpu_kernel{};  // CPU time in the kernel
  std::uint64_t resident_bytes = 0;        // resident memory now
  std::uint64_t peak_resident_bytes = 0;   // its high-water mark
  std::uint64_t virtual_bytes = 0;         // virtual size
  std::uint32_t threads = 0;
  std::uint32_t handles = 0;               // open file descriptors / handles
};

}  // namespace dllbridge
