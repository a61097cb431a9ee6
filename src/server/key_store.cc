#include "server/key_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/json.h"

namespace sextant::server {
namespace {

using nlohmann::json;

std::string ToHex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

Status Errno(const std::string& what) { return Status::IOError(what + ": " + std::strerror(errno)); }

}  // namespace

json KeyRecordToJson(const KeyRecord& r) {
  return {{"id", r.id}, {"sha256", r.sha256_hex}, {"role", RoleName(r.role)},
          {"tenant", r.tenant ? json(*r.tenant) : json()},
          {"database", r.database ? json(*r.database) : json()}, {"created", r.created_unix}};
}

Result<KeyRecord> KeyRecordFromJson(const json& k) {
  if (!k.is_object() || !k.contains("id") || !k["id"].is_string() || !k.contains("sha256") ||
      !k["sha256"].is_string() || !k.contains("role") || !k["role"].is_string()) {
    return Status::InvalidArgument("a key entry lacks id, sha256 or role");
  }
  KeyRecord r;
  r.id = k["id"].get<std::string>();
  r.sha256_hex = k["sha256"].get<std::string>();
  auto role = RoleFromName(k["role"].get<std::string>());
  if (!role || r.sha256_hex.size() != 64 ||
      r.sha256_hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Status::InvalidArgument("key '" + r.id.substr(0, 80) + "' has a bad role or hash");
  }
  r.role = *role;
  if (k.contains("tenant") && k["tenant"].is_string()) r.tenant = k["tenant"].get<std::string>();
  if (k.contains("database") && k["database"].is_string()) r.database = k["database"].get<std::string>();
  if (k.contains("created") && k["created"].is_number_integer()) r.created_unix = k["created"].get<int64_t>();
  return r;
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kReader: return "reader";
    case Role::kWriter: return "writer";
    case Role::kAdmin: return "admin";
  }
  return "reader";
}

std::optional<Role> RoleFromName(const std::string& name) {
  if (name == "reader") return Role::kReader;
  if (name == "writer") return Role::kWriter;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) return "";
  return ToHex(digest, len);
}

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(bytes)) != 1) return "";
  return ToHex(buf.data(), bytes);
}

Status WriteFileAtomic(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("open " + tmp);
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = Errno("write " + tmp);
      ::close(fd);
      return st;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status st = Errno("fsync " + tmp);
    ::close(fd);
    return st;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("rename " + tmp);
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Errno("open " + dir);
  const int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return Errno("fsync " + dir);
  return Status::OK();
}

Result<std::unique_ptr<KeyStore>> KeyStore::Open(const std::string& path,
                                                 std::optional<std::string> admin_secret) {
  std::unique_ptr<KeyStore> store(new KeyStore(path));
  if (admin_secret) {
    KeyRecord admin;
    admin.id = "admin";
    admin.sha256_hex = Sha256Hex(*admin_secret);
    admin.role = Role::kAdmin;
    store->admin_ = admin;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return store;  // no keys yet
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = ParseJson(ss.str());
  auto bad = [&](const std::string& why) { return Status::Corruption(path + ": " + why); };
  if (!parsed.ok()) return bad(parsed.status().message());
  const json j = std::move(parsed).value();
  if (!j.is_object() || !j.contains("keys") || !j["keys"].is_array()) {
    return bad("not a key file (expected {\"keys\": [...]})");
  }
  // Version 2 carries a checksum (a changed role or hash must not go unnoticed); version 1
  // files, written before, are read as they are and get one at the next save.
  const int64_t version = j.contains("version") && j["version"].is_number_integer() ? j["version"].get<int64_t>() : -1;
  if (version == 2) {
    json rest = j;
    rest.erase("crc32c");
    if (!j.contains("crc32c") || !j["crc32c"].is_string() || j["crc32c"].get<std::string>() != JsonChecksum(rest) ||
        !j.contains("format") || j["format"] != "sextant-keys") {
      return bad("checksum mismatch (the key file was changed or damaged)");
    }
  } else if (version != 1) {
    return bad("unsupported key file version");
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "version" && key != "keys" && key != "crc32c" && key != "format") {
      return bad("unknown key '" + key + "'");
    }
  }
  for (const json& k : j["keys"]) {
    auto r = KeyRecordFromJson(k);
    if (!r.ok()) return bad(r.status().message());
    store->by_hash_[r->sha256_hex] = std::move(*r);
  }
  return store;
}

Status KeyStore::SaveLocked() const {
  std::vector<const KeyRecord*> records;
  for (const auto& [hash, r] : by_hash_) records.push_back(&r);
  std::sort(records.begin(), records.end(), [](auto* a, auto* b) { return a->id < b->id; });
  json keys = json::array();
  for (const KeyRecord* r : records) keys.push_back(KeyRecordToJson(*r));
  json file = {{"format", "sextant-keys"}, {"version", 2}, {"keys", keys}};
  file["crc32c"] = JsonChecksum(file);
  return WriteFileAtomic(path_, file.dump(2) + "\n");
}

Result<std::pair<KeyRecord, std::string>> KeyStore::Create(Role role, std::optional<std::string> tenant,
                                                           std::optional<std::string> database) {
  const std::string secret_hex = RandomHex(32);
  const std::string id_hex = RandomHex(8);
  if (secret_hex.empty() || id_hex.empty()) return Status::Internal("the random generator failed");
  KeyRecord r;
  r.id = "key_" + id_hex;
  const std::string secret = "sxt_" + secret_hex;
  r.sha256_hex = Sha256Hex(secret);
  r.role = role;
  r.tenant = std::move(tenant);
  r.database = std::move(database);
  r.created_unix = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  if (auto replicator = Replicator()) {  // the cluster takes it; the file is this node's copy
    SEXTANT_RETURN_IF_ERROR(replicator->Created(r));
    (void)Put(r);
    return std::pair{r, secret};
  }
  std::unique_lock lock(mu_);
  by_hash_[r.sha256_hex] = r;
  Status st = SaveLocked();
  if (!st.ok()) {
    by_hash_.erase(r.sha256_hex);
    return st;
  }
  return std::pair{r, secret};
}

Status KeyStore::Revoke(const std::string& id) {
  if (id == "admin") return Status::FailedPrecondition("the bootstrap admin key cannot be revoked (change the admin key file)");
  if (auto replicator = Replicator()) {  // the cluster takes it; the file is this node's copy
    SEXTANT_RETURN_IF_ERROR(replicator->Revoked(id));
    (void)Erase(id);
    return Status::OK();
  }
  std::unique_lock lock(mu_);
  for (auto it = by_hash_.begin(); it != by_hash_.end(); ++it) {
    if (it->second.id != id) continue;
    KeyRecord saved = it->second;
    by_hash_.erase(it);
    Status st = SaveLocked();
    if (!st.ok()) by_hash_[saved.sha256_hex] = saved;
    return st;
  }
  return Status::NotFound("no key with id '" + id + "'");
}

std::optional<Principal> KeyStore::Authenticate(const std::string& secret) const {
  const std::string hash = Sha256Hex(secret);
  std::shared_lock lock(mu_);
  const KeyRecord* r = nullptr;
  if (admin_ && admin_->sha256_hex == hash) {
    r = &*admin_;
  } else if (auto it = by_hash_.find(hash); it != by_hash_.end()) {
    r = &it->second;
  }
  if (r == nullptr) return std::nullopt;
  return Principal{r->id, r->role, r->tenant, r->database};
}

std::optional<KeyRecord> KeyStore::Find(const std::string& id) const {
  std::shared_lock lock(mu_);
  for (const auto& [hash, r] : by_hash_) {
    if (r.id == id) return r;
  }
  return std::nullopt;
}

std::vector<KeyRecord> KeyStore::List() const {
  std::shared_lock lock(mu_);
  std::vector<KeyRecord> out;
  for (const auto& [hash, r] : by_hash_) out.push_back(r);
  std::sort(out.begin(), out.end(), [](const KeyRecord& a, const KeyRecord& b) { return a.id < b.id; });
  return out;
}

void KeyStore::SetReplicator(std::shared_ptr<KeyReplicator> replicator) {
  std::unique_lock lock(mu_);
  replicator_ = std::move(replicator);
}

std::shared_ptr<KeyReplicator> KeyStore::Replicator() const {
  std::shared_lock lock(mu_);
  return replicator_;
}

bool KeyStore::EraseLocked(const std::string& id) {
  for (auto it = by_hash_.begin(); it != by_hash_.end(); ++it) {
    if (it->second.id == id) {
      by_hash_.erase(it);
      return true;
    }
  }
  return false;
}

bool KeyStore::PutLocked(const KeyRecord& record) {
  auto same = by_hash_.find(record.sha256_hex);
  if (same != by_hash_.end() && KeyRecordToJson(same->second) == KeyRecordToJson(record)) return false;
  EraseLocked(record.id);
  by_hash_[record.sha256_hex] = record;
  return true;
}

Status KeyStore::Put(const KeyRecord& record) {
  std::unique_lock lock(mu_);
  return PutLocked(record) ? SaveLocked() : Status::OK();
}

Status KeyStore::Erase(const std::string& id) {
  std::unique_lock lock(mu_);
  return EraseLocked(id) ? SaveLocked() : Status::OK();
}

Status KeyStore::Replace(const std::vector<KeyRecord>& records) {
  std::unique_lock lock(mu_);
  std::unordered_map<std::string, KeyRecord> next;
  for (const KeyRecord& r : records) next[r.sha256_hex] = r;
  bool same = next.size() == by_hash_.size();
  for (auto it = next.begin(); same && it != next.end(); ++it) {
    auto old = by_hash_.find(it->first);
    same = old != by_hash_.end() && KeyRecordToJson(old->second) == KeyRecordToJson(it->second);
  }
  if (same) return Status::OK();
  by_hash_ = std::move(next);
  return SaveLocked();
}

}  // namespace sextant::server
