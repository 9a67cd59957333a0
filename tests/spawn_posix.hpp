// Starting a surrogate as the client library does (POSIX): the channel as
// descriptor 3, nothing else inherited but the standard streams, the leader
// of a process group of its own.
#pragma once

#include <spawn.h>
#include <sys/types.h>

#include <string>
#include <vector>

extern char** environ;

namespace dllbridge::test {

// Starts argv (argv[0] a path) with `channel` as its descriptor 3; the
// child's pid in `pid`. Returns 0 or posix_spawn's error.
inline int spawn_with_channel(const std::vector<std::string>& argv, int channel, pid_t& pid) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, channel, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return rc;
}

}  // namespace dllbridge::test
