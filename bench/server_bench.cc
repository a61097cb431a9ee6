// Benchmarks of `sextant serve` over loopback (docs/benchmarks.md, "Server"):
//
//   sextant_server_bench latency [--n 50000] [--dim 128] [--queries 2000] [--k 10] [--log]
//       one k-NN query at a time: the embedded API, then the same queries over HTTP with a
//       keep-alive connection (server in this process, client parses each reply); p50/p99/mean
//       and the HTTP/embedded ratio.
//   sextant_server_bench bulk [--n 100000] [--dim 128] [--batch 1000]
//       bulk upsert throughput: embedded Upsert of the batches, then HTTP POST .../points.
//   sextant_server_bench load [--seconds 20] [--clients 8] [--dim 128] [--n 20000]
//                             [--write-fraction 0.2] [--batch 100] [--url-port P --key K]
//       concurrent clients mixing upserts and queries for a bounded time; QPS, p50/p99 per
//       kind, errors, and a check that every acknowledged point is there afterwards.
//       Starts its own server unless --url-port is given (then a running server is used).
//
// Every run prints JSON lines; a data directory under /tmp is made and removed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "dataset/vector_file.h"
#include "sextant/database.h"
#include "server/server.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using sextant::server::Server;
using sextant::server::ServerOptions;

std::map<std::string, std::string> ParseFlags(int argc, char** argv, int first) {
  std::map<std::string, std::string> flags;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      std::fprintf(stderr, "unexpected argument %s\n", a.c_str());
      std::exit(2);
    }
    a = a.substr(2);
    if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) flags[a] = argv[++i];
    else flags[a] = "1";
  }
  return flags;
}

size_t Flag(const std::map<std::string, std::string>& f, const std::string& name, size_t def) {
  auto it = f.find(name);
  return it == f.end() ? def : std::stoull(it->second);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

std::string VectorJson(const float* v, size_t dim) {
  std::string s = "[";
  char buf[32];
  for (size_t i = 0; i < dim; ++i) {
    std::snprintf(buf, sizeof(buf), i ? ",%.9g" : "%.9g", v[i]);  // 9 digits: exact float round trip
    s += buf;
  }
  return s + "]";
}

std::string PointsJson(const sextant::dataset::FloatMatrix& m, size_t begin, size_t end, const std::string& prefix) {
  std::string s = "{\"points\":[";
  for (size_t i = begin; i < end; ++i) {
    if (i > begin) s += ",";
    s += "{\"id\":\"" + prefix + std::to_string(i) + "\",\"vector\":" + VectorJson(m.row(i), m.dim) +
         ",\"metadata\":{\"n\":" + std::to_string(i % 100) + "}}";
  }
  return s + "]}";
}

std::vector<sextant::Point> Points(const sextant::dataset::FloatMatrix& m, size_t begin, size_t end,
                                   const std::string& prefix) {
  std::vector<sextant::Point> out;
  for (size_t i = begin; i < end; ++i) {
    out.push_back({prefix + std::to_string(i), std::vector<float>(m.row(i), m.row(i) + m.dim), std::nullopt,
                   json{{"n", static_cast<int>(i % 100)}}});
  }
  return out;
}

struct RunningServer {
  std::unique_ptr<Server> server;
  std::thread thread;
  int port = 0;
  ~RunningServer() {
    if (!server) return;
    server->Shutdown();
    thread.join();
  }
};

int g_busy_poll_us = -1;  // --busy-poll-us; -1: the server's default

std::unique_ptr<RunningServer> StartServer(const std::string& data, bool log) {
  ServerOptions o;
  if (g_busy_poll_us >= 0) o.busy_poll_us = g_busy_poll_us;
  o.data_dir = data;
  o.port = 0;
  o.log_level = log ? sextant::server::LogLevel::kInfo : sextant::server::LogLevel::kOff;
  auto s = Server::Create(o);
  if (!s.ok()) {
    std::fprintf(stderr, "server: %s\n", s.status().ToString().c_str());
    std::exit(1);
  }
  auto rs = std::make_unique<RunningServer>();
  rs->server = std::move(s).value();
  rs->port = rs->server->port();
  rs->thread = std::thread([p = rs.get()] { (void)p->server->Run(); });
  httplib::Client c("127.0.0.1", rs->port);
  for (int i = 0; i < 500; ++i) {
    if (auto r = c.Get("/readyz"); r && r->status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return rs;
}

std::unique_ptr<httplib::Client> KeepAliveClient(int port) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  c->set_read_timeout(60, 0);
  c->set_write_timeout(60, 0);
  return c;
}

// A minimal keep-alive HTTP/1.1 client: one send per request, Content-Length replies only.
class LeanClient {
 public:
  explicit LeanClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) std::perror("connect");
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~LeanClient() { ::close(fd_); }
  // (status, body); status 0 when the connection failed.
  std::pair<int, std::string> Post(const std::string& path, const std::string& body) {
    req_ = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n";
    req_ += body;
    for (size_t off = 0; off < req_.size();) {
      const ssize_t n = ::send(fd_, req_.data() + off, req_.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return {0, ""};
      off += static_cast<size_t>(n);
    }
    for (;;) {
      const size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        const size_t cl = buf_.find("Content-Length: ");
        const size_t length = cl < end ? std::stoul(buf_.substr(cl + 16)) : 0;
        if (buf_.size() >= end + 4 + length) {
          const int status = std::atoi(buf_.c_str() + 9);
          std::string out = buf_.substr(end + 4, length);
          buf_.erase(0, end + 4 + length);
          return {status, out};
        }
      }
      char chunk[65536];
      const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return {0, ""};
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string req_, buf_;
};

std::string DefaultDbDir(const std::string& data) { return data + "/tenants/default/databases/default"; }

// ---------------------------------------------------------------------------------------

int Latency(const std::map<std::string, std::string>& f) {
  const size_t n = Flag(f, "n", 50000), dim = Flag(f, "dim", 128), queries = Flag(f, "queries", 2000),
               k = Flag(f, "k", 10);
  const std::string data = "/tmp/sextant_server_bench_" + std::to_string(::getpid());
  const std::string twin = data + "_embedded";
  fs::remove_all(data);
  fs::remove_all(twin);
  auto base = sextant::dataset::GenerateClustered(n, dim, 64, 0.3f, 1);
  auto qs = sextant::dataset::GenerateClustered(queries, dim, 64, 0.3f, 2);
  std::vector<std::vector<float>> qv(queries);
  for (size_t i = 0; i < queries; ++i) qv[i].assign(qs.row(i), qs.row(i) + dim);
  {
    auto db = sextant::Database::Open(DefaultDbDir(data));
    sextant::CollectionConfig c;
    c.name = "bench";
    c.dimension = dim;
    auto col = (*db)->CreateCollection(c);
    const auto t0 = Clock::now();
    for (size_t b = 0; b < n; b += 5000) {
      auto acked = (*col)->Upsert(Points(base, b, std::min(n, b + 5000), "p"));
      if (!acked.ok()) {
        std::fprintf(stderr, "upsert: %s\n", acked.status().ToString().c_str());
        return 1;
      }
    }
    (void)(*col)->Optimize();
    std::printf("{\"event\":\"load\",\"n\":%zu,\"dim\":%zu,\"seconds\":%.1f}\n", n, dim,
                std::chrono::duration<double>(Clock::now() - t0).count());
    std::fflush(stdout);
  }
  // The embedded side opens a copy of the directory (one process may not open it twice), so
  // both sides run at once and each query is timed embedded, then over HTTP with each client,
  // back to back: drifts of this shared VM hit all three alike.
  fs::copy(data, twin, fs::copy_options::recursive);
  auto db = sextant::Database::Open(DefaultDbDir(twin));
  auto col = (*db)->GetCollection("bench");
  const auto stats = (*col)->Stats();
  std::printf("{\"event\":\"reopened\",\"points\":%zu,\"segments\":%zu,\"unindexed_points\":%zu}\n",
              stats.points, stats.segments, stats.unindexed_points);
  auto server = StartServer(data, f.count("log") > 0);
  auto client = KeepAliveClient(server->port);
  // The lean client sends each request in one send (as curl, Go's net/http or Python's
  // http.client send a small request); httplib's client sends headers and body apart and
  // polls the socket around each send.
  LeanClient lean(server->port);
  std::vector<std::string> bodies(queries);
  for (size_t i = 0; i < queries; ++i) {
    bodies[i] = "{\"vector\":" + VectorJson(qv[i].data(), dim) + ",\"k\":" + std::to_string(k) + ",\"include\":[]}";
  }
  const std::string path = "/v1/collections/bench/query";
  sextant::QueryRequest q;
  q.k = k;
  auto ids_of = [](const std::string& body) {
    std::vector<std::string> ids;
    const json j = json::parse(body);
    for (const auto& h : j["results"]) ids.push_back(h["id"]);
    return ids;
  };
  std::vector<double> emb_us, http_us, lean_us;
  size_t mismatches = 0, errors = 0;
  const size_t warmup = std::min<size_t>(200, queries);
  // Blocks of 100 queries, each sent three ways one block after the other (embedded, httplib
  // client, lean client): within a block each path runs as it would alone (a spinning server
  // thread stays with its connection); across blocks, drifts of the VM hit all three alike.
  std::vector<std::vector<std::string>> want(queries);
  constexpr size_t kBlock = 100;
  for (size_t round = 0; round < 2; ++round) {
    const bool timed = round == 1;
    const size_t total = timed ? queries : warmup;
    for (size_t from = 0; from < total; from += kBlock) {
      const size_t to = std::min(total, from + kBlock);
      for (size_t i = from; i < to; ++i) {
        q.vector = qv[i];
        const auto t = Clock::now();
        auto hits = (*col)->Query(q);
        const double e = std::chrono::duration<double, std::micro>(Clock::now() - t).count();
        want[i].clear();
        for (const auto& h : *hits) want[i].push_back(h.id);
        if (timed) emb_us.push_back(e);
      }
      for (size_t i = from; i < to; ++i) {
        const auto t = Clock::now();
        auto r = client->Post(path, bodies[i], "application/json");
        std::vector<std::string> got;
        if (r && r->status == 200) got = ids_of(r->body);
        const double h = std::chrono::duration<double, std::micro>(Clock::now() - t).count();
        if (!timed) continue;
        errors += !(r && r->status == 200);
        mismatches += got != want[i];
        http_us.push_back(h);
      }
      for (size_t i = from; i < to; ++i) {
        const auto t = Clock::now();
        auto [status, body] = lean.Post(path, bodies[i]);
        std::vector<std::string> got;
        if (status == 200) got = ids_of(body);
        const double l = std::chrono::duration<double, std::micro>(Clock::now() - t).count();
        if (!timed) continue;
        errors += status != 200;
        mismatches += got != want[i];
        lean_us.push_back(l);
      }
    }
  }
  std::printf("{\"event\":\"latency\",\"api\":\"embedded\",\"queries\":%zu,\"k\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f}\n",
              queries, k, Percentile(emb_us, 0.5), Percentile(emb_us, 0.99), Mean(emb_us));
  for (const auto& [name, v] : {std::pair<const char*, const std::vector<double>&>{"httplib", http_us}, {"lean", lean_us}}) {
    std::printf("{\"event\":\"latency\",\"api\":\"http\",\"client\":\"%s\",\"queries\":%zu,\"k\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f,\"ratio_p50\":%.2f,\"ratio_mean\":%.2f,\"log\":%s}\n",
                name, queries, k, Percentile(v, 0.5), Percentile(v, 0.99), Mean(v),
                Percentile(v, 0.5) / Percentile(emb_us, 0.5), Mean(v) / Mean(emb_us), f.count("log") ? "true" : "false");
  }
  std::printf("{\"event\":\"check\",\"errors\":%zu,\"different_results\":%zu}\n", errors, mismatches);
  std::fflush(stdout);
  // Server-side time per query (handler, from /metrics) and a bare round trip (/healthz),
  // to split the HTTP overhead into transport and request handling.
  double handler_us = 0;
  if (auto m = client->Get("/metrics")) {
    double sum = 0, count = 0;
    std::istringstream lines(m->body);
    const std::string key = "{method=\"POST\",route=\"/v1/collections/{collection}/query\"}";
    for (std::string l; std::getline(lines, l);) {
      if (l.rfind("sextant_http_request_duration_seconds_sum" + key, 0) == 0) sum = std::stod(l.substr(l.rfind(' ')));
      if (l.rfind("sextant_http_request_duration_seconds_count" + key, 0) == 0) count = std::stod(l.substr(l.rfind(' ')));
    }
    handler_us = count > 0 ? sum / count * 1e6 : 0;
  }
  std::vector<double> rtt;
  for (size_t i = 0; i < queries; ++i) {
    const auto t = Clock::now();
    auto r = client->Get("/healthz");
    if (r) rtt.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  std::printf("{\"event\":\"breakdown\",\"server_handler_mean_us\":%.1f,\"healthz_roundtrip_p50_us\":%.1f}\n",
              handler_us, Percentile(rtt, 0.5));
  client.reset();
  server.reset();
  col = sextant::Status::Internal("closed");
  db = sextant::Status::Internal("closed");
  fs::remove_all(data);
  fs::remove_all(twin);
  return 0;
}

int Bulk(const std::map<std::string, std::string>& f) {
  const size_t n = Flag(f, "n", 100000), dim = Flag(f, "dim", 128), batch = Flag(f, "batch", 1000);
  const std::string data = "/tmp/sextant_server_bench_" + std::to_string(::getpid());
  fs::remove_all(data);
  auto base = sextant::dataset::GenerateClustered(n, dim, 64, 0.3f, 3);
  double embedded_s = 0;
  {
    auto db = sextant::Database::Open(data + "/embedded");
    sextant::CollectionConfig c;
    c.name = "bulk";
    c.dimension = dim;
    auto col = (*db)->CreateCollection(c);
    std::vector<std::vector<sextant::Point>> batches;
    for (size_t b = 0; b < n; b += batch) batches.push_back(Points(base, b, std::min(n, b + batch), "p"));
    const auto t0 = Clock::now();
    for (const auto& pts : batches) {
      if (!(*col)->Upsert(pts).ok()) return 1;
    }
    embedded_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("{\"event\":\"bulk\",\"api\":\"embedded\",\"n\":%zu,\"dim\":%zu,\"batch\":%zu,\"seconds\":%.2f,\"points_per_s\":%.0f}\n",
                n, dim, batch, embedded_s, n / embedded_s);
    std::fflush(stdout);
  }
  auto server = StartServer(data + "/server", false);
  auto client = KeepAliveClient(server->port);
  (void)client->Put("/v1/collections/bulk", "{\"dimension\":" + std::to_string(dim) + "}", "application/json");
  std::vector<std::string> bodies;
  for (size_t b = 0; b < n; b += batch) bodies.push_back(PointsJson(base, b, std::min(n, b + batch), "p"));
  size_t bytes = 0;
  for (const auto& s : bodies) bytes += s.size();
  const auto t0 = Clock::now();
  size_t errors = 0;
  for (const auto& body : bodies) {
    auto r = client->Post("/v1/collections/bulk/points", body, "application/json");
    if (!r || r->status != 200) ++errors;
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  auto count = client->Get("/v1/collections/bulk/count");
  std::printf("{\"event\":\"bulk\",\"api\":\"http\",\"n\":%zu,\"dim\":%zu,\"batch\":%zu,\"seconds\":%.2f,\"points_per_s\":%.0f,\"mb_per_s\":%.1f,\"errors\":%zu,\"count\":%s}\n",
              n, dim, batch, s, n / s, bytes / s / 1e6, errors, count ? json::parse(count->body)["count"].dump().c_str() : "null");
  client.reset();
  server.reset();
  fs::remove_all(data);
  return errors == 0 ? 0 : 1;
}

int Load(const std::map<std::string, std::string>& f) {
  const size_t seconds = Flag(f, "seconds", 20), clients = Flag(f, "clients", 8), dim = Flag(f, "dim", 128),
               n = Flag(f, "n", 20000), batch = Flag(f, "batch", 100);
  const double write_fraction = f.count("write-fraction") ? std::stod(f.at("write-fraction")) : 0.2;
  const std::string data = "/tmp/sextant_server_bench_" + std::to_string(::getpid());
  std::unique_ptr<RunningServer> server;
  int port = static_cast<int>(Flag(f, "url-port", 0));
  const std::string key = f.count("key") ? f.at("key") : "";
  httplib::Headers auth;
  if (!key.empty()) auth.emplace("Authorization", "Bearer " + key);
  if (port == 0) {
    fs::remove_all(data);
    server = StartServer(data, false);
    port = server->port;
  }
  const std::string col = "/v1/collections/load" + std::to_string(::getpid());
  auto setup = KeepAliveClient(port);
  auto created = setup->Put(col.c_str(), auth, "{\"dimension\":" + std::to_string(dim) + "}", "application/json");
  if (!created || created->status >= 300) {
    std::fprintf(stderr, "cannot create the collection: %s\n", created ? created->body.c_str() : "no response");
    return 1;
  }
  auto base = sextant::dataset::GenerateClustered(n, dim, 64, 0.3f, 4);
  for (size_t b = 0; b < n; b += 1000) {
    auto r = setup->Post((col + "/points").c_str(), auth, PointsJson(base, b, std::min(n, b + 1000), "seed-"),
                         "application/json");
    if (!r || r->status != 200) return 1;
  }
  auto extra = sextant::dataset::GenerateClustered(4096, dim, 64, 0.3f, 5);

  struct PerClient {
    std::vector<double> query_us, upsert_us;
    size_t errors = 0;
    std::vector<std::string> acked_ids;
  };
  std::vector<PerClient> results(clients);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (size_t c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      PerClient& me = results[c];
      auto cli = KeepAliveClient(port);
      std::mt19937_64 rng(c + 1);
      std::uniform_real_distribution<double> coin(0, 1);
      for (size_t op = 0; !stop; ++op) {
        const auto t = Clock::now();
        if (coin(rng) < write_fraction) {
          std::string body = "{\"points\":[";
          std::vector<std::string> ids;
          for (size_t i = 0; i < batch; ++i) {
            ids.push_back("c" + std::to_string(c) + "-" + std::to_string(op) + "-" + std::to_string(i));
            const size_t row = rng() % extra.rows;
            body += (i ? ",{\"id\":\"" : "{\"id\":\"") + ids.back() + "\",\"vector\":" + VectorJson(extra.row(row), dim) + "}";
          }
          body += "]}";
          auto r = cli->Post((col + "/points").c_str(), auth, body, "application/json");
          if (r && r->status == 200) {
            me.upsert_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
            me.acked_ids.insert(me.acked_ids.end(), ids.begin(), ids.end());
          } else {
            ++me.errors;
          }
        } else {
          const size_t row = rng() % extra.rows;
          auto r = cli->Post((col + "/query").c_str(), auth,
                             "{\"vector\":" + VectorJson(extra.row(row), dim) + ",\"k\":10,\"include\":[]}",
                             "application/json");
          if (r && r->status == 200 && json::parse(r->body)["results"].size() == 10) {
            me.query_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
          } else {
            ++me.errors;
          }
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> q, u;
  size_t errors = 0;
  std::vector<std::string> acked;
  for (auto& r : results) {
    q.insert(q.end(), r.query_us.begin(), r.query_us.end());
    u.insert(u.end(), r.upsert_us.begin(), r.upsert_us.end());
    errors += r.errors;
    acked.insert(acked.end(), r.acked_ids.begin(), r.acked_ids.end());
  }
  // Every acknowledged point must be there: fetch each back by id, and the count must be
  // exactly the seed points plus the acknowledged ones (ids are never reused).
  size_t lost = 0;
  for (const std::string& id : acked) {
    auto g = setup->Get((col + "/points/" + id + "?vector=false").c_str(), auth);
    if (!g || g->status != 200) ++lost;
  }
  auto count = setup->Get((col + "/count").c_str(), auth);
  const size_t total = count && count->status == 200 ? json::parse(count->body)["count"].get<size_t>() : 0;
  const size_t expected = n + acked.size();
  std::printf("{\"event\":\"load\",\"clients\":%zu,\"seconds\":%.1f,\"dim\":%zu,\"seed_points\":%zu,\"write_fraction\":%.2f,"
              "\"upsert_batch\":%zu,\"requests\":%zu,\"qps\":%.0f,\"queries\":%zu,\"query_p50_ms\":%.2f,\"query_p99_ms\":%.2f,"
              "\"upserts\":%zu,\"upsert_p50_ms\":%.2f,\"upsert_p99_ms\":%.2f,\"points_acked\":%zu,\"errors\":%zu,"
              "\"lost_acked_points\":%zu,\"count\":%zu,\"expected_count\":%zu}\n",
              clients, elapsed, dim, n, write_fraction, batch, q.size() + u.size(), (q.size() + u.size()) / elapsed,
              q.size(), Percentile(q, 0.5) / 1000, Percentile(q, 0.99) / 1000, u.size(), Percentile(u, 0.5) / 1000,
              Percentile(u, 0.99) / 1000, acked.size(), errors, lost, total, expected);
  (void)setup->Delete(col.c_str(), auth);
  setup.reset();
  server.reset();
  if (f.count("url-port") == 0) fs::remove_all(data);
  return errors == 0 && lost == 0 && total == expected ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const auto flags = ParseFlags(argc, argv, 2);
  if (flags.count("busy-poll-us")) g_busy_poll_us = static_cast<int>(Flag(flags, "busy-poll-us", 0));
  if (mode == "latency") return Latency(flags);
  if (mode == "bulk") return Bulk(flags);
  if (mode == "load") return Load(flags);
  std::fprintf(stderr, "usage: sextant_server_bench latency|bulk|load [flags] (see bench/server_bench.cc)\n");
  return 2;
}
