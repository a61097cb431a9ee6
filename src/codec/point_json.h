// The JSON form of points, vectors and query hits, used by the server and the command line.
//
//   point: {"id": "a", "vector": [1, 0, 0], "document": "hello", "metadata": {"lang": "en"}}
//   hit:   {"id": "a", "score": 0.01, "document": ..., "metadata": ..., "vector": ..., "explain": ...}
//
// Parsing checks the shape and types here (messages name the field: "field 'vector': element 3
// is not a number"); what depends on the collection (dimension, id and metadata rules) is
// checked by sextant::ValidatePoint / the collection. Pure functions; thread-safe.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "sextant/database.h"

namespace sextant::codec {

// Whether a JSON number can be a vector value: finite and within float32's range. The server's
// fast vector reader (server/request_codec.cc) applies the same rule.
bool IsVectorValue(double x);

// An array of numbers that pass IsVectorValue; `field` names it in errors.
Result<std::vector<float>> VectorFromJson(const nlohmann::json& j, const char* field);

// {"id", "vector", "document", "metadata"}; no other member. A missing vector becomes an
// empty one (accepted only by text-only collections); null document or metadata are absent.
Result<Point> PointFromJson(const nlohmann::json& j);
nlohmann::json PointToJson(const Point& p, bool include_vector);

// The parts of the hit that are set.
nlohmann::json HitToJson(const QueryHit& h);
// HitToJson's form read back (a cluster node reads its shards' hits): "id" and "score"
// required, the rest optional; other members refused. Float values come back bit for bit.
Result<QueryHit> HitFromJson(const nlohmann::json& j);

}  // namespace sextant::codec
