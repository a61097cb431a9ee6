// JSON <-> API types for the command line (and, later, the server): points, query requests
// and hits. Errors name the field ("field 'vector': element 3 is not a number").
#pragma once

#include <nlohmann/json.hpp>

#include "sextant/database.h"

namespace sextant::cli {

// {"id": "...", "vector": [...], "document": "...", "metadata": {...}}. A missing vector
// becomes an empty one (accepted only by text-only collections).
Result<Point> PointFromJson(const nlohmann::json& j);
nlohmann::json PointToJson(const Point& p, bool include_vector);
Result<std::vector<float>> VectorFromJson(const nlohmann::json& j, const char* field);
nlohmann::json HitToJson(const QueryHit& h);
// {"nlist","nprobe","m","nbits","rerank"} and {"seal_points","merge_factor",
// "compact_deleted_fraction"}: how the CLI and the server show these collection settings.
nlohmann::json QuantizationToJson(const QuantizationParams& q);
nlohmann::json SegmentParamsToJson(const SegmentParams& s);

}  // namespace sextant::cli
