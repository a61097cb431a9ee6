// The red team's HTTP cases (issue 10, items 5, 6, 7 and 9), kept: broken request lines and
// headers, request smuggling through ambiguous body lengths, control characters in headers
// (a NUL that cut the credential short), slow clients (trickled headers and bodies, many
// connections from one address) and a second server on a port that is already in use.
// Each case talks raw TCP to the plain-HTTP transport (src/server/http_transport.h).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/server.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sextant::server::LogLevel;
using sextant::server::Server;
using sextant::server::ServerOptions;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string FreshDir(const std::string& tag) {
  static std::atomic<int> n{0};
  const std::string d = (fs::temp_directory_path() / ("sextant_http_hostile_" + tag + "_" + std::to_string(::getpid()) +
                                                      "_" + std::to_string(n++)))
                            .string();
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A TCP connection to the server, from `source` (any 127.x.y.z address: Linux routes all of
// 127/8 to loopback, so tests can play several client addresses).
class Raw {
 public:
  Raw(int port, const char* source = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &src.sin_addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof(src));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    SetReadTimeout(10);
  }
  ~Raw() { Close(); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  void SetReadTimeout(int seconds) {
    timeval tv{seconds, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  // Sends what it can (the server may close early: errors are not failures here).
  bool Send(const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
      const ssize_t n = ::send(fd_, s.data() + done, s.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  // Everything the server sends until it closes the connection (closed: true) or nothing more
  // comes for the read timeout (closed: false).
  std::string ReadToEnd(bool* closed) {
    std::string out;
    *closed = false;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      *closed = n == 0 || errno == ECONNRESET;
      return out;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

struct HttpResponse {
  int status = 0;
  std::string head, body;
  json Json() const { return json::parse(body, nullptr, false); }
  bool ClosesConnection() const {
    return std::regex_search(head, std::regex("\r\n[Cc]onnection: *close", std::regex::icase));
  }
};

// Splits a byte stream into responses (Content-Length bodies only, as the server sends).
std::vector<HttpResponse> ParseResponses(std::string s) {
  std::vector<HttpResponse> out;
  for (;;) {
    const size_t end = s.find("\r\n\r\n");
    if (end == std::string::npos || s.compare(0, 5, "HTTP/") != 0) return out;
    HttpResponse r;
    r.head = s.substr(0, end);
    r.status = std::atoi(r.head.c_str() + 9);
    size_t length = 0;
    std::smatch m;
    if (std::regex_search(r.head, m, std::regex("\r\n[Cc]ontent-[Ll]ength: *([0-9]+)"))) length = std::stoul(m[1]);
    r.body = s.substr(end + 4, length);
    out.push_back(r);
    s.erase(0, std::min(s.size(), end + 4 + length));
  }
}

// Sends `input` on a fresh connection (from a thread, so that a server that answers before
// reading everything is not blocked on), ends the client's side, and returns what came back.
std::vector<HttpResponse> Exchange(int port, const std::string& input, bool* closed, bool end_input = true) {
  Raw raw(port);
  EXPECT_TRUE(raw.connected());
  std::thread sender([&] {
    raw.Send(input);
    if (end_input) ::shutdown(raw.fd(), SHUT_WR);
  });
  const std::string got = raw.ReadToEnd(closed);
  sender.join();
  return ParseResponses(got);
}

// Each error the transport writes itself has the server's JSON shape.
void ExpectJsonError(const HttpResponse& r, const std::string& what) {
  const json j = r.Json();
  ASSERT_TRUE(j.is_object() && j.contains("error")) << what << ": " << r.head << "\n" << r.body;
  EXPECT_FALSE(j["error"].value("code", "").empty()) << what;
  EXPECT_FALSE(j["error"].value("message", "").empty()) << what;
}

const std::string kHealthz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
const std::string kHealthzClose = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

class HttpHostile : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = FreshDir("t"); }
  void TearDown() override {
    Stop();
    fs::remove_all(dir_);
  }
  ServerOptions Options() const {
    ServerOptions o;
    o.data_dir = dir_ + "/data";
    o.port = 0;
    o.log_level = LogLevel::kOff;
    o.threads = 16;
    return o;
  }
  void Start(const ServerOptions& o) {
    auto s = Server::Create(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    port_ = server_->port();
    thread_ = std::thread([this] { EXPECT_TRUE(server_->Run().ok()); });
    if (o.admin_key_file) {
      std::ifstream in(*o.admin_key_file);
      std::getline(in, admin_);
    }
    for (int i = 0; i < 500 && !Healthy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  void Stop() {
    if (!server_) return;
    server_->Shutdown();
    thread_.join();
    server_.reset();
  }
  bool Healthy() {
    httplib::Client cli("127.0.0.1", port_);
    auto r = cli.Get("/healthz");
    return r && r->status == 200;
  }

  std::string dir_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::string admin_;
};

// ---------------------------------------------------------------------------------------
// Item 5: framing.

using HttpHostileFraming = HttpHostile;

TEST_F(HttpHostileFraming, BadRequestLinesAndHeadersGetOneJsonErrorAndTheConnectionCloses) {
  ServerOptions o = Options();
  Start(o);
  const std::vector<std::string> bad = {
      "FOO /x HTTP/1.1\r\nHost: x\r\n\r\n",
      "get /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /healthz\r\nHost: x\r\n\r\n",                      // no version
      "GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n",
      "GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n",             // two spaces
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",                      // the HTTP/2 connection preface
      "GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(9000, 'a') + "\r\n\r\n",  // 8 KiB+ line
      "GET /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(1 << 20, 'k') + "\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Space : y\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n",  // obs-fold
      "GET /healthz HTTP/1.1\r\n\r\n",                                 // HTTP/1.1 without Host
      "GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
      "GET /healthz HTTP/1.1\nHost: x\n\n",                            // bare LF line ends
      "GET /" + std::string(10000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  for (const std::string& first : bad) {
    // The bad request, then a good one on the same connection: the good one must not be
    // answered (the connection closes after one error), whatever the bad one looked like.
    bool closed = false;
    const auto got = Exchange(port_, first + kHealthz + kHealthz, &closed);
    const std::string what = first.substr(0, 60);
    ASSERT_EQ(got.size(), 1u) << what << ": " << got.size() << " responses";
    EXPECT_GE(got[0].status, 400) << what;
    ExpectJsonError(got[0], what);
    EXPECT_TRUE(got[0].ClosesConnection()) << what << "\n" << got[0].head;
    EXPECT_TRUE(closed) << what;
  }
  // Specific answers.
  bool closed = false;
  EXPECT_EQ(Exchange(port_, "FOO /x HTTP/1.1\r\nHost: x\r\n\r\n", &closed)[0].status, 501);
  EXPECT_EQ(Exchange(port_, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &closed)[0].status, 505);
  EXPECT_EQ(Exchange(port_, "GET /" + std::string(10000, 'a') + " HTTP/1.1\r\n\r\n", &closed)[0].status, 414);
  EXPECT_EQ(Exchange(port_, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(9000, 'a') + "\r\n\r\n",
                     &closed)[0].status, 431);
  // Good requests still work, several on one connection.
  const auto good = Exchange(port_, kHealthz + kHealthz + "GET /healthz HTTP/1.0\r\n\r\n", &closed);
  ASSERT_EQ(good.size(), 3u);
  for (const auto& r : good) EXPECT_EQ(r.status, 200);
}

TEST_F(HttpHostileFraming, AmbiguousBodyLengthsAreRejectedAndNothingIsSmuggled) {
  ServerOptions o = Options();
  Start(o);
  ASSERT_EQ(httplib::Client("127.0.0.1", port_).Put("/v1/collections/t", R"({"dimension":2})", "application/json")->status,
            201);
  // Each request below carries a smuggled second request where one reading of its length
  // would put it: a server must answer once (400) and close, never answer the hidden one.
  const std::string smuggled = "GET /v1/collections/t/count HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string post = "POST /v1/collections/t/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  const std::vector<std::string> cases = {
      post + "Content-Length: 2\r\nContent-Length: 300\r\n\r\n{}" + smuggled,
      post + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}" + smuggled,
      post + "Content-Length: +2\r\n\r\n{}" + smuggled,
      post + "Content-Length: 2, 2\r\n\r\n{}" + smuggled,
      post + "Content-Length: -2\r\n\r\n{}" + smuggled,
      post + "Content-Length: 0x2\r\n\r\n{}" + smuggled,
      post + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" + smuggled,
      post + "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}" + smuggled,
      post + "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" + smuggled,
      post + "Transfer-Encoding: chunked, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" + smuggled,
      post + "Transfer-Encoding: identity\r\n\r\n{}" + smuggled,
      post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" + smuggled,
      "POST /v1/collections/t/query HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" + smuggled,
      // A GET with a body: httplib never reads a GET's body, so it would parse the body as
      // the next request.
      "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled,
      "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
  };
  for (const std::string& c : cases) {
    bool closed = false;
    const auto got = Exchange(port_, c, &closed);
    const std::string what = c.substr(c.find("\r\n") + 2, 90);
    ASSERT_EQ(got.size(), 1u) << what << ": the smuggled request was answered";
    EXPECT_EQ(got[0].status, 400) << what << "\n" << got[0].body;
    ExpectJsonError(got[0], what);
    EXPECT_TRUE(closed) << what;
  }
  // Lengths that are fine: optional whitespace around one value, a chunked body, then the
  // next request on the same connection is served.
  const std::string body = R"({"vector":[1,0],"k":1})";
  bool closed = false;
  const auto ok = Exchange(
      port_,
      post + "Content-Length:  " + std::to_string(body.size()) + " \r\n\r\n" + body + post +
          "Transfer-Encoding: Chunked\r\n\r\n" + "5\r\n" + body.substr(0, 5) + "\r\n" + "11\r\n" + body.substr(5) +
          "\r\n0\r\n\r\n" + smuggled,
      &closed);
  ASSERT_EQ(ok.size(), 3u);
  EXPECT_EQ(ok[0].status, 200) << ok[0].body;
  EXPECT_EQ(ok[1].status, 200) << ok[1].body;
  EXPECT_EQ(ok[2].status, 200) << ok[2].body;
  // Expect: 100-continue on a new connection: the interim answer comes before the body (the
  // server does not wait for a body the client holds back).
  Raw raw(port_);
  raw.SetReadTimeout(2);
  raw.Send(post + "Expect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  char buf[256];
  const ssize_t n = ::recv(raw.fd(), buf, sizeof(buf), 0);
  ASSERT_GT(n, 12);
  EXPECT_EQ(std::string(buf, 12), "HTTP/1.1 100");
  raw.Send(body);
  raw.SetReadTimeout(10);
  const ssize_t m = ::recv(raw.fd(), buf, sizeof(buf), 0);
  ASSERT_GT(m, 12);
  EXPECT_EQ(std::string(buf, 12), "HTTP/1.1 200");
}

// ---------------------------------------------------------------------------------------
// Item 7: control characters in headers; the whole credential is compared.

TEST_F(HttpHostileFraming, ControlCharactersInHeadersAreRejectedAndTheWholeKeyIsCompared) {
  ServerOptions o = Options();
  o.admin_key_file = dir_ + "/admin.key";
  Start(o);
  ASSERT_FALSE(admin_.empty());
  auto get_tenants = [&](const std::string& auth_value) {
    return "GET /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth_value + "\r\n\r\n";
  };
  bool closed = false;
  // The key itself works.
  auto got = Exchange(port_, get_tenants("Bearer " + admin_), &closed);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].status, 200);

  // A NUL (or any control character) in a header is a 400, and the connection closes.
  const std::vector<std::string> bad = {
      get_tenants("Bearer " + admin_ + std::string("\0garbage", 8)),
      get_tenants("Bearer " + admin_ + std::string("\0", 1)),
      get_tenants("Bearer " + admin_ + "\x01"),
      get_tenants("Bearer " + admin_ + "\x7f"),
      get_tenants("Bearer " + admin_ + "\rX"),
      get_tenants("Bearer " + admin_ + "\nX-Other: y"),
      "GET /v1/tenants HTTP/1.1\r\nHost: x\r\nX-N\x01: y\r\nAuthorization: Bearer " + admin_ + "\r\n\r\n",
      "GET /v1/tenants HTTP/1.1\r\nHost: x\r\nX-Del\x7f: y\r\nAuthorization: Bearer " + admin_ + "\r\n\r\n",
      "GET /v1/ten\x01ants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin_ + "\r\n\r\n",
  };
  for (const std::string& req : bad) {
    got = Exchange(port_, req + kHealthz, &closed);
    ASSERT_EQ(got.size(), 1u) << json(req).dump();
    EXPECT_EQ(got[0].status, 400) << json(req).dump() << "\n" << got[0].body;
    ExpectJsonError(got[0], json(req).dump());
    EXPECT_TRUE(closed);
  }
  // A tab inside a value is allowed (it is not the credential, so this is a 401).
  got = Exchange(port_, get_tenants("Bearer\t" + admin_ + "x"), &closed);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 401);
  // Percent signs are not decoded: the key as sent is the key compared ("%00" would otherwise
  // become a NUL that cuts the credential short, "%73" an 's').
  for (const std::string& v : {"Bearer " + admin_ + "%00garbage", "Bearer %" +
                                   [&] {
                                     char hex[3];
                                     std::snprintf(hex, sizeof(hex), "%02x", admin_[0]);
                                     return std::string(hex);
                                   }() + admin_.substr(1),
                               "Bearer " + admin_ + "%20x"}) {
    got = Exchange(port_, get_tenants(v), &closed);
    ASSERT_EQ(got.size(), 1u) << v;
    EXPECT_EQ(got[0].status, 401) << v << "\n" << got[0].body;
  }
  // Two Authorization headers: ambiguous, refused.
  got = Exchange(port_, "GET /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nAuthorization: Bearer " +
                            admin_ + "\r\n\r\n",
                 &closed);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 400);
}

// ---------------------------------------------------------------------------------------
// Item 6: slow clients.

using HttpHostileSlowClients = HttpHostile;

TEST_F(HttpHostileSlowClients, ReadingARequestIsBoundedByItsDeadline) {
  ServerOptions o = Options();
  o.header_timeout_ms = 1000;
  o.read_timeout_s = 2;
  Start(o);
  // Headers trickled one byte per 100 ms (3.5 s in all): cut off at the header deadline.
  {
    Raw raw(port_);
    ASSERT_TRUE(raw.connected());
    std::atomic<bool> stop{false};
    const auto start = Clock::now();
    std::thread trickle([&] {
      for (char c : kHealthz) {
        if (stop || !raw.Send(std::string(1, c))) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    bool closed = false;
    const auto got = ParseResponses(raw.ReadToEnd(&closed));
    const double seconds = Since(start);
    stop = true;
    trickle.join();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].status, 408) << got[0].body;
    ExpectJsonError(got[0], "trickled headers");
    EXPECT_TRUE(closed);
    EXPECT_GT(seconds, 0.8);
    EXPECT_LT(seconds, 2.5) << "the header deadline did not hold";
  }
  // A body trickled one byte per 100 ms: cut off at the request deadline (2 s), for a small
  // body (read before a thread takes the request) and a large one (read by the handler).
  for (size_t prefix : {size_t{0}, size_t{100000}}) {
    Raw raw(port_);
    ASSERT_TRUE(raw.connected());
    const size_t length = prefix + 40;
    std::atomic<bool> stop{false};
    const auto start = Clock::now();
    std::thread trickle([&] {
      if (!raw.Send("POST /v1/collections/t/points HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(length) +
                    "\r\n\r\n" + std::string(prefix, ' '))) {
        return;
      }
      for (size_t i = 0; i < 40 && !stop; ++i) {
        if (!raw.Send(" ")) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    bool closed = false;
    const auto got = ParseResponses(raw.ReadToEnd(&closed));
    const double seconds = Since(start);
    stop = true;
    trickle.join();
    ASSERT_EQ(got.size(), 1u) << prefix;
    EXPECT_EQ(got[0].status, 408) << prefix << ": " << got[0].body;
    ExpectJsonError(got[0], "trickled body");
    EXPECT_TRUE(closed);
    EXPECT_LT(seconds, 3.5) << prefix << ": the request deadline did not hold";
  }
  EXPECT_TRUE(Healthy());
}

// Latency of `n` requests, each on a new connection from `source`, `gap_ms` apart, in
// milliseconds (sorted).
std::vector<double> Latencies(int port, int n, const char* source, const std::string& path, int gap_ms = 0) {
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    if (gap_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
    const auto start = Clock::now();
    Raw raw(port, source);
    if (!raw.connected()) break;
    raw.SetReadTimeout(5);
    raw.Send("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    bool closed = false;
    const auto got = ParseResponses(raw.ReadToEnd(&closed));
    if (got.size() != 1 || got[0].status != 200) break;  // (a stalled request: 5 s timeout)
    ms.push_back(Since(start) * 1000);
  }
  std::sort(ms.begin(), ms.end());
  return ms;
}

TEST_F(HttpHostileSlowClients, TwoHundredSlowConnectionsDoNotDelayOtherClients) {
  ServerOptions o = Options();  // 16 connection threads
  Start(o);
  ASSERT_EQ(httplib::Client("127.0.0.1", port_).Put("/v1/collections/t", R"({"dimension":2})", "application/json")->status,
            201);
  const std::string path = "/v1/collections/t/count";
  Latencies(port_, 10, "127.0.0.2", path);  // warm up
  // Spread over 1.5 s, so that the loaded run below spans the slow clients' sends.
  const std::vector<double> base = Latencies(port_, 60, "127.0.0.2", path, 25);
  ASSERT_EQ(base.size(), 60u);

  // 200 connections from four addresses, each sending its headers one byte a second.
  std::vector<std::unique_ptr<Raw>> slow;
  for (int i = 0; i < 200; ++i) {
    const std::string source = "127.0.0." + std::to_string(10 + i % 4);
    slow.push_back(std::make_unique<Raw>(port_, source.c_str()));
    ASSERT_TRUE(slow.back()->connected()) << i;
  }
  const std::string prefix = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (size_t pos = 0; !stop; ++pos) {
      const auto round = Clock::now();
      for (auto& c : slow) c->Send(std::string(1, pos < prefix.size() ? prefix[pos] : 'a'));
      while (!stop && Since(round) < 1.0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // every slow connection has started a request
  const std::vector<double> loaded = Latencies(port_, 60, "127.0.0.2", path, 25);
  // And a keep-alive client on its own connection.
  httplib::Client keep("127.0.0.1", port_);
  keep.set_keep_alive(true);
  keep.set_read_timeout(5, 0);
  std::vector<double> keep_ms;
  for (int i = 0; i < 60; ++i) {
    const auto start = Clock::now();
    auto r = keep.Get(path);
    if (!r || r->status != 200) break;
    keep_ms.push_back(Since(start) * 1000);
  }
  std::sort(keep_ms.begin(), keep_ms.end());
  // None of the slow connections got an answer: their requests never completed.
  size_t answered = 0;
  for (auto& c : slow) {
    char b;
    if (::recv(c->fd(), &b, 1, MSG_DONTWAIT | MSG_PEEK) > 0) ++answered;
  }
  stop = true;
  trickle.join();

  ASSERT_EQ(loaded.size(), 60u) << "a request stalled behind the slow connections";
  ASSERT_EQ(keep_ms.size(), 60u) << "a keep-alive request stalled behind the slow connections";
  const double base_p50 = base[30], base_p90 = base[54];
  const double p50 = loaded[30], p90 = loaded[54], worst = loaded.back();
  std::printf("[ latency ] new connection, ms: without slow clients p50 %.2f p90 %.2f max %.2f; "
              "with 200 slow connections p50 %.2f p90 %.2f max %.2f; keep-alive p50 %.2f max %.2f\n",
              base_p50, base_p90, base.back(), p50, p90, worst, keep_ms[30], keep_ms.back());
  EXPECT_EQ(answered, 0u);
  // Generous bounds (2 cores, other builds running): the slow connections may cost a little,
  // never a timeout's worth.
  EXPECT_LT(p50, 4 * base_p50 + 5.0);
  EXPECT_LT(p90, 4 * base_p90 + 20.0);
  EXPECT_LT(worst, 1000.0);
  EXPECT_LT(keep_ms[30], 4 * base_p50 + 5.0);
}

TEST_F(HttpHostileSlowClients, ConnectionsPerClientAddressAreCapped) {
  ServerOptions o = Options();
  o.max_connections_per_client = 4;
  Start(o);
  std::vector<std::unique_ptr<Raw>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<Raw>(port_, "127.0.0.20"));
    ASSERT_TRUE(held.back()->connected());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  {
    // The fifth from that address gets a 429 and is closed; another address is served.
    Raw fifth(port_, "127.0.0.20");
    ASSERT_TRUE(fifth.connected());
    fifth.Send(kHealthz);
    bool closed = false;
    const auto got = ParseResponses(fifth.ReadToEnd(&closed));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].status, 429);
    ExpectJsonError(got[0], "fifth connection");
    EXPECT_TRUE(closed);
    Raw other(port_, "127.0.0.21");
    other.Send(kHealthzClose);
    const auto ok = ParseResponses(other.ReadToEnd(&closed));
    ASSERT_GE(ok.size(), 1u);
    EXPECT_EQ(ok[0].status, 200);
  }
  // A held connection is served normally; once one closes, the address may connect again.
  held[0]->Send(kHealthzClose);
  bool closed = false;
  auto got = ParseResponses(held[0]->ReadToEnd(&closed));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 200);
  held[1]->Close();
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    Raw again(port_, "127.0.0.20");
    again.Send(kHealthzClose);
    got = ParseResponses(again.ReadToEnd(&closed));
    status = got.empty() ? 0 : got[0].status;
  }
  EXPECT_EQ(status, 200);
}

TEST_F(HttpHostileSlowClients, SlowBodiesLeaveAThreadForOtherClients) {
  ServerOptions o = Options();
  o.threads = 4;
  Start(o);
  // Eight clients send a large request's headers and its first 100 KB at once, then the rest
  // one byte every half second: such a request needs a thread to read its body.
  std::vector<std::unique_ptr<Raw>> slow;
  for (int i = 0; i < 8; ++i) {
    const std::string source = "127.0.0." + std::to_string(30 + i);
    slow.push_back(std::make_unique<Raw>(port_, source.c_str()));
    ASSERT_TRUE(slow.back()->connected());
    slow.back()->Send("POST /v1/collections/t/points HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
                      std::string(100000, ' '));
  }
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      for (auto& c : slow) c->Send(" ");
      for (int i = 0; i < 50 && !stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::vector<double> ms = Latencies(port_, 20, "127.0.0.2", "/healthz");
  stop = true;
  trickle.join();
  ASSERT_EQ(ms.size(), 20u) << "every thread was taken by slow bodies";
  std::printf("[ latency ] with 8 slow bodies on 4 threads: p50 %.2f ms, max %.2f ms\n", ms[10], ms.back());
  EXPECT_LT(ms.back(), 1000.0);
}

// ---------------------------------------------------------------------------------------
// Item 9: a second server on the same port.

using HttpHostilePort = HttpHostile;

TEST_F(HttpHostilePort, ASecondServerOnAPortInUseFailsAndTheFirstKeepsServing) {
  ServerOptions o = Options();
  o.admin_key_file = dir_ + "/admin.key";
  Start(o);
  httplib::Client first("127.0.0.1", port_);
  const httplib::Headers auth = {{"Authorization", "Bearer " + admin_}};
  ASSERT_EQ(first.Put("/v1/collections/only_first", auth, R"({"dimension":2})", "application/json")->status, 201);

  // In process: Create fails, naming the port.
  ServerOptions second = Options();
  second.data_dir = dir_ + "/data2";
  second.admin_key_file = dir_ + "/admin2.key";
  second.port = port_;
  auto s = Server::Create(second);
  ASSERT_FALSE(s.ok()) << "a second server bound port " << port_;
  EXPECT_NE(s.status().message().find(std::to_string(port_)), std::string::npos) << s.status().ToString();

  // The real program: exits non-zero at once with a message that names the port.
  const std::string err = dir_ + "/serve2.err";
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    const std::string port = std::to_string(port_), data = dir_ + "/data3", key = dir_ + "/admin3.key";
    ::execl(SEXTANT_CLI, SEXTANT_CLI, "serve", "--data", data.c_str(), "--port", port.c_str(), "--admin-key-file",
            key.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int code = -1;
  for (int i = 0; i < 1000; ++i) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (code == -1) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  const std::string message = Slurp(err);
  EXPECT_NE(code, -1) << "the second `sextant serve` on port " << port_ << " kept running:\n" << message;
  EXPECT_NE(code, 0) << message;
  EXPECT_NE(message.find(std::to_string(port_)), std::string::npos) << message;
  EXPECT_NE(message.find("in use"), std::string::npos) << message;

  // Every connection still reaches the first server.
  for (int i = 0; i < 20; ++i) {
    httplib::Client c("127.0.0.1", port_);
    auto r = c.Get("/v1/collections/only_first", auth);
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200) << i << ": " << r->body;
  }
}

}  // namespace
