#include "engine/collection_impl.h"

#include <algorithm>
#include <thread>
#include <cmath>
#include <filesystem>
#include <functional>
#include <unordered_set>

#include "codec/collection_json.h"
#include "codec/fields.h"
#include "common/json.h"
#include "storage/log_reader.h"
#include "storage/meta_file.h"

namespace sextant::engine {
namespace {

constexpr size_t kMaxIdBytes = 1024;
constexpr size_t kMaxK = 10000;

std::string SeqName(const char* prefix, uint64_t seq, const char* ext) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%012llu%s", prefix, static_cast<unsigned long long>(seq), ext);
  return buf;
}

// Checkpoint files are never rewritten under the same name: a checkpoint at an unchanged
// sequence number (after a segment swap) gets the next generation.
std::string PointsName(uint64_t seq, uint64_t generation) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "points-%012llu-%06llu.dat", static_cast<unsigned long long>(seq),
                static_cast<unsigned long long>(generation));
  return buf;
}

// Every member of `j` must be one of `allowed` (codec::CheckKeys): in a file Sextant wrote, a
// renamed or unknown key is damage, Corruption naming the file.
Status CheckKeys(const nlohmann::json& j, std::initializer_list<const char*> allowed,
                 const std::string& what, const char* where) {
  Status st = codec::CheckKeys(j, allowed, where);
  return st.ok() ? st : Status::Corruption(what + ": " + st.message());
}

// config.json holds the settings in the codec's stored form (every key); reading it back is
// strict, and anything the codec or the rules refuse is damage to the file.
nlohmann::json ConfigToJson(const CollectionConfig& c) {
  return codec::CollectionConfigToJson(c, codec::ConfigForm::kStored);
}

Result<CollectionConfig> ConfigFromJson(const nlohmann::json& j, const std::string& what) {
  auto c = codec::CollectionConfigFromStoredJson(j);
  if (!c.ok()) return Status::Corruption(what + ": " + c.status().message());
  // The same rules as at create: a value no create would accept is damage.
  Status valid = ValidateCollectionConfig(*c);
  if (!valid.ok()) return Status::Corruption(what + ": " + valid.message());
  return c;
}

constexpr char kConfigFormat[] = "sextant-collection-config";
constexpr int kConfigVersion = 1;
constexpr char kManifestFormat[] = "sextant-manifest";
constexpr int kManifestVersion = 3;

Result<CollectionConfig> ReadConfigFile(storage::Env* env, const std::string& path) {
  auto file = storage::ReadMetaFile(env, path, kConfigFormat, kConfigVersion);
  if (!file.ok()) {
    if (file.status().code() == StatusCode::kNotFound) {
      return Status::Corruption(path + " is missing");
    }
    return file.status();
  }
  return ConfigFromJson(file->fields, path);
}

// A plain file name of the form PREFIX...SUFFIX (no directory part, nothing hidden).
bool IsFileName(const std::string& name, std::string_view prefix, std::string_view suffix) {
  return name.size() > prefix.size() + suffix.size() && name.rfind(prefix, 0) == 0 &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

float Norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return static_cast<float>(std::sqrt(s));
}

std::string DescribeValue(float v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
  return std::to_string(v);
}

// Offset of the first byte that breaks UTF-8, or npos.
size_t InvalidUtf8At(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size() || (n == 2 && c < 0xc2)) return i;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
      return i;
    }
    i += n;
  }
  return std::string_view::npos;
}

// Vectors the indexes can hold: finite values whose squared length stays at most 1e37, so that
// every distance between two stored vectors (|a-b|^2 <= 4 max(|a|^2, |b|^2)), every inner
// product and every norm is finite in float32; and for cosine a length of at least 1e-30, so
// that normalising does not divide by zero or a denormal. `what` names the vector.
constexpr double kMaxSquaredNorm = 1e37;
constexpr double kMinCosineNorm = 1e-30;

Status CheckVectorValues(const std::vector<float>& v, Metric metric, const std::string& what) {
  double squared = 0;
  size_t largest = 0;
  for (size_t d = 0; d < v.size(); ++d) {
    if (!std::isfinite(v[d])) {
      return Status::InvalidArgument(what + ": vector value " + DescribeValue(v[d]) + " at dimension " +
                                     std::to_string(d) + " (must be finite)");
    }
    squared += static_cast<double>(v[d]) * v[d];
    if (std::abs(v[d]) > std::abs(v[largest])) largest = d;
  }
  if (squared > kMaxSquaredNorm) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v[largest]));
    return Status::InvalidArgument(what + ": vector value " + buf + " at dimension " + std::to_string(largest) +
                                   " is too large (the squared length must stay below 1e37, or "
                                   "distances overflow float32)");
  }
  if (metric == Metric::kCosine && !v.empty() && std::sqrt(squared) < kMinCosineNorm) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", std::sqrt(squared));
    return Status::InvalidArgument(what + ": vector has length " + buf +
                                   "; a cosine collection needs a length of at least 1e-30 to normalise it");
  }
  return Status::OK();
}

// Ids are UTF-8 text without control characters (U+0000..U+001F, U+007F): they appear in
// URLs, JSON lines and logs, where a NUL or a newline cannot be addressed or shown.
Status CheckId(const std::string& id, const std::string& where) {
  if (const size_t at = InvalidUtf8At(id); at != std::string_view::npos) {
    return Status::InvalidArgument(where + ": id is not valid UTF-8 at byte " + std::to_string(at));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    const auto c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02x", c);
      return Status::InvalidArgument(where + ": id has control character " + std::string(buf) + " at byte " +
                                     std::to_string(i) + " (ids are UTF-8 text without control characters)");
    }
  }
  return Status::OK();
}

bool IsScalar(const nlohmann::json& v) { return v.is_string() || v.is_number() || v.is_boolean(); }

}  // namespace

CollectionImpl::CollectionImpl(storage::Env* env, std::string dir, CollectionConfig config,
                               DatabaseOptions options)
    : env_(env), dir_(std::move(dir)), config_(std::move(config)), options_(options) {}

CollectionImpl::~CollectionImpl() {
  // Stop the segment thread first, while vectors_ is still set: it calls back into this
  // object (a checkpoint), which reads the segments.
  if (vectors_) vectors_->Stop();
  std::lock_guard<std::mutex> w(write_mu_);
  if (wal_file_ && wal_ && broken_.ok() && !manifest_.is_null()) {
    // A clean close: the log is synced and the manifest records its length, so that a later
    // open can tell a log cut short or damaged since (Corruption) from a crash's torn tail.
    const uint64_t size = wal_file_->Size();
    if (size != manifest_.value("wal_bytes", uint64_t{0}) && wal_->Sync().ok()) {
      nlohmann::json m = manifest_;
      m["wal_bytes"] = size;
      (void)WriteManifest(m);
    }
  }
  if (wal_file_) (void)wal_file_->Close();
}

Status CollectionImpl::RenameInConfig(storage::Env* env, const std::string& config_path,
                                      const std::string& name) {
  SEXTANT_ASSIGN_OR_RETURN(CollectionConfig config, ReadConfigFile(env, config_path));
  config.name = name;
  SEXTANT_RETURN_IF_ERROR(ValidateCollectionConfig(config));
  return storage::WriteMetaFile(env, config_path, kConfigFormat, kConfigVersion, ConfigToJson(config),
                                /*pretty=*/true);
}

Status CollectionImpl::WriteManifest(const nlohmann::json& fields) {
  return storage::WriteMetaFile(env_, dir_ + "/MANIFEST", kManifestFormat, kManifestVersion, fields);
}

Result<nlohmann::json> CollectionImpl::ReadManifest(const std::string& path) const {
  auto file = storage::ReadMetaFile(env_, path, kManifestFormat, kManifestVersion);
  if (!file.ok()) {
    if (file.status().code() == StatusCode::kNotFound) return Status::Corruption(path + " is missing");
    return file.status();
  }
  nlohmann::json& m = file->fields;
  auto bad = [&](const std::string& why) { return Status::Corruption(path + ": " + why); };
  // Version 0 is a manifest written before manifests had checksums: held to the same shape.
  SEXTANT_RETURN_IF_ERROR(CheckKeys(m, {"checkpoint_seq", "generation", "wal", "wal_bytes", "points",
                                        "segments", "index"},
                                    path, "the manifest"));
  if (!m.contains("checkpoint_seq") || !m["checkpoint_seq"].is_number_unsigned()) {
    return bad("no checkpoint_seq");
  }
  if (!m.contains("wal") || !m["wal"].is_string() || !IsFileName(m["wal"].get<std::string>(), "wal-", ".log")) {
    return bad("no valid \"wal\" (expected wal-SEQ.log)");
  }
  if (m.contains("generation") && !m["generation"].is_number_unsigned()) return bad("bad \"generation\"");
  if (m.contains("wal_bytes") && !m["wal_bytes"].is_number_unsigned()) return bad("bad \"wal_bytes\"");
  if (file->version >= 3) {
    for (const char* key : {"generation", "wal_bytes", "points", "segments"}) {
      if (!m.contains(key)) return bad(std::string("no \"") + key + "\"");
    }
    if (m["wal"].get<std::string>() != SeqName("wal", m["checkpoint_seq"].get<uint64_t>(), ".log")) {
      return bad("\"wal\" does not match checkpoint_seq");
    }
  }
  if (!m.contains("points")) return bad("no \"points\"");
  if (!m["points"].is_null()) {
    if (!m["points"].is_string() || !IsFileName(m["points"].get<std::string>(), "points-", ".dat")) {
      return bad("bad \"points\" (expected points-SEQ-GEN.dat or null)");
    }
    if (file->version >= 3 && m["points"].get<std::string>() !=
                                  PointsName(m["checkpoint_seq"].get<uint64_t>(), m["generation"].get<uint64_t>())) {
      return bad("\"points\" does not match checkpoint_seq and generation");
    }
  }
  if (m.contains("index") && (!m["index"].is_string() || !IsFileName(m["index"].get<std::string>(), "index-", ".hnsw"))) {
    return bad("bad \"index\"");
  }
  if (m.contains("segments")) {
    if (!m["segments"].is_array()) return bad("\"segments\" is not an array");
    std::unordered_set<uint64_t> ids;
    for (const auto& e : m["segments"]) {
      if (!e.is_object() || !CheckKeys(e, {"id", "file", "vectors"}, path, "a segment entry").ok() ||
          !e.contains("id") || !e["id"].is_number_unsigned() || e["id"].get<uint64_t>() == 0 ||
          !ids.insert(e["id"].get<uint64_t>()).second || !e.contains("file") || !e["file"].is_string() ||
          !IsFileName(e["file"].get<std::string>(), "seg-", "") ||
          (e.contains("vectors") && (!e["vectors"].is_string() ||
                                     !IsFileName(e["vectors"].get<std::string>(), "seg-", ".vec")))) {
        return bad("malformed segment entry " + e.dump().substr(0, 200));
      }
    }
  }
  return std::move(m);
}

size_t DefaultPqM(size_t dim) {
  // The divisor of the dimension closest to dim / 4 (sub-vectors of about 4 dimensions).
  size_t best = 1;
  for (size_t m = 1; m <= dim; ++m) {
    if (dim % m == 0 && std::abs(static_cast<double>(m) - dim / 4.0) < std::abs(static_cast<double>(best) - dim / 4.0)) {
      best = m;
    }
  }
  return best;
}

index::IndexSpec TrainedSpec(const CollectionConfig& c) {
  index::IndexSpec spec;
  spec.type = IndexTypeToString(c.index);
  spec.metric = ToIndexMetric(c.metric);
  spec.nlist = c.quantization.nlist;
  spec.m = c.quantization.m != 0 ? c.quantization.m : DefaultPqM(c.dimension);
  spec.nbits = c.quantization.nbits;
  spec.hnsw_M = c.hnsw.M;
  spec.ef_construction = c.hnsw.ef_construction;
  return spec;
}

Status ValidateCollectionConfig(const CollectionConfig& c) {
  if (!IsValidName(c.name)) {
    if (c.name.empty() || c.name.size() > 64) {
      return Status::InvalidArgument("collection name must have 1 to 64 characters");
    }
    return Status::InvalidArgument("collection name '" + c.name +
                                   "' may only contain letters, digits, '_' and '-'");
  }
  // The limits on every setting live in one place, shared with the JSON parsers.
  SEXTANT_RETURN_IF_ERROR(codec::CheckCollectionSettings(c));
  // What only the modules know: the analyzer exists, the quantized index can be built.
  if (c.text) SEXTANT_RETURN_IF_ERROR(text::MakeAnalyzer(c.analyzer).status());
  if (c.index != IndexType::kHnsw && c.index != IndexType::kFlat) {
    Status st = SegmentedIndex::CheckTrainedSpec(c.dimension, TrainedSpec(c));
    if (!st.ok()) return st.WithContext(std::string("index ") + IndexTypeToString(c.index));
  }
  return Status::OK();
}

Result<std::unique_ptr<SegmentedIndex>> CollectionImpl::MakeVectorIndex() const {
  SegmentedIndex::Options o;
  o.dim = config_.dimension;
  o.metric = ToIndexMetric(config_.metric);
  o.kind = config_.index == IndexType::kHnsw   ? SegmentedIndex::Kind::kHnsw
           : config_.index == IndexType::kFlat ? SegmentedIndex::Kind::kFlat
                                               : SegmentedIndex::Kind::kTrained;
  o.hnsw_options.metric = o.metric;
  o.hnsw_options.M = config_.hnsw.M;
  o.hnsw_options.ef_construction = config_.hnsw.ef_construction;
  o.trained = TrainedSpec(config_);
  o.build_threads = options_.index_threads > 0
                        ? options_.index_threads
                        : std::max<size_t>(1, std::thread::hardware_concurrency());
  o.trained.build_threads = o.build_threads;
  o.params = config_.segments;
  if (o.params.seal_points == 0) o.params.seal_points = SegmentedIndex::AutoSealPoints(o.dim);
  o.dir = dir_;
  o.files = env_;  // segment files through the Env seam, like every other file
  return SegmentedIndex::Create(o);
}

void CollectionImpl::OnSegmentsChanged() {
  std::lock_guard<std::mutex> w(write_mu_);
  if (!broken_.ok()) return;
  // Failure only delays the switch to the new files: the old checkpoint stays valid.
  (void)CheckpointLocked(/*force=*/true);
}

}  // namespace sextant::engine

namespace sextant {
Status ValidatePoint(const Point& point, size_t dimension, Metric metric) {
  Status st = engine::CollectionImpl::ValidatePoint(point, dimension, metric, 0);
  if (st.ok()) return st;
  // Drop the "point 0 (id '...'): " prefix: the caller names the point its own way.
  const std::string& m = st.message();
  const size_t colon = m.find(": ");
  return Status(st.code(), colon == std::string::npos ? m : m.substr(colon + 2));
}
}  // namespace sextant

namespace sextant::engine {

Status CollectionImpl::ValidatePoint(const Point& p, size_t dimension, Metric metric, size_t i) {
  const std::string where = "point " + std::to_string(i);
  if (p.id.empty()) return Status::InvalidArgument(where + ": id is empty");
  if (p.id.size() > kMaxIdBytes) {
    return Status::InvalidArgument(where + ": id is longer than " + std::to_string(kMaxIdBytes) +
                                   " bytes");
  }
  SEXTANT_RETURN_IF_ERROR(CheckId(p.id, where));
  const std::string named = where + " (id '" + p.id + "')";
  if (dimension == 0 && !p.vector.empty()) {
    return Status::InvalidArgument(named + ": this collection is text-only (dimension 0); omit the vector");
  }
  if (p.document) {
    if (const size_t at = InvalidUtf8At(*p.document); at != std::string_view::npos) {
      return Status::InvalidArgument(named + ": document is not valid UTF-8 at byte " + std::to_string(at));
    }
  }
  if (p.vector.size() != dimension) {
    return Status::InvalidArgument(named + ": vector has dimension " +
                                   std::to_string(p.vector.size()) + ", collection has " +
                                   std::to_string(dimension));
  }
  SEXTANT_RETURN_IF_ERROR(CheckVectorValues(p.vector, metric, named));
  if (!p.metadata.is_object()) {
    return Status::InvalidArgument(named + ": metadata must be a JSON object");
  }
  for (const auto& [key, value] : p.metadata.items()) {
    if (key.empty()) return Status::InvalidArgument(named + ": metadata has an empty field name");
    bool ok = IsScalar(value);
    if (value.is_array()) {
      ok = std::all_of(value.begin(), value.end(), [](const auto& e) { return IsScalar(e); });
    }
    if (!ok) {
      return Status::InvalidArgument(named + ": metadata field '" + key +
                                     "' must be a string, number, boolean or an array of these");
    }
  }
  return Status::OK();
}

Result<std::unique_ptr<CollectionImpl>> CollectionImpl::Create(storage::Env* env,
                                                               const std::string& dir,
                                                               const CollectionConfig& config,
                                                               const DatabaseOptions& options) {
  std::unique_ptr<CollectionImpl> c(new CollectionImpl(env, dir, config, options));
  SEXTANT_RETURN_IF_ERROR(c->InitIndexes());
  if (config.dimension > 0) {
    SEXTANT_ASSIGN_OR_RETURN(c->vectors_, c->MakeVectorIndex());
  }
  SEXTANT_RETURN_IF_ERROR(env->CreateDirs(dir));
  SEXTANT_RETURN_IF_ERROR(storage::WriteMetaFile(env, dir + "/config.json", kConfigFormat, kConfigVersion,
                                                 ConfigToJson(config), /*pretty=*/true));
  c->wal_name_ = SeqName("wal", 0, ".log");
  SEXTANT_RETURN_IF_ERROR(c->OpenLog(c->wal_name_, /*truncate=*/true));
  SEXTANT_RETURN_IF_ERROR(env->SyncDir(dir));
  c->manifest_ = {{"checkpoint_seq", 0}, {"generation", 0}, {"wal", c->wal_name_}, {"wal_bytes", 0},
                  {"points", nullptr}, {"segments", nlohmann::json::array()}};
  SEXTANT_RETURN_IF_ERROR(c->WriteManifest(c->manifest_));
  if (c->vectors_) c->vectors_->Start([raw = c.get()] { raw->OnSegmentsChanged(); });
  return c;
}

Result<std::unique_ptr<CollectionImpl>> CollectionImpl::Open(storage::Env* env,
                                                             const std::string& dir,
                                                             const DatabaseOptions& options) {
  SEXTANT_ASSIGN_OR_RETURN(CollectionConfig config, ReadConfigFile(env, dir + "/config.json"));
  std::unique_ptr<CollectionImpl> c(new CollectionImpl(env, dir, config, options));
  SEXTANT_RETURN_IF_ERROR(c->Recover());
  if (c->vectors_) c->vectors_->Start([raw = c.get()] { raw->OnSegmentsChanged(); });
  return c;
}

Status CollectionImpl::InitIndexes() {
  if (!config_.text) return Status::OK();
  SEXTANT_ASSIGN_OR_RETURN(analyzer_, text::MakeAnalyzer(config_.analyzer));
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<text::Analyzer> for_index, text::MakeAnalyzer(config_.analyzer));
  SEXTANT_ASSIGN_OR_RETURN(text_, text::InvertedIndex::Create(std::move(for_index),
                                                              {config_.bm25_k1, config_.bm25_b}));
  return Status::OK();
}

void CollectionImpl::TextAdd(uint32_t internal, const std::optional<std::string>& document) {
  // Documents were validated (UTF-8) before they were logged, so this cannot fail.
  if (text_ && document) (void)text_->Add(internal, *document);
}

void CollectionImpl::TextRemove(uint32_t internal) {
  if (text_ && text_->Contains(internal)) (void)text_->Remove(internal);
}

Status CollectionImpl::OpenLog(const std::string& name, bool truncate) {
  SEXTANT_ASSIGN_OR_RETURN(wal_file_, env_->NewWritableFile(dir_ + "/" + name, !truncate));
  wal_ = std::make_unique<storage::LogWriter>(wal_file_.get());
  wal_bytes_ = wal_file_->Size();
  return Status::OK();
}

Status CollectionImpl::Recover() {
  const std::string manifest_path = dir_ + "/MANIFEST";
  SEXTANT_ASSIGN_OR_RETURN(nlohmann::json m, ReadManifest(manifest_path));
  manifest_ = m;
  checkpoint_seq_ = m["checkpoint_seq"].get<uint64_t>();
  last_seq_ = checkpoint_seq_;
  wal_name_ = m["wal"].get<std::string>();
  const uint64_t wal_clean_bytes = m.value("wal_bytes", uint64_t{0});
  std::unordered_set<std::string> keep = {"config.json", "MANIFEST", "LOCK", wal_name_};

  // The checkpoint: the points, then the sealed segments they live in. The vectors of the
  // others (mutable and frozen segments) are in the points file and go to a new mutable one.
  SEXTANT_RETURN_IF_ERROR(InitIndexes());
  std::map<uint64_t, std::pair<std::string, std::string>> segment_files;  // index, vectors
  if (m.contains("segments")) {
    for (const auto& e : m["segments"]) {
      segment_files[e["id"].get<uint64_t>()] = {e["file"].get<std::string>(),
                                                e.value("vectors", std::string())};
    }
  } else if (m.contains("index") && m["index"].is_string()) {  // a version-1 checkpoint
    segment_files[kLegacyIndexSegment] = {m["index"].get<std::string>(), ""};
  }
  for (const auto& [id, files] : segment_files) {
    for (const std::string& f : {files.first, files.second}) {
      if (f.empty()) continue;
      keep.insert(f);
      manifest_segments_.push_back(f);
    }
  }
  if (config_.dimension > 0) {
    SEXTANT_ASSIGN_OR_RETURN(vectors_, MakeVectorIndex());
  }
  std::map<uint64_t, roaring::Roaring> segment_live;
  if (m.contains("generation") && m["generation"].is_number_unsigned()) {
    checkpoint_gen_ = m["generation"].get<uint64_t>();
  }
  if (m.contains("points") && m["points"].is_string()) {
    const std::string name = m["points"].get<std::string>();
    keep.insert(name);
    points_name_ = name;
    const std::string path = dir_ + "/" + name;
    auto read = env_->ReadFile(path);
    if (!read.ok()) {
      if (read.status().code() == StatusCode::kNotFound) {
        return Status::Corruption(path + " is missing (named by " + manifest_path + ")");
      }
      return read.status();
    }
    const std::string bytes = std::move(read).value();
    SEXTANT_ASSIGN_OR_RETURN(engine::Checkpoint cp, DecodeCheckpoint(bytes, path));
    if (cp.seq != checkpoint_seq_ || cp.dimension != config_.dimension) {
      return Status::Corruption(path + ": checkpoint does not match the manifest");
    }
    for (StoredPoint& sp : cp.points) {
      const uint32_t internal = sp.internal_id;
      if (internal >= records_.size()) records_.resize(internal + 1);
      if (records_[internal] || ids_.count(sp.point.id)) {
        return Status::Corruption(path + ": point '" + sp.point.id + "' appears twice");
      }
      if (vectors_) {
        if (sp.segment == 0) {
          SEXTANT_RETURN_IF_ERROR(vectors_->Add(internal, sp.point.vector).WithContext(path));
        } else if (!segment_files.count(sp.segment)) {
          return Status::Corruption(path + ": point '" + sp.point.id + "' is in segment " +
                                    std::to_string(sp.segment) + ", which the manifest does not name");
        } else {
          segment_live[sp.segment].add(internal);
        }
      }
      TextAdd(internal, sp.point.document);
      ids_[sp.point.id] = internal;
      live_.add(internal);
      payload_.Insert(internal, sp.point.metadata);
      record_bytes_ += sp.point.id.size() + (sp.point.document ? sp.point.document->size() : 0) + 64;
      records_[internal] = Record{std::move(sp.point.id), std::move(sp.point.document),
                                  std::move(sp.point.metadata), sp.norm};
    }
    for (uint32_t i = 0; i < records_.size(); ++i) {
      if (!records_[i]) free_ids_.push_back(i);
    }
  }
  if (vectors_) {
    for (const auto& [id, files] : segment_files) {
      SEXTANT_RETURN_IF_ERROR(vectors_->AttachSealed(id, files.first, files.second, segment_live[id]));
    }
    if (vectors_->size() != ids_.size()) {
      return Status::Corruption(dir_ + ": segments hold " + std::to_string(vectors_->size()) +
                                " vectors for " + std::to_string(ids_.size()) + " points");
    }
  }

  // The log: replay every record after the checkpoint; cut a torn tail, refuse corruption.
  const std::string wal_path = dir_ + "/" + wal_name_;
  auto read_wal = env_->ReadFile(wal_path);
  if (!read_wal.ok()) {
    // The log is created before the manifest that names it is committed: missing is damage.
    if (read_wal.status().code() == StatusCode::kNotFound) {
      return Status::Corruption(wal_path + " is missing (named by " + manifest_path + ")");
    }
    return read_wal.status();
  }
  const std::string contents = std::move(read_wal).value();
  storage::LogReader reader(contents);
  std::string payload;
  for (;;) {
    auto outcome = reader.ReadRecord(&payload);
    if (!outcome.ok()) return outcome.status().WithContext(wal_path);
    if (*outcome == storage::LogReader::Outcome::kEof) break;
    auto op = DecodeOp(payload, config_.dimension);
    if (!op.ok()) return op.status().WithContext(wal_path);
    if (op->seq <= last_seq_) continue;  // already in the checkpoint
    if (op->seq != last_seq_ + 1) {
      return Status::Corruption(wal_path + ": log jumps from sequence " + std::to_string(last_seq_) +
                                " to " + std::to_string(op->seq));
    }
    Apply(*op);
    last_seq_ = op->seq;
  }
  // The manifest records how long the log was when it was last closed cleanly (synced): a log
  // whose whole records end before that lost acknowledged writes — truncated, or its last
  // record damaged — which no crash can do.
  if (reader.last_good_offset() < wal_clean_bytes) {
    return Status::Corruption(wal_path + ": the log's whole records end at byte " +
                              std::to_string(reader.last_good_offset()) + ", but it held " +
                              std::to_string(wal_clean_bytes) +
                              " bytes of synced records when it was last closed (" +
                              (contents.size() < wal_clean_bytes ? "truncated" : "damaged record") + ")");
  }
  if (reader.tail_dropped()) {
    SEXTANT_RETURN_IF_ERROR(env_->TruncateFile(wal_path, reader.last_good_offset()));
  }
  SEXTANT_RETURN_IF_ERROR(OpenLog(wal_name_, /*truncate=*/false));

  // Files left by an interrupted checkpoint: only now, with the manifest verified and every
  // file it names loaded. A log newer than the checkpoint that holds records cannot be left by
  // a checkpoint (nothing is appended to a new log before the manifest naming it commits):
  // the manifest is not the one that was committed last, so nothing is removed.
  SEXTANT_ASSIGN_OR_RETURN(auto entries, env_->ListDir(dir_));
  std::vector<std::string> doomed;
  for (const std::string& name : entries) {
    if (keep.count(name)) continue;
    if (IsFileName(name, "wal-", ".log")) {
      const uint64_t seq = std::strtoull(name.c_str() + 4, nullptr, 10);
      auto size = env_->GetFileSize(dir_ + "/" + name);
      if (seq > checkpoint_seq_ && (!size.ok() || *size > 0)) {
        return Status::Corruption(dir_ + "/" + name + " holds writes after the checkpoint " +
                                  manifest_path + " names (sequence " + std::to_string(checkpoint_seq_) +
                                  "); refusing to open rather than lose them");
      }
    }
    if (name.rfind("points-", 0) == 0 || name.rfind("index-", 0) == 0 || name.rfind("seg-", 0) == 0 ||
        name.rfind("wal-", 0) == 0 || name.find(".tmp") != std::string::npos) {
      doomed.push_back(name);
    }
  }
  for (const std::string& name : doomed) (void)env_->RemoveFile(dir_ + "/" + name);
  return Status::OK();
}

Status CollectionImpl::CheckWritable() {
  if (broken_.ok()) return Status::OK();
  // After a failed log write (a full disk, an I/O error) the log may end in a partial record.
  // Each later write first tries to cut the log back to its last whole record and reopen it;
  // once the file system takes writes again, the collection does too.
  Status repaired = RepairLog();
  if (repaired.ok()) {
    broken_ = Status::OK();
    return Status::OK();
  }
  return Status::FailedPrecondition("collection '" + config_.name +
                                    "' refuses writes after a failed log write (" + broken_.message() +
                                    "); reopening the log failed too (" + repaired.message() +
                                    "); writes are retried when the next one arrives");
}

Status CollectionImpl::RepairLog() {
  wal_.reset();
  if (wal_file_) (void)wal_file_->Close();
  wal_file_.reset();
  const uint64_t good = wal_bytes_;  // the end of the last record written whole
  SEXTANT_RETURN_IF_ERROR(env_->TruncateFile(dir_ + "/" + wal_name_, good));
  SEXTANT_RETURN_IF_ERROR(OpenLog(wal_name_, /*truncate=*/false));
  if (wal_bytes_ != good) {
    return Status::IOError(dir_ + "/" + wal_name_ + ": log is " + std::to_string(wal_bytes_) +
                           " bytes after truncation to " + std::to_string(good));
  }
  return wal_->Sync();
}

Status CollectionImpl::Commit(Op& op) {
  SEXTANT_RETURN_IF_ERROR(CheckWritable());
  op.seq = last_seq_ + 1;
  const std::string payload = EncodeOp(op);
  Status st = wal_->AddRecord(payload);
  if (st.ok() && options_.durability == Durability::kSync) st = wal_->Sync();
  if (!st.ok()) {
    // The log may now end in a partial record; recovery cuts it, but this process must not
    // append after it.
    broken_ = st;
    return st;
  }
  {
    std::unique_lock<std::shared_mutex> lock(state_mu_);
    Apply(op);
    last_seq_ = op.seq;
  }
  wal_bytes_ += payload.size() + 9;
  ++wal_records_;
  if (wal_bytes_ > options_.checkpoint_log_bytes) {
    // The write itself is durable; a failed checkpoint only leaves the log longer.
    (void)CheckpointLocked();
  }
  return Status::OK();
}

void CollectionImpl::Apply(const Op& op) {
  switch (op.type) {
    case Op::kUpsert:
      ApplyUpsert(op.points);
      break;
    case Op::kDelete:
      ApplyDelete(op.ids);
      break;
    case Op::kUpdateMetadata: {
      auto it = ids_.find(op.ids[0]);
      if (it == ids_.end()) return;
      Record& r = *records_[it->second];
      payload_.Erase(it->second, r.metadata);
      if (op.merge) {
        for (const auto& [k, v] : op.metadata.items()) r.metadata[k] = v;
      } else {
        r.metadata = op.metadata;
      }
      payload_.Insert(it->second, r.metadata);
      break;
    }
  }
}

void CollectionImpl::ApplyUpsert(const std::vector<Point>& points) {
  // Replaced points leave the index in one batch (one repair pass), then everything is added.
  std::vector<uint64_t> replaced;
  std::vector<uint32_t> slots(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    auto it = ids_.find(points[i].id);
    if (it != ids_.end()) {
      replaced.push_back(it->second);
      slots[i] = it->second;
      payload_.Erase(it->second, records_[it->second]->metadata);
      TextRemove(it->second);
    } else if (!free_ids_.empty()) {
      slots[i] = free_ids_.back();
      free_ids_.pop_back();
    } else {
      slots[i] = static_cast<uint32_t>(records_.size());
      records_.emplace_back();
    }
  }
  if (vectors_) (void)vectors_->Remove(replaced);
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    const uint32_t internal = slots[i];
    if (records_[internal]) {
      const Record& old = *records_[internal];
      record_bytes_ -= old.id.size() + (old.document ? old.document->size() : 0) + 64;
    }
    if (vectors_) (void)vectors_->Add(internal, p.vector);
    TextAdd(internal, p.document);
    ids_[p.id] = internal;
    live_.add(internal);
    payload_.Insert(internal, p.metadata);
    record_bytes_ += p.id.size() + (p.document ? p.document->size() : 0) + 64;
    records_[internal] = Record{p.id, p.document, p.metadata,
                                config_.metric == Metric::kCosine ? Norm(p.vector) : 1.0f};
  }
}

void CollectionImpl::ApplyDelete(const std::vector<std::string>& ids) {
  std::vector<uint64_t> gone;
  for (const std::string& id : ids) {
    auto it = ids_.find(id);
    if (it == ids_.end()) continue;
    const uint32_t internal = it->second;
    const Record& r = *records_[internal];
    payload_.Erase(internal, r.metadata);
    TextRemove(internal);
    record_bytes_ -= r.id.size() + (r.document ? r.document->size() : 0) + 64;
    records_[internal].reset();
    live_.remove(internal);
    free_ids_.push_back(internal);
    gone.push_back(internal);
    ids_.erase(it);
  }
  if (vectors_) (void)vectors_->Remove(gone);
}

Result<size_t> CollectionImpl::Upsert(std::span<const Point> points) {
  std::unordered_set<std::string_view> seen;
  for (size_t i = 0; i < points.size(); ++i) {
    SEXTANT_RETURN_IF_ERROR(ValidatePoint(points[i], config_.dimension, config_.metric, i));
    if (!seen.insert(points[i].id).second) {
      return Status::InvalidArgument("point " + std::to_string(i) + ": id '" + points[i].id +
                                     "' appears twice in the batch");
    }
  }
  if (points.empty()) return size_t{0};
  // Back-pressure: while the indexer is far behind, wait (bounded) before logging the write.
  if (vectors_) vectors_->Throttle();
  std::lock_guard<std::mutex> w(write_mu_);
  Op op;
  op.type = Op::kUpsert;
  op.points.assign(points.begin(), points.end());
  SEXTANT_RETURN_IF_ERROR(Commit(op));
  return points.size();
}

Result<size_t> CollectionImpl::Delete(std::span<const std::string> ids) {
  std::lock_guard<std::mutex> w(write_mu_);
  Op op;
  op.type = Op::kDelete;
  {
    std::shared_lock<std::shared_mutex> r(state_mu_);
    std::unordered_set<std::string_view> seen;
    for (const auto& id : ids) {
      if (ids_.count(id) && seen.insert(id).second) op.ids.push_back(id);
    }
  }
  if (op.ids.empty()) return size_t{0};
  SEXTANT_RETURN_IF_ERROR(Commit(op));
  return op.ids.size();
}

Result<filter::Filter> CollectionImpl::ParseFilter(const nlohmann::json& j) const {
  auto f = filter::Filter::Parse(j);
  if (!f.ok()) return f.status().WithContext("filter");
  return f;
}

roaring::Roaring CollectionImpl::Matching(const filter::Filter& f) const {
  if (auto ids = payload_.Evaluate(f, live_)) return std::move(*ids);
  roaring::Roaring out;  // a filter the payload index cannot answer: scan the metadata
  for (uint32_t internal : live_) {
    if (f.Matches(records_[internal]->metadata)) out.add(internal);
  }
  return out;
}

Result<size_t> CollectionImpl::DeleteByFilter(const nlohmann::json& filter) {
  SEXTANT_ASSIGN_OR_RETURN(filter::Filter f, ParseFilter(filter));
  std::lock_guard<std::mutex> w(write_mu_);
  Op op;
  op.type = Op::kDelete;
  {
    std::shared_lock<std::shared_mutex> r(state_mu_);
    for (uint32_t internal : Matching(f)) op.ids.push_back(records_[internal]->id);
  }
  if (op.ids.empty()) return size_t{0};
  SEXTANT_RETURN_IF_ERROR(Commit(op));
  return op.ids.size();
}

Status CollectionImpl::UpdateMetadata(const std::string& id, const nlohmann::json& metadata,
                                      bool merge) {
  Point probe;
  probe.id = id;
  probe.vector.assign(config_.dimension, 0.0f);
  probe.metadata = metadata;
  SEXTANT_RETURN_IF_ERROR(ValidatePoint(probe, config_.dimension, Metric::kL2, 0));
  std::lock_guard<std::mutex> w(write_mu_);
  {
    std::shared_lock<std::shared_mutex> r(state_mu_);
    if (!ids_.count(id)) return Status::NotFound("point '" + id + "' not found");
  }
  Op op;
  op.type = Op::kUpdateMetadata;
  op.ids = {id};
  op.metadata = metadata;
  op.merge = merge;
  return Commit(op);
}

Point CollectionImpl::MakePoint(uint32_t internal, bool include_vector) const {
  const Record& r = *records_[internal];
  Point p;
  p.id = r.id;
  p.document = r.document;
  p.metadata = r.metadata;
  if (include_vector && vectors_) {
    auto v = vectors_->GetVector(internal);
    if (v.ok()) {
      p.vector = std::move(v).value();
      if (config_.metric == Metric::kCosine) {
        for (float& x : p.vector) x *= r.norm;  // stored normalised; give back the original
      }
    }
  }
  return p;
}

Result<std::vector<Point>> CollectionImpl::Get(std::span<const std::string> ids,
                                               bool include_vector) const {
  std::shared_lock<std::shared_mutex> r(state_mu_);
  std::vector<Point> out;
  for (const auto& id : ids) {
    auto it = ids_.find(id);
    if (it != ids_.end()) out.push_back(MakePoint(it->second, include_vector));
  }
  return out;
}

Result<size_t> CollectionImpl::Count(const std::optional<nlohmann::json>& filter) const {
  std::optional<filter::Filter> f;
  if (filter) {
    SEXTANT_ASSIGN_OR_RETURN(f, ParseFilter(*filter));
  }
  std::shared_lock<std::shared_mutex> r(state_mu_);
  if (!f) return ids_.size();
  return static_cast<size_t>(Matching(*f).cardinality());
}

Result<ScrollPage> CollectionImpl::Scroll(const std::string& after, size_t limit,
                                          const std::optional<nlohmann::json>& filter,
                                          bool include_vector) const {
  if (limit == 0) return Status::InvalidArgument("limit must be at least 1");
  std::optional<filter::Filter> f;
  if (filter) {
    SEXTANT_ASSIGN_OR_RETURN(f, ParseFilter(*filter));
  }
  std::shared_lock<std::shared_mutex> r(state_mu_);
  std::optional<roaring::Roaring> pass;
  if (f) pass = Matching(*f);
  ScrollPage page;
  auto it = after.empty() ? ids_.begin() : ids_.upper_bound(after);
  for (; it != ids_.end(); ++it) {
    if (pass && !pass->contains(it->second)) continue;
    if (page.points.size() == limit) {
      page.next = page.points.back().id;
      break;
    }
    page.points.push_back(MakePoint(it->second, include_vector));
  }
  return page;
}

namespace {

Status CheckDeadline(const QueryRequest& q, const char* when) {
  if (q.deadline && std::chrono::steady_clock::now() > *q.deadline) {
    return Status::DeadlineExceeded(std::string("the query's deadline passed ") + when);
  }
  return Status::OK();
}

}  // namespace

Result<std::vector<QueryHit>> CollectionImpl::Query(const QueryRequest& q) const {
  const bool want_vector = !q.vector.empty();
  const bool want_text = q.text.has_value();
  if (!want_vector && !want_text) {
    return Status::InvalidArgument("a query needs a vector, a text, or both");
  }
  if (want_vector) {
    if (config_.dimension == 0) {
      return Status::InvalidArgument("collection '" + config_.name +
                                     "' is text-only (dimension 0): query with text");
    }
    if (q.vector.size() != config_.dimension) {
      return Status::InvalidArgument("query vector has dimension " + std::to_string(q.vector.size()) +
                                     ", collection has " + std::to_string(config_.dimension));
    }
    SEXTANT_RETURN_IF_ERROR(CheckVectorValues(q.vector, config_.metric, "query"));
  }
  if (want_text) {
    if (!text_) {
      return Status::InvalidArgument("collection '" + config_.name +
                                     "' has no keyword index (create it with text enabled)");
    }
    if (q.text->find_first_not_of(" \t\r\n") == std::string::npos) {
      return Status::InvalidArgument("text query is empty");
    }
    if (const size_t at = InvalidUtf8At(*q.text); at != std::string_view::npos) {
      return Status::InvalidArgument("text query is not valid UTF-8 at byte " + std::to_string(at));
    }
  }
  if (q.k == 0 || q.k > kMaxK) {
    return Status::InvalidArgument("k must be in [1, " + std::to_string(kMaxK) + "], got " +
                                   std::to_string(q.k));
  }
  SEXTANT_ASSIGN_OR_RETURN(text::FusionMethod fusion, text::ParseFusionMethod(q.fusion));
  if (q.alpha && !(*q.alpha >= 0.0 && *q.alpha <= 1.0)) {
    return Status::InvalidArgument("alpha must be in [0, 1], got " + std::to_string(*q.alpha));
  }
  std::optional<filter::Filter> f;
  if (q.filter) {
    SEXTANT_ASSIGN_OR_RETURN(f, ParseFilter(*q.filter));
  }

  std::shared_lock<std::shared_mutex> r(state_mu_);
  SEXTANT_RETURN_IF_ERROR(CheckDeadline(q, "before the search started"));
  if (ids_.empty()) return std::vector<QueryHit>{};
  std::optional<roaring::Roaring> pass;
  if (f) {
    pass = Matching(*f);
    if (pass->cardinality() == 0) return std::vector<QueryHit>{};
    SEXTANT_RETURN_IF_ERROR(CheckDeadline(q, "after evaluating the filter"));
  }
  if (want_text) return HybridQuery(q, fusion, pass ? &*pass : nullptr);

  SEXTANT_ASSIGN_OR_RETURN(auto hits, VectorSearch(q, q.k, pass ? &*pass : nullptr));
  std::vector<QueryHit> out;
  out.reserve(hits.size());
  for (size_t i = 0; i < hits.size(); ++i) {
    const auto& h = hits[i];
    const Record& rec = *records_[h.label];
    QueryHit hit;
    hit.id = rec.id;
    hit.score = h.distance;
    if (q.include_document) hit.document = rec.document;
    if (q.include_metadata) hit.metadata = rec.metadata;
    if (q.include_vector) hit.vector = MakePoint(static_cast<uint32_t>(h.label), true).vector;
    if (q.explain) hit.explain = nlohmann::json{{"vector_distance", h.distance}, {"vector_rank", i + 1}};
    out.push_back(std::move(hit));
  }
  return out;
}

Result<std::vector<index::SearchHit>> CollectionImpl::VectorSearch(
    const QueryRequest& q, size_t k, const roaring::Roaring* pass) const {
  // The filter planner runs per segment (SegmentedIndex::Search).
  SegmentedIndex::QueryParams p;
  p.ef = std::max(q.ef > 0 ? q.ef : config_.hnsw.ef_search, k);
  p.nprobe = q.nprobe > 0 ? q.nprobe : config_.quantization.nprobe;
  p.rerank = q.rerank.value_or(config_.quantization.rerank);
  p.deadline = q.deadline;
  return vectors_->Search(q.vector, k, p, pass);
}

Result<std::vector<QueryHit>> CollectionImpl::HybridQuery(const QueryRequest& q,
                                                          text::FusionMethod method,
                                                          const roaring::Roaring* pass) const {
  const bool hybrid = !q.vector.empty();
  // Each side contributes more candidates than k, so fusion can promote what both agree on.
  const size_t depth = hybrid ? std::max<size_t>(4 * q.k, 50) : q.k;
  std::function<bool(uint32_t)> accept = [pass](uint32_t id) { return pass->contains(id); };
  SEXTANT_ASSIGN_OR_RETURN(text::InvertedIndex::Hits text_hits,
                           text_->Search(*q.text, depth, pass ? &accept : nullptr));
  std::vector<text::RankedList> lists;
  if (hybrid) {
    SEXTANT_RETURN_IF_ERROR(CheckDeadline(q, "after the keyword search"));
    SEXTANT_ASSIGN_OR_RETURN(auto vector_hits, VectorSearch(q, depth, pass));
    text::RankedList v;
    v.higher_is_better = false;
    v.weight = static_cast<float>(q.vector_weight);
    for (const auto& h : vector_hits) v.hits.push_back({static_cast<uint32_t>(h.label), h.distance});
    lists.push_back(std::move(v));
  }
  text::RankedList t;
  t.weight = static_cast<float>(q.text_weight);
  t.hits = std::move(text_hits);
  lists.push_back(std::move(t));
  text::FusionOptions options{method, q.rrf_k, q.alpha};
  SEXTANT_ASSIGN_OR_RETURN(auto fused, text::Fuse(lists, options, q.k));

  std::vector<std::string> query_terms;
  if (q.explain) {
    auto tokens = analyzer_->Analyze(*q.text);
    if (tokens.ok()) {
      for (const auto& tok : *tokens) query_terms.push_back(tok.term);
    }
  }
  const size_t text_list = lists.size() - 1;
  std::vector<QueryHit> out;
  for (const text::FusedHit& h : fused) {
    const Record& rec = *records_[h.doc];
    QueryHit hit;
    hit.id = rec.id;
    // Text-only: the BM25 score itself; hybrid: the fused score (both larger-is-better).
    hit.score = hybrid ? static_cast<float>(h.score) : *h.scores[text_list];
    if (q.include_document) hit.document = rec.document;
    if (q.include_metadata) hit.metadata = rec.metadata;
    if (q.include_vector && vectors_) hit.vector = MakePoint(h.doc, true).vector;
    if (q.explain) {
      nlohmann::json e = nlohmann::json::object();
      if (h.ranks[text_list]) {
        e["bm25"] = *h.scores[text_list];
        e["text_rank"] = *h.ranks[text_list];
      } else {
        e["bm25"] = 0.0;
        e["text_rank"] = nullptr;
      }
      nlohmann::json matched = nlohmann::json::array();
      if (rec.document) {
        auto doc_tokens = analyzer_->Analyze(*rec.document);
        if (doc_tokens.ok()) {
          std::unordered_set<std::string> in_doc;
          for (const auto& tok : *doc_tokens) in_doc.insert(tok.term);
          std::unordered_set<std::string> listed;
          for (const auto& term : query_terms) {
            if (in_doc.count(term) && listed.insert(term).second) matched.push_back(term);
          }
        }
      }
      e["matched_terms"] = matched;
      if (hybrid) {
        e["vector_distance"] = h.scores[0] ? nlohmann::json(*h.scores[0]) : nlohmann::json();
        e["vector_rank"] = h.ranks[0] ? nlohmann::json(*h.ranks[0]) : nlohmann::json();
        e["fused_score"] = h.score;
        e["fusion"] = q.fusion;
      }
      hit.explain = std::move(e);
    }
    out.push_back(std::move(hit));
  }
  return out;
}

Status CollectionImpl::Checkpoint() {
  std::lock_guard<std::mutex> w(write_mu_);
  SEXTANT_RETURN_IF_ERROR(CheckWritable());
  return CheckpointLocked();
}

Status CollectionImpl::CheckpointLocked(bool force) {
  const uint64_t seq = last_seq_;
  if (!force && seq == checkpoint_seq_ && wal_bytes_ == 0) return Status::OK();  // nothing new
  if (config_.dimension > 0 && !vectors_) return Status::Internal("checkpoint without a vector index");
  const uint64_t generation = checkpoint_gen_ + 1;
  const std::string points_name = PointsName(seq, generation);
  const std::string wal_name = SeqName("wal", seq, ".log");
  std::vector<std::string> segment_names;
  nlohmann::json segments = nlohmann::json::array();
  {
    // Writers are held off by write_mu_; readers may go on.
    std::shared_lock<std::shared_mutex> r(state_mu_);
    std::vector<SegmentedIndex::SealedView> sealed;
    if (vectors_) sealed = vectors_->Sealed();
    for (const auto& sv : sealed) {
      nlohmann::json e = {{"id", sv.id}, {"file", sv.file}};
      segment_names.push_back(sv.file);
      if (!sv.vectors_file.empty()) {
        e["vectors"] = sv.vectors_file;
        segment_names.push_back(sv.vectors_file);
      }
      segments.push_back(std::move(e));
    }
    engine::Checkpoint cp;
    cp.seq = seq;
    cp.dimension = config_.dimension;
    cp.points.reserve(ids_.size());
    for (const auto& [id, internal] : ids_) {
      StoredPoint sp;
      sp.internal_id = internal;
      for (const auto& sv : sealed) {
        if (sv.live.contains(internal)) {
          sp.segment = sv.id;
          break;
        }
      }
      // Vectors not in a sealed segment are kept here, at their original scale (cosine
      // vectors are normalised again when they are loaded).
      sp.point = MakePoint(internal, sp.segment == 0);
      if (sp.segment == 0 && sp.point.vector.size() != config_.dimension) {
        return Status::Internal("checkpoint: no vector for point '" + id + "'");
      }
      sp.norm = records_[internal]->norm;
      cp.points.push_back(std::move(sp));
    }
    SEXTANT_RETURN_IF_ERROR(env_->WriteFileAtomically(dir_ + "/" + points_name, EncodeCheckpoint(cp)));
  }
  // A fresh log for the writes after `seq`; the manifest switch is the commit point.
  const bool new_log = wal_name != wal_name_;
  std::unique_ptr<storage::WritableFile> old_file;
  std::unique_ptr<storage::LogWriter> old_wal;
  Status st;
  if (new_log) {
    old_file = std::move(wal_file_);
    old_wal = std::move(wal_);
    st = OpenLog(wal_name, /*truncate=*/true);
  }
  if (st.ok()) st = env_->SyncDir(dir_);
  // A new log is empty; an unchanged one keeps the bound the last clean close recorded.
  const nlohmann::json manifest = {{"checkpoint_seq", seq}, {"generation", generation}, {"wal", wal_name},
                                   {"wal_bytes", new_log ? uint64_t{0} : manifest_.value("wal_bytes", uint64_t{0})},
                                   {"points", points_name}, {"segments", segments}};
  if (st.ok()) st = WriteManifest(manifest);
  if (!st.ok()) {
    if (new_log) {
      wal_file_ = std::move(old_file);
      wal_ = std::move(old_wal);
      wal_bytes_ = wal_file_->Size();
    }
    return st;
  }
  ++checkpoints_;
  manifest_ = manifest;
  if (new_log) {
    (void)old_file->Close();
    (void)env_->RemoveFile(dir_ + "/" + wal_name_);
  }
  if (!points_name_.empty()) (void)env_->RemoveFile(dir_ + "/" + points_name_);
  points_name_ = points_name;
  checkpoint_gen_ = generation;
  wal_name_ = wal_name;
  checkpoint_seq_ = seq;
  manifest_segments_ = segment_names;
  // Segment files replaced by merges go once no committed manifest names them.
  if (vectors_) {
    std::vector<std::string> later;
    for (std::string& f : vectors_->TakeObsoleteFiles()) {
      if (std::find(segment_names.begin(), segment_names.end(), f) != segment_names.end()) {
        later.push_back(std::move(f));
      } else {
        (void)env_->RemoveFile(dir_ + "/" + f);
      }
    }
    if (!later.empty()) vectors_->ReturnObsoleteFiles(std::move(later));
  }
  return Status::OK();
}

Status CollectionImpl::CreateSnapshot(const std::string& dir) {
  std::lock_guard<std::mutex> w(write_mu_);
  SEXTANT_RETURN_IF_ERROR(CheckWritable());
  if (env_->FileExists(dir)) return Status::AlreadyExists("snapshot directory " + dir + " exists");
  SEXTANT_RETURN_IF_ERROR(CheckpointLocked());
  SEXTANT_RETURN_IF_ERROR(env_->CreateDirs(dir));
  // Checkpoint files are immutable once written: hard links make the copy instant (a copy
  // where links are not possible, e.g. across file systems).
  std::vector<std::string> names = {"config.json", "MANIFEST", wal_name_, points_name_};
  names.insert(names.end(), manifest_segments_.begin(), manifest_segments_.end());
  for (const std::string& name : names) {
    const std::string from = dir_ + "/" + name, to = dir + "/" + name;
    // A collection that never had a write has no points file yet (an empty name).
    if (name.empty() || !env_->FileExists(from)) continue;
    std::error_code ec;
    std::filesystem::create_hard_link(from, to, ec);
    if (ec || name == "MANIFEST" || name == "config.json" || name == wal_name_) {
      // Files that are rewritten or appended later are copied, not linked.
      std::filesystem::remove(to, ec);
      SEXTANT_RETURN_IF_ERROR(env_->CopyFile(from, to));
    }
  }
  return env_->SyncDir(dir);
}

size_t CollectionImpl::MemoryUsage() const {
  std::shared_lock<std::shared_mutex> r(state_mu_);
  return (vectors_ ? vectors_->MemoryUsage() : 0) + payload_.MemoryUsage() + record_bytes_ +
         records_.capacity() * sizeof(std::optional<Record>) + ids_.size() * 64 +
         live_.getSizeInBytes();
}

CollectionStats CollectionImpl::Stats() const {
  CollectionStats st;
  st.memory_bytes = MemoryUsage();
  {
    std::shared_lock<std::shared_mutex> r(state_mu_);
    st.points = ids_.size();
  }
  if (vectors_) {
    const SegmentedIndex::Stats s = vectors_->GetStats();
    st.segments = s.segments;
    st.unindexed_points = s.unindexed;
    st.deleted_pending = s.deleted_pending;
    st.segments_sealed = s.sealed;
    st.segments_merged = s.merged;
    st.index_errors = s.index_errors;
    st.last_index_error = s.last_error;
    st.write_stalls = s.write_stalls;
  }
  st.wal_records = wal_records_.load();
  st.checkpoints = checkpoints_.load();
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::error_code fe;
    if (e.is_regular_file(fe)) {
      const auto size = e.file_size(fe);
      if (!fe) st.disk_bytes += size;
      if (e.path().filename().string().rfind("wal-", 0) == 0 && !fe) st.wal_bytes = size;
    }
  }
  return st;
}

Status CollectionImpl::Optimize(bool merge_all) {
  if (!vectors_) return Status::OK();
  return vectors_->Optimize(merge_all);
}

}  // namespace sextant::engine
