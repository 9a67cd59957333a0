// What a bridged call costs over its two floors, as ratios measured in the
// same run, interleaved (absolute times on a shared machine are noise):
//  - inproc: the same call of the 64-bit sample library linked into this
//    program (what the call would cost if the DLL could be loaded here);
//  - raw:    a ping-pong of the same bytes between this process and a
//    process of the surrogate's bitness (bench/echo) over a socket pair: the
//    call's encoded request frame out, a frame of its reply's size back.
// The frames are taken from the bridge itself: a probe bridge, whose
// surrogate32 this program starts on a socket pair, records what one call of
// each case sends and receives.
//
// BM_Overhead/CASE/MODE (MODE: standard or low_latency, BridgeOptions::
// low_latency; the raw floor is the same plain ping-pong for both). Each
// iteration is one round: `batch` raw ping-pongs, `batch` in-process calls,
// `batch` bridged calls; the benchmark's time is the round's bridged calls
// (counter `batch`: how many).
// Counters (medians over all rounds): p50_us (bridged), raw_p50_us,
// inproc_p50_us, x_raw = p50_us / raw_p50_us, x_inproc = p50_us /
// inproc_p50_us; req_bytes and reply_bytes are the frames' sizes.
//
// BM_Threads/FN/workers:W/threads:T: calls per second (items_per_second) from
// T application threads through one bridge (one surrogate32 with W DLL
// threads, SupervisionPolicy::surrogate_workers). FN: add (a trivial call),
// sleep1 (a call that spends 1 ms in the DLL).
//
// BM_Pool/FN/pool:P/threads:T: the same calls through a pool of P surrogate32
// processes (BridgeOptions::pool_size), each with one DLL thread.
//
// DLLBRIDGE_BENCH_PEER_CPUS pins the surrogate and the echo (posix_peer.hpp).
// DLLBRIDGE_BENCH_BITS=64: surrogate64, the 64-bit sample and
// pingpong_echo64 instead of the 32-bit ones (posix_peer.hpp, floor_peer).
#include <benchmark/benchmark.h>

#include <cstring>
#include <functional>
#include <map>
#include <utility>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench_paths.hpp"
#include "dllbridge/bridge.hpp"
#include "dllbridge/rpc/socket_transport.hpp"
#include "dllbridge/rpc/transport.hpp"
#include "posix_peer.hpp"
#include "sample.h"

DLLBRIDGE_DESCRIBE(sample_point, "sample_point", DLLBRIDGE_FIELD(sample_point, x),
                   DLLBRIDGE_FIELD(sample_point, y));
DLLBRIDGE_DESCRIBE(sample_rect, "sample_rect", DLLBRIDGE_FIELD(sample_rect, tl),
                   DLLBRIDGE_FIELD(sample_rect, br));

namespace {

using dllbridge::Library;
using dllbridge::bench::Clock;
using dllbridge::bench::Latencies;
using dllbridge::bench::SocketChild;

// ---- the cases ----------------------------------------------------------

// One kind of call: made in-process (64-bit sample) and through a bridge.
struct Case {
  std::string name;
  int batch;  // calls of each kind per round
  // A call through `lib` (the surrogate's sample), ready to repeat.
  std::function<std::function<void()>(const Library& lib)> bridged;
  // The same call in-process, ready to repeat.
  std::function<std::function<void()>()> inproc;
};

const char kText[] = "the quick brown fox jumps over the lazy dog, 0123456789 times over";

Case buffer_case(const char* name, std::size_t bytes, int batch) {
  auto bridged = [bytes](const Library& lib) -> std::function<void()> {
    auto fn = lib.function<void(dllbridge::InOut<std::uint8_t, 1>, std::int32_t, std::uint8_t)>("xor_u8");
    auto v = std::make_shared<std::vector<std::uint8_t>>(bytes, 1);
    return [fn, v] { fn(dllbridge::inout(*v), static_cast<std::int32_t>(v->size()), 3); };
  };
  auto inproc = [bytes]() -> std::function<void()> {
    auto v = std::make_shared<std::vector<std::uint8_t>>(bytes, 1);
    return [v] {
      xor_u8(v->data(), static_cast<std::int32_t>(v->size()), 3);
      benchmark::ClobberMemory();
    };
  };
  return {name, batch, bridged, inproc};
}

std::vector<Case> cases() {
  std::vector<Case> all;
  all.push_back({"add_typed", 64,
                 [](const Library& lib) -> std::function<void()> {
                   auto fn = lib.function<std::int32_t(std::int32_t, std::int32_t)>("add");
                   return [fn] { benchmark::DoNotOptimize(fn(1, 2)); };
                 },
                 []() -> std::function<void()> {
                   return [] {
                     std::int32_t a = 1;
                     benchmark::DoNotOptimize(a);
                     benchmark::DoNotOptimize(add(a, 2));
                   };
                 }});
  all.push_back({"add_dynamic", 64,
                 [](const Library& lib) -> std::function<void()> {
                   auto fn = lib.function("int add(int a, int b)");
                   const std::vector<dllbridge::Value> args{std::int64_t{1}, std::int64_t{2}};
                   return [fn, args] { benchmark::DoNotOptimize(fn.call(args)); };
                 },
                 all.back().inproc});
  all.push_back(
      {"string", 64,
       [](const Library& lib) -> std::function<void()> {
         auto fn =
             lib.function<std::int32_t(std::string, dllbridge::Out<char, 2>, std::int32_t)>("copy_upper");
         auto out = std::make_shared<std::vector<char>>(128);
         return [fn, out] { benchmark::DoNotOptimize(fn(std::string(kText), dllbridge::out(*out), 128)); };
       },
       []() -> std::function<void()> {
         auto out = std::make_shared<std::vector<char>>(128);
         return [out] {
           benchmark::DoNotOptimize(copy_upper(kText, out->data(), 128));
           benchmark::ClobberMemory();
         };
       }});
  all.push_back({"struct_ptr", 64,
                 [](const Library& lib) -> std::function<void()> {
                   auto fn = lib.function<void(dllbridge::InOut<sample_rect>, std::int32_t)>("rect_grow");
                   auto r = std::make_shared<sample_rect>(sample_rect{{0, 0}, {3, 4}});
                   return [fn, r] { fn(dllbridge::inout(*r), 1); };
                 },
                 []() -> std::function<void()> {
                   auto r = std::make_shared<sample_rect>(sample_rect{{0, 0}, {3, 4}});
                   return [r] {
                     rect_grow(r.get(), 1);
                     benchmark::ClobberMemory();
                   };
                 }});
  all.push_back(buffer_case("buffer_1KiB", 1 << 10, 32));
  all.push_back(buffer_case("buffer_64KiB", 64 << 10, 4));
  all.push_back(buffer_case("buffer_1MiB", 1 << 20, 1));
  all.push_back(buffer_case("buffer_16MiB", 16 << 20, 1));
  return all;
}

// ---- the frames of a call, as the bridge sends them ---------------------

// What went over a recording transport.
struct Capture {
  std::mutex m;
  std::string largest_sent;     // whole frame, header included
  std::size_t largest_got = 0;  // payload bytes
  void clear() {
    std::lock_guard<std::mutex> lock(m);
    largest_sent.clear();
    largest_got = 0;
  }
};

// A transport that passes everything through and keeps the largest frame
// sent and the size of the largest frame received.
class Recording : public dllbridge::rpc::Transport, dllbridge::rpc::Transport::Receiver {
 public:
  Recording(std::unique_ptr<Transport> inner, std::shared_ptr<Capture> capture)
      : inner_(std::move(inner)), capture_(std::move(capture)) {}
  void start(Transport::Receiver& receiver) override {
    outer_ = &receiver;
    inner_->start(*this);
  }
  void send(std::string frame) override {
    {
      std::lock_guard<std::mutex> lock(capture_->m);
      if (frame.size() > capture_->largest_sent.size()) capture_->largest_sent = frame;
    }
    inner_->send(std::move(frame));
  }
  void close() noexcept override { inner_->close(); }
  CallerRead read_until(bool (*done)(void*), void* context, Clock::time_point deadline,
                        std::chrono::nanoseconds poll_for = std::chrono::nanoseconds::zero()) override {
    return inner_->read_until(done, context, deadline, poll_for);
  }

 private:
  void on_frame(std::string& payload) override {
    {
      std::lock_guard<std::mutex> lock(capture_->m);
      capture_->largest_got = std::max(capture_->largest_got, payload.size());
    }
    outer_->on_frame(payload);
  }
  void on_end(const std::string& why, bool bad_frame) override { outer_->on_end(why, bad_frame); }
  void on_reader_free() override { outer_->on_reader_free(); }

  std::unique_ptr<Transport> inner_;
  std::shared_ptr<Capture> capture_;
  Transport::Receiver* outer_ = nullptr;
};

// The request frame and reply size of one call of `c` on surrogate32.
struct Frames {
  std::string request;
  std::size_t reply_payload = 0;
};

Frames probe(const Case& c) {
  auto capture = std::make_shared<Capture>();
  std::unique_ptr<SocketChild> child;
  {
    dllbridge::BridgeOptions o;
    o.policy.call_timeout = std::chrono::minutes(5);
    o.transport = [&child, capture]() -> std::unique_ptr<dllbridge::rpc::Transport> {
      child = std::make_unique<SocketChild>(
          std::vector<std::string>{dllbridge::bench::floor_peer().surrogate, "--fd", "3"});
      if (child->pid <= 0)
        throw std::runtime_error(std::string("cannot start ") + dllbridge::bench::floor_peer().surrogate);
      return std::make_unique<Recording>(dllbridge::rpc::socket_transport(child->release_fd()), capture);
    };
    dllbridge::Bridge bridge(o);
    auto call = c.bridged(bridge.load(dllbridge::bench::floor_peer().sample));
    call();  // anything sent once per function is sent now
    capture->clear();
    call();
  }
  child.reset();  // reaps the surrogate, ended by the bridge's Shutdown
  std::lock_guard<std::mutex> lock(capture->m);
  return {capture->largest_sent, capture->largest_got};
}

const Frames& frames_of(const Case& c) {
  static std::map<std::string, Frames> known;
  auto it = known.find(c.name);
  if (it == known.end()) it = known.emplace(c.name, probe(c)).first;
  return it->second;
}

// ---- the interleaved rounds ---------------------------------------------

void overhead(benchmark::State& state, const Case& c, bool low_latency) {
  if (const char* why = dllbridge::bench::floor_peer().missing) {
    state.SkipWithError(why);
    return;
  }
  try {
    const Frames& frames = frames_of(c);
    SocketChild echo(dllbridge::bench::echo_args(false, frames.reply_payload));
    if (echo.pid <= 0) {
      state.SkipWithError((std::string("cannot start ") + dllbridge::bench::floor_peer().echo).c_str());
      return;
    }
    std::string back(frames.reply_payload + 4, '\0');

    dllbridge::BridgeOptions o;
    o.arch = dllbridge::bench::floor_peer().arch;
    o.surrogate_path = dllbridge::bench::floor_peer().surrogate;
    o.low_latency = low_latency;
    o.launcher = dllbridge::bench::peer_launcher();
    o.policy.call_timeout = std::chrono::minutes(5);
    dllbridge::Bridge bridge(o);
    const auto bridged = c.bridged(bridge.load(dllbridge::bench::floor_peer().sample));
    const auto inproc = c.inproc();
    bridged();  // warm: first-call work is not part of a call

    Latencies raw_lat, inproc_lat, bridge_lat;
    for (auto _ : state) {
      for (int i = 0; i < c.batch; ++i) {
        const auto t0 = Clock::now();
        if (!dllbridge::bench::write_all(echo.fd, frames.request.data(), frames.request.size()) ||
            !dllbridge::bench::read_all(echo.fd, back.data(), back.size(), false)) {
          state.SkipWithError("the echo process went away");
          return;
        }
        raw_lat.add(Clock::now() - t0);
      }
      // In-process calls are timed as one batch (one call is below the clock's resolution).
      const auto t1 = Clock::now();
      for (int i = 0; i < c.batch; ++i) inproc();
      inproc_lat.add_ns(std::chrono::duration<double, std::nano>(Clock::now() - t1).count() / c.batch);
      const auto t2 = Clock::now();
      for (int i = 0; i < c.batch; ++i) {
        const auto t = Clock::now();
        bridged();
        bridge_lat.add(Clock::now() - t);
      }
      state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t2).count());
    }
    const double p50 = bridge_lat.quantile_us(0.5), raw = raw_lat.quantile_us(0.5),
                 in = inproc_lat.quantile_us(0.5);
    bridge_lat.report(state);
    raw_lat.report(state, "raw_");
    state.counters["inproc_p50_us"] = in;
    if (raw > 0) state.counters["x_raw"] = p50 / raw;
    if (in > 0) state.counters["x_inproc"] = p50 / in;
    state.counters["batch"] = c.batch;
    state.counters["req_bytes"] = static_cast<double>(frames.request.size());
    state.counters["reply_bytes"] = static_cast<double>(frames.reply_payload + 4);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// ---- calls from several threads -----------------------------------------

// One bridge per (surrogate workers, pool size), shared by the threads of a run.
std::mutex bridges_mutex;
std::map<std::pair<int, int>, std::unique_ptr<dllbridge::Bridge>> bridges;

dllbridge::Bridge& shared_bridge(int workers, int pool) {
  std::lock_guard<std::mutex> lock(bridges_mutex);
  auto& b = bridges[{workers, pool}];
  if (!b) {
    dllbridge::BridgeOptions o;
    o.arch = dllbridge::bench::floor_peer().arch;
    o.surrogate_path = dllbridge::bench::floor_peer().surrogate;
    o.launcher = dllbridge::bench::peer_launcher();
    o.policy.surrogate_workers = workers;
    o.policy.call_timeout = std::chrono::minutes(5);
    o.pool_size = static_cast<std::size_t>(pool);
    b = std::make_unique<dllbridge::Bridge>(o);
  }
  return *b;
}

// T threads calling add or sleep_ms(1) through the bridge of `workers` DLL
// threads per surrogate and `pool` surrogates.
void threads(benchmark::State& state, bool sleep1, int workers, int pool) {
  if (const char* why = dllbridge::bench::floor_peer().missing) {
    state.SkipWithError(why);
    return;
  }
  try {
    Library lib = shared_bridge(workers, pool).load(dllbridge::bench::floor_peer().sample);
    if (sleep1) {
      auto fn = lib.function<std::int32_t(std::int32_t)>("sleep_ms");
      for (auto _ : state) benchmark::DoNotOptimize(fn(1));
    } else {
      auto fn = lib.function<std::int32_t(std::int32_t, std::int32_t)>("add");
      for (auto _ : state) benchmark::DoNotOptimize(fn(1, 2));
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void register_all() {
  static const std::vector<Case> all = cases();
  for (const Case& c : all) {
    for (const bool ll : {false, true}) {
      const std::string name = "BM_Overhead/" + c.name + (ll ? "/low_latency" : "/standard");
      benchmark::RegisterBenchmark(name.c_str(), [&c, ll](benchmark::State& s) { overhead(s, c, ll); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (const bool sleep1 : {false, true}) {
    const std::string name = std::string("BM_Threads/") + (sleep1 ? "sleep1" : "add");
    benchmark::RegisterBenchmark(
        name.c_str(), [sleep1](benchmark::State& s) { threads(s, sleep1, static_cast<int>(s.range(0)), 1); })
        ->ArgName("workers")
        ->Arg(1)
        ->Arg(4)
        ->ThreadRange(1, 8)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (const bool sleep1 : {false, true}) {
    const std::string name = std::string("BM_Pool/") + (sleep1 ? "sleep1" : "add");
    benchmark::RegisterBenchmark(
        name.c_str(), [sleep1](benchmark::State& s) { threads(s, sleep1, 1, static_cast<int>(s.range(0))); })
        ->ArgName("pool")
        ->Arg(1)
        ->Arg(2)
        ->Arg(4)
        ->ThreadRange(1, 8)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  bridges.clear();
  return 0;
}
