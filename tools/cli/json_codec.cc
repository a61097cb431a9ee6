#include "json_codec.h"

#include <cmath>

namespace sextant::cli {

Result<std::vector<float>> VectorFromJson(const nlohmann::json& j, const char* field) {
  if (!j.is_array()) {
    return Status::InvalidArgument(std::string("field '") + field + "' must be an array of numbers");
  }
  std::vector<float> v;
  v.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_number()) {
      return Status::InvalidArgument(std::string("field '") + field + "': element " +
                                     std::to_string(i) + " is not a number");
    }
    const double x = j[i].get<double>();
    if (!std::isfinite(x) || std::fabs(x) > 3.4e38) {
      return Status::InvalidArgument(std::string("field '") + field + "': element " +
                                     std::to_string(i) + " is not a finite float32");
    }
    v.push_back(static_cast<float>(x));
  }
  return v;
}

Result<Point> PointFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::InvalidArgument("a point must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "id" && key != "vector" && key != "document" && key != "metadata") {
      return Status::InvalidArgument("unknown field '" + key +
                                     "' (expected id, vector, document, metadata)");
    }
  }
  Point p;
  if (!j.contains("id") || !j["id"].is_string()) {
    return Status::InvalidArgument("field 'id' must be a string");
  }
  p.id = j["id"].get<std::string>();
  // A missing vector is fine for text-only collections; others reject the empty vector.
  if (j.contains("vector")) {
    SEXTANT_ASSIGN_OR_RETURN(p.vector, VectorFromJson(j["vector"], "vector"));
  }
  if (j.contains("document") && !j["document"].is_null()) {
    if (!j["document"].is_string()) return Status::InvalidArgument("field 'document' must be a string");
    p.document = j["document"].get<std::string>();
  }
  if (j.contains("metadata") && !j["metadata"].is_null()) {
    if (!j["metadata"].is_object()) {
      return Status::InvalidArgument("field 'metadata' must be an object");
    }
    p.metadata = j["metadata"];
  }
  return p;
}

nlohmann::json PointToJson(const Point& p, bool include_vector) {
  nlohmann::json j = {{"id", p.id}};
  if (include_vector) j["vector"] = p.vector;
  if (p.document) j["document"] = *p.document;
  j["metadata"] = p.metadata;
  return j;
}

nlohmann::json HitToJson(const QueryHit& h) {
  nlohmann::json j = {{"id", h.id}, {"score", h.score}};
  if (h.document) j["document"] = *h.document;
  if (h.metadata) j["metadata"] = *h.metadata;
  if (h.vector) j["vector"] = *h.vector;
  if (h.explain) j["explain"] = *h.explain;
  return j;
}

nlohmann::json QuantizationToJson(const QuantizationParams& q) {
  return {{"nlist", q.nlist}, {"nprobe", q.nprobe}, {"m", q.m}, {"nbits", q.nbits}, {"rerank", q.rerank}};
}

nlohmann::json SegmentParamsToJson(const SegmentParams& s) {
  return {{"seal_points", s.seal_points}, {"merge_factor", s.merge_factor},
          {"compact_deleted_fraction", s.compact_deleted_fraction}};
}

}  // namespace sextant::cli
