// surrogate32 / surrogate64: hosts a legacy library in its own process and
// calls its functions for a dllbridge client (docs/cli.md, section 7).
#include <cstdio>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "core/inherited.hpp"
#include "core/library.hpp"
#include "core/session.hpp"
#include "core/stream_transport.hpp"
#include "core/transport.hpp"

int main(int argc, char** argv) {
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
  auto* listen_opt =
      app.add_option("--listen", listen_endpoint,
                     "serve clients of this user on ENDPOINT (Unix socket path or \\\\.\\pipe\\NAME)");
  auto* inherited_opt =
      app.add_option("--fd,--pipe", inherited,
                     "serve the one client on this inherited endpoint (used by the client library)");
  listen_opt->excludes(inherited_opt);
  app.add_option("--log-level", level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--workers", workers,
                 "threads running DLL calls (default 1: legacy DLLs are rarely thread-safe)")
      ->check(CLI::Range(1, 64));
  app.add_option("--parent-pid", parent_pid, "end when this process (the client) ends")
      ->check(CLI::PositiveNumber);
  app.add_flag("--low-latency", low_latency,
               "an idle worker polls briefly for the next request before it sleeps (inherited endpoint)");
  CLI11_PARSE(app, argc, argv);

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
    if (parent_pid > 0) follow_parent(parent_pid);
    if (inherited_stream) {
      const std::unique_ptr<dllbridge::rpc::Transport> transport =
          inherited_transport(std::move(*inherited_stream), low_latency);
      const SessionEnd end = serve_session(*transport, workers);
      if (end == SessionEnd::disconnected) end_process_group();
      return end == SessionEnd::protocol_error ? 3 : 0;
    }
    listen(io, listen_endpoint, [workers](Stream& stream) {
      StreamTransport transport(stream);
      serve_session(transport, workers);
    });
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  return 0;
}
