#include "session.hpp"

#include <cstdlib>
#include <sys/stat.h>

#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

namespace dllbridge::detail {
namespace {

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Where the surrogate program is: explicit path, $DLLBRIDGE_SURROGATE_DIR,
// next to the client, or in ../bin of an installed library.
std::string find_surrogate(const BridgeOptions& o) {
  if (!o.surrogate_path.empty()) return o.surrogate_path;
#if defined(_WIN32)
  const std::string name = o.arch == Arch::x86 ? "surrogate32.exe" : "surrogate64.exe";
#else
  const std::string name = o.arch == Arch::x86 ? "surrogate32" : "surrogate64";
#endif
  std::vector<std::string> tried;
  if (const char* dir = std::getenv("DLLBRIDGE_SURROGATE_DIR"); dir && *dir) {
    tried.push_back(std::string(dir) + "/" + name);
  }
  const std::string here = client_module_dir();
  tried.push_back(here + "/" + name);
  tried.push_back(here + "/../bin/" + name);
  tried.push_back(here + "/../../bin/" + name);  // lib/<multiarch>/
  for (const std::string& path : tried) {
    if (is_file(path)) return path;
  }
  std::string list;
  for (const std::string& path : tried) list += (list.empty() ? "" : ", ") + path;
  throw Error(ErrorKind::surrogate_start_failed,
              "cannot find " + name + " (looked at " + list +
                  "); set BridgeOptions::surrogate_path or DLLBRIDGE_SURROGATE_DIR");
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
    default: return ErrorKind::protocol;
  }
}

Session::Session(BridgeOptions options)
    : options_(std::move(options)), work_(io_.get_executor()), stream_(io_) {}

std::shared_ptr<Session> Session::start(BridgeOptions options) {
  std::shared_ptr<Session> s(new Session(std::move(options)));
  s->open();
  return s;
}

void Session::open() {
  if (options_.connect.empty()) {
    surrogate_path_ = find_surrogate(options_);
    Spawned spawned = spawn_surrogate(io_, surrogate_path_,
                                      {"--log-level", options_.surrogate_log_level},
                                      options_.launcher);
    process_ = std::move(spawned.process);
    stream_ = std::move(spawned.stream);
  } else {
    stream_ = connect_endpoint(io_, options_.connect);
  }
  read_header();
  io_thread_ = std::thread([this] { io_.run(); });

  wire::Request hello;
  hello.mutable_hello()->set_protocol_version(wire::kProtocolVersion);
  hello.mutable_hello()->set_client("dllbridge-client");
  wire::Reply reply;
  try {
    reply = request(std::move(hello), options_.start_timeout);
  } catch (const Error& e) {
    const ErrorKind kind = e.kind() == ErrorKind::unauthorized || e.kind() == ErrorKind::protocol
                               ? e.kind()
                               : ErrorKind::surrogate_start_failed;
    throw Error(kind, std::string("surrogate handshake failed: ") + e.what());
  }
  if (!reply.has_hello()) throw Error(ErrorKind::protocol, "handshake answered with something else");
  const wire::HelloReply& h = reply.hello();
  info_ = SurrogateInfo{h.protocol_version(), h.pid(), h.pointer_size(), h.os(), h.arch()};
}

Session::~Session() {
  bool alive;
  {
    std::lock_guard lock(mu_);
    alive = !dead_.has_value();
  }
  if (alive) {
    try {
      wire::Request bye;
      bye.mutable_shutdown();
      request(std::move(bye), std::chrono::milliseconds(2000));
    } catch (const std::exception&) {
      // Ending anyway; the process owner below makes sure it is gone.
    }
  }
  asio::post(io_, [this] {
    asio::error_code ignored;
    stream_.close(ignored);
  });
  work_.reset();
  if (io_thread_.joinable()) io_thread_.join();
  if (process_.valid() && !process_.wait_for(std::chrono::milliseconds(2000))) process_.kill();
}

wire::Reply Session::request(wire::Request request, std::chrono::milliseconds timeout) {
  std::future<wire::Reply> reply;
  std::uint64_t id;
  {
    std::lock_guard lock(mu_);
    if (dead_) throw *dead_;
    id = next_id_++;
    reply = pending_[id].get_future();
  }
  request.set_id(id);
  std::string frame;
  try {
    frame = wire::encode_frame(request);
  } catch (const wire::FrameError& e) {
    std::lock_guard lock(mu_);
    pending_.erase(id);
    throw Error(ErrorKind::bad_argument, e.what());
  }
  // `this` outlives the handler: the destructor joins the I/O thread first.
  asio::post(io_, [this, frame = std::move(frame)]() mutable {
    writes_.push_back(std::move(frame));
    if (writes_.size() == 1) write_next();
  });

  if (reply.wait_for(timeout) != std::future_status::ready) {
    {
      std::lock_guard lock(mu_);
      pending_.erase(id);  // a late reply for this id is dropped, never misdelivered
    }
    const std::string what = "no reply within " + std::to_string(timeout.count()) + " ms";
    if (process_.valid()) {
      // A DLL call cannot be cancelled: stop the surrogate so nothing runs on.
      fail_all(Error(ErrorKind::timeout, "surrogate stopped after another call timed out (" + what + ")"));
      std::lock_guard lock(process_mu_);
      process_.kill();
    }
    throw Error(ErrorKind::timeout, what);
  }
  wire::Reply r = reply.get();
  if (r.has_error()) throw Error(from_wire(r.error().kind()), r.error().message());
  return r;
}

void Session::write_next() {
  asio::async_write(stream_, asio::buffer(writes_.front()),
                    [this](const asio::error_code& ec, std::size_t) {
                      if (ec) {
                        writes_.clear();
                        return;  // the read side reports the loss
                      }
                      writes_.pop_front();
                      if (!writes_.empty()) write_next();
                    });
}

void Session::read_header() {
  asio::async_read(stream_, asio::buffer(header_), [this](const asio::error_code& ec, std::size_t) {
    if (ec) {
      fail_all(describe_loss(ec.message()));
      return;
    }
    std::uint32_t size;
    try {
      size = wire::decode_header(header_);
    } catch (const wire::FrameError& e) {
      fail_all(Error(ErrorKind::protocol, e.what()));
      asio::error_code ignored;
      stream_.close(ignored);
      return;
    }
    read_payload(size);
  });
}

void Session::read_payload(std::uint32_t size) {
  payload_.assign(size, '\0');
  asio::async_read(stream_, asio::buffer(payload_), [this](const asio::error_code& ec, std::size_t) {
    if (ec) {
      fail_all(describe_loss(ec.message()));
      return;
    }
    wire::Reply reply;
    try {
      wire::decode_payload(payload_, reply);
    } catch (const wire::FrameError& e) {
      fail_all(Error(ErrorKind::protocol, e.what()));
      asio::error_code ignored;
      stream_.close(ignored);
      return;
    }
    deliver(std::move(reply));
    read_header();
  });
}

void Session::deliver(wire::Reply&& reply) {
  if (reply.id() == 0 && reply.has_error()) {
    // Not an answer to one request: the surrogate is ending the session.
    fail_all(Error(from_wire(reply.error().kind()), reply.error().message()));
    return;
  }
  std::lock_guard lock(mu_);
  auto it = pending_.find(reply.id());
  if (it == pending_.end()) return;  // its caller gave up (timeout)
  it->second.set_value(std::move(reply));
  pending_.erase(it);
}

void Session::fail_all(const Error& error) {
  std::lock_guard lock(mu_);
  if (!dead_) dead_ = error;
  for (auto& [id, promise] : pending_) promise.set_exception(std::make_exception_ptr(*dead_));
  pending_.clear();
}

Error Session::describe_loss(const std::string& detail) {
  if (!process_.valid()) {
    return Error(ErrorKind::crashed, "connection to the surrogate lost: " + detail);
  }
  const std::string who = "surrogate (pid " + std::to_string(process_.pid()) + ")";
  std::lock_guard lock(process_mu_);
  if (auto status = process_.wait_for(std::chrono::milliseconds(1000))) {
    return Error(ErrorKind::crashed, who + " " + status->describe());
  }
  return Error(ErrorKind::crashed, who + " closed the connection: " + detail);
}

}  // namespace dllbridge::detail
