// Values of any wire type in this process's memory: layouts computed from
// libffi for the surrogate's own ABI, arguments written into call memory,
// results and [out] buffers read back. Everything the peer sends is checked
// (kinds, counts, caps) before anything is allocated for it.
#pragma once

#include <ffi.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dllbridge/dllbridge.pb.h"
#include "core/ffi_types.hpp"
#include "core/region.hpp"
#include "dllbridge/rules/limits.hpp"

namespace dllbridge::surrogate {

// Caps on what a peer may ask for: the type rules' (dllbridge/rules/limits.hpp),
// the same the client checks before sending.
using rules::kMaxAggregateElements;
using rules::kMaxArrayLength;
using rules::kMaxCallMemory;
using rules::kMaxStructSize;
using rules::kMaxTypeNodes;
inline constexpr int kMaxTypeDepth = rules::kMaxDepth;

// What one function's types may use up, all together.
struct TypeBudget {
  std::size_t nodes = 0;
  std::size_t elements = 0;
};

struct CallbackType;  // core/callbacks.hpp

// A wire type resolved for this process's ABI.
struct Layout {
  wire::TypeNode::Kind kind = wire::TypeNode::SCALAR;
  std::string name;         // for messages: the parameter path ("s.pts.x"), built here
  NativeType scalar{};      // SCALAR
  ffi_type* ffi = nullptr;  // how libffi passes / lays it out
  std::size_t size = 0;
  std::size_t align = 1;
  // POINTER / ARRAY
  wire::Direction dir = wire::DIR_NONE;
  bool text = false;
  bool nul_terminated = false;
  bool count_from_value = false;
  std::uint32_t count = 0;
  std::uint32_t count_ref = 0;  // 1 + sibling index
  std::unique_ptr<Layout> elem;
  // STRUCT
  std::vector<Layout> fields;
  std::vector<std::size_t> offsets;
  std::unique_ptr<ffi_type> owned;  // STRUCT / ARRAY
  std::vector<ffi_type*> elements;  // owned->elements points here
  // CALLBACK: the function pointer's signature (shared with its closures,
  // which may outlive the session: a DLL can keep a pointer).
  std::shared_ptr<CallbackType> callback;
};

// What a layout may be used as (CallbackParam: a parameter of a callback,
// read from what the DLL passes it).
enum class Role { Parameter, Field, Element, Return, Extra, CallbackParam };

// Checks `node` and computes its layout. `budget` counts the nodes and
// aggregate elements seen for this function (capped). A node's wire name is
// only a label; a field's layout is named by its path below `parent`
// ("s.pts.x") for messages. Throws Failure(BAD_SIGNATURE) for a type this
// surrogate cannot pass, Failure(PROTOCOL) for a malformed tree.
Layout build_layout(const wire::TypeNode& node, Role role, int depth, TypeBudget& budget,
                    const std::string& parent = {});

// Checks the count references of a parameter list or a struct's fields:
// each names an integer scalar sibling.
void check_count_refs(const std::vector<Layout>& siblings, const std::string& where);

// Turns a call's callback arguments (the client's ids) into native function
// pointers for the DLL (core/callbacks.hpp).
class CallbackBinder {
 public:
  // A function pointer of `type` whose calls go to the client's callable `id`.
  virtual void* bind(const std::shared_ptr<CallbackType>& type, std::uint64_t id) = 0;

 protected:
  ~CallbackBinder() = default;
};

// Memory of one call: zeroed blocks, and which pointee each one is.
class CallMemory {
 public:
  CallMemory() = default;
  CallMemory(const CallMemory&) = delete;  // hands out pointers into itself
  CallMemory& operator=(const CallMemory&) = delete;

  // Where the call's callback arguments are bound; null: the call has none
  // (a callback value is then refused).
  CallbackBinder* binder = nullptr;
  // The session's mapping of the client's shared region; null or unmapped:
  // a Value.region is refused.
  const RegionMap* region = nullptr;

  // Zeroed, aligned for any scalar; Failure(BAD_ARGUMENT) past kMaxCallMemory.
  unsigned char* allocate(std::size_t bytes, const std::string& what);
  void remember(const void* p, std::uint32_t count) { counts_[p] = count; }
  // The element count of a block allocated as a pointee, or nullptr.
  const std::uint32_t* count_of(const void* p) const;
  // A pointee placed in the region: read back as that same block (in place).
  void remember_placed(const void* p, const wire::Region& where) { placed_[p] = where; }
  const wire::Region* placed_at(const void* p) const {
    auto it = placed_.find(p);
    return it == placed_.end() ? nullptr : &it->second;
  }

 private:
  // The first blocks come from here: a call of a few scalars allocates
  // nothing (docs/performance.md, "No allocation on the hot path").
  static constexpr std::size_t kInline = 512;
  // The unit blocks are handed out in, aligned for any scalar a signature
  // can name. Not std::max_align_t: MinGW-w64's i686 <stddef.h> defines it
  // 24 bytes long with 8-byte alignment and GCC's 32 long with 16, so its
  // size (and this class's layout) could differ between translation units.
  struct alignas(16) Chunk {
    unsigned char bytes[16];
  };
  alignas(Chunk) unsigned char inline_[kInline];
  std::size_t inline_used_ = 0;
  std::vector<std::unique_ptr<Chunk[]>> blocks_;
  std::size_t total_ = 0;
  std::map<const void*, std::uint32_t> counts_;
  std::map<const void*, wire::Region> placed_;
};

using Values = google::protobuf::RepeatedPtrField<wire::Value>;

// Writes `v` as a value of `t` at `dst` (t.size bytes). `siblings` are the
// values next to `v` (the arguments, or the struct's fields) for size_is.
void write_value(const Layout& t, const wire::Value& v, unsigned char* dst, CallMemory& mem,
                 const Values* siblings);

// Reads a value of `t` at `src`.
wire::Value read_value(const Layout& t, const unsigned char* src, const CallMemory& mem);

// Reads what the pointer layout `t` points to at `p` (an [out] parameter).
wire::Value read_pointee(const Layout& t, const void* p, const CallMemory& mem);

// A return value of `t` from libffi's result buffer (integers widened to ffi_arg).
wire::Value read_return(const Layout& t, const unsigned char* ret);

// What the DLL passed a callback as parameter `i` of `params` (`args` as a
// libffi closure gets them): scalars and structs as they are; an [in] /
// [in, out] pointer's elements by its count (fixed, the value of a sibling
// argument, the text up to its NUL, else one element); null for a null
// pointer and for an [out] one.
// Throws Failure(BAD_ARGUMENT) for a count past the caps.
wire::Value read_callback_arg(const std::vector<Layout>& params, std::size_t i, void* const* args);

// Writes what the client put in callback parameter `i` ([out] / [in, out]
// pointers; `v` null leaves it as it is) into the DLL's memory, at most the
// pointer's count (fixed, or the sibling argument's value) of elements and
// text within it with its NUL. Throws Failure(BAD_ARGUMENT) for more, for a
// value where the DLL passed a null pointer, or for a value for a parameter
// that is not [out].
void write_callback_out(const std::vector<Layout>& params, std::size_t i, void* const* args,
                        const wire::Value& v);

// Writes what a callback returns, `v` of layout `t`, into libffi's result
// buffer `ret` (integers widened to ffi_arg); nothing for void. Throws
// Failure(BAD_ARGUMENT) when `v` does not fit.
void write_callback_return(const Layout& t, const wire::Value& v, void* ret);

// Zeroes libffi's result buffer `ret` for a return of `t`: the default a
// callback returns when it cannot ask the client.
void clear_callback_return(const Layout& t, void* ret);

}  // namespace dllbridge::surrogate
