#include "server/request_codec.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <unordered_map>

#include "codec/collection_json.h"
#include "codec/fields.h"
#include "codec/point_json.h"
#include "codec/query_json.h"
#include "common/json.h"

namespace sextant::server {
namespace {

using nlohmann::json;

Status Bad(std::string message) { return Status::InvalidArgument(std::move(message)); }

using codec::OnlyFields;
using codec::ReadBool;
using codec::ReadFilter;
using codec::ReadString;
using codec::ReadUint;

codec::QueryLimits QueryLimitsOf(const Limits& limits) {
  codec::QueryLimits q;
  q.max_k = limits.max_k;
  q.max_dimension = limits.max_dimension;
  return q;
}

Result<std::vector<std::string>> IdList(const json& obj, const Limits& limits) {
  const json& ids = obj["ids"];
  if (!ids.is_array()) return Bad("field 'ids' must be an array of strings");
  if (ids.size() > limits.max_batch) {
    return Status::ResourceExhausted("field 'ids' has " + std::to_string(ids.size()) +
                                     " entries, the limit is " + std::to_string(limits.max_batch));
  }
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].is_string()) return Bad("field 'ids': element " + std::to_string(i) + " is not a string");
    out.push_back(ids[i].get<std::string>());
  }
  return out;
}

// --- Fast path for vectors -------------------------------------------------------------

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Reads `[n, n, ...]` at body[*pos] (which is '['), numbers in strict JSON syntax; on success
// leaves *pos after ']'. Values must pass codec::IsVectorValue (the rule VectorFromJson
// applies); anything else returns false so that the slow path reports it.
bool ReadNumberArray(std::string_view body, size_t* pos, std::vector<float>* out) {
  size_t i = *pos + 1;
  auto skip = [&] {
    while (i < body.size() && IsJsonSpace(body[i])) ++i;
  };
  skip();
  if (i < body.size() && body[i] == ']') {
    *pos = i + 1;
    return true;
  }
  for (;;) {
    skip();
    const size_t start = i;
    if (i < body.size() && body[i] == '-') ++i;
    if (i >= body.size() || !std::isdigit(static_cast<unsigned char>(body[i]))) return false;
    if (body[i] == '0') {
      ++i;
    } else {
      while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i;
    }
    if (i < body.size() && body[i] == '.') {
      ++i;
      if (i >= body.size() || !std::isdigit(static_cast<unsigned char>(body[i]))) return false;
      while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i;
    }
    if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
      ++i;
      if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
      if (i >= body.size() || !std::isdigit(static_cast<unsigned char>(body[i]))) return false;
      while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i;
    }
    double x = 0;
    const auto [end, ec] = std::from_chars(body.data() + start, body.data() + i, x);
    if (ec != std::errc() || end != body.data() + i) return false;
    if (!codec::IsVectorValue(x)) return false;
    out->push_back(static_cast<float>(x));
    skip();
    if (i >= body.size()) return false;
    if (body[i] == ']') {
      *pos = i + 1;
      return true;
    }
    if (body[i] != ',') return false;
    ++i;
  }
}

// Where the fast path looks for vectors.
enum class VectorSite { kTopLevel, kPointsArray };

struct ExtractedVectors {
  std::string rest;  // the body with each extracted array replaced by []
  std::vector<std::pair<size_t, std::vector<float>>> vectors;  // (point index or 0, values)
};

// Scans the body once, tracking the container path; replaces the arrays at `site` by "[]".
// Returns nullopt for anything unusual (escaped keys, duplicate vector keys, malformed
// structure, non-plain numbers): the caller then uses the slow path.
std::optional<ExtractedVectors> ExtractVectors(std::string_view body, VectorSite site) {
  struct Frame {
    bool object;
    bool expect_key;
    std::string_view key;
    size_t index;
    bool has_vector;
  };
  std::vector<Frame> stack;
  ExtractedVectors out;
  out.rest.reserve(body.size() / 4 + 64);
  size_t copied = 0;  // body[copied, i) still to copy into rest
  size_t i = 0;
  while (i < body.size()) {
    const char c = body[i];
    if (IsJsonSpace(c)) {
      ++i;
      continue;
    }
    if (c == '"') {
      size_t j = i + 1;
      bool escaped = false;
      while (j < body.size() && body[j] != '"') {
        if (body[j] == '\\') {
          escaped = true;
          j += 2;
        } else {
          ++j;
        }
      }
      if (j >= body.size()) return std::nullopt;
      const std::string_view text = body.substr(i + 1, j - i - 1);
      i = j + 1;
      if (!stack.empty() && stack.back().object && stack.back().expect_key) {
        if (escaped) return std::nullopt;  // a key the scanner cannot compare safely
        stack.back().key = text;
        stack.back().expect_key = false;
        size_t k = i;
        while (k < body.size() && IsJsonSpace(body[k])) ++k;
        if (k >= body.size() || body[k] != ':') return std::nullopt;
        ++k;
        while (k < body.size() && IsJsonSpace(body[k])) ++k;
        if (site == VectorSite::kPointsArray && stack.size() == 1 && text == "points") {
          if (stack[0].has_vector) return std::nullopt;  // "points" twice: the parser keeps the last
          stack[0].has_vector = true;
        }
        const bool at_site =
            text == "vector" &&
            (site == VectorSite::kTopLevel
                 ? stack.size() == 1
                 : stack.size() == 3 && stack[0].key == "points" && !stack[1].object && stack[2].object);
        if (at_site) {
          if (stack.back().has_vector) return std::nullopt;  // duplicate key: let the parser decide
          stack.back().has_vector = true;
          if (k < body.size() && body[k] == '[') {
            std::vector<float> values;
            size_t end = k;
            if (!ReadNumberArray(body, &end, &values)) return std::nullopt;
            out.rest.append(body.substr(copied, k - copied));
            out.rest.append("[]");
            copied = end;
            out.vectors.emplace_back(site == VectorSite::kTopLevel ? 0 : stack[1].index, std::move(values));
            i = end;
            continue;
          }
        }
        i = k;
      }
      continue;
    }
    if (c == '{' || c == '[') {
      stack.push_back({c == '{', c == '{', {}, 0, false});
      ++i;
      continue;
    }
    if (c == '}' || c == ']') {
      if (stack.empty() || stack.back().object != (c == '}')) return std::nullopt;
      stack.pop_back();
      ++i;
      continue;
    }
    if (c == ',') {
      if (stack.empty()) return std::nullopt;
      if (stack.back().object) stack.back().expect_key = true;
      else ++stack.back().index;
      ++i;
      continue;
    }
    if (c == ':') return std::nullopt;  // only after a key, consumed above
    ++i;  // numbers, true, false, null: the JSON parser checks them
  }
  if (!stack.empty()) return std::nullopt;
  out.rest.append(body.substr(copied));
  return out;
}

}  // namespace

Result<QueryRequest> ParseQueryBody(std::string_view body, const Limits& limits) {
  auto fast = ExtractVectors(body, VectorSite::kTopLevel);
  if (!fast || fast->vectors.empty()) {
    SEXTANT_ASSIGN_OR_RETURN(json j, ParseJsonBody(body, limits.max_json_depth));
    return ParseQuery(j, limits);
  }
  SEXTANT_ASSIGN_OR_RETURN(json j, ParseJsonBody(fast->rest, limits.max_json_depth));
  if (!j.is_object() || !j.contains("vector")) {
    SEXTANT_ASSIGN_OR_RETURN(j, ParseJsonBody(body, limits.max_json_depth));
    return ParseQuery(j, limits);
  }
  // Parse the rest with a one-element stand-in vector, then put the real one in.
  j["vector"] = json::array({0});
  SEXTANT_ASSIGN_OR_RETURN(QueryRequest q, ParseQuery(j, limits));
  q.vector = std::move(fast->vectors[0].second);
  SEXTANT_RETURN_IF_ERROR(codec::CheckQueryVector(q.vector, QueryLimitsOf(limits)));
  return q;
}

Result<std::vector<Point>> ParseUpsertBody(std::string_view body, const Limits& limits) {
  auto fast = ExtractVectors(body, VectorSite::kPointsArray);
  if (!fast || fast->vectors.empty()) {
    SEXTANT_ASSIGN_OR_RETURN(json j, ParseJsonBody(body, limits.max_json_depth));
    return ParseUpsert(j, limits);
  }
  SEXTANT_ASSIGN_OR_RETURN(json j, ParseJsonBody(fast->rest, limits.max_json_depth));
  SEXTANT_ASSIGN_OR_RETURN(std::vector<Point> points, ParseUpsert(j, limits));
  for (auto& [index, values] : fast->vectors) {
    if (index >= points.size()) return Status::Internal("vector of a point that the parser did not see");
    points[index].vector = std::move(values);
  }
  return points;
}

Result<json> ParseJsonBody(std::string_view body, int max_depth) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object();
  JsonParseOptions options;
  options.max_depth = max_depth;
  auto j = ParseJson(body, options);
  if (!j.ok()) return Bad(j.status().message() + " in the request body");
  return j;
}

Status CheckName(std::string_view name, const char* what) {
  if (IsValidName(name)) return Status::OK();
  return Bad(std::string(what) + " name '" + std::string(name.substr(0, 80)) +
             "' is invalid (1 to 64 characters of A-Z a-z 0-9 _ -)");
}

std::optional<std::string> ParseBearer(std::string_view header) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
  };
  header = trim(header);
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  }
  if (header[kScheme.size()] != ' ' && header[kScheme.size()] != '\t') return std::nullopt;
  std::string_view token = trim(header.substr(kScheme.size()));
  if (token.empty() || token.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  return std::string(token);
}

std::optional<std::string> SanitizeRequestId(std::string_view header) {
  if (header.empty() || header.size() > 128) return std::nullopt;
  for (char c : header) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' && c != '-') {
      return std::nullopt;
    }
  }
  return std::string(header);
}

Result<CollectionSpec> ParseCollectionSpec(const json& body, const Limits& limits) {
  CollectionSpec spec;
  SEXTANT_ASSIGN_OR_RETURN(spec.config, codec::CollectionSettingsFromJson(body));
  if (spec.config.dimension > limits.max_dimension) {  // this server's own cap (--max-dimension)
    return Status::OutOfRange("field 'dimension' must be at most " + std::to_string(limits.max_dimension) +
                              " on this server, got " + std::to_string(spec.config.dimension));
  }
  if (const auto& e = spec.config.embedding) {
    if (e->url.empty()) {
      // A name: owner/name or name, of [A-Za-z0-9._-], no component starting with '.'.
      bool ok = !e->model.empty() && e->model.size() <= 256 && std::count(e->model.begin(), e->model.end(), '/') <= 1;
      for (size_t i = 0; ok && i < e->model.size(); ++i) {
        const char c = e->model[i];
        ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '/' ||
             (c == '.' && i > 0 && e->model[i - 1] != '/');
        if (c == '/' && (i == 0 || i + 1 == e->model.size())) ok = false;
      }
      if (!ok) {
        return Bad("field 'embedding.model' must be a model name (built-in, or pulled with `sextant model pull` into "
                   "the server's models folder), not a path: '" + e->model.substr(0, 80) + "'");
      }
    } else {
      bool allowed = false;
      for (const std::string& prefix : limits.embedding_provider_urls) {
        // A prefix ends at a '/' of the URL (or is all of it): "http://h:80" must not let
        // "http://h:8080", "http://h.evil.net" or "http://h@evil.net" through.
        allowed |= !prefix.empty() && e->url.rfind(prefix, 0) == 0 &&
                   (prefix.back() == '/' || e->url.size() == prefix.size() || e->url[prefix.size()] == '/');
      }
      if (!allowed) {
        return Bad("field 'embedding.url': this server does not call embedding providers at '" +
                                        e->url.substr(0, 120) +
                                        "' (allow it with sextant serve --embedding-provider-urls PREFIX,...)");
      }
    }
  }
  return spec;
}

Result<std::vector<Point>> ParseUpsert(const json& body, const Limits& limits) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"points"}));
  if (!body.contains("points") || !body["points"].is_array()) {
    return Bad("field 'points' must be an array of points");
  }
  const json& arr = body["points"];
  if (arr.empty()) return Bad("field 'points' is empty");
  if (arr.size() > limits.max_batch) {
    return Status::ResourceExhausted("batch of " + std::to_string(arr.size()) +
                                     " points, the limit is " + std::to_string(limits.max_batch));
  }
  std::vector<Point> points;
  points.reserve(arr.size());
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < arr.size(); ++i) {
    auto p = codec::PointFromJson(arr[i]);
    if (!p.ok()) return p.status().WithContext("points[" + std::to_string(i) + "]");
    if (auto [it, fresh] = seen.emplace(p->id, i); !fresh) {
      return Bad("points[" + std::to_string(i) + "]: id '" + p->id.substr(0, 200) +
                 "' appears twice in the batch (also points[" + std::to_string(it->second) + "])");
    }
    points.push_back(std::move(p).value());
  }
  return points;
}

Result<QueryRequest> ParseQuery(const json& body, const Limits& limits) {
  if (!body.is_object()) return Bad("the request body must be a JSON object");
  codec::QueryDefaults defaults;
  defaults.include_document = defaults.include_metadata = true;
  return codec::QueryFromJson(body, defaults, QueryLimitsOf(limits));
}

Result<DeleteSpec> ParseDelete(const json& body, const Limits& limits) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"ids", "filter"}));
  const bool has_ids = body.contains("ids"), has_filter = body.contains("filter") && !body["filter"].is_null();
  if (has_ids == has_filter) return Bad("give exactly one of 'ids' or 'filter'");
  DeleteSpec spec;
  if (has_ids) {
    SEXTANT_ASSIGN_OR_RETURN(spec.ids, IdList(body, limits));
  } else {
    SEXTANT_RETURN_IF_ERROR(ReadFilter(body, &spec.filter));
  }
  return spec;
}

Result<GetPointsSpec> ParseGetPoints(const json& body, const Limits& limits) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"ids", "vectors"}));
  if (!body.contains("ids")) return Bad("field 'ids' is required");
  GetPointsSpec spec;
  SEXTANT_ASSIGN_OR_RETURN(spec.ids, IdList(body, limits));
  SEXTANT_RETURN_IF_ERROR(ReadBool(body, "vectors", &spec.vectors));
  return spec;
}

Result<json> ParseCollectionPatch(const json& body) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"metadata"}));
  if (!body.contains("metadata") || !body["metadata"].is_object()) {
    return Bad("field 'metadata' must be an object");
  }
  return body["metadata"];
}

Result<ScrollSpec> ParseScroll(const json& body, const Limits& limits) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"limit", "after", "filter", "vectors"}));
  ScrollSpec spec;
  SEXTANT_RETURN_IF_ERROR(ReadUint(body, "limit", 1, limits.max_scroll_limit, &spec.limit));
  if (body.contains("after") && !body["after"].is_null()) {
    SEXTANT_RETURN_IF_ERROR(ReadString(body, "after", &spec.after));
  }
  SEXTANT_RETURN_IF_ERROR(ReadFilter(body, &spec.filter));
  SEXTANT_RETURN_IF_ERROR(ReadBool(body, "vectors", &spec.vectors));
  return spec;
}

Result<std::optional<json>> ParseCount(const json& body) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"filter"}));
  std::optional<json> filter;
  SEXTANT_RETURN_IF_ERROR(ReadFilter(body, &filter));
  return filter;
}

Result<MetadataPatch> ParseMetadataPatch(const json& body) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"metadata", "merge"}));
  MetadataPatch patch;
  if (!body.contains("metadata") || !body["metadata"].is_object()) {
    return Bad("field 'metadata' must be an object");
  }
  patch.metadata = body["metadata"];
  SEXTANT_RETURN_IF_ERROR(ReadBool(body, "merge", &patch.merge));
  return patch;
}

Result<KeySpec> ParseKeySpec(const json& body) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"role", "tenant", "database"}));
  KeySpec spec;
  if (!body.contains("role")) return Bad("field 'role' is required (admin, writer or reader)");
  SEXTANT_RETURN_IF_ERROR(ReadString(body, "role", &spec.role));
  if (spec.role != "admin" && spec.role != "writer" && spec.role != "reader") {
    return Bad("field 'role' must be admin, writer or reader, got '" + spec.role.substr(0, 80) + "'");
  }
  for (auto [field, out] : {std::pair{"tenant", &spec.tenant}, std::pair{"database", &spec.database}}) {
    if (!body.contains(field) || body[field].is_null()) continue;
    std::string v;
    SEXTANT_RETURN_IF_ERROR(ReadString(body, field, &v));
    SEXTANT_RETURN_IF_ERROR(CheckName(v, field));
    *out = std::move(v);
  }
  if (spec.database && !spec.tenant) return Bad("field 'database' needs 'tenant'");
  return spec;
}

Result<std::optional<std::string>> ParseSnapshotCreate(const json& body) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"snapshot"}));
  if (!body.contains("snapshot") || body["snapshot"].is_null()) return std::optional<std::string>();
  std::string name;
  SEXTANT_RETURN_IF_ERROR(ReadString(body, "snapshot", &name));
  SEXTANT_RETURN_IF_ERROR(CheckName(name, "snapshot"));
  return std::optional<std::string>(name);
}

Result<std::string> ParseSnapshotRestore(const json& body) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"collection"}));
  std::string name;
  if (!body.contains("collection")) return Bad("field 'collection' is required (the new collection's name)");
  SEXTANT_RETURN_IF_ERROR(ReadString(body, "collection", &name));
  SEXTANT_RETURN_IF_ERROR(CheckName(name, "collection"));
  return name;
}

}  // namespace sextant::server
