#include "server/http_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SEXTANT_CPU_RELAX() _mm_pause()
#else
#define SEXTANT_CPU_RELAX() ((void)0)
#endif

namespace sextant::server {
namespace {

using Clock = std::chrono::steady_clock;

int ToMillis(time_t sec, time_t usec) {
  const long long ms = static_cast<long long>(sec) * 1000 + usec / 1000;
  return static_cast<int>(std::clamp<long long>(ms, 0, 1 << 30));
}

// Waits up to timeout_ms for `events` on sock; the revents, or 0 on timeout or error.
short PollFor(int sock, short events, int timeout_ms) {
  pollfd p{sock, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, timeout_ms);
    if (r > 0) return p.revents;
    if (r == 0) return 0;
    if (errno != EINTR) return 0;
  }
}

void AddressOf(const sockaddr_storage& a, std::string& ip, int& port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (a.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    port = ntohs(in->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    port = ntohs(in6->sin6_port);
  }
  ip = buf;
}

// A connection's socket as httplib's request processing sees it: buffered reads, writes
// collected until Flush (or the next read that has to wait for the peer).
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int sock, int read_timeout_ms, int write_timeout_ms, int spin_us)
      : sock_(sock), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms), spin_us_(spin_us) {}

  bool buffered() const { return pos_ < len_; }

  bool is_readable() const override {
    return pos_ < len_ || (PollFor(sock_, POLLIN, read_timeout_ms_) & (POLLIN | POLLHUP)) != 0;
  }
  bool is_writable() const override {
    const short r = PollFor(sock_, POLLOUT, write_timeout_ms_);
    return (r & POLLOUT) != 0 && (r & (POLLERR | POLLHUP | POLLNVAL)) == 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ < len_) {
      const size_t n = std::min(size, len_ - pos_);
      std::memcpy(ptr, in_ + pos_, n);
      pos_ += n;
      return static_cast<ssize_t>(n);
    }
    if (!Flush()) return -1;  // what the peer may be waiting for ("100 Continue")
    const bool direct = size >= sizeof(in_);
    char* dst = direct ? ptr : in_;
    const size_t cap = direct ? size : sizeof(in_);
    ssize_t n = ::recv(sock_, dst, cap, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && spin_us_ > 0) {
      // Mid-request (a body sent apart from its headers, a large body): the rest is usually
      // microseconds behind; wait for it awake rather than pay a wake-up.
      const auto until = Clock::now() + std::chrono::microseconds(spin_us_);
      do {
        for (int i = 0; i < 16; ++i) SEXTANT_CPU_RELAX();
        n = ::recv(sock_, dst, cap, MSG_DONTWAIT);
      } while (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && Clock::now() < until);
    }
    while (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (errno != EINTR) {
        QuickAck();  // the rest of the request may be waiting for our ACK
        if ((PollFor(sock_, POLLIN, read_timeout_ms_) & (POLLIN | POLLHUP | POLLERR)) == 0) return -1;  // timeout
      }
      n = ::recv(sock_, dst, cap, MSG_DONTWAIT);
    }
    if (n <= 0 || direct) return n;
    len_ = static_cast<size_t>(n);
    pos_ = 0;
    return read(ptr, size);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (out_.size() + size > kMaxCollected && !Flush()) return -1;
    if (size > kMaxCollected) return SendAll(ptr, size) ? static_cast<ssize_t>(size) : -1;
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof(a);
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) AddressOf(a, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof(a);
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) AddressOf(a, ip, port);
  }
  socket_t socket() const override { return sock_; }

  // Sends what has been collected; false if the peer is gone or the write timed out.
  bool Flush() {
    if (out_.empty()) return true;
    const bool ok = SendAll(out_.data(), out_.size());
    out_.clear();
    if (out_.capacity() > 4 * kMaxCollected) out_.shrink_to_fit();
    return ok;
  }

 private:
  static constexpr size_t kMaxCollected = 256 << 10;

  // Called when a request is incomplete and the socket has nothing more: acknowledge what was
  // read at once rather than after the delayed-ACK timer. A client that writes headers and
  // body separately without TCP_NODELAY (Nagle) holds the body until its headers are
  // acknowledged, which would otherwise cost it 40 ms per request. Whole requests in one
  // segment never get here, so their ACK still rides on the response.
  void QuickAck() {
    const int one = 1;
    ::setsockopt(sock_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
  }

  bool SendAll(const char* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::send(sock_, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0) {
        p += w;
        n -= static_cast<size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!is_writable()) return false;
      } else {
        return false;
      }
    }
    return true;
  }

  const int sock_;
  const int read_timeout_ms_, write_timeout_ms_;
  const int spin_us_;  // mid-request: spin this long before sleeping in poll(2)
  char in_[16 << 10];
  size_t pos_ = 0, len_ = 0;
  std::string out_;
};

}  // namespace

ConnectionPool::ConnectionPool(size_t threads) {
  for (size_t i = 0; i < std::max<size_t>(threads, 1); ++i) threads_.emplace_back([this] { Work(); });
}

ConnectionPool::~ConnectionPool() { shutdown(); }

void ConnectionPool::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    jobs_.push_back(std::move(fn));
    waiting_.store(jobs_.size(), std::memory_order_relaxed);
  }
  cv_.notify_one();
}

void ConnectionPool::shutdown() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void ConnectionPool::Work() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and every accepted connection was served
      fn = std::move(jobs_.front());
      jobs_.pop_front();
      waiting_.store(jobs_.size(), std::memory_order_relaxed);
    }
    fn();
  }
}

PollingHttpServer::PollingHttpServer(int busy_poll_us, size_t threads, int max_spinners)
    : busy_poll_us_(std::max(0, busy_poll_us)), max_spinners_(max_spinners) {
  if (max_spinners_ <= 0) {
    max_spinners_ = std::max(1, static_cast<int>(std::thread::hardware_concurrency() / 2));
  }
  new_task_queue = [this, threads] {
    auto* pool = new ConnectionPool(threads);
    pool_.store(pool);
    return pool;
  };
}

bool PollingHttpServer::WidenListenBacklog(int backlog) {
  const socket_t s = svr_sock_;
  return s != INVALID_SOCKET && ::listen(s, backlog) == 0;  // listen again: a new backlog
}

bool PollingHttpServer::WaitForRequest(socket_t sock, bool spin, bool* caught) {
  *caught = false;
  if (spin && busy_poll_us_ > 0 && spinners_.fetch_add(1, std::memory_order_relaxed) < max_spinners_) {
    const auto until = Clock::now() + std::chrono::microseconds(busy_poll_us_);
    int result = -1;  // -1: keep waiting
    do {
      char c;
      const ssize_t n = ::recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n > 0) {
        result = 1;
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        result = 0;  // closed or broken
      } else {
        for (int i = 0; i < 16; ++i) SEXTANT_CPU_RELAX();
      }
    } while (result < 0 && Clock::now() < until);
    spinners_.fetch_sub(1, std::memory_order_relaxed);
    *caught = result == 1;
    if (result >= 0) return result == 1;
  } else if (spin && busy_poll_us_ > 0) {
    spinners_.fetch_sub(1, std::memory_order_relaxed);
  }
  // Sleep until the next request, in slices so that a stopping server, or a connection
  // waiting for this thread, is noticed.
  const auto until = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
  while (svr_sock_ != INVALID_SOCKET) {
    const short r = PollFor(sock, POLLIN, 20);
    if (r & (POLLERR | POLLNVAL)) return false;
    if (r & (POLLIN | POLLHUP)) return true;  // a request, or EOF (the read then fails)
    if (Clock::now() >= until) return false;
    const ConnectionPool* pool = pool_.load(std::memory_order_relaxed);
    if (pool != nullptr && pool->waiting() > 0) return false;  // idle: give the thread up
  }
  return false;
}

bool PollingHttpServer::process_and_close_socket(socket_t sock) {
  ConnectionStream stream(sock, ToMillis(read_timeout_sec_, read_timeout_usec_),
                          ToMillis(write_timeout_sec_, write_timeout_usec_), std::min(busy_poll_us_, 50));
  bool ok = false;
  // A client that is not back within the spin time (a slow or busy one) is not waited for
  // again for a while: after two misses in a row, the next 32 waits sleep at once.
  int misses = 0, rest = 0;
  for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
    if (!stream.buffered()) {
      const bool spin = rest == 0;
      if (rest > 0) --rest;
      bool caught = false;
      if (!WaitForRequest(sock, spin, &caught)) break;
      if (spin) {
        misses = caught ? 0 : misses + 1;
        if (misses >= 2) {
          misses = 0;
          rest = 32;
        }
      }
    }
    bool closed = false;
    ok = process_request(stream, /*close_connection=*/left == 1, closed, nullptr);
    if (!stream.Flush()) ok = false;
    if (!ok || closed) break;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

}  // namespace sextant::server
