// The fork server's messages (POSIX; docs/supervision.md, "Fork server").
// A fork server is a surrogate started with --fork-server on one end of a
// SOCK_SEQPACKET socket pair; the client holds the other end. Each packet
// is one message:
//   client -> server: a start request: '\0'-ended fields, each led by what
//     it is: "a:" an argument of the new surrogate's command line (argv[0]
//     first), "e:" a NAME=VALUE of its environment (which replaces the
//     server's), "d:" its working directory; with one descriptor attached:
//     the new surrogate's private endpoint (it gets `--fd N`);
//   server -> client: a Message of kind `started` answering each request in
//     turn (with the child's pidfd attached when it started), and one of
//     kind `ended` when a child it started has ended (it is reaped then).
#pragma once

#include <cstddef>
#include <cstdint>

namespace dllbridge::wire::fork_server {

enum Kind : std::uint32_t {
  started = 1,  // pid > 0: started (pidfd attached); else `code` is the errno of the failure
  ended = 2,    // child `pid` ended: `signaled` 0: exit code `code`; 1: killed by signal `code`
};

// The same layout for a 32-bit server and a 64-bit client.
struct Message {
  std::uint32_t kind = 0;
  std::int32_t pid = 0;
  std::int32_t signaled = 0;
  std::int32_t code = 0;
};
static_assert(sizeof(Message) == 16, "one layout for both bitnesses");

// The longest start request a server takes.
constexpr std::size_t kMaxRequest = 64 * 1024;

}  // namespace dllbridge::wire::fork_server
