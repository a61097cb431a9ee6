// API keys: random 32-byte secrets shown once at creation and stored only as SHA-256 hashes,
// with an id, a role and an optional tenant/database scope, in one JSON file under the data
// directory (rewritten atomically: temp file, fsync, rename, fsync of the directory).
//
// Roles are ordered: reader (read data) < writer (also write points, create/drop
// collections) < admin (also tenants, databases, snapshots, keys). A key scoped to a tenant
// (and optionally one database) can never reach another tenant's data.
//
// Thread-safety: all methods may be called from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "sextant/status.h"

namespace sextant::server {

enum class Role { kReader = 0, kWriter = 1, kAdmin = 2 };
const char* RoleName(Role role);
std::optional<Role> RoleFromName(const std::string& name);

// Who is calling: the key's id, role and scope (no tenant: every tenant).
struct Principal {
  std::string key_id;
  Role role = Role::kReader;
  std::optional<std::string> tenant;
  std::optional<std::string> database;

  // Whether this principal may act on `tenant` (and `database` when given) at all.
  bool CoversTenant(const std::string& t) const { return !tenant || *tenant == t; }
  bool CoversDatabase(const std::string& t, const std::string& d) const {
    return CoversTenant(t) && (!database || *database == d);
  }
};

struct KeyRecord {
  std::string id;          // "key_" + 16 hex digits; "admin" for the bootstrap key
  std::string sha256_hex;  // of the secret
  Role role = Role::kReader;
  std::optional<std::string> tenant;
  std::optional<std::string> database;
  int64_t created_unix = 0;
};

// Lower-case hex SHA-256 of `data` (OpenSSL).
std::string Sha256Hex(const std::string& data);
// `bytes` cryptographically random bytes as lower-case hex; empty if OpenSSL's generator fails.
std::string RandomHex(size_t bytes);

// Where a cluster node keeps its keys (the cluster's key-value bucket, src/cluster): KeyStore's
// Create and Revoke hand the change to it first and change the store only once it has taken
// it. Thread-safety: called from many request threads at once.
class KeyReplicator {
 public:
  virtual ~KeyReplicator() = default;
  virtual Status Created(const KeyRecord& record) = 0;  // AlreadyExists if the id is taken
  virtual Status Revoked(const std::string& id) = 0;    // NotFound if absent
};

// A key record in the key file's form: {"id", "sha256", "role", "tenant", "database", "created"}.
nlohmann::json KeyRecordToJson(const KeyRecord& record);
// InvalidArgument naming what is wrong for any other shape (a bad role, a hash that is not 64
// hex digits).
Result<KeyRecord> KeyRecordFromJson(const nlohmann::json& j);

class KeyStore {
 public:
  // Loads the key file at `path` (absent: no keys yet). `admin_secret`, when given, is the
  // bootstrap admin key (id "admin", every tenant; not stored in the file, not revocable).
  // Errors: Corruption for an unreadable file, naming it.
  static Result<std::unique_ptr<KeyStore>> Open(const std::string& path,
                                                std::optional<std::string> admin_secret);

  // Creates a key and persists the file before returning; the secret ("sxt_" + 64 hex
  // digits) is returned once and never stored.
  Result<std::pair<KeyRecord, std::string>> Create(Role role, std::optional<std::string> tenant,
                                                   std::optional<std::string> database);
  // Removes the key and persists the file. NotFound if absent; FailedPrecondition for "admin".
  Status Revoke(const std::string& id);
  // The principal for a presented secret, or nullopt (unknown or revoked).
  std::optional<Principal> Authenticate(const std::string& secret) const;
  std::optional<KeyRecord> Find(const std::string& id) const;
  std::vector<KeyRecord> List() const;  // in id order, the bootstrap key excluded

  // On a cluster node: keys are created and revoked through `replicator` (null: the file
  // alone), and the cluster's view comes in through Put, Erase and Replace, each saved to the
  // file (the node's copy) when it changes something.
  void SetReplicator(std::shared_ptr<KeyReplicator> replicator);
  Status Put(const KeyRecord& record);  // adds the record, or replaces the one with its id
  Status Erase(const std::string& id);  // OK if absent
  Status Replace(const std::vector<KeyRecord>& records);  // exactly these keys

 private:
  KeyStore(std::string path) : path_(std::move(path)) {}
  Status SaveLocked() const;

  const std::string path_;
  std::shared_ptr<KeyReplicator> Replicator() const;
  // Without saving; caller holds mu_ exclusively. Returns whether anything changed.
  bool EraseLocked(const std::string& id);
  bool PutLocked(const KeyRecord& record);

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, KeyRecord> by_hash_;  // sha256_hex -> record
  std::optional<KeyRecord> admin_;
  std::shared_ptr<KeyReplicator> replicator_;  // guarded by mu_
};

// Writes `contents` to `path` atomically and durably with mode 0600.
Status WriteFileAtomic(const std::string& path, const std::string& contents);

}  // namespace sextant::server
