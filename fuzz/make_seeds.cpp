// Makes the seed corpora of the fuzz targets (fuzz/corpus/TARGET/) from real
// inputs: signatures parsed and encoded by the client's own codec, calls of
// the 64-bit sample through a real in-process surrogate session, and the
// replies that session gave. Run by `scripts/fuzz.sh --seeds`; the output
// is committed. Usage: make_seeds CORPUS_DIR
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "channel/channel.hpp"
#include "channel/codec.hpp"
#include "core/in_process.hpp"
#include "dllbridge/wire/frame.hpp"
#include "fuzz_support.hpp"
#include "json_args.hpp"
#include "signature/signature.hpp"

using namespace dllbridge;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

fs::path g_root;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

// One call of the sample: its signature and its arguments as JSON.
struct Example {
  std::string name;  // seed file name
  std::string signature;
  std::string args;  // a JSON array
};

const std::vector<Example>& examples() {
  static const std::vector<Example> list = {
      {"add", "int add(int a, int b)", "[2, 40]"},
      {"sum8",
       "int64_t sum8(int8_t a, int16_t b, int32_t c, int64_t d, uint8_t e, uint16_t f, uint32_t g, "
       "uint64_t h)",
       "[-1, -2, -3, -4, 5, 6, 7, 8]"},
      {"mix_d", "double mix_d(int a, double b, float c, long long d)", "[1, 2.5, 0.25, 3]"},
      {"shl_ull", "unsigned long long shl_ull(unsigned long long v, unsigned int bits)", "[1, 63]"},
      {"upper_c", "char upper_c(char c)", "[97]"},
      {"add_std", "int __stdcall add_std(int a, int b)", "[2, 40]"},
      {"mix_fast", "int64_t __fastcall mix_fast(int a, int64_t b, int8_t c)", "[1, 2, 3]"},
      {"this_add", "int __thiscall this_add(void* self, int b)", "[5, 6]"},
      {"point_sum", "struct P { int x; int y; }; int point_sum(struct P p)", "[{\"x\": 3, \"y\": 4}]"},
      {"point_make", "struct P { int x; int y; }; struct P point_make(int x, int y)", "[3, 4]"},
      {"mixed_sum", "struct M { char c; double d; short s; long long q; }; double mixed_sum(struct M m)",
       "[{\"c\": 1, \"d\": 2.5, \"s\": 3, \"q\": 4}]"},
      {"counter_next", "int counter_next(void)", "[]"},
      {"str_len", "size_t str_len(const char* s)", "[\"hello\"]"},
      {"str_len_null", "size_t str_len(const char* s)", "[null]"},
      {"count_char", "int count_char(const char* s, char c)", "[\"banana\", 97]"},
      {"wstr_len", "size_t wstr_len(const wchar_t* s)", "[\"h\\u00e9llo \\u20ac\"]"},
      {"wstr_first", "int wstr_first(const wchar_t* s)", "[\"\\u20ac\"]"},
      {"greeting", "const char* greeting(void)", "[]"},
      {"not_utf8", "const char* not_utf8(void)", "[]"},
      {"wide_greeting", "const wchar_t* wide_greeting(void)", "[]"},
      {"hash_str_std", "uint32_t __stdcall hash_str_std(const char* s)", "[\"abc\"]"},
      {"sum_i32", "int sum_i32([in, size_is(n)] const int* v, int n)", "[[1, 2, 3], 3]"},
      {"sum_i32_std", "int __stdcall sum_i32_std([in, size_is(n)] const int* v, int n)", "[[4, 5], 2]"},
      {"fill_seq_u16", "void fill_seq_u16([out, size_is(n)] uint16_t* out, int n, uint16_t start)", "[5, 7]"},
      {"divmod", "int divmod(int a, int b, [out] int* q, [out] int* r)", "[47, 6]"},
      {"divmod_std", "int __stdcall divmod_std(int a, int b, [out] int* q, [out] int* r)", "[47, 0]"},
      {"present", "int present([in] const int* a, [in] const double* b)", "[null, 2.5]"},
      {"wide_hello", "int wide_hello([out, size_is(cap)] wchar_t* out, int cap)", "[8]"},
      {"rect_area",
       "struct P { int x; int y; }; struct R { struct P tl; struct P br; }; int rect_area([in] const struct "
       "R* r)",
       "[{\"tl\": {\"x\": 1, \"y\": 2}, \"br\": {\"x\": 4, \"y\": 6}}]"},
      {"mixed_make",
       "struct M { char c; double d; short s; long long q; }; struct M mixed_make(char c, double d, short s, "
       "long long q)",
       "[1, 2.5, 3, 4]"},
      {"named_fill",
       "struct P { int x; int y; }; struct N { char name[16]; int vals[3]; struct P pts[2]; }; "
       "void named_fill([out] struct N* n, int base)",
       "[7]"},
  };
  return list;
}

// A session of the in-process surrogate, driven frame by frame.
class Host final : public rpc::Transport::Receiver {
 public:
  Host() : host_(1), end_(host_.client_end()) { end_->start(*this); }
  ~Host() override {
    end_->close();
    end_.reset();
  }
  // Sends `frame` (a request) and returns the reply frame's payload.
  std::string ask(const wire::Frame& frame) {
    end_->send(wire::encode_frame(frame));
    std::unique_lock lock(mu_);
    const std::uint64_t id = frame.request().id();
    if (!cv_.wait_for(lock, 20s, [&] { return replies_.count(id) != 0; })) {
      throw std::runtime_error("no reply from the in-process surrogate");
    }
    return replies_[id];
  }
  void on_frame(std::string& payload) override {
    wire::Frame f;
    if (!f.ParseFromString(payload) || !f.has_reply()) return;
    std::lock_guard lock(mu_);
    replies_[f.reply().id()] = payload;
    cv_.notify_all();
  }
  void on_end(const std::string&, bool) override {}

 private:
  surrogate::InProcess host_;
  std::unique_ptr<rpc::Transport> end_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, std::string> replies_;
};

wire::Frame request_frame(std::uint64_t id) {
  wire::Frame f;
  f.mutable_request()->set_id(id);
  return f;
}

// The frames a client sends for one example (after the Hello), ids from 2.
std::vector<wire::Frame> client_frames(const Example& ex) {
  const sig::Function parsed = sig::parse(ex.signature);
  const detail::Signature s = detail::make_signature(sig::lower(parsed), rules::native_abi());
  std::vector<Value> args;
  for (const json& a : json::parse(ex.args)) args.push_back(tools::to_value(a, "seed"));

  std::vector<wire::Frame> frames;
  wire::Frame load = request_frame(2);
  load.mutable_request()->mutable_load_library()->set_path("sample");
  frames.push_back(load);
  wire::Frame reg = request_frame(3);
  wire::RegisterFunction* r = reg.mutable_request()->mutable_register_function();
  detail::encode_register(s, *r);
  r->set_library(1);
  r->set_name(parsed.name);
  frames.push_back(reg);
  wire::Frame call = request_frame(4);
  detail::encode_call(s, args, *call.mutable_request()->mutable_call());
  call.mutable_request()->mutable_call()->set_function(1);
  frames.push_back(call);
  frames.push_back(call);  // the same again: state across calls
  frames.back().mutable_request()->set_id(5);
  return frames;
}

void surrogate_and_reply_seeds() {
  for (const Example& ex : examples()) {
    const std::vector<wire::Frame> frames = client_frames(ex);
    std::string requests;
    for (const wire::Frame& f : frames) fuzz::put_record(requests, f.SerializeAsString());
    write("surrogate", ex.name, requests);

    // The same requests through a real session: the replies it gives are
    // the reply target's seeds, and both directions the frame target's.
    Host host;
    wire::Frame hello = request_frame(1);
    hello.mutable_request()->mutable_hello()->set_protocol_version(wire::kProtocolVersion);
    std::vector<std::string> replies{host.ask(hello)};
    for (const wire::Frame& f : frames) {
      wire::Frame sent = f;
      if (sent.request().has_load_library())
        sent.mutable_request()->mutable_load_library()->set_path(DLLBRIDGE_FUZZ_SAMPLE);
      replies.push_back(host.ask(sent));
    }
    // client_reply: hello, load, register, call, then ping and shutdown.
    const std::vector<std::string>& sigs = fuzz::signatures();
    std::size_t index = sigs.size();
    for (std::size_t i = 0; i < sigs.size(); ++i) {
      if (sigs[i] == ex.signature) index = i;
    }
    if (index < sigs.size()) {
      std::string seed(1, static_cast<char>((index << 2) | 1));  // 64-bit Linux
      for (std::size_t i = 0; i < 4; ++i) {
        seed += '\x01';
        fuzz::put_record(seed, replies[i]);
      }
      wire::Frame pong;
      pong.mutable_reply()->mutable_pong();
      seed += '\x01';
      fuzz::put_record(seed, pong.SerializeAsString());
      wire::Frame bye;
      bye.mutable_reply()->mutable_shutdown();
      seed += '\x01';
      fuzz::put_record(seed, bye.SerializeAsString());
      write("client_reply", ex.name, seed);
    }
    // frame: the client's stream (mode 0, 1) and the surrogate's (mode 2).
    std::string to_surrogate = wire::encode_frame(hello), to_client;
    for (const wire::Frame& f : frames) to_surrogate += wire::encode_frame(f);
    for (const std::string& r : replies) {
      const wire::Header h = wire::encode_header(static_cast<std::uint32_t>(r.size()));
      to_client += std::string(h.begin(), h.end()) + r;
    }
    if (ex.name == "add" || ex.name == "divmod" || ex.name == "wide_hello" || ex.name == "named_fill") {
      write("frame", ex.name + "_chunked", std::string("\x00\x07", 2) + to_surrogate);
      write("frame", ex.name + "_surrogate", std::string("\x01\x00", 2) + to_surrogate);
      write("frame", ex.name + "_client", std::string("\x02\x00", 2) + to_client);
    }
  }
  // A Ping and a Shutdown on their own; a notice (reply id 0) to the client.
  std::string ping_bye;
  wire::Frame ping = request_frame(2);
  ping.mutable_request()->mutable_ping();
  fuzz::put_record(ping_bye, ping.SerializeAsString());
  wire::Frame bye = request_frame(3);
  bye.mutable_request()->mutable_shutdown();
  fuzz::put_record(ping_bye, bye.SerializeAsString());
  write("surrogate", "ping_shutdown", ping_bye);
  wire::Frame notice;
  notice.mutable_reply()->mutable_error()->set_kind(wire::PROTOCOL);
  notice.mutable_reply()->mutable_error()->set_message("bad frame");
  std::string seed(1, '\x01');
  seed += '\x00';
  fuzz::put_record(seed, notice.SerializeAsString());
  write("client_reply", "notice", seed);
  write("frame", "oversized", std::string("\x00\x01\xff\xff\xff\x7f", 6));
}

void signature_seeds() {
  int n = 0;
  for (const auto* list : {&fuzz::signatures(), &fuzz::true_declarations()}) {
    for (const std::string& s : *list) write("signature", "sig" + std::to_string(n++), s);
  }
  const std::vector<std::string> more = {
      "int f(int a, ...)",
      "int f([out, size_is(*)] int* out)",
      "unsigned __int64 __cdecl f(unsigned long int a, long long unsigned b, signed char c, _Bool d)",
      "int f([in, size(0x10)] const char* p, /* comment */ int n) // trailing\n;",
      "struct S { int a[4]; [string] char* name; wchar_t w[8]; }; int f([in, out] struct S* s)",
      // Function pointers and typedefs (callbacks).
      "typedef int32_t (CALLBACK *ENUMPROC)(int32_t index, void* ctx);\n"
      "int32_t WINAPI enum_items(int32_t count, ENUMPROC proc, void* ctx)",
      "int32_t sort_i32([in, out, size_is(n)] int32_t* v, int32_t n, int32_t (__stdcall *cmp)(const int32_t* "
      "a, "
      "const int32_t* b))",
      "typedef struct { int32_t x; int32_t y; } P; typedef unsigned long ULONG;\n"
      "void f([persistent] P (*cb)(const char* s, [size_is(n)] const double* v, ULONG n), struct ops { int "
      "(*g)(int); "
      "} o)",
      "typedef void (*H)(int32_t, int32_t, void*); void set_event_handler([persistent] H f, void* ctx)",
  };
  for (const std::string& s : more) write("signature", "sig" + std::to_string(n++), s);
}

void json_seeds() {
  const std::vector<std::string>& sigs = fuzz::signatures();
  for (const Example& ex : examples()) {
    for (std::size_t i = 0; i < sigs.size(); ++i) {
      if (sigs[i] == ex.signature) {
        write("json_args", ex.name, std::string(1, static_cast<char>((i << 2) | 1)) + ex.args);
      }
    }
  }
  auto index_of = [&](const std::string& name) {
    for (std::size_t i = 0; i < sigs.size(); ++i) {
      if (sigs[i].find(" " + name + "(") != std::string::npos) return static_cast<char>((i << 2));
    }
    return '\0';
  };
  write("json_args", "fmt_print",
        index_of("fmt_print") + std::string("[16, \"%d %s\", {\"int\": 3}, {\"const char*\": \"x\"}]"));
  write(
      "json_args", "poly_shift",
      index_of("poly_shift") +
          std::string("[{\"tag\": 1, \"n\": 2, \"pts\": [{\"x\": 1, \"y\": 2}, {\"x\": 3, \"y\": 4}]}, 5]"));
  write("json_args", "win_types",
        index_of("win_types") + std::string("[4294967295, 65535, 255, -1, 1, 65, 0]"));
  write("json_args", "big", index_of("shl_ull") + std::string("[18446744073709551615, 1e3]"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds CORPUS_DIR\n";
    return 2;
  }
  fuzz::quiet();
  g_root = argv[1];
  try {
    surrogate_and_reply_seeds();
    signature_seeds();
    json_seeds();
  } catch (const std::exception& e) {
    std::cerr << "make_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
