#include "channel/channel.hpp"

#include "dllbridge/wire/frame.hpp"

namespace dllbridge::detail {
namespace {

wire::Request with_hello(std::uint32_t version, const std::string& token) {
  wire::Request r;
  r.mutable_hello()->set_protocol_version(version);
  r.mutable_hello()->set_client("dllbridge-client");
  if (!token.empty()) r.mutable_hello()->set_token(token);
  return r;
}

[[noreturn]] void wrong_answer(const char* what) {
  throw Error(ErrorKind::protocol, std::string(what) + " answered with something else");
}

}  // namespace

ErrorKind from_wire(wire::ErrorKind kind) {
  switch (kind) {
    case wire::TIMEOUT: return ErrorKind::timeout;
    case wire::CRASHED: return ErrorKind::crashed;
    case wire::CIRCUIT_OPEN: return ErrorKind::circuit_open;
    case wire::BAD_SIGNATURE: return ErrorKind::bad_signature;
    case wire::BAD_ARGUMENT: return ErrorKind::bad_argument;
    case wire::SYMBOL_NOT_FOUND: return ErrorKind::symbol_not_found;
    case wire::LIBRARY_LOAD_FAILED: return ErrorKind::library_load_failed;
    case wire::SURROGATE_START_FAILED: return ErrorKind::surrogate_start_failed;
    case wire::UNAUTHORIZED: return ErrorKind::unauthorized;
    case wire::CALLBACK_FAILED: return ErrorKind::callback_failed;
    default: return ErrorKind::protocol;
  }
}

Channel::Channel(std::unique_ptr<rpc::Transport> transport, Hooks hooks)
    : hooks_(std::move(hooks)),
      transport_(std::move(transport)),
      peer_(*transport_,
            rpc::Peer::Handlers{
                // The surrogate's requests: answered at once (callbacks will
                // run on a thread of the bridge, or nested on the caller's).
                [this](wire::Request&& r) { peer_.serve(r); },
                [](const wire::Request& r) {
                  wire::Reply reply;
                  if (r.has_ping()) {
                    reply.mutable_pong();
                  } else {
                    // Never a silent drop: the surrogate must not wait in vain.
                    reply.mutable_error()->set_kind(wire::PROTOCOL);
                    reply.mutable_error()->set_message("the client serves no such request");
                  }
                  return reply;
                },
                [this](const wire::Reply& notice) {
                  // Not an answer to one request: the surrogate is ending the session.
                  fail_all(Error(from_wire(notice.error().kind()), notice.error().message()));
                },
                [this](const std::string& why, bool bad_frame) {
                  fail_all(hooks_.on_end
                               ? hooks_.on_end(why, bad_frame)
                               : Error(bad_frame ? ErrorKind::protocol : ErrorKind::crashed, why, true));
                },
            }) {}

Channel::~Channel() {
  transport_->close();
  transport_.reset();  // its reading is over: the peer is no longer called
}

void Channel::start() { peer_.start(); }

bool Channel::lost() const {
  std::lock_guard lock(mu_);
  return dead_.has_value();
}

Error Channel::dead_error() const {
  std::lock_guard lock(mu_);
  return dead_ ? *dead_ : Error(ErrorKind::crashed, "the channel to the surrogate is closed", true);
}

void Channel::fail_all(const Error& error) {
  {
    std::lock_guard lock(mu_);
    if (!dead_) dead_ = error;
  }
  peer_.abort(error.what());
}

wire::Reply Channel::request(wire::Request request, millis timeout, bool kill_on_timeout,
                             std::uint64_t reply_budget) {
  return request_kept(request, timeout, kill_on_timeout, reply_budget);
}

wire::Reply Channel::request_kept(wire::Request& request, millis timeout, bool kill_on_timeout,
                                  std::uint64_t reply_budget) {
  {
    std::lock_guard lock(mu_);
    if (dead_) throw Error(dead_->kind(), dead_->what(), false);  // not sent: it did not run
  }
  std::optional<wire::Reply> reply;
  try {
    reply = peer_.request_kept(request, rpc::Peer::Clock::now() + timeout, reply_budget);
  } catch (const rpc::Closed& closed) {
    const Error e = dead_error();
    throw Error(e.kind(), e.what(), closed.sent() && e.may_have_run());
  } catch (const wire::FrameError& e) {
    throw Error(ErrorKind::bad_argument, e.what());
  }
  if (!reply) {
    const std::string what = "no reply within " + std::to_string(timeout.count()) + " ms";
    if (!kill_on_timeout) throw Error(ErrorKind::timeout, what);
    // A DLL call cannot be cancelled: stop the surrogate so nothing runs on.
    const std::string done =
        hooks_.on_deadline ? hooks_.on_deadline("a call passed its deadline (" + what + ")") : std::string();
    throw Error(ErrorKind::timeout, what + (done.empty() ? "" : "; " + done) + ", the call may have run",
                true);
  }
  if (reply->has_error()) throw Error(from_wire(reply->error().kind()), reply->error().message());
  return std::move(*reply);
}

SurrogateInfo Channel::hello(millis timeout, const std::string& token, std::uint32_t pointer_size) {
  const wire::Reply reply = request(with_hello(wire::kProtocolVersion, token), timeout, false);
  if (!reply.has_hello()) wrong_answer("the handshake");
  const wire::HelloReply& h = reply.hello();
  if (h.protocol_version() != wire::kProtocolVersion) {
    throw Error(ErrorKind::protocol, "the surrogate speaks protocol version " +
                                         std::to_string(h.protocol_version()) + ", this client " +
                                         std::to_string(wire::kProtocolVersion));
  }
  // It decides the ABI of every value: only what a surrogate can be.
  const bool plausible = h.pointer_size() == 4 || h.pointer_size() == 8;
  if (!plausible || (pointer_size != 0 && h.pointer_size() != pointer_size)) {
    throw Error(ErrorKind::protocol,
                "the surrogate says its pointers are " + std::to_string(h.pointer_size()) +
                    " bytes; expected " +
                    (pointer_size != 0 ? std::to_string(pointer_size) : std::string("4 or 8")));
  }
  return SurrogateInfo{h.protocol_version(), h.pid(), h.pointer_size(), h.os(), h.arch()};
}

std::uint64_t Channel::load_library(const std::string& path, millis timeout) {
  wire::Request req;
  req.mutable_load_library()->set_path(path);
  const wire::Reply reply = request(std::move(req), timeout, true);
  if (!reply.has_load_library()) wrong_answer("a library load");
  return reply.load_library().library();
}

RegisteredFunction Channel::register_function(std::uint64_t library, const std::string& symbol,
                                              const Signature& signature, millis timeout) {
  wire::Request req;
  wire::RegisterFunction* reg = req.mutable_register_function();
  encode_register(signature, *reg);
  reg->set_library(library);
  reg->set_name(symbol);
  const wire::Reply reply = request(std::move(req), timeout, true);
  if (!reply.has_register_function()) wrong_answer("a registration");
  return RegisteredFunction{reply.register_function().function(), reply.register_function().resolved_name()};
}

EncodedCall Channel::encode(const Signature& signature, const std::vector<Value>& args,
                            const std::vector<Buffer>* out_buffers) {
  EncodedCall encoded;
  encoded.plan_ = encode_call(signature, args, *encoded.request_.mutable_call(), out_buffers);
  return encoded;
}

CallResult Channel::call(std::uint32_t function, const Signature& signature, EncodedCall& args,
                         millis timeout) {
  args.request_.mutable_call()->set_function(function);
  const wire::Reply reply = request_kept(args.request_, timeout, true, args.plan_.budget);
  if (!reply.has_call()) wrong_answer("a call");
  return decode_reply(signature, reply.call(), &args.request_.call(), &args.plan_.sinks);
}

void Channel::ping(millis timeout) {
  wire::Request req;
  req.mutable_ping();
  if (!request(std::move(req), timeout, false).has_pong()) wrong_answer("a ping");
}

void Channel::shutdown(millis timeout) {
  wire::Request req;
  req.mutable_shutdown();
  if (!request(std::move(req), timeout, false).has_shutdown()) wrong_answer("a shutdown");
}

}  // namespace dllbridge::detail
