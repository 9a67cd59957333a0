// The whole client over the in-process transport: the surrogate's session
// and dispatcher run in this process (BridgeOptions::transport), so these
// tests drive the dispatcher directly, without a second process, and the
// surrogate side can send requests to the client.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "core/in_process.hpp"
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
