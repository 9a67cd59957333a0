// dllbridge-gen's back end: the files written into --out DIR from the model.
// Each throws std::runtime_error naming the file it could not write.
#pragma once

#include <filesystem>

#include "model.hpp"

namespace dllbridge::gen {

// DIR/NAME.sig: every struct and function in the signature language, one
// self-contained declaration per function (docs/proxy.md says how to use it
// with dllbridge-call --batch). Owned by the front end (emit_signatures.cpp).
void write_signature_file(const Model& m, const std::filesystem::path& dir);

// DIR/report.txt: every note, grouped by kind, defaults first. Owned by the
// front end (emit_signatures.cpp).
void write_report(const Model& m, const std::filesystem::path& dir);

// The buildable project: DIR/CMakeLists.txt (find_package(dllbridge)), the
// proxy library's sources (and NAME.def on Windows) and NAME_bridge.hpp.
// Owned by the back end (emit_project.cpp and what it uses).
void write_project(const Model& m, const std::filesystem::path& dir);

}  // namespace dllbridge::gen
