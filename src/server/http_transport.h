// The plain-HTTP connection loop under cpp-httplib's request handling.
//
// httplib parses requests and writes responses; this class replaces only what happens on a
// keep-alive connection between two requests and how its socket is read and written:
//
// - Busy polling: after a response, the connection's thread first spins (non-blocking peeks)
//   for up to `busy_poll_us` waiting for the client's next request, and only then sleeps in
//   poll(2). A client that sends its next request quickly finds the thread awake: no wake-up
//   (on a VM, an inter-processor interrupt and a vCPU wake, ~35 µs each way here) between
//   the bytes arriving and the handler running. At most `max_spinners` threads spin at once
//   (default: half the hardware threads), so under load the spinning never takes every core,
//   and a connection whose client twice in a row is not back within the spin time sleeps at
//   once for its next 32 waits (a busy or slow client gains nothing from it).
// - Mid-request, when the rest of a request has not arrived yet (a body sent apart from its
//   headers), the thread also spins up to 50 µs (at most busy_poll_us) before sleeping.
// - One send per response: what httplib writes (status line and headers, then the body) is
//   collected and sent together when the request is done, or before the connection's next
//   read (an interim "100 Continue" must reach the client before its body can arrive).
// - Fewer system calls: reads and writes first try the socket without blocking, and poll(2)
//   only when it would block; reads go through a 16 KiB buffer.
//
// - Idle connections yield: a thread serves one connection at a time (httplib's model), so
//   while an accepted connection waits for a thread, connections idle between requests close
//   (clients reconnect) instead of holding their threads for the whole keep-alive timeout.
//
// TLS connections keep httplib's own loop (httplib::SSLServer).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace sextant::server {

// The threads that serve connections, one connection at a time each (httplib's model), and
// the count of accepted connections waiting for one of them.
class ConnectionPool final : public httplib::TaskQueue {
 public:
  explicit ConnectionPool(size_t threads);
  ~ConnectionPool() override;
  void enqueue(std::function<void()> fn) override;
  void shutdown() override;
  size_t waiting() const { return waiting_.load(std::memory_order_relaxed); }

 private:
  void Work();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::atomic<size_t> waiting_{0};
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

class PollingHttpServer : public httplib::Server {
 public:
  // busy_poll_us 0: never spin (sleep in poll(2) at once, as httplib does). `threads`: how
  // many connections are served at once; a connection accepted beyond them waits, and while
  // one waits, connections that are idle between requests close and give their thread up
  // (rather than holding it for the whole keep-alive timeout).
  PollingHttpServer(int busy_poll_us, size_t threads, int max_spinners = 0);

  // httplib listens with a backlog of 5: a burst of new connections overflows it and the
  // kernel drops their SYNs (clients retry after 1 s). Call after binding: raises it.
  bool WidenListenBacklog(int backlog = 4096);

 private:
  bool process_and_close_socket(socket_t sock) override;
  // Waits until the connection has bytes to read (true), or the keep-alive time runs out, the
  // peer closes or the server stops (false); spinning first if `spin`. *caught: the bytes
  // came while spinning.
  bool WaitForRequest(socket_t sock, bool spin, bool* caught);

  const int busy_poll_us_;
  int max_spinners_;
  std::atomic<ConnectionPool*> pool_{nullptr};  // the running listen loop's pool
  std::atomic<int> spinners_{0};
};

}  // namespace sextant::server
