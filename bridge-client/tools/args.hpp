// The command line as UTF-8, whatever the platform hands main(). One file
// per platform (args_posix.cpp / args_win.cpp).
#pragma once

#include <string>
#include <vector>

namespace dllbridge::tools {

// argv as UTF-8 strings. POSIX: argv as given. Windows: rebuilt from the
// UTF-16 command line (main()'s argv is in the ANSI code page, which would
// mangle non-ASCII paths and text), and console output switched to UTF-8.
std::vector<std::string> utf8_arguments(int argc, char** argv);

}  // namespace dllbridge::tools
