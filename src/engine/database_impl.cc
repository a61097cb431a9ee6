// DatabaseImpl: a data directory of collections, owned by one process at a time.
//   DIR/LOCK                  flock'd while open
//   DIR/collections/NAME/     one directory per collection (see collection_impl.h)
//   DIR/collections/.creating-NAME/, .restoring-NAME/, .dropped-NAME/
//                             a create, restore or drop under way (removed at open)
#include <map>
#include <shared_mutex>

#include "engine/collection_impl.h"
#include "engine/collection_embedding.h"
#include "engine/collection_settings.h"
#include "sextant/database.h"
#include "storage/env.h"
#include "text/analyzer.h"

namespace sextant {

// MetricToString, IndexTypeToString and their inverses: src/codec/names.cc.

namespace {

Status ValidateName(const std::string& name) {
  if (IsValidName(name)) return Status::OK();
  if (name.empty() || name.size() > 64) {
    return Status::InvalidArgument("collection name must have 1 to 64 characters");
  }
  return Status::InvalidArgument("collection name '" + name + "' may only contain letters, digits, '_' and '-'");
}

class DatabaseImpl final : public Database {
 public:
  DatabaseImpl(storage::Env* env, std::string dir, DatabaseOptions options,
               std::unique_ptr<storage::FileLock> lock)
      : env_(env), dir_(std::move(dir)), options_(options), lock_(std::move(lock)) {}

  // Handles may outlive the Database: every collection is closed while the directory lock is
  // still held, so that no handle writes to a directory that another opener may own next.
  ~DatabaseImpl() override {
    for (auto& [name, c] : collections_) c->Close(engine::CollectionImpl::OpenState::kClosed);
  }

  Status Load() {
    SEXTANT_RETURN_IF_ERROR(env_->CreateDirs(collections_dir()));
    SEXTANT_ASSIGN_OR_RETURN(auto names, env_->ListDir(collections_dir()));
    for (const std::string& name : names) {
      const std::string path = collections_dir() + "/" + name;
      if (!ValidateName(name).ok()) {
        // A drop, create or restore that did not finish (creates and restores are built under a
        // hidden name and renamed into place once complete, and a drop renames the collection
        // away before it removes anything, so a visible name is always a whole collection).
        if (name.rfind(".dropped-", 0) == 0 || name.rfind(".creating-", 0) == 0 ||
            name.rfind(".restoring-", 0) == 0) {
          (void)env_->RemoveDirRecursively(path);
        }
        continue;
      }
      auto c = engine::CollectionImpl::Open(env_, path, options_);
      if (!c.ok()) {
        // Not served, not touched: the files stay as they are for repair or a restore.
        broken_[name] = c.status();
        continue;
      }
      collections_[name] = std::move(c).value();
    }
    return Status::OK();
  }

  Result<std::shared_ptr<Collection>> CreateCollection(const CollectionConfig& asked) override {
    // A model is opened (a provider asked once) outside the lock.
    SEXTANT_ASSIGN_OR_RETURN(CollectionConfig config, engine::CompleteEmbeddingSettings(asked));
    std::unique_lock<std::shared_mutex> l(mu_);
    SEXTANT_RETURN_IF_ERROR(CheckNameFree(config.name));
    const std::string path = collections_dir() + "/" + config.name;
    // Built under a hidden name and renamed into place when whole.
    const std::string staging = collections_dir() + "/.creating-" + config.name;
    (void)env_->RemoveDirRecursively(staging);
    {
      auto made = engine::CollectionImpl::Create(env_, staging, config, options_);
      if (!made.ok()) {
        (void)env_->RemoveDirRecursively(staging);
        return made.status();
      }
    }  // closed again: it reopens below under its real directory
    Status st = env_->RenameFile(staging, path);
    if (st.ok()) st = env_->SyncDir(collections_dir());
    if (!st.ok()) {
      (void)env_->RemoveDirRecursively(staging);
      return st;
    }
    SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<engine::CollectionImpl> c,
                             engine::CollectionImpl::Open(env_, path, options_));
    collections_[config.name] = c;
    return std::shared_ptr<Collection>(std::move(c));
  }

  Result<std::shared_ptr<Collection>> GetCollection(const std::string& name) override {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto it = collections_.find(name);
    if (it == collections_.end()) {
      if (auto b = broken_.find(name); b != broken_.end()) {
        return Status(b->second.code(), "collection '" + name + "' cannot be served: " + b->second.message());
      }
      return Status::NotFound("collection '" + name + "' not found");
    }
    return std::shared_ptr<Collection>(it->second);
  }

  std::map<std::string, Status> BrokenCollections() const override {
    std::shared_lock<std::shared_mutex> l(mu_);
    return broken_;
  }

  std::vector<CollectionConfig> ListCollections() const override {
    std::shared_lock<std::shared_mutex> l(mu_);
    std::vector<CollectionConfig> out;
    for (const auto& [name, c] : collections_) out.push_back(c->config());
    return out;
  }

  Status DropCollection(const std::string& name) override {
    std::unique_lock<std::shared_mutex> l(mu_);
    const std::string path = collections_dir() + "/" + name;
    if (auto it = collections_.find(name); it != collections_.end()) {
      // Old handles fail from here on; once Close returns, nothing of the collection touches
      // the directory any more (a query still running reads only memory and mapped files, which
      // outlive the removal), so it can go without waiting for the last handle.
      it->second->Close(engine::CollectionImpl::OpenState::kDropped);
      collections_.erase(it);
    } else if (!broken_.erase(name)) {
      return Status::NotFound("collection '" + name + "' not found");
    }
    // Rename first: a crash mid-removal leaves a '.dropped-' directory, removed at next open.
    const std::string doomed = collections_dir() + "/.dropped-" + name;
    (void)env_->RemoveDirRecursively(doomed);
    if (Status st = env_->RenameFile(path, doomed); !st.ok()) {
      // Still whole on disk but no longer served: listed as broken, so that a retry can drop it.
      broken_[name] = st.WithContext("dropping collection '" + name + "'");
      return broken_[name];
    }
    SEXTANT_RETURN_IF_ERROR(env_->SyncDir(collections_dir()));
    return env_->RemoveDirRecursively(doomed);
  }

  Result<std::shared_ptr<Collection>> RestoreSnapshot(const std::string& snapshot_dir,
                                                      const std::string& name) override {
    SEXTANT_RETURN_IF_ERROR(ValidateName(name));
    if (!env_->FileExists(snapshot_dir + "/MANIFEST") ||
        !env_->FileExists(snapshot_dir + "/config.json")) {
      return Status::InvalidArgument(snapshot_dir + " is not a collection snapshot (no MANIFEST)");
    }
    std::unique_lock<std::shared_mutex> l(mu_);
    SEXTANT_RETURN_IF_ERROR(CheckNameFree(name));
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
      Status renamed = engine::RenameInConfigFile(env_, staging + "/config.json", name);
      if (!renamed.ok()) {
        (void)env_->RemoveDirRecursively(staging);
        return renamed.WithContext("restoring " + snapshot_dir);
      }
    }
    SEXTANT_RETURN_IF_ERROR(env_->SyncDir(staging));
    SEXTANT_RETURN_IF_ERROR(env_->RenameFile(staging, path));
    SEXTANT_RETURN_IF_ERROR(env_->SyncDir(collections_dir()));
    auto opened = engine::CollectionImpl::Open(env_, path, options_);
    if (!opened.ok()) {
      (void)env_->RemoveDirRecursively(path);
      return opened.status().WithContext("restoring " + snapshot_dir);
    }
    std::shared_ptr<engine::CollectionImpl> c = std::move(opened).value();
    collections_[name] = c;
    return std::shared_ptr<Collection>(std::move(c));
  }

 private:
  std::string collections_dir() const { return dir_ + "/collections"; }

  // A name is free when no collection, broken or not, and no directory of any kind has it:
  // a directory that looks like a collection is never overwritten. Caller holds mu_.
  Status CheckNameFree(const std::string& name) {
    if (collections_.count(name)) return Status::AlreadyExists("collection '" + name + "' already exists");
    if (auto b = broken_.find(name); b != broken_.end()) {
      return Status::AlreadyExists("collection '" + name + "' exists but cannot be opened (" +
                                   b->second.ToString() + "); drop it first to reuse the name");
    }
    const std::string path = collections_dir() + "/" + name;
    if (env_->FileExists(path)) {
      return Status::AlreadyExists(path + " exists (not a collection this database opened); "
                                   "remove it by hand to reuse the name");
    }
    return Status::OK();
  }

  storage::Env* env_;
  const std::string dir_;
  DatabaseOptions options_;
  std::unique_ptr<storage::FileLock> lock_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<engine::CollectionImpl>> collections_;
  std::map<std::string, Status> broken_;  // found on disk, could not be opened
};

}  // namespace

Result<std::unique_ptr<Database>> Database::Open(const std::string& dir,
                                                 const DatabaseOptions& options) {
  storage::Env* env = options.env != nullptr ? options.env : storage::Env::Default();
  if (!env->FileExists(dir)) {
    if (!options.create_if_missing) return Status::NotFound("database directory " + dir + " does not exist");
    SEXTANT_RETURN_IF_ERROR(env->CreateDirs(dir));
  }
  // Never write a LOCK or collections/ into a directory that holds something else (a server's
  // data root, a home directory): only an empty directory becomes a database.
  if (!env->FileExists(dir + "/collections")) {
    SEXTANT_ASSIGN_OR_RETURN(auto entries, env->ListDir(dir));
    for (const std::string& e : entries) {
      if (e != "LOCK") {
        return Status::FailedPrecondition(dir + " is not a Sextant database (no collections/ folder) and is "
                                          "not empty (it holds '" + e + "'); refusing to use it");
      }
    }
  }
  SEXTANT_ASSIGN_OR_RETURN(auto lock, env->LockFile(dir + "/LOCK"));
  auto db = std::make_unique<DatabaseImpl>(env, dir, options, std::move(lock));
  SEXTANT_RETURN_IF_ERROR(db->Load());
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace sextant
