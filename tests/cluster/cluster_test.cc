// The cluster (src/cluster, docs/cluster.md): its log records and shard maps as units, and
// end to end with real processes — three nats-server processes clustered with JetStream and
// three `sextant serve --cluster` nodes on loopback — under concurrent writers while nodes and
// NATS servers are SIGKILLed and restarted. Skips (with the reason) when nats-server is not
// installed (scripts/setup.sh installs it).
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nats/nats.h>
#include <nlohmann/json.hpp>

#include "cluster/cluster_node.h"
#include "cluster/op_log.h"
#include "cluster/shard_map.h"
#include "cluster/snapshot_transfer.h"
#include "server/reply.h"
#include "sextant/database.h"

namespace sextant::cluster {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------
// Units: the log record and the shard map.

Point MakePoint(const std::string& id, std::vector<float> v, std::optional<std::string> doc, json meta) {
  Point p;
  p.id = id;
  p.vector = std::move(v);
  p.document = std::move(doc);
  p.metadata = std::move(meta);
  return p;
}

// A document of min_words + rng() % spread words drawn from `words`, each followed by a space.
std::string RandomText(std::mt19937& rng, const std::vector<std::string>& words, int min_words, int spread) {
  std::string text;
  for (int w = min_words + static_cast<int>(rng() % spread); w > 0; --w) text += words[rng() % words.size()] + " ";
  return text;
}

// `dim` values in [-1, 1) in steps of 1/500.
std::vector<float> RandomVector(std::mt19937& rng, size_t dim) {
  std::vector<float> v(dim);
  for (float& x : v) x = static_cast<float>(rng() % 1000) / 500.0f - 1.0f;
  return v;
}

TEST(OpLog, EveryKindRoundTripsExactly) {
  WriteOp up;
  up.kind = OpKind::kUpsert;
  // Floats travel as bits: values JSON text would round, the smallest subnormal, negative zero.
  up.points.push_back(MakePoint("a", {0.1f, -0.0f, 1e-45f, 3.4028235e38f}, "doc \xE2\x9C\x93", {{"n", 1.5}, {"t", {"x"}}}));
  up.points.push_back(MakePoint("b", {}, std::nullopt, json::object()));
  up.points.push_back(MakePoint(std::string("z\0z", 3), {1}, std::string(), {{"e", ""}}));
  auto back = DecodeOp(EncodeOp(up));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->points.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back->points[i].id, up.points[i].id);
    ASSERT_EQ(back->points[i].vector.size(), up.points[i].vector.size());
    EXPECT_EQ(std::memcmp(back->points[i].vector.data(), up.points[i].vector.data(), up.points[i].vector.size() * 4), 0);
    EXPECT_EQ(back->points[i].document, up.points[i].document);
    EXPECT_EQ(back->points[i].metadata, up.points[i].metadata);
  }

  WriteOp del;
  del.kind = OpKind::kDelete;
  del.ids = {"a", "", "c"};
  auto d = DecodeOp(EncodeOp(del));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, OpKind::kDelete);
  EXPECT_EQ(d->ids, del.ids);

  WriteOp f;
  f.kind = OpKind::kDeleteByFilter;
  f.filter = {{"lang", {{"$in", {"en", "fr"}}}}};
  auto fb = DecodeOp(EncodeOp(f));
  ASSERT_TRUE(fb.ok());
  EXPECT_EQ(fb->filter, f.filter);

  WriteOp m;
  m.kind = OpKind::kUpdateMetadata;
  m.id = "p";
  m.metadata = {{"k", true}};
  m.merge = true;
  auto mb = DecodeOp(EncodeOp(m));
  ASSERT_TRUE(mb.ok());
  EXPECT_EQ(mb->id, "p");
  EXPECT_EQ(mb->metadata, m.metadata);
  EXPECT_TRUE(mb->merge);
}

TEST(OpLog, DamageIsCorruptionNeverACrash) {
  WriteOp up;
  up.kind = OpKind::kUpsert;
  up.points.push_back(MakePoint("a", {1, 2, 3}, "d", {{"x", 1}}));
  const std::string good = EncodeOp(up);
  // Every truncation, and every single byte changed, decodes to an error or to a record
  // (never reads out of bounds; the sanitizer builds would see it).
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = DecodeOp(good.substr(0, n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  }
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    (void)DecodeOp(bad);
  }
  EXPECT_NE(DecodeOp(good + "x").status().message().find("trailing"), std::string::npos);
  std::string kind = good;
  kind[5] = 9;
  EXPECT_NE(DecodeOp(kind).status().message().find("unknown kind"), std::string::npos);
}

TEST(ShardMap, ShardOfIsFixedAndSpreads) {
  // Fixed forever (points would move between shards otherwise): FNV-1a 64 of the bytes.
  EXPECT_EQ(ShardOf("", 7), 14695981039346656037ull % 7);
  EXPECT_EQ(ShardOf("a", 1000), 12638187200555641996ull % 1000);
  std::vector<int> counts(3);
  for (int i = 0; i < 30000; ++i) ++counts[ShardOf("p" + std::to_string(i), 3)];
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}

TEST(ShardMap, AssignmentIsDistinctAndBalanced) {
  std::map<std::string, size_t> load;
  auto r = AssignReplicas(3, 2, {"c", "a", "b"}, load);
  ASSERT_EQ(r.size(), 3u);
  for (const auto& shard : r) {
    ASSERT_EQ(shard.size(), 2u);
    EXPECT_NE(shard[0], shard[1]);
  }
  EXPECT_EQ(load["a"], 2u);
  EXPECT_EQ(load["b"], 2u);
  EXPECT_EQ(load["c"], 2u);
  // More replicas than nodes: as many as there are nodes.
  std::map<std::string, size_t> l2;
  EXPECT_EQ(AssignReplicas(1, 3, {"a", "b"}, l2)[0].size(), 2u);
}

TEST(ShardMap, RepairMovesReplicasOffGoneNodesOnly) {
  CollectionMeta m;
  m.shards = 2;
  m.replication_factor = 2;
  m.replicas = {{"a", "b"}, {"b", "c"}};
  std::map<std::string, size_t> load = {{"a", 1}, {"b", 2}, {"c", 1}};
  EXPECT_FALSE(RepairReplicas(m, {"a", "b", "c"}, {}, load));
  auto r = RepairReplicas(m, {"a", "c", "d"}, {"b"}, load);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0], (std::vector<std::string>{"a", "d"}));  // d: least loaded, not holding shard 0
  EXPECT_EQ((*r)[1][1], "c");
  EXPECT_NE((*r)[1][0], "b");
  EXPECT_NE((*r)[1][0], "c");
  // Nobody to take it: the gone node stays (it may come back).
  CollectionMeta one = m;
  one.replicas = {{"a", "b"}, {"a", "b"}};
  std::map<std::string, size_t> l2;
  EXPECT_FALSE(RepairReplicas(one, {"a"}, {"b"}, l2));
  // Short of replicas: filled up.
  one.replicas = {{"a"}, {"a", "b"}};
  auto filled = RepairReplicas(one, {"a", "b"}, {}, l2);
  ASSERT_TRUE(filled);
  EXPECT_EQ((*filled)[0], (std::vector<std::string>{"a", "b"}));
}

TEST(ShardMap, RebalanceMovesOneReplicaAtATimeOntoAJoiningNode) {
  // Two nodes hold 4 shards x 2 replicas (4 each); c joins. Moves go from the most-loaded node
  // to c, one at a time (a shard with one replica too many blocks the next), until no node
  // holds two more than another; FinishMove then drops the most-loaded node's replica.
  std::vector<CollectionMeta> metas(1);
  metas[0].tenant = metas[0].database = "default";
  metas[0].name = "c";
  metas[0].shards = 4;
  metas[0].replication_factor = 2;
  metas[0].replicas = {{"a", "b"}, {"b", "a"}, {"a", "b"}, {"b", "a"}};
  const std::vector<std::string> live = {"a", "b", "c"};
  EXPECT_FALSE(PlanRebalance(metas, {"a", "b"}));  // balanced without c
  int moves = 0;
  for (auto move = PlanRebalance(metas, live); move; move = PlanRebalance(metas, live)) {
    ASSERT_LT(++moves, 10);
    EXPECT_EQ(move->to, "c");
    EXPECT_EQ(move->collection, "collections.default.default.c");
    auto& shard = metas[0].replicas[move->shard];
    ASSERT_EQ(std::count(shard.begin(), shard.end(), move->to), 0);
    shard.push_back(move->to);
    EXPECT_FALSE(PlanRebalance(metas, live));  // in progress
    std::map<std::string, size_t> load;
    for (const auto& s : metas[0].replicas) {
      for (const auto& n : s) ++load[n];
    }
    auto finished = FinishMove(shard, 2, load);
    ASSERT_TRUE(finished);
    EXPECT_EQ(finished->back(), "c");
    EXPECT_EQ(std::count(finished->begin(), finished->end(), move->from), 0);
    shard = *finished;
  }
  std::map<std::string, size_t> load;
  for (const auto& s : metas[0].replicas) {
    EXPECT_EQ(s.size(), 2u);
    EXPECT_NE(s[0], s[1]);
    for (const auto& n : s) ++load[n];
  }
  EXPECT_EQ(moves, 2);
  EXPECT_EQ(load["c"], 2u);
  EXPECT_EQ(load["a"] + load["b"], 6u);
  EXPECT_FALSE(FinishMove({"a", "b"}, 2, load));
  // A shard with a replica on a node that is not live is not moved.
  metas[0].replicas = {{"a", "x"}, {"a", "b"}, {"a", "b"}};
  auto move = PlanRebalance(metas, {"a", "b", "c"});
  ASSERT_TRUE(move);
  EXPECT_EQ(move->shard, 1u);
}

TEST(SnapshotTransfer, FilesArriveWholeInChunksAndBadInputIsRefused) {
  const fs::path dir = fs::temp_directory_path() / ("sextant_snapxfer_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "src");
  std::string big(kSnapshotChunkBytes * 2 + 12345, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 1000);
  std::ofstream(dir / "src" / "seg-1.hnsw", std::ios::binary) << big;
  std::ofstream(dir / "src" / "MANIFEST") << "{}";
  std::ofstream(dir / "src" / "empty");
  auto files = ListSnapshotFiles((dir / "src").string());
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 3u);
  auto listed = SnapshotFilesFromJson(json::parse(SnapshotFilesToJson(*files).dump()));
  ASSERT_TRUE(listed.ok());
  int chunks = 0;
  const ChunkReader read = [&](const std::string& name, uint64_t offset, size_t length) {
    ++chunks;
    return ReadSnapshotChunk((dir / "src").string(), name, offset, length);
  };
  ASSERT_TRUE(DownloadSnapshot(*listed, (dir / "dst").string(), read).ok());
  for (const auto& f : *files) {
    std::ifstream a(dir / "src" / f.name, std::ios::binary), b(dir / "dst" / f.name, std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), std::string(std::istreambuf_iterator<char>(b), {}))
        << f.name;
  }
  EXPECT_EQ(chunks, 4);  // three of the big file, one of MANIFEST, none of the empty one
  EXPECT_EQ(DownloadSnapshot(*listed, (dir / "dst").string(), read).code(), StatusCode::kAlreadyExists);
  // A file shorter than listed, a reader that fails: an error, and nothing left behind.
  std::vector<SnapshotFile> lying = {{"MANIFEST", 10}};
  EXPECT_EQ(DownloadSnapshot(lying, (dir / "short").string(), read).code(), StatusCode::kIOError);
  EXPECT_FALSE(fs::exists(dir / "short"));
  const ChunkReader broken = [](const std::string&, uint64_t, size_t) { return Result<std::string>(Status::IOError("cut")); };
  EXPECT_EQ(DownloadSnapshot(*listed, (dir / "cut").string(), broken).code(), StatusCode::kIOError);
  EXPECT_FALSE(fs::exists(dir / "cut"));
  // Names that are not plain file names never reach the file system.
  EXPECT_EQ(ReadSnapshotChunk((dir / "src").string(), "../src/MANIFEST", 0, 10).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(SnapshotFilesFromJson(json::parse(R"([{"name":"a/b","size":1}])")).ok());
  EXPECT_FALSE(SnapshotFilesFromJson(json::parse(R"([{"name":"..","size":1}])")).ok());
  fs::remove_all(dir);
}

TEST(ShardMap, MetadataRoundTripsAndDamageIsNamed) {
  CollectionMeta m;
  m.tenant = "t";
  m.database = "d";
  m.name = "c";
  m.uid = "u1";
  m.shards = 2;
  m.replication_factor = 1;
  m.config = {{"dimension", 3}};
  m.replicas = {{"a"}, {"b"}};
  auto back = MetaFromJson(MetaToJson(m));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->replicas, m.replicas);
  EXPECT_EQ(back->config, m.config);
  json bad = MetaToJson(m);
  bad["replicas"] = json::array({json::array({"a"})});
  EXPECT_NE(MetaFromJson(bad).status().message().find("one list per shard"), std::string::npos);
  bad = MetaToJson(m);
  bad["shards"] = 0;
  EXPECT_NE(MetaFromJson(bad).status().message().find("'shards'"), std::string::npos);
  EXPECT_EQ(CollectionKey("t", "d", "c"), "collections.t.d.c");
  EXPECT_EQ(StreamSubject("u1", 2), "sextant.log.u1.2");
}

// ---------------------------------------------------------------------------------------
// Processes

std::string NatsServerPath() {
  for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

pid_t Spawn(std::vector<std::string> args, const std::string& log, const std::vector<std::string>& extra = {}) {
  args.insert(args.end(), extra.begin(), extra.end());
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

void Kill(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  pid = -1;
}

struct Resp {
  int status = 0;  // 0: no response (connection refused, timeout)
  json body;
};

Resp Send(int port, const std::string& key, const std::string& method, const std::string& path,
          const std::string& body = "", int timeout_s = 10) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(1, 0);
  cli.set_read_timeout(timeout_s, 0);
  cli.set_url_encode(false);
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers.emplace("Authorization", "Bearer " + key);
  if (!body.empty()) {
    req.body = body;
    req.headers.emplace("Content-Type", "application/json");
  }
  auto res = cli.send(req);
  Resp r;
  if (!res) return r;
  r.status = res->status;
  r.body = json::parse(res->body, nullptr, false);
  return r;
}

// Three nats-server processes clustered with JetStream, and Sextant nodes over them.
class ClusterFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    nats_bin_ = NatsServerPath();
    if (nats_bin_.empty()) GTEST_SKIP() << "nats-server is not installed (scripts/setup.sh installs it)";
    dir_ = fs::temp_directory_path() / ("sextant_cluster_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    key_ = "sxt_cluster_test_key_0123456789abcdef";
    std::ofstream(dir_ / "admin.key") << key_ << "\n";
  }

  void TearDown() override {
    for (auto& n : nodes_) Kill(n.pid);
    for (auto& s : nats_) Kill(s.pid);
    if (!HasFailure() && !dir_.empty()) fs::remove_all(dir_);
  }

  struct Nats {
    pid_t pid = -1;
    int port = 0, cluster_port = 0;
  };
  struct Node {
    pid_t pid = -1;
    int port = 0;
    std::string id;
  };

  void StartNatsCluster(int n) {
    nats_.resize(n);
    for (auto& s : nats_) {
      s.port = FreePort();
      s.cluster_port = FreePort();
    }
    for (int i = 0; i < n; ++i) StartNats(i);
  }

  void StartNats(int i) {
    std::vector<std::string> args = {nats_bin_, "-js", "-sd", (dir_ / ("nats" + std::to_string(i))).string(), "-p",
                                     std::to_string(nats_[i].port), "-a", "127.0.0.1"};
    if (nats_.size() > 1) {
      std::string routes;
      for (size_t j = 0; j < nats_.size(); ++j) {
        if (static_cast<int>(j) == i) continue;
        routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(nats_[j].cluster_port);
      }
      args.insert(args.end(), {"--cluster", "nats://127.0.0.1:" + std::to_string(nats_[i].cluster_port), "--routes",
                               routes, "--cluster_name", "sxtest", "--server_name", "n" + std::to_string(i)});
    }
    nats_[i].pid = Spawn(args, (dir_ / ("nats" + std::to_string(i) + ".log")).string());
    // Until it accepts connections.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(nats_[i].port));
      const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
      ::close(fd);
      if (ok) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "nats-server " << i << " did not start";
  }

  std::string NatsUrls() const {
    std::string urls;
    for (const auto& s : nats_) urls += (urls.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(s.port);
    return urls;
  }

  void AddNode(const std::string& id) {
    Node n;
    n.id = id;
    n.port = FreePort();
    nodes_.push_back(n);
  }

  // Starts node i and waits until it answers (it listens once it has joined the cluster).
  void StartNode(size_t i, bool wait = true) {
    Node& n = nodes_[i];
    n.pid = Spawn({SEXTANT_CLI, "serve", "--data", (dir_ / n.id).string(), "--port", std::to_string(n.port),
                   "--admin-key-file", (dir_ / "admin.key").string(), "--cluster", NatsUrls(), "--node-id", n.id,
                   "--log-level", "warn"},
                  (dir_ / (n.id + ".log")).string(), extra_node_args_);
    if (!wait) return;
    const auto deadline = Clock::now() + std::chrono::seconds(45);
    while (Clock::now() < deadline) {
      if (Send(n.port, key_, "GET", "/healthz").status == 200) return;
      int st = 0;
      if (::waitpid(n.pid, &st, WNOHANG) == n.pid) {
        n.pid = -1;
        FAIL() << n.id << " exited: " << Slurp(dir_ / (n.id + ".log"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << n.id << " did not start: " << Slurp(dir_ / (n.id + ".log"));
  }

  // One NATS server and nodes "a" and "b" (with extra_node_args_), both started and each
  // seen alive by a. Call through ASSERT_NO_FATAL_FAILURE.
  void StartTwoNodes() {
    StartNatsCluster(1);
    AddNode("a");
    AddNode("b");
    ASSERT_NO_FATAL_FAILURE(StartNode(0));
    ASSERT_NO_FATAL_FAILURE(StartNode(1));
    ASSERT_TRUE(WaitAllAlive(0));
  }

  // Until node i's own replicas have all opened (its /v1/cluster shows their positions).
  bool WaitReplicasReady(size_t i, std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      Resp r = Send(nodes_[i].port, key_, "GET", "/v1/cluster");
      if (r.status == 200) {
        bool all = true;
        for (const auto& c : r.body["collections"]) {
          for (const auto& s : c["shards"]) {
            for (const auto& rep : s["replicas"]) {
              if (rep["node"] == nodes_[i].id && rep["applied"].is_null()) all = false;
            }
          }
        }
        if (all) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Until node i sees every node alive.
  bool WaitAllAlive(size_t i) {
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline) {
      Resp r = Send(nodes_[i].port, key_, "GET", "/v1/cluster");
      size_t alive = 0;
      for (const auto& n : r.status == 200 ? r.body["nodes"] : json::array()) alive += n["alive"] == true;
      if (alive == nodes_.size()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Until every replica of every shard has applied its stream's last sequence.
  bool WaitConverged(std::chrono::milliseconds limit, json* last = nullptr) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      Resp r = Send(nodes_[0].port, key_, "GET", "/v1/cluster");
      if (last) *last = r.body;
      bool done = r.status == 200;
      for (const auto& c : done ? r.body["collections"] : json::array()) {
        for (const auto& s : c["shards"]) {
          for (const auto& rep : s["replicas"]) {
            if (rep["applied"].is_null() || s["last_sequence"].is_null() || rep["applied"] != s["last_sequence"]) {
              done = false;
            }
          }
        }
      }
      if (done) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // Until the node at `port` shows collection `name` with `metadata` (its watcher has seen it).
  bool WaitCollectionMetadata(int port, const std::string& name, const json& metadata) {
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
      Resp r = Send(port, key_, "GET", "/v1/collections/" + name);
      if (r.status == 200 && r.body.value("metadata", json::object()) == metadata) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Node i (stopped) holds replicas of collection `name` whose local collections have `metadata`.
  void ExpectLocalMetadata(size_t i, const std::string& name, const json& metadata) {
    Resp info = Send(nodes_[0].port == nodes_[i].port ? nodes_[1].port : nodes_[0].port, key_, "GET", "/v1/cluster");
    std::string uid;
    for (const auto& c : info.body["collections"]) {
      if (c["name"] == name) uid = c["uid"];
    }
    ASSERT_FALSE(uid.empty()) << info.body;
    auto db = Database::Open((dir_ / nodes_[i].id / "cluster" / "collections" / uid).string());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    const auto local = (*db)->ListCollections();
    EXPECT_FALSE(local.empty());
    for (const CollectionConfig& c : local) EXPECT_EQ(c.metadata, metadata) << nodes_[i].id << " " << c.name;
  }

  static std::string Slurp(const fs::path& p) {
    std::ifstream in(p);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
  }

  std::string nats_bin_;
  std::vector<std::string> extra_node_args_;
  fs::path dir_;
  std::string key_;
  std::vector<Nats> nats_;
  std::vector<Node> nodes_;
};

// ---------------------------------------------------------------------------------------
// The command line: cluster flags are checked before anything starts.

std::pair<int, std::string> RunServe(const std::vector<std::string>& flags) {
  const fs::path out = fs::temp_directory_path() / ("sextant_cluster_flags_" + std::to_string(::getpid()));
  fs::remove(out);
  std::vector<std::string> args = {SEXTANT_CLI, "serve", "--data", (out.string() + ".data"), "--port", "0"};
  args.insert(args.end(), flags.begin(), flags.end());
  pid_t pid = Spawn(args, out.string());
  int st = 0;
  ::waitpid(pid, &st, 0);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(out);
  fs::remove_all(out.string() + ".data");
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, text};
}

TEST(ServeClusterFlags, BadFlagsExitWithTheReason) {
  auto [code, text] = RunServe({"--node-id", "a"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(text.find("--node-id needs --cluster"), std::string::npos) << text;
  std::tie(code, text) = RunServe({"--cluster", "nats://127.0.0.1:1"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(text.find("--node-id"), std::string::npos) << text;
  std::tie(code, text) = RunServe({"--cluster", "http://127.0.0.1:1", "--node-id", "a"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(text.find("is not a nats:// URL"), std::string::npos) << text;
  std::tie(code, text) = RunServe({"--cluster", "nats://127.0.0.1:1", "--node-id", "a.b"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(text.find("--node-id must be"), std::string::npos) << text;
}

// NATS not answering: Start says once that it waits and why, then fails naming the URL.
// (No nats-server needed: nothing listens on the port.)
TEST(ClusterStart, UnreachableNatsIsToldThenNamed) {
  const int port = FreePort();  // bound and closed, never listened on: connections are refused
  const fs::path dir = fs::temp_directory_path() / ("sextant_cluster_start_" + std::to_string(::getpid()));
  cluster::ClusterOptions o;
  const std::string url = "nats://127.0.0.1:" + std::to_string(port);
  o.nats_urls = {url};
  o.node_id = "a";
  o.data_dir = (dir / "cluster").string();
  o.snapshots_dir = (dir / "snapshots").string();
  o.connect_timeout_ms = 1500;
  std::vector<std::string> told;
  o.on_wait = [&](const std::string& m) { told.push_back(m); };
  const auto start = std::chrono::steady_clock::now();
  auto node = cluster::ClusterNode::Start(o);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fs::remove_all(dir);
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.status().code(), StatusCode::kIOError) << node.status().ToString();
  EXPECT_NE(node.status().message().find("cannot connect to " + url), std::string::npos) << node.status().ToString();
  ASSERT_EQ(told.size(), 1u);
  EXPECT_NE(told[0].find(url), std::string::npos) << told[0];
  EXPECT_NE(told[0].find("retrying for up to 1 s"), std::string::npos) << told[0];
  EXPECT_GE(waited, 1.0);  // it did wait, for about the time asked
  o.connect_timeout_ms = 0;
  EXPECT_EQ(cluster::ClusterNode::Start(o).status().code(), StatusCode::kInvalidArgument);
}

// The hits of a cluster's reply against a single collection's: the same ids, scores bit for bit
// (as JSON carries them), documents, metadata and explain. With `ties_by_id` false, points of
// equal score may come in another order (a single node ranks them by insertion order, the
// cluster by id): ids are then compared only where the score is unique in both lists.
void ExpectSameHits(const json& got, const std::vector<QueryHit>& want, const std::string& what, bool ties_by_id = true) {
  ASSERT_TRUE(got.is_array()) << what << ": " << got;
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t h = 0; h < want.size(); ++h) {
    const QueryHit& w = want[h];
    const json& g = got[h];
    EXPECT_EQ(g["score"].get<float>(), w.score) << what << " hit " << h;
    const bool tied = (h > 0 && want[h - 1].score == w.score) || (h + 1 < want.size() && want[h + 1].score == w.score) ||
                      h + 1 == want.size();
    if (ties_by_id || !tied) {
      EXPECT_EQ(g["id"], w.id) << what << " hit " << h;
    }
    if (!ties_by_id) continue;
    EXPECT_EQ(g.contains("document") ? std::optional<std::string>(g["document"]) : std::nullopt, w.document) << what;
    EXPECT_EQ(g.contains("metadata") ? std::optional<json>(g["metadata"]) : std::nullopt, w.metadata) << what;
    // explain carries doubles (fused scores): compared as JSON text carries them.
    EXPECT_EQ(g.contains("explain") ? std::optional<json>(g["explain"]) : std::nullopt,
              w.explain ? std::optional<json>(json::parse(w.explain->dump())) : std::nullopt)
        << what << " hit " << h;
  }
}

// Keyword and hybrid queries on a collection of three shards (on the nodes at ports a and b)
// against a single node's collection with the same points, both written in id order (so that
// equal scores rank alike): the same hits, BM25 and fused scores bit for bit, and explain.
void ExpectTextQueriesAsOneNode(const std::string& key, const fs::path& dir, int a, int b) {
  Resp created = Send(a, key, "PUT", "/v1/collections/bm",
                      R"({"dimension":4,"index":"flat","text":true,"shards":3,"replication_factor":1})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto db = Database::Open((dir / "single-bm").string());
  ASSERT_TRUE(db.ok());
  CollectionConfig cfg;
  cfg.name = "bm";
  cfg.dimension = 4;
  cfg.index = IndexType::kFlat;
  cfg.text = true;
  auto single = (*db)->CreateCollection(cfg);
  ASSERT_TRUE(single.ok());
  const std::vector<std::string> words = {"solar", "wind", "power", "grid", "storage", "battery", "cells",
                                          "panel", "turbines", "energy", "cost", "market", "prices", "heat"};
  std::mt19937 rng(11);
  std::vector<Point> points;
  json body = {{"points", json::array()}};
  for (int i = 0; i < 300; ++i) {
    char id[8];
    std::snprintf(id, sizeof(id), "d%04d", i);
    const std::string text = RandomText(rng, words, 1, 12);
    const std::vector<float> v = RandomVector(rng, 4);
    points.push_back(MakePoint(id, v, text, {{"n", i}, {"tag", i % 3 ? "a" : "b"}}));
    body["points"].push_back({{"id", id}, {"vector", v}, {"document", text}, {"metadata", points.back().metadata}});
  }
  ASSERT_TRUE((*single)->Upsert(points).ok());
  Resp up = Send(b, key, "POST", "/v1/collections/bm/points", body.dump());
  ASSERT_EQ(up.status, 200) << up.body;
  int hits = 0;
  for (int i = 0; i < 16; ++i) {
    QueryRequest q;
    q.text = words[i % words.size()] + " " + words[(i * 5 + 3) % words.size()];
    q.k = i % 2 ? 10 : 20;
    json qb = {{"text", *q.text}, {"k", q.k}, {"consistency", "strong"}, {"include", {"document"}}};
    q.include_document = true;
    if (i % 3 != 0) {
      q.vector = {0.5f, -0.2f, static_cast<float>(i % 5) / 5, 0.1f};
      qb["vector"] = q.vector;
    }
    q.fusion = std::vector<std::string>{"", "rrf", "weighted", "dbsf"}[i % 4];
    if (!q.fusion.empty()) qb["fusion"] = q.fusion;
    if (i % 8 == 2) qb["alpha"] = *(q.alpha = 0.3);
    if (i % 4 == 1) qb["filter"] = *(q.filter = json{{"tag", "a"}});
    if (i % 6 == 5) {
      q.mode = q.vector.empty() ? QueryMode::kKeyword : QueryMode::kHybrid;
      qb["mode"] = q.vector.empty() ? "keyword" : "hybrid";
    }
    q.explain = i % 2 == 0;
    qb["explain"] = q.explain;
    auto want = (*single)->Query(q);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    Resp got = Send(i % 2 ? a : b, key, "POST", "/v1/collections/bm/query", qb.dump());
    ASSERT_EQ(got.status, 200) << got.body;
    ExpectSameHits(got.body["results"], *want, "query " + qb.dump());
    hits += static_cast<int>(want->size());
  }
  EXPECT_GT(hits, 150);
  EXPECT_EQ(Send(a, key, "DELETE", "/v1/collections/bm").status, 200);
}

// ---------------------------------------------------------------------------------------
// The API of a cluster, on one NATS server and two nodes.

TEST_F(ClusterFixture, ApiAnswersForTheWholeClusterFromAnyNode) {
  ASSERT_NO_FATAL_FAILURE(StartTwoNodes());
  const int a = nodes_[0].port, b = nodes_[1].port;

  // Settings are checked before anything is created.
  EXPECT_EQ(Send(a, key_, "PUT", "/v1/collections/c", R"({"dimension":3,"shards":0})").status, 422);
  EXPECT_EQ(Send(a, key_, "PUT", "/v1/collections/c", R"({"dimension":3,"shards":"2"})").status, 422);
  Resp too_many = Send(a, key_, "PUT", "/v1/collections/c", R"({"dimension":3,"replication_factor":3})");
  EXPECT_EQ(too_many.status, 422);
  EXPECT_NE(too_many.body.dump().find("needs 3 live nodes"), std::string::npos) << too_many.body;
  EXPECT_EQ(Send(a, key_, "PUT", "/v1/collections/c", R"({"dimension":3,"metric":"l7"})").status, 400);
  // A dimension the model does not give (as on one node; nothing is created).
  EXPECT_EQ(Send(a, key_, "PUT", "/v1/collections/c", R"({"embedding":"potion-base-4M","dimension":3})").status, 422);

  Resp created = Send(a, key_, "PUT", "/v1/collections/c",
                      R"({"dimension":3,"index":"flat","text":true,"shards":2,"replication_factor":2})");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.body["shards"], 2);
  EXPECT_EQ(created.body["replicas"].size(), 2u);
  // Idempotent from any node; a different definition conflicts.
  EXPECT_EQ(Send(b, key_, "PUT", "/v1/collections/c",
                 R"({"dimension":3,"index":"flat","text":true,"shards":2,"replication_factor":2})")
                .status,
            200);
  EXPECT_EQ(Send(b, key_, "PUT", "/v1/collections/c", R"({"dimension":3,"index":"flat","text":true,"shards":3})").status,
            409);

  // Writes through either node; the reply names each shard's log sequence.
  Resp up = Send(a, key_, "POST", "/v1/collections/c/points",
                 R"({"points":[{"id":"p1","vector":[1,0,0],"document":"red apple","metadata":{"n":1}},
                               {"id":"p2","vector":[0,1,0],"document":"green pear","metadata":{"n":2}},
                               {"id":"p3","vector":[0,0,1],"metadata":{"n":3}},
                               {"id":"p4","vector":[1,1,0],"metadata":{"n":4}}]})");
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(up.body["acked"], 4);
  EXPECT_TRUE(up.body["sequences"].is_object());
  // A bad point refuses the batch, naming it; nothing is logged.
  Resp bad = Send(b, key_, "POST", "/v1/collections/c/points", R"({"points":[{"id":"x","vector":[1,0,0]},{"id":"y","vector":[1,0]}]})");
  EXPECT_EQ(bad.status, 422);
  EXPECT_NE(bad.body.dump().find("point 1"), std::string::npos) << bad.body;

  // Strong reads see the write at once, from the other node.
  Resp q = Send(b, key_, "POST", "/v1/collections/c/query", R"({"vector":[1,0.1,0],"k":3,"consistency":"strong"})");
  ASSERT_EQ(q.status, 200) << q.body;
  ASSERT_EQ(q.body["results"].size(), 3u);
  EXPECT_EQ(q.body["results"][0]["id"], "p1");
  EXPECT_EQ(q.body["results"][1]["id"], "p4");
  EXPECT_EQ(q.body["results"][0]["metadata"]["n"], 1);
  EXPECT_EQ(Send(b, key_, "POST", "/v1/collections/c/query", R"({"vector":[1,0,0],"consistency":"maybe"})").status,
            400);
  // Filters are pushed down to the shards.
  Resp fq = Send(a, key_, "POST", "/v1/collections/c/query",
                 R"({"vector":[1,0,0],"k":10,"filter":{"n":{"$gte":3}},"consistency":"strong"})");
  ASSERT_EQ(fq.status, 200);
  ASSERT_EQ(fq.body["results"].size(), 2u);
  EXPECT_EQ(fq.body["results"][0]["id"], "p4");
  // Text queries over several shards use the collection's BM25 statistics.
  Resp tq = Send(a, key_, "POST", "/v1/collections/c/query", R"({"text":"apple","k":3,"consistency":"strong"})");
  ASSERT_EQ(tq.status, 200) << tq.body;
  ASSERT_EQ(tq.body["results"].size(), 1u);
  EXPECT_EQ(tq.body["results"][0]["id"], "p1");
  EXPECT_EQ(Send(a, key_, "POST", "/v1/collections/c/query", R"({"text":"?!"})").status, 422);
  ExpectTextQueriesAsOneNode(key_, dir_, a, b);

  // Reads other than queries ask for read-your-writes in the query string.
  EXPECT_EQ(Send(a, key_, "GET", "/v1/collections/c/count?consistency=strong").body["count"], 4);
  EXPECT_EQ(Send(b, key_, "POST", "/v1/collections/c/count?consistency=strong", R"({"filter":{"n":{"$lt":3}}})")
                .body["count"],
            2);
  EXPECT_EQ(Send(b, key_, "GET", "/v1/collections/c/count?consistency=now").status, 400);
  Resp got = Send(b, key_, "GET", "/v1/collections/c/points/p2?consistency=strong");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body["document"], "green pear");
  EXPECT_EQ(got.body["vector"], json::parse("[0.0,1.0,0.0]"));
  EXPECT_EQ(Send(b, key_, "GET", "/v1/collections/c/points/nope").status, 404);

  // Scroll pages across shards in id order, with a cursor.
  std::vector<std::string> ids;
  std::string after;
  for (int page = 0; page < 5; ++page) {
    json body = {{"limit", 3}};
    if (!after.empty()) body["after"] = after;
    Resp s = Send(page % 2 ? a : b, key_, "POST", "/v1/collections/c/scroll?consistency=strong", body.dump());
    ASSERT_EQ(s.status, 200) << s.body;
    for (const auto& p : s.body["points"]) ids.push_back(p["id"]);
    if (s.body["next"].is_null()) break;
    after = s.body["next"];
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"p1", "p2", "p3", "p4"}));

  // The collection's own metadata: changed through one node (compare-and-set in the bucket),
  // shown by every node; the replicas' local collections follow (checked in node b's files
  // while it is down, below).
  Resp patched = Send(a, key_, "PATCH", "/v1/collections/c", R"({"metadata":{"owner":"ops","v":1}})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.body["metadata"], json::parse(R"({"owner":"ops","v":1})"));
  EXPECT_EQ(patched.body["shards"], 2);
  EXPECT_EQ(Send(a, key_, "PATCH", "/v1/collections/c", R"({"metadata":{"x":{"y":1}}})").status, 422);
  EXPECT_EQ(Send(a, key_, "PATCH", "/v1/collections/nope", R"({"metadata":{}})").status, 404);
  EXPECT_TRUE(WaitCollectionMetadata(b, "c", json::parse(R"({"owner":"ops","v":1})")));
  // A definition without metadata is still the same; one with other metadata is not.
  EXPECT_EQ(Send(b, key_, "PUT", "/v1/collections/c",
                 R"({"dimension":3,"index":"flat","text":true,"shards":2,"replication_factor":2})")
                .status,
            200);
  EXPECT_EQ(Send(b, key_, "PUT", "/v1/collections/c",
                 R"({"dimension":3,"index":"flat","text":true,"shards":2,"replication_factor":2,"metadata":{"v":2}})")
                .status,
            409);

  // Metadata update and deletes go through the log too.
  EXPECT_EQ(Send(a, key_, "PATCH", "/v1/collections/c/points/p3", R"({"metadata":{"m":9},"merge":true})").status, 200);
  EXPECT_EQ(Send(a, key_, "PATCH", "/v1/collections/c/points/zz", R"({"metadata":{}})").status, 404);
  EXPECT_EQ(Send(b, key_, "DELETE", "/v1/collections/c/points/p4").status, 200);
  Resp dq = Send(a, key_, "POST", "/v1/collections/c/points/delete", R"({"filter":{"n":2}})");
  ASSERT_EQ(dq.status, 200) << dq.body;
  EXPECT_EQ(dq.body["deleted"], 1);
  ASSERT_TRUE(WaitConverged(std::chrono::seconds(10)));
  Resp p3 = Send(b, key_, "GET", "/v1/collections/c/points/p3");
  EXPECT_EQ(p3.body["metadata"], json::parse(R"({"n":3,"m":9})"));
  EXPECT_EQ(Send(b, key_, "GET", "/v1/collections/c/count").body["count"], 2);
  // Two deletes of the same points at once, through both nodes: their counts are what each
  // removed when applied (the log orders them), so they add up to the points there were.
  for (int round = 0; round < 3; ++round) {
    json points = json::array(), ids = json::array();
    for (int i = 0; i < 10; ++i) {
      points.push_back({{"id", "q" + std::to_string(i)}, {"vector", {1, 2, 3}}, {"metadata", {{"round", round}}}});
      ids.push_back("q" + std::to_string(i));
    }
    ASSERT_EQ(Send(a, key_, "POST", "/v1/collections/c/points", json{{"points", points}}.dump()).status, 200);
    ASSERT_TRUE(WaitConverged(std::chrono::seconds(10)));
    const std::string body = round % 2 ? json{{"ids", ids}}.dump() : json{{"filter", {{"round", round}}}}.dump();
    Resp first, second;
    std::thread other([&] { second = Send(b, key_, "POST", "/v1/collections/c/points/delete", body); });
    first = Send(a, key_, "POST", "/v1/collections/c/points/delete", body);
    other.join();
    ASSERT_EQ(first.status, 200) << first.body;
    ASSERT_EQ(second.status, 200) << second.body;
    EXPECT_EQ(first.body["deleted"].get<int>() + second.body["deleted"].get<int>(), 10)
        << first.body << " " << second.body;
  }
  EXPECT_EQ(Send(b, key_, "GET", "/v1/collections/c/count?consistency=strong").body["count"], 2);

  // Each replica holds its shard's points only, and both replicas the same ones.
  for (uint32_t shard = 0; shard < 2; ++shard) {
    std::vector<json> seen;
    for (int port : {a, b}) {
      Resp s = Send(port, key_, "POST", "/v1/collections/c/scroll?replica=local&shard=" + std::to_string(shard),
                    R"({"limit":100,"vectors":true})");
      ASSERT_EQ(s.status, 200) << s.body;
      for (const auto& p : s.body["points"]) EXPECT_EQ(ShardOf(p["id"].get<std::string>(), 2), shard);
      seen.push_back(s.body["points"]);
    }
    EXPECT_EQ(seen[0], seen[1]);
  }

  // The cluster as the nodes see it.
  Resp info = Send(b, key_, "GET", "/v1/cluster");
  ASSERT_EQ(info.status, 200);
  EXPECT_EQ(info.body["node"], "b");
  EXPECT_EQ(info.body["nodes"].size(), 2u);
  EXPECT_TRUE(info.body["leader"] == "a" || info.body["leader"] == "b");
  ASSERT_EQ(info.body["collections"].size(), 1u);
  EXPECT_EQ(info.body["collections"][0]["shards"].size(), 2u);
  Resp list = Send(a, key_, "GET", "/v1/collections");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["collections"].size(), 1u);
  EXPECT_EQ(list.body["collections"][0]["points"], 2);

  // A snapshot of the whole collection (every shard's, copied to the node that takes it),
  // restored as a new collection of the cluster with the same points, read through the other.
  Resp snap = Send(a, key_, "POST", "/v1/collections/c/snapshots", R"({"snapshot":"snap1"})");
  ASSERT_EQ(snap.status, 201) << snap.body;
  EXPECT_EQ(snap.body["shards"], 2);
  EXPECT_EQ(Send(a, key_, "POST", "/v1/collections/c/snapshots", R"({"snapshot":"snap1"})").status, 409);
  EXPECT_EQ(Send(a, key_, "GET", "/v1/snapshots").body["snapshots"], json::parse(R"([{"name":"snap1"}])"));
  Resp restored = Send(a, key_, "POST", "/v1/snapshots/snap1/restore", R"({"collection":"c2"})");
  ASSERT_EQ(restored.status, 201) << restored.body;
  EXPECT_EQ(restored.body["count"], 2);
  EXPECT_EQ(Send(a, key_, "POST", "/v1/snapshots/snap1/restore", R"({"collection":"c2"})").status, 409);
  Resp c_points = Send(b, key_, "POST", "/v1/collections/c/scroll?consistency=strong", R"({"limit":10,"vectors":true})");
  Resp c2_points = Send(b, key_, "POST", "/v1/collections/c2/scroll?consistency=strong", R"({"limit":10,"vectors":true})");
  ASSERT_EQ(c2_points.status, 200) << c2_points.body;
  EXPECT_EQ(c2_points.body["points"], c_points.body["points"]);
  EXPECT_EQ(Send(b, key_, "GET", "/v1/collections/c2").body["shards"], 2);
  {  // the archive holds cluster.json and every shard's files
    httplib::Client cli("127.0.0.1", a);
    auto tar = cli.Get("/v1/snapshots/snap1/archive", {{"Authorization", "Bearer " + key_}});
    ASSERT_TRUE(tar);
    EXPECT_EQ(tar->status, 200);
    for (const char* entry : {"snap1/cluster.json", "snap1/shard-0/MANIFEST", "snap1/shard-1/config.json"}) {
      EXPECT_NE(tar->body.find(entry), std::string::npos) << entry;
    }
    EXPECT_EQ(Send(b, key_, "GET", "/v1/snapshots/snap1/archive").status, 404);  // kept by the node that took it
  }
  EXPECT_EQ(Send(a, key_, "DELETE", "/v1/snapshots/snap1").status, 200);
  EXPECT_EQ(Send(a, key_, "POST", "/v1/snapshots/snap1/restore", R"({"collection":"c3"})").status, 404);
  EXPECT_EQ(Send(b, key_, "DELETE", "/v1/collections/c2").status, 200);

  // A node gone: its replicas' reads go to the other node at once.
  Kill(nodes_[1].pid);
  Resp after_kill = Send(a, key_, "POST", "/v1/collections/c/query", R"({"vector":[0,0,1],"k":1})");
  ASSERT_EQ(after_kill.status, 200) << after_kill.body;
  EXPECT_EQ(after_kill.body["results"][0]["id"], "p3");
  // Its replicas' local collections hold the collection's metadata; metadata changed while it is
  // down reaches them when it is back.
  ExpectLocalMetadata(1, "c", json::parse(R"({"owner":"ops","v":1})"));
  ASSERT_EQ(Send(a, key_, "PATCH", "/v1/collections/c", R"({"metadata":{"owner":"dev"}})").status, 200);
  StartNode(1);
  EXPECT_TRUE(WaitCollectionMetadata(b, "c", json::parse(R"({"owner":"dev"})")));
  ASSERT_TRUE(WaitReplicasReady(1, std::chrono::seconds(10)));
  Kill(nodes_[1].pid);
  ExpectLocalMetadata(1, "c", json::parse(R"({"owner":"dev"})"));
  StartNode(1);

  // Junk from another NATS client — in the buckets, on a node's request subject — is answered
  // or ignored; no node falls over.
  {
    natsConnection* nc = nullptr;
    ASSERT_EQ(natsConnection_ConnectTo(&nc, ("nats://127.0.0.1:" + std::to_string(nats_[0].port)).c_str()), NATS_OK);
    for (const char* junk : {"[1,2]", R"({"uid":1,"shard":"x"})", "not json", R"({"op":"get","uid":"u","shard":0})"}) {
      natsMsg* reply = nullptr;
      ASSERT_EQ(natsConnection_RequestString(&reply, nc, "sextant.rpc.a", junk, 2000), NATS_OK) << junk;
      EXPECT_NE(std::string(natsMsg_GetData(reply), natsMsg_GetDataLength(reply)).find("error"), std::string::npos);
      natsMsg_Destroy(reply);
    }
    jsCtx* js = nullptr;
    ASSERT_EQ(natsConnection_JetStream(&js, nc, nullptr), NATS_OK);
    for (const char* bucket : {"sextant_meta", "sextant_live"}) {
      kvStore* kv = nullptr;
      ASSERT_EQ(js_KeyValue(&kv, js, bucket), NATS_OK);
      for (const char* v : {"[]", R"({"address":5,"applied":[1]})", "junk"}) {
        EXPECT_EQ(kvStore_PutString(nullptr, kv, "nodes.zz", v), NATS_OK);
        EXPECT_EQ(kvStore_PutString(nullptr, kv, "collections.default.default.zz", v), NATS_OK);
      }
      kvStore_Destroy(kv);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    for (int port : {a, b}) {
      EXPECT_EQ(Send(port, key_, "GET", "/v1/cluster").status, 200);
      EXPECT_EQ(Send(port, key_, "GET", "/v1/collections/zz").status, 404);
    }
  }

  // Dropped from one node, gone on all; the name can be used again.
  EXPECT_EQ(Send(b, key_, "DELETE", "/v1/collections/c").status, 200);
  const auto until = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < until && Send(a, key_, "GET", "/v1/collections/c").status != 404) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Send(a, key_, "GET", "/v1/collections/c").status, 404);
  EXPECT_EQ(Send(a, key_, "PUT", "/v1/collections/c", R"({"dimension":2,"shards":1})").status, 201);
  Resp count = Send(b, key_, "GET", "/v1/collections/c/count");
  EXPECT_EQ(count.body["count"], 0) << count.body;
}

// ---------------------------------------------------------------------------------------
// Tenants, databases and API keys live in the bucket: made through one node, seen by the other.

TEST_F(ClusterFixture, TenantsDatabasesAndKeysAreTheClusters) {
  ASSERT_NO_FATAL_FAILURE(StartTwoNodes());
  const int a = nodes_[0].port, b = nodes_[1].port;
  // Until `path` answers `status` (and `body`, when given) on the node at `port`: its watcher
  // has seen the change.
  auto eventually = [&](int port, const std::string& key, const std::string& path, int status,
                        const json& body = json()) {
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    Resp r;
    while (Clock::now() < deadline) {
      r = Send(port, key, "GET", path);
      if (r.status == status && (body.is_null() || r.body == body)) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "GET " << path << " on port " << port << ": " << r.status << " " << r.body;
    return r;
  };

  // Tenants and databases: created once (compare-and-set), from any node.
  EXPECT_EQ(Send(a, key_, "PUT", "/v1/tenants/acme").status, 201);
  Resp again = Send(b, key_, "PUT", "/v1/tenants/acme");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body["created"], false);
  EXPECT_EQ(Send(b, key_, "PUT", "/v1/tenants/acme", R"({"x":1})").status, 400);
  EXPECT_EQ(Send(b, key_, "PUT", "/v1/tenants/nope/databases/prod", "{}").status, 404);
  EXPECT_EQ(Send(b, key_, "PUT", "/v1/tenants/acme/databases/prod", "{}").status, 201);
  eventually(a, key_, "/v1/tenants/acme", 200, json::parse(R"({"name":"acme","databases":["prod"]})"));
  eventually(a, key_, "/v1/tenants", 200, json::parse(R"({"tenants":[{"name":"acme"},{"name":"default"}]})"));
  EXPECT_EQ(Send(b, key_, "GET", "/v1/tenants").body["tenants"], json::parse(R"([{"name":"acme"},{"name":"default"}])"));
  // Collections live in a database that exists.
  EXPECT_EQ(Send(a, key_, "PUT", "/v1/tenants/acme/databases/test/collections/c", R"({"dimension":2})").status, 404);
  ASSERT_EQ(Send(a, key_, "PUT", "/v1/tenants/acme/databases/prod/collections/c", R"({"dimension":2,"shards":2})").status,
            201);
  EXPECT_EQ(Send(b, key_, "POST", "/v1/tenants/acme/databases/prod/collections/c/points",
                 R"({"points":[{"id":"x","vector":[1,0]}]})")
                .status,
            200);
  eventually(b, key_, "/v1/tenants/acme/databases/prod", 200,
             json::parse(R"({"name":"prod","tenant":"acme","collections":["c"]})"));
  EXPECT_EQ(Send(b, key_, "DELETE", "/v1/tenants/acme/databases/prod").status, 409);  // it has a collection
  EXPECT_EQ(Send(b, key_, "DELETE", "/v1/tenants/acme").status, 409);                  // it has a database

  // Keys: created through one node, they open the other; revoked through it, they stop.
  Resp reader = Send(a, key_, "POST", "/v1/keys", R"({"role":"reader","tenant":"acme"})");
  ASSERT_EQ(reader.status, 201) << reader.body;
  const std::string reader_key = reader.body["key"], reader_id = reader.body["id"];
  Resp counted = eventually(b, reader_key, "/v1/tenants/acme/databases/prod/collections/c/count", 200);
  EXPECT_EQ(counted.body["count"], 1);
  EXPECT_EQ(Send(b, reader_key, "GET", "/v1/collections/c/count").status, 403);  // another tenant
  Resp keys = eventually(b, key_, "/v1/keys", 200);
  ASSERT_EQ(keys.body["keys"].size(), 1u) << keys.body;
  EXPECT_EQ(keys.body["keys"][0]["id"], reader_id);
  EXPECT_EQ(keys.body["keys"][0]["tenant"], "acme");
  EXPECT_EQ(Send(b, key_, "DELETE", "/v1/keys/" + reader_id).status, 200);
  EXPECT_EQ(Send(a, key_, "DELETE", "/v1/keys/" + reader_id).status, 404);
  eventually(a, reader_key, "/v1/tenants/acme", 401);
  EXPECT_EQ(Send(b, reader_key, "GET", "/v1/tenants/acme").status, 401);

  // A node that was down sees what was made meanwhile; keys survive its restart.
  Kill(nodes_[1].pid);
  Resp writer = Send(a, key_, "POST", "/v1/keys", R"({"role":"writer","tenant":"acme","database":"prod"})");
  ASSERT_EQ(writer.status, 201);
  const std::string writer_key = writer.body["key"];
  EXPECT_EQ(Send(a, key_, "PUT", "/v1/tenants/t2").status, 201);
  EXPECT_EQ(Send(a, key_, "PUT", "/v1/tenants/t2/databases/d", "{}").status, 201);
  StartNode(1);
  EXPECT_EQ(Send(b, writer_key, "POST", "/v1/tenants/acme/databases/prod/collections/c/points",
                 R"({"points":[{"id":"y","vector":[0,1]}]})")
                .status,
            200);
  EXPECT_EQ(Send(b, writer_key, "PUT", "/v1/tenants/t2").status, 403);  // a writer key makes no tenants
  eventually(b, key_, "/v1/tenants/t2/databases", 200, json::parse(R"({"databases":[{"name":"d"}]})"));

  // Deleting with cascade takes the collections along, on every node.
  EXPECT_EQ(Send(b, key_, "DELETE", "/v1/tenants/acme?cascade=true").status, 200);
  eventually(a, key_, "/v1/tenants/acme", 404);
  EXPECT_EQ(Send(a, key_, "GET", "/v1/tenants/acme/databases/prod/collections/c").status, 404);
  eventually(a, key_, "/v1/tenants", 200, json::parse(R"({"tenants":[{"name":"default"},{"name":"t2"}]})"));
  EXPECT_EQ(Send(a, key_, "DELETE", "/v1/tenants/t2/databases/d").status, 200);
  EXPECT_EQ(Send(a, key_, "DELETE", "/v1/tenants/default").status, 409);
  EXPECT_EQ(Send(a, key_, "DELETE", "/v1/tenants/default/databases/default").status, 409);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  Resp info;
  while (Clock::now() < deadline && !(info = Send(b, key_, "GET", "/v1/cluster")).body["collections"].empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(info.body["collections"].empty()) << info.body;
}

// ---------------------------------------------------------------------------------------
// A collection with an embedding model on a cluster: documents embedded once, on the node that
// takes the write, and query texts on the node that takes the query, as one node embeds them.

TEST_F(ClusterFixture, CollectionsWithAModelEmbedOnTheCoordinator) {
  // The single node to compare with: the built-in model, a keyword index, cosine (a document the
  // model knows no token of then has no direction: an error), exact search.
  auto db = Database::Open((dir_ / "single-embed").string());
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  CollectionConfig cfg;
  cfg.name = "pets";
  cfg.embedding = EmbeddingSettings{};  // potion-base-4M
  cfg.text = true;
  cfg.metric = Metric::kCosine;
  cfg.index = IndexType::kFlat;
  auto single = (*db)->CreateCollection(cfg);
  if (!single.ok()) GTEST_SKIP() << "the built-in model is not there: " << single.status().ToString();

  ASSERT_NO_FATAL_FAILURE(StartTwoNodes());
  const int a = nodes_[0].port, b = nodes_[1].port;
  const json definition = {{"embedding", "potion-base-4M"}, {"text", true}, {"metric", "cosine"}, {"index", "flat"},
                           {"shards", 2}, {"replication_factor", 2}};
  Resp created = Send(a, key_, "PUT", "/v1/collections/pets", definition.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.body["dimension"], 128) << created.body;  // the model's, as the single node's
  EXPECT_EQ(created.body["dimension"], (*single)->config().dimension);
  EXPECT_EQ(created.body["embedding"]["hybrid_alpha"], 0.3) << created.body;
  Resp again = Send(b, key_, "PUT", "/v1/collections/pets", definition.dump());
  EXPECT_EQ(again.status, 200) << again.body;  // the same definition: what the model filled in matches
  ASSERT_TRUE(WaitReplicasReady(0, std::chrono::seconds(10)));
  ASSERT_TRUE(WaitReplicasReady(1, std::chrono::seconds(10)));

  // Errors are the single node's: an unknown model, a document whose embedding is zero.
  CollectionConfig unknown = cfg;
  unknown.name = "nope";
  unknown.embedding->model = "no-such-model";
  const server::Reply no_model = server::FromStatus((*db)->CreateCollection(unknown).status());
  Resp refused = Send(b, key_, "PUT", "/v1/collections/nope", R"({"embedding":"no-such-model","text":true})");
  EXPECT_EQ(refused.status, no_model.status) << refused.body;
  EXPECT_EQ(refused.body, no_model.body);

  // Documents only (and every seventh point with its own vector), written through node a.
  const std::vector<std::string> words = {"cat",  "dog",   "fish", "bird",   "sleeps", "runs",  "swims", "sings",
                                          "the",  "small", "big",  "garden", "river",  "house", "tree",  "food"};
  std::mt19937 rng(5);
  std::vector<Point> points;
  json body = {{"points", json::array()}};
  for (int i = 0; i < 80; ++i) {
    char id[8];
    std::snprintf(id, sizeof(id), "p%03d", i);
    const std::string text = RandomText(rng, words, 2, 6);
    const std::vector<float> v = i % 7 == 3 ? RandomVector(rng, 128) : std::vector<float>{};
    points.push_back(MakePoint(id, v, text, {{"n", i}, {"tag", i % 3 ? "a" : "b"}}));
    json p = {{"id", id}, {"document", text}, {"metadata", points.back().metadata}};
    if (!v.empty()) p["vector"] = v;
    body["points"].push_back(std::move(p));
  }
  ASSERT_TRUE((*single)->Upsert(points).ok());
  Resp up = Send(a, key_, "POST", "/v1/collections/pets/points", body.dump());
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(up.body["acked"], 80);

  // A batch with a document the model knows no token of: refused whole, as by the single node.
  const std::vector<Point> bad = {MakePoint("q1", {}, "cat", json::object()),
                                  MakePoint("q2", {}, "\u2603\u2603", json::object())};
  const server::Reply zero = server::FromStatus((*single)->Upsert(bad).status());
  ASSERT_NE(zero.status, 200);
  const json bad_body = {{"points", {{{"id", "q1"}, {"document", "cat"}}, {{"id", "q2"}, {"document", "\u2603\u2603"}}}}};
  Resp bad_up = Send(b, key_, "POST", "/v1/collections/pets/points", bad_body.dump());
  EXPECT_EQ(bad_up.status, zero.status) << bad_up.body;
  EXPECT_EQ(bad_up.body, zero.body);

  // Every replica holds the single node's vectors, bit for bit: the stream carries them.
  ASSERT_TRUE(WaitConverged(std::chrono::seconds(10)));
  std::vector<std::string> ids;
  for (const Point& p : points) ids.push_back(p.id);
  auto want_points = (*single)->Get(ids, /*include_vector=*/true);
  ASSERT_TRUE(want_points.ok());
  std::map<std::string, std::vector<float>> want_vectors;
  for (const Point& p : *want_points) want_vectors[p.id] = p.vector;
  size_t held = 0;
  for (uint32_t shard = 0; shard < 2; ++shard) {
    std::vector<json> seen;
    for (int port : {a, b}) {
      Resp s = Send(port, key_, "POST", "/v1/collections/pets/scroll?replica=local&shard=" + std::to_string(shard),
                    R"({"limit":200,"vectors":true})");
      ASSERT_EQ(s.status, 200) << s.body;
      for (const auto& p : s.body["points"]) {
        const std::vector<float> got = p["vector"].get<std::vector<float>>();
        EXPECT_EQ(got, want_vectors[p["id"].get<std::string>()]) << p["id"];
      }
      seen.push_back(s.body["points"]);
    }
    EXPECT_EQ(seen[0], seen[1]);
    held += seen[0].size();
  }
  EXPECT_EQ(held, points.size());  // nothing of the refused batch

  // Text queries through either node equal the single node's: semantic, hybrid (the collection's
  // weighted fusion, or one named), keyword, with filters and explain.
  struct Case {
    std::string text;
    std::string mode;
    std::string fusion;
    bool filter, explain;
  };
  const std::vector<Case> cases = {{"a dog runs by the river", "", "", false, true},
                                   {"small fish swims", "semantic", "", false, true},
                                   {"bird sings in the tree", "semantic", "", true, false},
                                   {"cat sleeps in the house", "hybrid", "rrf", false, true},
                                   {"big garden food", "", "dbsf", true, true},
                                   {"dog house", "keyword", "", false, false},
                                   {"the cat", "", "", true, false},
                                   {"bird", "hybrid", "weighted", false, true}};
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    QueryRequest q;
    q.text = c.text;
    q.k = 10;
    q.include_document = true;
    q.include_metadata = i % 2 == 0;
    q.explain = c.explain;
    json qb = {{"text", c.text}, {"k", 10}, {"consistency", "strong"}, {"explain", c.explain}};
    qb["include"] = q.include_metadata ? json{"document", "metadata"} : json{"document"};
    if (!c.mode.empty()) {
      q.mode = *QueryModeFromString(c.mode);
      qb["mode"] = c.mode;
    }
    if (!c.fusion.empty()) qb["fusion"] = q.fusion = c.fusion;
    if (c.filter) qb["filter"] = *(q.filter = json{{"tag", "a"}});
    auto want = (*single)->Query(q);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    EXPECT_FALSE(want->empty()) << c.text;
    Resp got = Send(i % 2 ? a : b, key_, "POST", "/v1/collections/pets/query", qb.dump());
    ASSERT_EQ(got.status, 200) << got.body;
    ExpectSameHits(got.body["results"], *want, "query " + qb.dump());
  }
  // A text searched by meaning alone whose embedding is zero: the single node's error.
  QueryRequest zq;
  zq.text = "\u2603\u2603";
  zq.mode = QueryMode::kSemantic;
  const server::Reply zero_query = server::FromStatus((*single)->Query(zq).status());
  Resp zero_got = Send(b, key_, "POST", "/v1/collections/pets/query", R"({"text":"\u2603\u2603","mode":"semantic"})");
  EXPECT_EQ(zero_got.status, zero_query.status) << zero_got.body;
  EXPECT_EQ(zero_got.body, zero_query.body);
}

// ---------------------------------------------------------------------------------------
// Network trouble: a node's connection to NATS cut and restored, through a TCP relay the test
// controls.

class Relay {
 public:
  explicit Relay(int target) : target_(target) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int yes = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(listener_, 64);
    accept_ = std::thread([this] { AcceptLoop(); });
  }
  ~Relay() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    accept_.join();
    Cut(true);
    for (auto& t : pumps_) t.join();
    for (int fd : fds_) ::close(fd);
  }
  int port() const { return port_; }
  // Closes every relayed connection; while cut, new ones are closed at once.
  void Cut(bool cut) {
    std::lock_guard<std::mutex> l(mu_);
    cut_ = cut;
    if (cut) {
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      const int c = ::accept(listener_, nullptr, nullptr);
      if (c < 0) continue;
      std::lock_guard<std::mutex> l(mu_);
      if (cut_ || stop_) {
        ::close(c);
        continue;
      }
      const int t = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(target_));
      if (::connect(t, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(c);
        ::close(t);
        continue;
      }
      fds_.push_back(c);
      fds_.push_back(t);
      pumps_.emplace_back([c, t] { Pump(c, t); });
      pumps_.emplace_back([c, t] { Pump(t, c); });
    }
  }
  static void Pump(int from, int to) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(from, buf, sizeof(buf));
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        // send with MSG_NOSIGNAL: a peer already shut down (Cut) must not SIGPIPE the test.
        const ssize_t w = ::send(to, buf + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) {
          ::shutdown(from, SHUT_RDWR);
          return;
        }
        off += w;
      }
    }
    ::shutdown(to, SHUT_RDWR);
  }

  int target_, listener_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  bool cut_ = false;
  std::vector<int> fds_;  // closed when the relay goes (the pumps only shut them down)
  std::vector<std::thread> pumps_;
  std::thread accept_;
};

TEST_F(ClusterFixture, ANodeCutOffFromNatsCatchesUpWhenItComesBack) {
  StartNatsCluster(1);
  Relay relay(nats_[0].port);
  AddNode("a");
  AddNode("b");
  ASSERT_NO_FATAL_FAILURE(StartNode(0));
  // b reaches NATS only through the relay.
  const std::vector<Nats> direct = nats_;
  nats_[0].port = relay.port();
  ASSERT_NO_FATAL_FAILURE(StartNode(1));
  nats_ = direct;
  ASSERT_TRUE(WaitAllAlive(0));
  const int a = nodes_[0].port, b = nodes_[1].port;
  ASSERT_EQ(Send(a, key_, "PUT", "/v1/collections/c", R"({"dimension":2,"index":"flat","replication_factor":2})").status,
            201);
  auto batch = [](int from) {
    json points = json::array();
    for (int i = from; i < from + 50; ++i) points.push_back({{"id", "p" + std::to_string(i)}, {"vector", {i, 1}}});
    return json{{"points", points}}.dump();
  };
  ASSERT_EQ(Send(a, key_, "POST", "/v1/collections/c/points", batch(0)).status, 200);

  relay.Cut(true);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // a keeps taking writes and answering reads (its own replica); b cannot reach the log: its
  // writes fail with 503 instead of being acknowledged.
  for (int from = 50; from < 300; from += 50) {
    ASSERT_EQ(Send(a, key_, "POST", "/v1/collections/c/points", batch(from)).status, 200);
  }
  Resp strong = Send(a, key_, "POST", "/v1/collections/c/query", R"({"vector":[0,1],"k":3,"consistency":"strong"})");
  ASSERT_EQ(strong.status, 200) << strong.body;
  EXPECT_EQ(strong.body["results"][0]["id"], "p0");
  Resp refused = Send(b, key_, "POST", "/v1/collections/c/points", batch(1000), 20);
  EXPECT_EQ(refused.status, 503) << refused.body;

  relay.Cut(false);
  // b reconnects, catches up from where it was, and serves the same points.
  ASSERT_TRUE(WaitConverged(std::chrono::seconds(30)));
  Resp mine = Send(b, key_, "POST", "/v1/collections/c/scroll?replica=local&shard=0", R"({"limit":2000,"vectors":true})");
  Resp theirs = Send(a, key_, "POST", "/v1/collections/c/scroll?replica=local&shard=0", R"({"limit":2000,"vectors":true})");
  ASSERT_EQ(mine.status, 200) << mine.body;
  EXPECT_EQ(mine.body["points"], theirs.body["points"]);
  EXPECT_GE(mine.body["points"].size(), 300u);
  EXPECT_EQ(Send(b, key_, "POST", "/v1/collections/c/points", batch(2000)).status, 200);
}

// A node whose NATS server is gone still stops promptly at SIGTERM, and cleanly: its threads'
// pending JetStream calls fail at once instead of each waiting out its timeout (12.5 s before).
TEST_F(ClusterFixture, ANodeWhoseNatsIsGoneStopsPromptly) {
  StartNatsCluster(1);
  AddNode("a");
  ASSERT_NO_FATAL_FAILURE(StartNode(0));
  const int a = nodes_[0].port;
  ASSERT_EQ(Send(a, key_, "PUT", "/v1/collections/c", R"({"dimension":2,"index":"flat","shards":2})").status, 201);
  ASSERT_EQ(Send(a, key_, "POST", "/v1/collections/c/points", R"({"points":[{"id":"p","vector":[1,2]}]})").status, 200);
  Kill(nats_[0].pid);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the client notices, reconnects
  const auto start = Clock::now();
  ASSERT_EQ(::kill(nodes_[0].pid, SIGTERM), 0);
  int status = 0;
  pid_t done = 0;
  while ((done = ::waitpid(nodes_[0].pid, &status, WNOHANG)) == 0 && Clock::now() - start < std::chrono::seconds(30)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(done, nodes_[0].pid) << "still running after 30 s";
  nodes_[0].pid = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_LT(seconds, 6.0);
}

// ---------------------------------------------------------------------------------------
// A node gone for longer than the reassignment timeout: the leader moves its replicas to the
// live nodes, which rebuild them from the shards' streams.

TEST_F(ClusterFixture, ReplicasMoveOffTheLeaderGoneForGood) {
  StartNatsCluster(1);
  extra_node_args_ = {"--cluster-node-timeout-ms", "1000", "--cluster-reassign-timeout-s", "2"};
  for (const char* id : {"m0", "m1", "m2"}) AddNode(id);
  for (size_t i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(StartNode(i));
  ASSERT_TRUE(WaitAllAlive(0));
  Resp created = Send(nodes_[0].port, key_, "PUT", "/v1/collections/c",
                      R"({"dimension":2,"index":"flat","shards":3,"replication_factor":2})");
  ASSERT_EQ(created.status, 201) << created.body;
  json points = json::array();
  for (int i = 0; i < 300; ++i) {
    points.push_back({{"id", "p" + std::to_string(i)}, {"vector", {i * 0.5f, -i * 0.25f}}, {"metadata", {{"i", i}}}});
  }
  ASSERT_EQ(Send(nodes_[0].port, key_, "POST", "/v1/collections/c/points", json{{"points", points}}.dump()).status, 200);

  // The leader goes for good: another node takes the lead (the key expires) and moves the
  // gone node's replicas.
  std::string leader;
  for (int i = 0; i < 100 && leader.empty(); ++i) {
    json info = Send(nodes_[0].port, key_, "GET", "/v1/cluster").body;
    if (info.is_object() && info["leader"].is_string()) leader = info["leader"];
    if (leader.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(leader.empty());
  const size_t gone = static_cast<size_t>(leader.back() - '0');
  const size_t a = (gone + 1) % 3, b = (gone + 2) % 3;
  Kill(nodes_[gone].pid);
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  json state;
  bool moved = false;
  while (Clock::now() < deadline && !moved) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    state = Send(nodes_[a].port, key_, "GET", "/v1/cluster").body;
    moved = state.is_object() && state["collections"].size() == 1;
    for (const auto& sh : moved ? state["collections"][0]["shards"] : json::array()) {
      for (const auto& rep : sh["replicas"]) {
        if (rep["node"] == leader || rep["applied"] != sh["last_sequence"]) moved = false;
      }
    }
  }
  ASSERT_TRUE(moved) << state.dump();
  EXPECT_NE(state["leader"], leader);
  // Both live nodes now hold every shard, rebuilt from the streams: all 300 points, exact.
  for (size_t n : {a, b}) {
    size_t total = 0;
    for (uint32_t shard = 0; shard < 3; ++shard) {
      Resp r = Send(nodes_[n].port, key_, "POST", "/v1/collections/c/scroll?replica=local&shard=" + std::to_string(shard),
                    R"({"limit":1000,"vectors":true})");
      ASSERT_EQ(r.status, 200) << nodes_[n].id << " shard " << shard << ": " << r.body;
      for (const auto& p : r.body["points"]) {
        const int i = p["metadata"]["i"];
        EXPECT_EQ(p["vector"], json({i * 0.5f, -i * 0.25f}));
        EXPECT_EQ(ShardOf(p["id"].get<std::string>(), 3), shard);
      }
      total += r.body["points"].size();
    }
    EXPECT_EQ(total, 300u) << nodes_[n].id;
  }
  EXPECT_EQ(Send(nodes_[b].port, key_, "GET", "/v1/collections/c/count").body["count"], 300);
  // Back later: it holds nothing now, and its old replicas' files are gone; it still answers.
  // (Rebalancing gives it replicas again only once it has been back for the reassignment
  // timeout, 2 s here: ReplicasBehindACompactedLogRebuildFromSnapshots tests that.)
  ASSERT_NO_FATAL_FAILURE(StartNode(gone));
  EXPECT_EQ(Send(nodes_[gone].port, key_, "GET", "/v1/collections/c/count").body["count"], 300);
  size_t files = 0;
  for (const auto& f : fs::recursive_directory_iterator(dir_ / leader / "cluster" / "collections")) {
    files += f.is_regular_file();
  }
  // Unless rebalancing has already given it a replica again (the shard map read after the
  // files: replicas are only added to it meanwhile), which a very slow start could allow.
  bool holds = false;
  for (const auto& sh : Send(nodes_[a].port, key_, "GET", "/v1/cluster").body["collections"][0]["shards"]) {
    for (const auto& rep : sh["replicas"]) holds = holds || rep["node"] == leader;
  }
  if (!holds) {
    EXPECT_EQ(files, 0u);
  }
}

// ---------------------------------------------------------------------------------------
// Compacted logs: a replica left behind, and a node that joins, build from another replica's
// snapshot and the stream after it.

TEST_F(ClusterFixture, ReplicasBehindACompactedLogRebuildFromSnapshots) {
  extra_node_args_ = {"--cluster-compact-messages", "1", "--cluster-node-timeout-ms", "1000",
                      "--cluster-reassign-timeout-s", "2"};
  ASSERT_NO_FATAL_FAILURE(StartTwoNodes());
  const int a = nodes_[0].port;
  ASSERT_EQ(Send(a, key_, "PUT", "/v1/collections/c",
                 R"({"dimension":4,"index":"flat","text":true,"shards":2,"replication_factor":2})")
                .status,
            201);
  int next_id = 0;
  auto write_batches = [&](int batches, int port) {
    for (int b = 0; b < batches; ++b) {
      json points = json::array();
      for (int i = 0; i < 40; ++i, ++next_id) {
        const float x = static_cast<float>(next_id);
        points.push_back({{"id", "p" + std::to_string(next_id)}, {"vector", {x, -x / 3, 1.0f / (x + 1), 0.5f}},
                          {"document", "point number " + std::to_string(next_id)}, {"metadata", {{"i", next_id}}}});
      }
      ASSERT_EQ(Send(port, key_, "POST", "/v1/collections/c/points", json{{"points", points}}.dump()).status, 200);
    }
  };
  // Until every shard's stream holds only the last record its live replicas have durably
  // applied (compaction keeps that many: --cluster-compact-messages 1).
  auto wait_compacted = [&](int port) {
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    json info;
    while (Clock::now() < deadline) {
      info = Send(port, key_, "GET", "/v1/cluster").body;
      bool done = info.is_object() && info["collections"].size() == 1;
      for (const auto& sh : done ? info["collections"][0]["shards"] : json::array()) {
        done = done && sh["first_sequence"].is_number() && sh["last_sequence"].is_number() &&
               sh["first_sequence"].get<uint64_t>() == sh["last_sequence"].get<uint64_t>();
      }
      if (done) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "not compacted: " << info.dump();
    return false;
  };
  // A replica's points (vectors, documents, metadata) as node i holds them.
  auto local_points = [&](size_t i, uint32_t shard) {
    Resp r = Send(nodes_[i].port, key_, "POST", "/v1/collections/c/scroll?replica=local&shard=" + std::to_string(shard),
                  R"({"limit":2000,"vectors":true})");
    EXPECT_EQ(r.status, 200) << nodes_[i].id << " shard " << shard << ": " << r.body;
    return r.body["points"];
  };

  write_batches(5, a);
  ASSERT_TRUE(WaitConverged(std::chrono::seconds(10)));
  ASSERT_TRUE(wait_compacted(a));  // both nodes live: compacted up to what both applied

  // b down while a takes more writes, deletes and metadata changes; the streams are compacted
  // past everything b had applied.
  Kill(nodes_[1].pid);
  write_batches(5, a);
  ASSERT_EQ(Send(a, key_, "POST", "/v1/collections/c/points/delete", R"({"ids":["p1","p2","p250"]})").status, 200);
  ASSERT_EQ(Send(a, key_, "PATCH", "/v1/collections/c/points/p3", R"({"metadata":{"late":true},"merge":true})").status,
            200);
  ASSERT_TRUE(wait_compacted(a));
  // Back: its replicas rebuild from a's snapshots and the streams after them.
  ASSERT_NO_FATAL_FAILURE(StartNode(1));
  json state;
  ASSERT_TRUE(WaitConverged(std::chrono::seconds(20), &state)) << state.dump();
  for (uint32_t shard = 0; shard < 2; ++shard) {
    json want = local_points(0, shard), got = local_points(1, shard);
    EXPECT_GT(want.size(), 100u);
    EXPECT_EQ(got, want) << "shard " << shard;
  }
  EXPECT_EQ(Send(nodes_[1].port, key_, "GET", "/v1/collections/c/count?consistency=strong").body["count"], 397);
  Resp p3 = Send(nodes_[1].port, key_, "GET", "/v1/collections/c/points/p3?consistency=strong");
  EXPECT_EQ(p3.body["metadata"], json::parse(R"({"i":3,"late":true})"));
  for (const auto& n : Send(a, key_, "GET", "/v1/cluster").body["nodes"]) EXPECT_FALSE(n.contains("errors")) << n;

  // A node that joins gets its share of the replicas (after the reassignment timeout), built
  // from snapshots, the streams being compacted; moves never leave a shard short of replicas.
  AddNode("c");
  ASSERT_NO_FATAL_FAILURE(StartNode(2));
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  bool balanced = false;
  while (Clock::now() < deadline && !balanced) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    state = Send(a, key_, "GET", "/v1/cluster").body;
    std::map<std::string, int> load;
    balanced = state.is_object() && state["collections"].size() == 1;
    for (const auto& sh : balanced ? state["collections"][0]["shards"] : json::array()) {
      EXPECT_GE(sh["replicas"].size(), 2u);
      balanced = balanced && sh["replicas"].size() == 2;
      for (const auto& rep : sh["replicas"]) {
        ++load[rep["node"]];
        balanced = balanced && rep["applied"] == sh["last_sequence"];
      }
    }
    balanced = balanced && load["c"] >= 1;
  }
  ASSERT_TRUE(balanced) << state.dump();
  for (uint32_t shard = 0; shard < 2; ++shard) {
    std::vector<size_t> holders;
    for (const auto& rep : state["collections"][0]["shards"][shard]["replicas"]) {
      holders.push_back(rep["node"] == "a" ? 0 : rep["node"] == "b" ? 1 : 2);
    }
    EXPECT_EQ(local_points(holders[0], shard), local_points(holders[1], shard)) << "shard " << shard;
  }
  Resp q = Send(nodes_[2].port, key_, "POST", "/v1/collections/c/query", R"({"text":"number 7","k":3})");
  ASSERT_EQ(q.status, 200) << q.body;
  EXPECT_EQ(q.body["results"].size(), 3u);

  // A snapshot of the whole collection taken through the new node, restored as a copy: the
  // same points.
  ASSERT_EQ(Send(nodes_[2].port, key_, "POST", "/v1/collections/c/snapshots", R"({"snapshot":"s"})").status, 201);
  Resp restored = Send(nodes_[2].port, key_, "POST", "/v1/snapshots/s/restore", R"({"collection":"copy"})");
  ASSERT_EQ(restored.status, 201) << restored.body;
  EXPECT_EQ(restored.body["count"], 397);
  for (const char* name : {"c", "copy"}) {
    Resp all = Send(a, key_, "POST", std::string("/v1/collections/") + name + "/scroll?consistency=strong",
                    R"({"limit":1000,"vectors":true})");
    ASSERT_EQ(all.status, 200) << all.body;
    EXPECT_EQ(all.body["points"].size(), 397u);
    if (std::string(name) == "copy") {
      EXPECT_EQ(all.body["points"], Send(a, key_, "POST", "/v1/collections/c/scroll", R"({"limit":1000,"vectors":true})")
                                        .body["points"]);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Three NATS servers and three nodes; writers and readers while nodes and NATS servers are
// SIGKILLed and restarted.

struct Sent {
  std::vector<float> vector;
  std::string document;
  json metadata;
};

TEST_F(ClusterFixture, KilledNodesAndNatsServersLoseNoAcknowledgedWrite) {
  const auto test_start = Clock::now();
  StartNatsCluster(3);
  for (const char* id : {"s0", "s1", "s2"}) AddNode(id);
  for (size_t i = 0; i < 3; ++i) StartNode(i, /*wait=*/false);
  for (size_t i = 0; i < 3; ++i) {
    const auto deadline = Clock::now() + std::chrono::seconds(45);
    while (Clock::now() < deadline && Send(nodes_[i].port, key_, "GET", "/healthz").status != 200) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(Send(nodes_[i].port, key_, "GET", "/healthz").status, 200) << Slurp(dir_ / (nodes_[i].id + ".log"));
  }
  ASSERT_TRUE(WaitAllAlive(0));
  constexpr int kDim = 8;
  constexpr uint32_t kShards = 3;
  Resp created = Send(nodes_[0].port, key_, "PUT", "/v1/collections/c",
                      json{{"dimension", kDim}, {"index", "flat"}, {"text", true}, {"shards", kShards},
                           {"replication_factor", 2}}
                          .dump());
  ASSERT_EQ(created.status, 201) << created.body;
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(WaitReplicasReady(i, std::chrono::seconds(10)));

  // Which nodes are up (writers and readers use those; a request to a node being killed may
  // still fail on the client's side, which is not the cluster's answer).
  std::mutex up_mu;
  std::vector<bool> up(3, true);
  auto pick_up_node = [&](std::mt19937& rng) {
    std::lock_guard<std::mutex> l(up_mu);
    std::vector<int> live;
    for (int i = 0; i < 3; ++i) {
      if (up[i]) live.push_back(i);
    }
    return nodes_[live[rng() % live.size()]].port;
  };

  std::atomic<bool> stop{false};
  std::mutex sent_mu;
  std::map<std::string, Sent> acked, unsure;  // unsure: sent, never acknowledged
  std::atomic<int> write_failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(1000 + w);
      std::uniform_real_distribution<float> u(-1, 1);
      for (int batch = 0; !stop; ++batch) {
        json points = json::array();
        std::map<std::string, Sent> mine;
        for (int i = 0; i < 20; ++i) {
          const std::string id = "w" + std::to_string(w) + "-" + std::to_string(batch) + "-" + std::to_string(i);
          Sent s;
          for (int d = 0; d < kDim; ++d) s.vector.push_back(u(rng));
          s.document = "writer " + std::to_string(w) + " batch " + std::to_string(batch);
          s.metadata = {{"w", w}, {"b", batch}, {"tag", i % 2 ? "odd" : "even"}};
          points.push_back({{"id", id}, {"vector", s.vector}, {"document", s.document}, {"metadata", s.metadata}});
          mine[id] = std::move(s);
        }
        const std::string body = json{{"points", points}}.dump();
        bool ok = false;
        // The same batch again until it is acknowledged (replays are idempotent).
        for (int attempt = 0; attempt < 200 && !ok; ++attempt) {
          if (stop && attempt > 0) break;
          Resp r = Send(pick_up_node(rng), key_, "POST", "/v1/collections/c/points", body, 10);
          ok = r.status == 200;
          if (!ok) {
            ++write_failures;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        }
        {
          std::lock_guard<std::mutex> l(sent_mu);
          for (auto& [id, s] : mine) (ok ? acked : unsure)[id] = s;
        }
        // A steady load rather than as fast as the machine goes (keeps the test's time bounded).
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
    });
  }

  // A reader: queries to live nodes; each answer is complete or an error naming a shard.
  std::atomic<int> queries_ok{0}, queries_failed{0}, partial{0};
  std::mutex failure_mu;
  std::map<std::string, int> failure_kinds;
  std::thread reader([&] {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1, 1);
    while (!stop) {
      json q = {{"k", 5}, {"vector", json::array()}};
      for (int d = 0; d < kDim; ++d) q["vector"].push_back(u(rng));
      Resp r = Send(pick_up_node(rng), key_, "POST", "/v1/collections/c/query", q.dump(), 10);
      if (r.status == 200) {
        ++queries_ok;
        if (r.body["results"].size() != 5 && queries_ok > 100) ++partial;
      } else if (r.status != 0) {
        ++queries_failed;
        {
          std::lock_guard<std::mutex> l(failure_mu);
          std::string what = std::to_string(r.status) + " " + r.body.dump().substr(0, 160);
          ++failure_kinds[what];
        }
        if (r.status == 503) {
          EXPECT_NE(r.body.dump().find("shard"), std::string::npos) << r.body;
        }
      }
      // Paced like the writers: back to back, the queries kept a core busy for the whole test
      // (CI time) without reaching a state the paced ones do not.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });

  // 20 rounds: a random Sextant node SIGKILLed and restarted; every 4th round a NATS server too.
  std::mt19937 rng(42);
  int nats_kills = 0;
  for (int round = 1; round <= 20; ++round) {
    const int victim = static_cast<int>(rng() % 3);
    {
      std::lock_guard<std::mutex> l(up_mu);
      up[victim] = false;
    }
    Kill(nodes_[victim].pid);
    if (round % 4 == 0) {
      const int n = static_cast<int>(rng() % 3);
      Kill(nats_[n].pid);
      ++nats_kills;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      StartNats(n);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    StartNode(victim);
    ASSERT_TRUE(WaitReplicasReady(victim, std::chrono::seconds(20))) << "round " << round;
    {
      std::lock_guard<std::mutex> l(up_mu);
      up[victim] = true;
    }
    if (std::getenv("SEXTANT_CLUSTER_TEST_VERBOSE")) {
      std::printf("round %d at %.1f s\n", round, std::chrono::duration<double>(Clock::now() - test_start).count());
    }
  }
  stop = true;
  for (auto& t : writers) t.join();
  reader.join();
  const double load_s = std::chrono::duration<double>(Clock::now() - test_start).count();

  json state;
  ASSERT_TRUE(WaitConverged(std::chrono::seconds(30), &state)) << state.dump();

  // Every replica of every shard: every acknowledged point of the shard with its exact vector,
  // document and metadata; nothing else but points sent and never acknowledged, also exact.
  std::map<std::string, json> union_points;
  size_t replicas_checked = 0;
  for (const auto& c : state["collections"]) {
    for (const auto& s : c["shards"]) {
      const uint32_t shard = s["shard"];
      for (const auto& rep : s["replicas"]) {
        auto node = std::find_if(nodes_.begin(), nodes_.end(), [&](const Node& n) { return n.id == rep["node"]; });
        ASSERT_NE(node, nodes_.end());
        std::map<std::string, json> held;
        std::string after;
        for (;;) {
          json body = {{"limit", 1000}, {"vectors", true}};
          if (!after.empty()) body["after"] = after;
          Resp r = Send(node->port, key_, "POST", "/v1/collections/c/scroll?replica=local&shard=" + std::to_string(shard),
                        body.dump());
          ASSERT_EQ(r.status, 200) << r.body;
          for (const auto& p : r.body["points"]) held[p["id"]] = p;
          if (!r.body["more"].get<bool>() || r.body["points"].empty()) break;
          after = r.body["points"].back()["id"];
        }
        size_t expected = 0;
        for (const auto& [id, sent] : acked) {
          if (ShardOf(id, kShards) != shard) continue;
          ++expected;
          auto it = held.find(id);
          ASSERT_NE(it, held.end()) << "acknowledged point " << id << " missing on " << node->id << " shard " << shard;
          std::vector<float> v = it->second["vector"].get<std::vector<float>>();
          ASSERT_EQ(v.size(), sent.vector.size());
          EXPECT_EQ(std::memcmp(v.data(), sent.vector.data(), v.size() * 4), 0) << id;
          EXPECT_EQ(it->second["document"], sent.document) << id;
          EXPECT_EQ(it->second["metadata"], sent.metadata) << id;
        }
        for (const auto& [id, p] : held) {
          EXPECT_EQ(ShardOf(id, kShards), shard) << id;
          if (acked.count(id)) continue;
          auto u = unsure.find(id);
          ASSERT_NE(u, unsure.end()) << "point " << id << " was never sent";
          EXPECT_EQ(p["vector"].get<std::vector<float>>(), u->second.vector) << id;
          EXPECT_EQ(p["metadata"], u->second.metadata) << id;
        }
        EXPECT_GE(held.size(), expected);
        for (auto& [id, p] : held) union_points[id] = p;
        ++replicas_checked;
      }
    }
  }
  EXPECT_EQ(replicas_checked, kShards * 2);

  // Queries equal a single node's with the same points (flat index: exact, so equal hits and
  // equal scores), through every node.
  auto db = Database::Open((dir_ / "single").string());
  ASSERT_TRUE(db.ok());
  CollectionConfig cfg;
  cfg.name = "c";
  cfg.dimension = kDim;
  cfg.index = IndexType::kFlat;
  cfg.text = true;
  auto single = (*db)->CreateCollection(cfg);
  ASSERT_TRUE(single.ok());
  std::vector<Point> all;
  for (const auto& [id, p] : union_points) {
    all.push_back(MakePoint(id, p["vector"].get<std::vector<float>>(), p["document"].get<std::string>(), p["metadata"]));
  }
  ASSERT_TRUE((*single)->Upsert(all).ok());
  EXPECT_EQ(Send(nodes_[0].port, key_, "GET", "/v1/collections/c/count").body["count"], all.size());
  std::mt19937 qrng(99);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int i = 0; i < 30; ++i) {
    QueryRequest q;
    for (int d = 0; d < kDim; ++d) q.vector.push_back(u(qrng));
    q.k = 10;
    json body = {{"vector", q.vector}, {"k", 10}};
    if (i % 3 == 1) {
      q.filter = json{{"tag", "odd"}};
      body["filter"] = *q.filter;
    }
    auto want = (*single)->Query(q);
    ASSERT_TRUE(want.ok());
    Resp got = Send(nodes_[i % 3].port, key_, "POST", "/v1/collections/c/query", body.dump());
    ASSERT_EQ(got.status, 200) << got.body;
    ASSERT_EQ(got.body["results"].size(), want->size());
    for (size_t h = 0; h < want->size(); ++h) {
      EXPECT_EQ(got.body["results"][h]["id"], (*want)[h].id) << "query " << i << " hit " << h;
      EXPECT_EQ(got.body["results"][h]["score"].get<float>(), (*want)[h].score) << "query " << i << " hit " << h;
    }
  }

  // Keyword queries: BM25 scores equal a single node's, each point with the score the single
  // node gives it (a batch's points share a document, so their order among equal scores is the
  // cluster's by id, the single node's by insertion).
  for (int i = 0; i < 12; ++i) {
    QueryRequest q;
    const std::string& doc = *all[qrng() % all.size()].document;
    q.text = i % 2 ? doc : doc.substr(doc.find("batch"));
    q.k = 10;
    json body = {{"text", *q.text}, {"k", 10}};
    if (i % 3 == 1) {
      q.filter = json{{"tag", "odd"}};
      body["filter"] = *q.filter;
    }
    auto want = (*single)->Query(q);
    ASSERT_TRUE(want.ok());
    q.k = 1000;
    std::map<std::string, float> score_of;
    auto every = (*single)->Query(q);
    ASSERT_TRUE(every.ok());
    for (const QueryHit& h : *every) score_of[h.id] = h.score;
    Resp got = Send(nodes_[i % 3].port, key_, "POST", "/v1/collections/c/query", body.dump());
    ASSERT_EQ(got.status, 200) << got.body;
    ExpectSameHits(got.body["results"], *want, "keyword query " + body.dump(), /*ties_by_id=*/false);
    for (const json& h : got.body["results"]) {
      ASSERT_TRUE(score_of.count(h["id"])) << h;
      EXPECT_EQ(h["score"].get<float>(), score_of[h["id"]]) << h;
    }
  }

  const double fail_rate = static_cast<double>(queries_failed) / std::max(1, queries_ok + queries_failed);
  std::printf("{\"cluster_test\":{\"acked_points\":%zu,\"unacknowledged_points\":%zu,\"write_retries\":%d,"
              "\"node_kills\":20,\"nats_kills\":%d,\"queries_ok\":%d,\"queries_failed\":%d,"
              "\"query_failure_fraction\":%.4f,\"load_phase_s\":%.1f,\"total_s\":%.1f}}\n",
              acked.size(), unsure.size(), write_failures.load(), nats_kills, queries_ok.load(),
              queries_failed.load(), fail_rate, load_s,
              std::chrono::duration<double>(Clock::now() - test_start).count());
  EXPECT_GT(acked.size(), 1000u);
  EXPECT_EQ(nats_kills, 5);
  EXPECT_EQ(partial, 0);
  // With replication factor 2 and one node down at a time, reads keep succeeding (a failure
  // is a read whose every replica was unreachable at that instant: a small fraction).
  EXPECT_LT(fail_rate, 0.05);
  for (const auto& [what, n] : failure_kinds) std::printf("failed queries: %d x %s\n", n, what.c_str());
}

}  // namespace
}  // namespace sextant::cluster
