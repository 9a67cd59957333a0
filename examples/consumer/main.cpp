// Calls add() of a 32-bit library through the installed dllbridge.
#include <cstdio>

#include <dllbridge/bridge.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer LIBRARY\n");
    return 2;
  }
  try {
    dllbridge::Bridge bridge;  // finds surrogate32 in the installed bin folder
    dllbridge::Library lib = bridge.load(argv[1]);
    auto add = lib.function<int32_t(int32_t, int32_t)>("add");
    std::printf("add(2, 40) = %d (in a %u-bit surrogate, pid %u)\n", add(2, 40),
                bridge.surrogate().pointer_size * 8, bridge.surrogate().pid);
  } catch (const dllbridge::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", std::string(dllbridge::to_string(e.kind())).c_str(), e.what());
    return 1;
  }
  return 0;
}
