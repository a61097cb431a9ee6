// A Sextant node of a cluster on NATS JetStream (`sextant serve --cluster URLS --node-id N`;
// design in docs/cluster.md). It is the server's ClusterHook: it answers the collection routes
// for the whole cluster, from any node.
//
//   metadata   JetStream key-value bucket "sextant_meta": collections.T.D.C -> the collection's
//              settings, shard count, replication factor and shard map (CollectionMeta),
//              changed with compare-and-set; nodes.N -> a node's registration. Every node
//              watches it. Bucket "sextant_live" (values expire): nodes.N -> heartbeat with the
//              node's applied positions; "leader" -> the node that repairs shard maps.
//   log        one stream per shard (subject sextant.log.UID.SHARD); a write is acknowledged
//              once JetStream has stored it with the stream's replicas.
//   replicas   a node consumes the streams of the shards it holds in order (an ordered consumer
//              from its applied sequence + 1) into a local collection, and records the applied
//              sequence in a file beside it (replays after a crash are idempotent).
//              tenants.T, databases.T.D -> tenants and databases (created with compare-and-set);
//              keys.ID -> an API key's record (its hash, never the secret), mirrored into the
//              server's KeyStore on every node.
//   reads      scatter to one live replica per shard (NATS request/reply on
//              sextant.rpc.NODE, or in-process for the node's own replicas), exact merge;
//              a shard without an answering replica fails the request with 503 naming it.
//
// Thread-safety: Handle may be called from many threads; Start/Stop from one.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/cluster_hook.h"
#include "server/request_codec.h"
#include "sextant/status.h"

namespace sextant::cluster {

struct ClusterOptions {
  std::vector<std::string> nats_urls;  // nats://host:port, at least one
  std::string node_id;                 // [A-Za-z0-9_-], unique in the cluster, stable across restarts
  std::string advertise;               // how people reach this node (shown by GET /v1/cluster)
  std::string data_dir;                // this node's replicas (DATA/cluster)
  std::string snapshots_dir;           // snapshots of collections taken through this node (DATA/snapshots)
  // Replicas of each stream and bucket in JetStream; 0: 3 when three or more NATS servers are
  // known (the URLs given, or the servers the first one reports), else as many as there are.
  int stream_replicas = 0;
  int heartbeat_ms = 500;
  // A node not heard from for this long is not alive: reads go to other replicas.
  int node_timeout_ms = 3000;
  // A node not heard from for this long loses its shard replicas to live nodes (the leader
  // moves them); a node that comes back later rebuilds what it is given from the log.
  int reassign_timeout_ms = 30000;
  int rpc_timeout_ms = 3000;  // one replica's answer to a read
  // The leader purges a shard's stream up to what every live replica has durably applied,
  // keeping the last this many records of that, once it frees at least as many (0: streams
  // keep everything). A replica left behind (its node was down meanwhile) is rebuilt from
  // another replica's snapshot.
  uint64_t compact_messages = 100000;
  server::Limits limits;
  // How long Start waits for a NATS server to answer, and then for each JetStream bucket
  // (the servers, or their JetStream, may still be starting).
  int connect_timeout_ms = 30000;
  // Told once, from Start's thread, when Start begins to wait (NATS not answering, JetStream
  // refusing a bucket) and why, so that a mistyped URL does not look like a hang.
  std::function<void(const std::string& message)> on_wait;
};

class ClusterNode final : public server::ClusterHook {
 public:
  // Connects to NATS (any of the URLs), opens or creates the buckets, registers the node and
  // starts its threads (heartbeat and leadership, the bucket watchers, the request workers,
  // one applier per replica it holds). Errors: InvalidArgument for bad options, IOError when
  // NATS cannot be reached or JetStream refuses.
  static Result<std::shared_ptr<ClusterNode>> Start(const ClusterOptions& options);
  ~ClusterNode() override;

  // Stops the threads and closes the connection and the local replicas; idempotent.
  void Stop();

  std::optional<server::Reply> Handle(const server::ClusterRequest& request) override;
  void AttachKeyStore(std::shared_ptr<server::KeyStore> keys) override;

  struct Impl;

 private:
  explicit ClusterNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sextant::cluster
