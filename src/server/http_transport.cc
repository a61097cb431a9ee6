#include "server/http_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SEXTANT_CPU_RELAX() _mm_pause()
#else
#define SEXTANT_CPU_RELAX() ((void)0)
#endif

namespace sextant::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxLine = 8192;        // a request line or header line, CRLF included (httplib's limits)
constexpr size_t kMaxHead = 64 << 10;    // request line and headers
constexpr size_t kMaxFields = 100;       // header fields
constexpr size_t kPreread = 64 << 10;    // body bytes read before a thread takes the request
constexpr int kLingerMs = 1000;          // draining a closed connection's unread input
constexpr size_t kLingerBytes = 8 << 20;

int ToMillis(time_t sec, time_t usec) {
  const long long ms = static_cast<long long>(sec) * 1000 + usec / 1000;
  return static_cast<int>(std::clamp<long long>(ms, 0, 1 << 30));
}

int MillisUntil(Clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count() + 1;
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

std::string PeerAddress(int sock) {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  std::string ip;
  int port = 0;
  if (::getpeername(sock, reinterpret_cast<sockaddr*>(&a), &len) == 0) AddressOf(a, ip, port);
  return ip;
}

// Acknowledge what was read at once rather than after the delayed-ACK timer. A client that
// writes headers and body separately without TCP_NODELAY (Nagle) holds the body until its
// headers are acknowledged, which would otherwise cost it 40 ms per request.
void QuickAck(int sock) {
  const int one = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

bool IsTchar(unsigned char c) {
  return c != 0 && (std::isalnum(c) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

const char* Reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// What the headers of the request at the front of a buffer say, once checked.
struct Head {
  enum Kind { kIncomplete, kBad, kOk } kind = kIncomplete;
  // kBad: the answer.
  int status = 0;
  std::string code, message;
  // kOk:
  size_t size = 0;              // request line and headers, final CRLF CRLF included
  bool has_length = false;
  uint64_t length = 0;          // Content-Length
  bool chunked = false;
  bool expect_continue = false; // the client waits for "100 Continue" before sending the body
  std::string rewritten;        // non-empty: the head to hand httplib instead ('%' escaped)
};

Head Bad(int status, std::string code, std::string message) {
  Head h;
  h.kind = Head::kBad;
  h.status = status;
  h.code = std::move(code);
  h.message = std::move(message);
  return h;
}

Head CheckRequestLine(std::string_view line, bool* http10, bool* bodyless) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Bad(400, "bad_request", "malformed request line (expected 'METHOD TARGET HTTP/1.1')");
  }
  const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line.substr(sp2 + 1);
  if (method.empty() || target.empty()) return Bad(400, "bad_request", "malformed request line");
  for (char c : method) {
    if (!IsTchar(static_cast<unsigned char>(c))) return Bad(400, "bad_request", "malformed request method");
  }
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return Bad(400, "bad_request", "the request target has a character outside ASCII");
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !std::isdigit(static_cast<unsigned char>(version[5])) ||
      version[6] != '.' || !std::isdigit(static_cast<unsigned char>(version[7]))) {
    return Bad(400, "bad_request", "malformed HTTP version in the request line");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return Bad(505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served");
  }
  static const char* const kMethods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) {
    return Bad(501, "not_implemented", "unknown request method");
  }
  *http10 = version == "HTTP/1.0";
  *bodyless = method == "GET" || method == "HEAD" || method == "OPTIONS";
  Head ok;
  ok.kind = Head::kOk;
  return ok;
}

// Checks the request head at the front of [p, p+n): kIncomplete while it may still become a
// valid head, kBad as soon as it cannot, kOk once it is whole and valid.
Head CheckHead(const char* p, size_t n) {
  bool http10 = false, bodyless = false, percent = false, expect_continue = false;
  size_t fields = 0, hosts = 0, auths = 0, lengths = 0, encodings = 0;
  std::string_view length_value, encoding_value;
  size_t pos = 0;
  for (size_t line_no = 0;; ++line_no) {
    // Find this line's CRLF; reject what can never be part of a head as soon as it arrives.
    size_t eol = std::string_view::npos;
    for (size_t i = pos; i < n; ++i) {
      const auto c = static_cast<unsigned char>(p[i]);
      if (c == '\r') {
        if (i + 1 == n) break;
        if (p[i + 1] != '\n') return Bad(400, "bad_request", "a CR not followed by LF in the request headers");
        eol = i;
        break;
      }
      if (c == '\n') return Bad(400, "bad_request", "a line of the request headers ends in LF without CR");
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return Bad(400, "bad_request",
                   line_no == 0 ? "a control character in the request line" : "a control character in a request header");
      }
      if (i - pos + 2 > kMaxLine) {
        return line_no == 0 ? Bad(414, "uri_too_long", "the request line is longer than 8 KiB")
                            : Bad(431, "request_header_fields_too_large", "a request header line is longer than 8 KiB");
      }
    }
    if (eol == std::string_view::npos) {
      if (n > kMaxHead) return Bad(431, "request_header_fields_too_large", "the request headers are larger than 64 KiB");
      return Head{};
    }
    const std::string_view line(p + pos, eol - pos);
    pos = eol + 2;
    if (pos > kMaxHead) return Bad(431, "request_header_fields_too_large", "the request headers are larger than 64 KiB");
    if (line_no == 0) {
      if (line.empty()) return Bad(400, "bad_request", "an empty request line");
      Head h = CheckRequestLine(line, &http10, &bodyless);
      if (h.kind == Head::kBad) return h;
      continue;
    }
    if (line.empty()) break;  // end of the head
    if (++fields > kMaxFields) return Bad(431, "request_header_fields_too_large", "more than 100 request headers");
    if (line.front() == ' ' || line.front() == '\t') {
      return Bad(400, "bad_request", "a folded request header (a line that starts with white space)");
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return Bad(400, "bad_request", "a request header without a name");
    const std::string_view name = line.substr(0, colon), value = TrimOws(line.substr(colon + 1));
    for (char c : name) {
      if (!IsTchar(static_cast<unsigned char>(c))) return Bad(400, "bad_request", "a malformed request header name");
    }
    if (value.find('%') != std::string_view::npos) percent = true;
    if (EqualsNoCase(name, "Host")) {
      ++hosts;
    } else if (EqualsNoCase(name, "Authorization")) {
      ++auths;
    } else if (EqualsNoCase(name, "Content-Length")) {
      ++lengths;
      length_value = value;
    } else if (EqualsNoCase(name, "Transfer-Encoding")) {
      ++encodings;
      encoding_value = value;
    } else if (EqualsNoCase(name, "Expect") && EqualsNoCase(value, "100-continue")) {
      expect_continue = true;
    }
  }
  Head h;
  h.kind = Head::kOk;
  h.size = pos;
  h.expect_continue = expect_continue;
  if (!http10 && hosts == 0) return Bad(400, "bad_request", "an HTTP/1.1 request without a Host header");
  if (hosts > 1) return Bad(400, "bad_request", "more than one Host header");
  if (auths > 1) return Bad(400, "bad_request", "more than one Authorization header");
  if (lengths > 1) return Bad(400, "bad_request", "more than one Content-Length header");
  if (encodings > 1) return Bad(400, "bad_request", "more than one Transfer-Encoding header");
  if (lengths == 1) {
    if (length_value.empty() || length_value.size() > 18 ||
        !std::all_of(length_value.begin(), length_value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return Bad(400, "bad_request", "Content-Length must be one decimal number");
    }
    h.has_length = true;
    for (char c : length_value) h.length = h.length * 10 + static_cast<uint64_t>(c - '0');
  }
  if (encodings == 1) {
    if (!EqualsNoCase(encoding_value, "chunked")) {
      return Bad(400, "bad_request", "Transfer-Encoding must be exactly 'chunked'");
    }
    if (lengths == 1) return Bad(400, "bad_request", "Content-Length and Transfer-Encoding together");
    if (http10) return Bad(400, "bad_request", "Transfer-Encoding in an HTTP/1.0 request");
    h.chunked = true;
  }
  if (bodyless && (h.chunked || h.length > 0)) {
    return Bad(400, "bad_request", "GET, HEAD and OPTIONS requests take no body");
  }
  if (percent) {
    // httplib percent-decodes header values ("%00" would become a NUL that cuts the value
    // short, "%73" an 's'): escape '%' so that the decoded value is the one sent.
    std::string out;
    out.reserve(h.size + 64);
    size_t line_start = 0;
    bool first = true;
    for (size_t i = 0; i < h.size; ++i) {
      const char c = p[i];
      if (c == '%' && !first) {
        out += "%25";
      } else {
        out += c;
      }
      if (c == '\n') {
        if (out.size() - line_start > kMaxLine) {
          return Bad(431, "request_header_fields_too_large", "a request header line is longer than 8 KiB");
        }
        line_start = out.size();
        first = false;
      }
    }
    h.rewritten = std::move(out);
  }
  return h;
}

// How far a chunked body at the front of [p, p+n) goes: its size once complete, 0 while
// incomplete, -1 if malformed (httplib then rejects it).
long long ChunkedSize(const char* p, size_t n) {
  size_t pos = 0;
  for (;;) {
    const char* eol = static_cast<const char*>(std::memchr(p + pos, '\n', n - pos));
    if (eol == nullptr) return n - pos > 1024 ? -1 : 0;
    const std::string_view line(p + pos, static_cast<size_t>(eol - (p + pos)));
    uint64_t size = 0;
    size_t digits = 0;
    while (digits < line.size() && HexValue(line[digits]) >= 0) {
      if (digits == 15) return -1;
      size = size * 16 + static_cast<uint64_t>(HexValue(line[digits]));
      ++digits;
    }
    if (digits == 0) return -1;
    pos += line.size() + 1;
    if (size == 0) {  // trailers, then an empty line
      for (;;) {
        const char* end = static_cast<const char*>(std::memchr(p + pos, '\n', n - pos));
        if (end == nullptr) return 0;
        const size_t len = static_cast<size_t>(end - (p + pos));
        pos += len + 1;
        if (len <= 1) return static_cast<long long>(pos);
      }
    }
    if (size > n || pos + size + 2 > n) return 0;
    pos += size + 2;
  }
}

}  // namespace

// One client connection, owned by whoever holds it: the loop, the queue or a thread.
struct PollingHttpServer::Connection {
  int sock = -1;
  std::string peer;                 // the client's address (the per-client count's key)
  std::string in;                   // unread input: in[pos..]
  size_t pos = 0;
  Clock::time_point idle_since;     // the last response (or the connection's start)
  Clock::time_point request_start;  // the current request's first byte
  bool in_request = false;
  Head head;                        // kOk: the request at in[pos..] is whole (headers)
  bool streaming_slot = false;      // holds one of the slots for bodies still arriving
  bool draining = false;            // closed for writing; unread input is discarded
  Clock::time_point drain_until;
  size_t drained = 0;
  int misses = 0, rest = 0;         // busy polling's back-off

  size_t buffered() const { return in.size() - pos; }
  const char* data() const { return in.data() + pos; }
  void Consume(size_t n) {
    pos += n;
    if (pos == in.size()) {
      in.clear();
      pos = 0;
    } else if (pos > (64u << 10) && pos * 2 > in.size()) {
      in.erase(0, pos);
      pos = 0;
    }
  }
  // Reads what the socket has now (up to `limit` bytes more in all): >0 bytes, 0 EOF, -1
  // nothing yet (or an error: *broken).
  ssize_t ReadAvailable(size_t limit, bool* broken) {
    *broken = false;
    if (limit == 0) return -1;
    const size_t old = in.size();
    const size_t want = std::min<size_t>(limit, 16 << 10);
    in.resize(old + want);
    ssize_t r;
    do {
      r = ::recv(sock, in.data() + old, want, MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    in.resize(old + static_cast<size_t>(std::max<ssize_t>(r, 0)));
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) *broken = true;
    if (r > 0 && !in_request) {
      in_request = true;
      request_start = Clock::now();
    }
    return r < 0 ? -1 : r;
  }
  // Whether the body of the whole head at the front is all here (or needs no more reading).
  bool BodyBuffered() const {
    const size_t have = buffered() - head.size;
    if (head.chunked) return ChunkedSize(data() + head.size, have) != 0;
    return !head.has_length || have >= head.length;
  }
  // Whether the loop should read more before a thread takes the request.
  bool WantsMoreBody() const {
    const size_t have = buffered() - head.size;
    if (have >= kPreread || head.expect_continue) return false;  // (httplib sends "100 Continue")
    return !BodyBuffered();
  }
};

namespace {

// Writes a JSON error the way the server does ({"error":{"code","message"}}) and announces
// that the connection closes. Best effort: the socket's buffer is empty at this point.
void SendError(int sock, const TransportOptions& options, int status, const std::string& code,
               const std::string& message) {
  const std::string id = options.on_error ? options.on_error(status, code, message) : "";
  const std::string body = "{\"error\":{\"code\":\"" + JsonEscape(code) + "\",\"message\":\"" + JsonEscape(message) + "\"}}\n";
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) +
                    "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\n";
  if (!id.empty()) out += "X-Request-Id: " + id + "\r\n";
  out += "\r\n" + body;
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t w = ::send(sock, out.data() + done, out.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
      done += static_cast<size_t>(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if ((PollFor(sock, POLLOUT, 1000) & POLLOUT) == 0) return;
    } else {
      return;
    }
  }
}

// A connection's socket as httplib's request processing sees it: reads from the
// connection's buffer, then the socket, until the request's deadline; writes collected
// until Flush (or the next read that has to wait for the peer).
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(PollingHttpServer::Connection& c, Clock::time_point deadline, int deadline_s,
                   int read_timeout_ms, int write_timeout_ms, int spin_us, const TransportOptions& options)
      : c_(c), sock_(c.sock), deadline_(deadline), deadline_s_(deadline_s), read_timeout_ms_(read_timeout_ms),
        write_timeout_ms_(write_timeout_ms), spin_us_(spin_us), options_(options) {}

  bool timed_out() const { return timed_out_; }
  bool closes() const { return closes_; }  // a response said "Connection: close"

  bool is_readable() const override {
    return c_.buffered() > 0 || (PollFor(sock_, POLLIN, ReadWaitMs()) & (POLLIN | POLLHUP)) != 0;
  }
  bool is_writable() const override {
    const short r = PollFor(sock_, POLLOUT, write_timeout_ms_);
    return (r & POLLOUT) != 0 && (r & (POLLERR | POLLHUP | POLLNVAL)) == 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (timed_out_) return -1;
    if (c_.buffered() > 0) {
      const size_t n = std::min(size, c_.buffered());
      std::memcpy(ptr, c_.data(), n);
      c_.Consume(n);
      return static_cast<ssize_t>(n);
    }
    if (!Flush()) return -1;  // what the peer may be waiting for ("100 Continue")
    ssize_t n = ::recv(sock_, ptr, size, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && spin_us_ > 0) {
      // Mid-request (a body sent apart from its headers, a large body): the rest is usually
      // microseconds behind; wait for it awake rather than pay a wake-up.
      const auto until = Clock::now() + std::chrono::microseconds(spin_us_);
      do {
        for (int i = 0; i < 16; ++i) SEXTANT_CPU_RELAX();
        n = ::recv(sock_, ptr, size, MSG_DONTWAIT);
      } while (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && Clock::now() < until);
    }
    while (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (errno != EINTR) {
        QuickAck(sock_);  // the rest of the request may be waiting for our ACK
        if (Clock::now() >= deadline_) return TimedOut();
        if ((PollFor(sock_, POLLIN, ReadWaitMs()) & (POLLIN | POLLHUP | POLLERR)) == 0) {
          return Clock::now() >= deadline_ ? TimedOut() : -1;
        }
      }
      n = ::recv(sock_, ptr, size, MSG_DONTWAIT);
    }
    return n;
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (timed_out_) return -1;  // the 408 has been sent
    if (size > 9 && std::memcmp(ptr, "HTTP/1.", 7) == 0) NoteResponseHead(std::string_view(ptr, size));
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

  int ReadWaitMs() const { return std::min(read_timeout_ms_, MillisUntil(deadline_)); }

  // The request did not arrive by its deadline: answer 408 here and refuse what httplib
  // would write after it.
  ssize_t TimedOut() {
    timed_out_ = true;
    out_.clear();
    SendError(sock_, options_, 408, "request_timeout",
              "the request did not arrive within " + std::to_string(deadline_s_) + " s");
    return -1;
  }

  // httplib writes a response's status line and headers in one write.
  void NoteResponseHead(std::string_view s) {
    const size_t end = s.find("\r\n\r\n");
    if (end != std::string_view::npos) s = s.substr(0, end + 2);
    for (size_t i = s.find("\r\n"); i != std::string_view::npos; i = s.find("\r\n", i + 2)) {
      const std::string_view line = s.substr(i + 2, s.find("\r\n", i + 2) - (i + 2));
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos && EqualsNoCase(line.substr(0, colon), "Connection") &&
          EqualsNoCase(TrimOws(line.substr(colon + 1)), "close")) {
        closes_ = true;
      }
    }
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

  PollingHttpServer::Connection& c_;
  const int sock_;
  const Clock::time_point deadline_;
  const int deadline_s_;
  const int read_timeout_ms_, write_timeout_ms_;
  const int spin_us_;  // mid-request: spin this long before sleeping in poll(2)
  const TransportOptions& options_;
  bool timed_out_ = false, closes_ = false;
  std::string out_;
};

}  // namespace

// The connections of one listen loop: an epoll loop that holds every connection waiting for
// a request, and the threads that serve connections whose request has arrived.
class PollingHttpServer::Pool final : public httplib::TaskQueue {
 public:
  explicit Pool(PollingHttpServer& server) : server_(server), options_(server.options_) {
    const size_t threads = std::max<size_t>(options_.threads, 1);
    // Requests whose body is still arriving may take all threads but a quarter (at least one
    // is kept for requests that have arrived whole).
    max_streaming_ = static_cast<int>(threads - std::max<size_t>(1, threads / 4));
    if (max_streaming_ < 1) max_streaming_ = 1;
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
    loop_ = std::thread([this] { Loop(); });
    for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~Pool() override {
    shutdown();
    ::close(epoll_);
    ::close(wake_);
  }

  // httplib's accept loop hands over each connection here (through process_and_close_socket).
  void enqueue(std::function<void()> fn) override { fn(); }

  void shutdown() override {
    if (stopping_.exchange(true)) return;
    Wake();
    loop_.join();  // closes every connection the loop holds
    {
      std::lock_guard l(mu_);
      workers_stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();  // requests that have arrived are served first
    std::vector<Connection*> left;
    {
      std::lock_guard l(inbox_mu_);
      left.swap(inbox_);
    }
    for (Connection* c : left) Close(c);
  }

  size_t waiting() const { return waiting_.load(std::memory_order_relaxed); }

  void Adopt(int sock) {
    auto* c = new Connection;
    c->sock = sock;
    c->peer = PeerAddress(sock);
    c->idle_since = Clock::now();
    bool over = false;
    {
      std::lock_guard l(count_mu_);
      size_t& n = per_client_[c->peer];
      if (n >= std::max<size_t>(options_.max_connections_per_client, 1)) {
        over = true;
      } else {
        ++n;
      }
    }
    if (over) {
      c->peer.clear();  // not counted
      SendError(sock, options_, 429, "too_many_connections",
                "more than " + std::to_string(options_.max_connections_per_client) +
                    " open connections from this address");
      Linger(c);
      return;
    }
    HandBack(c);
  }

 private:
  friend class PollingHttpServer;

  // ---- any thread ----

  void Wake() {
    const uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof(one));
  }

  // To the loop: to wait for its next request (or drain, if draining).
  void HandBack(Connection* c) {
    {
      std::lock_guard l(inbox_mu_);
      if (!stopping_) {
        inbox_.push_back(c);
        c = nullptr;
      }
    }
    if (c != nullptr) {
      Close(c);
    } else {
      Wake();
    }
  }

  // Closes for writing and lets the loop discard what the client still sends, for a while,
  // so that it reads the answer rather than a reset.
  void Linger(Connection* c) {
    ::shutdown(c->sock, SHUT_WR);
    c->draining = true;
    c->drain_until = Clock::now() + std::chrono::milliseconds(kLingerMs);
    HandBack(c);
  }

  void Close(Connection* c) {
    if (c->streaming_slot) ReleaseStreaming(c);
    ::close(c->sock);
    if (!c->peer.empty()) {
      std::lock_guard l(count_mu_);
      auto it = per_client_.find(c->peer);
      if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
    }
    delete c;
  }

  bool TakeStreaming(Connection* c) {
    int n = streaming_.load();
    while (n < max_streaming_) {
      if (streaming_.compare_exchange_weak(n, n + 1)) {
        c->streaming_slot = true;
        return true;
      }
    }
    return false;
  }
  void ReleaseStreaming(Connection* c) {
    c->streaming_slot = false;
    streaming_.fetch_sub(1);
    if (has_pending_.load(std::memory_order_relaxed)) Wake();
  }

  void Dispatch(Connection* c) {
    {
      std::lock_guard l(mu_);
      jobs_.push_back(c);
      waiting_.store(jobs_.size(), std::memory_order_relaxed);
    }
    cv_.notify_one();
  }

  // The head at the front of c's buffer, checked; false if c was answered with an error
  // (and handed over to linger).
  bool Examine(Connection* c) {
    c->head = CheckHead(c->data(), c->buffered());
    if (c->head.kind == Head::kBad) {
      SendError(c->sock, options_, c->head.status, c->head.code, c->head.message);
      return false;
    }
    if (c->head.kind == Head::kOk && !c->head.rewritten.empty()) {
      std::string rest = c->in.substr(c->pos + c->head.size);
      c->in = std::move(c->head.rewritten);
      c->head.rewritten.clear();
      c->head.size = c->in.size();
      c->in += rest;
      c->pos = 0;
    }
    return true;
  }

  // ---- the loop ----

  void Register(Connection* c) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = c;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, c->sock, &ev);
    held_.insert(c);
  }
  void Unregister(Connection* c) {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c->sock, nullptr);
    held_.erase(c);
  }
  void LoopClose(Connection* c) {
    Unregister(c);
    Close(c);
  }
  void LoopLinger(Connection* c) {
    ::shutdown(c->sock, SHUT_WR);
    c->draining = true;
    c->drain_until = Clock::now() + std::chrono::milliseconds(kLingerMs);
  }

  // Reads what c has; hands it to a thread once its request is ready.
  void OnReadable(Connection* c) {
    if (c->draining) {
      char buf[16 << 10];
      for (;;) {
        const ssize_t r = ::recv(c->sock, buf, sizeof(buf), MSG_DONTWAIT);
        if (r > 0) {
          c->drained += static_cast<size_t>(r);
          if (c->drained > kLingerBytes) return LoopClose(c);
          continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        return LoopClose(c);  // EOF or error
      }
    }
    for (;;) {
      // Read at most the head (before it is whole) or the head and kPreread of body.
      const size_t cap = c->head.kind == Head::kOk ? c->head.size + kPreread : kMaxHead + 1;
      const size_t room = cap > c->buffered() ? cap - c->buffered() : 0;
      bool broken = false;
      const ssize_t r = c->ReadAvailable(room, &broken);
      if (r == 0 || broken) {  // the client is done sending
        if (c->head.kind == Head::kOk) return Ready(c);  // what httplib makes of a cut body
        if (c->buffered() > 0 && !broken) {
          SendError(c->sock, options_, 400, "bad_request", "the connection ended inside the request headers");
          LoopLinger(c);
          return;
        }
        return LoopClose(c);
      }
      if (r < 0) break;
      if (!Progress(c)) return;
    }
    if (held_.count(c) != 0 && !c->draining && c->buffered() > 0) QuickAck(c->sock);
  }

  // Checks what has arrived; false if c left the loop's reading (answered or handed on).
  bool Progress(Connection* c) {
    if (c->head.kind != Head::kOk) {
      if (!Examine(c)) {
        LoopLinger(c);
        return false;
      }
      if (c->head.kind != Head::kOk) return true;
    }
    if (c->WantsMoreBody()) return true;
    Ready(c);
    return false;
  }

  // c's request has arrived (or as much of its body as is read before a thread takes it).
  void Ready(Connection* c) {
    Unregister(c);
    if (!c->BodyBuffered() && !TakeStreaming(c)) {
      pending_.push_back(c);
      has_pending_.store(true, std::memory_order_relaxed);
      return;
    }
    Dispatch(c);
  }

  void CheckDeadlines() {
    const auto now = Clock::now();
    const auto keep_alive = std::chrono::seconds(server_.keep_alive_timeout_sec_);
    const auto header_timeout = std::chrono::milliseconds(options_.header_timeout_ms);
    const auto read_timeout =
        std::chrono::milliseconds(ToMillis(server_.read_timeout_sec_, server_.read_timeout_usec_));
    std::vector<Connection*> expired;
    for (Connection* c : held_) {
      if (c->draining ? now >= c->drain_until
                      : (!c->in_request ? now - c->idle_since >= keep_alive
                                        : (c->head.kind != Head::kOk && now - c->request_start >= header_timeout) ||
                                              now - c->request_start >= read_timeout)) {
        expired.push_back(c);
      }
    }
    for (Connection* c : expired) {
      if (c->draining || !c->in_request) {
        LoopClose(c);
      } else {
        TimeOut(c, c->head.kind != Head::kOk);
      }
    }
    for (size_t i = 0; i < pending_.size();) {
      Connection* c = pending_[i];
      if (now - c->request_start >= read_timeout) {
        pending_.erase(pending_.begin() + static_cast<long>(i));
        Register(c);
        TimeOut(c, false);
      } else {
        ++i;
      }
    }
  }

  void TimeOut(Connection* c, bool headers) {
    SendError(c->sock, options_, 408, "request_timeout",
              headers ? "the request headers did not arrive within " + std::to_string(options_.header_timeout_ms) +
                            " ms"
                      : "the request did not arrive within " +
                            std::to_string(ToMillis(server_.read_timeout_sec_, server_.read_timeout_usec_) / 1000) +
                            " s");
    LoopLinger(c);
  }

  void Loop() {
    std::vector<epoll_event> events(256);
    auto last_check = Clock::now();
    while (!stopping_) {
      const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), held_.empty() ? 200 : 50);
      for (int i = 0; i < n; ++i) {
        auto* c = static_cast<Connection*>(events[i].data.ptr);
        if (c == nullptr) {
          uint64_t v;
          (void)!::read(wake_, &v, sizeof(v));
        } else if (held_.count(c) != 0) {
          OnReadable(c);
        }
      }
      std::vector<Connection*> incoming;
      {
        std::lock_guard l(inbox_mu_);
        incoming.swap(inbox_);
      }
      for (Connection* c : incoming) {
        Register(c);
        if (!c->draining && c->buffered() > 0) Progress(c);
      }
      while (!pending_.empty() && streaming_.load() < max_streaming_) {
        Connection* c = pending_.front();
        pending_.pop_front();
        if (TakeStreaming(c)) {
          Dispatch(c);
        } else {
          pending_.push_front(c);
          break;
        }
      }
      has_pending_.store(!pending_.empty(), std::memory_order_relaxed);
      if (Clock::now() - last_check >= std::chrono::milliseconds(50)) {
        last_check = Clock::now();
        CheckDeadlines();
      }
    }
    // Stopping: connections without a whole request close; pending ones too.
    std::vector<Connection*> all(held_.begin(), held_.end());
    for (Connection* c : all) LoopClose(c);
    for (Connection* c : pending_) Close(c);
    pending_.clear();
    std::vector<Connection*> incoming;
    {
      std::lock_guard l(inbox_mu_);
      incoming.swap(inbox_);
    }
    for (Connection* c : incoming) Close(c);
  }

  // ---- the threads ----

  void Work() {
    for (;;) {
      Connection* c = nullptr;
      {
        std::unique_lock l(mu_);
        cv_.wait(l, [this] { return workers_stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, and every request that arrived was served
        c = jobs_.front();
        jobs_.pop_front();
        waiting_.store(jobs_.size(), std::memory_order_relaxed);
      }
      server_.Serve(*this, c);
    }
  }

  PollingHttpServer& server_;
  const TransportOptions& options_;
  int max_streaming_ = 1;
  int epoll_ = -1, wake_ = -1;
  std::atomic<bool> stopping_{false};

  // The loop's own.
  std::thread loop_;
  std::unordered_set<Connection*> held_;  // registered with epoll
  std::deque<Connection*> pending_;       // body still arriving, waiting for a streaming slot

  std::mutex inbox_mu_;
  std::vector<Connection*> inbox_;  // to be taken over by the loop
  std::atomic<bool> has_pending_{false};
  std::atomic<int> streaming_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Connection*> jobs_;  // requests that have arrived, for the threads
  std::atomic<size_t> waiting_{0};
  bool workers_stop_ = false;
  std::vector<std::thread> workers_;

  std::mutex count_mu_;
  std::unordered_map<std::string, size_t> per_client_;
};

PollingHttpServer::PollingHttpServer(TransportOptions options) : options_(std::move(options)) {
  auto& o = const_cast<TransportOptions&>(options_);
  o.busy_poll_us = std::max(0, o.busy_poll_us);
  if (o.max_spinners <= 0) o.max_spinners = std::max(1, static_cast<int>(std::thread::hardware_concurrency() / 2));
  if (o.header_timeout_ms <= 0) o.header_timeout_ms = 10000;
  new_task_queue = [this] {
    auto* pool = new Pool(*this);
    pool_.store(pool);
    return pool;
  };
}

PollingHttpServer::~PollingHttpServer() = default;

bool PollingHttpServer::WidenListenBacklog(int backlog) {
  const socket_t s = svr_sock_;
  return s != INVALID_SOCKET && ::listen(s, backlog) == 0;  // listen again: a new backlog
}

bool PollingHttpServer::process_and_close_socket(socket_t sock) {
  Pool* pool = pool_.load();
  if (pool == nullptr) {
    ::close(sock);
    return false;
  }
  pool->Adopt(sock);
  return true;
}

// Waits for c's next request: true once bytes have arrived; false to give c back to the loop
// (*keep) or close it.
bool PollingHttpServer::WaitForRequest(Pool& pool, Connection* c, bool* keep) {
  *keep = false;
  const bool spin = c->rest == 0;
  if (c->rest > 0) --c->rest;
  bool caught = false;
  if (spin && options_.busy_poll_us > 0 &&
      spinners_.fetch_add(1, std::memory_order_relaxed) < options_.max_spinners) {
    const auto until = Clock::now() + std::chrono::microseconds(options_.busy_poll_us);
    int result = -1;  // -1: keep waiting
    do {
      char ch;
      const ssize_t n = ::recv(c->sock, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n > 0) {
        result = 1;
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        result = 0;  // closed or broken
      } else {
        for (int i = 0; i < 16; ++i) SEXTANT_CPU_RELAX();
      }
    } while (result < 0 && Clock::now() < until);
    spinners_.fetch_sub(1, std::memory_order_relaxed);
    caught = result == 1;
    if (result == 0) return false;
  } else if (spin && options_.busy_poll_us > 0) {
    spinners_.fetch_sub(1, std::memory_order_relaxed);
  }
  // A client that is not back within the spin time (a slow or busy one) is not waited for
  // again for a while: after two misses in a row, the next 32 waits sleep at once.
  if (spin) {
    c->misses = caught ? 0 : c->misses + 1;
    if (c->misses >= 2) {
      c->misses = 0;
      c->rest = 32;
    }
  }
  if (caught) return true;
  // Sleep until the next request, in slices so that a stopping server, or a connection
  // waiting for this thread, is noticed.
  const auto until = c->idle_since + std::chrono::seconds(keep_alive_timeout_sec_);
  while (svr_sock_ != INVALID_SOCKET) {
    const short r = PollFor(c->sock, POLLIN, 20);
    if (r & (POLLERR | POLLNVAL)) return false;
    if (r & (POLLIN | POLLHUP)) return true;  // a request, or EOF (the read then says)
    if (Clock::now() >= until) return false;
    if (pool.waiting() > 0) {  // idle: give the thread up, keep the connection
      *keep = true;
      return false;
    }
  }
  return false;
}

void PollingHttpServer::Serve(Pool& pool, Connection* c) {
  const int read_timeout_ms = ToMillis(read_timeout_sec_, read_timeout_usec_);
  const int write_timeout_ms = ToMillis(write_timeout_sec_, write_timeout_usec_);
  for (;;) {
    // c's buffer starts with a whole, checked head.
    if (!c->streaming_slot && !c->BodyBuffered() && !pool.TakeStreaming(c)) {
      return pool.HandBack(c);  // the loop waits for a slot
    }
    bool closed = false, ok = false;
    bool timed_out = false, closes = false;
    {
      ConnectionStream stream(*c, c->request_start + std::chrono::milliseconds(read_timeout_ms),
                              read_timeout_ms / 1000, read_timeout_ms, write_timeout_ms,
                              std::min(options_.busy_poll_us, 50), options_);
      const bool stopping = svr_sock_ == INVALID_SOCKET;
      c->head = Head{};
      ok = process_request(stream, /*close_connection=*/stopping, closed, nullptr);
      if (!stream.Flush()) ok = false;
      timed_out = stream.timed_out();
      closes = stream.closes() || stopping;
    }
    if (c->streaming_slot) pool.ReleaseStreaming(c);
    c->in_request = false;
    c->idle_since = Clock::now();
    if (timed_out || !ok || closed || closes) {
      // Unread input (a rejected body) is drained before closing.
      if (timed_out || c->buffered() > 0 || closes) return pool.Linger(c);
      ::shutdown(c->sock, SHUT_RDWR);
      return pool.Close(c);
    }
    // The next request: pipelined behind this one, or soon on the wire.
    for (;;) {
      if (c->buffered() > 0) {
        if (!c->in_request) {
          c->in_request = true;
          c->request_start = Clock::now();
        }
        if (!pool.Examine(c)) return pool.Linger(c);
        if (c->head.kind == Head::kOk) break;  // serve it here
        QuickAck(c->sock);
        return pool.HandBack(c);  // incomplete: the loop reads the rest
      }
      if (svr_sock_ == INVALID_SOCKET) return pool.Close(c);
      bool keep = false;
      if (!WaitForRequest(pool, c, &keep)) return keep ? pool.HandBack(c) : pool.Close(c);
      bool broken = false;
      const ssize_t r = c->ReadAvailable(kMaxHead + kPreread, &broken);
      if (r == 0 || broken) return pool.Close(c);
    }
  }
}

}  // namespace sextant::server
