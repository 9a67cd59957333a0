#!/usr/bin/env python3
"""The table of scripts/bench.sh --windows: a trivial call's latency
(dllbridge-call.exe --json --repeat) against the synchronous named-pipe
ping-pong floor (pipe_pingpong64.exe), round by round as the runs were
interleaved, and the median over the rounds.

  python3 bench/echo/wine_rounds.py DIR
DIR holds call-BUILD-BITS-ROUND.json and pipe-BITS-ROUND.json (BUILD: new,
and base when bench.sh ran with --base)."""
import json
import os
import re
import statistics
import sys


def p50(path):
    try:
        with open(path) as f:
            return float(json.load(f)["latency_us"]["p50"])
    except (OSError, ValueError, KeyError):
        return None


def main(d):
    calls = {}
    pipes = {}
    for name in os.listdir(d):
        m = re.fullmatch(r"call-(\w+)-(32|64)-(\d+)\.json", name)
        if m:
            calls[(m[1], m[2], int(m[3]))] = p50(os.path.join(d, name))
        m = re.fullmatch(r"pipe-(32|64)-(\d+)\.json", name)
        if m:
            pipes[(m[1], int(m[2]))] = p50(os.path.join(d, name))
    builds = sorted({b for b, _, _ in calls}, key=lambda b: (b != "new", b))
    rounds = sorted({r for _, r in pipes})
    head = "| surrogate | round | ping-pong p50 (us) |"
    rule = "|---|---|---|"
    for b in builds:
        head += f" {b}: call p50 (us) | {b}: ratio |"
        rule += "---|---|"
    print(head)
    print(rule)
    for bits in ("32", "64"):
        ratios = {b: [] for b in builds}
        for r in rounds:
            floor = pipes.get((bits, r))
            row = f"| {bits}-bit | {r} | {floor if floor is not None else 'failed'} |"
            for b in builds:
                c = calls.get((b, bits, r))
                ratio = c / floor if c and floor else None
                if ratio:
                    ratios[b].append(ratio)
                row += f" {c if c is not None else 'failed'} | {f'{ratio:.2f}x' if ratio else '-'} |"
            print(row)
        row = f"| {bits}-bit | median | |"
        for b in builds:
            med = f"{statistics.median(ratios[b]):.2f}x" if ratios[b] else "-"
            row += f" | **{med}** |"
        print(row)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
