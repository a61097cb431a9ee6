// DatabaseImpl: a data directory of collections, owned by one process at a time.
//   DIR/LOCK                  flock'd while open
//   DIR/collections/NAME/     one directory per collection (see collection_impl.h)
#include <map>
#include <shared_mutex>

#include "engine/collection_impl.h"
#include "sextant/database.h"
#include "storage/env.h"
#include "text/analyzer.h"

namespace sextant {

const char* MetricToString(Metric m) {
  switch (m) {
    case Metric::kL2: return "l2";
    case Metric::kInnerProduct: return "ip";
    case Metric::kCosine: return "cosine";
  }
  return "unknown";
}

Result<Metric> MetricFromString(const std::string& s) {
  if (s == "l2" || s == "euclidean") return Metric::kL2;
  if (s == "ip" || s == "dot" || s == "inner_product") return Metric::kInnerProduct;
  if (s == "cosine") return Metric::kCosine;
  return Status::InvalidArgument("unknown metric '" + s + "' (expected l2, ip or cosine)");
}

namespace {
constexpr std::pair<IndexType, const char*> kIndexNames[] = {
    {IndexType::kHnsw, "hnsw"},     {IndexType::kFlat, "flat"}, {IndexType::kIvfFlat, "ivf-flat"},
    {IndexType::kIvfPq, "ivf-pq"},  {IndexType::kPq, "pq"},     {IndexType::kSq8, "sq8"},
    {IndexType::kHnswSq8, "hnsw-sq8"}};
}  // namespace

const char* IndexTypeToString(IndexType t) {
  for (const auto& [type, name] : kIndexNames) {
    if (type == t) return name;
  }
  return "hnsw";
}

Result<IndexType> IndexTypeFromString(const std::string& s) {
  std::string known;
  for (const auto& [type, name] : kIndexNames) {
    if (s == name) return type;
    known += known.empty() ? name : std::string(", ") + name;
  }
  return Status::InvalidArgument("unknown index '" + s + "' (expected one of " + known + ")");
}

namespace {

Status ValidateName(const std::string& name) {
  if (IsValidName(name)) return Status::OK();
  if (name.empty() || name.size() > 64) {
    return Status::InvalidArgument("collection name must have 1 to 64 characters");
  }
  return Status::InvalidArgument("collection name '" + name + "' may only contain letters, digits, '_' and '-'");
}

Status ValidateConfig(const CollectionConfig& c) {
  SEXTANT_RETURN_IF_ERROR(ValidateName(c.name));
  if (c.dimension > 65536 || (c.dimension == 0 && !c.text)) {
    return Status::InvalidArgument("dimension must be in [1, 65536] (0 only for a text-only collection), got " +
                                   std::to_string(c.dimension));
  }
  if (c.text) {
    SEXTANT_RETURN_IF_ERROR(text::MakeAnalyzer(c.analyzer).status());
    if (!(c.bm25_k1 >= 0) || !(c.bm25_b >= 0 && c.bm25_b <= 1)) {
      return Status::InvalidArgument("bm25 k1 must be >= 0 and b in [0, 1]");
    }
  }
  if (c.hnsw.M < 2 || c.hnsw.M > 512) return Status::InvalidArgument("M must be in [2, 512]");
  if (c.hnsw.ef_construction < 1 || c.hnsw.ef_search < 1) {
    return Status::InvalidArgument("ef_construction and ef_search must be at least 1");
  }
  if (c.segments.seal_points != 0 && c.segments.seal_points < 16) {
    return Status::InvalidArgument("segments.seal_points must be 0 (automatic) or at least 16, got " +
                                   std::to_string(c.segments.seal_points));
  }
  if (c.index != IndexType::kHnsw && c.index != IndexType::kFlat) {
    if (c.dimension == 0) return Status::InvalidArgument("a text-only collection has no vector index");
    if (c.quantization.nprobe < 1) return Status::InvalidArgument("nprobe must be at least 1");
    Status st = engine::SegmentedIndex::CheckTrainedSpec(c.dimension, engine::TrainedSpec(c));
    if (!st.ok()) return st.WithContext(std::string("index ") + IndexTypeToString(c.index));
  }
  if (c.segments.merge_factor < 2) {
    return Status::InvalidArgument("segments.merge_factor must be at least 2");
  }
  if (!(c.segments.compact_deleted_fraction > 0 && c.segments.compact_deleted_fraction <= 1)) {
    return Status::InvalidArgument("segments.compact_deleted_fraction must be in (0, 1]");
  }
  return Status::OK();
}

class DatabaseImpl final : public Database {
 public:
  DatabaseImpl(storage::Env* env, std::string dir, DatabaseOptions options,
               std::unique_ptr<storage::FileLock> lock)
      : env_(env), dir_(std::move(dir)), options_(options), lock_(std::move(lock)) {}

  Status Load() {
    SEXTANT_RETURN_IF_ERROR(env_->CreateDirs(collections_dir()));
    SEXTANT_ASSIGN_OR_RETURN(auto names, env_->ListDir(collections_dir()));
    for (const std::string& name : names) {
      const std::string path = collections_dir() + "/" + name;
      if (!ValidateName(name).ok()) {
        if (name.rfind(".dropped-", 0) == 0) (void)env_->RemoveDirRecursively(path);
        continue;
      }
      if (!env_->FileExists(path + "/MANIFEST")) {  // a create that did not finish
        (void)env_->RemoveDirRecursively(path);
        continue;
      }
      SEXTANT_ASSIGN_OR_RETURN(auto c, engine::CollectionImpl::Open(env_, path, options_));
      collections_[name] = std::move(c);
    }
    return Status::OK();
  }

  Result<Collection*> CreateCollection(const CollectionConfig& config) override {
    SEXTANT_RETURN_IF_ERROR(ValidateConfig(config));
    std::unique_lock<std::shared_mutex> l(mu_);
    if (collections_.count(config.name)) {
      return Status::AlreadyExists("collection '" + config.name + "' already exists");
    }
    const std::string path = collections_dir() + "/" + config.name;
    if (env_->FileExists(path)) (void)env_->RemoveDirRecursively(path);
    SEXTANT_ASSIGN_OR_RETURN(auto c, engine::CollectionImpl::Create(env_, path, config, options_));
    SEXTANT_RETURN_IF_ERROR(env_->SyncDir(collections_dir()));
    Collection* raw = c.get();
    collections_[config.name] = std::move(c);
    return raw;
  }

  Result<Collection*> GetCollection(const std::string& name) override {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto it = collections_.find(name);
    if (it == collections_.end()) return Status::NotFound("collection '" + name + "' not found");
    return it->second.get();
  }

  std::vector<CollectionConfig> ListCollections() const override {
    std::shared_lock<std::shared_mutex> l(mu_);
    std::vector<CollectionConfig> out;
    for (const auto& [name, c] : collections_) out.push_back(c->config());
    return out;
  }

  Status DropCollection(const std::string& name) override {
    std::unique_lock<std::shared_mutex> l(mu_);
    auto it = collections_.find(name);
    if (it == collections_.end()) return Status::NotFound("collection '" + name + "' not found");
    const std::string path = it->second->dir();
    collections_.erase(it);
    // Rename first: a crash mid-removal leaves a '.dropped-' directory, removed at next open.
    const std::string doomed = collections_dir() + "/.dropped-" + name;
    (void)env_->RemoveDirRecursively(doomed);
    SEXTANT_RETURN_IF_ERROR(env_->RenameFile(path, doomed));
    SEXTANT_RETURN_IF_ERROR(env_->SyncDir(collections_dir()));
    return env_->RemoveDirRecursively(doomed);
  }

  Result<Collection*> RestoreSnapshot(const std::string& snapshot_dir,
                                      const std::string& name) override {
    SEXTANT_RETURN_IF_ERROR(ValidateName(name));
    if (!env_->FileExists(snapshot_dir + "/MANIFEST") ||
        !env_->FileExists(snapshot_dir + "/config.json")) {
      return Status::InvalidArgument(snapshot_dir + " is not a collection snapshot (no MANIFEST)");
    }
    std::unique_lock<std::shared_mutex> l(mu_);
    if (collections_.count(name)) {
      return Status::AlreadyExists("collection '" + name + "' already exists");
    }
    const std::string path = collections_dir() + "/" + name;
    const std::string staging = collections_dir() + "/.restoring-" + name;
    (void)env_->RemoveDirRecursively(staging);
    SEXTANT_RETURN_IF_ERROR(env_->CreateDirs(staging));
    SEXTANT_ASSIGN_OR_RETURN(auto files, env_->ListDir(snapshot_dir));
    for (const std::string& f : files) {
      SEXTANT_RETURN_IF_ERROR(env_->CopyFile(snapshot_dir + "/" + f, staging + "/" + f));
    }
    // The snapshot's config carries its original name; the restored copy takes the new one.
    {
      SEXTANT_ASSIGN_OR_RETURN(std::string text, env_->ReadFile(staging + "/config.json"));
      auto j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        return Status::Corruption(snapshot_dir + "/config.json: not valid JSON");
      }
      j["name"] = name;
      SEXTANT_RETURN_IF_ERROR(env_->WriteFileAtomically(staging + "/config.json", j.dump(2) + "\n"));
    }
    SEXTANT_RETURN_IF_ERROR(env_->SyncDir(staging));
    SEXTANT_RETURN_IF_ERROR(env_->RenameFile(staging, path));
    SEXTANT_RETURN_IF_ERROR(env_->SyncDir(collections_dir()));
    auto c = engine::CollectionImpl::Open(env_, path, options_);
    if (!c.ok()) {
      (void)env_->RemoveDirRecursively(path);
      return c.status().WithContext("restoring " + snapshot_dir);
    }
    Collection* raw = c->get();
    collections_[name] = std::move(c).value();
    return raw;
  }

 private:
  std::string collections_dir() const { return dir_ + "/collections"; }

  storage::Env* env_;
  const std::string dir_;
  DatabaseOptions options_;
  std::unique_ptr<storage::FileLock> lock_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<engine::CollectionImpl>> collections_;
};

}  // namespace

Result<std::unique_ptr<Database>> Database::Open(const std::string& dir,
                                                 const DatabaseOptions& options) {
  storage::Env* env = options.env != nullptr ? options.env : storage::Env::Default();
  if (!env->FileExists(dir)) {
    if (!options.create_if_missing) return Status::NotFound("database directory " + dir + " does not exist");
    SEXTANT_RETURN_IF_ERROR(env->CreateDirs(dir));
  }
  SEXTANT_ASSIGN_OR_RETURN(auto lock, env->LockFile(dir + "/LOCK"));
  auto db = std::make_unique<DatabaseImpl>(env, dir, options, std::move(lock));
  SEXTANT_RETURN_IF_ERROR(db->Load());
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace sextant
