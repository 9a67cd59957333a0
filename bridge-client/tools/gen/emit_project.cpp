// Placeholder on the front end's branch: the back end (emit_project.cpp on
// its branch) writes the proxy project; the lead takes that file on merge.
#include "emit.hpp"

namespace dllbridge::gen {

void write_project(const Model&, const std::filesystem::path&) {}

}  // namespace dllbridge::gen
