// The surrogates the raw-frame suites (surrogate_tests) talk to, with the
// sample library of each bitness.
#pragma once

#include <ostream>

#include "test_paths.hpp"

namespace dllbridge::test {

struct SurrogateTarget {
  const char* name;
  const char* surrogate;
  const char* sample;
};
inline const SurrogateTarget kSurrogateTargets[] = {{"surrogate32", kSurrogate32, kSample32},
                                                    {"surrogate64", kSurrogate64, kSample64}};
inline void PrintTo(const SurrogateTarget& t, std::ostream* os) { *os << t.name; }

}  // namespace dllbridge::test
