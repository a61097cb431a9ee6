// The catalog of tenants and databases, and the snapshots kept for them.
#include "server/catalog.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <system_error>

namespace sextant::server {
namespace {

namespace fs = std::filesystem;

// The subdirectories of `path` whose names are valid resource names, sorted.
std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_directory(ec) && IsValidName(name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

DbEntry::~DbEntry() {
  db.reset();  // releases the directory lock
  if (drop_on_close) {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
}

Status Catalog::Open() {
  const std::string default_path = DatabasePath(kDefaultName, kDefaultName);
  std::error_code ec;
  fs::create_directories(default_path, ec);
  if (ec) return Status::IOError("cannot create " + default_path + ": " + ec.message());
  std::lock_guard lock(mu_);
  for (const std::string& t : ListTenants()) {
    for (const std::string& d : ListDir(TenantPath(t) + "/databases")) {
      auto entry = OpenDatabase(t, d);
      if (!entry.ok()) return entry.status().WithContext("tenant '" + t + "' database '" + d + "'");
      dbs_[{t, d}] = *entry;
    }
  }
  return Status::OK();
}

bool Catalog::TenantExists(const std::string& t) const {
  std::error_code ec;
  return fs::is_directory(TenantPath(t), ec);
}

Result<std::shared_ptr<DbEntry>> Catalog::OpenDatabase(const std::string& tenant, const std::string& name) const {
  auto entry = std::make_shared<DbEntry>();
  entry->tenant = tenant;
  entry->name = name;
  entry->path = DatabasePath(tenant, name);
  DatabaseOptions opt;
  opt.durability = durability_;
  opt.create_if_missing = true;
  SEXTANT_ASSIGN_OR_RETURN(entry->db, Database::Open(entry->path, opt));
  return entry;
}

std::vector<std::string> Catalog::ListTenants() const { return ListDir(data_dir_ + "/tenants"); }

Result<bool> Catalog::CreateTenant(const std::string& tenant) {
  std::lock_guard lock(mu_);
  const bool existed = TenantExists(tenant);
  std::error_code ec;
  fs::create_directories(TenantPath(tenant) + "/databases", ec);
  if (ec) return Status::IOError("cannot create tenant '" + tenant + "': " + ec.message());
  return !existed;
}

Status Catalog::DeleteTenant(const std::string& tenant, bool cascade, bool* in_use) {
  *in_use = false;
  if (tenant == kDefaultName) return Status::FailedPrecondition("the default tenant cannot be deleted");
  std::lock_guard lock(mu_);
  if (!TenantExists(tenant)) return Status::NotFound("no tenant '" + tenant + "'");
  if (!ListDir(TenantPath(tenant) + "/databases").empty()) {
    if (!cascade) {
      return Status::FailedPrecondition("tenant '" + tenant +
                                        "' still has databases; delete them first or add ?cascade=true");
    }
    // Requests find a database under mu_, which this holds: no new user can appear, and one
    // still running keeps its entry's use count above one.
    for (const auto& [key, entry] : dbs_) {
      if (key.first == tenant && entry.use_count() > 1) {
        *in_use = true;
        return Status::FailedPrecondition("database '" + key.second + "' of tenant '" + tenant +
                                          "' is in use by a request; retry");
      }
    }
    for (auto it = dbs_.begin(); it != dbs_.end();) {
      it = it->first.first == tenant ? dbs_.erase(it) : std::next(it);  // closes the database
    }
  }
  std::error_code ec;
  fs::remove_all(TenantPath(tenant), ec);
  if (ec) return Status::IOError("cannot delete tenant '" + tenant + "': " + ec.message());
  return Status::OK();
}

Result<std::vector<std::string>> Catalog::ListDatabases(const std::string& tenant) const {
  if (!TenantExists(tenant)) return Status::NotFound("no tenant '" + tenant + "'");
  return ListDir(TenantPath(tenant) + "/databases");
}

Result<bool> Catalog::CreateDatabase(const std::string& tenant, const std::string& database) {
  std::lock_guard lock(mu_);
  if (!TenantExists(tenant)) return Status::NotFound("no tenant '" + tenant + "'");
  if (dbs_.count({tenant, database})) return false;
  SEXTANT_ASSIGN_OR_RETURN(auto entry, OpenDatabase(tenant, database));
  dbs_[{tenant, database}] = std::move(entry);
  return true;
}

std::shared_ptr<DbEntry> Catalog::FindDatabase(const std::string& tenant, const std::string& database) const {
  std::lock_guard lock(mu_);
  auto it = dbs_.find({tenant, database});
  return it == dbs_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<DbEntry>> Catalog::Databases() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<DbEntry>> out;
  for (const auto& [key, entry] : dbs_) out.push_back(entry);
  return out;
}

Status Catalog::DeleteDatabase(const std::string& tenant, const std::string& database, bool cascade) {
  if (tenant == kDefaultName && database == kDefaultName) {
    return Status::FailedPrecondition("the default database cannot be deleted");
  }
  std::lock_guard lock(mu_);
  auto it = dbs_.find({tenant, database});
  if (it == dbs_.end()) return Status::NotFound("no database '" + database + "'");
  const Database& db = *it->second->db;
  if ((!db.ListCollections().empty() || !db.BrokenCollections().empty()) && !cascade) {
    return Status::FailedPrecondition("database '" + database +
                                      "' still has collections; drop them first or add ?cascade=true");
  }
  it->second->drop_on_close = true;  // the directory goes with the last user
  dbs_.erase(it);
  return Status::OK();
}

std::vector<std::string> Catalog::ListSnapshots(const std::string& tenant, const std::string& database) const {
  return ListDir(SnapshotDir(tenant, database));
}

Result<std::string> Catalog::NewSnapshotPath(const std::string& tenant, const std::string& database,
                                             const std::string& name) {
  const std::string dir = SnapshotDir(tenant, database);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
  const std::string path = dir + "/" + name;
  if (fs::exists(path, ec)) return Status::AlreadyExists("snapshot '" + name + "' already exists");
  return path;
}

Result<std::string> Catalog::SnapshotPath(const std::string& tenant, const std::string& database,
                                          const std::string& name) const {
  const std::string path = SnapshotDir(tenant, database) + "/" + name;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return Status::NotFound("no snapshot '" + name + "'");
  return path;
}

Status Catalog::DeleteSnapshot(const std::string& tenant, const std::string& database, const std::string& name) {
  SEXTANT_ASSIGN_OR_RETURN(const std::string path, SnapshotPath(tenant, database, name));
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return Status::IOError("cannot delete the snapshot: " + ec.message());
  return Status::OK();
}

}  // namespace sextant::server
