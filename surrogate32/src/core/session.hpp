// One client session: the handshake, then the client's requests served
// until it says Shutdown or the channel ends. Library loads, registrations
// and calls run on a pool of worker threads (one by default: legacy DLLs are
// rarely thread-safe). An idle worker reads the channel itself when the
// transport allows it (rpc::Transport::read_until), so a call wakes the
// thread that runs it and no other; while it runs, the transport's own
// thread reads (Hello and Ping are answered there at once), so a worker that
// waits for the client (a callback's round trip) never blocks the reading,
// and calls the client nests in that wait run on the waiting worker
// (rpc::Peer).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/dispatcher.hpp"
#include "dllbridge/rpc/peer.hpp"
#include "dllbridge/rpc/spin_advisor.hpp"
#include "dllbridge/rpc/transport.hpp"

namespace dllbridge::surrogate {

// How a session ended.
enum class SessionEnd { shutdown, disconnected, protocol_error, unauthorized };

// What a session is told besides its transport.
struct SessionOptions {
  int workers = 1;  // threads for DLL work (at least 1)
  // The shared secret the client's Hello must carry; empty: none asked.
  std::string token;
  std::string peer = "the client";  // names the client in logs ("pid 1234")
  // Held around each library load, registration and call when not null:
  // serializes the DLL work of all sessions of a standalone surrogate
  // (Dispatcher::set_dll_lock: not while a call waits for its bytes).
  std::recursive_mutex* dll_lock = nullptr;
  // Called on the transport's thread once a valid Hello was received.
  std::function<void()> on_greeted;
};

class Session {
 public:
  // Serves the client at the other end of `transport` (which must outlive
  // the session) with `workers` threads for DLL work (at least 1).
  Session(rpc::Transport& transport, int workers = 1);
  // The same, with the options of a standalone surrogate's session.
  Session(rpc::Transport& transport, SessionOptions options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Serves until the end of the session; closes the transport and waits for
  // its reading to stop before it returns. Never throws for anything the
  // client sends; a crash inside the DLL ends the process, by design.
  SessionEnd run();

  // Whether a request is queued or being served (for the idle timeout);
  // thread-safe.
  bool busy() const;

  // The session's end of the channel: requests to the client (callbacks)
  // go through peer().request(); thread-safe.
  rpc::Peer& peer() { return peer_; }

 private:
  void on_request(rpc::Peer::Incoming& incoming);  // transport thread
  // The answer to `request`, built in `reply` (on the request's arena).
  void respond(const wire::Request& request, wire::Reply& reply);
  void on_end(const std::string& why, bool bad_frame);
  void finish(SessionEnd how);
  void send_error(std::uint64_t id, wire::ErrorKind kind, const std::string& message);
  void work();                             // a worker thread
  bool admit(const wire::Request& hello);  // the reading thread
  // Whether a worker has something to do now (read_until's test).
  static bool has_work(void* session);
  // The transport's reading came free after a worker found it taken: wake the workers to read.
  void reader_freed();

  rpc::Transport& transport_;
  SessionOptions options_;
  Dispatcher dispatcher_;
  rpc::Peer peer_;
  bool greeted_ = false;                   // the reading thread only (one at a time)
  std::atomic<bool> region_tried_{false};  // a Hello's region was looked at

  mutable std::mutex mu_;
  std::condition_variable cv_;       // the end, a Shutdown: for run()
  std::condition_variable work_cv_;  // work or the end of it: for the workers
  std::optional<SessionEnd> end_;
  rpc::Peer::Incoming* shutdown_ = nullptr;  // a Shutdown waiting for the workers
  // For the workers, oldest first: a vector that keeps its capacity (a
  // deque allocates and frees its blocks as requests pass through).
  std::vector<rpc::Peer::Incoming*> queue_;
  int serving_ = 0;  // requests the workers are serving
  bool workers_done_ = false;
  bool worker_reading_ = false;     // a worker reads the channel for work (one at a time)
  std::uint64_t reader_frees_ = 0;  // the transport's reading came free after a worker was turned away
  bool greeted_once_ = false;       // a valid Hello came (greeted_, seen under mu_)
  bool reading_over_ = false;       // the transport's reading has ended
  std::vector<std::thread> workers_;
  // Standard mode's bulk poll (docs/performance.md, "Bulk data in standard
  // mode"): how long the client of the last call asked this side to poll
  // for its next request (Call.poll_next_ns; taken by the next worker that
  // reads), and whether such polls catch it.
  static constexpr std::uint32_t kMaxPollNextNs = 100000;
  std::atomic<std::uint32_t> poll_next_ns_{0};
  rpc::PollBackoff next_poll_;
};

// Serves one session on `transport` (Session::run).
SessionEnd serve_session(rpc::Transport& transport, int workers = 1);

}  // namespace dllbridge::surrogate
