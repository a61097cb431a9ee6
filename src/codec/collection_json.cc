#include "codec/collection_json.h"

#include <cmath>
#include <limits>
#include <string>

#include "codec/fields.h"

namespace sextant::codec {
namespace {

using nlohmann::json;

constexpr size_t kMaxDimension = 65536;
constexpr size_t kMinM = 2, kMaxM = 512;
constexpr size_t kMinSealPoints = 16;
// A query keeps this many candidates in memory at once for re-ranking: a default of 2^40
// made every query of the collection fail to allocate (and abort the process).
constexpr size_t kMaxRerank = 1000000;
constexpr size_t kMaxEmbeddingString = 4096;
constexpr size_t kMaxEmbeddingBatch = 4096;
constexpr size_t kMaxMetadataBytes = 65536;
constexpr int kMaxQuietSeconds = 86400;  // a day

// A JSON number as a float; beyond float's range it is an infinity (which the limits refuse).
float ToFloat(double x) {
  if (std::fabs(x) > std::numeric_limits<float>::max()) {
    return x > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
  }
  return static_cast<float>(x);
}

bool IsQuantized(IndexType t) { return t != IndexType::kHnsw && t != IndexType::kFlat; }

json HnswJson(const HnswParams& h) {
  return {{"M", h.M}, {"ef_construction", h.ef_construction}, {"ef_search", h.ef_search}};
}

json QuantizationJson(const QuantizationParams& q) {
  return {{"nlist", q.nlist}, {"nprobe", q.nprobe}, {"m", q.m}, {"nbits", q.nbits}, {"rerank", q.rerank}};
}

// quiet_seconds only when not the default, so config files of collections that keep it are
// byte for byte what earlier versions wrote.
json SegmentsJson(const SegmentParams& s) {
  json j = {{"seal_points", s.seal_points}, {"merge_factor", s.merge_factor},
            {"compact_deleted_fraction", s.compact_deleted_fraction}};
  if (s.quiet_seconds != SegmentParams().quiet_seconds) j["quiet_seconds"] = s.quiet_seconds;
  return j;
}

// The stored form has every member; the reply form only the model and what is not the default
// (never the key itself: only the variable's name is ever held).
json EmbeddingJson(const EmbeddingSettings& e, ConfigForm form) {
  const EmbeddingSettings d;
  json j = {{"model", e.model}};
  if (form == ConfigForm::kStored || !e.url.empty()) j["url"] = e.url;
  if (form == ConfigForm::kStored || !e.api_key_env.empty()) j["api_key_env"] = e.api_key_env;
  if (form == ConfigForm::kStored || e.dimensions != d.dimensions) j["dimensions"] = e.dimensions;
  if (form == ConfigForm::kStored || (!e.url.empty() && e.batch_size != d.batch_size)) j["batch_size"] = e.batch_size;
  if (form == ConfigForm::kStored || (!e.url.empty() && e.timeout_s != d.timeout_s)) j["timeout_s"] = e.timeout_s;
  if (form == ConfigForm::kStored || (!e.url.empty() && e.max_retries != d.max_retries)) {
    j["max_retries"] = e.max_retries;
  }
  if (e.hybrid_alpha) j["hybrid_alpha"] = *e.hybrid_alpha;
  return j;
}

bool IsDefault(const SegmentParams& s) {
  const SegmentParams d;
  return s.seal_points == d.seal_points && s.merge_factor == d.merge_factor &&
         s.compact_deleted_fraction == d.compact_deleted_fraction && s.quiet_seconds == d.quiet_seconds;
}

// --- config.json ------------------------------------------------------------------------

Status Malformed(const std::string& why) {
  return Status::InvalidArgument("malformed collection config (" + why + ")");
}

enum class Type { kUint, kNumber, kString, kBool, kObject };

bool HasType(const json& v, Type t) {
  switch (t) {
    case Type::kUint: return v.is_number_unsigned();
    case Type::kNumber: return v.is_number();
    case Type::kString: return v.is_string();
    case Type::kBool: return v.is_boolean();
    case Type::kObject: return v.is_object();
  }
  return false;
}

// The member `key` of `o`, which must be present with type `t`.
Result<const json*> Need(const json& o, const char* key, Type t) {
  auto it = o.find(key);
  if (it == o.end()) return Malformed(std::string("no '") + key + "'");
  if (!HasType(*it, t)) return Malformed(std::string("'") + key + "' has the wrong type");
  return &*it;
}

}  // namespace

Status CheckEmbeddingSettings(const EmbeddingSettings& e) {
  if (e.model.empty()) return Status::InvalidArgument("embedding.model must not be empty");
  if (e.model.size() > kMaxEmbeddingString || e.url.size() > kMaxEmbeddingString ||
      e.api_key_env.size() > kMaxEmbeddingString) {
    return Status::InvalidArgument("embedding.model, url and api_key_env must be at most " +
                                   std::to_string(kMaxEmbeddingString) + " bytes");
  }
  if (!e.url.empty() && e.url.rfind("http://", 0) != 0 && e.url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("embedding.url must start with http:// or https://, got '" + e.url + "'");
  }
  if (e.url.empty() && !e.api_key_env.empty()) {
    return Status::InvalidArgument("embedding.api_key_env needs embedding.url (a provider)");
  }
  if (e.dimensions > kMaxDimension) {
    return Status::InvalidArgument("embedding.dimensions must be at most " + std::to_string(kMaxDimension));
  }
  if (e.batch_size < 1 || e.batch_size > kMaxEmbeddingBatch) {
    return Status::InvalidArgument("embedding.batch_size must be in [1, " + std::to_string(kMaxEmbeddingBatch) +
                                   "], got " + std::to_string(e.batch_size));
  }
  if (!(e.timeout_s > 0 && e.timeout_s <= 3600)) {
    return Status::InvalidArgument("embedding.timeout_s must be in (0, 3600]");
  }
  if (e.hybrid_alpha && !(*e.hybrid_alpha >= 0 && *e.hybrid_alpha <= 1)) {
    return Status::InvalidArgument("embedding.hybrid_alpha must be in [0, 1]");
  }
  if (e.max_retries > 10) {
    return Status::InvalidArgument("embedding.max_retries must be at most 10, got " + std::to_string(e.max_retries));
  }
  return Status::OK();
}

Status CheckCollectionMetadata(const json& m) {
  if (!m.is_object()) return Status::InvalidArgument("metadata must be a JSON object");
  for (const auto& [key, value] : m.items()) {
    if (key.empty()) return Status::InvalidArgument("metadata has an empty key");
    const bool ok = value.is_string() || value.is_boolean() || value.is_number_integer() ||
                    (value.is_number_float() && std::isfinite(value.get<double>()));
    if (!ok) {
      return Status::InvalidArgument("metadata '" + key.substr(0, 200) +
                                     "' must be a string, a finite number or a boolean");
    }
  }
  if (const size_t bytes = m.dump().size(); bytes > kMaxMetadataBytes) {
    return Status::InvalidArgument("metadata must be at most " + std::to_string(kMaxMetadataBytes) +
                                   " bytes as JSON, got " + std::to_string(bytes));
  }
  return Status::OK();
}

Status CheckCollectionSettings(const CollectionConfig& c) {
  SEXTANT_RETURN_IF_ERROR(CheckCollectionMetadata(c.metadata));
  if (c.dimension > kMaxDimension || (c.dimension == 0 && !c.text && !c.embedding)) {
    return Status::InvalidArgument("dimension must be in [1, " + std::to_string(kMaxDimension) +
                                   "] (0 only for a text-only collection or one with an embedding model), got " +
                                   std::to_string(c.dimension));
  }
  if (c.embedding) SEXTANT_RETURN_IF_ERROR(CheckEmbeddingSettings(*c.embedding));
  if (c.text) {
    // Finite too: config.json could not hold an infinite k1 (JSON has no inf; it would read
    // back as null and the collection would not open again).
    if (!(c.bm25_k1 >= 0 && std::isfinite(c.bm25_k1)) || !(c.bm25_b >= 0 && c.bm25_b <= 1)) {
      return Status::InvalidArgument("bm25 k1 must be a finite number >= 0 and b in [0, 1]");
    }
  }
  if (c.hnsw.M < kMinM || c.hnsw.M > kMaxM) {
    return Status::InvalidArgument("hnsw.M must be in [" + std::to_string(kMinM) + ", " + std::to_string(kMaxM) +
                                   "], got " + std::to_string(c.hnsw.M));
  }
  if (c.hnsw.ef_construction < 1 || c.hnsw.ef_search < 1) {
    return Status::InvalidArgument("hnsw.ef_construction and hnsw.ef_search must be at least 1");
  }
  if (c.segments.seal_points != 0 && c.segments.seal_points < kMinSealPoints) {
    return Status::InvalidArgument("segments.seal_points must be 0 (automatic) or at least " +
                                   std::to_string(kMinSealPoints) + ", got " + std::to_string(c.segments.seal_points));
  }
  if (IsQuantized(c.index)) {
    if (c.dimension == 0) return Status::InvalidArgument("a text-only collection has no vector index");
    if (c.quantization.nprobe < 1) return Status::InvalidArgument("quantization.nprobe must be at least 1");
    if (c.quantization.rerank > kMaxRerank) {
      return Status::InvalidArgument("quantization.rerank must be at most " + std::to_string(kMaxRerank) + ", got " +
                                     std::to_string(c.quantization.rerank));
    }
  }
  if (c.segments.merge_factor < 2) {
    return Status::InvalidArgument("segments.merge_factor must be at least 2");
  }
  if (!(c.segments.compact_deleted_fraction > 0 && c.segments.compact_deleted_fraction <= 1)) {
    return Status::InvalidArgument("segments.compact_deleted_fraction must be in (0, 1]");
  }
  if (!(c.segments.quiet_seconds >= 0 && c.segments.quiet_seconds <= kMaxQuietSeconds)) {
    return Status::InvalidArgument("segments.quiet_seconds must be in [0, " + std::to_string(kMaxQuietSeconds) +
                                   "] (0: never index or merge on quiet)");
  }
  return Status::OK();
}

json CollectionConfigToJson(const CollectionConfig& c, ConfigForm form) {
  json j = {{"name", c.name}, {"dimension", c.dimension}, {"metric", MetricToString(c.metric)},
            {"index", IndexTypeToString(c.index)}, {"hnsw", HnswJson(c.hnsw)}, {"text", c.text}};
  if (form == ConfigForm::kStored) {
    j["quantization"] = QuantizationJson(c.quantization);
    j["segments"] = SegmentsJson(c.segments);
    j["analyzer"] = c.analyzer;
    j["bm25"] = {{"k1", c.bm25_k1}, {"b", c.bm25_b}};
    if (c.embedding) j["embedding"] = EmbeddingJson(*c.embedding, form);
    if (!c.metadata.empty()) j["metadata"] = c.metadata;
    return j;
  }
  if (!c.metadata.empty()) j["metadata"] = c.metadata;
  if (c.embedding) j["embedding"] = EmbeddingJson(*c.embedding, form);
  if (IsQuantized(c.index)) j["quantization"] = QuantizationJson(c.quantization);
  if (!IsDefault(c.segments)) j["segments"] = SegmentsJson(c.segments);
  if (c.text) {
    j["analyzer"] = c.analyzer;
    auto tidy = [](float x) { return std::round(static_cast<double>(x) * 1e6) / 1e6; };
    j["bm25"] = {{"k1", tidy(c.bm25_k1)}, {"b", tidy(c.bm25_b)}};
  }
  return j;
}

Result<CollectionConfig> CollectionSettingsFromJson(const json& body) {
  SEXTANT_RETURN_IF_ERROR(OnlyFields(body, {"dimension", "metric", "index", "text", "analyzer", "hnsw", "bm25",
                                            "quantization", "segments", "embedding", "metadata"}));
  CollectionConfig c;
  if (auto it = body.find("metadata"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return Status::InvalidArgument("field 'metadata' must be an object");
    c.metadata = *it;  // its values are judged with every setting (CheckCollectionSettings)
  }
  if (auto it = body.find("embedding"); it != body.end() && !it->is_null()) {
    EmbeddingSettings e;
    if (it->is_string()) {
      e.model = it->get<std::string>();  // "embedding": "potion-base-4M", short for {"model": ...}
    } else {
      SEXTANT_RETURN_IF_ERROR(OnlyFields(*it, {"model", "url", "api_key_env", "dimensions", "batch_size",
                                               "timeout_s", "max_retries", "hybrid_alpha"},
                                         "embedding"));
      if (it->contains("hybrid_alpha")) {
        double alpha = 0;
        SEXTANT_RETURN_IF_ERROR(ReadNumber(*it, "hybrid_alpha", &alpha, "embedding"));
        e.hybrid_alpha = alpha;
      }
      SEXTANT_RETURN_IF_ERROR(ReadString(*it, "model", &e.model, "embedding"));
      SEXTANT_RETURN_IF_ERROR(ReadString(*it, "url", &e.url, "embedding"));
      SEXTANT_RETURN_IF_ERROR(ReadString(*it, "api_key_env", &e.api_key_env, "embedding"));
      SEXTANT_RETURN_IF_ERROR(ReadUint(*it, "dimensions", 0, kNoLimit, &e.dimensions, "embedding"));
      SEXTANT_RETURN_IF_ERROR(ReadUint(*it, "batch_size", 0, kNoLimit, &e.batch_size, "embedding"));
      SEXTANT_RETURN_IF_ERROR(ReadNumber(*it, "timeout_s", &e.timeout_s, "embedding"));
      SEXTANT_RETURN_IF_ERROR(ReadUint(*it, "max_retries", 0, kNoLimit, &e.max_retries, "embedding"));
    }
    c.embedding = std::move(e);
  }
  if (!body.contains("dimension") && !c.embedding) {
    return Status::InvalidArgument(
        "field 'dimension' is required (0 for a text-only collection; or name an \"embedding\" model)");
  }
  SEXTANT_RETURN_IF_ERROR(ReadUint(body, "dimension", 0, kNoLimit, &c.dimension));
  for (auto [key, parse] : {std::pair{"metric", +[](const std::string& s, CollectionConfig* out) -> Status {
                                        SEXTANT_ASSIGN_OR_RETURN(out->metric, MetricFromString(s));
                                        return Status::OK();
                                      }},
                            std::pair{"index", +[](const std::string& s, CollectionConfig* out) -> Status {
                                        SEXTANT_ASSIGN_OR_RETURN(out->index, IndexTypeFromString(s));
                                        return Status::OK();
                                      }}}) {
    if (!body.contains(key)) continue;
    std::string name;
    SEXTANT_RETURN_IF_ERROR(ReadString(body, key, &name));
    SEXTANT_RETURN_IF_ERROR(parse(name, &c).WithContext(std::string("field '") + key + "'"));
  }
  SEXTANT_RETURN_IF_ERROR(ReadBool(body, "text", &c.text));
  if (body.contains("analyzer") && !c.text) {
    return Status::InvalidArgument("field 'analyzer' needs \"text\": true");
  }
  SEXTANT_RETURN_IF_ERROR(ReadString(body, "analyzer", &c.analyzer));
  if (auto it = body.find("hnsw"); it != body.end()) {
    SEXTANT_RETURN_IF_ERROR(OnlyFields(*it, {"M", "ef_construction", "ef_search"}, "hnsw"));
    SEXTANT_RETURN_IF_ERROR(ReadUint(*it, "M", 0, kNoLimit, &c.hnsw.M, "hnsw"));
    SEXTANT_RETURN_IF_ERROR(ReadUint(*it, "ef_construction", 0, kNoLimit, &c.hnsw.ef_construction, "hnsw"));
    SEXTANT_RETURN_IF_ERROR(ReadUint(*it, "ef_search", 0, kNoLimit, &c.hnsw.ef_search, "hnsw"));
  }
  if (auto it = body.find("quantization"); it != body.end()) {
    SEXTANT_RETURN_IF_ERROR(OnlyFields(*it, {"nlist", "nprobe", "m", "nbits", "rerank"}, "quantization"));
    QuantizationParams& q = c.quantization;
    for (auto [key, out] : {std::pair{"nlist", &q.nlist}, std::pair{"nprobe", &q.nprobe}, std::pair{"m", &q.m},
                            std::pair{"nbits", &q.nbits}, std::pair{"rerank", &q.rerank}}) {
      SEXTANT_RETURN_IF_ERROR(ReadUint(*it, key, 0, kNoLimit, out, "quantization"));
    }
  }
  if (auto it = body.find("segments"); it != body.end()) {
    SEXTANT_RETURN_IF_ERROR(
        OnlyFields(*it, {"seal_points", "merge_factor", "compact_deleted_fraction", "quiet_seconds"}, "segments"));
    SEXTANT_RETURN_IF_ERROR(ReadUint(*it, "seal_points", 0, kNoLimit, &c.segments.seal_points, "segments"));
    SEXTANT_RETURN_IF_ERROR(ReadUint(*it, "merge_factor", 0, kNoLimit, &c.segments.merge_factor, "segments"));
    SEXTANT_RETURN_IF_ERROR(
        ReadNumber(*it, "compact_deleted_fraction", &c.segments.compact_deleted_fraction, "segments"));
    SEXTANT_RETURN_IF_ERROR(ReadNumber(*it, "quiet_seconds", &c.segments.quiet_seconds, "segments"));
  }
  if (auto it = body.find("bm25"); it != body.end()) {
    SEXTANT_RETURN_IF_ERROR(OnlyFields(*it, {"k1", "b"}, "bm25"));
    double k1 = c.bm25_k1, b = c.bm25_b;
    SEXTANT_RETURN_IF_ERROR(ReadNumber(*it, "k1", &k1, "bm25"));
    SEXTANT_RETURN_IF_ERROR(ReadNumber(*it, "b", &b, "bm25"));
    c.bm25_k1 = ToFloat(k1);
    c.bm25_b = ToFloat(b);
  }
  return c;
}

Result<CollectionConfig> CollectionConfigFromStoredJson(const json& j) {
  if (!j.is_object()) return Malformed("not an object");
  SEXTANT_RETURN_IF_ERROR(CheckKeys(j, {"name", "dimension", "metric", "index", "hnsw", "quantization",
                                        "segments", "text", "analyzer", "bm25", "embedding", "metadata"},
                                    "the config"));
  CollectionConfig c;
  SEXTANT_ASSIGN_OR_RETURN(const json* name, Need(j, "name", Type::kString));
  SEXTANT_ASSIGN_OR_RETURN(const json* dimension, Need(j, "dimension", Type::kUint));
  SEXTANT_ASSIGN_OR_RETURN(const json* metric, Need(j, "metric", Type::kString));
  SEXTANT_ASSIGN_OR_RETURN(const json* index, Need(j, "index", Type::kString));
  SEXTANT_ASSIGN_OR_RETURN(const json* h, Need(j, "hnsw", Type::kObject));
  c.name = name->get<std::string>();
  c.dimension = dimension->get<size_t>();
  SEXTANT_ASSIGN_OR_RETURN(c.metric, MetricFromString(metric->get<std::string>()));
  SEXTANT_ASSIGN_OR_RETURN(c.index, IndexTypeFromString(index->get<std::string>()));
  SEXTANT_RETURN_IF_ERROR(CheckKeys(*h, {"M", "ef_construction", "ef_search"}, "\"hnsw\""));
  for (auto [key, out] : {std::pair{"M", &c.hnsw.M}, std::pair{"ef_construction", &c.hnsw.ef_construction},
                          std::pair{"ef_search", &c.hnsw.ef_search}}) {
    SEXTANT_ASSIGN_OR_RETURN(const json* v, Need(*h, key, Type::kUint));
    *out = v->get<size_t>();
  }
  if (auto it = j.find("quantization"); it != j.end()) {  // absent in collections made before quantized indexes
    if (!it->is_object()) return Malformed("'quantization' is not an object");
    SEXTANT_RETURN_IF_ERROR(CheckKeys(*it, {"nlist", "nprobe", "m", "nbits", "rerank"}, "\"quantization\""));
    QuantizationParams& q = c.quantization;
    for (auto [key, out] : {std::pair{"nlist", &q.nlist}, std::pair{"nprobe", &q.nprobe}, std::pair{"m", &q.m},
                            std::pair{"nbits", &q.nbits}, std::pair{"rerank", &q.rerank}}) {
      SEXTANT_ASSIGN_OR_RETURN(const json* v, Need(*it, key, Type::kUint));
      *out = v->get<size_t>();
    }
  }
  if (auto it = j.find("segments"); it != j.end()) {  // absent in collections made before segments existed
    if (!it->is_object()) return Malformed("'segments' is not an object");
    SEXTANT_RETURN_IF_ERROR(
        CheckKeys(*it, {"seal_points", "merge_factor", "compact_deleted_fraction", "quiet_seconds"}, "\"segments\""));
    SEXTANT_ASSIGN_OR_RETURN(const json* seal, Need(*it, "seal_points", Type::kUint));
    SEXTANT_ASSIGN_OR_RETURN(const json* merge, Need(*it, "merge_factor", Type::kUint));
    SEXTANT_ASSIGN_OR_RETURN(const json* compact, Need(*it, "compact_deleted_fraction", Type::kNumber));
    c.segments.seal_points = seal->get<size_t>();
    c.segments.merge_factor = merge->get<size_t>();
    c.segments.compact_deleted_fraction = compact->get<double>();
    if (it->contains("quiet_seconds")) {  // absent in collections made before it: the default
      SEXTANT_ASSIGN_OR_RETURN(const json* quiet, Need(*it, "quiet_seconds", Type::kNumber));
      c.segments.quiet_seconds = quiet->get<double>();
    }
  }
  if (j.contains("text") || j.contains("analyzer") || j.contains("bm25")) {
    // Absent (all three) in collections made before keyword search existed.
    SEXTANT_ASSIGN_OR_RETURN(const json* text, Need(j, "text", Type::kBool));
    SEXTANT_ASSIGN_OR_RETURN(const json* analyzer, Need(j, "analyzer", Type::kString));
    SEXTANT_ASSIGN_OR_RETURN(const json* b, Need(j, "bm25", Type::kObject));
    SEXTANT_RETURN_IF_ERROR(CheckKeys(*b, {"k1", "b"}, "\"bm25\""));
    SEXTANT_ASSIGN_OR_RETURN(const json* k1, Need(*b, "k1", Type::kNumber));
    SEXTANT_ASSIGN_OR_RETURN(const json* bb, Need(*b, "b", Type::kNumber));
    c.text = text->get<bool>();
    c.analyzer = analyzer->get<std::string>();
    c.bm25_k1 = ToFloat(k1->get<double>());
    c.bm25_b = ToFloat(bb->get<double>());
  }
  if (auto it = j.find("embedding"); it != j.end()) {  // absent: a collection without a model
    if (!it->is_object()) return Malformed("'embedding' is not an object");
    SEXTANT_RETURN_IF_ERROR(CheckKeys(*it, {"model", "url", "api_key_env", "dimensions", "batch_size",
                                            "timeout_s", "max_retries", "hybrid_alpha"},
                                      "\"embedding\""));
    EmbeddingSettings e;
    for (auto [key, out] : {std::pair{"model", &e.model}, std::pair{"url", &e.url},
                            std::pair{"api_key_env", &e.api_key_env}}) {
      SEXTANT_ASSIGN_OR_RETURN(const json* v, Need(*it, key, Type::kString));
      *out = v->get<std::string>();
    }
    for (auto [key, out] : {std::pair{"dimensions", &e.dimensions}, std::pair{"batch_size", &e.batch_size},
                            std::pair{"max_retries", &e.max_retries}}) {
      SEXTANT_ASSIGN_OR_RETURN(const json* v, Need(*it, key, Type::kUint));
      *out = v->get<size_t>();
    }
    SEXTANT_ASSIGN_OR_RETURN(const json* timeout, Need(*it, "timeout_s", Type::kNumber));
    e.timeout_s = timeout->get<double>();
    if (it->contains("hybrid_alpha")) {
      SEXTANT_ASSIGN_OR_RETURN(const json* alpha, Need(*it, "hybrid_alpha", Type::kNumber));
      e.hybrid_alpha = alpha->get<double>();
    }
    c.embedding = std::move(e);
  }
  if (auto it = j.find("metadata"); it != j.end()) {  // absent: no metadata (and files written before it)
    if (!it->is_object()) return Malformed("'metadata' is not an object");
    c.metadata = *it;
  }
  // A collection with a model has its dimension from it, fixed at create.
  if (c.embedding && c.dimension == 0) return Malformed("a collection with an embedding model has dimension 0");
  SEXTANT_RETURN_IF_ERROR(CheckCollectionSettings(c));
  return c;
}

json StatsToJson(const CollectionStats& s) {
  return {{"points", s.points}, {"memory_bytes", s.memory_bytes}, {"disk_bytes", s.disk_bytes},
          {"segments", s.segments}, {"unindexed_points", s.unindexed_points},
          {"deleted_pending", s.deleted_pending}, {"wal_bytes", s.wal_bytes},
          {"wal_records", s.wal_records}, {"checkpoints", s.checkpoints},
          {"segments_sealed", s.segments_sealed}, {"segments_merged", s.segments_merged},
          {"index_errors", s.index_errors}, {"last_index_error", s.last_index_error},
          {"write_stalls", s.write_stalls}};
}

}  // namespace sextant::codec
