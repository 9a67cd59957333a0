#include "channel/session.hpp"

#include "channel/environment.hpp"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "channel/stream_transport.hpp"

namespace dllbridge::detail {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(std::filesystem::u8path(path), ec);
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

// The token in `path` without one trailing newline; Error(unauthorized)
// when it cannot be read or is empty (nothing is sent without it).
std::string read_token(const std::string& path) {
  std::ifstream in(std::filesystem::u8path(path), std::ios::binary);
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    throw Error(ErrorKind::unauthorized, "cannot read token file " + path);
  }
  if (!token.empty() && token.back() == '\n') token.pop_back();
  if (!token.empty() && token.back() == '\r') token.pop_back();
  if (token.empty()) throw Error(ErrorKind::unauthorized, "token file " + path + " is missing or empty");
  return token;
}

// The pointer size the handshake must report: the surrogate we start has
// the bitness of its Arch; one we connect to (or an in-process one) may
// have either, and then it decides the ABI.
std::uint32_t expected_pointer_size(const BridgeOptions& o) {
  if (!o.connect.empty() || o.transport) return 0;
  return o.arch == Arch::x86 ? 4 : 8;
}

// BridgeOptions::fork_server, unless DLLBRIDGE_FORK_SERVER says on or off.
bool use_fork_server(const BridgeOptions& o) {
  return env_switch("DLLBRIDGE_FORK_SERVER").value_or(o.fork_server);
}

// BridgeOptions::shared_frames, unless DLLBRIDGE_SHARED_FRAMES says on or off.
bool use_shared_frames(const BridgeOptions& o) {
  return env_switch("DLLBRIDGE_SHARED_FRAMES").value_or(o.shared_frames);
}

milliseconds left_until(Clock::time_point deadline) {
  return std::max(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()), milliseconds(0));
}

}  // namespace

Session::Session(const BridgeOptions& options, LossHandler on_lost, std::shared_ptr<BridgeRegion> region)
    : options_(options), on_lost_(std::move(on_lost)), region_(std::move(region)) {}

std::unique_ptr<Session> Session::start(const BridgeOptions& options, LossHandler on_lost,
                                        std::shared_ptr<BridgeRegion> region) {
  std::unique_ptr<Session> s(new Session(options, std::move(on_lost), std::move(region)));
  s->open();
  return s;
}

void Session::open() {
  // Read first: a missing token stops the start before any connection.
  const std::string token = options_.token_file.empty() ? std::string() : read_token(options_.token_file);
  std::unique_ptr<rpc::Transport> transport;
  if (options_.transport) {
    transport = options_.transport();
    if (!transport)
      throw Error(ErrorKind::surrogate_start_failed, "BridgeOptions::transport made no transport");
  } else {
    auto io = std::make_unique<asio::io_context>();
    Stream stream(*io);
    bool shared_frames = false;
    if (options_.connect.empty()) {
      surrogate_path_ = find_surrogate(options_);
      std::vector<std::string> args{"--log-level",  options_.surrogate_log_level,
                                    "--workers",    std::to_string(options_.policy.surrogate_workers),
                                    "--parent-pid", std::to_string(current_pid())};
      if (options_.low_latency) args.push_back("--low-latency");
      shared_frames = kSharedFramesBuilt && use_shared_frames(options_);
      if (shared_frames) args.push_back("--shared-frames");
      Spawned spawned = spawn_surrogate(*io, surrogate_path_, args, options_.launcher,
                                        options_.policy.start_timeout, use_fork_server(options_));
      process_ = std::move(spawned.process);
      stream = std::move(spawned.stream);
    } else {
      stream = connect_endpoint(*io, options_.connect);
    }
    transport = make_stream_transport(std::move(io), std::move(stream), options_.low_latency, shared_frames);
  }
  channel_ = std::make_unique<Channel>(
      std::move(transport),
      Channel::Hooks{
          [this](const std::string& why, bool bad_frame) { return on_end(why, bad_frame); },
          [this](const std::string& reason) {
            // A standalone surrogate is not ours to stop: only our connection ends.
            const bool ours = process_.valid();
            kill(ours ? "surrogate (pid " + std::to_string(info_.pid) + ") was stopped because " + reason
                      : "the connection to the standalone surrogate (pid " + std::to_string(info_.pid) +
                            ") was dropped because " + reason);
            return std::string(
                ours ? "the surrogate was stopped"
                     : "the connection to the standalone surrogate was dropped (it was not stopped)");
          },
      });
  if (process_.valid()) {
    // The stream's end is not proof enough of a death, nor is its absence:
    // the process itself tells, and the channel ends then (on_end names how).
    exit_watch_ = std::make_unique<ExitWatch>(process_, [this] { channel_->disconnect(); });
  }
  started_at_ = Clock::now();
  channel_->start();
  try {
    SurrogateInfo info = channel_->hello(options_.policy.start_timeout, token,
                                         expected_pointer_size(options_), region_ ? region_->get() : nullptr);
    // on_end may already be reading info_ (a surrogate that died at once):
    // written under the lock it reads it under.
    std::lock_guard lock(process_mu_);
    info_ = std::move(info);
  } catch (const Error& e) {
    const ErrorKind kind = e.kind() == ErrorKind::unauthorized || e.kind() == ErrorKind::protocol
                               ? e.kind()
                               : ErrorKind::surrogate_start_failed;
    throw Error(kind, std::string("surrogate handshake failed: ") + e.what());
  }
  greeted_ = true;
}

Session::~Session() {
  stop();
  exit_watch_.reset();  // its handler uses channel_
  channel_.reset();     // closes the transport, waits for its reading to stop
}

void Session::stop() noexcept {
  if (stopped_.exchange(true)) return;
  closing_ = true;
  const StopPolicy& stop = options_.policy.stop;
  // One budget for the whole graceful part: the answer and the exit.
  const Clock::time_point exit_deadline = Clock::now() + stop.shutdown_wait;
  if (channel_ && greeted_ && !channel_->lost()) {
    try {
      channel_->shutdown(stop.shutdown_wait);
    } catch (const std::exception&) {
      // Unanswered: stop_process() below escalates.
    }
  }
  stop_process(greeted_ ? exit_deadline : Clock::now());
  if (channel_) {
    channel_->fail_all(Error(ErrorKind::crashed, "the surrogate was stopped", true));
    channel_->disconnect();
  }
}

void Session::stop_process(Clock::time_point exit_deadline) {
  std::lock_guard lock(process_mu_);
  if (!process_.valid()) return;
  const StopPolicy& stop = options_.policy.stop;
  if (process_.wait_for(left_until(exit_deadline))) return;
  process_.terminate();
  if (process_.wait_for(stop.terminate_wait)) return;
  process_.kill();
  process_.wait_for(milliseconds(5000));
}

void Session::kill(const std::string& reason) {
  channel_->fail_all(Error(ErrorKind::crashed, reason, true));
  std::lock_guard lock(process_mu_);
  if (kill_reason_.empty()) kill_reason_ = reason;
  if (process_.valid()) {
    process_.kill();
  } else {
    // Not ours to kill (standalone, in-process): drop the connection instead.
    channel_->disconnect();
  }
}

std::string Session::registration_key(std::uint64_t library, const std::string& symbol,
                                      const Signature& signature) const {
  std::string path;
  {
    std::lock_guard lock(learned_mu_);
    const auto it = paths_.find(library);
    if (it == paths_.end()) return std::string();
    path = it->second;
  }
  wire::RegisterFunction reg;
  encode_register(signature, reg);
  std::string encoded;
  {
    // Deterministic: the same declaration gives the same bytes in any session.
    google::protobuf::io::StringOutputStream out(&encoded);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    reg.SerializeToCodedStream(&coded);
  }
  std::string key = path;
  key.push_back('\0');
  key += symbol;
  key.push_back('\0');
  key += encoded;
  return key;
}

void Session::learned(Learned entry) {
  if (on_learned_) on_learned_(entry);
}

std::uint64_t Session::load_library(const std::string& path, milliseconds timeout) {
  {
    std::lock_guard lock(learned_mu_);
    if (const auto it = ahead_.find(path); it != ahead_.end()) return it->second.id;
  }
  const std::uint64_t id = channel_->load_library(path, timeout);
  {
    std::lock_guard lock(learned_mu_);
    paths_[id] = path;
  }
  learned(Learned{path, path, std::string(), nullptr});
  return id;
}

RegisteredFunction Session::register_function(std::uint64_t library, const std::string& symbol,
                                              const Signature& signature, milliseconds timeout) {
  // Keyed only when someone uses the key (an observer, or a preload to answer from).
  std::string key =
      on_learned_ || preloaded() > 0 ? registration_key(library, symbol, signature) : std::string();
  if (!key.empty()) {
    std::lock_guard lock(learned_mu_);
    if (const auto it = ahead_.find(key); it != ahead_.end()) {
      return RegisteredFunction{static_cast<std::uint32_t>(it->second.id), it->second.resolved_name};
    }
  }
  RegisteredFunction got = channel_->register_function(library, symbol, signature, timeout);
  if (!key.empty()) {
    std::string path = key.substr(0, key.find('\0'));
    learned(Learned{std::move(key), std::move(path), symbol, std::make_shared<const Signature>(signature)});
  }
  return got;
}

void Session::preload(const Learned& entry, milliseconds timeout) {
  if (entry.symbol.empty()) {
    const std::uint64_t id = channel_->load_library(entry.library, timeout);
    std::lock_guard lock(learned_mu_);
    paths_[id] = entry.library;
    ahead_[entry.key] = Ahead{id, std::string()};
    return;
  }
  std::uint64_t library = 0;
  {
    std::lock_guard lock(learned_mu_);
    if (const auto it = ahead_.find(entry.library); it != ahead_.end()) library = it->second.id;
  }
  if (library == 0) {
    preload(Learned{entry.library, entry.library, std::string(), nullptr}, timeout);
    std::lock_guard lock(learned_mu_);
    library = ahead_[entry.library].id;
  }
  const RegisteredFunction got =
      channel_->register_function(library, entry.symbol, *entry.signature, timeout);
  std::lock_guard lock(learned_mu_);
  ahead_[entry.key] = Ahead{got.id, got.resolved_name};
}

std::size_t Session::preloaded() const {
  std::lock_guard lock(learned_mu_);
  return ahead_.size();
}

Error Session::on_end(const std::string& detail, bool bad_frame) {
  if (bad_frame) channel_->disconnect();  // nothing more is read from it
  std::optional<ExitStatus> status;
  std::string why;
  bool killed;
  {
    std::lock_guard lock(process_mu_);
    if (process_.valid()) {
      // A surrogate that is exiting closes the stream just before it is gone.
      status = process_.wait_for(milliseconds(1000));
      if (!status) {
        // Alive but silent on a broken stream: it cannot serve us any more.
        process_.kill();
        status = process_.wait_for(milliseconds(1000));
      }
    }
    const std::string who = "surrogate (pid " + std::to_string(info_.pid) + ")";
    killed = !kill_reason_.empty();
    if (killed) {
      why = kill_reason_;
    } else if (bad_frame) {
      why = "bad frame from the surrogate: " + detail;
    } else if (status) {
      why = who + " " + status->describe();
    } else {
      why = "connection to the surrogate lost: " + detail;
    }
  }
  const Error error(bad_frame && !killed ? ErrorKind::protocol : ErrorKind::crashed, why, true);
  // The owner learns first, so a caller woken next already finds the
  // replacement under way rather than this dead session.
  if (on_lost_ && !closing_) on_lost_(error, status);
  return error;
}

}  // namespace dllbridge::detail
