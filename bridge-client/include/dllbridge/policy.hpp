// Supervision policy as data: every knob of how the client manages the
// surrogate, with its default. docs/supervision.md explains each one.
#pragma once

#include <chrono>
#include <cstdint>

namespace dllbridge {

using Millis = std::chrono::milliseconds;

// Exponential backoff with full jitter: attempt n (from 1) waits a uniformly
// random time in [0, min(cap, base * 2^(n-1))]; without jitter, exactly that
// ceiling.
struct Backoff {
  Millis base{50};
  Millis cap{5000};
  bool jitter = true;
};

// How a surrogate is stopped: Shutdown message and a wait, then a polite
// signal / TerminateProcess and a wait, then SIGKILL.
struct StopPolicy {
  Millis shutdown_wait{2000};   // after the Shutdown request, for the process to exit
  Millis terminate_wait{1000};  // after SIGTERM, before SIGKILL
};

// Idle heartbeat: when no call has been in flight for `interval`, the client
// pings; `misses` pings in a row without a Pong within `timeout` mark the
// surrogate hung, and it is killed and restarted. interval 0 turns it off.
struct HeartbeatPolicy {
  Millis interval{1000};
  Millis timeout{1000};
  int misses = 2;
};

// Restarts after the surrogate died: backoff between starts, and a crash-loop
// limit. More than `max_starts` starts within `window` stop the restarting;
// calls then fail with surrogate_start_failed saying why, until restart().
struct RestartPolicy {
  bool enabled = true;
  Backoff backoff{Millis{0}, Millis{5000}, true};  // base 0: restarts are immediate
  int max_starts = 5;
  Millis window{60000};
};

// Automatic resending of calls marked idempotent, after failures that leave
// the call's effect unknown or absent (crashed, timeout, protocol, start
// failure). Calls not marked idempotent are never sent twice.
struct RetryPolicy {
  int max_attempts = 3;  // including the first; capped at 5
  Backoff backoff{Millis{20}, Millis{1000}, true};
};

// Circuit breaker over infrastructure failures (crashed, timeout, protocol,
// surrogate_start_failed). Closed: calls flow, outcomes counted over the last
// `window` calls. When at least `min_calls` were counted and the failure
// ratio reaches `failure_ratio`, it opens: calls fail at once with
// circuit_open for `open_for`. Then half-open: `half_open_probes` calls go
// through; all succeeding closes it, any failing opens it again.
struct BreakerPolicy {
  bool enabled = true;
  double failure_ratio = 0.5;
  int window = 20;
  int min_calls = 10;
  Millis open_for{5000};
  int half_open_probes = 1;
};

// Recycling for leaky libraries: restart the surrogate between calls after
// `after_calls` calls, or once its resident memory passes `max_resident_bytes`
// (checked by the monitor every `check_every`). 0 turns each rule off.
struct RecyclePolicy {
  std::uint64_t after_calls = 0;
  std::uint64_t max_resident_bytes = 0;
  Millis check_every{500};
};

// All of the above, plus the lifecycle choices.
struct SupervisionPolicy {
  bool lazy_start = false;      // start on the first call instead of in the constructor
  Millis start_timeout{10000};  // spawn + handshake
  Millis call_timeout{30000};   // default deadline of each call
  int surrogate_workers = 1;    // threads running DLL calls in the surrogate (legacy DLLs: 1)
  StopPolicy stop;
  HeartbeatPolicy heartbeat;
  RestartPolicy restart;
  RetryPolicy retry;
  BreakerPolicy breaker;
  RecyclePolicy recycle;
  // Keeps a second surrogate started and handshaken while the first serves,
  // so a restart (crash, hang, recycle, Bridge::restart) takes it over
  // instead of starting one: a crash then costs reloading the library into
  // it. The spare starts once a function call has completed on the serving
  // surrogate (loads and declarations do not count).
  // Costs one idle process per surrogate (per pool member). A spare that
  // fails to start or dies is not replaced before the next restart.
  bool warm_spare = false;
  // With warm_spare: the spare also loads the libraries and registers the
  // functions the serving surrogate has (replayed in the order they were
  // first made, and kept in step with later ones), so the call after a
  // take-over needs no load or registration round trip. Off by default:
  // the library is then loaded in two live processes at once, which a
  // library that takes something exclusively at load (a device, a lock
  // file, a licence seat) or changes shared state in its initialisation
  // may not allow. A spare whose load or registration fails is let go (and
  // not replaced before the next restart); the restart then starts one.
  bool preload_spare = false;
};

}  // namespace dllbridge
