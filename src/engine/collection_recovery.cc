// CollectionImpl's durable side: creating and opening a collection, recovery from the manifest,
// checkpoint and log, the checkpoint itself, log repair after a failed write, the close (clean,
// or for a drop), and snapshots. The on-disk layout is docs/formats/collection.md.
#include <algorithm>
#include <filesystem>
#include <unordered_set>

#include "codec/fields.h"
#include "engine/collection_impl.h"
#include "engine/collection_settings.h"
#include "storage/log_reader.h"
#include "storage/meta_file.h"

namespace sextant::engine {
namespace {

constexpr char kManifestFormat[] = "sextant-manifest";
constexpr int kManifestVersion = 3;

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

// A plain file name of the form PREFIX...SUFFIX (no directory part, nothing hidden).
bool IsFileName(const std::string& name, std::string_view prefix, std::string_view suffix) {
  return name.size() > prefix.size() + suffix.size() && name.rfind(prefix, 0) == 0 &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

}  // namespace

CollectionImpl::~CollectionImpl() { Close(OpenState::kClosed); }

void CollectionImpl::Close(OpenState why) {
  OpenState open = OpenState::kOpen;
  if (!open_state_.compare_exchange_strong(open, why)) return;  // closed already
  // The segment thread stops before write_mu_ is taken: its last step may be a checkpoint
  // (OnSegmentsChanged), which takes write_mu_ and reads the segments.
  if (vectors_) vectors_->Stop();
  std::lock_guard<std::mutex> w(write_mu_);  // a write in progress finishes first
  if (why == OpenState::kClosed && wal_file_ && wal_ && broken_.ok() && !manifest_.is_null()) {
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
  SEXTANT_RETURN_IF_ERROR(WriteConfigFile(env, dir + "/config.json", config));
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

Status CollectionImpl::CheckOpen() const {
  switch (open_state_.load()) {
    case OpenState::kOpen: break;
    // NotFound, as for the name itself: a call that comes after the drop sees what a lookup
    // after it would (the server answers 404 either way).
    case OpenState::kDropped: return Status::NotFound("collection '" + config_.name + "' was dropped");
    case OpenState::kClosed:
      return Status::FailedPrecondition("collection '" + config_.name + "' is closed: its Database was closed");
  }
  return Status::OK();
}

Status CollectionImpl::CheckWritable() {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
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
}  // namespace sextant::engine
