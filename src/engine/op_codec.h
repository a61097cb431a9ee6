// Encoding of the collection's log records (one record per write) and checkpoint files.
// Formats: docs/formats/collection.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/point_ref.h"
#include "sextant/database.h"

namespace sextant::engine {

// One acknowledged write, as it sits in the log.
struct Op {
  enum Type : uint8_t { kUpsert = 1, kDelete = 2, kUpdateMetadata = 3 };
  Type type = kUpsert;
  uint64_t seq = 0;
  std::vector<Point> points;     // kUpsert
  std::vector<std::string> ids;  // kDelete; kUpdateMetadata uses ids[0]
  nlohmann::json metadata;       // kUpdateMetadata
  bool merge = false;            // kUpdateMetadata
};

std::string EncodeOp(const Op& op);
// The record of an upsert of `points` at `seq`: the bytes EncodeOp gives for an Op of type kUpsert
// holding the same points.
std::string EncodeUpsert(uint64_t seq, std::span<const PointRef> points);
// Errors: Corruption describing what is malformed (the record passed its checksum, so this
// means a bug or a format mismatch, never a torn write).
Result<Op> DecodeOp(std::string_view bytes, size_t dimension);

// One point as kept in a checkpoint.
struct StoredPoint {
  uint32_t internal_id = 0;
  // The sealed segment holding the vector, or 0: the vector is in this file (mutable and
  // frozen segments, flat collections).
  uint64_t segment = 0;
  Point point;      // vector empty when a segment file holds it
  float norm = 1;   // cosine collections: the original length of the vector
};

// Version-1 checkpoints kept every vector of an HNSW collection in one index file; it is read
// as this sealed segment.
constexpr uint64_t kLegacyIndexSegment = 1;

struct Checkpoint {
  uint64_t seq = 0;
  size_t dimension = 0;
  std::vector<StoredPoint> points;
};

std::string EncodeCheckpoint(const Checkpoint& cp);
// Errors: Corruption (bad magic, version, checksum or structure) naming `what`.
Result<Checkpoint> DecodeCheckpoint(std::string_view bytes, const std::string& what);

}  // namespace sextant::engine
