// Reading another process's OS figures (/proc on Linux; GetProcessTimes,
// GetProcessMemoryInfo, ... on Windows). One file per platform.
#pragma once

#include <optional>

#include "dllbridge/types.hpp"

namespace dllbridge::detail {

// Figures of process `pid`, or nullopt when it does not exist (any more).
std::optional<ProcessFigures> read_figures(std::uint32_t pid);

}  // namespace dllbridge::detail
