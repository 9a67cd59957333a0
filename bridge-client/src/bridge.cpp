#include "dllbridge/bridge.hpp"

#include "figures.hpp"
#include "marshal.hpp"
#include "session.hpp"
#include "signature.hpp"

namespace dllbridge {
namespace detail {

// A registered function: the session it lives in and how to marshal it.
struct FunctionState {
  std::shared_ptr<Session> session;
  std::uint32_t id = 0;
  std::string name;
  std::string resolved_name;
  WireSignature signature;
};

CallResult call_function(const Function& f, std::vector<Value>&& args) { return f.call(args); }

}  // namespace detail

Bridge::Bridge(BridgeOptions options) : session_(detail::Session::start(std::move(options))) {}
Bridge::~Bridge() = default;
Bridge::Bridge(Bridge&&) noexcept = default;
Bridge& Bridge::operator=(Bridge&&) noexcept = default;

const SurrogateInfo& Bridge::surrogate() const { return session_->info(); }
const std::string& Bridge::surrogate_path() const { return session_->surrogate_path(); }

ProcessFigures Bridge::figures() const {
  if (auto f = detail::read_figures(session_->info().pid)) return *f;
  throw Error(ErrorKind::crashed, "surrogate process " + std::to_string(session_->info().pid) + " is gone");
}

Library Bridge::load(const std::string& path) {
  wire::Request req;
  req.mutable_load_library()->set_path(path);
  const wire::Reply reply = session_->request(std::move(req), session_->options().call_timeout);
  if (!reply.has_load_library()) throw Error(ErrorKind::protocol, "load answered with something else");
  return Library(session_, reply.load_library().library(), path);
}

Function Library::function(std::string_view text) const {
  const sig::Function fn = sig::parse(text);
  const SurrogateInfo& info = session_->info();
  auto state = std::make_shared<detail::FunctionState>();
  state->session = session_;
  state->name = fn.name;
  state->signature = detail::lower(fn, detail::TargetAbi{info.pointer_size, info.os == "windows"});

  wire::Request req;
  wire::RegisterFunction* reg = req.mutable_register_function();
  reg->set_library(id_);
  reg->set_name(fn.name);
  reg->set_conv(static_cast<wire::CallConv>(fn.conv));
  reg->set_ret(state->signature.ret.kind);
  for (const detail::WireParam& p : state->signature.params) reg->add_params(p.kind);
  const wire::Reply reply = session_->request(std::move(req), session_->options().call_timeout);
  if (!reply.has_register_function()) throw Error(ErrorKind::protocol, "register answered with something else");
  state->id = reply.register_function().function();
  state->resolved_name = reply.register_function().resolved_name();
  return Function(std::move(state));
}

CallResult Function::call(const std::vector<Value>& args,
                          std::optional<std::chrono::milliseconds> timeout) const {
  const detail::FunctionState& s = *state_;
  if (args.size() != s.signature.params.size()) {
    throw Error(ErrorKind::bad_argument, s.name + " takes " + std::to_string(s.signature.params.size()) +
                                             " argument(s), got " + std::to_string(args.size()));
  }
  wire::Request req;
  wire::Call* call = req.mutable_call();
  call->set_function(s.id);
  for (std::size_t i = 0; i < args.size(); ++i) {
    *call->add_args() = detail::encode_argument(s.signature.params[i], args[i]);
  }
  const wire::Reply reply =
      s.session->request(std::move(req), timeout.value_or(s.session->options().call_timeout));
  if (!reply.has_call()) throw Error(ErrorKind::protocol, "call answered with something else");
  const wire::CallReply& r = reply.call();
  CallResult out;
  out.ret = detail::decode_result(s.signature.ret, r.ret());
  out.last_error = r.last_error();
  out.elapsed = std::chrono::nanoseconds(r.elapsed_ns());
  return out;
}

const std::string& Function::resolved_name() const { return state_->resolved_name; }
const std::string& Function::name() const { return state_->name; }

std::vector<std::string> Function::parameter_names() const {
  std::vector<std::string> names;
  for (const auto& p : state_->signature.params) names.push_back(p.name);
  return names;
}

}  // namespace dllbridge
