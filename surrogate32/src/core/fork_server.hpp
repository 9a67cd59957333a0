// The fork server: a surrogate that starts others for its client by fork()
// rather than by posix_spawn and exec (POSIX only; docs/supervision.md,
// "Fork server"). A forked surrogate skips what a start otherwise costs:
// the exec, the dynamic loader and the static initialisers.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace dllbridge::surrogate {

// Runs one surrogate in a forked child from its command line (argv[0]
// first, `--fd N` last); returns its exit code.
using ForkedMain = std::function<int(const std::vector<std::string>& args)>;

// Serves start requests (dllbridge/wire/fork_server.hpp) on the inherited
// SOCK_SEQPACKET socket `fd` until the client closes its end or ends. Each
// request forks a child that leads a process group of its own and calls
// `run` with the request's arguments and `--fd N` (the endpoint that came
// with it); its pid and a pidfd go back. When a child ends, its group is
// killed (what its library started), the child reaped and its status sent.
// Must be called while this is the only thread. `argv` is this process's
// (main's): a child rewrites its copy so that its command line reads
// `PROGRAM --forked` (ps, /proc/PID/cmdline), not this server's. Returns the
// exit code for this process: 0 when the client went, 2 when `fd` is not
// such a socket.
int serve_forks(int fd, int argc, char** argv, const ForkedMain& run);

}  // namespace dllbridge::surrogate
