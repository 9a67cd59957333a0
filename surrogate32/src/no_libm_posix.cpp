// The statically linked Linux surrogate without libm. The only function it
// takes from libm is ceil(), which libstdc++ (linked in statically) calls
// for its hash tables' growth policy; loading a whole shared library for it
// costs every surrogate start 0.12 - 0.2 ms here (docs/performance.md,
// "Start and restart"). The link wraps ceil (-Wl,--wrap=ceil: libstdc++'s
// calls come here) and drops libm (-Wl,--as-needed).
#include <cmath>
#include <cstdint>

extern "C" double __wrap_ceil(double x) {  // NOLINT: the name --wrap gives
  // Already integral: NaN, infinities and every |x| >= 2^52.
  if (!(std::fabs(x) < 4503599627370496.0)) return x;
  double t = static_cast<double>(static_cast<std::int64_t>(x));  // toward zero
  if (t < x) t += 1.0;
  return std::copysign(t, x);  // ceil(-0.5) is -0.0
}
