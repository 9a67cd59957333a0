#include "args.hpp"

namespace dllbridge::tools {

std::vector<std::string> utf8_arguments(int argc, char** argv) { return {argv, argv + argc}; }

}  // namespace dllbridge::tools
