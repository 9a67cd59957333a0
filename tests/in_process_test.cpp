// The whole client over the in-process transport: the surrogate's session
// and dispatcher run in this process (BridgeOptions::transport), so these
// tests drive the dispatcher directly, without a second process, and the
// surrogate side can send requests to the client.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/in_process.hpp"
#include "core/session.hpp"
#include "dllbridge/bridge.hpp"
#include "dllbridge/wire/frame.hpp"
#include "test_paths.hpp"

using namespace dllbridge;
using namespace std::chrono_literals;
namespace paths = dllbridge::test;

namespace {

BridgeOptions in_process_options() {
  BridgeOptions o;
  o.transport = [] { return surrogate::start_in_process(1); };
  o.policy.heartbeat.interval = 0ms;
  return o;
}

}  // namespace

TEST(InProcess, CallsReachTheDispatcherInThisProcess) {
  Bridge bridge(in_process_options());
  EXPECT_EQ(bridge.surrogate().pointer_size, sizeof(void*));
  Library lib = bridge.load(paths::kSample64);
  auto add = lib.function<std::int32_t(std::int32_t, std::int32_t)>("add");
  EXPECT_EQ(add(2, 40), 42);
  Function divmod = lib.function("int divmod(int a, int b, [out] int* q, [out] int* r)");
  const CallResult r = divmod.call({std::int64_t{47}, std::int64_t{6}});
  EXPECT_EQ(std::get<std::int64_t>(r.out.at("q")), 7);
  EXPECT_EQ(std::get<std::int64_t>(r.out.at("r")), 5);
}

TEST(InProcess, TheDispatchersErrorsArriveWithTheirKinds) {
  Bridge bridge(in_process_options());
  Library lib = bridge.load(paths::kSample64);
  try {
    lib.function("int no_such_export(int a)");
    FAIL() << "registered a missing export";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::symbol_not_found) << e.what();
  }
  try {
    bridge.load("/no/such/library.so");
    FAIL() << "loaded a missing library";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::library_load_failed) << e.what();
  }
}

TEST(InProcess, TheSurrogateSideCanAskTheClient) {
  // The session sends a request of its own to the client while the client
  // is connected; the client's channel answers it.
  surrogate::InProcess host(1);
  BridgeOptions o = in_process_options();
  auto end = std::make_shared<std::unique_ptr<rpc::Transport>>(host.client_end());
  o.transport = [end] { return std::move(*end); };
  o.policy.restart.enabled = false;
  Bridge bridge(o);
  ASSERT_EQ(bridge.surrogate().pointer_size, sizeof(void*));  // handshake done

  wire::Request ping;
  ping.mutable_ping();
  const auto reply = host.session().peer().request(ping, std::chrono::steady_clock::now() + 20s);
  ASSERT_TRUE(reply) << "no answer from the client";
  EXPECT_TRUE(reply->has_pong());

  wire::Request call;  // something the client does not serve: an error, never silence
  call.mutable_call()->set_function(1);
  const auto refused = host.session().peer().request(call, std::chrono::steady_clock::now() + 20s);
  ASSERT_TRUE(refused);
  EXPECT_TRUE(refused->has_error());
}

TEST(InProcess, ASessionRefusesEverythingBeforeHello) {
  auto [client, server] = rpc::in_memory_pair();
  surrogate::Session session(*server, 1);
  rpc::Peer peer(
      *client, rpc::Peer::Handlers{[](wire::Request&&) {}, [](const wire::Request&) { return wire::Reply(); },
                                   nullptr, nullptr, nullptr, nullptr});
  peer.start();
  std::thread serving([&] { session.run(); });
  wire::Request load;
  load.mutable_load_library()->set_path(paths::kSample64);
  const auto reply = peer.request(load, std::chrono::steady_clock::now() + 20s);
  ASSERT_TRUE(reply);
  ASSERT_TRUE(reply->has_error());
  EXPECT_EQ(reply->error().kind(), wire::PROTOCOL);
  EXPECT_NE(reply->error().message().find("Hello"), std::string::npos) << reply->error().message();
  serving.join();  // and the session ended by itself
  client->close();
  client.reset();
}

namespace {

// A surrogate's transport that records how long each worker's read for
// work may poll (read_until's poll_for) and then says the reading is busy,
// so the worker waits for work delivered by the inner transport's thread.
class PollRecorder final : public rpc::Transport {
 public:
  explicit PollRecorder(std::unique_ptr<rpc::Transport> inner) : inner_(std::move(inner)) {}
  void start(Receiver& receiver) override { inner_->start(receiver); }
  void send(std::string frame) override { inner_->send(std::move(frame)); }
  void close() noexcept override { inner_->close(); }
  CallerRead read_until(bool (*)(void*), void*, std::chrono::steady_clock::time_point,
                        std::chrono::nanoseconds poll_for) override {
    std::lock_guard lock(mu_);
    polls_.push_back(poll_for);
    cv_.notify_all();
    return CallerRead::busy;
  }
  // Waits until `n` reads were recorded; the last one's poll.
  std::chrono::nanoseconds nth(std::size_t n) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, 20s, [&] { return polls_.size() >= n; })) return std::chrono::nanoseconds(-1);
    return polls_[n - 1];
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return polls_.size();
  }

 private:
  std::unique_ptr<rpc::Transport> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::chrono::nanoseconds> polls_;
};

}  // namespace

// Call.poll_next_ns: after answering such a call the worker that reads for
// the next request may poll for it that long, at most 100 us whatever the
// client asks; after a poll that missed (here every one: nothing comes
// while it polls) the next ask is passed up; a request without an ask
// polls not at all.
TEST(InProcess, ASessionPollsForTheNextRequestAsLongAsTheCallAskedAtMostOneHundredMicroseconds) {
  auto [client, server_end] = rpc::in_memory_pair();
  PollRecorder server(std::move(server_end));
  surrogate::Session session(server, 1);
  rpc::Peer peer(
      *client, rpc::Peer::Handlers{[](wire::Request&&) {}, [](const wire::Request&) { return wire::Reply(); },
                                   nullptr, nullptr, nullptr, nullptr});
  peer.start();
  std::thread serving([&] { session.run(); });
  // Each request, then the poll of the read that followed its answer.
  auto poll_after = [&](wire::Request request) {
    const std::size_t before = server.count();
    const auto reply = peer.request(std::move(request), std::chrono::steady_clock::now() + 20s);
    EXPECT_TRUE(reply) << "no answer";
    return server.nth(before + 1);
  };
  auto call_asking = [](std::uint32_t ns) {
    wire::Request r;
    r.mutable_call()->set_function(999);  // (refused: the ask counts all the same)
    r.mutable_call()->set_poll_next_ns(ns);
    return r;
  };
  wire::Request hello;
  hello.mutable_hello()->set_protocol_version(wire::kProtocolVersion);
  ASSERT_TRUE(
      peer.request(hello, std::chrono::steady_clock::now() + 20s));  // (answered by the reading thread)
  EXPECT_EQ(poll_after(call_asking(UINT32_MAX)), 100us) << "the ask is capped";
  EXPECT_EQ(poll_after(call_asking(30000)), 0ns) << "after a poll that missed, the next ask is passed up";
  EXPECT_EQ(poll_after(call_asking(30000)), 30us);
  EXPECT_EQ(poll_after(call_asking(0)), 0ns) << "no ask, no poll";
  client->close();
  peer.wait_reading_over();  // (the peer dies first)
  serving.join();
  server.close();
}

namespace {

// Sets (or with null, removes) environment variable `name` for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { set(value); }
  ~ScopedEnv() { set(nullptr); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  void set(const char* value) {
#ifdef _WIN32
    _putenv_s(name_, value ? value : "");
#else
    if (value) {
      ::setenv(name_, value, 1);
    } else {
      ::unsetenv(name_);
    }
#endif
  }
  const char* name_;
};

}  // namespace

// A DLLBRIDGE_* switch or number the bridge does not understand fails its
// construction with bad_argument naming the variable and the value, before
// anything starts; an empty one is the default.
TEST(InProcess, AnEnvironmentVariableTheBridgeCannotReadFailsItsConstructionNamingIt) {
  const std::pair<const char*, const char*> bad[] = {
      {"DLLBRIDGE_SHARED_FRAMES", "yes"}, {"DLLBRIDGE_FORK_SERVER", "ON"},
      {"DLLBRIDGE_SHARED_REGION", "0"},   {"DLLBRIDGE_COPY_AFTER_SEND", "1"},
      {"DLLBRIDGE_BULK_POLL", "maybe"},   {"DLLBRIDGE_REGION_BUDGET", "lots"},
      {"DLLBRIDGE_REGION_BUDGET", "12Q"}, {"DLLBRIDGE_REGION_BUDGET", "99999999999999999999"},
  };
  for (const auto& [name, value] : bad) {
    const ScopedEnv env(name, value);
    try {
      Bridge bridge(in_process_options());
      ADD_FAILURE() << name << "=" << value << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::bad_argument) << e.what();
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(value), std::string::npos) << e.what();
    }
  }
  const ScopedEnv empty("DLLBRIDGE_SHARED_FRAMES", "");
  const ScopedEnv off("DLLBRIDGE_BULK_POLL", "off");
  Bridge bridge(in_process_options());
  EXPECT_EQ(bridge.surrogate().pointer_size, sizeof(void*));
}
