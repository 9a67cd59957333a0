#include "channel/session.hpp"

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

Session::Session(const BridgeOptions& options, LossHandler on_lost)
    : options_(options), on_lost_(std::move(on_lost)), work_(io_.get_executor()), stream_(io_) {}

std::unique_ptr<Session> Session::start(const BridgeOptions& options, LossHandler on_lost) {
  std::unique_ptr<Session> s(new Session(options, std::move(on_lost)));
  s->open();
  return s;
}

void Session::open() {
  if (options_.connect.empty()) {
    surrogate_path_ = find_surrogate(options_);
    Spawned spawned = spawn_surrogate(
        io_, surrogate_path_,
        {"--log-level", options_.surrogate_log_level, "--workers",
         std::to_string(options_.policy.surrogate_workers), "--parent-pid", std::to_string(current_pid())},
        options_.launcher, options_.policy.start_timeout);
    process_ = std::move(spawned.process);
    stream_ = std::move(spawned.stream);
  } else {
    stream_ = connect_endpoint(io_, options_.connect);
  }
  started_at_ = std::chrono::steady_clock::now();
  read_header();
  io_thread_ = std::thread([this] { io_.run(); });

  wire::Request hello;
  hello.mutable_hello()->set_protocol_version(wire::kProtocolVersion);
  hello.mutable_hello()->set_client("dllbridge-client");
  wire::Reply reply;
  try {
    reply = request(std::move(hello), options_.policy.start_timeout);
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
  closing_ = true;
  if (!lost()) {
    try {
      wire::Request bye;
      bye.mutable_shutdown();
      request(std::move(bye), options_.policy.stop.shutdown_wait);
    } catch (const std::exception&) {
      // Ending anyway; stop_process() below escalates.
    }
  }
  stop_process();
  asio::post(io_, [this] {
    std::lock_guard lock(write_mu_);  // never under a writer's feet
    asio::error_code ignored;
    stream_.close(ignored);
  });
  work_.reset();
  if (io_thread_.joinable()) io_thread_.join();
}

void Session::stop_process() {
  std::lock_guard lock(process_mu_);
  if (!process_.valid()) return;
  const StopPolicy& stop = options_.policy.stop;
  if (process_.wait_for(stop.shutdown_wait)) return;
  process_.terminate();
  if (process_.wait_for(stop.terminate_wait)) return;
  process_.kill();
  process_.wait_for(std::chrono::milliseconds(5000));
}

bool Session::lost() const {
  std::lock_guard lock(mu_);
  return dead_.has_value();
}

void Session::kill(const std::string& reason) {
  fail_all(Error(ErrorKind::crashed, reason, true));
  std::lock_guard lock(process_mu_);
  if (kill_reason_.empty()) kill_reason_ = reason;
  process_.kill();
  if (!process_.valid()) {
    // Standalone surrogate: not ours to kill; drop the connection instead.
    asio::post(io_, [this] {
      std::lock_guard lock(write_mu_);
      asio::error_code ignored;
      stream_.close(ignored);
    });
  }
}

wire::Reply Session::request(wire::Request request, std::chrono::milliseconds timeout,
                             bool kill_on_timeout) {
  std::future<wire::Reply> reply;
  std::uint64_t id;
  {
    std::lock_guard lock(mu_);
    if (dead_) throw Error(dead_->kind(), dead_->what(), false);  // not sent: it did not run
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
  send_frame(std::move(frame));

  if (reply.wait_for(timeout) != std::future_status::ready) {
    {
      std::lock_guard lock(mu_);
      pending_.erase(id);  // a late reply for this id is dropped, never misdelivered
    }
    const std::string what = "no reply within " + std::to_string(timeout.count()) + " ms";
    if (!kill_on_timeout) throw Error(ErrorKind::timeout, what);
    // A DLL call cannot be cancelled: stop the surrogate so nothing runs on.
    kill("surrogate (pid " + std::to_string(info_.pid) + ") was killed because a call passed its deadline (" +
         what + ")");
    throw Error(ErrorKind::timeout, what + "; the surrogate was killed, the call may have run", true);
  }
  wire::Reply r = reply.get();
  if (r.has_error()) throw Error(from_wire(r.error().kind()), r.error().message());
  return r;
}

void Session::ping(std::chrono::milliseconds timeout) {
  wire::Request ping;
  ping.mutable_ping();
  request(std::move(ping), timeout, false);
}

void Session::send_frame(std::string frame) {
  // Fast path: written at once from the caller's thread, one thread hop less.
  // It never blocks: what the socket does not take now goes to the I/O
  // thread's queue, behind which every later frame waits its turn.
  std::lock_guard lock(write_mu_);
  if (writes_.empty()) {
    const std::size_t n = try_write_now(stream_, frame);
    if (n == frame.size()) return;
    frame.erase(0, n);
  }
  writes_.push_back(std::move(frame));
  if (writes_.size() == 1) asio::post(io_, [this] { write_next(); });
}

void Session::write_next() {
  std::lock_guard lock(write_mu_);
  if (writes_.empty()) return;
  // std::deque keeps the front element in place while callers push behind it.
  asio::async_write(stream_, asio::buffer(writes_.front()), [this](const asio::error_code& ec, std::size_t) {
    {
      std::lock_guard lock(write_mu_);
      if (ec) {
        writes_.clear();  // the read side reports the loss
        return;
      }
      writes_.pop_front();
      if (writes_.empty()) return;
    }
    write_next();
  });
}

void Session::read_header() {
  asio::async_read(stream_, asio::buffer(header_), [this](const asio::error_code& ec, std::size_t) {
    if (ec) {
      on_stream_end(ec.message());
      return;
    }
    std::uint32_t size;
    try {
      size = wire::decode_header(header_);
    } catch (const wire::FrameError& e) {
      fail_all(Error(ErrorKind::protocol, e.what(), true));
      asio::error_code ignored;
      std::lock_guard lock(write_mu_);
      stream_.close(ignored);
      on_stream_end(e.what());
      return;
    }
    read_payload(size);
  });
}

void Session::read_payload(std::uint32_t size) {
  payload_.assign(size, '\0');
  asio::async_read(stream_, asio::buffer(payload_), [this](const asio::error_code& ec, std::size_t) {
    if (ec) {
      on_stream_end(ec.message());
      return;
    }
    wire::Reply reply;
    try {
      wire::decode_payload(payload_, reply);
    } catch (const wire::FrameError& e) {
      fail_all(Error(ErrorKind::protocol, e.what(), true));
      {
        asio::error_code ignored;
        std::lock_guard lock(write_mu_);
        stream_.close(ignored);
      }
      on_stream_end(e.what());
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

void Session::on_stream_end(const std::string& detail) {
  std::optional<ExitStatus> status;
  std::string why;
  {
    std::lock_guard lock(process_mu_);
    if (process_.valid()) {
      // A surrogate that is exiting closes the stream just before it is gone.
      status = process_.wait_for(std::chrono::milliseconds(1000));
      if (!status) {
        // Alive but silent on a broken stream: it cannot serve us any more.
        process_.kill();
        status = process_.wait_for(std::chrono::milliseconds(1000));
      }
    }
    const std::string who = "surrogate (pid " + std::to_string(info_.pid) + ")";
    if (!kill_reason_.empty()) {
      why = kill_reason_;
    } else if (status) {
      why = who + " " + status->describe();
    } else {
      why = "connection to the surrogate lost: " + detail;
    }
  }
  const Error error(ErrorKind::crashed, why, true);
  // The owner learns first, so a caller woken below already finds the
  // replacement under way rather than this dead session.
  if (on_lost_ && !closing_) on_lost_(error, status);
  fail_all(error);
}

}  // namespace dllbridge::detail
