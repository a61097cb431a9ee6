// The catalog of tenants and databases: the only code that touches their directories.
//
// On disk: DATA/tenants/TENANT/databases/DATABASE is one sextant::Database, opened while the
// server runs; DATA/snapshots/TENANT/DATABASE/NAME is one collection snapshot (never at a
// path the client chooses). Tenant "default" with database "default" always exists. (A cluster
// node keeps its collections' snapshots in the same folders: src/cluster.)
//
// Thread-safety: every method may be called from many threads at once. Tenant and database
// changes are serialised; a request that holds a DbEntry keeps its database open.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "sextant/database.h"
#include "sextant/status.h"

namespace sextant::server {

// The tenant and the database that the "/v1/collections/..." shorthand names.
inline constexpr const char* kDefaultName = "default";

// One open database. Requests hold a shared_ptr while they use it; deleting the database
// removes it from the catalog, and its directory goes when the last user lets go.
struct DbEntry {
  std::string tenant, name, path;
  std::unique_ptr<Database> db;
  std::atomic<bool> drop_on_close{false};
  ~DbEntry();
};

class Catalog {
 public:
  Catalog(std::string data_dir, Durability durability)
      : data_dir_(std::move(data_dir)), durability_(durability) {}

  // Creates the default tenant and database if missing and opens every database found.
  Status Open();

  // Tenants, sorted by name.
  std::vector<std::string> ListTenants() const;
  // Creates the tenant; returns whether it is new (false: it existed already).
  Result<bool> CreateTenant(const std::string& tenant);
  // Deletes the tenant; one that still has databases only with `cascade`, and not while a
  // request uses one of them (FailedPrecondition, with *in_use set: a retry may succeed).
  // Refused for the default tenant.
  Status DeleteTenant(const std::string& tenant, bool cascade, bool* in_use);

  // The tenant's databases, sorted by name; NotFound for an unknown tenant.
  Result<std::vector<std::string>> ListDatabases(const std::string& tenant) const;
  // Creates and opens the database; returns whether it is new (false: it was open already).
  Result<bool> CreateDatabase(const std::string& tenant, const std::string& database);
  // The open database, or nullptr.
  std::shared_ptr<DbEntry> FindDatabase(const std::string& tenant, const std::string& database) const;
  // Every open database.
  std::vector<std::shared_ptr<DbEntry>> Databases() const;
  // Deletes the database (its directory goes with its last user); one with collections only
  // with `cascade`. Refused for the default database.
  Status DeleteDatabase(const std::string& tenant, const std::string& database, bool cascade);

  // The database's snapshots, sorted by name.
  std::vector<std::string> ListSnapshots(const std::string& tenant, const std::string& database) const;
  // Where a new snapshot `name` is to be written (its parent created); AlreadyExists if taken.
  Result<std::string> NewSnapshotPath(const std::string& tenant, const std::string& database,
                                      const std::string& name);
  // The directory of snapshot `name`; NotFound if there is none.
  Result<std::string> SnapshotPath(const std::string& tenant, const std::string& database,
                                   const std::string& name) const;
  Status DeleteSnapshot(const std::string& tenant, const std::string& database, const std::string& name);

 private:
  std::string TenantPath(const std::string& t) const { return data_dir_ + "/tenants/" + t; }
  std::string DatabasePath(const std::string& t, const std::string& d) const {
    return TenantPath(t) + "/databases/" + d;
  }
  std::string SnapshotDir(const std::string& t, const std::string& d) const {
    return data_dir_ + "/snapshots/" + t + "/" + d;
  }
  bool TenantExists(const std::string& t) const;
  Result<std::shared_ptr<DbEntry>> OpenDatabase(const std::string& tenant, const std::string& name) const;

  const std::string data_dir_;
  const Durability durability_;
  mutable std::mutex mu_;  // guards dbs_ and changes to tenant directories
  std::map<std::pair<std::string, std::string>, std::shared_ptr<DbEntry>> dbs_;
};

}  // namespace sextant::server
