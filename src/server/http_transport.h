// The plain-HTTP connection loop under cpp-httplib's request handling.
//
// httplib parses requests and writes responses; this class replaces how connections wait for
// requests, how requests are checked before httplib parses them, and how sockets are read
// and written:
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
// - Requests are read before a thread is given: a connection waits for its next request in one
//   epoll loop, which reads and checks the request's headers (and a body up to 64 KiB) and
//   only then hands the connection to a thread. A client that trickles its headers, or opens
//   connections and sends nothing, holds no thread. After a response the thread keeps the
//   connection while no other connection waits for a thread (busy polling, then sleeping in
//   poll(2)); then, or when the next request is incomplete, the connection goes back to the
//   loop (it stays open).
// - Framing is checked before httplib parses a request (RFC 9112): the request line (a known
//   method, "HTTP/1.0" or "HTTP/1.1"), header names and values (no control characters but
//   HTAB; no obs-fold; lines of at most 8 KiB, headers of at most 64 KiB), one Host, at most
//   one Authorization, one Content-Length of digits only, Transfer-Encoding exactly "chunked"
//   and never with Content-Length, no body on GET/HEAD/OPTIONS. A request that fails is
//   answered once with a JSON error (400, 414, 431, 501, 505) and the connection closes.
//   Percent signs in header values reach httplib escaped, so that its percent-decoding of
//   header values gives back the bytes the client sent.
// - Deadlines: from a request's first byte, its headers must arrive within header_timeout_ms
//   and the whole request (body included) within the read timeout; past either the client
//   gets 408 and the connection closes. An idle connection closes after the keep-alive
//   timeout.
// - Per client address at most max_connections_per_client connections (one more gets 429 and
//   is closed), and requests whose body is still arriving may use all but a quarter of the
//   threads (at least one is kept for requests that have fully arrived).
// - A connection closed with unread input (an error, a rejected body) is drained for up to a
//   second first, so that the client reads the answer instead of a reset.
//
// TLS connections keep httplib's own loop (httplib::SSLServer).
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>

#include <httplib.h>

namespace sextant::server {

struct TransportOptions {
  // 0: never spin (sleep in poll(2) at once, as httplib does).
  int busy_poll_us = 200;
  // Threads that serve requests (one connection each at a time).
  size_t threads = 64;
  // Threads spinning at once; 0: half the hardware threads.
  int max_spinners = 0;
  // From a request's first byte to the end of its headers. (The read timeout bounds the whole
  // request, body included.)
  int header_timeout_ms = 10000;
  // Open connections per client address.
  size_t max_connections_per_client = 256;
  // Called for each error the transport answers itself (bad framing, a deadline, the
  // connection cap), from any thread; returns the request id to send (may be empty).
  std::function<std::string(int status, const std::string& code, const std::string& message)> on_error;
};

class PollingHttpServer : public httplib::Server {
 public:
  explicit PollingHttpServer(TransportOptions options);
  ~PollingHttpServer() override;

  // httplib listens with a backlog of 5: a burst of new connections overflows it and the
  // kernel drops their SYNs (clients retry after 1 s). Call after binding: raises it.
  bool WidenListenBacklog(int backlog = 4096);

  class Pool;         // the epoll loop and the threads of one listen loop
  struct Connection;  // one client connection and what has been read from it

 private:
  bool process_and_close_socket(socket_t sock) override;  // hands the socket to the pool
  // A thread's part: serves c's requests while they arrive whole and quickly.
  void Serve(Pool& pool, Connection* c);
  // Waits for c's next request: true once bytes have arrived; false to close c, or (*keep)
  // to give it back to the loop because another connection waits for a thread.
  bool WaitForRequest(Pool& pool, Connection* c, bool* keep);

  const TransportOptions options_;
  std::atomic<Pool*> pool_{nullptr};  // the running listen loop's pool
  std::atomic<int> spinners_{0};
};

}  // namespace sextant::server
