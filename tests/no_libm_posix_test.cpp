// The surrogate's own ceil (surrogate32/src/no_libm_posix.cpp, which its
// link puts in place of libm's): the same result as std::ceil, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

extern "C" double __wrap_ceil(double x);  // NOLINT: the name --wrap gives

namespace {

std::uint64_t bits(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

TEST(NoLibm, CeilIsStdCeilBitForBit) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> xs{0.0,
                         -0.0,
                         0.5,
                         -0.5,
                         1.0,
                         -1.0,
                         1.5,
                         -1.5,
                         2.0000001,
                         -2.0000001,
                         1e-300,
                         -1e-300,
                         4503599627370495.5,
                         -4503599627370495.5,
                         4503599627370496.0,
                         9.5e18,
                         -9.5e18,
                         1e300,
                         -1e300,
                         inf,
                         -inf,
                         std::numeric_limits<double>::denorm_min(),
                         -std::numeric_limits<double>::denorm_min()};
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> wide(-1e6, 1e6);
  for (int i = 0; i < 100000; ++i) xs.push_back(wide(rng));
  for (const double x : xs) EXPECT_EQ(bits(__wrap_ceil(x)), bits(std::ceil(x))) << x;
  EXPECT_TRUE(std::isnan(__wrap_ceil(std::numeric_limits<double>::quiet_NaN())));
}

}  // namespace
