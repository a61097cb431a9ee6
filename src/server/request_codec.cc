#include "server/request_codec.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <unordered_map>

#include "cli/json_codec.h"
#include "common/json.h"

namespace sextant::server {
namespace {

using nlohmann::json;

Status Bad(std::string message) { return Status::InvalidArgument(std::move(message)); }

// Rejects fields other than `allowed` (a typo should not be silently ignored).
Status OnlyFields(const json& body, std::initializer_list<const char*> allowed) {
  if (!body.is_object()) return Bad("the request body must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    bool known = false;
    for (const char* a : allowed) known |= key == a;
    if (!known) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return Bad("unknown field '" + key + "' (expected " + list + ")");
    }
  }
  return Status::OK();
}

// A non-negative integer field within [lo, hi]; absent fields keep `*out`.
Status IntField(const json& obj, const char* name, size_t lo, size_t hi, size_t* out,
                StatusCode range_code = StatusCode::kInvalidArgument) {
  if (!obj.contains(name)) return Status::OK();
  const json& v = obj[name];
  if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0)) {
    return Bad(std::string("field '") + name + "' must be a non-negative integer");
  }
  const uint64_t x = v.get<uint64_t>();
  if (x < lo || x > hi) {
    return Status(range_code, std::string("field '") + name + "' must be between " +
                                  std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                                  std::to_string(x));
  }
  *out = static_cast<size_t>(x);
  return Status::OK();
}

Status NumberField(const json& obj, const char* name, double* out) {
  if (!obj.contains(name)) return Status::OK();
  if (!obj[name].is_number()) return Bad(std::string("field '") + name + "' must be a number");
  *out = obj[name].get<double>();
  return Status::OK();
}

Status BoolField(const json& obj, const char* name, bool* out) {
  if (!obj.contains(name)) return Status::OK();
  if (!obj[name].is_boolean()) return Bad(std::string("field '") + name + "' must be true or false");
  *out = obj[name].get<bool>();
  return Status::OK();
}

Status StringField(const json& obj, const char* name, std::string* out) {
  if (!obj.contains(name)) return Status::OK();
  if (!obj[name].is_string()) return Bad(std::string("field '") + name + "' must be a string");
  *out = obj[name].get<std::string>();
  return Status::OK();
}

// A filter is passed on to the collection, which judges its operators; here only its shape.
Status FilterField(const json& obj, std::optional<json>* out) {
  if (!obj.contains("filter") || obj["filter"].is_null()) return Status::OK();
  if (!obj["filter"].is_object()) return Bad("field 'filter' must be an object");
  *out = obj["filter"];
  return Status::OK();
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
// leaves *pos after ']'. Values must be finite float32 (as VectorFromJson requires); anything
// else returns false so that the slow path reports it.
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
    if (!std::isfinite(x) || std::fabs(x) > 3.4e38) return false;
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
  if (q.vector.empty()) return Bad("field 'vector' is empty");
  if (q.vector.size() > limits.max_dimension) {
    return Status::OutOfRange("field 'vector' has " + std::to_string(q.vector.size()) +
                              " dimensions, the limit is " + std::to_string(limits.max_dimension));
  }
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
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"dimension", "metric", "index", "text", "analyzer", "hnsw", "bm25",
                                            "quantization", "segments"}));
  CollectionSpec spec;
  CollectionConfig& c = spec.config;
  if (!body.contains("dimension")) return Bad("field 'dimension' is required (0 for a text-only collection)");
  SEXTANT_RETURN_IF_ERROR(IntField(body, "dimension", 0, limits.max_dimension, &c.dimension,
                                   StatusCode::kOutOfRange));
  SEXTANT_RETURN_IF_ERROR(StringField(body, "metric", &spec.metric));
  SEXTANT_RETURN_IF_ERROR(StringField(body, "index", &spec.index));
  SEXTANT_RETURN_IF_ERROR(BoolField(body, "text", &c.text));
  if (body.contains("analyzer") && !c.text) return Bad("field 'analyzer' needs \"text\": true");
  SEXTANT_RETURN_IF_ERROR(StringField(body, "analyzer", &c.analyzer));
  if (body.contains("hnsw")) {
    const json& h = body["hnsw"];
    SEXTANT_RETURN_IF_ERROR(OnlyFields(h, {"M", "ef_construction", "ef_search"}).WithContext("field 'hnsw'"));
    SEXTANT_RETURN_IF_ERROR(IntField(h, "M", 2, 256, &c.hnsw.M, StatusCode::kOutOfRange));
    SEXTANT_RETURN_IF_ERROR(IntField(h, "ef_construction", 1, 100000, &c.hnsw.ef_construction,
                                     StatusCode::kOutOfRange));
    SEXTANT_RETURN_IF_ERROR(IntField(h, "ef_search", 1, 100000, &c.hnsw.ef_search, StatusCode::kOutOfRange));
  }
  if (body.contains("quantization")) {
    const json& q = body["quantization"];
    SEXTANT_RETURN_IF_ERROR(OnlyFields(q, {"nlist", "nprobe", "m", "nbits", "rerank"}).WithContext("field 'quantization'"));
    SEXTANT_RETURN_IF_ERROR(IntField(q, "nlist", 1, 1 << 20, &c.quantization.nlist, StatusCode::kOutOfRange));
    SEXTANT_RETURN_IF_ERROR(IntField(q, "nprobe", 1, 1 << 20, &c.quantization.nprobe, StatusCode::kOutOfRange));
    SEXTANT_RETURN_IF_ERROR(IntField(q, "m", 0, limits.max_dimension, &c.quantization.m, StatusCode::kOutOfRange));
    SEXTANT_RETURN_IF_ERROR(IntField(q, "nbits", 4, 8, &c.quantization.nbits, StatusCode::kOutOfRange));
    SEXTANT_RETURN_IF_ERROR(IntField(q, "rerank", 0, limits.max_k * 100, &c.quantization.rerank, StatusCode::kOutOfRange));
  }
  if (body.contains("segments")) {
    const json& sg = body["segments"];
    SEXTANT_RETURN_IF_ERROR(OnlyFields(sg, {"seal_points", "merge_factor", "compact_deleted_fraction"})
                                .WithContext("field 'segments'"));
    SEXTANT_RETURN_IF_ERROR(IntField(sg, "seal_points", 0, size_t{1} << 30, &c.segments.seal_points,
                                     StatusCode::kOutOfRange));
    SEXTANT_RETURN_IF_ERROR(IntField(sg, "merge_factor", 2, 64, &c.segments.merge_factor, StatusCode::kOutOfRange));
    SEXTANT_RETURN_IF_ERROR(NumberField(sg, "compact_deleted_fraction", &c.segments.compact_deleted_fraction));
  }
  if (body.contains("bm25")) {
    const json& b = body["bm25"];
    SEXTANT_RETURN_IF_ERROR(OnlyFields(b, {"k1", "b"}).WithContext("field 'bm25'"));
    double k1 = c.bm25_k1, bb = c.bm25_b;
    SEXTANT_RETURN_IF_ERROR(NumberField(b, "k1", &k1));
    SEXTANT_RETURN_IF_ERROR(NumberField(b, "b", &bb));
    c.bm25_k1 = static_cast<float>(k1);
    c.bm25_b = static_cast<float>(bb);
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
    auto p = cli::PointFromJson(arr[i]);
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
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"vector", "text", "k", "ef", "nprobe", "rerank", "filter", "fusion",
                                            "alpha", "rrf_k", "vector_weight", "text_weight", "explain",
                                            "include", "timeout_ms"}));
  QueryRequest q;
  if (!body.contains("vector") && !body.contains("text")) return Bad("a query needs 'vector', 'text' or both");
  if (body.contains("vector")) {
    SEXTANT_ASSIGN_OR_RETURN(q.vector, cli::VectorFromJson(body["vector"], "vector"));
    if (q.vector.empty()) return Bad("field 'vector' is empty");
    if (q.vector.size() > limits.max_dimension) {
      return Status::OutOfRange("field 'vector' has " + std::to_string(q.vector.size()) +
                                " dimensions, the limit is " + std::to_string(limits.max_dimension));
    }
  }
  if (body.contains("text")) {
    std::string text;
    SEXTANT_RETURN_IF_ERROR(StringField(body, "text", &text));
    q.text = std::move(text);
  }
  SEXTANT_RETURN_IF_ERROR(IntField(body, "k", 1, limits.max_k, &q.k, StatusCode::kOutOfRange));
  SEXTANT_RETURN_IF_ERROR(IntField(body, "ef", 1, 100000, &q.ef, StatusCode::kOutOfRange));
  SEXTANT_RETURN_IF_ERROR(IntField(body, "nprobe", 1, 1 << 20, &q.nprobe, StatusCode::kOutOfRange));
  if (body.contains("rerank")) {
    size_t rerank = 0;
    SEXTANT_RETURN_IF_ERROR(IntField(body, "rerank", 0, limits.max_k * 100, &rerank, StatusCode::kOutOfRange));
    q.rerank = rerank;
  }
  SEXTANT_RETURN_IF_ERROR(FilterField(body, &q.filter));
  SEXTANT_RETURN_IF_ERROR(StringField(body, "fusion", &q.fusion));
  if (body.contains("alpha")) {
    double alpha = 0;
    SEXTANT_RETURN_IF_ERROR(NumberField(body, "alpha", &alpha));
    q.alpha = alpha;
  }
  SEXTANT_RETURN_IF_ERROR(NumberField(body, "rrf_k", &q.rrf_k));
  SEXTANT_RETURN_IF_ERROR(NumberField(body, "vector_weight", &q.vector_weight));
  SEXTANT_RETURN_IF_ERROR(NumberField(body, "text_weight", &q.text_weight));
  SEXTANT_RETURN_IF_ERROR(BoolField(body, "explain", &q.explain));
  if (body.contains("timeout_ms")) {
    size_t ms = 0;
    SEXTANT_RETURN_IF_ERROR(IntField(body, "timeout_ms", 1, 3600 * 1000, &ms, StatusCode::kOutOfRange));
    q.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  }
  q.include_document = q.include_metadata = true;
  if (body.contains("include")) {
    const json& inc = body["include"];
    if (!inc.is_array()) return Bad("field 'include' must be an array of \"document\", \"metadata\", \"vector\"");
    q.include_document = q.include_metadata = false;
    for (const json& f : inc) {
      if (f == "document") q.include_document = true;
      else if (f == "metadata") q.include_metadata = true;
      else if (f == "vector") q.include_vector = true;
      else return Bad("field 'include': unknown entry " + f.dump().substr(0, 80) + " (expected document, metadata, vector)");
    }
  }
  return q;
}

Result<DeleteSpec> ParseDelete(const json& body, const Limits& limits) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"ids", "filter"}));
  const bool has_ids = body.contains("ids"), has_filter = body.contains("filter") && !body["filter"].is_null();
  if (has_ids == has_filter) return Bad("give exactly one of 'ids' or 'filter'");
  DeleteSpec spec;
  if (has_ids) {
    SEXTANT_ASSIGN_OR_RETURN(spec.ids, IdList(body, limits));
  } else {
    SEXTANT_RETURN_IF_ERROR(FilterField(body, &spec.filter));
  }
  return spec;
}

Result<ScrollSpec> ParseScroll(const json& body, const Limits& limits) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"limit", "after", "filter", "vectors"}));
  ScrollSpec spec;
  SEXTANT_RETURN_IF_ERROR(IntField(body, "limit", 1, limits.max_scroll_limit, &spec.limit, StatusCode::kOutOfRange));
  if (body.contains("after") && !body["after"].is_null()) {
    SEXTANT_RETURN_IF_ERROR(StringField(body, "after", &spec.after));
  }
  SEXTANT_RETURN_IF_ERROR(FilterField(body, &spec.filter));
  SEXTANT_RETURN_IF_ERROR(BoolField(body, "vectors", &spec.vectors));
  return spec;
}

Result<std::optional<json>> ParseCount(const json& body) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"filter"}));
  std::optional<json> filter;
  SEXTANT_RETURN_IF_ERROR(FilterField(body, &filter));
  return filter;
}

Result<MetadataPatch> ParseMetadataPatch(const json& body) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"metadata", "merge"}));
  MetadataPatch patch;
  if (!body.contains("metadata") || !body["metadata"].is_object()) {
    return Bad("field 'metadata' must be an object");
  }
  patch.metadata = body["metadata"];
  SEXTANT_RETURN_IF_ERROR(BoolField(body, "merge", &patch.merge));
  return patch;
}

Result<KeySpec> ParseKeySpec(const json& body) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"role", "tenant", "database"}));
  KeySpec spec;
  if (!body.contains("role")) return Bad("field 'role' is required (admin, writer or reader)");
  SEXTANT_RETURN_IF_ERROR(StringField(body, "role", &spec.role));
  if (spec.role != "admin" && spec.role != "writer" && spec.role != "reader") {
    return Bad("field 'role' must be admin, writer or reader, got '" + spec.role.substr(0, 80) + "'");
  }
  for (auto [field, out] : {std::pair{"tenant", &spec.tenant}, std::pair{"database", &spec.database}}) {
    if (!body.contains(field) || body[field].is_null()) continue;
    std::string v;
    SEXTANT_RETURN_IF_ERROR(StringField(body, field, &v));
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
  SEXTANT_RETURN_IF_ERROR(StringField(body, "snapshot", &name));
  SEXTANT_RETURN_IF_ERROR(CheckName(name, "snapshot"));
  return std::optional<std::string>(name);
}

Result<std::string> ParseSnapshotRestore(const json& body) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"collection"}));
  std::string name;
  if (!body.contains("collection")) return Bad("field 'collection' is required (the new collection's name)");
  SEXTANT_RETURN_IF_ERROR(StringField(body, "collection", &name));
  SEXTANT_RETURN_IF_ERROR(CheckName(name, "collection"));
  return name;
}

}  // namespace sextant::server
