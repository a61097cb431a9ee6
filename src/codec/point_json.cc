#include "codec/point_json.h"

#include <cmath>
#include <string>

namespace sextant::codec {

using nlohmann::json;

bool IsVectorValue(double x) { return std::isfinite(x) && std::fabs(x) <= 3.4e38; }

Result<std::vector<float>> VectorFromJson(const json& j, const char* field) {
  if (!j.is_array()) {
    return Status::InvalidArgument(std::string("field '") + field + "' must be an array of numbers");
  }
  std::vector<float> v;
  v.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_number()) {
      return Status::InvalidArgument(std::string("field '") + field + "': element " + std::to_string(i) +
                                     " is not a number");
    }
    const double x = j[i].get<double>();
    if (!IsVectorValue(x)) {
      return Status::InvalidArgument(std::string("field '") + field + "': element " + std::to_string(i) +
                                     " is not a finite float32");
    }
    v.push_back(static_cast<float>(x));
  }
  return v;
}

Result<Point> PointFromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("a point must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "id" && key != "vector" && key != "document" && key != "metadata") {
      return Status::InvalidArgument("unknown field '" + key.substr(0, 80) +
                                     "' (expected id, vector, document, metadata)");
    }
  }
  Point p;
  auto id = j.find("id");
  if (id == j.end() || !id->is_string()) return Status::InvalidArgument("field 'id' must be a string");
  p.id = id->get<std::string>();
  if (auto v = j.find("vector"); v != j.end()) {
    SEXTANT_ASSIGN_OR_RETURN(p.vector, VectorFromJson(*v, "vector"));
  }
  if (auto d = j.find("document"); d != j.end() && !d->is_null()) {
    if (!d->is_string()) return Status::InvalidArgument("field 'document' must be a string");
    p.document = d->get<std::string>();
  }
  if (auto m = j.find("metadata"); m != j.end() && !m->is_null()) {
    if (!m->is_object()) return Status::InvalidArgument("field 'metadata' must be an object");
    p.metadata = *m;
  }
  return p;
}

json PointToJson(const Point& p, bool include_vector) {
  json j = {{"id", p.id}};
  if (include_vector) j["vector"] = p.vector;
  if (p.document) j["document"] = *p.document;
  j["metadata"] = p.metadata;
  return j;
}

json HitToJson(const QueryHit& h) {
  json j = {{"id", h.id}, {"score", h.score}};
  if (h.document) j["document"] = *h.document;
  if (h.metadata) j["metadata"] = *h.metadata;
  if (h.vector) j["vector"] = *h.vector;
  if (h.explain) j["explain"] = *h.explain;
  return j;
}

Result<QueryHit> HitFromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("a hit must be a JSON object");
  QueryHit h;
  for (const auto& [key, value] : j.items()) {
    if (key == "id" && value.is_string()) {
      h.id = value.get<std::string>();
    } else if (key == "score" && value.is_number()) {
      h.score = value.get<float>();
    } else if (key == "document" && value.is_string()) {
      h.document = value.get<std::string>();
    } else if (key == "metadata" && value.is_object()) {
      h.metadata = value;
    } else if (key == "vector") {
      SEXTANT_ASSIGN_OR_RETURN(h.vector, VectorFromJson(value, "vector"));
    } else if (key == "explain" && value.is_object()) {
      h.explain = value;
    } else {
      return Status::InvalidArgument("hit field '" + key.substr(0, 80) + "' is unknown or of the wrong type");
    }
  }
  if (!j.contains("id") || !j.contains("score")) return Status::InvalidArgument("a hit needs 'id' and 'score'");
  return h;
}

}  // namespace sextant::codec
