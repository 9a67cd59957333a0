// The client's side of a fork server (POSIX; docs/supervision.md, "Fork
// server"): one surrogate process per program, started by this process,
// that forks the later surrogates of this process, each ready-initialised,
// instead of this process starting the program again.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "process/process.hpp"

namespace dllbridge::detail {

// Starts argv (argv[0] looked up in PATH when it has no '/') with
// `child_end` as descriptor 3 and nothing else inherited, as the leader of a
// new process group; returns 0 or the errno of the failure
// (process_posix.cpp).
int spawn_program(const std::vector<std::string>& argv, int child_end, pid_t& pid);

class ForkServer {
 public:
  using Clock = std::chrono::steady_clock;

  // A surrogate the server forked: its pid, and a pidfd this side owns.
  struct Child {
    pid_t pid = 0;
    int pidfd = -1;
  };

  // The running fork server of `program` for this process, started (and
  // the previous one's end noted) when there is none. Null when none can be
  // started; `why` says why (the caller starts the program itself).
  static std::shared_ptr<ForkServer> of(const std::string& program, std::string& why);

  // Asks for a surrogate `args` (argv[0] first; the server adds `--fd N`)
  // whose endpoint is `endpoint` (sent, not taken). Empty when the server
  // could not start it within `timeout` (it failed, or it is gone; `why`
  // says which), so that the caller starts the program itself.
  std::optional<Child> start(const std::vector<std::string>& args, int endpoint,
                             std::chrono::milliseconds timeout, std::string& why);

  // How child `pid`, which has ended, ended: read from /proc/PID/stat while
  // it is a zombie the server has not reaped yet (a crash is told without
  // waiting for the server), else once the server has reported it (it is
  // reaped then), waiting until `deadline`; {false, -1} when the server
  // ended without saying; empty at the deadline.
  std::optional<ExitStatus> status(pid_t pid, Clock::time_point deadline);

  // Whether the server still serves: it has not ended, failed or timed
  // out, and this is the process that started it (not a fork of it).
  bool alive();

  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;
  ~ForkServer();

 private:
  ForkServer(pid_t pid, int sock);
  void read_loop();
  // Gives the server up (under mu_): killed, never asked again; the reader
  // reaps it.
  void give_up();

  const pid_t pid_;      // the server process, this process's child
  const pid_t owner_;    // the process that started it (a fork of it must not use it)
  const int sock_;       // this side of the SOCK_SEQPACKET pair
  std::mutex start_mu_;  // one start request at a time: each reply answers the last
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Child> reply_;  // the last request's answer, under mu_
  int reply_error_ = 0;
  bool replied_ = false;
  bool dead_ = false;
  std::map<pid_t, ExitStatus> ended_;  // reported, not yet asked for
  std::set<pid_t> told_early_;         // asked for and read from /proc before the report came
  std::thread reader_;
};

}  // namespace dllbridge::detail
