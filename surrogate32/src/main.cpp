// surrogate32 / surrogate64: hosts a legacy library in its own process and
// calls its functions for a dllbridge client (docs/cli.md, section 7).
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#if !defined(_WIN32)
#  include "core/fork_server.hpp"
#endif
#include "core/inherited.hpp"
#include "core/library.hpp"
#include "core/session.hpp"
#include "core/stream_transport.hpp"
#include "core/transport.hpp"

namespace {

// The surrogate's command line, run in this process, or in a child of a fork
// server (`forked`: its parent is the fork server, not the client).
int run(int argc, char** argv, bool forked) {
  using namespace dllbridge::surrogate;
  CLI::App app{"dllbridge surrogate: hosts a legacy library for a dllbridge client"};
  // Library paths may start with "/" (Wine, MSYS): never read them as /options.
  app.allow_windows_style_options(false);
  std::string listen_endpoint;
  std::string inherited;
  std::string level = "warn";
  int workers = 1;
  long parent_pid = 0;
  bool low_latency = false;
  bool shared_frames = false;
  std::string token_file;
  ListenOptions listen_options;
  long long read_timeout_ms = 10000;
  long long handshake_timeout_ms = 10000;
  long long idle_timeout_ms = 600000;
  auto* listen_opt =
      app.add_option("--listen", listen_endpoint,
                     "serve clients of this user on ENDPOINT (Unix socket path or \\\\.\\pipe\\NAME)");
  auto* inherited_opt =
      app.add_option("--fd,--pipe", inherited,
                     "serve the one client on this inherited endpoint (used by the client library)");
  listen_opt->excludes(inherited_opt);
#if !defined(_WIN32)
  bool fork_server = false;
  app.add_flag("--fork-server", fork_server,
               "with --fd (a SOCK_SEQPACKET socket): start surrogates for the client by fork (used by the "
               "client library)")
      ->needs(inherited_opt)
      ->excludes(listen_opt);
#endif
  app.add_option("--log-level", level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--workers", workers,
                 "threads running DLL calls (default 1: legacy DLLs are rarely thread-safe)")
      ->check(CLI::Range(1, 64));
  app.add_option("--parent-pid", parent_pid, "end when this process (the client) ends")
      ->check(CLI::PositiveNumber);
  app.add_flag("--low-latency", low_latency,
               "an idle worker polls briefly for the next request before it sleeps (inherited endpoint)");
  app.add_flag("--shared-frames", shared_frames,
               "with --fd (Linux): frames go through the shared memory the client passes first (used by the "
               "client library)")
      ->needs(inherited_opt);
  auto* token_opt = app.add_option("--token-file", token_file,
                                   "with --listen: admit only clients whose handshake carries the contents "
                                   "of FILE (owner-only, not empty)");
  token_opt->needs(listen_opt);
  app.add_option("--ready-fd", listen_options.ready,
                 "with --listen: write \"ready\\n\" to this file descriptor (Windows: inherited handle "
                 "value; 1: standard output) once connections are taken")
      ->needs(listen_opt);
  app.add_option("--max-sessions", listen_options.max_sessions,
                 "with --listen: sessions served at once (default 16); more are refused")
      ->check(CLI::Range(1, 1024))
      ->needs(listen_opt);
  app.add_option("--read-timeout-ms", read_timeout_ms,
                 "a frame whose first byte came must be complete within this (default 10000; 0: none)")
      ->check(CLI::Range(0LL, 86400000LL));
  app.add_option(
         "--handshake-timeout-ms", handshake_timeout_ms,
         "with --listen: a connection must complete its handshake within this (default 10000; 0: none)")
      ->check(CLI::Range(0LL, 86400000LL))
      ->needs(listen_opt);
  app.add_option("--idle-timeout-ms", idle_timeout_ms,
                 "with --listen: a connection with no request for this long, and none in progress, is closed "
                 "(default 600000; 0: none)")
      ->check(CLI::Range(0LL, 86400000LL))
      ->needs(listen_opt);
  CLI11_PARSE(app, argc, argv);
#if !defined(_WIN32)
  if (fork_server) {
    // Before any logger or thread: each child sets up its own.
    int fd = -1;
    try {
      fd = std::stoi(inherited);
    } catch (const std::exception&) {
      std::fprintf(stderr, "surrogate: --fd expects a file descriptor number, got '%s'\n", inherited.c_str());
      return 2;
    }
    return serve_forks(fd, argc, argv, [](const std::vector<std::string>& args) {
      std::vector<char*> argv;
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      return run(static_cast<int>(args.size()), argv.data(), true);
    });
  }
#endif

  // Logs go to stderr: stdout belongs to the legacy library.
  auto logger = spdlog::stderr_color_mt("surrogate");
  logger->set_pattern("[%H:%M:%S.%e] [surrogate " + std::to_string(current_pid()) + "] [%l] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));

  if (listen_endpoint.empty() && inherited.empty()) {
    std::fprintf(stderr, "surrogate: give --listen ENDPOINT to run standalone (see --help)\n");
    return 2;
  }
  try {
    end_process_on_faults();
    asio::io_context io;
    // Adopted while this is the only thread (see adopt_inherited()).
    std::optional<Stream> inherited_stream;
    if (!inherited.empty()) inherited_stream.emplace(adopt_inherited(io, inherited));
    if (parent_pid > 0) follow_parent(parent_pid, forked);
    if (inherited_stream) {
      const SessionEnd end = serve_inherited(
          std::move(*inherited_stream),
          InheritedOptions{workers, low_latency, std::chrono::milliseconds(read_timeout_ms), shared_frames});
      if (end == SessionEnd::disconnected) end_process_group();
      return end == SessionEnd::protocol_error ? 3 : 0;
    }
    // Read before listening: a bad file stops the start, not the first client.
    const std::string token = token_file.empty() ? std::string() : read_token_file(token_file);
    const ReadLimits limits{std::chrono::milliseconds(handshake_timeout_ms),
                            std::chrono::milliseconds(read_timeout_ms),
                            std::chrono::milliseconds(idle_timeout_ms)};
    // One DLL thread at a time across sessions, unless the user says the
    // library is thread-safe (--workers > 1).
    std::recursive_mutex dll_lock;
    listen_options.endpoint = listen_endpoint;
    listen(io, listen_options, [&](Stream& stream, const std::string& peer) {
      serve_stream(stream, limits,
                   SessionOptions{workers, token, peer, workers > 1 ? nullptr : &dll_lock, nullptr});
    });
  } catch (const std::exception& e) {
    // Why it ends is printed even with --log-level off: an exit code alone
    // leaves whoever started it guessing.
    if (spdlog::should_log(spdlog::level::critical)) {
      spdlog::critical("{}", e.what());
    } else {
      std::fprintf(stderr, "surrogate: %s\n", e.what());
    }
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run(argc, argv, false); }
