#include "answers.hpp"

#include <utility>

namespace dllbridge::tools {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string timeout_range() {
  return "a whole number of milliseconds from 1 to " + std::to_string(kMaxTimeoutMs) + " (7 days)";
}

std::chrono::milliseconds checked_timeout(std::int64_t ms, const std::string& what) {
  if (ms < 1 || ms > kMaxTimeoutMs) {
    throw Error(ErrorKind::bad_argument,
                what + " " + std::to_string(ms) + " is out of range: give " + timeout_range());
  }
  return std::chrono::milliseconds(ms);
}

std::chrono::milliseconds json_timeout(const json& v, const std::string& what) {
  if (v.is_number_unsigned()) {
    const std::uint64_t u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(kMaxTimeoutMs)) {
      throw Error(ErrorKind::bad_argument,
                  what + " " + std::to_string(u) + " is out of range: give " + timeout_range());
    }
    return checked_timeout(static_cast<std::int64_t>(u), what);
  }
  if (v.is_number_integer()) return checked_timeout(v.get<std::int64_t>(), what);
  throw Error(ErrorKind::bad_argument, what + " must be " + timeout_range() + ", not " + shown(v));
}

json error_json(ErrorKind kind, const std::string& message) {
  return {{"error", {{"kind", std::string(to_string(kind))}, {"message", message}}}};
}

json stats_json(const BridgeStats& s) {
  using std::chrono::duration;
  return {{"state", std::string(to_string(s.state))},
          {"pid", s.pid},
          {"bits", s.bits},
          {"uptime_ms", s.uptime.count()},
          {"starts", s.starts},
          {"restarts", s.restarts},
          {"calls_ok", s.calls_ok},
          {"calls_failed", s.calls_failed},
          {"calls_timed_out", s.calls_timed_out},
          {"retries", s.retries},
          {"in_flight", s.in_flight},
          {"latency_us", {{"p50", s.latency_p50.count()}, {"p99", s.latency_p99.count()}}},
          {"breaker", std::string(to_string(s.breaker))},
          {"reason", s.reason},
          {"process",
           {{"cpu_user_ms", duration<double, std::milli>(s.process.cpu_user).count()},
            {"cpu_kernel_ms", duration<double, std::milli>(s.process.cpu_kernel).count()},
            {"resident_bytes", s.process.resident_bytes},
            {"peak_resident_bytes", s.process.peak_resident_bytes},
            {"virtual_bytes", s.process.virtual_bytes},
            {"threads", s.process.threads},
            {"handles", s.process.handles}}}};
}

json result_json(const CallResult& result, double elapsed_us) {
  json out = json::object();
  for (const auto& [name, value] : result.out) out[name] = to_json(value);
  return {{"return", to_json(result.ret)},
          {"out", out},
          {"last_error", result.last_error},
          {"elapsed_us", elapsed_us},
          {"dll_us", std::chrono::duration<double, std::micro>(result.elapsed).count()}};
}

void add_callbacks(json& body, Stubs& stubs, bool had_stub) {
  json calls = stubs.recorder->take();
  if (had_stub || !calls.empty()) body["callbacks"] = std::move(calls);
}

Answer answer_call(const Function& fn, const std::vector<json>& raw,
                   std::optional<std::chrono::milliseconds> timeout,
                   const std::function<std::string(std::size_t)>& where, const std::string& context,
                   Stubs& stubs) {
  Answer a;
  const std::size_t stubs_before = stubs.made;
  bool had_stub = false;  // the call was made with a stub (not: a stub was made for arguments that failed)
  try {
    const std::vector<Value> args = to_arguments(fn.declaration(), raw, where, stubs);
    had_stub = stubs.made > stubs_before;
    const auto start = Clock::now();
    const CallResult result = fn.call(args, timeout);
    a.body = result_json(result, std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    a.ok = true;
  } catch (const Error& e) {
    a.body = error_json(e.kind(), e.what());
    a.kind = e.kind();
  } catch (const json::exception& e) {  // a JSON shape no check foresaw
    a.body = error_json(ErrorKind::bad_argument, context + ": " + e.what());
    a.kind = ErrorKind::bad_argument;
  }
  add_callbacks(a.body, stubs, had_stub);
  return a;
}

std::string dump(const json& body) { return body.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace dllbridge::tools
