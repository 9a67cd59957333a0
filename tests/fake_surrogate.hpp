// A fake surrogate for the client's reply checks: it answers the handshake,
// loads and registrations like a real one, and answers each call with what
// the test asks for (a reply it builds, or raw frame bytes), over an
// in-memory transport given to the Bridge (BridgeOptions::transport).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "dllbridge/bridge.hpp"
#include "dllbridge/dllbridge.pb.h"
#include "dllbridge/rpc/peer.hpp"
#include "dllbridge/rpc/transport.hpp"
#include "dllbridge/wire/frame.hpp"

namespace dllbridge::test {

class FakeSurrogate {
 public:
  // How a call is answered: a reply (its id is set by the fake), or, when
  // `raw` is set, these bytes as the frame's payload with `id` as reply id.
  using Answer = std::function<wire::Reply(const wire::Call& call)>;
  using RawAnswer = std::function<std::string(std::uint64_t id)>;

  Answer answer;
  RawAnswer raw;
  std::atomic<int> sessions{0};  // transports made
  std::atomic<int> calls{0};     // Call requests received
  std::atomic<int> loads{0};     // LoadLibrary requests received

  // Options for a Bridge talking to this fake (no heartbeat: only the calls travel).
  BridgeOptions options() {
    BridgeOptions o;
    o.transport = [this] { return connect(); };
    o.policy.heartbeat.interval = std::chrono::milliseconds(0);
    o.policy.call_timeout = std::chrono::milliseconds(20000);
    return o;
  }

 private:
  // The client's end; owns the fake's end and its peer.
  class End final : public rpc::Transport {
   public:
    explicit End(FakeSurrogate& fake) : fake_(fake) {
      auto [client, server] = rpc::in_memory_pair();
      client_ = std::move(client);
      server_ = std::move(server);
      peer_ = std::make_unique<rpc::Peer>(
          *server_, rpc::Peer::Handlers{[this](wire::Request&& r) { on_request(std::move(r)); },
                                        [this](const wire::Request& r) { return respond(r); }, nullptr,
                                        nullptr, nullptr, nullptr});
      peer_->start();
    }
    ~End() override {
      client_->close();
      server_->close();
      server_.reset();  // its reading is over: the peer is no longer called
    }
    void start(Receiver& receiver) override { client_->start(receiver); }
    void send(std::string frame) override { client_->send(std::move(frame)); }
    void close() noexcept override { client_->close(); }

   private:
    void on_request(wire::Request&& r) {
      if (r.has_call()) ++fake_.calls;
      if (r.has_load_library()) ++fake_.loads;
      if (r.has_call() && fake_.raw) {
        const std::string payload = fake_.raw(r.id());
        server_->send(std::string(wire::kHeaderSize, '\0') + payload);  // the in-memory end drops the header
        return;
      }
      peer_->serve(r);
    }

    wire::Reply respond(const wire::Request& r) {
      wire::Reply reply;
      if (r.has_hello()) {
        wire::HelloReply* h = reply.mutable_hello();
        h->set_protocol_version(wire::kProtocolVersion);
        h->set_pointer_size(sizeof(void*));
        h->set_os(
#if defined(_WIN32)
            "windows"
#else
            "linux"
#endif
        );
        h->set_arch(sizeof(void*) == 8 ? "x86_64" : "i386");
      } else if (r.has_load_library()) {
        reply.mutable_load_library()->set_library(1);
      } else if (r.has_register_function()) {
        reply.mutable_register_function()->set_function(1);
        reply.mutable_register_function()->set_resolved_name(r.register_function().name());
      } else if (r.has_call() && fake_.answer) {
        reply = fake_.answer(r.call());
      } else if (r.has_ping()) {
        reply.mutable_pong();
      } else if (r.has_shutdown()) {
        reply.mutable_shutdown();
      }
      return reply;
    }

    FakeSurrogate& fake_;
    std::unique_ptr<rpc::Transport> client_;
    std::unique_ptr<rpc::Transport> server_;
    std::unique_ptr<rpc::Peer> peer_;
  };

  std::unique_ptr<rpc::Transport> connect() {
    ++sessions;
    return std::make_unique<End>(*this);
  }
};

// A serialized varint.
inline std::string varint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>(v | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}

// A length-delimited field: tag, length, bytes.
inline std::string field(unsigned number, const std::string& bytes) {
  return varint(number << 3 | 2u) + varint(bytes.size()) + bytes;
}

}  // namespace dllbridge::test
