// dllbridge-call: call one function of a library through the surrogate from
// the command line (docs/cli.md).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "args.hpp"
#include "json/answers.hpp"

#include "dllbridge/bridge.hpp"

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

using dllbridge::tools::add_callbacks;
using dllbridge::tools::checked_timeout;
using dllbridge::tools::dump;
using dllbridge::tools::error_json;
using dllbridge::tools::stats_json;
using dllbridge::tools::Stubs;

struct Outcome {
  json body;
  bool ok = false;
};

// Makes the call `repeat` times; the JSON result of the last one, with
// latency percentiles when repeat > 1. Before each call after the first,
// what `recorder` holds is dropped: only the last call's invocations remain.
Outcome run_call(const dllbridge::Function& fn, const std::vector<dllbridge::Value>& args,
                 std::optional<std::chrono::milliseconds> timeout, int repeat,
                 dllbridge::tools::Recorder& recorder) {
  std::vector<double> latencies_us;
  dllbridge::CallResult result;
  double elapsed_us = 0;
  for (int i = 0; i < repeat; ++i) {
    if (i > 0) recorder.take();
    const auto start = Clock::now();
    result = fn.call(args, timeout);
    elapsed_us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
    latencies_us.push_back(elapsed_us);
  }
  json body = dllbridge::tools::result_json(result, elapsed_us);
  if (repeat > 1) {
    std::sort(latencies_us.begin(), latencies_us.end());
    auto pct = [&](double p) {
      const std::size_t k = static_cast<std::size_t>(p * static_cast<double>(latencies_us.size() - 1) + 0.5);
      return latencies_us[k];
    };
    body["latency_us"] = {
        {"p50", pct(0.50)}, {"p90", pct(0.90)}, {"p99", pct(0.99)}, {"max", latencies_us.back()}};
    body["calls"] = repeat;
  }
  return {body, true};
}

void print_text(const json& body) {
  if (body.contains("stats")) {
    const json& st = body["stats"];
    std::cout << "surrogate: pid " << st["pid"] << ", " << st["bits"] << "-bit, "
              << st["state"].get<std::string>() << ", up " << st["uptime_ms"] << " ms, restarts "
              << st["restarts"] << "\n"
              << "calls: ok " << st["calls_ok"] << ", failed " << st["calls_failed"] << ", timed out "
              << st["calls_timed_out"] << ", retries " << st["retries"] << ", p50 " << st["latency_us"]["p50"]
              << " us, p99 " << st["latency_us"]["p99"] << " us, breaker " << st["breaker"].get<std::string>()
              << "\n"
              << "process: cpu user " << st["process"]["cpu_user_ms"] << " ms, kernel "
              << st["process"]["cpu_kernel_ms"] << " ms, resident " << st["process"]["resident_bytes"]
              << " B (peak " << st["process"]["peak_resident_bytes"] << "), virtual "
              << st["process"]["virtual_bytes"] << " B, threads " << st["process"]["threads"] << ", handles "
              << st["process"]["handles"] << "\n";
  }
  if (body.contains("callbacks")) {
    std::cout << "callbacks: " << body["callbacks"].dump(-1, ' ', false, json::error_handler_t::replace)
              << "\n";
  }
  if (body.contains("error")) {
    std::cerr << "error (" << body["error"]["kind"].get<std::string>()
              << "): " << body["error"]["message"].get<std::string>() << "\n";
    return;
  }
  std::cout << "return: " << body["return"].dump(-1, ' ', false, json::error_handler_t::replace) << "\n"
            << "out: " << body["out"].dump(-1, ' ', false, json::error_handler_t::replace) << "\n"
            << "last_error: " << body["last_error"].dump(-1, ' ', false, json::error_handler_t::replace)
            << "\n"
            << "elapsed_us: " << body["elapsed_us"].get<double>() << "\n";
  if (body.contains("latency_us"))
    std::cout << "latency_us: " << body["latency_us"].dump(-1, ' ', false, json::error_handler_t::replace)
              << "\n";
}

// --batch: one JSON request per stdin line, one JSON answer per stdout line.
// Persistent stubs stay in `stubs` (alive) until the session ends.
int run_batch(dllbridge::Library& lib, std::optional<std::chrono::milliseconds> default_timeout,
              dllbridge::FunctionOptions fn_options, Stubs& stubs) {
  std::map<std::string, dllbridge::Function> functions;  // signatures prepared once
  std::string line;
  int line_no = 0;
  bool all_ok = true;
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = "line " + std::to_string(line_no);
    json answer;
    try {
      json req;
      try {
        req = json::parse(line);
      } catch (const json::exception& e) {
        throw dllbridge::Error(dllbridge::ErrorKind::bad_argument, where + ": not JSON: " + e.what());
      }
      if (!req.is_object() || !req.contains("signature") || !req["signature"].is_string()) {
        throw dllbridge::Error(dllbridge::ErrorKind::bad_argument, where + ": needs a \"signature\" string");
      }
      const std::string sig = req["signature"];
      auto it = functions.find(sig);
      if (it == functions.end()) it = functions.emplace(sig, lib.function(sig, fn_options)).first;
      std::vector<json> raw;
      if (req.contains("args")) {
        if (!req["args"].is_array()) {
          throw dllbridge::Error(dllbridge::ErrorKind::bad_argument, where + ": \"args\" must be an array");
        }
        raw = req["args"].get<std::vector<json>>();
      }
      std::optional<std::chrono::milliseconds> timeout = default_timeout;
      if (req.contains("timeout_ms"))
        timeout = dllbridge::tools::json_timeout(req["timeout_ms"], where + ": \"timeout_ms\"");
      dllbridge::tools::Answer a = dllbridge::tools::answer_call(
          it->second, raw, timeout, [&](std::size_t) { return where; }, where, stubs);
      answer = std::move(a.body);
      all_ok = all_ok && a.ok;
    } catch (const dllbridge::Error& e) {
      answer = error_json(e.kind(), e.what());
      add_callbacks(answer, stubs, false);
      all_ok = false;
    } catch (const json::exception& e) {  // a JSON shape no check above foresaw: this line only
      answer = error_json(dllbridge::ErrorKind::bad_argument, where + ": " + e.what());
      add_callbacks(answer, stubs, false);
      all_ok = false;
    }
    std::cout << dump(answer) << std::endl;
  }
  return all_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Call a function of a 32-bit (or 64-bit) library through the dllbridge surrogate"};
  // Library paths may start with "/" (Wine, MSYS): never read them as /options.
  app.allow_windows_style_options(false);
  std::string library, signature;
  std::vector<std::string> raw_args;
  std::string arch = "32";
  bool as_json = false, batch = false, show_stats = false, idempotent = false;
  std::string symbol;
  std::int64_t timeout_ms = 0;
  int repeat = 1;
  dllbridge::BridgeOptions options;
  app.add_option("LIBRARY", library, "path of the DLL / shared object, loaded in the surrogate")->required();
  app.add_option("SIGNATURE", signature, "C declaration in the signature language");
  app.add_option("ARG", raw_args, "one JSON value per parameter that is not [out]");
  app.add_option("--arch", arch, "which surrogate: 32 or 64")->check(CLI::IsMember({"32", "64"}));
  app.add_flag("--json", as_json, "print one JSON object instead of text");
  CLI::Option* timeout_opt =
      app.add_option("--timeout-ms", timeout_ms, "deadline for each call, 1 to 604800000 (7 days)");
  app.add_option("--repeat", repeat, "make the same call N times and report latency")
      ->check(CLI::PositiveNumber);
  app.add_option("--connect", options.connect, "use a running standalone surrogate at this endpoint");
  app.add_flag("--low-latency", options.low_latency,
               "poll for each reply briefly before sleeping (faster calls, more CPU; docs/performance.md)");
  app.add_option("--token-file", options.token_file,
                 "present the token in FILE to a standalone surrogate started with --token-file");
  app.add_flag("--batch", batch, "read JSON lines {signature, args, timeout_ms?} from stdin");
  app.add_flag("--stats", show_stats,
               "also print the bridge's statistics and the surrogate's process figures");
  app.add_flag("--idempotent", idempotent,
               "the function may be sent again after a crash (automatic retries)");
  app.add_option("--symbol", symbol,
                 "export to look up instead of the declared name: decorated, mangled, or #N for an ordinal");
  app.add_option("--surrogate", options.surrogate_path,
                 "surrogate program to start (default: found next to dllbridge)");
  app.add_option("--log-level", options.surrogate_log_level, "surrogate log level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.positionals_at_end(false);
  // CLI11 splits a vector option's "[a,b]" into elements; a JSON array
  // argument must stay one argument, and JSON allows leading white space.
  std::vector<std::string> kept = dllbridge::tools::utf8_arguments(argc, argv);
  std::vector<char*> args;
  for (std::string& a : kept) {
    if (a.size() > 1 && a.front() == '[' && a.back() == ']') a.insert(0, " ");
    args.push_back(a.data());
  }
  CLI11_PARSE(app, static_cast<int>(args.size()), args.data());

  options.arch = arch == "64" ? dllbridge::Arch::x64 : dllbridge::Arch::x86;
  if (!batch && signature.empty()) {
    std::cerr << "dllbridge-call: SIGNATURE is required (or use --batch)\n";
    return 2;
  }
  std::optional<std::chrono::milliseconds> timeout;
  if (timeout_opt->count() > 0) {
    try {
      timeout = checked_timeout(timeout_ms, "--timeout-ms");
    } catch (const dllbridge::Error& e) {
      // A usage error, before anything started: said in the form the output was asked in.
      const json body = error_json(e.kind(), e.what());
      if (as_json && !batch) {
        std::cout << dump(body) << std::endl;
      } else {
        std::cerr << "dllbridge-call: " << e.what() << "\n";
      }
      return 2;
    }
    options.policy.call_timeout = *timeout;
  }

  json body;
  int status = 1;
  Stubs stubs;  // outlives the bridge: persistent stubs answer until it is gone
  bool had_stub = false;
  try {
    dllbridge::Bridge bridge(options);
    dllbridge::Library lib = bridge.load(library);
    dllbridge::FunctionOptions fn_options;
    fn_options.idempotent = idempotent;
    fn_options.symbol = symbol;
    if (batch) {
      const int rc = run_batch(lib, timeout, fn_options, stubs);
      if (show_stats)
        std::cout << json{{"stats", stats_json(bridge.stats())}}.dump(-1, ' ', false,
                                                                      json::error_handler_t::replace)
                  << std::endl;
      return rc;
    }
    dllbridge::Function fn = lib.function(signature, fn_options);
    std::vector<json> parsed;
    for (const std::string& raw : raw_args) {
      try {
        parsed.push_back(json::parse(raw));
      } catch (const json::exception&) {
        parsed.emplace_back(raw);  // a bare word is taken as text, as a shell user means it
      }
    }
    const std::vector<dllbridge::Value> args = dllbridge::tools::to_arguments(
        fn.declaration(), parsed, [](std::size_t i) { return "argument " + std::to_string(i + 1); }, stubs);
    had_stub = stubs.made > 0;
    Outcome o = run_call(fn, args, timeout, repeat, *stubs.recorder);
    body = std::move(o.body);
    add_callbacks(body, stubs, had_stub);
    if (show_stats) body["stats"] = stats_json(bridge.stats());
    status = 0;
  } catch (const dllbridge::Error& e) {
    body = error_json(e.kind(), e.what());
    add_callbacks(body, stubs, had_stub);
  }
  if (as_json) {
    std::cout << dump(body) << std::endl;
  } else {
    print_text(body);
  }
  return status;
}
