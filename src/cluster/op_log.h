// The records of a shard's log: each write of a cluster collection (an upsert batch, a delete,
// a delete by filter, a metadata update) is one message of its shard's JetStream stream, in
// this binary form (docs/cluster.md). Replicas decode and apply them in stream order.
//
// Form (little-endian): "SXOP", version u8 = 1, kind u8, then by kind
//   upsert           u32 n, n x { str id, u32 dim, dim x f32, u8 has_document [str document],
//                                 str metadata (JSON text) }
//   delete           u32 n, n x str id
//   delete_filter    str filter (JSON text)
//   update_metadata  str id, str metadata (JSON text), u8 merge
// where str is u32 length + bytes. Floats travel as their bits, so a replica stores exactly the
// vector the client sent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sextant/database.h"
#include "sextant/status.h"

namespace sextant::cluster {

enum class OpKind : uint8_t { kUpsert = 1, kDelete = 2, kDeleteByFilter = 3, kUpdateMetadata = 4 };

struct WriteOp {
  OpKind kind = OpKind::kUpsert;
  std::vector<Point> points;              // kUpsert
  std::vector<std::string> ids;           // kDelete
  nlohmann::json filter;                  // kDeleteByFilter
  std::string id;                         // kUpdateMetadata
  nlohmann::json metadata;                // kUpdateMetadata
  bool merge = false;                     // kUpdateMetadata
};

std::string EncodeOp(const WriteOp& op);
// Corruption naming what is wrong for anything EncodeOp did not write.
Result<WriteOp> DecodeOp(std::string_view data);

// Applies one record to a replica's local collection; the points it wrote or removed (an
// upsert's batch, the points a delete found, 1 for a metadata update). Errors of the caller's
// input that the coordinator could not rule out (an update of a point deleted meanwhile:
// NotFound) are the same on every replica and are returned as such; the applier skips them.
Result<size_t> ApplyOp(Collection& collection, const WriteOp& op);

// The shard a point id belongs to: FNV-1a (64 bits) of the id's bytes, mod `shards`. Fixed
// forever: changing it would move points between shards.
uint32_t ShardOf(std::string_view id, uint32_t shards);

}  // namespace sextant::cluster
