"""What a trivial call, add(int32, int32), costs from Python through
dllbridge: the scalar fast path (dllbridge_call_values) and the JSON path
(dllbridge_call_json), against surrogate32 and the 32-bit sample library.

    DLLBRIDGE_SAMPLE32=build/i386/lib/libsample.so python3 python/bench.py [CALLS]

Prints the median and mean per call in microseconds. Not a test: timing
decides nothing here."""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dllbridge  # noqa: E402


def measure(fn, calls):
    times = []
    for i in range(calls):
        start = time.perf_counter()
        fn(i, 2)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6, statistics.fmean(times) * 1e6


def main():
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    sample = os.environ.get("DLLBRIDGE_SAMPLE32")
    if not sample:
        sys.exit("set DLLBRIDGE_SAMPLE32 to the 32-bit sample library (build/i386/lib/libsample.so)")
    with dllbridge.Bridge() as bridge:
        lib = bridge.load(sample)
        fast = lib.declare("int32_t add(int32_t a, int32_t b)")
        slow = lib.declare("int32_t add(int32_t a, int32_t b)")
        slow._scalar = False  # the JSON path
        fast(1, 2)
        slow(1, 2)
        assert fast._scalar is True
        for name, fn in (("scalar path (dllbridge_call_values)", fast), ("JSON path (dllbridge_call_json)", slow)):
            p50, mean = measure(fn, calls)
            print(f"{name}: p50 {p50:.1f} us, mean {mean:.1f} us per call ({calls} calls)")


if __name__ == "__main__":
    main()
