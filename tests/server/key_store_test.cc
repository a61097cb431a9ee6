// KeyStore's cluster seam: keys created and revoked through a replicator (the cluster's bucket)
// change the store only once it has taken them; the cluster's view put into the store (Put,
// Erase, Replace) authenticates and is saved to the key file.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <unistd.h>

#include "server/key_store.h"

namespace sextant::server {
namespace {

namespace fs = std::filesystem;

class FakeReplicator : public KeyReplicator {
 public:
  Status Created(const KeyRecord& record) override {
    if (!fail.ok()) return fail;
    ids.insert(record.id);
    return Status::OK();
  }
  Status Revoked(const std::string& id) override {
    if (!fail.ok()) return fail;
    if (!ids.erase(id)) return Status::NotFound("no key with id '" + id + "'");
    return Status::OK();
  }
  std::set<std::string> ids;
  Status fail;
};

TEST(KeyStoreTest, ReplicatedKeysChangeTheStoreOnlyOnceTheClusterHasThem) {
  const fs::path dir = fs::temp_directory_path() / ("sextant_keys_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string file = (dir / "keys.json").string();
  auto store = KeyStore::Open(file, std::nullopt);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto replicator = std::make_shared<FakeReplicator>();
  (*store)->SetReplicator(replicator);

  auto created = (*store)->Create(Role::kWriter, "acme", std::nullopt);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(replicator->ids, std::set<std::string>{created->first.id});
  EXPECT_TRUE((*store)->Authenticate(created->second));
  replicator->fail = Status::IOError("NATS: no responders");
  auto refused = (*store)->Create(Role::kReader, std::nullopt, std::nullopt);
  EXPECT_EQ(refused.status().code(), StatusCode::kIOError);
  EXPECT_EQ((*store)->List().size(), 1u);  // nothing kept on this node alone
  EXPECT_EQ((*store)->Revoke(created->first.id).code(), StatusCode::kIOError);
  EXPECT_TRUE((*store)->Authenticate(created->second));
  replicator->fail = Status::OK();
  EXPECT_EQ((*store)->Revoke("key_0000000000000000").code(), StatusCode::kNotFound);
  ASSERT_TRUE((*store)->Revoke(created->first.id).ok());
  EXPECT_FALSE((*store)->Authenticate(created->second));

  // The cluster's view, put in, authenticates and is saved.
  KeyRecord other;
  other.id = "key_00000000000000aa";
  other.sha256_hex = Sha256Hex("sxt_other");
  other.role = Role::kReader;
  ASSERT_TRUE((*store)->Put(other).ok());
  auto p = (*store)->Authenticate("sxt_other");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->key_id, other.id);
  other.role = Role::kAdmin;  // replaced by id
  ASSERT_TRUE((*store)->Put(other).ok());
  EXPECT_EQ((*store)->Authenticate("sxt_other")->role, Role::kAdmin);
  EXPECT_EQ((*store)->List().size(), 1u);
  auto reopened = KeyStore::Open(file, std::nullopt);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->Authenticate("sxt_other")->role, Role::kAdmin);
  KeyRecord third = other;
  third.id = "key_00000000000000bb";
  third.sha256_hex = Sha256Hex("sxt_third");
  ASSERT_TRUE((*store)->Replace({third}).ok());
  EXPECT_FALSE((*store)->Authenticate("sxt_other"));
  EXPECT_TRUE((*store)->Authenticate("sxt_third"));
  ASSERT_TRUE((*store)->Erase(third.id).ok());
  ASSERT_TRUE((*store)->Erase(third.id).ok());  // absent: fine
  EXPECT_TRUE((*store)->List().empty());
  EXPECT_TRUE((*KeyStore::Open(file, std::nullopt))->List().empty());
  EXPECT_FALSE(KeyRecordFromJson(nlohmann::json{{"id", "k"}, {"sha256", "xyz"}, {"role", "reader"}}).ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sextant::server
