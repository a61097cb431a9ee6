// The cluster's costs on one machine (docs/cluster.md, "Capacity"): real nats-server and
// `sextant serve` processes on loopback, one client over a keep-alive connection.
//
//   sextant_cluster_bench SEXTANT_BINARY [--n 20000] [--dim 128] [--batch 1000] [--queries 2000]
//
// Writes: batches of --batch points (128-d, with a document and metadata) through
//   plain        `sextant serve` (each batch fsynced in the collection's log),
//   cluster-r1   a one-node cluster on one NATS server (stream replicas 1),
//   cluster-r3   a one-node cluster on three clustered NATS servers (stream replicas 3);
// points/s acknowledged, and for the clusters also until the replica has applied them.
// Queries (k = 10, HNSW, the collection after the load, one at a time): p50/p99/mean for plain,
// a single-shard one-node cluster, and three nodes with three shards (scatter-gather), all up
// at once and queried in turn (the same query to each), so that machine noise hits them alike.
// Prints JSON lines. Needs nats-server (/usr/sbin/nats-server).
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no server outlives a crashed parent
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

struct Setup {
  std::vector<pid_t> pids;
  std::vector<int> ports;  // Sextant nodes
  ~Setup() {
    for (pid_t p : pids) {
      ::kill(p, SIGTERM);
      ::waitpid(p, nullptr, 0);
    }
  }
};

bool WaitPort(int port) {
  for (int i = 0; i < 600; ++i) {
    httplib::Client c("127.0.0.1", port);
    if (auto r = c.Get("/healthz"); r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// nats: 0 (plain serve), 1 or 3 servers; nodes: Sextant nodes.
void Start(Setup& s, const std::string& bin, const fs::path& dir, int nats, int nodes) {
  std::string urls;
  if (nats > 0) {
    std::vector<int> cports, ports;
    for (int i = 0; i < nats; ++i) {
      ports.push_back(FreePort());
      cports.push_back(FreePort());
    }
    for (int i = 0; i < nats; ++i) {
      std::vector<std::string> a = {"/usr/sbin/nats-server", "-js", "-sd", (dir / ("nats" + std::to_string(i))).string(),
                                    "-p", std::to_string(ports[i]), "-a", "127.0.0.1"};
      if (nats > 1) {
        std::string routes;
        for (int j = 0; j < nats; ++j) {
          if (j != i) routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(cports[j]);
        }
        a.insert(a.end(), {"--cluster", "nats://127.0.0.1:" + std::to_string(cports[i]), "--routes", routes,
                           "--cluster_name", "bench", "--server_name", "n" + std::to_string(i)});
      }
      s.pids.push_back(Spawn(a, (dir / ("nats" + std::to_string(i) + ".log")).string()));
      urls += (urls.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(ports[i]);
    }
  }
  for (int i = 0; i < std::max(nodes, 1); ++i) {
    const int port = FreePort();
    std::vector<std::string> a = {bin, "serve", "--data", (dir / ("node" + std::to_string(i))).string(), "--port",
                                  std::to_string(port), "--log-level", "warn"};
    if (nats > 0) a.insert(a.end(), {"--cluster", urls, "--node-id", "b" + std::to_string(i)});
    s.pids.push_back(Spawn(a, (dir / ("node" + std::to_string(i) + ".log")).string()));
    s.ports.push_back(port);
  }
  for (int p : s.ports) {
    if (!WaitPort(p)) {
      std::fprintf(stderr, "a node did not start; see %s\n", dir.c_str());
      std::exit(1);
    }
  }
  if (nodes > 1) std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // heartbeats seen
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: sextant_cluster_bench SEXTANT_BINARY [--n N] [--dim D] [--batch B] [--queries Q]\n");
    return 2;
  }
  const std::string bin = argv[1];
  size_t n = 20000, dim = 128, batch = 1000, queries = 2000;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string f = argv[i];
    const size_t v = std::stoul(argv[i + 1]);
    if (f == "--n") n = v;
    if (f == "--dim") dim = v;
    if (f == "--batch") batch = v;
    if (f == "--queries") queries = v;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> g;
  std::vector<std::string> bodies;
  for (size_t start = 0; start < n; start += batch) {
    json points = json::array();
    for (size_t i = start; i < std::min(n, start + batch); ++i) {
      std::vector<float> v(dim);
      for (auto& x : v) x = g(rng);
      points.push_back({{"id", "p" + std::to_string(i)}, {"vector", v}, {"document", "document " + std::to_string(i)},
                        {"metadata", {{"i", i}}}});
    }
    bodies.push_back(json{{"points", points}}.dump());
  }
  std::vector<std::string> qbodies;
  for (size_t q = 0; q < queries; ++q) {
    std::vector<float> v(dim);
    for (auto& x : v) x = g(rng);
    qbodies.push_back(json{{"vector", v}, {"k", 10}, {"include", json::array()}}.dump());
  }

  struct Config {
    const char* name;
    int nats, nodes, shards;
    bool writes, reads;
  };
  const std::vector<Config> configs = {{"plain", 0, 1, 1, true, true},
                                       {"cluster-r1", 1, 1, 1, true, true},
                                       {"cluster-r3", 3, 1, 1, true, false},
                                       {"cluster-3nodes-3shards", 3, 3, 3, false, true}};
  // The configurations that answer queries stay up, and are queried in turn, query by query,
  // so that each sees the same machine (this one is shared and noisy).
  std::vector<std::unique_ptr<Setup>> kept;
  std::vector<std::pair<const char*, int>> readers;
  std::vector<fs::path> dirs;
  for (const Config& c : configs) {
    const fs::path dir = fs::temp_directory_path() / ("sextant_cluster_bench_" + std::to_string(::getpid()) + "_" + c.name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    dirs.push_back(dir);
    {
      auto setup = std::make_unique<Setup>();
      Setup& s = *setup;
      Start(s, bin, dir, c.nats, c.nodes);
      httplib::Client cli("127.0.0.1", s.ports[0]);
      cli.set_keep_alive(true);
      cli.set_read_timeout(120, 0);
      json create = {{"dimension", dim}};
      if (c.nats > 0) create["shards"] = c.shards;
      auto r = cli.Put("/v1/collections/b", create.dump(), "application/json");
      if (!r || r->status >= 300) {
        std::fprintf(stderr, "%s: create failed: %s\n", c.name, r ? r->body.c_str() : "no reply");
        return 1;
      }
      const auto t0 = Clock::now();
      for (const auto& body : bodies) {
        auto w = cli.Post("/v1/collections/b/points", body, "application/json");
        if (!w || w->status != 200) {
          std::fprintf(stderr, "%s: upsert failed: %s\n", c.name, w ? w->body.c_str() : "no reply");
          return 1;
        }
      }
      const double acked_s = std::chrono::duration<double>(Clock::now() - t0).count();
      // Until every point is readable (the replicas have applied the log).
      for (;;) {
        auto cnt = cli.Get(c.nats > 0 ? "/v1/collections/b/count?consistency=strong" : "/v1/collections/b/count");
        if (cnt && cnt->status == 200 && json::parse(cnt->body)["count"] == n) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      const double applied_s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (c.writes) {
        std::printf("{\"bench\":\"cluster_write\",\"config\":\"%s\",\"n\":%zu,\"dim\":%zu,\"batch\":%zu,"
                    "\"acked_points_per_s\":%.0f,\"applied_points_per_s\":%.0f}\n",
                    c.name, n, dim, batch, n / acked_s, n / applied_s);
      }
      if (c.reads) {
        readers.emplace_back(c.name, s.ports[0]);
        kept.push_back(std::move(setup));
      }
      std::fflush(stdout);
    }
  }
  // Let the background indexers finish, so that every configuration queries sealed HNSW segments.
  std::this_thread::sleep_for(std::chrono::seconds(5));
  std::vector<std::unique_ptr<httplib::Client>> clients;
  std::vector<std::vector<double>> ms(readers.size());
  for (const auto& [name, port] : readers) {
    clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", port));
    clients.back()->set_keep_alive(true);
    clients.back()->set_read_timeout(60, 0);
  }
  for (size_t w = 0; w < std::min<size_t>(200, qbodies.size()); ++w) {
    for (auto& c : clients) c->Post("/v1/collections/b/query", qbodies[w], "application/json");
  }
  for (const auto& q : qbodies) {
    for (size_t i = 0; i < clients.size(); ++i) {
      const auto q0 = Clock::now();
      auto res = clients[i]->Post("/v1/collections/b/query", q, "application/json");
      ms[i].push_back(std::chrono::duration<double, std::milli>(Clock::now() - q0).count());
      if (!res || res->status != 200) {
        std::fprintf(stderr, "%s: query failed: %s\n", readers[i].first, res ? res->body.c_str() : "no reply");
        return 1;
      }
    }
  }
  for (size_t i = 0; i < readers.size(); ++i) {
    double sum = 0;
    for (double x : ms[i]) sum += x;
    std::printf("{\"bench\":\"cluster_query\",\"config\":\"%s\",\"n\":%zu,\"dim\":%zu,\"k\":10,\"queries\":%zu,"
                "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"mean_ms\":%.3f,\"p50_vs_plain\":%.2f}\n",
                readers[i].first, n, dim, ms[i].size(), Percentile(ms[i], 0.5), Percentile(ms[i], 0.99),
                sum / ms[i].size(), Percentile(ms[i], 0.5) / Percentile(ms[0], 0.5));
  }
  kept.clear();
  for (const auto& d : dirs) fs::remove_all(d);
  return 0;
}
