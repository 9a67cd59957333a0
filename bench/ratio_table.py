#!/usr/bin/env python3
"""Prints the ratio tables of the dllbridge benchmarks from Google Benchmark
JSON files (scripts/bench.sh writes them): python3 bench/ratio_table.py FILE.json...

With repetitions, the median of each benchmark is used (its counters are the
medians of the runs' counters); without, the single run. Tables:
  overhead_bench  each call against its in-process call and the raw ping-pong
  overhead_bench  calls/s from 1..8 threads
  call_bench      callbacks: one invocation against one forward call
  call_bench      buffers against memcpy
  latency_bench   trivial call p50 against the raw ping-pong
  start_bench     start and restart against spawning a no-op program
  dllbridge-call --json --repeat output (bench.sh --windows): latency percentiles
"""
import json
import re
import sys


def load(path):
    with open(path) as f:
        text = f.read()
    if not text.strip():
        return {}  # a suite none of whose benchmarks matched the filter
    data = json.loads(text)
    runs = {}
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            runs[b.get("run_name", b["name"])] = {"error": b.get("error_message", "error")}
            continue
        name = b.get("run_name", b["name"])
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                runs[name] = b
        elif name not in runs or runs[name].get("run_type") != "aggregate":
            # a single run (or the first repetition until the median comes)
            runs.setdefault(name, b)
    return runs


def us(b):
    """The benchmark's time in microseconds."""
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
    return b["real_time"] * scale


def fmt(v, digits=3):
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def table(title, header, rows):
    if not rows:
        return
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")


def overhead(runs, suffix):
    rows = []
    for name, b in runs.items():
        m = re.fullmatch(r"BM_Overhead/([^/]+)/([^/]+)(?:/manual_time)?", name)
        if not m:
            continue
        if "error" in b:
            rows.append([m.group(1), m.group(2), b["error"], "", "", "", "", ""])
            continue
        rows.append([m.group(1), m.group(2), fmt(b.get("p50_us")), fmt(b.get("raw_p50_us")),
                     fmt(b.get("x_raw")), fmt(b.get("inproc_p50_us")), fmt(b.get("x_inproc")),
                     f"{b.get('req_bytes', 0):.0f} / {b.get('reply_bytes', 0):.0f}"])
    table("Each call against its floors (overhead_bench" + suffix + "; p50 of interleaved rounds)",
          ["call", "mode", "bridged p50 µs", "raw ping-pong p50 µs", "x raw", "in-process µs", "x in-process",
           "frames out / back (bytes)"], rows)


def threads(runs, suffix):
    """BM_Threads (one surrogate32, W DLL threads) and BM_Pool (P surrogate32s):
    calls/s, a column per number of application threads."""
    for kind, key, title in (("Threads", "workers", "one surrogate32 with W DLL threads"),
                             ("Pool", "pool", "a pool of P surrogate32s, one DLL thread each")):
        rates = {}  # (call, W or P) -> {threads: calls/s}
        for name, b in runs.items():
            m = re.fullmatch(r"BM_" + kind + r"/([^/]+)/" + key + r":(\d+)(?:/real_time)?/threads:(\d+)(?:/real_time)?",
                             name)
            if not m or "error" in b:
                continue
            rates.setdefault((m.group(1), int(m.group(2))), {})[int(m.group(3))] = b.get("items_per_second")
        cols = sorted({t for r in rates.values() for t in r})
        rows = [[call, str(n)] + [fmt(r.get(t), 4) if t in r else "" for t in cols]
                for (call, n), r in sorted(rates.items())]
        if rows:
            table(f"Calls per second, {title} (overhead_bench{suffix})",
                  ["call", "W" if key == "workers" else "P"] + [f"{t} thread{'s' if t > 1 else ''}" for t in cols],
                  rows)


def callbacks(runs, suffix):
    rows = []
    for bits in ("32", "64"):
        c1 = runs.get(f"BM_BridgeCallbacks{bits}/1/real_time")
        c16 = runs.get(f"BM_BridgeCallbacks{bits}/16/real_time")
        fwd = runs.get(f"BM_BridgeCall{bits}/real_time")
        if not c1 or not c16 or not fwd or any("error" in x for x in (c1, c16, fwd)):
            continue
        per = (us(c16) - us(c1)) / 15
        rows.append([f"surrogate{bits}", fmt(us(fwd)), fmt(us(c1)), fmt(us(c16)), fmt(per), fmt(per / us(fwd))])
    table("Callbacks: one invocation = (t(N=16) - t(N=1)) / 15 (call_bench" + suffix + ")",
          ["surrogate", "forward call µs", "call with 1 callback µs", "with 16 callbacks µs",
           "one callback µs", "callback / forward call"], rows)


def buffers(runs, suffix):
    rows = []
    for name, b in runs.items():
        m = re.fullmatch(r"BM_((?:Buffer|Touch)\w+)/(\d+)(?:/real_time)?", name)
        if not m or "error" in b:
            continue
        rows.append([m.group(1), m.group(2), fmt(us(b)), f"{100 * b.get('ratio', 0):.2f}%"])
    rows.sort(key=lambda r: (r[0], int(r[1])))
    table("[in, out] buffers against memcpy (call_bench" + suffix + ")",
          ["benchmark", "bytes", "µs a call", "of memcpy bandwidth"], rows)


def latency(runs, suffix):
    rows = []
    raw = None
    for name, b in runs.items():
        if name.startswith("BM_RawPingPong/") and "error" not in b:
            raw = b.get("p50_us")
    for name, b in runs.items():
        m = re.fullmatch(r"BM_(RawPingPong\w*|ShmPingPong\w*|BridgeCall\w*)(?:/real_time)?", name)
        if not m or "error" in b or "p50_us" not in b:
            continue
        ratio = fmt(b["p50_us"] / raw) if raw else "-"
        rows.append([m.group(1), fmt(b["p50_us"]), fmt(b.get("p99_us")), ratio, b.get("label", "")])
    table("Trivial call against the raw ping-pong (latency_bench" + suffix + ")",
          ["benchmark", "p50 µs", "p99 µs", "p50 / raw p50", "where"], rows)


def start(runs, suffix):
    rows = []
    for name, b in runs.items():
        # StartToFirstCall/BITS/HOW: HOW 1 with BridgeOptions::fork_server.
        # CrashToNextCall/BITS/HOW: HOW 1 with SupervisionPolicy::warm_spare, 2 with preload_spare too,
        # 3 with fork_server and no spare.
        m = re.fullmatch(r"BM_(StartToFirstCall|CrashToNextCall)/(\d+)(?:/([0-3]))?(?:/manual_time)?", name)
        if not m or "error" in b:
            continue
        how = ({"1": " (fork server)"} if m.group(1) == "StartToFirstCall" else
               {"1": " (warm spare)", "2": " (preloaded spare)", "3": " (fork server)"})
        what = m.group(1) + how.get(m.group(3) or "", "")
        rows.append([what, m.group(2), fmt(b.get("bridge_ms")), fmt(b.get("floor_ms")), fmt(b.get("ratio"))])
    table("Start and restart against spawning a no-op program (start_bench" + suffix + ")",
          ["benchmark", "bits", "bridge ms", "floor ms", "ratio"], rows)


def repeat_output(path):
    """dllbridge-call --json --repeat N output (scripts/bench.sh --windows), or None."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "latency_us" in data else None


def main(paths):
    wine = {}  # file name -> percentiles (surrogate32, pipe32, ...)
    for path in paths:
        call = repeat_output(path)
        if call:
            wine[path.rsplit("/", 1)[-1].rsplit(".", 1)[0]] = call
            continue
        try:
            runs = load(path)
        except (OSError, ValueError) as e:
            print(f"{path}: {e}", file=sys.stderr)
            continue
        suffix = ", " + path.rsplit("/", 1)[-1]
        for show in (overhead, threads, callbacks, buffers, latency, start):
            show(runs, suffix)
    rows = []
    for bits in ("32", "64"):
        call, floor = wine.get("surrogate" + bits), wine.get("pipe" + bits)
        if not call:
            continue
        lat = call["latency_us"]
        raw = floor["latency_us"]["p50"] if floor else None
        rows.append([f"surrogate{bits}.exe", str(call.get("calls", "")), fmt(lat.get("p50")), fmt(lat.get("p99")),
                     fmt(raw), fmt(lat["p50"] / raw) if raw else "-"])
    table("Trivial call add(1, 2) under Wine: dllbridge-call --repeat against a synchronous named-pipe "
          "ping-pong of the same frame sizes (bench.sh --windows)",
          ["surrogate", "calls", "p50 µs", "p99 µs", "pipe ping-pong p50 µs", "p50 / pipe p50"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
