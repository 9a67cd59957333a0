// Fuzz target `surrogate`: the surrogate's request handling (Session,
// Dispatcher, marshal) through the in-process transport, with the 64-bit
// sample library loadable. Input: records (fuzz_support.hpp), each one
// serialized wire::Frame as a client would send it after a good Hello (which
// the target sends first). Each request gets a fresh id and the target waits
// for its reply before the next: every request must be answered (an Error
// reply is an answer) until the session ends; a crash, an exception that
// escapes a thread, undefined behaviour or a request left without an answer
// is a finding.
//
// What the target changes before sending, and why: the surrogate trusts the
// declaration its client gives for a function, as a native caller's compiler
// trusts a prototype, so a wrong declaration makes the DLL itself read or
// write where it should not — a fault of the caller's declaration, not of
// the surrogate. So a registration is sent only for a sample function of
// fuzz_support.hpp: one that touches nothing but its own argument values
// (any declaration, but no text or pointer in its return type), or one that
// follows pointers, under its true declaration only (labels aside). Other
// registrations are dropped. A library load names the sample ("sample" is
// replaced by its path), the empty path, or a path under a folder that does
// not exist, so no other library's code runs.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include <dlfcn.h>

#include "channel/codec.hpp"
#include "core/in_process.hpp"
#include "dllbridge/wire/frame.hpp"
#include "fuzz_support.hpp"
#include "signature/signature.hpp"

#ifndef DLLBRIDGE_FUZZ_SAMPLE
#  error "DLLBRIDGE_FUZZ_SAMPLE: the path of the 64-bit sample library"
#endif

using namespace dllbridge;
using namespace std::chrono_literals;

namespace {

// A type tree without its labels (parameter, field and struct names).
void strip_names(wire::TypeNode& t) {
  t.clear_name();
  if (t.has_elem()) strip_names(*t.mutable_elem());
  for (wire::TypeNode& f : *t.mutable_fields()) strip_names(f);
}

// What must match for a registration to be a function's true declaration.
std::string shape(const wire::RegisterFunction& reg) {
  wire::RegisterFunction r = reg;
  r.clear_library();
  r.clear_name();
  strip_names(*r.mutable_ret());
  for (wire::TypeNode& p : *r.mutable_params()) strip_names(p);
  return r.SerializeAsString();
}

// The true declarations by function name, as the client encodes them.
const std::map<std::string, std::string>& true_shapes() {
  static const std::map<std::string, std::string> shapes = [] {
    std::map<std::string, std::string> m;
    for (const std::string& text : fuzz::true_declarations()) {
      const sig::Function parsed = sig::parse(text);
      const detail::Signature s = detail::make_signature(sig::lower(parsed), rules::native_abi());
      wire::RegisterFunction reg;
      detail::encode_register(s, reg);
      m.emplace(parsed.name, shape(reg));
    }
    return m;
  }();
  return shapes;
}

// No pointer and no text anywhere in a return type.
bool plain_value(const wire::TypeNode& t) {
  if (t.kind() == wire::TypeNode::POINTER) return false;
  if (t.kind() == wire::TypeNode::SCALAR && (t.scalar() == wire::STRING || t.scalar() == wire::WSTRING))
    return false;
  if (t.has_elem() && !plain_value(t.elem())) return false;
  return std::all_of(t.fields().begin(), t.fields().end(), plain_value);
}

bool allowed(const wire::RegisterFunction& reg) {
  const auto& any = fuzz::any_declaration_functions();
  if (std::find(any.begin(), any.end(), reg.name()) != any.end()) return plain_value(reg.ret());
  const auto it = true_shapes().find(reg.name());
  return it != true_shapes().end() && it->second == shape(reg);
}

// Keeps library loads to the sample and to paths that load nothing.
void confine_path(wire::LoadLibraryRequest& load) {
  if (load.path() == "sample") {
    load.set_path(DLLBRIDGE_FUZZ_SAMPLE);
  } else if (!load.path().empty()) {
    std::string p = load.path();
    std::replace(p.begin(), p.end(), '/', '_');
    load.set_path("/nonexistent-dllbridge-fuzz/" + p);
  }
}

// The client's end: collects the replies.
class Client final : public rpc::Transport::Receiver {
 public:
  void on_frame(std::string& payload) override {
    wire::Frame frame;
    if (!frame.ParseFromString(payload)) {
      std::fprintf(stderr, "surrogate_fuzz: the surrogate sent a frame that does not parse\n");
      std::abort();
    }
    if (!frame.has_reply()) return;  // the surrogate asks nothing of this client
    std::lock_guard lock(mu_);
    answered_.insert(frame.reply().id());
    cv_.notify_all();
  }
  void on_end(const std::string&, bool) override {
    std::lock_guard lock(mu_);
    ended_ = true;
    cv_.notify_all();
  }
  // Waits for the reply to `id`; false when the session ended instead.
  bool wait(std::uint64_t id, const wire::Request& request) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, 20s, [&] { return ended_ || answered_.count(id) != 0; })) {
      std::fprintf(stderr, "surrogate_fuzz: no answer to request %llu (body %d)\n",
                   static_cast<unsigned long long>(id), static_cast<int>(request.body_case()));
      std::abort();
    }
    return answered_.count(id) != 0;
  }
  bool ended() {
    std::lock_guard lock(mu_);
    return ended_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::uint64_t> answered_;
  bool ended_ = false;
};

void send(rpc::Transport& t, const wire::Frame& frame) { t.send(wire::encode_frame(frame)); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  (void)true_shapes();
  // Loaded once for the whole run: each session's load and unload of the
  // sample then costs a reference count, not a dlopen.
  if (::dlopen(DLLBRIDGE_FUZZ_SAMPLE, RTLD_NOW) == nullptr) {
    std::fprintf(stderr, "surrogate_fuzz: cannot load %s: %s\n", DLLBRIDGE_FUZZ_SAMPLE, ::dlerror());
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Reader in(data, size);
  surrogate::InProcess host(1);
  Client client;
  std::unique_ptr<rpc::Transport> end = host.client_end();
  end->start(client);

  wire::Frame hello;
  hello.mutable_request()->set_id(1);
  hello.mutable_request()->mutable_hello()->set_protocol_version(wire::kProtocolVersion);
  send(*end, hello);
  bool open = client.wait(1, hello.request());

  std::uint64_t next_id = 2;
  std::string record;
  while (open && in.record(record)) {
    wire::Frame frame;
    if (!frame.ParseFromString(record)) continue;
    if (frame.has_request()) {
      wire::Request& r = *frame.mutable_request();
      if (r.has_register_function() && !allowed(r.register_function())) continue;
      if (r.has_load_library()) confine_path(*r.mutable_load_library());
      const std::uint64_t id = next_id++;
      r.set_id(id);
      if (frame.ByteSizeLong() > wire::kMaxFrameSize) continue;
      send(*end, frame);
      open = client.wait(id, r) && !r.has_shutdown();
    } else {
      if (frame.ByteSizeLong() > wire::kMaxFrameSize) continue;
      send(*end, frame);  // a reply to nothing, or an empty frame
      open = !client.ended();
    }
  }
  end->close();
  end.reset();
  return 0;
}
