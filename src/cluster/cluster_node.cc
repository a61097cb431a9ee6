// The cluster node: NATS plumbing, metadata watchers, leadership, replicas (appliers), the
// read RPCs and the coordinator of client requests. See cluster_node.h and docs/cluster.md.
#include "cluster/cluster_node.h"

#include <fcntl.h>
#include <nats/nats.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "cluster/op_log.h"
#include "cluster/shard_map.h"
#include "cluster/snapshot_transfer.h"
#include "codec/collection_json.h"
#include "codec/point_json.h"
#include "codec/query_json.h"
#include "engine/collection_embedding.h"
#include "server/catalog.h"
#include "server/snapshot_archive.h"
#include "sextant/database.h"

namespace sextant::cluster {

using nlohmann::json;
using server::Error;
using server::FromParseStatus;
using server::FromStatus;
using server::Reply;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kMetaBucket = "sextant_meta";
constexpr const char* kLiveBucket = "sextant_live";
constexpr uint32_t kMaxShards = 64;

Status NatsError(natsStatus s, const std::string& what, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  const char* last = nats_GetLastError(nullptr);
  std::string msg = "NATS: " + what + ": " + (last && *last ? last : natsStatus_GetText(s));
  if (jerr != 0) msg += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
  return Status::IOError(msg);
}

std::string RandomId() {
  std::random_device rd;
  std::mt19937_64 g((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                    static_cast<uint64_t>(Clock::now().time_since_epoch().count()));
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(g()));
  return buf;
}

const char* StatusName(StatusCode c) { return StatusCodeName(c); }

StatusCode StatusCodeFromName(const std::string& name) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kDeadlineExceeded); ++c) {
    if (name == StatusCodeName(static_cast<StatusCode>(c))) return static_cast<StatusCode>(c);
  }
  return StatusCode::kInternal;
}

json ErrorJson(const Status& st) { return {{"error", {{"code", StatusName(st.code())}, {"message", st.message()}}}}; }

// The applied sequence of a replica, in its own small file (written atomically).
Status WriteApplied(const std::string& path, uint64_t seq) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot write " + tmp);
  const std::string text = std::to_string(seq) + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return Status::IOError("cannot write " + path);
  return Status::OK();
}

uint64_t ReadApplied(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return 0;
  unsigned long long v = 0;
  if (std::fscanf(f, "%llu", &v) != 1) v = 0;
  std::fclose(f);
  return v;
}

// A small pool for the read RPCs (NATS delivers one subscription's messages on one thread).
class WorkerPool {
 public:
  explicit WorkerPool(size_t n) {
    for (size_t i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~WorkerPool() { StopAndJoin(); }
  void Submit(std::function<void()> f) {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    queue_.push_back(std::move(f));
    cv_.notify_one();
  }
  void StopAndJoin() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        f = std::move(queue_.front());
        queue_.pop_front();
      }
      f();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

// One shard replica held by this node.
struct Replica {
  std::string uid;
  uint32_t shard = 0;
  std::string stream, subject;
  CollectionConfig config;
  std::string applied_path;
  std::shared_ptr<Database> db;  // the collection's local database (shared by its shards)
  std::atomic<uint64_t> applied{0};
  std::atomic<uint64_t> saved{0};  // the applied sequence as its file holds it (durable)
  std::atomic<bool> ready{false};
  std::atomic<bool> stop{false};
  std::mutex mu;  // error
  std::string error;
  std::thread thread;
  // The collection's metadata as the bucket has it (Collection::SetMetadata of the local
  // collection follows it: SyncMetadata).
  std::mutex metadata_mu;
  json metadata = json::object();

  // How many points the deletes this replica applied lately removed, by sequence (the
  // coordinator's reply to a delete counts them: DeletedCount); the last kOutcomes only.
  static constexpr size_t kOutcomes = 4096;
  void RecordOutcome(uint64_t seq, size_t n) {
    std::lock_guard<std::mutex> l(mu);
    outcomes[seq] = n;
    if (outcomes.size() > kOutcomes) outcomes.erase(outcomes.begin());
  }
  std::optional<size_t> Outcome(uint64_t seq) {
    std::lock_guard<std::mutex> l(mu);
    auto it = outcomes.find(seq);
    if (it == outcomes.end()) return std::nullopt;
    return it->second;
  }

  // The local collection: replaced by a rebuild while readers may still hold the old one.
  std::shared_ptr<Collection> Col() {
    std::lock_guard<std::mutex> l(col_mu);
    return col;
  }
  void SetCol(std::shared_ptr<Collection> c) {
    std::lock_guard<std::mutex> l(col_mu);
    col = std::move(c);
  }

  void SetError(std::string e) {
    std::lock_guard<std::mutex> l(mu);
    error = std::move(e);
  }
  std::string Error() {
    std::lock_guard<std::mutex> l(mu);
    return error;
  }

 private:
  std::mutex col_mu;
  std::shared_ptr<Collection> col;
  std::map<uint64_t, size_t> outcomes;  // guarded by mu
};

std::string ReplicaKey(const std::string& uid, uint32_t shard) { return uid + "/" + std::to_string(shard); }

struct NodeInfo {
  std::string address;
  Clock::time_point last_seen{};
  Clock::time_point alive_since{};  // the first heartbeat after a silence (or ever)
  bool seen = false;
  uint64_t revision = 0;  // of its heartbeat: a new one means it is alive now
  json applied = json::object();
  json saved = json::object();  // durable applied sequences (what compaction may purge up to)
  json errors = json::object();
};

// What a scattered call to one shard gives: a result, or the reply that ends the request.
struct ShardOutcome {
  bool ok = false;
  json result;
  Reply error;
};

}  // namespace

struct ClusterNode::Impl {
  ClusterOptions opt;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  kvStore* meta_kv = nullptr;
  kvStore* live_kv = nullptr;
  natsSubscription* rpc_sub = nullptr;
  std::unique_ptr<WorkerPool> pool;

  std::atomic<bool> stopping{false};
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  std::vector<std::thread> threads;

  mutable std::mutex mu;  // everything below
  std::map<std::string, CollectionMeta> metas;          // by CollectionKey
  std::map<std::string, CollectionConfig> configs;      // by uid: parsed settings
  // By uid, for collections with an embedding model: the model this node embeds documents and
  // query texts with when it coordinates (replicas never embed); opened at first use.
  std::map<std::string, std::shared_ptr<const engine::CollectionEmbedder>> embedders;
  std::map<std::string, std::string> registered;        // node -> address (meta bucket)
  // Tenants and databases created through the cluster (default/default is implicit).
  std::set<std::string> tenants;
  std::set<std::pair<std::string, std::string>> tenant_databases;
  std::map<std::string, NodeInfo> nodes;                // node -> heartbeat (live bucket)
  std::map<std::string, std::shared_ptr<Replica>> replicas;  // ReplicaKey -> replica
  std::map<std::string, std::weak_ptr<Database>> databases;  // uid -> open local database
  std::string leader;
  bool meta_synced = false;
  bool cleaned_at_start = false;  // Reconcile: meta watcher thread only
  Clock::time_point started = Clock::now();

  // API keys: the bucket's (keys.ID), mirrored into the server's KeyStore once attached.
  std::mutex keys_mu;  // the three below; taken before `mu` when both are
  std::map<std::string, server::KeyRecord> bucket_keys;
  std::shared_ptr<server::KeyStore> key_store;
  std::shared_ptr<server::KeyReplicator> key_replicator;

  uint64_t leader_rev = 0;  // heartbeat thread only
  std::atomic<uint64_t> rr{0};

  // ---------------------------------------------------------------------------------------
  // Setup

  Status Connect() {
    natsOptions* o = nullptr;
    if (natsOptions_Create(&o) != NATS_OK) return Status::Internal("natsOptions_Create failed");
    std::vector<const char*> urls;
    for (const auto& u : opt.nats_urls) urls.push_back(u.c_str());
    natsStatus s = natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size()));
    if (s == NATS_OK) s = natsOptions_SetName(o, ("sextant-" + opt.node_id).c_str());
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 100);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, 2000);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(o, 1000);
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(o, 3);
    if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(o, 64 << 20);
    std::string list;
    for (const auto& u : opt.nats_urls) list += (list.empty() ? "" : ",") + u;
    // The NATS servers may be starting too: retried for up to connect_timeout_ms.
    const auto deadline = Clock::now() + std::chrono::milliseconds(opt.connect_timeout_ms);
    if (s == NATS_OK) {
      bool told = false;
      while ((s = natsConnection_Connect(&nc, o)) == NATS_NO_SERVER && Clock::now() < deadline &&
             !stopping) {
        TellWaiting(&told, "no NATS server answers at " + list + " (" + natsStatus_GetText(s) + ")");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    natsOptions_Destroy(o);
    if (s != NATS_OK) return NatsError(s, "cannot connect to " + list);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    s = natsConnection_JetStream(&js, nc, &jo);
    if (s != NATS_OK) return NatsError(s, "JetStream context");
    return Status::OK();
  }

  // Tells opt.on_wait, the first time only (*told), why Start is waiting.
  void TellWaiting(bool* told, const std::string& why) const {
    if (*told || !opt.on_wait) return;
    *told = true;
    opt.on_wait(why + "; retrying for up to " + std::to_string(opt.connect_timeout_ms / 1000) + " s");
  }

  // Opens a bucket, creating it when missing. JetStream may still be electing its leaders
  // right after the NATS servers start: retried for up to connect_timeout_ms.
  Status OpenBucket(const char* name, int64_t ttl_ms, kvStore** out) {
    Status last;
    const auto deadline = Clock::now() + std::chrono::milliseconds(opt.connect_timeout_ms);
    bool told = false;
    while (Clock::now() < deadline && !stopping) {
      if (!last.ok()) TellWaiting(&told, "JetStream: " + last.message());
      natsStatus s = js_KeyValue(out, js, name);
      if (s == NATS_OK) return Status::OK();
      kvConfig c;
      kvConfig_Init(&c);
      c.Bucket = name;
      c.History = 1;
      c.Replicas = opt.stream_replicas;
      c.TTL = ttl_ms * 1000000;  // nanoseconds (the client passes it on as the stream's MaxAge)
      c.StorageType = ttl_ms > 0 ? js_MemoryStorage : js_FileStorage;
      s = js_CreateKeyValue(out, js, &c);
      if (s == NATS_OK) return Status::OK();
      last = NatsError(s, std::string("bucket ") + name);
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return last.ok() ? Status::IOError("stopped") : last;
  }

  Status Init() {
    SEXTANT_RETURN_IF_ERROR(Connect());
    if (opt.stream_replicas == 0) {
      // 3 when the NATS cluster has three or more servers: those given, or those the server we
      // reached knows of (its routes may still be forming: give every URL, or the flag, to be
      // sure); else as many as there are.
      char** servers = nullptr;
      int discovered = 0;
      if (natsConnection_GetDiscoveredServers(nc, &servers, &discovered) == NATS_OK) {
        for (int i = 0; i < discovered; ++i) free(servers[i]);
        free(servers);
      }
      const int known = std::max(static_cast<int>(opt.nats_urls.size()), 1 + discovered);
      opt.stream_replicas = known >= 3 ? 3 : known;
    }
    SEXTANT_RETURN_IF_ERROR(OpenBucket(kMetaBucket, 0, &meta_kv));
    SEXTANT_RETURN_IF_ERROR(OpenBucket(kLiveBucket, std::max(opt.node_timeout_ms, 2000), &live_kv));
    const json reg = {{"node", opt.node_id}, {"address", opt.advertise}};
    const std::string v = reg.dump();
    // A new JetStream cluster may still be electing the bucket's leader: retried for up to 30 s.
    natsStatus s = NATS_OK;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while ((s = kvStore_Put(nullptr, meta_kv, ("nodes." + opt.node_id).c_str(), v.data(),
                            static_cast<int>(v.size()))) != NATS_OK &&
           Clock::now() < deadline && !stopping) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (s != NATS_OK) return NatsError(s, "registering the node");
    for (const char* dir : {"/outgoing", "/incoming"}) {  // snapshots in flight when the node stopped
      std::error_code ec;
      std::filesystem::remove_all(opt.data_dir + dir, ec);
    }
    pool = std::make_unique<WorkerPool>(8);
    s = natsConnection_Subscribe(&rpc_sub, nc, ("sextant.rpc." + opt.node_id).c_str(), &Impl::OnRpc, this);
    if (s != NATS_OK) return NatsError(s, "subscribing to the node's requests");
    (void)natsSubscription_SetPendingLimits(rpc_sub, -1, -1);
    Heartbeat();  // so that peers see this node before its first request
    threads.emplace_back([this] { MetaWatchLoop(); });
    threads.emplace_back([this] { HeartbeatLoop(); });
    // Wait (briefly) for the metadata, so that the first requests see the collections.
    const auto synced_by = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < synced_by) {
      {
        std::lock_guard<std::mutex> l(mu);
        if (meta_synced) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return Status::OK();
  }

  void Shutdown() {
    if (stopping.exchange(true)) return;
    {
      std::lock_guard<std::mutex> l(keys_mu);
      // Keys created through the server from now on are refused, not kept on this node alone.
      if (key_replicator) static_cast<BucketKeys*>(key_replicator.get())->Detach();
    }
    stop_cv.notify_all();
    if (rpc_sub) natsSubscription_Unsubscribe(rpc_sub);
    // NATS gone (the client reconnecting): every thread's pending call would wait out its
    // timeout (JetStream's 5 s, one after another: 12 s to stop); closed, they fail at once.
    // With NATS there, the threads finish their calls first, as before.
    if (nc && natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED) natsConnection_Close(nc);
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
    threads.clear();
    if (pool) pool->StopAndJoin();
    std::vector<std::shared_ptr<Replica>> all;
    {
      std::lock_guard<std::mutex> l(mu);
      for (auto& [k, r] : replicas) all.push_back(r);
      replicas.clear();
    }
    for (auto& r : all) StopReplica(r);
    if (rpc_sub) natsSubscription_Destroy(rpc_sub);
    if (meta_kv) kvStore_Destroy(meta_kv);
    if (live_kv) kvStore_Destroy(live_kv);
    if (js) jsCtx_Destroy(js);
    if (nc) {
      natsConnection_Close(nc);
      natsConnection_Destroy(nc);
    }
    rpc_sub = nullptr;
    meta_kv = live_kv = nullptr;
    js = nullptr;
    nc = nullptr;
  }

  bool SleepFor(int ms) {
    std::unique_lock<std::mutex> l(stop_mu);
    stop_cv.wait_for(l, std::chrono::milliseconds(ms), [&] { return stopping.load(); });
    return !stopping;
  }

  // ---------------------------------------------------------------------------------------
  // Membership, heartbeats, leadership

  void Heartbeat() {
    json applied = json::object(), saved = json::object(), errors = json::object();
    {
      std::lock_guard<std::mutex> l(mu);
      for (auto& [key, r] : replicas) {
        if (r->ready) {
          applied[key] = r->applied.load();
          saved[key] = r->saved.load();
        }
        std::string e = r->Error();
        if (!e.empty()) errors[key] = e;
      }
    }
    const json hb = {{"node", opt.node_id}, {"address", opt.advertise}, {"applied", applied},
                     {"saved", saved}, {"errors", errors}};
    const std::string v = hb.dump();
    (void)kvStore_Put(nullptr, live_kv, ("nodes." + opt.node_id).c_str(), v.data(), static_cast<int>(v.size()));
  }

  void HeartbeatLoop() {
    // Heartbeats every heartbeat_ms; others' read twice as often.
    for (int tick = 0; SleepFor(opt.heartbeat_ms / 2); ++tick) {
      PollHeartbeats();
      if (tick % 2 == 1) {
        Heartbeat();
        LeaderTick();
      }
      if (tick % 40 == 0) SweepOutgoing();
    }
  }

  // Leadership: the key "leader" of the live bucket (its values expire), created by whoever
  // finds it absent and kept by its holder with compare-and-set on its revision.
  void LeaderTick() {
    const std::string& me = opt.node_id;
    uint64_t rev = 0;
    natsStatus s;
    if (leader_rev == 0) {
      s = kvStore_Create(&rev, live_kv, "leader", me.data(), static_cast<int>(me.size()));
    } else {
      s = kvStore_Update(&rev, live_kv, "leader", me.data(), static_cast<int>(me.size()), leader_rev);
    }
    leader_rev = s == NATS_OK ? rev : 0;
    std::string current;
    if (leader_rev != 0) {
      current = me;
    } else {
      kvEntry* e = nullptr;
      if (kvStore_Get(&e, live_kv, "leader") == NATS_OK && e) {
        current = kvEntry_ValueString(e);
        kvEntry_Destroy(e);
      }
    }
    {
      std::lock_guard<std::mutex> l(mu);
      leader = current;
    }
    if (leader_rev != 0) {
      RepairShardMaps();
      CompactStreams();
    }
  }

  // The leader's compaction: each shard's stream keeps the last compact_messages records that
  // every live replica of it has durably applied (all of them must report a position) and
  // everything after them; the records before go once they are at least compact_messages. A
  // replica on a node that is down meanwhile may be left behind; it is rebuilt from another
  // replica's snapshot when it comes back (Rebuild).
  void CompactStreams() {
    if (opt.compact_messages == 0) return;
    std::vector<std::pair<std::string, uint64_t>> candidates;  // stream, sequence applied everywhere
    {
      std::lock_guard<std::mutex> l(mu);
      const auto now = Clock::now();
      for (const auto& [k, m] : metas) {
        for (uint32_t shard = 0; shard < m.replicas.size(); ++shard) {
          const std::string key = ReplicaKey(m.uid, shard);
          std::optional<uint64_t> low;
          bool complete = true;
          for (const std::string& n : m.replicas[shard]) {
            if (!IsAliveLocked(n, now)) continue;
            std::optional<uint64_t> saved;
            if (n == opt.node_id) {
              auto it = replicas.find(key);
              if (it != replicas.end() && it->second->ready) saved = it->second->saved.load();
            } else {
              auto it = nodes.find(n);
              if (it != nodes.end() && it->second.saved.contains(key) && it->second.saved[key].is_number_unsigned()) {
                saved = it->second.saved[key].get<uint64_t>();
              }
            }
            if (!saved) {
              complete = false;
              break;
            }
            low = std::min(low.value_or(*saved), *saved);
          }
          if (complete && low && *low > 0) candidates.emplace_back(StreamName(m.uid, shard), *low);
        }
      }
    }
    for (const auto& [stream, low] : candidates) {
      // The stream's first sequence as last seen (only purges move it): asked of JetStream only
      // when a purge may be due, not every tick for every shard.
      // The last compact_messages records applied everywhere stay (a node down for fewer
      // records than that resumes from the stream); what is before them goes once that is at
      // least compact_messages records.
      if (low + 1 < 2 * opt.compact_messages) continue;
      const uint64_t upto = low + 1 - opt.compact_messages;  // purged: sequences below it
      auto known = stream_first.find(stream);
      if (known != stream_first.end() && (upto <= known->second || upto - known->second < opt.compact_messages)) {
        continue;
      }
      auto first = FirstSequence(stream);
      if (!first.ok()) continue;
      stream_first[stream] = std::max<uint64_t>(*first, 1);
      if (upto <= stream_first[stream] || upto - stream_first[stream] < opt.compact_messages) continue;
      jsOptions o;
      jsOptions_Init(&o);
      o.Stream.Purge.Sequence = upto;  // up to, not including
      jsErrCode jerr = static_cast<jsErrCode>(0);
      if (js_PurgeStream(js, stream.c_str(), &o, &jerr) == NATS_OK) stream_first[stream] = upto;
    }
  }
  std::map<std::string, uint64_t> stream_first;  // CompactStreams (heartbeat thread) only

  // The leader's job: shard replicas on nodes gone for longer than the reassignment timeout
  // move to live nodes (and shards short of replicas get more), with compare-and-set.
  void RepairShardMaps() {
    std::vector<CollectionMeta> all;
    std::vector<std::string> live;
    std::set<std::string> gone;
    std::map<std::string, size_t> load;
    {
      std::lock_guard<std::mutex> l(mu);
      const auto now = Clock::now();
      // A node never heard from since this node started counts from then.
      for (const auto& [id, addr] : registered) {
        if (id == opt.node_id) {  // this node: alive by definition
          live.push_back(id);
          continue;
        }
        auto it = nodes.find(id);
        const Clock::time_point last = it != nodes.end() && it->second.seen ? it->second.last_seen : started;
        const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - last).count();
        if (silent < opt.node_timeout_ms) live.push_back(id);
        if (silent > opt.reassign_timeout_ms) gone.insert(id);
      }
      for (const auto& [k, m] : metas) {
        all.push_back(m);
        for (const auto& shard : m.replicas) {
          for (const auto& n : shard) ++load[n];
        }
      }
    }
    bool repaired_any = false;
    for (const CollectionMeta& m : all) {
      auto repaired = RepairReplicas(m, live, gone, load);
      if (!repaired) continue;
      repaired_any = true;
      CollectionMeta next = m;
      next.replicas = *repaired;
      const std::string v = MetaToJson(next).dump();
      uint64_t rev = 0;
      (void)kvStore_Update(&rev, meta_kv, CollectionKey(m.tenant, m.database, m.name).c_str(), v.data(),
                           static_cast<int>(v.size()), m.revision);
    }
    if (!repaired_any) Rebalance(all);
  }

  // This node's or a peer's applied sequence of replica `key` (nullopt: none reported).
  std::optional<uint64_t> AppliedLocked(const std::string& node, const std::string& key) {
    if (node == opt.node_id) {
      auto it = replicas.find(key);
      if (it == replicas.end() || !it->second->ready) return std::nullopt;
      return it->second->applied.load();
    }
    auto it = nodes.find(node);
    if (it == nodes.end() || !it->second.applied.contains(key) || !it->second.applied[key].is_number_unsigned()) {
      return std::nullopt;
    }
    return it->second.applied[key].get<uint64_t>();
  }

  // The leader's rebalancing, one step per tick (shard_map.h: PlanRebalance, FinishMove): a
  // shard with one replica too many loses the most-loaded node's once the newest has caught up
  // with the others; else one replica is added on the least-loaded node. Only nodes alive for
  // longer than the reassignment timeout get replicas (a node that has just come back may be
  // gone again); a new replica builds itself from the stream, or from a snapshot of another
  // replica when the stream has been compacted.
  void Rebalance(const std::vector<CollectionMeta>& all) {
    std::vector<std::string> settled;
    std::map<std::string, size_t> load;
    std::vector<std::pair<const CollectionMeta*, uint32_t>> finishing;
    {
      std::lock_guard<std::mutex> l(mu);
      const auto now = Clock::now();
      const auto settle = std::chrono::milliseconds(opt.reassign_timeout_ms);
      for (const auto& [id, addr] : registered) {
        if (id == opt.node_id) {
          if (now - started >= settle) settled.push_back(id);
          continue;
        }
        auto it = nodes.find(id);
        if (it != nodes.end() && IsAliveLocked(id, now) && now - it->second.alive_since >= settle) settled.push_back(id);
      }
      for (const CollectionMeta& m : all) {
        for (uint32_t s = 0; s < m.replicas.size(); ++s) {
          for (const auto& n : m.replicas[s]) ++load[n];
          if (m.replicas[s].size() <= m.replication_factor) continue;
          const std::string key = ReplicaKey(m.uid, s);
          auto newest = AppliedLocked(m.replicas[s].back(), key);
          std::optional<uint64_t> others;
          for (size_t i = 0; i + 1 < m.replicas[s].size(); ++i) {
            auto a = AppliedLocked(m.replicas[s][i], key);
            if (a && IsAliveLocked(m.replicas[s][i], now)) others = std::min(others.value_or(*a), *a);
          }
          if (newest && others && *newest >= *others) finishing.emplace_back(&m, s);
        }
      }
    }
    for (const auto& [m, shard] : finishing) {
      const std::vector<std::string> before = m->replicas[shard];
      auto next = FinishMove(before, m->replication_factor, load);
      if (!next) continue;
      (void)UpdateCollection(m->tenant, m->database, m->name, [&](CollectionMeta& cur) -> Status {
        if (cur.uid != m->uid || shard >= cur.replicas.size() || cur.replicas[shard] != before) {
          return Status::FailedPrecondition("the shard map changed meanwhile");
        }
        cur.replicas[shard] = *next;
        return Status::OK();
      });
    }
    if (!finishing.empty()) return;
    auto move = PlanRebalance(all, settled);
    if (!move) return;
    for (const CollectionMeta& m : all) {
      if (CollectionKey(m.tenant, m.database, m.name) != move->collection) continue;
      const std::vector<std::string> before = m.replicas[move->shard];
      (void)UpdateCollection(m.tenant, m.database, m.name, [&](CollectionMeta& cur) -> Status {
        if (cur.uid != m.uid || move->shard >= cur.replicas.size() || cur.replicas[move->shard] != before) {
          return Status::FailedPrecondition("the shard map changed meanwhile");
        }
        cur.replicas[move->shard].push_back(move->to);
        return Status::OK();
      });
    }
  }

  std::vector<std::string> LiveNodesLocked() const {
    std::vector<std::string> out;
    const auto now = Clock::now();
    for (const auto& [id, info] : nodes) {
      if (IsAliveLocked(id, now)) out.push_back(id);
    }
    if (std::find(out.begin(), out.end(), opt.node_id) == out.end()) out.push_back(opt.node_id);
    std::sort(out.begin(), out.end());
    return out;
  }

  bool IsAliveLocked(const std::string& id, Clock::time_point now) const {
    if (id == opt.node_id) return true;
    auto it = nodes.find(id);
    if (it == nodes.end() || !it->second.seen) return false;
    return now - it->second.last_seen < std::chrono::milliseconds(opt.node_timeout_ms);
  }

  // ---------------------------------------------------------------------------------------
  // Watchers

  // Other nodes' heartbeats, read each tick (a watcher's consumer can stall silently while NATS
  // servers fail over; a read cannot). A heartbeat whose revision moved since the last read
  // means its node is alive now: no clocks are compared between machines.
  void PollHeartbeats() {
    std::vector<std::string> ids;
    {
      std::lock_guard<std::mutex> l(mu);
      for (const auto& [id, addr] : registered) {
        if (id != opt.node_id) ids.push_back(id);
      }
    }
    for (const std::string& id : ids) {
      kvEntry* e = nullptr;
      if (kvStore_Get(&e, live_kv, ("nodes." + id).c_str()) != NATS_OK || !e) continue;
      const uint64_t rev = kvEntry_Revision(e);
      json hb = json::parse(std::string(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e)), nullptr, false);
      kvEntry_Destroy(e);
      std::lock_guard<std::mutex> l(mu);
      NodeInfo& info = nodes[id];
      if (rev == info.revision) continue;
      const bool first = info.revision == 0;
      info.revision = rev;
      // The first read may be an old value of a node that is gone: alive from the next change.
      if (!first) {
        const auto now = Clock::now();
        if (!info.seen || now - info.last_seen >= std::chrono::milliseconds(opt.node_timeout_ms)) info.alive_since = now;
        info.last_seen = now;
        info.seen = true;
      }
      if (hb.is_object()) {  // values of another shape (not written by a node) are ignored
        if (hb.contains("address") && hb["address"].is_string()) info.address = hb["address"];
        if (hb.contains("applied") && hb["applied"].is_object()) info.applied = hb["applied"];
        if (hb.contains("saved") && hb["saved"].is_object()) info.saved = hb["saved"];
        if (hb.contains("errors") && hb["errors"].is_object()) info.errors = hb["errors"];
      }
    }
  }

  // The metadata bucket, watched. A new watcher replays every value into a fresh copy that
  // replaces the old one when the replay ends; the watcher is renewed every 10 s, because its
  // consumer can stall silently while NATS servers fail over.
  void MetaWatchLoop() {
    while (!stopping) {
      kvWatcher* w = nullptr;
      if (kvStore_WatchAll(&w, meta_kv, nullptr) != NATS_OK) {
        SleepFor(200);
        continue;
      }
      const auto renew_at = Clock::now() + std::chrono::seconds(10);
      std::map<std::string, CollectionMeta> fresh_metas;
      std::map<std::string, std::string> fresh_registered;
      std::set<std::string> fresh_tenants;
      std::set<std::pair<std::string, std::string>> fresh_databases;
      std::map<std::string, server::KeyRecord> fresh_keys;
      bool synced = false;
      while (!stopping && (!synced || Clock::now() < renew_at)) {
        kvEntry* e = nullptr;
        natsStatus s = kvWatcher_Next(&e, w, 200);
        if (s == NATS_TIMEOUT) continue;
        if (s != NATS_OK) break;
        if (!e) {
          synced = true;
          {
            std::lock_guard<std::mutex> l(mu);
            metas = std::move(fresh_metas);
            registered = std::move(fresh_registered);
            tenants = std::move(fresh_tenants);
            tenant_databases = std::move(fresh_databases);
          }
          SetKeys(std::move(fresh_keys));
          Reconcile();
          {
            // Init waits for this: the first requests come after the replicas were started and
            // stale files removed.
            std::lock_guard<std::mutex> l(mu);
            meta_synced = true;
          }
          continue;
        }
        const std::string key = kvEntry_Key(e);
        const bool put = kvEntry_Operation(e) == kvOp_Put;
        const std::string value(static_cast<const char*>(kvEntry_Value(e)), put ? kvEntry_ValueLen(e) : 0);
        const uint64_t rev = kvEntry_Revision(e);
        kvEntry_Destroy(e);
        {
          std::lock_guard<std::mutex> l(mu);
          auto& m_out = synced ? metas : fresh_metas;
          auto& r_out = synced ? registered : fresh_registered;
          if (key.rfind("collections.", 0) == 0) {
            if (!put) {
              if (auto it = m_out.find(key); it != m_out.end()) embedders.erase(it->second.uid);
              m_out.erase(key);
            } else {
              auto m = MetaFromJson(json::parse(value, nullptr, false));
              if (m.ok()) {
                m->revision = rev;
                // Settings are fixed at creation but for the metadata (PATCH): read again.
                auto c = codec::CollectionConfigFromStoredJson(m->config);
                if (c.ok()) configs[m->uid] = *c;
                m_out[key] = std::move(*m);
              }
            }
          } else if (key.rfind("nodes.", 0) == 0) {
            const std::string node = key.substr(6);
            if (put) {
              json reg = json::parse(value, nullptr, false);
              r_out[node] = reg.is_object() && reg.contains("address") && reg["address"].is_string()
                                ? reg["address"].get<std::string>()
                                : "";
            } else {
              r_out.erase(node);
            }
          } else if (key.rfind("tenants.", 0) == 0) {
            auto& t_out = synced ? tenants : fresh_tenants;
            if (put) {
              t_out.insert(key.substr(8));
            } else {
              t_out.erase(key.substr(8));
            }
          } else if (key.rfind("databases.", 0) == 0) {
            auto& d_out = synced ? tenant_databases : fresh_databases;
            const size_t dot = key.find('.', 10);
            if (dot != std::string::npos) {
              const std::pair<std::string, std::string> td{key.substr(10, dot - 10), key.substr(dot + 1)};
              if (put) {
                d_out.insert(td);
              } else {
                d_out.erase(td);
              }
            }
          }
        }
        if (key.rfind("keys.", 0) == 0) {
          std::optional<server::KeyRecord> record;
          if (put) {
            auto r = server::KeyRecordFromJson(json::parse(value, nullptr, false));
            if (r.ok()) record = std::move(*r);  // values of another shape are skipped
          }
          if (synced) {
            ChangeKey(key.substr(5), record);
          } else if (record) {
            fresh_keys[key.substr(5)] = std::move(*record);
          } else {
            fresh_keys.erase(key.substr(5));
          }
        }
        if (synced) Reconcile();
      }
      kvWatcher_Destroy(w);
      if (!synced) SleepFor(100);
    }
  }

  // ---------------------------------------------------------------------------------------
  // API keys: the bucket's, mirrored into the server's KeyStore (which authenticates).

  // The bucket's whole set of keys (after a full read of the bucket).
  void SetKeys(std::map<std::string, server::KeyRecord> all) {
    std::lock_guard<std::mutex> l(keys_mu);
    bucket_keys = std::move(all);
    PushKeysLocked();
  }

  // One key added (record) or revoked (nullopt) in the bucket.
  void ChangeKey(const std::string& id, const std::optional<server::KeyRecord>& record) {
    std::lock_guard<std::mutex> l(keys_mu);
    if (record) {
      bucket_keys[id] = *record;
      if (key_store) (void)key_store->Put(*record);
    } else {
      bucket_keys.erase(id);
      if (key_store) (void)key_store->Erase(id);
    }
  }

  void PushKeysLocked() {
    if (!key_store) return;
    std::vector<server::KeyRecord> records;
    for (const auto& [id, r] : bucket_keys) records.push_back(r);
    (void)key_store->Replace(records);  // a failed save leaves the node's file behind, not its keys
  }

  // Creates and revokes keys in the bucket (kvStore_Create: an id is never taken twice).
  class BucketKeys final : public server::KeyReplicator {
   public:
    explicit BucketKeys(Impl* impl) : impl_(impl) {}
    void Detach() {
      std::lock_guard<std::mutex> l(mu_);
      impl_ = nullptr;
    }
    Status Created(const server::KeyRecord& record) override {
      std::lock_guard<std::mutex> l(mu_);
      if (!impl_) return Status::IOError("the cluster node has stopped");
      const std::string key = "keys." + record.id, v = server::KeyRecordToJson(record).dump();
      natsStatus s = kvStore_Create(nullptr, impl_->meta_kv, key.c_str(), v.data(), static_cast<int>(v.size()));
      if (s != NATS_OK) return NatsError(s, "storing key " + record.id + " in the cluster");
      return Status::OK();
    }
    Status Revoked(const std::string& id) override {
      std::lock_guard<std::mutex> l(mu_);
      if (!impl_) return Status::IOError("the cluster node has stopped");
      const std::string key = "keys." + id;
      kvEntry* e = nullptr;
      natsStatus s = kvStore_Get(&e, impl_->meta_kv, key.c_str());
      if (e) kvEntry_Destroy(e);
      if (s == NATS_NOT_FOUND) return Status::NotFound("no key with id '" + id + "'");
      if (s == NATS_OK) s = kvStore_Delete(impl_->meta_kv, key.c_str());
      if (s != NATS_OK) return NatsError(s, "revoking key " + id + " in the cluster");
      return Status::OK();
    }

   private:
    std::mutex mu_;
    Impl* impl_;
  };

  void AttachKeyStore(std::shared_ptr<server::KeyStore> keys) {
    std::lock_guard<std::mutex> l(keys_mu);
    key_store = std::move(keys);
    if (!key_replicator) key_replicator = std::make_shared<BucketKeys>(this);
    key_store->SetReplicator(key_replicator);
    PushKeysLocked();
  }

  // ---------------------------------------------------------------------------------------
  // Replicas

  // Starts an applier for each shard replica the shard map gives this node, stops those it no
  // longer gives it, and removes the local data of replicas that are gone for good.
  void Reconcile() {
    std::vector<std::shared_ptr<Replica>> to_stop, to_start, to_sync;
    std::set<std::string> live_uids;
    {
      std::lock_guard<std::mutex> l(mu);
      std::map<std::string, std::pair<const CollectionMeta*, uint32_t>> wanted;
      for (const auto& [k, m] : metas) {
        live_uids.insert(m.uid);
        for (uint32_t s = 0; s < m.replicas.size(); ++s) {
          const auto& shard = m.replicas[s];
          if (std::find(shard.begin(), shard.end(), opt.node_id) != shard.end()) {
            wanted[ReplicaKey(m.uid, s)] = {&m, s};
          }
        }
      }
      for (auto it = replicas.begin(); it != replicas.end();) {
        if (!wanted.count(it->first)) {
          to_stop.push_back(it->second);
          it = replicas.erase(it);
        } else {
          auto cfg = configs.find(it->second->uid);
          if (cfg != configs.end()) {
            std::lock_guard<std::mutex> ml(it->second->metadata_mu);
            if (it->second->metadata != cfg->second.metadata) {
              it->second->metadata = cfg->second.metadata;
              to_sync.push_back(it->second);
            }
          }
          ++it;
        }
      }
      for (const auto& [key, what] : wanted) {
        if (replicas.count(key)) continue;
        auto cfg = configs.find(what.first->uid);
        if (cfg == configs.end()) continue;
        auto r = std::make_shared<Replica>();
        r->uid = what.first->uid;
        r->shard = what.second;
        r->stream = StreamName(r->uid, r->shard);
        r->subject = StreamSubject(r->uid, r->shard);
        r->config = cfg->second;
        r->config.name = "s" + std::to_string(r->shard);
        // A replica applies vectors the coordinator embedded (the stream holds them) and is
        // queried with vectors: its local collection has no model, so it never embeds.
        r->config.embedding.reset();
        r->metadata = cfg->second.metadata;
        r->applied_path = opt.data_dir + "/applied/" + r->uid + "-" + std::to_string(r->shard);
        replicas[key] = r;
        to_start.push_back(r);
      }
    }
    for (auto& r : to_stop) {
      StopReplica(r);
      RemoveReplicaData(*r, !live_uids.count(r->uid));
    }
    if (!cleaned_at_start) {
      cleaned_at_start = true;
      RemoveStaleData(live_uids);
    }
    for (auto& r : to_start) {
      r->thread = std::thread([this, r] { RunApplier(r); });
    }
    for (auto& r : to_sync) SyncMetadata(*r);
  }

  // The local collection's metadata set to the bucket's: by the applier when it has opened the
  // replica (`opening`: the replica is then made ready, so a ready replica has the metadata the
  // bucket had when it opened), by Reconcile when the bucket's changes.
  void SyncMetadata(Replica& r, bool opening = false) {
    std::lock_guard<std::mutex> l(r.metadata_mu);
    auto col = r.Col();
    if ((opening || r.ready) && col && col->config().metadata != r.metadata) {
      if (Status st = col->SetMetadata(r.metadata); !st.ok()) {
        r.SetError("setting the collection's metadata: " + st.ToString());
      }
    }
    if (opening) r.ready = true;
  }

  // At start, after the first full read of the metadata: local replicas of shards this node no
  // longer holds (moved while it was away) and of collections dropped meanwhile are removed.
  void RemoveStaleData(const std::set<std::string>& live_uids) {
    std::set<std::string> held, held_uids;
    {
      std::lock_guard<std::mutex> l(mu);
      for (const auto& [key, r] : replicas) {
        held.insert(r->uid + "-" + std::to_string(r->shard));
        held_uids.insert(r->uid);
      }
    }
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(opt.data_dir + "/applied", ec)) {
      const std::string name = f.path().filename().string();
      const size_t dash = name.rfind('-');
      if (dash == std::string::npos || held.count(name) || name.ends_with(".tmp")) continue;
      const std::string uid = name.substr(0, dash);
      std::error_code ec2;
      std::filesystem::remove(f.path(), ec2);
      std::filesystem::remove_all(opt.data_dir + "/collections/" + uid + "/collections/s" + name.substr(dash + 1), ec2);
    }
    for (const auto& d : std::filesystem::directory_iterator(opt.data_dir + "/collections", ec)) {
      const std::string uid = d.path().filename().string();
      if (!live_uids.count(uid) || !held_uids.count(uid)) {  // no replica of it here: no database open
        std::error_code ec2;
        std::filesystem::remove_all(d.path(), ec2);
      }
    }
  }

  void StopReplica(const std::shared_ptr<Replica>& r) {
    r->stop = true;
    if (r->thread.joinable()) r->thread.join();
    r->SetCol(nullptr);
    r->db.reset();
  }

  // A replica this node no longer holds: its local collection (and with the whole collection
  // dropped, its local database) goes. Shared databases close with their last replica.
  void RemoveReplicaData(Replica& r, bool collection_dropped) {
    std::error_code ec;
    std::filesystem::remove(r.applied_path, ec);
    std::shared_ptr<Database> db;
    {
      std::lock_guard<std::mutex> l(mu);
      db = databases[r.uid].lock();
    }
    if (db) {
      (void)db->DropCollection(r.config.name);
    } else {
      std::filesystem::remove_all(opt.data_dir + "/collections/" + r.uid + "/collections/" + r.config.name, ec);
    }
    if (collection_dropped && !db) std::filesystem::remove_all(opt.data_dir + "/collections/" + r.uid, ec);
  }

  Result<std::shared_ptr<Database>> LocalDatabase(const std::string& uid) {
    std::lock_guard<std::mutex> l(mu);
    if (auto db = databases[uid].lock()) return db;
    std::error_code ec;
    std::filesystem::create_directories(opt.data_dir + "/collections", ec);
    SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(opt.data_dir + "/collections/" + uid));
    std::shared_ptr<Database> shared(std::move(db));
    databases[uid] = shared;
    return shared;
  }

  Status OpenReplica(Replica& r) {
    SEXTANT_ASSIGN_OR_RETURN(r.db, LocalDatabase(r.uid));
    auto col = r.db->GetCollection(r.config.name);
    if (!col.ok() && col.status().code() == StatusCode::kNotFound) col = r.db->CreateCollection(r.config);
    if (!col.ok()) return col.status();
    r.SetCol(*col);
    std::error_code ec;
    std::filesystem::create_directories(opt.data_dir + "/applied", ec);
    r.applied = ReadApplied(r.applied_path);
    r.saved = r.applied.load();
    return Status::OK();
  }

  // ---------------------------------------------------------------------------------------
  // Rebuilding a replica from another replica's snapshot

  // The stream no longer holds what the replica needs (compacted past its position, or a gap):
  // it is replaced by a snapshot of another live replica of the shard, taken at that replica's
  // applied sequence S, and resumes from S + 1 (records after S that the snapshot already
  // holds are applied again, which is harmless: replays in order are idempotent). The replica
  // serves no reads meanwhile.
  Status Rebuild(Replica& r, uint64_t first_seq) {
    r.ready = false;
    std::vector<std::string> sources;
    {
      std::lock_guard<std::mutex> l(mu);
      const auto now = Clock::now();
      for (const auto& [k, m] : metas) {
        if (m.uid != r.uid || r.shard >= m.replicas.size()) continue;
        for (const std::string& n : m.replicas[r.shard]) {
          if (n != opt.node_id && IsAliveLocked(n, now)) sources.push_back(n);
        }
      }
    }
    Status last = Status::FailedPrecondition("no other live replica of shard " + std::to_string(r.shard) +
                                             " to rebuild from");
    for (const std::string& node : sources) {
      const std::string dest = opt.data_dir + "/incoming/" + r.uid + "-" + std::to_string(r.shard);
      std::error_code ec;
      std::filesystem::remove_all(dest, ec);
      std::filesystem::create_directories(opt.data_dir + "/incoming", ec);
      auto fetched = FetchSnapshot(node, r.uid, r.shard, dest, first_seq, [&] { return r.stop || stopping; });
      if (!fetched.ok()) {
        last = fetched.status();
        continue;
      }
      const uint64_t seq = *fetched;
      // The old local collection goes, the snapshot takes its name; then the applied file.
      r.SetCol(nullptr);
      Status dropped = r.db->DropCollection(r.config.name);
      if (!dropped.ok() && dropped.code() != StatusCode::kNotFound) return dropped;
      auto col = r.db->RestoreSnapshot(dest, r.config.name);
      std::filesystem::remove_all(dest, ec);
      if (!col.ok()) return col.status();
      r.SetCol(*col);
      r.applied = seq;
      SEXTANT_RETURN_IF_ERROR(WriteApplied(r.applied_path, seq));
      r.saved = seq;
      SyncMetadata(r, /*opening=*/true);  // ready again
      return Status::OK();
    }
    return last;
  }

  // A snapshot of `node`'s replica of the shard copied into `dest` (which must not exist); the
  // replica's applied sequence when it was taken. FailedPrecondition when that replica has not
  // applied up to `first_seq` - 1 (it is behind the stream too).
  Result<uint64_t> FetchSnapshot(const std::string& node, const std::string& uid, uint32_t shard,
                                 const std::string& dest, uint64_t first_seq, const std::function<bool()>& cancelled) {
    const json where = {{"uid", uid}, {"shard", shard}};
    json ask = where;
    ask["op"] = "snapshot";
    SEXTANT_ASSIGN_OR_RETURN(json taken, RequestNode(node, ask, 60000));
    const uint64_t seq = taken.value("applied", uint64_t{0});
    json done = where;
    done["op"] = "snapshot_done";
    done["id"] = taken.value("id", "");
    auto files = SnapshotFilesFromJson(taken.value("files", json()));
    Status st = !files.ok()            ? files.status()
                : seq + 1 < first_seq ? Status::FailedPrecondition(node + "'s replica is behind the stream too")
                                      : Status::OK();
    if (st.ok()) {
      st = DownloadSnapshot(*files, dest, [&](const std::string& name, uint64_t offset, size_t length) {
        if (cancelled()) return Result<std::string>(Status::IOError("stopping"));
        json chunk = done;
        chunk["op"] = "snapshot_read";
        chunk["name"] = name;
        chunk["offset"] = offset;
        chunk["length"] = length;
        return RequestChunk(node, chunk);
      });
    }
    (void)RequestNode(node, done, 2000);
    if (!st.ok()) return st;
    return seq;
  }

  // The first sequence the shard's stream still holds (0 for a stream that never had one).
  Result<uint64_t> FirstSequence(const std::string& stream) {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js, stream.c_str(), nullptr, &jerr);
    if (s != NATS_OK) return NatsError(s, "reading the state of " + stream, jerr);
    const uint64_t first = si->State.FirstSeq;
    jsStreamInfo_Destroy(si);
    return first;
  }

  // Snapshots this node's replicas give to others (Rebuild), by id; swept after 10 minutes.
  struct Outgoing {
    std::string dir;
    Clock::time_point created;
  };
  std::mutex outgoing_mu;
  std::map<std::string, Outgoing> outgoing;

  void SweepOutgoing() {
    std::vector<std::string> old;
    {
      std::lock_guard<std::mutex> l(outgoing_mu);
      for (auto it = outgoing.begin(); it != outgoing.end();) {
        if (Clock::now() - it->second.created > std::chrono::minutes(10)) {
          old.push_back(it->second.dir);
          it = outgoing.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const auto& dir : old) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }

  // A snapshot chunk's reply: "D" and the bytes, or "E" and an error as JSON.
  std::string ChunkReply(const json& req) {
    std::string dir;
    {
      std::lock_guard<std::mutex> l(outgoing_mu);
      auto it = outgoing.find(req.value("id", ""));
      if (it != outgoing.end()) dir = it->second.dir;
    }
    if (dir.empty()) return "E" + ErrorJson(Status::NotFound("no snapshot '" + req.value("id", "") + "' here")).dump();
    auto chunk = ReadSnapshotChunk(dir, req.value("name", ""), req.value("offset", uint64_t{0}),
                                   req.value("length", kSnapshotChunkBytes));
    if (!chunk.ok()) return "E" + ErrorJson(chunk.status()).dump();
    return "D" + *chunk;
  }

  // One request to one node's replica (or this node's own), its "result" or its error.
  Result<json> RequestNode(const std::string& node, const json& req, int64_t timeout_ms) {
    json reply;
    if (node == opt.node_id) {
      reply = LocalCall(req);
    } else {
      const std::string data = req.dump();
      natsMsg* msg = nullptr;
      natsStatus s = natsConnection_Request(&msg, nc, ("sextant.rpc." + node).c_str(), data.data(),
                                            static_cast<int>(data.size()), timeout_ms);
      if (s != NATS_OK) return Status::IOError(node + ": " + natsStatus_GetText(s));
      reply = json::parse(std::string(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)), nullptr, false);
      natsMsg_Destroy(msg);
    }
    if (reply.is_object() && reply.contains("result")) return std::move(reply["result"]);
    if (reply.is_object() && reply.contains("error") && reply["error"].is_object()) {
      return Status(StatusCodeFromName(reply["error"].value("code", "internal")),
                    node + ": " + reply["error"].value("message", ""));
    }
    return Status::IOError(node + ": a reply that is not one");
  }

  Result<std::string> RequestChunk(const std::string& node, const json& req) {
    const std::string data = req.dump();
    natsMsg* msg = nullptr;
    natsStatus s = natsConnection_Request(&msg, nc, ("sextant.rpc." + node).c_str(), data.data(),
                                          static_cast<int>(data.size()), 30000);
    if (s != NATS_OK) return Status::IOError(node + ": " + natsStatus_GetText(s));
    std::string reply(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
    if (!reply.empty() && reply[0] == 'D') return reply.substr(1);
    json e = json::parse(reply.empty() ? std::string() : reply.substr(1), nullptr, false);
    return Status::IOError(node + ": " + (e.is_object() && e.contains("error") ? e["error"].value("message", "") : "a bad chunk"));
  }

  // Applies the shard's stream to the local collection, in order, from the applied sequence + 1.
  void RunApplier(std::shared_ptr<Replica> r) {
    while (!r->stop) {
      Status st = OpenReplica(*r);
      if (st.ok()) break;
      r->SetError("cannot open the local replica: " + st.ToString());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    if (r->stop) return;
    r->SetError("");
    SyncMetadata(*r, /*opening=*/true);
    uint64_t saved = r->applied;
    natsSubscription* sub = nullptr;
    auto drop_sub = [&] {
      if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
        sub = nullptr;
      }
    };
    auto save = [&] {
      if (saved == r->applied) return;
      Status st = WriteApplied(r->applied_path, r->applied);
      if (st.ok()) {
        saved = r->applied;
        r->saved = saved;
      } else {
        r->SetError(st.ToString());
      }
    };
    bool gap = false;  // the stream skipped what the replica needs: rebuild
    while (!r->stop && !stopping) {
      if (!sub) {
        // Compacted past this replica's position (its node was down meanwhile, or it is new)?
        auto first = FirstSequence(r->stream);
        if (first.ok() && (gap || *first > r->applied + 1)) {
          Status rebuilt = Rebuild(*r, std::max<uint64_t>(*first, 1));
          if (!rebuilt.ok()) {
            r->SetError("the stream starts at sequence " + std::to_string(*first) + " but the replica has applied " +
                        std::to_string(r->applied.load()) + "; rebuilding it from a snapshot failed: " +
                        rebuilt.ToString());
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            continue;
          }
          gap = false;
          saved = r->applied;
          r->SetError("");
        }
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Ordered = true;
        so.Stream = r->stream.c_str();
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = r->applied + 1;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = js_SubscribeSync(&sub, js, r->subject.c_str(), nullptr, &so, &jerr);
        if (s != NATS_OK) {
          sub = nullptr;
          r->SetError(NatsError(s, "consuming " + r->stream, jerr).message());
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
          continue;
        }
        (void)natsSubscription_SetPendingLimits(sub, -1, -1);
      }
      natsMsg* msg = nullptr;
      natsStatus s = natsSubscription_NextMsg(&msg, sub, 200);
      if (s == NATS_TIMEOUT) {
        save();
        continue;
      }
      if (s != NATS_OK) {
        r->SetError(NatsError(s, "reading " + r->stream).message());
        drop_sub();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      jsMsgMetaData* md = nullptr;
      if (natsMsg_GetMetaData(&md, msg) != NATS_OK) {
        natsMsg_Destroy(msg);
        continue;
      }
      const uint64_t seq = md->Sequence.Stream;
      jsMsgMetaData_Destroy(md);
      if (seq <= r->applied) {
        natsMsg_Destroy(msg);
        continue;
      }
      if (seq != r->applied + 1) {
        // Messages before seq are gone from the stream: rebuilt from a snapshot (above).
        r->SetError("the stream continues at sequence " + std::to_string(seq) + " but the replica has applied " +
                    std::to_string(r->applied.load()) + ": rebuilding it");
        natsMsg_Destroy(msg);
        drop_sub();
        gap = true;
        continue;
      }
      auto op = DecodeOp(std::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)));
      natsMsg_Destroy(msg);
      if (!op.ok()) {
        r->SetError("sequence " + std::to_string(seq) + ": " + op.status().ToString());
        drop_sub();
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));
        continue;
      }
      auto applied = ApplyOp(*r->Col(), *op);
      Status st = applied.status();
      if (applied.ok() && (op->kind == OpKind::kDelete || op->kind == OpKind::kDeleteByFilter)) {
        r->RecordOutcome(seq, *applied);
      }
      if (!st.ok() && st.code() != StatusCode::kNotFound && st.code() != StatusCode::kInvalidArgument) {
        // The local collection refused for a reason of its own (disk, damage): retry later,
        // from the same sequence.
        r->SetError("applying sequence " + std::to_string(seq) + ": " + st.ToString());
        drop_sub();
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        continue;
      }
      if (!st.ok()) {
        // Refused as the caller's error (an update of a point deleted meanwhile): every replica
        // refuses it alike, so it is skipped; shown in GET /v1/cluster.
        r->SetError("sequence " + std::to_string(seq) + " skipped: " + st.ToString());
      }
      r->applied = seq;
      int pending = 0;
      if (natsSubscription_GetPending(sub, &pending, nullptr) != NATS_OK || pending == 0 ||
          r->applied - saved >= 256) {
        save();
      }
    }
    drop_sub();
    save();
  }

  std::shared_ptr<Replica> FindReplica(const std::string& uid, uint32_t shard) {
    std::lock_guard<std::mutex> l(mu);
    auto it = replicas.find(ReplicaKey(uid, shard));
    return it == replicas.end() ? nullptr : it->second;
  }

  // ---------------------------------------------------------------------------------------
  // Reads served by a replica: {"op", "uid", "shard", ...} -> {"result": ...} | {"error": ...}

  static void OnRpc(natsConnection* nc, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<Impl*>(closure);
    std::string reply = natsMsg_GetReply(msg) ? natsMsg_GetReply(msg) : "";
    std::string data(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
    if (reply.empty()) return;
    self->pool->Submit([self, nc, reply = std::move(reply), data = std::move(data)] {
      json req = json::parse(data, nullptr, false);
      std::string out;
      try {
        if (req.is_object() && req.value("op", "") == "snapshot_read") {
          out = self->ChunkReply(req);  // bytes, not JSON
        } else {
          out = self->LocalCall(req).dump();
        }
      } catch (const std::exception& e) {  // a request of the wrong shape (not from a node)
        out = ErrorJson(Status::InvalidArgument(std::string("bad cluster request: ") + e.what())).dump();
      }
      (void)natsConnection_Publish(nc, reply.c_str(), out.data(), static_cast<int>(out.size()));
    });
  }

  json LocalCall(const json& req, const QueryRequest* parsed = nullptr) {
    if (!req.is_object() || !req.contains("uid") || !req.contains("shard")) {
      return ErrorJson(Status::InvalidArgument("bad cluster request"));
    }
    auto r = FindReplica(req.value("uid", ""), req.value("shard", 0u));
    std::shared_ptr<Collection> col = r ? r->Col() : nullptr;
    if (!r || !r->ready || !col) {
      return {{"error", {{"code", "unavailable"}, {"message", "node '" + opt.node_id + "' holds no ready replica"}}}};
    }
    if (req.contains("min_seq")) {
      const uint64_t want = req["min_seq"].get<uint64_t>();
      const auto deadline = Clock::now() + std::chrono::milliseconds(req.value("wait_ms", 2000));
      while (r->applied < want && Clock::now() < deadline && !r->stop) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (r->applied < want) {
        return {{"error",
                 {{"code", "unavailable"},
                  {"message", "node '" + opt.node_id + "' has applied " + std::to_string(r->applied.load()) +
                                  " of " + std::to_string(want)}}}};
      }
    }
    const std::string op = req.value("op", "");
    if (op == "ready") return {{"result", {{"applied", r->applied.load()}}}};
    if (op == "snapshot") {  // for another replica's rebuild (Rebuild), or a cluster snapshot
      const uint64_t seq = r->applied;  // read first: the snapshot holds at least this much
      const std::string id = RandomId();
      const std::string dir = opt.data_dir + "/outgoing/" + id;
      std::error_code ec;
      std::filesystem::create_directories(opt.data_dir + "/outgoing", ec);
      if (Status st = col->CreateSnapshot(dir); !st.ok()) return ErrorJson(st);
      auto files = ListSnapshotFiles(dir);
      if (!files.ok()) return ErrorJson(files.status());
      {
        std::lock_guard<std::mutex> l(outgoing_mu);
        outgoing[id] = {dir, Clock::now()};
      }
      return {{"result", {{"id", id}, {"applied", seq}, {"files", SnapshotFilesToJson(*files)}}}};
    }
    if (op == "snapshot_done") {
      std::string dir;
      {
        std::lock_guard<std::mutex> l(outgoing_mu);
        auto it = outgoing.find(req.value("id", ""));
        if (it != outgoing.end()) {
          dir = it->second.dir;
          outgoing.erase(it);
        }
      }
      std::error_code ec;
      if (!dir.empty()) std::filesystem::remove_all(dir, ec);
      return {{"result", true}};
    }
    if (op == "query") {
      // The coordinator's own parse when it is this node; else the body's text (the parser's
      // fast path for the vector).
      Result<QueryRequest> q = parsed ? Result<QueryRequest>(*parsed)
                                      : server::ParseQueryBody(req.value("query", ""), opt.limits);
      if (!q.ok()) return ErrorJson(q.status());
      if (req.contains("text_stats")) {  // the collection-wide BM25 statistics (TextQuery)
        auto stats = codec::TextStatsFromJson(req["text_stats"]);
        if (!stats.ok()) return ErrorJson(stats.status());
        q->text_stats = std::move(*stats);
      }
      if (req.value("sides", false)) {
        auto sides = col->SearchSides(*q);
        if (!sides.ok()) return ErrorJson(sides.status());
        json vector_side = json::array(), text_side = json::array();
        for (const QueryHit& h : sides->vector) vector_side.push_back(codec::HitToJson(h));
        for (const QueryHit& h : sides->text) text_side.push_back(codec::HitToJson(h));
        return {{"result", {{"vector", std::move(vector_side)}, {"text", std::move(text_side)}}}};
      }
      auto hits = col->Query(*q);
      if (!hits.ok()) return ErrorJson(hits.status());
      json out = json::array();
      for (const QueryHit& h : *hits) out.push_back(codec::HitToJson(h));
      return {{"result", std::move(out)}, {"applied", r->applied.load()}};
    }
    if (op == "outcome") {  // asked with min_seq = seq: the replica has applied it
      auto n = r->Outcome(req.value("seq", uint64_t{0}));
      if (!n) {
        return {{"error",
                 {{"code", "unavailable"},
                  {"message", "node '" + opt.node_id + "' does not know what sequence " +
                                  std::to_string(req.value("seq", uint64_t{0})) + " removed"}}}};
      }
      return {{"result", *n}};
    }
    if (op == "text_stats") {
      auto stats = col->TextStatistics(req.value("text", ""));
      if (!stats.ok()) return ErrorJson(stats.status());
      return {{"result", codec::TextStatsToJson(*stats)}};
    }
    if (op == "count") {
      std::optional<json> filter;
      if (req.contains("filter") && !req["filter"].is_null()) filter = req["filter"];
      auto n = col->Count(filter);
      if (!n.ok()) return ErrorJson(n.status());
      return {{"result", *n}};
    }
    if (op == "get") {
      std::vector<std::string> ids = req.value("ids", std::vector<std::string>{});
      const bool vectors = req.value("vectors", true);
      auto points = col->Get(ids, vectors);
      if (!points.ok()) return ErrorJson(points.status());
      json out = json::array();
      for (const Point& p : *points) out.push_back(codec::PointToJson(p, vectors));
      return {{"result", std::move(out)}};
    }
    if (op == "scroll") {
      std::optional<json> filter;
      if (req.contains("filter") && !req["filter"].is_null()) filter = req["filter"];
      const bool vectors = req.value("vectors", false);
      auto page = col->Scroll(req.value("after", ""), req.value("limit", size_t{100}), filter, vectors);
      if (!page.ok()) return ErrorJson(page.status());
      json out = json::array();
      for (const Point& p : page->points) out.push_back(codec::PointToJson(p, vectors));
      return {{"result", {{"points", std::move(out)}, {"more", page->next.has_value()}}}};
    }
    return ErrorJson(Status::InvalidArgument("unknown cluster request '" + op + "'"));
  }

  // ---------------------------------------------------------------------------------------
  // The coordinator: one shard's read from one of its live replicas.

  // Whom to ask for shard `shard`: its live replicas, this node's own first and the others in
  // turn (reads spread over them), then (`with_silent`) those not heard from lately.
  std::vector<std::string> ReplicaOrder(const CollectionMeta& meta, uint32_t shard, bool with_silent) {
    std::vector<std::string> candidates, silent;
    {
      std::lock_guard<std::mutex> l(mu);
      const auto now = Clock::now();
      for (const auto& n : meta.replicas[shard]) (IsAliveLocked(n, now) ? candidates : silent).push_back(n);
    }
    if (!candidates.empty()) {
      std::rotate(candidates.begin(), candidates.begin() + rr.fetch_add(1) % candidates.size(), candidates.end());
      auto self = std::find(candidates.begin(), candidates.end(), opt.node_id);
      if (self != candidates.end()) std::rotate(candidates.begin(), self, self + 1);
    }
    if (with_silent) candidates.insert(candidates.end(), silent.begin(), silent.end());
    return candidates;
  }

  ShardOutcome CallShard(const CollectionMeta& meta, uint32_t shard, json req,
                         std::optional<Clock::time_point> deadline, const QueryRequest* parsed = nullptr) {
    req["uid"] = meta.uid;
    req["shard"] = shard;
    // Live replicas first (this node's own first of all, the others in turn), then those not
    // heard from lately: a request to a node that is really gone fails at once (no responders).
    const std::vector<std::string> candidates = ReplicaOrder(meta, shard, /*with_silent=*/true);
    std::string tried;
    for (const std::string& node : candidates) {
      json reply;
      if (node == opt.node_id) {
        reply = LocalCall(req, parsed);
      } else {
        int64_t timeout = opt.rpc_timeout_ms;
        if (deadline) {
          timeout = std::min<int64_t>(
              timeout, std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count());
        }
        if (timeout <= 0) break;
        const std::string data = req.dump();
        natsMsg* msg = nullptr;
        natsStatus s = natsConnection_Request(&msg, nc, ("sextant.rpc." + node).c_str(), data.data(),
                                              static_cast<int>(data.size()), timeout);
        if (s != NATS_OK) {
          tried += (tried.empty() ? "" : "; ") + node + ": " + natsStatus_GetText(s);
          continue;
        }
        reply = json::parse(std::string(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)), nullptr, false);
        natsMsg_Destroy(msg);
      }
      if (reply.is_object() && reply.contains("result")) return {true, std::move(reply["result"]), {}};
      if (reply.is_object() && reply.contains("error") && reply["error"].is_object()) {
        const std::string code = reply["error"].value("code", "internal");
        const std::string message = reply["error"].value("message", "");
        if (code != "unavailable") {
          return {false, {}, FromStatus(Status(StatusCodeFromName(code), message))};
        }
        tried += (tried.empty() ? "" : "; ") + message;
        continue;
      }
      tried += (tried.empty() ? "" : "; ") + node + ": a reply that is not one";
    }
    std::string names;
    for (const auto& n : meta.replicas[shard]) names += (names.empty() ? "" : ", ") + n;
    Reply r = Error(503, "unavailable",
                    "shard " + std::to_string(shard) + " of collection '" + meta.name +
                        "' has no replica that answers (replicas: " + names + (tried.empty() ? "" : "; " + tried) +
                        ")");
    r.headers.emplace_back("Retry-After", "1");
    return {false, {}, std::move(r)};
  }

  // Every shard at once; the first failing shard's reply in `error` (nullopt: all answered).
  std::vector<ShardOutcome> Scatter(const CollectionMeta& meta, const json& req,
                                    std::optional<Clock::time_point> deadline,
                                    const std::vector<uint64_t>* min_seqs = nullptr,
                                    const QueryRequest* parsed = nullptr) {
    std::vector<std::future<ShardOutcome>> futures;
    for (uint32_t s = 0; s < meta.shards; ++s) {
      json r = req;
      if (min_seqs) r["min_seq"] = (*min_seqs)[s];
      if (meta.shards == 1) {  // no thread for one shard
        std::promise<ShardOutcome> done;
        done.set_value(CallShard(meta, s, r, deadline, parsed));
        futures.push_back(done.get_future());
        continue;
      }
      futures.push_back(std::async(std::launch::async, [this, &meta, s, r = std::move(r), deadline, parsed] {
        return CallShard(meta, s, r, deadline, parsed);
      }));
    }
    std::vector<ShardOutcome> out;
    for (auto& f : futures) out.push_back(f.get());
    return out;
  }

  static const ShardOutcome* FirstFailure(const std::vector<ShardOutcome>& outcomes) {
    for (const auto& o : outcomes) {
      if (!o.ok) return &o;
    }
    return nullptr;
  }

  // ---------------------------------------------------------------------------------------
  // The coordinator: writes

  Result<uint64_t> Publish(const CollectionMeta& meta, uint32_t shard, const WriteOp& op,
                           std::optional<Clock::time_point> deadline) {
    const std::string data = EncodeOp(op);
    const int64_t max = natsConnection_GetMaxPayload(nc);
    if (max > 0 && static_cast<int64_t>(data.size()) > max) {
      return Status::ResourceExhausted("the write takes " + std::to_string(data.size()) +
                                       " bytes in the log, more than the NATS servers' max_payload of " +
                                       std::to_string(max) + ": send smaller batches");
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    const std::string stream = StreamName(meta.uid, shard);
    po.ExpectStream = stream.c_str();
    po.MaxWait = 5000;
    if (deadline) {
      po.MaxWait = std::max<int64_t>(
          1, std::min<int64_t>(po.MaxWait,
                               std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count()));
    }
    jsPubAck* pa = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_Publish(&pa, js, StreamSubject(meta.uid, shard).c_str(), data.data(),
                              static_cast<int>(data.size()), &po, &jerr);
    if (s != NATS_OK) return NatsError(s, "writing to " + stream, jerr);
    const uint64_t seq = pa->Sequence;
    jsPubAck_Destroy(pa);
    return seq;
  }

  // Publishes one record per shard (shards with none skipped); the reply names the sequences,
  // or which shards took the write and which did not.
  Reply PublishAll(const CollectionMeta& meta, const std::map<uint32_t, WriteOp>& ops,
                   std::optional<Clock::time_point> deadline, json reply) {
    json seqs = json::object();
    std::vector<std::pair<uint32_t, std::future<Result<uint64_t>>>> futures;
    for (const auto& [shard, op] : ops) {
      futures.emplace_back(shard, std::async(std::launch::async, [this, &meta, shard = shard, &op = op, deadline] {
                             return Publish(meta, shard, op, deadline);
                           }));
    }
    std::string failed, done;
    Status first;
    for (auto& [shard, f] : futures) {
      auto r = f.get();
      if (r.ok()) {
        seqs[std::to_string(shard)] = *r;
        done += (done.empty() ? "" : ", ") + std::to_string(shard);
      } else {
        failed += (failed.empty() ? "" : ", ") + std::to_string(shard);
        if (first.ok()) first = r.status();
      }
    }
    if (!first.ok()) {
      if (first.code() == StatusCode::kResourceExhausted) return Error(413, "payload_too_large", first.message());
      Reply r = Error(503, "unavailable",
                      "the write was not stored in shard(s) " + failed +
                          (done.empty() ? "" : " (it was stored in shard(s) " + done + ")") + ": " + first.message());
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    reply["sequences"] = std::move(seqs);
    return Reply{200, std::move(reply)};
  }

  // ---------------------------------------------------------------------------------------
  // The coordinator: routes

  // The collection from the watched copy of the bucket; one this node has not seen yet (created
  // a moment ago through another node) is read from the bucket itself.
  std::optional<CollectionMeta> FindMeta(const std::string& t, const std::string& d, const std::string& c) {
    const std::string key = CollectionKey(t, d, c);
    {
      std::lock_guard<std::mutex> l(mu);
      auto it = metas.find(key);
      if (it != metas.end()) return it->second;
    }
    kvEntry* e = nullptr;
    if (kvStore_Get(&e, meta_kv, key.c_str()) != NATS_OK || !e) return std::nullopt;
    auto m = MetaFromJson(
        json::parse(std::string(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e)), nullptr, false));
    const uint64_t rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    if (!m.ok()) return std::nullopt;
    m->revision = rev;
    std::lock_guard<std::mutex> l(mu);
    auto cfg = codec::CollectionConfigFromStoredJson(m->config);
    if (cfg.ok()) configs[m->uid] = *cfg;
    return *m;
  }

  std::optional<CollectionConfig> ConfigOf(const std::string& uid) {
    std::lock_guard<std::mutex> l(mu);
    auto it = configs.find(uid);
    if (it == configs.end()) return std::nullopt;
    return it->second;
  }

  static Reply NoCollection(const std::string& name) {
    return Error(404, "not_found", "collection '" + name + "' not found");
  }

  json DescribeMeta(const CollectionMeta& m, const CollectionConfig& c) {
    json j = codec::CollectionConfigToJson(c, codec::ConfigForm::kReply);
    j["name"] = m.name;
    j["shards"] = m.shards;
    j["replication_factor"] = m.replication_factor;
    j["replicas"] = m.replicas;
    return j;
  }

  Reply PutCollection(const server::ClusterRequest& rq) {
    json body = rq.body;
    uint32_t shards = 1, rf = 1;
    for (auto [field, out] : {std::pair{"shards", &shards}, {"replication_factor", &rf}}) {
      auto it = body.find(field);
      if (it == body.end()) continue;
      if (!it->is_number_unsigned() || it->get<uint64_t>() < 1 || it->get<uint64_t>() > kMaxShards) {
        return Error(422, "invalid_argument",
                     std::string("field '") + field + "' must be an integer in [1, " + std::to_string(kMaxShards) + "]");
      }
      *out = it->get<uint32_t>();
      body.erase(it);
    }
    SX_PARSE(server::CollectionSpec spec, server::ParseCollectionSpec(body, opt.limits));
    spec.config.name = rq.params.at("collection");
    return CreateCollection(rq.tenant, rq.database, spec.config, shards, rf, rq.deadline, nullptr);
  }

  // A new collection of the cluster: its streams, then its value in the bucket (compare-and-set:
  // a concurrent create of the same name through another node cannot also win); the same
  // definition again is 200, another one 409. `created`: the new collection's value.
  Reply CreateCollection(const std::string& tenant, const std::string& database, const CollectionConfig& asked,
                         uint32_t shards, uint32_t rf, std::optional<Clock::time_point> deadline,
                         CollectionMeta* created) {
    if (Status st = codec::CheckCollectionSettings(asked); !st.ok()) return FromStatus(st);
    CollectionConfig config = asked;
    if (config.embedding) {  // as on a single node: the model (opened now) fixes the dimension
      SX_TRY(config, engine::CompleteEmbeddingSettings(asked));
    }
    std::vector<std::string> live;
    std::map<std::string, size_t> load;
    {
      std::lock_guard<std::mutex> l(mu);
      live = LiveNodesLocked();
      for (const auto& [k, m] : metas) {
        for (const auto& shard : m.replicas) {
          for (const auto& n : shard) ++load[n];
        }
      }
    }
    CollectionMeta meta;
    meta.tenant = tenant;
    meta.database = database;
    meta.name = config.name;
    meta.shards = shards;
    meta.replication_factor = rf;
    meta.config = codec::CollectionConfigToJson(config, codec::ConfigForm::kStored);
    if (auto existing = FindMeta(meta.tenant, meta.database, meta.name)) return SameOrConflict(*existing, meta);
    if (rf > live.size()) {
      std::string names;
      for (const auto& n : live) names += (names.empty() ? "" : ", ") + n;
      return Error(422, "invalid_argument",
                   "replication_factor " + std::to_string(rf) + " needs " + std::to_string(rf) + " live nodes; " +
                       std::to_string(live.size()) + " are alive (" + names + ")");
    }
    meta.uid = RandomId();
    meta.replicas = AssignReplicas(shards, rf, live, load);
    for (uint32_t s = 0; s < shards; ++s) {
      if (Status st = AddStream(meta.uid, s); !st.ok()) {
        DeleteStreams(meta.uid, s);
        return Error(503, "unavailable", st.message());
      }
    }
    const std::string key = CollectionKey(meta.tenant, meta.database, meta.name);
    const std::string v = MetaToJson(meta).dump();
    natsStatus s = kvStore_Create(nullptr, meta_kv, key.c_str(), v.data(), static_cast<int>(v.size()));
    if (s != NATS_OK) {
      DeleteStreams(meta.uid, shards);
      kvEntry* e = nullptr;
      if (kvStore_Get(&e, meta_kv, key.c_str()) == NATS_OK && e) {  // created meanwhile elsewhere
        auto other = MetaFromJson(json::parse(std::string(static_cast<const char*>(kvEntry_Value(e)),
                                                          kvEntry_ValueLen(e)),
                                              nullptr, false));
        kvEntry_Destroy(e);
        if (other.ok()) return SameOrConflict(*other, meta);
      }
      return Error(503, "unavailable", NatsError(s, "creating " + key).message());
    }
    WaitUntilServed(meta, deadline);
    if (created) *created = meta;
    json j = DescribeMeta(meta, config);
    j["created"] = true;
    return Reply{201, std::move(j)};
  }

  Reply SameOrConflict(const CollectionMeta& existing, CollectionMeta asked) {
    // As on a single node: a definition without metadata matches whatever metadata it has now.
    if (!asked.config.contains("metadata") && existing.config.contains("metadata")) {
      asked.config["metadata"] = existing.config["metadata"];
    }
    if (existing.config == asked.config && existing.shards == asked.shards &&
        existing.replication_factor == asked.replication_factor) {
      auto c = codec::CollectionConfigFromStoredJson(existing.config);
      if (!c.ok()) return FromStatus(c.status());
      json j = DescribeMeta(existing, *c);
      j["created"] = false;
      return Reply{200, std::move(j)};
    }
    return Error(409, "already_exists", "collection '" + asked.name + "' already exists with a different definition");
  }

  Status AddStream(const std::string& uid, uint32_t shard) {
    const std::string name = StreamName(uid, shard), subject = StreamSubject(uid, shard);
    const char* subjects[1] = {subject.c_str()};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name.c_str();
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = opt.stream_replicas;
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(&si, js, &sc, nullptr, &jerr);
    if (s != NATS_OK) return NatsError(s, "creating stream " + name, jerr);
    jsStreamInfo_Destroy(si);
    return Status::OK();
  }

  void DeleteStreams(const std::string& uid, uint32_t shards) {
    for (uint32_t s = 0; s < shards; ++s) (void)js_DeleteStream(js, StreamName(uid, s).c_str(), nullptr, nullptr);
  }

  // After a create: until one replica of every shard answers (appliers start as the nodes see
  // the new shard map), at most 10 s; the collection works either way.
  void WaitUntilServed(const CollectionMeta& meta, std::optional<Clock::time_point> deadline) {
    auto until = Clock::now() + std::chrono::seconds(10);
    if (deadline && *deadline < until) until = *deadline;
    for (uint32_t s = 0; s < meta.shards; ++s) {
      while (Clock::now() < until && !stopping) {
        if (CallShard(meta, s, {{"op", "ready"}}, until).ok) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }

  Result<std::vector<uint64_t>> LastSequences(const CollectionMeta& meta) {
    std::vector<uint64_t> out;
    for (uint32_t s = 0; s < meta.shards; ++s) {
      jsStreamInfo* si = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      natsStatus st = js_GetStreamInfo(&si, js, StreamName(meta.uid, s).c_str(), nullptr, &jerr);
      if (st != NATS_OK) return NatsError(st, "reading the state of " + StreamName(meta.uid, s), jerr);
      out.push_back(si->State.LastSeq);
      jsStreamInfo_Destroy(si);
    }
    return out;
  }

  // A collection's value changed with compare-and-set on its revision, read afresh and retried
  // while other nodes change it meanwhile (the leader moving replicas). This node's copy is
  // updated at once, the others' through their watchers.
  Result<CollectionMeta> UpdateCollection(const std::string& tenant, const std::string& database,
                                          const std::string& name, const std::function<Status(CollectionMeta&)>& change) {
    const std::string key = CollectionKey(tenant, database, name);
    Status last;
    for (int attempt = 0; attempt < 20; ++attempt) {
      kvEntry* e = nullptr;
      natsStatus s = kvStore_Get(&e, meta_kv, key.c_str());
      if (s == NATS_NOT_FOUND || (s == NATS_OK && !e)) return Status::NotFound("collection '" + name + "' not found");
      if (s != NATS_OK) return NatsError(s, "reading " + key);
      auto m = MetaFromJson(
          json::parse(std::string(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e)), nullptr, false));
      const uint64_t rev = kvEntry_Revision(e);
      kvEntry_Destroy(e);
      if (!m.ok()) return m.status();
      SEXTANT_RETURN_IF_ERROR(change(*m));
      const std::string v = MetaToJson(*m).dump();
      uint64_t new_rev = 0;
      s = kvStore_Update(&new_rev, meta_kv, key.c_str(), v.data(), static_cast<int>(v.size()), rev);
      if (s == NATS_OK) {
        m->revision = new_rev;
        std::lock_guard<std::mutex> l(mu);
        auto cfg = codec::CollectionConfigFromStoredJson(m->config);
        if (cfg.ok()) configs[m->uid] = *cfg;
        auto cached = metas.find(key);
        if (cached != metas.end() && cached->second.revision < new_rev) cached->second = *m;
        return *m;
      }
      last = NatsError(s, "updating " + key);
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + attempt * 10));
    }
    return last;
  }

  // PATCH of a collection's metadata: in the bucket (every node's GET shows it); each replica's
  // local collection follows (SyncMetadata), so its snapshots carry it.
  Reply PatchCollection(const server::ClusterRequest& rq, const CollectionMeta& meta) {
    SX_PARSE(json metadata, server::ParseCollectionPatch(rq.body));
    if (Status st = codec::CheckCollectionMetadata(metadata); !st.ok()) return FromStatus(st);
    auto updated = UpdateCollection(meta.tenant, meta.database, meta.name, [&](CollectionMeta& m) -> Status {
      if (m.uid != meta.uid) return Status::NotFound("collection '" + meta.name + "' was dropped");
      SEXTANT_ASSIGN_OR_RETURN(CollectionConfig c, codec::CollectionConfigFromStoredJson(m.config));
      c.metadata = metadata;
      m.config = codec::CollectionConfigToJson(c, codec::ConfigForm::kStored);
      return Status::OK();
    });
    if (!updated.ok()) {
      if (updated.status().code() == StatusCode::kIOError) return Error(503, "unavailable", updated.status().message());
      return FromStatus(updated.status());
    }
    auto c = ConfigOf(updated->uid);
    if (!c) return Error(500, "internal", "collection '" + meta.name + "' has settings this node cannot read");
    return Reply{200, DescribeMeta(*updated, *c)};
  }

  Reply DropCollection(const server::ClusterRequest& rq) {
    auto meta = FindMeta(rq.tenant, rq.database, rq.params.at("collection"));
    if (!meta) return NoCollection(rq.params.at("collection"));
    if (auto failed = DropMeta(*meta)) return *failed;
    return Reply{200, {{"dropped", meta->name}}};
  }

  // The collection's value leaves the bucket (every node drops its replicas), then its streams.
  std::optional<Reply> DropMeta(const CollectionMeta& meta) {
    const std::string key = CollectionKey(meta.tenant, meta.database, meta.name);
    natsStatus s = kvStore_Delete(meta_kv, key.c_str());
    if (s != NATS_OK) return Error(503, "unavailable", NatsError(s, "dropping " + key).message());
    {
      std::lock_guard<std::mutex> l(mu);
      metas.erase(key);
    }
    DeleteStreams(meta.uid, meta.shards);
    return std::nullopt;
  }

  Reply ListCollections(const server::ClusterRequest& rq) {
    std::vector<CollectionMeta> list;
    {
      std::lock_guard<std::mutex> l(mu);
      for (const auto& [k, m] : metas) {
        if (m.tenant == rq.tenant && m.database == rq.database) list.push_back(m);
      }
    }
    json out = json::array();
    for (const auto& m : list) {
      auto c = ConfigOf(m.uid);
      if (!c) continue;
      json j = DescribeMeta(m, *c);
      auto counts = Scatter(m, {{"op", "count"}}, rq.deadline);
      if (!FirstFailure(counts)) {
        size_t n = 0;
        for (const auto& o : counts) n += o.result.get<size_t>();
        j["points"] = n;
      }
      out.push_back(std::move(j));
    }
    return Reply{200, {{"collections", std::move(out)}}};
  }

  Reply GetCollectionInfo(const server::ClusterRequest& rq, const CollectionMeta& meta, const CollectionConfig& c) {
    json j = DescribeMeta(meta, c);
    auto counts = Scatter(meta, {{"op", "count"}}, rq.deadline);
    if (auto f = FirstFailure(counts)) return f->error;
    size_t n = 0;
    for (const auto& o : counts) n += o.result.get<size_t>();
    j["points"] = n;
    return Reply{200, std::move(j)};
  }

  // The model of collection `c` (which has one) this node coordinates with.
  std::shared_ptr<const engine::CollectionEmbedder> EmbedderOf(const std::string& uid, const CollectionConfig& c) {
    std::lock_guard<std::mutex> l(mu);
    auto& e = embedders[uid];
    if (!e) e = std::make_shared<engine::CollectionEmbedder>(*c.embedding, c.dimension);
    return e;
  }

  // Points without a vector get their document's embedding here, before anything is logged
  // (as a single node embeds before its log): the stream holds vectors, so every replica
  // applies the same ones and none embeds. All or nothing, with a single node's errors.
  Status EmbedDocuments(const CollectionMeta& meta, const CollectionConfig& c, std::vector<Point>& points) {
    std::vector<engine::PointRef> refs;
    refs.reserve(points.size());
    for (const Point& p : points) refs.push_back(engine::RefOf(p));
    std::vector<float> rows;
    SEXTANT_RETURN_IF_ERROR(engine::EmbedDocuments(*EmbedderOf(meta.uid, c), c.dimension, c.metric, refs, &rows));
    for (size_t i = 0; i < points.size(); ++i) {
      if (points[i].vector.empty()) points[i].vector.assign(refs[i].vector.begin(), refs[i].vector.end());
    }
    return Status::OK();
  }

  Reply Upsert(const server::ClusterRequest& rq, const CollectionMeta& meta, const CollectionConfig& c) {
    SX_PARSE(std::vector<Point> points, server::ParseUpsertBody(rq.raw_body, opt.limits));
    for (size_t i = 0; i < points.size(); ++i) {
      if (Status st = ValidatePoint(points[i], c); !st.ok()) {
        return FromStatus(Status(st.code(), "point " + std::to_string(i) + ": " + st.message()));
      }
    }
    if (c.embedding) SX_TRY_STATUS(EmbedDocuments(meta, c, points));
    std::map<uint32_t, WriteOp> ops;
    const size_t n = points.size();
    for (Point& p : points) {
      WriteOp& op = ops[ShardOf(p.id, meta.shards)];
      op.kind = OpKind::kUpsert;
      op.points.push_back(std::move(p));
    }
    return PublishAll(meta, ops, rq.deadline, {{"acked", n}});
  }

  // How many of `ids` exist now (a delete's reply counts them just before it is logged).
  // How many of `ids` exist now, per shard (nullopt: *error says why not).
  std::optional<std::map<uint32_t, size_t>> CountExisting(const CollectionMeta& meta, const std::vector<std::string>& ids,
                                                          std::optional<Clock::time_point> deadline, Reply* error) {
    std::map<uint32_t, std::vector<std::string>> by_shard;
    for (const auto& id : ids) by_shard[ShardOf(id, meta.shards)].push_back(id);
    std::map<uint32_t, size_t> found;
    for (const auto& [shard, list] : by_shard) {
      auto o = CallShard(meta, shard, {{"op", "get"}, {"ids", list}, {"vectors", false}}, deadline);
      if (!o.ok) {
        *error = o.error;
        return std::nullopt;
      }
      found[shard] = o.result.size();
    }
    return found;
  }

  static size_t Total(const std::map<uint32_t, size_t>& counts) {
    size_t n = 0;
    for (const auto& [shard, c] : counts) n += c;
    return n;
  }

  // A delete's reply: the points it removed, as counted by the replica of each shard that
  // applied it (the first live one to answer, once it has applied the delete's sequence). A
  // shard none of whose replicas knows any more (restarted or rebuilt since) counts `before`,
  // the points that matched just before the delete was logged.
  Reply WithDeletedCount(Reply reply, const CollectionMeta& meta, const std::map<uint32_t, size_t>& before,
                         std::optional<Clock::time_point> deadline) {
    if (reply.status != 200 || !reply.body.contains("sequences")) return reply;
    size_t n = 0;
    for (const auto& [shard, seq] : reply.body["sequences"].items()) {
      const uint32_t s = static_cast<uint32_t>(std::stoul(shard));
      auto o = CallShard(meta, s, {{"op", "outcome"}, {"seq", seq}, {"min_seq", seq}}, deadline);
      auto fallback = before.find(s);
      n += o.ok && o.result.is_number_unsigned() ? o.result.get<size_t>()
                                                   : (fallback == before.end() ? 0 : fallback->second);
    }
    reply.body["deleted"] = n;
    return reply;
  }

  Reply DeletePoints(const server::ClusterRequest& rq, const CollectionMeta& meta) {
    SX_PARSE(server::DeleteSpec spec, server::ParseDelete(rq.body, opt.limits));
    std::map<uint32_t, WriteOp> ops;
    std::map<uint32_t, size_t> before;
    if (spec.filter) {
      auto counts = Scatter(meta, {{"op", "count"}, {"filter", *spec.filter}}, rq.deadline);
      if (auto f = FirstFailure(counts)) return f->error;
      for (uint32_t s = 0; s < meta.shards; ++s) {
        before[s] = counts[s].result.get<size_t>();
        ops[s].kind = OpKind::kDeleteByFilter;
        ops[s].filter = *spec.filter;
      }
    } else {
      Reply error;
      auto found = CountExisting(meta, spec.ids, rq.deadline, &error);
      if (!found) return error;
      before = std::move(*found);
      for (const auto& id : spec.ids) {
        WriteOp& op = ops[ShardOf(id, meta.shards)];
        op.kind = OpKind::kDelete;
        op.ids.push_back(id);
      }
    }
    return WithDeletedCount(PublishAll(meta, ops, rq.deadline, {{"deleted", Total(before)}}), meta, before, rq.deadline);
  }

  Reply GetPoint(const server::ClusterRequest& rq, const CollectionMeta& meta) {
    const std::string& id = rq.params.at("id");
    auto v = rq.query.find("vector");
    const bool with_vector = v == rq.query.end() || v->second != "false";
    std::vector<uint64_t> seqs;
    if (auto stop = StrongSequences(rq, meta, &seqs)) return *stop;
    const uint32_t shard = ShardOf(id, meta.shards);
    json req = {{"op", "get"}, {"ids", json::array({id})}, {"vectors", with_vector}};
    if (!seqs.empty()) req["min_seq"] = seqs[shard];
    auto o = CallShard(meta, shard, req, rq.deadline);
    if (!o.ok) return o.error;
    if (o.result.empty()) return Error(404, "not_found", "no point '" + id.substr(0, 200) + "'");
    return Reply{200, o.result[0]};
  }

  Reply PatchPoint(const server::ClusterRequest& rq, const CollectionMeta& meta) {
    SX_PARSE(server::MetadataPatch patch, server::ParseMetadataPatch(rq.body));
    const std::string& id = rq.params.at("id");
    Reply error;
    auto found = CountExisting(meta, {id}, rq.deadline, &error);
    if (!found) return error;
    if (Total(*found) == 0) return Error(404, "not_found", "point '" + id.substr(0, 200) + "' not found");
    std::map<uint32_t, WriteOp> ops;
    WriteOp& op = ops[ShardOf(id, meta.shards)];
    op.kind = OpKind::kUpdateMetadata;
    op.id = id;
    op.metadata = patch.metadata;
    op.merge = patch.merge;
    return PublishAll(meta, ops, rq.deadline, {{"updated", id}});
  }

  Reply DeletePoint(const server::ClusterRequest& rq, const CollectionMeta& meta) {
    const std::string& id = rq.params.at("id");
    Reply error;
    auto found = CountExisting(meta, {id}, rq.deadline, &error);
    if (!found) return error;
    if (Total(*found) == 0) return Error(404, "not_found", "no point '" + id.substr(0, 200) + "'");
    std::map<uint32_t, WriteOp> ops;
    WriteOp& op = ops[ShardOf(id, meta.shards)];
    op.kind = OpKind::kDelete;
    op.ids = {id};
    return WithDeletedCount(PublishAll(meta, ops, rq.deadline, {{"deleted", 1}}), meta, *found, rq.deadline);
  }

  Reply Count(const server::ClusterRequest& rq, const CollectionMeta& meta) {
    SX_PARSE(std::optional<json> filter, server::ParseCount(rq.body));
    json req = {{"op", "count"}};
    if (filter) req["filter"] = *filter;
    std::vector<uint64_t> seqs;
    if (auto stop = StrongSequences(rq, meta, &seqs)) return *stop;
    auto counts = Scatter(meta, req, rq.deadline, seqs.empty() ? nullptr : &seqs);
    if (auto f = FirstFailure(counts)) return f->error;
    size_t n = 0;
    for (const auto& o : counts) n += o.result.get<size_t>();
    return Reply{200, {{"count", n}}};
  }

  // Scroll: every shard's page after the cursor, merged in id order; with ?shard=K&replica=local
  // the node's own replica of shard K alone (to inspect one replica).
  Reply Scroll(const server::ClusterRequest& rq, const CollectionMeta& meta) {
    SX_PARSE(server::ScrollSpec spec, server::ParseScroll(rq.body, opt.limits));
    json req = {{"op", "scroll"}, {"after", spec.after}, {"limit", spec.limit}, {"vectors", spec.vectors}};
    if (spec.filter) req["filter"] = *spec.filter;
    auto local = rq.query.find("replica");
    if (local != rq.query.end()) {
      auto sh = rq.query.find("shard");
      if (local->second != "local" || sh == rq.query.end()) {
        return Error(400, "bad_request", "a replica's scroll takes ?replica=local&shard=K");
      }
      uint32_t shard = 0;
      try {
        shard = static_cast<uint32_t>(std::stoul(sh->second));
      } catch (...) {
        return Error(400, "bad_request", "shard must be a number");
      }
      if (shard >= meta.shards) return Error(400, "bad_request", "no shard " + sh->second);
      req["uid"] = meta.uid;
      req["shard"] = shard;
      json r = LocalCall(req);
      if (!r.contains("result")) return Error(409, "unavailable", r["error"].value("message", ""));
      auto rep = FindReplica(meta.uid, shard);
      return Reply{200,
                   {{"points", r["result"]["points"]},
                    {"more", r["result"]["more"]},
                    {"applied", rep ? rep->applied.load() : 0}}};
    }
    std::vector<uint64_t> seqs;
    if (auto stop = StrongSequences(rq, meta, &seqs)) return *stop;
    auto pages = Scatter(meta, req, rq.deadline, seqs.empty() ? nullptr : &seqs);
    if (auto f = FirstFailure(pages)) return f->error;
    std::vector<json> all;
    bool more = false;
    for (auto& o : pages) {
      for (auto& p : o.result["points"]) all.push_back(std::move(p));
      more = more || o.result.value("more", false);
    }
    std::sort(all.begin(), all.end(),
              [](const json& a, const json& b) { return a["id"].get_ref<const std::string&>() < b["id"].get_ref<const std::string&>(); });
    if (all.size() > spec.limit) {
      more = true;
      all.resize(spec.limit);
    }
    json points = json::array();
    for (auto& p : all) points.push_back(std::move(p));
    json next = more && !points.empty() ? points.back()["id"] : json();
    return Reply{200, {{"points", std::move(points)}, {"next", std::move(next)}}};
  }

  // The body the shards get for a query a plan rewrote (engine::PlanQuery): the text's embedding
  // as the vector, the collection's fusion, no text without a keyword side, mode auto.
  static std::string RewrittenQueryBody(const std::string& body_text, const QueryRequest& q) {
    json body = json::parse(body_text, nullptr, false);
    if (!q.vector.empty()) body["vector"] = q.vector;
    if (!q.text) body.erase("text");
    body.erase("mode");
    if (!q.fusion.empty()) body["fusion"] = q.fusion;
    if (q.alpha) body["alpha"] = *q.alpha;
    return body.dump();
  }

  Reply Query(const server::ClusterRequest& rq, const CollectionMeta& meta, const CollectionConfig& c) {
    // "consistency" is the cluster's own field: a body with it is parsed, stripped of it and
    // written again; any other goes to the shards as it came (their parser's fast path).
    std::string body_text(rq.raw_body);
    bool strong = false;
    if (body_text.find("\"consistency\"") != std::string::npos) {
      SX_PARSE(json body, server::ParseJsonBody(rq.raw_body, opt.limits.max_json_depth));
      if (body.is_object()) {
        auto it = body.find("consistency");
        if (it != body.end()) {
          if (!it->is_string() || (*it != "strong" && *it != "eventual")) {
            return Error(400, "bad_request", "field 'consistency' must be \"strong\" or \"eventual\"");
          }
          strong = *it == "strong";
          body.erase(it);
        }
      }
      body_text = body.dump();
    }
    SX_PARSE(QueryRequest q, server::ParseQueryBody(body_text, opt.limits));
    // A collection with a model: the text searched by meaning is embedded here, once, and the
    // shards (whose local collections have no model) get a vector query; explain's mode is
    // added to the gathered hits as one node adds it.
    std::optional<engine::QueryPlan> plan;
    if (c.embedding) {
      SX_TRY(plan, engine::PlanQuery(q, meta.name, c.text, EmbedderOf(meta.uid, c).get()));
      if (plan->rewritten) {
        body_text = RewrittenQueryBody(body_text, *plan->rewritten);
        q = std::move(*plan->rewritten);
        plan->rewritten.reset();
      }
    }
    // Explain's mode and embedded_query on the gathered hits (JSON), as one node has them.
    auto annotate = [&plan](json& hits) {
      if (!plan || !plan->annotate) return;
      for (json& h : hits) {
        if (h.contains("explain")) plan->Explain(h["explain"]);
      }
    };
    std::vector<uint64_t> min_seqs;
    if (strong) {
      auto seqs = LastSequences(meta);
      if (!seqs.ok()) return Error(503, "unavailable", seqs.status().message());
      min_seqs = *seqs;
    }
    auto deadline = rq.deadline;
    if (q.deadline && (!deadline || *q.deadline < *deadline)) deadline = q.deadline;
    const bool keyword_side = q.text && q.mode != QueryMode::kSemantic;
    if (meta.shards > 1 && keyword_side) {
      Reply r = TextQuery(meta, std::move(q), body_text, deadline, strong ? &min_seqs : nullptr);
      if (r.status == 200) annotate(r.body["results"]);
      return r;
    }
    auto results = Scatter(meta, {{"op", "query"}, {"query", std::move(body_text)}}, deadline,
                           strong ? &min_seqs : nullptr, &q);
    if (auto f = FirstFailure(results)) return f->error;
    if (meta.shards == 1) {
      annotate(results[0].result);
      return Reply{200, {{"results", std::move(results[0].result)}}};
    }
    // Vector queries: distances, smaller first; equal ones by id so that the merge is a function
    // of the hits, not of which shard answered first.
    std::vector<json> all;
    for (auto& o : results) {
      for (auto& h : o.result) all.push_back(std::move(h));
    }
    std::sort(all.begin(), all.end(), [](const json& a, const json& b) {
      const double sa = a["score"].get<double>(), sb = b["score"].get<double>();
      if (sa != sb) return sa < sb;
      return a["id"].get_ref<const std::string&>() < b["id"].get_ref<const std::string&>();
    });
    if (all.size() > q.k) all.resize(q.k);
    json hits = json::array();
    for (auto& h : all) {
      // A shard ranked its own hits: explain's rank is the merged list's, as one node ranks them.
      if (h.contains("explain") && h["explain"].contains("vector_rank")) {
        h["explain"]["vector_rank"] = hits.size() + 1;
      }
      hits.push_back(std::move(h));
    }
    annotate(hits);
    return Reply{200, {{"results", std::move(hits)}}};
  }

  // A keyword or hybrid query on several shards, scored as one node holding every point would:
  // the BM25 statistics of the query's terms from one replica of every shard, added up; then
  // each shard's two sides (keyword with those statistics, vector) from one replica of every
  // shard, fused together exactly as a single collection fuses its own (FuseSides).
  Reply TextQuery(const CollectionMeta& meta, QueryRequest q, const std::string& body_text,
                  std::optional<Clock::time_point> deadline, const std::vector<uint64_t>* min_seqs) {
    auto parts = Scatter(meta, {{"op", "text_stats"}, {"text", *q.text}}, deadline, min_seqs);
    if (auto f = FirstFailure(parts)) return f->error;
    TextStats sum;
    for (const auto& o : parts) {
      auto s = codec::TextStatsFromJson(o.result);
      if (!s.ok()) return Error(500, "internal", "a shard's text statistics: " + s.status().message());
      sum.documents += s->documents;
      sum.total_length += s->total_length;
      for (const auto& [term, df] : s->document_frequency) sum.document_frequency[term] += df;
    }
    json req = {{"op", "query"}, {"query", body_text}, {"sides", true}, {"text_stats", codec::TextStatsToJson(sum)}};
    q.text_stats = std::move(sum);
    auto answers = Scatter(meta, req, deadline, min_seqs, &q);
    if (auto f = FirstFailure(answers)) return f->error;
    QuerySides sides;
    for (const auto& o : answers) {
      for (auto [name, out] : {std::pair{"vector", &sides.vector}, {"text", &sides.text}}) {
        for (const json& h : o.result.value(name, json::array())) {
          auto hit = codec::HitFromJson(h);
          if (!hit.ok()) return Error(500, "internal", "a shard's hit: " + hit.status().message());
          out->push_back(std::move(*hit));
        }
      }
    }
    auto hits = FuseSides(q, std::move(sides));
    if (!hits.ok()) return FromStatus(hits.status());
    json out = json::array();
    for (const QueryHit& h : *hits) out.push_back(codec::HitToJson(h));
    return Reply{200, {{"results", std::move(out)}}};
  }

  // ---------------------------------------------------------------------------------------
  // Snapshots of whole collections. A snapshot is kept by the node that took it, where the
  // server keeps its own: SNAPSHOTS/TENANT/DATABASE/NAME holds cluster.json (what was
  // snapshotted) and shard-K/ (a snapshot of one replica of shard K, Collection::CreateSnapshot),
  // copied from one live replica of each shard.

  std::string SnapshotsOf(const std::string& t, const std::string& d) const { return opt.snapshots_dir + "/" + t + "/" + d; }

  Reply CreateSnapshot(const server::ClusterRequest& rq, const CollectionMeta& meta) {
    SX_PARSE(std::optional<std::string> name, server::ParseSnapshotCreate(rq.body));
    if (!name) name = server::NewSnapshotName(meta.name);
    const std::string dir = SnapshotsOf(rq.tenant, rq.database) + "/" + *name;
    const std::string staging = SnapshotsOf(rq.tenant, rq.database) + "/.taking-" + *name;
    std::error_code ec;
    if (std::filesystem::exists(dir, ec)) return Error(409, "already_exists", "snapshot '" + *name + "' already exists");
    std::filesystem::remove_all(staging, ec);
    std::filesystem::create_directories(staging, ec);
    if (ec) return Error(500, "io_error", "cannot create " + staging + ": " + ec.message());
    auto fail = [&](Reply r) {
      std::error_code ignored;
      std::filesystem::remove_all(staging, ignored);
      return r;
    };
    json sequences = json::array();
    for (uint32_t shard = 0; shard < meta.shards; ++shard) {
      std::string tried;
      std::optional<uint64_t> seq;
      for (const std::string& node : ReplicaOrder(meta, shard, /*with_silent=*/false)) {
        auto fetched = FetchSnapshot(node, meta.uid, shard, staging + "/shard-" + std::to_string(shard), 0,
                                     [&] { return stopping.load(); });
        if (fetched.ok()) {
          seq = *fetched;
          break;
        }
        tried += (tried.empty() ? "" : "; ") + fetched.status().message();
      }
      if (!seq) {
        return fail(Error(503, "unavailable",
                          "shard " + std::to_string(shard) + " of collection '" + meta.name +
                              "' has no replica that gave a snapshot" + (tried.empty() ? "" : " (" + tried + ")")));
      }
      sequences.push_back(*seq);
    }
    const json manifest = {{"format", "sextant-cluster-snapshot"}, {"version", 1},         {"collection", meta.name},
                           {"config", meta.config},                {"shards", meta.shards}, {"replication_factor", meta.replication_factor},
                           {"sequences", sequences}};
    if (Status st = server::WriteFileAtomic(staging + "/cluster.json", manifest.dump(2) + "\n"); !st.ok()) {
      return fail(FromStatus(st));
    }
    std::filesystem::rename(staging, dir, ec);
    if (ec) return fail(Error(500, "io_error", "cannot rename " + staging + ": " + ec.message()));
    return Reply{201, {{"snapshot", *name}, {"collection", meta.name}, {"shards", meta.shards}, {"sequences", sequences}}};
  }

  Reply ListSnapshots(const server::ClusterRequest& rq) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(SnapshotsOf(rq.tenant, rq.database), ec)) {
      const std::string n = e.path().filename().string();
      if (e.is_directory() && !n.empty() && n[0] != '.') names.push_back(n);
    }
    std::sort(names.begin(), names.end());
    json out = json::array();
    for (const auto& n : names) out.push_back({{"name", n}});
    return Reply{200, {{"snapshots", std::move(out)}}};
  }

  Reply DeleteSnapshot(const server::ClusterRequest& rq) {
    const std::string& name = rq.params.at("snapshot");
    const std::string dir = SnapshotsOf(rq.tenant, rq.database) + "/" + name;
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return Error(404, "not_found", "no snapshot '" + name + "'");
    std::filesystem::remove_all(dir, ec);
    if (ec) return Error(500, "io_error", "cannot delete the snapshot: " + ec.message());
    return Reply{200, {{"deleted", name}}};
  }

  // A snapshot restored as a new collection of the cluster, with the snapshot's settings and
  // shard count: each shard's points are read from its snapshot (opened as a scratch local
  // collection) and written through the new collection's streams like any upsert, so every
  // replica builds it the usual way. A single node's snapshot (no cluster.json) restores as a
  // collection of one shard.
  Reply RestoreSnapshot(const server::ClusterRequest& rq) {
    SX_PARSE(std::string target, server::ParseSnapshotRestore(rq.body));
    const std::string& name = rq.params.at("snapshot");
    const std::string dir = SnapshotsOf(rq.tenant, rq.database) + "/" + name;
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return Error(404, "not_found", "no snapshot '" + name + "'");
    uint32_t shards = 1, rf = 1;
    std::vector<std::string> shard_dirs = {dir};
    if (std::filesystem::exists(dir + "/cluster.json", ec)) {
      std::ifstream in(dir + "/cluster.json");
      json manifest = json::parse(std::string(std::istreambuf_iterator<char>(in), {}), nullptr, false);
      if (!manifest.is_object() || manifest.value("format", "") != "sextant-cluster-snapshot" ||
          !manifest.contains("shards") || !manifest["shards"].is_number_unsigned() ||
          !manifest.contains("replication_factor") || !manifest["replication_factor"].is_number_unsigned()) {
        return Error(500, "corruption", dir + "/cluster.json is not a cluster snapshot's manifest");
      }
      shards = manifest["shards"].get<uint32_t>();
      rf = manifest["replication_factor"].get<uint32_t>();
      shard_dirs.clear();
      for (uint32_t s = 0; s < shards; ++s) shard_dirs.push_back(dir + "/shard-" + std::to_string(s));
    }
    // Scratch copies of the shards, to read their points.
    const std::string scratch = opt.data_dir + "/restoring/" + RandomId();
    struct Cleanup {
      std::string path;
      ~Cleanup() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
      }
    } cleanup{scratch};
    auto db = Database::Open(scratch);
    if (!db.ok()) return FromStatus(db.status());
    std::vector<std::shared_ptr<Collection>> parts;
    for (uint32_t s = 0; s < shards; ++s) {
      auto part = (*db)->RestoreSnapshot(shard_dirs[s], "s" + std::to_string(s));
      if (!part.ok()) return FromStatus(part.status().WithContext("snapshot '" + name + "' shard " + std::to_string(s)));
      parts.push_back(*part);
    }
    CollectionConfig config = parts[0]->config();
    config.name = target;
    rf = std::min<uint32_t>(rf, static_cast<uint32_t>(LiveNodesCount()));
    CollectionMeta meta;
    Reply created = CreateCollection(rq.tenant, rq.database, config, shards, std::max<uint32_t>(rf, 1), rq.deadline, &meta);
    if (created.status != 201) {
      return created.status == 200 ? Error(409, "already_exists", "collection '" + target + "' already exists") : created;
    }
    size_t count = 0;
    for (uint32_t s = 0; s < shards; ++s) {
      std::string after;
      WriteOp op;
      op.kind = OpKind::kUpsert;
      size_t bytes = 0;
      auto flush = [&]() -> std::optional<Reply> {
        if (op.points.empty()) return std::nullopt;
        auto published = Publish(meta, s, op, rq.deadline);
        if (!published.ok()) return Error(503, "unavailable", published.status().message());
        op.points.clear();
        bytes = 0;
        return std::nullopt;
      };
      for (;;) {
        auto page = parts[s]->Scroll(after, 1000, std::nullopt, /*include_vector=*/true);
        if (!page.ok()) return FromStatus(page.status());
        for (Point& p : page->points) {
          if (ShardOf(p.id, shards) != s) {
            return Error(500, "corruption", "point '" + p.id.substr(0, 200) + "' of snapshot '" + name + "' shard " +
                                                std::to_string(s) + " belongs to another shard");
          }
          bytes += p.id.size() + p.vector.size() * 4 + (p.document ? p.document->size() : 0) + p.metadata.dump().size();
          op.points.push_back(std::move(p));
          ++count;
          if (bytes >= 256 * 1024) {
            if (auto failed = flush()) return *failed;
          }
        }
        if (!page->next) break;
        after = *page->next;
      }
      if (auto failed = flush()) return *failed;
    }
    return Reply{201, {{"restored", target}, {"count", count}, {"shards", shards}}};
  }

  size_t LiveNodesCount() {
    std::lock_guard<std::mutex> l(mu);
    return LiveNodesLocked().size();
  }

  // Reads other than queries ask for read-your-writes with ?consistency=strong: the serving
  // replicas first apply everything their shard's stream held when the read began.
  std::optional<Reply> StrongSequences(const server::ClusterRequest& rq, const CollectionMeta& meta,
                                       std::vector<uint64_t>* out) {
    auto it = rq.query.find("consistency");
    if (it == rq.query.end() || it->second == "eventual") return std::nullopt;
    if (it->second != "strong") return Error(400, "bad_request", "consistency must be strong or eventual");
    auto seqs = LastSequences(meta);
    if (!seqs.ok()) return Error(503, "unavailable", seqs.status().message());
    *out = *seqs;
    return std::nullopt;
  }

  Reply ClusterInfo() {
    json nodes_out = json::array(), colls = json::array();
    std::vector<CollectionMeta> list;
    std::map<std::string, json> applied_by_node;
    std::string leader_now;
    {
      std::lock_guard<std::mutex> l(mu);
      const auto now = Clock::now();
      std::set<std::string> ids;
      for (const auto& [id, addr] : registered) ids.insert(id);
      for (const auto& [id, info] : nodes) ids.insert(id);
      for (const auto& id : ids) {
        auto it = nodes.find(id);
        json n = {{"id", id}, {"alive", IsAliveLocked(id, now)}};
        auto reg = registered.find(id);
        n["address"] = it != nodes.end() && !it->second.address.empty() ? it->second.address
                       : reg != registered.end()                         ? reg->second
                                                                         : "";
        if (it != nodes.end() && it->second.seen) {
          n["last_heartbeat_ms"] =
              std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second.last_seen).count();
          applied_by_node[id] = it->second.applied;
          if (!it->second.errors.empty()) n["errors"] = it->second.errors;
        }
        nodes_out.push_back(std::move(n));
      }
      for (const auto& [k, m] : metas) list.push_back(m);
      leader_now = leader;
      // This node's own positions are fresher than its last heartbeat.
      json mine = json::object();
      for (auto& [key, r] : replicas) {
        if (r->ready) mine[key] = r->applied.load();
      }
      applied_by_node[opt.node_id] = mine;
    }
    for (const auto& m : list) {
      json shards = json::array();
      auto last = LastSequences(m);
      std::vector<json> firsts;
      for (uint32_t s = 0; s < m.shards; ++s) {
        auto f = FirstSequence(StreamName(m.uid, s));
        firsts.push_back(f.ok() ? json(*f) : json());
      }
      for (uint32_t s = 0; s < m.shards; ++s) {
        json reps = json::array();
        for (const auto& n : m.replicas[s]) {
          json r = {{"node", n}};
          auto it = applied_by_node.find(n);
          const std::string key = ReplicaKey(m.uid, s);
          if (it != applied_by_node.end() && it->second.contains(key)) {
            r["applied"] = it->second[key];
          } else {
            r["applied"] = nullptr;
          }
          reps.push_back(std::move(r));
        }
        json sh = {{"shard", s}, {"stream", StreamName(m.uid, s)}, {"replicas", std::move(reps)}};
        sh["last_sequence"] = last.ok() ? json((*last)[s]) : json();
        sh["first_sequence"] = firsts[s];
        shards.push_back(std::move(sh));
      }
      colls.push_back({{"tenant", m.tenant},
                       {"database", m.database},
                       {"name", m.name},
                       {"uid", m.uid},
                       {"replication_factor", m.replication_factor},
                       {"shards", std::move(shards)}});
    }
    return Reply{200,
                 {{"node", opt.node_id},
                  {"leader", leader_now.empty() ? json() : json(leader_now)},
                  {"stream_replicas", opt.stream_replicas},
                  {"nodes", std::move(nodes_out)},
                  {"collections", std::move(colls)}}};
  }

  // ---------------------------------------------------------------------------------------
  // Tenants and databases: keys tenants.T and databases.T.D of the bucket, created with
  // compare-and-set (kvStore_Create); tenant "default" with database "default" always exists.

  // Whether the bucket holds `key`: the watched copy first, then the bucket itself (a value
  // created a moment ago through another node).
  bool InBucket(const std::string& key, bool watched) {
    if (watched) return true;
    kvEntry* e = nullptr;
    const natsStatus s = kvStore_Get(&e, meta_kv, key.c_str());
    if (e) kvEntry_Destroy(e);
    return s == NATS_OK;
  }

  bool TenantExists(const std::string& t) {
    if (t == server::kDefaultName) return true;
    bool watched = false;
    {
      std::lock_guard<std::mutex> l(mu);
      watched = tenants.count(t) > 0;
    }
    return InBucket("tenants." + t, watched);
  }

  bool DatabaseExists(const std::string& t, const std::string& d) {
    if (t == server::kDefaultName && d == server::kDefaultName) return true;
    bool watched = false;
    {
      std::lock_guard<std::mutex> l(mu);
      watched = tenant_databases.count({t, d}) > 0;
    }
    return InBucket("databases." + t + "." + d, watched);
  }

  std::vector<std::string> DatabasesOf(const std::string& t) {
    std::set<std::string> out;
    if (t == server::kDefaultName) out.insert(server::kDefaultName);
    std::lock_guard<std::mutex> l(mu);
    for (const auto& [tenant, d] : tenant_databases) {
      if (tenant == t) out.insert(d);
    }
    return {out.begin(), out.end()};
  }

  std::vector<CollectionMeta> CollectionsOf(const std::string& t, const std::optional<std::string>& d) {
    std::vector<CollectionMeta> out;
    std::lock_guard<std::mutex> l(mu);
    for (const auto& [k, m] : metas) {
      if (m.tenant == t && (!d || m.database == *d)) out.push_back(m);
    }
    return out;
  }

  // Creates `key` unless it exists: 201 when new, 200 when it was there already.
  Reply CreateOnce(const std::string& key, const json& value, json reply, const std::function<void()>& note) {
    const std::string v = value.dump();
    natsStatus s = kvStore_Create(nullptr, meta_kv, key.c_str(), v.data(), static_cast<int>(v.size()));
    const bool created = s == NATS_OK;
    if (!created && !InBucket(key, false)) return Error(503, "unavailable", NatsError(s, "creating " + key).message());
    note();  // this node knows it at once; the others through their watchers
    reply["created"] = created;
    return Reply{created ? 201 : 200, std::move(reply)};
  }

  // Drops every collection of tenant `t` (of database `d` only, when given).
  std::optional<Reply> DropCollectionsOf(const std::string& t, const std::optional<std::string>& d) {
    for (const CollectionMeta& m : CollectionsOf(t, d)) {
      if (auto failed = DropMeta(m)) return failed;
    }
    return std::nullopt;
  }

  std::optional<Reply> DeleteKey(const std::string& key) {
    natsStatus s = kvStore_Delete(meta_kv, key.c_str());
    if (s != NATS_OK) return Error(503, "unavailable", NatsError(s, "deleting " + key).message());
    return std::nullopt;
  }

  std::optional<Reply> HandleTenants(const server::ClusterRequest& rq) {
    const std::string& p = rq.pattern;
    const std::string& m = rq.method;
    const bool cascade = rq.query.count("cascade") && rq.query.at("cascade") == "true";
    if (p == "/v1/tenants" && m == "GET") {
      std::set<std::string> all{server::kDefaultName};
      {
        std::lock_guard<std::mutex> l(mu);
        all.insert(tenants.begin(), tenants.end());
      }
      json out = json::array();
      for (const auto& t : all) {
        if (rq.principal.CoversTenant(t)) out.push_back({{"name", t}});
      }
      return Reply{200, {{"tenants", std::move(out)}}};
    }
    if (p.rfind("/v1/tenants/{tenant}", 0) != 0) return std::nullopt;
    const std::string& t = rq.params.at("tenant");
    if (p == "/v1/tenants/{tenant}") {
      if (m == "PUT") {
        if (!rq.body.empty() && !(rq.body.is_object() && rq.body.empty())) {
          return Error(400, "bad_request", "PUT of a tenant takes no fields");
        }
        if (t == server::kDefaultName) return Reply{200, {{"name", t}, {"created", false}}};
        return CreateOnce("tenants." + t, {{"name", t}}, {{"name", t}}, [&] {
          std::lock_guard<std::mutex> l(mu);
          tenants.insert(t);
        });
      }
      if (!TenantExists(t)) return Error(404, "not_found", "no tenant '" + t + "'");
      if (m == "GET") {
        json dbs = json::array();
        for (const auto& d : DatabasesOf(t)) {
          if (rq.principal.CoversDatabase(t, d)) dbs.push_back(d);
        }
        return Reply{200, {{"name", t}, {"databases", std::move(dbs)}}};
      }
      if (m == "DELETE") {
        if (t == server::kDefaultName) return Error(409, "failed_precondition", "the default tenant cannot be deleted");
        const auto dbs = DatabasesOf(t);
        if (!dbs.empty() && !cascade) {
          return Error(409, "failed_precondition",
                       "tenant '" + t + "' still has databases; delete them first or add ?cascade=true");
        }
        if (auto failed = DropCollectionsOf(t, std::nullopt)) return failed;
        for (const auto& d : dbs) {
          if (auto failed = DeleteKey("databases." + t + "." + d)) return failed;
        }
        if (auto failed = DeleteKey("tenants." + t)) return failed;
        {
          std::lock_guard<std::mutex> l(mu);
          tenants.erase(t);
          for (const auto& d : dbs) tenant_databases.erase({t, d});
        }
        return Reply{200, {{"deleted", t}}};
      }
      return std::nullopt;
    }
    if (p == "/v1/tenants/{tenant}/databases" && m == "GET") {
      if (!TenantExists(t)) return Error(404, "not_found", "no tenant '" + t + "'");
      json out = json::array();
      for (const auto& d : DatabasesOf(t)) {
        if (rq.principal.CoversDatabase(t, d)) out.push_back({{"name", d}});
      }
      return Reply{200, {{"databases", std::move(out)}}};
    }
    if (p != "/v1/tenants/{tenant}/databases/{database}") return std::nullopt;
    const std::string& d = rq.params.at("database");
    if (m == "PUT") {
      if (!(rq.body.is_object() && rq.body.empty())) return Error(400, "bad_request", "PUT of a database takes no fields");
      if (!TenantExists(t)) return Error(404, "not_found", "no tenant '" + t + "'");
      json reply = {{"name", d}, {"tenant", t}};
      if (t == server::kDefaultName && d == server::kDefaultName) {
        reply["created"] = false;
        return Reply{200, std::move(reply)};
      }
      return CreateOnce("databases." + t + "." + d, {{"tenant", t}, {"name", d}}, std::move(reply), [&] {
        std::lock_guard<std::mutex> l(mu);
        tenant_databases.insert({t, d});
      });
    }
    if (!DatabaseExists(t, d)) return Error(404, "not_found", "no database '" + d + "' in tenant '" + t + "'");
    if (m == "GET") {
      json cols = json::array();
      for (const auto& c : CollectionsOf(t, d)) cols.push_back(c.name);
      return Reply{200, {{"name", d}, {"tenant", t}, {"collections", std::move(cols)}}};
    }
    if (m == "DELETE") {
      if (t == server::kDefaultName && d == server::kDefaultName) {
        return Error(409, "failed_precondition", "the default database cannot be deleted");
      }
      if (!CollectionsOf(t, d).empty() && !cascade) {
        return Error(409, "failed_precondition",
                     "database '" + d + "' still has collections; drop them first or add ?cascade=true");
      }
      if (auto failed = DropCollectionsOf(t, d)) return failed;
      if (auto failed = DeleteKey("databases." + t + "." + d)) return failed;
      {
        std::lock_guard<std::mutex> l(mu);
        tenant_databases.erase({t, d});
      }
      return Reply{200, {{"deleted", d}, {"tenant", t}}};
    }
    return std::nullopt;
  }

  std::optional<Reply> Handle(const server::ClusterRequest& rq) {
    const std::string& p = rq.pattern;
    if (p == "/v1/cluster") return ClusterInfo();
    if (p.rfind("/v1/tenants", 0) == 0 && p.find("/collections") == std::string::npos &&
        p.find("/snapshots") == std::string::npos) {
      return HandleTenants(rq);
    }
    std::string_view rest = p;
    for (std::string_view prefix : {"/v1/tenants/{tenant}/databases/{database}", "/v1"}) {
      if (rest.substr(0, prefix.size()) == prefix) {
        rest.remove_prefix(prefix.size());
        break;
      }
    }
    const bool snapshots = rest == "/snapshots" || rest.substr(0, 11) == "/snapshots/" || rest.ends_with("/snapshots");
    if (!snapshots && rest.substr(0, 12) != "/collections") return std::nullopt;
    if (!DatabaseExists(rq.tenant, rq.database)) {
      return Error(404, "not_found", "no database '" + rq.database + "' in tenant '" + rq.tenant + "'");
    }
    if (rest == "/snapshots" && rq.method == "GET") return ListSnapshots(rq);
    if (rest == "/snapshots/{snapshot}" && rq.method == "DELETE") return DeleteSnapshot(rq);
    if (rest == "/snapshots/{snapshot}/restore") return RestoreSnapshot(rq);
    if (rest == "/snapshots/{snapshot}/archive") {
      const std::string& name = rq.params.at("snapshot");
      const std::string dir = SnapshotsOf(rq.tenant, rq.database) + "/" + name;
      std::error_code ec;
      if (!std::filesystem::is_directory(dir, ec)) return Error(404, "not_found", "no snapshot '" + name + "'");
      return server::SnapshotArchiveReply(dir, name);
    }
    if (snapshots && rest != "/collections/{collection}/snapshots") {
      return Error(501, "not_implemented", rq.method + " " + p + " is not supported on a cluster");
    }
    if (rest == "/collections") return ListCollections(rq);
    const std::string& m = rq.method;
    if (rest == "/collections/{collection}" && m == "PUT") return PutCollection(rq);
    const std::string& name = rq.params.at("collection");
    auto meta = FindMeta(rq.tenant, rq.database, name);
    if (!meta) return NoCollection(name);
    auto config = ConfigOf(meta->uid);
    if (!config) return Error(500, "internal", "collection '" + name + "' has settings this node cannot read");
    if (rest == "/collections/{collection}") {
      if (m == "GET") return GetCollectionInfo(rq, *meta, *config);
      if (m == "PATCH") return PatchCollection(rq, *meta);
      if (m == "DELETE") return DropCollection(rq);
    }
    if (rest == "/collections/{collection}/points") {
      if (m == "POST") return Upsert(rq, *meta, *config);
      if (m == "DELETE") return DeletePoints(rq, *meta);
    }
    if (rest == "/collections/{collection}/points/delete") return DeletePoints(rq, *meta);
    if (rest == "/collections/{collection}/points/{id}") {
      if (m == "GET") return GetPoint(rq, *meta);
      if (m == "PATCH") return PatchPoint(rq, *meta);
      if (m == "DELETE") return DeletePoint(rq, *meta);
    }
    if (rest == "/collections/{collection}/count") return Count(rq, *meta);
    if (rest == "/collections/{collection}/scroll") return Scroll(rq, *meta);
    if (rest == "/collections/{collection}/query") return Query(rq, *meta, *config);
    if (rest == "/collections/{collection}/snapshots") return CreateSnapshot(rq, *meta);
    return Error(501, "not_implemented", m + " " + p + " is not supported on a cluster yet");
  }
};

ClusterNode::ClusterNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ClusterNode::~ClusterNode() { Stop(); }

void ClusterNode::Stop() {
  if (impl_) impl_->Shutdown();
}

Result<std::shared_ptr<ClusterNode>> ClusterNode::Start(const ClusterOptions& options) {
  ClusterOptions opt = options;
  if (opt.nats_urls.empty()) return Status::InvalidArgument("--cluster needs at least one nats:// URL");
  for (const auto& u : opt.nats_urls) {
    if (u.rfind("nats://", 0) != 0 && u.rfind("tls://", 0) != 0) {
      return Status::InvalidArgument("--cluster: '" + u + "' is not a nats:// URL");
    }
  }
  if (!IsValidName(opt.node_id)) {
    return Status::InvalidArgument("--node-id must be 1 to 64 characters of A-Z a-z 0-9 _ -, got '" + opt.node_id + "'");
  }
  if (opt.stream_replicas < 0 || opt.stream_replicas > 5) {
    return Status::InvalidArgument("stream replicas must be in [1, 5]");
  }
  if (opt.connect_timeout_ms <= 0) return Status::InvalidArgument("the NATS connect timeout must be positive");
  std::error_code ec;
  std::filesystem::create_directories(opt.data_dir, ec);
  if (ec) return Status::IOError("cannot create " + opt.data_dir + ": " + ec.message());
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(opt);
  Status st = impl->Init();
  if (!st.ok()) {
    impl->Shutdown();
    return st;
  }
  return std::shared_ptr<ClusterNode>(new ClusterNode(std::move(impl)));
}

std::optional<server::Reply> ClusterNode::Handle(const server::ClusterRequest& request) {
  return impl_->Handle(request);
}

void ClusterNode::AttachKeyStore(std::shared_ptr<server::KeyStore> keys) { impl_->AttachKeyStore(std::move(keys)); }

}  // namespace sextant::cluster
