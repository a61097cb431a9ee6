// The cluster's metadata as it lives in the key-value bucket (docs/cluster.md), and the pure
// rules of who holds which shard replica: assignment at creation and the leader's repairs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sextant/status.h"

namespace sextant::cluster {

// One collection of the cluster: key "collections.T.D.C" of the metadata bucket.
struct CollectionMeta {
  std::string tenant, database, name;
  // Unique per creation (a collection dropped and created again gets a new one): names the
  // shards' streams and the replicas' local directories.
  std::string uid;
  uint32_t shards = 1;
  uint32_t replication_factor = 1;
  nlohmann::json config;  // the collection's settings in their stored form (codec)
  // replicas[shard] = the nodes holding that shard, in order of assignment.
  std::vector<std::vector<std::string>> replicas;
  uint64_t revision = 0;  // the bucket's revision of this value (not stored in it)
};

nlohmann::json MetaToJson(const CollectionMeta& meta);
// Corruption naming the field for a value that is not a collection's metadata.
Result<CollectionMeta> MetaFromJson(const nlohmann::json& j);

std::string CollectionKey(const std::string& tenant, const std::string& database, const std::string& name);
std::string StreamName(const std::string& uid, uint32_t shard);
std::string StreamSubject(const std::string& uid, uint32_t shard);

// Replicas for a new collection: `replication_factor` distinct nodes per shard among `live`
// (sorted, at least replication_factor of them), spreading shards over the least-loaded nodes
// first (`load`: replicas each node holds already; updated).
std::vector<std::vector<std::string>> AssignReplicas(uint32_t shards, uint32_t replication_factor,
                                                     const std::vector<std::string>& live,
                                                     std::map<std::string, size_t>& load);

// The leader's repair of one collection: each replica on a node in `gone` (not heard from for
// longer than the reassignment timeout) is replaced by a live node that does not hold the
// shard, and shards with fewer than replication_factor replicas get more, least-loaded first.
// A shard keeps a gone replica when no live node can take its place. nullopt: no change.
std::optional<std::vector<std::vector<std::string>>> RepairReplicas(const CollectionMeta& meta,
                                                                    const std::vector<std::string>& live,
                                                                    const std::set<std::string>& gone,
                                                                    std::map<std::string, size_t>& load);

// Spreading replicas evenly over the live nodes (a node that joins gets its share), one move
// at a time and without ever holding fewer replicas than the replication factor: a move first
// adds a replica on the target node (the shard then has one too many), and once that replica
// has caught up FinishMove takes one off the most-loaded node.
struct Move {
  std::string collection;  // the CollectionKey
  uint32_t shard = 0;
  std::string from, to;
};
// The next move: from the most-loaded live node to the least-loaded one when they differ by two
// replicas or more, of the first shard (collections in key order, shards in order) that `from`
// holds, `to` does not, and whose replicas are all on live nodes. nullopt: balanced, or a
// move is still in progress (a shard holds more replicas than its replication factor).
std::optional<Move> PlanRebalance(const std::vector<CollectionMeta>& metas, const std::vector<std::string>& live);

// The replicas of a shard with one too many (a move in progress) once its newest replica (the
// last) has caught up: without the replica on the most-loaded node among the others (`load`:
// replicas per node; ties: the first in the list). nullopt when it has no more than
// `replication_factor`.
std::optional<std::vector<std::string>> FinishMove(const std::vector<std::string>& shard, uint32_t replication_factor,
                                                   const std::map<std::string, size_t>& load);

}  // namespace sextant::cluster
