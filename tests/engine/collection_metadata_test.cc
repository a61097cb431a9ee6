// A collection's own metadata (CollectionConfig::metadata, Collection::SetMetadata): set at create,
// replaced durably (config.json, re-read at open), carried by snapshots and restores under a new
// name, refused whole when bad, and not writable through a dropped collection's handle.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "engine_test_util.h"
#include "sextant/database.h"
#include "storage/fault_injection_env.h"

namespace sextant {
namespace collection_metadata_test {  // named: the test programs are unity builds (tests/CMakeLists.txt)

using nlohmann::json;
using testing::PointsFor;
using testing::TempDir;

CollectionConfig Config(const std::string& name, json metadata = json::object()) {
  CollectionConfig c;
  c.name = name;
  c.dimension = 4;
  c.metadata = std::move(metadata);
  return c;
}

TEST(CollectionMetadataTest, SetAtCreateReplacedDurablyAndCarriedBySnapshots) {
  TempDir tmp;
  const std::string dir = tmp.sub("db");
  const json first = {{"owner", "docs"}, {"version", 1}};
  const json second = {{"owner", "search"}, {"ratio", 0.25}, {"live", true}};
  {
    auto db = Database::Open(dir);
    ASSERT_TRUE(db.ok());
    auto col = (*db)->CreateCollection(Config("c", first));
    ASSERT_TRUE(col.ok()) << col.status().ToString();
    EXPECT_EQ((*col)->config().metadata, first);
    ASSERT_TRUE((*col)->Upsert(PointsFor(0, 10, 4)).ok());
    ASSERT_TRUE((*col)->SetMetadata(second).ok());
    EXPECT_EQ((*col)->config().metadata, second);
    EXPECT_EQ((*db)->ListCollections()[0].metadata, second);
    ASSERT_TRUE((*col)->CreateSnapshot(tmp.sub("snap")).ok());
    // Bad metadata is refused whole, naming the key; the old stays.
    Status bad = (*col)->SetMetadata({{"fine", 1}, {"nested", {{"a", 1}}}});
    EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(bad.message().find("metadata 'nested' must be a string, a finite number or a boolean"),
              std::string::npos)
        << bad.message();
    EXPECT_EQ((*col)->SetMetadata(json::array()).message(), "metadata must be a JSON object");
    EXPECT_EQ((*col)->config().metadata, second);
  }
  // Reopened: the new metadata, read from config.json; the points are untouched.
  auto db = Database::Open(dir);
  ASSERT_TRUE(db.ok());
  auto col = (*db)->GetCollection("c");
  ASSERT_TRUE(col.ok()) << col.status().ToString();
  EXPECT_EQ((*col)->config().metadata, second);
  EXPECT_EQ(*(*col)->Count(), 10u);
  // A snapshot restored under another name keeps it.
  auto restored = (*db)->RestoreSnapshot(tmp.sub("snap"), "r");
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ((*restored)->config().metadata, second);
  EXPECT_EQ((*restored)->config().name, "r");
  // Emptied: config.json no longer has the key (as before metadata existed), and reads back.
  ASSERT_TRUE((*col)->SetMetadata(json::object()).ok());
  EXPECT_EQ((*col)->config().metadata, json::object());
  // A dropped collection's handle cannot write its metadata (nor into a new collection of
  // the same name).
  ASSERT_TRUE((*db)->DropCollection("c").ok());
  ASSERT_TRUE((*db)->CreateCollection(Config("c")).ok());
  EXPECT_EQ((*col)->SetMetadata({{"late", true}}).code(), StatusCode::kNotFound);
  EXPECT_EQ((*(*db)->GetCollection("c"))->config().metadata, json::object());
}

// Acknowledged means on disk: a crash (the page cache lost) keeps the last metadata set, and a
// write that fails leaves the old metadata in memory and on disk.
TEST(CollectionMetadataTest, DurableAcrossACrashAndWholeWhenAWriteFails) {
  TempDir tmp;
  storage::FaultInjectionEnv env(storage::Env::Default());
  DatabaseOptions opt;
  opt.env = &env;
  {
    auto db = Database::Open(tmp.path(), opt);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    auto col = (*db)->CreateCollection(Config("c", {{"v", 1}}));
    ASSERT_TRUE(col.ok()) << col.status().ToString();
    ASSERT_TRUE((*col)->SetMetadata({{"v", 2}}).ok());
    env.SetWriteError(true);
    Status failed = (*col)->SetMetadata({{"v", 3}});
    EXPECT_EQ(failed.code(), StatusCode::kIOError) << failed.ToString();
    EXPECT_EQ((*col)->config().metadata, json({{"v", 2}}));
    env.SetWriteError(false);
  }
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  auto db = Database::Open(tmp.path(), opt);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto col = (*db)->GetCollection("c");
  ASSERT_TRUE(col.ok()) << col.status().ToString();
  EXPECT_EQ((*col)->config().metadata, json({{"v", 2}}));
}

TEST(CollectionMetadataTest, CreateRefusesBadMetadata) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  auto r = (*db)->CreateCollection(Config("c", {{"tags", {"a", "b"}}}));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("metadata 'tags'"), std::string::npos) << r.status().message();
  EXPECT_TRUE((*db)->ListCollections().empty());
}

// Readers of config() while the metadata changes (TSan checks the locking).
TEST(CollectionMetadataTest, ConfigReadersDuringSetMetadata) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  auto col = *(*db)->CreateCollection(Config("c", {{"n", 0}}));
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) {
      const json m = col->config().metadata;
      EXPECT_TRUE(m.contains("n"));
    }
  });
  for (int i = 1; i <= 20; ++i) ASSERT_TRUE(col->SetMetadata({{"n", i}}).ok());
  done = true;
  reader.join();
  EXPECT_EQ(col->config().metadata, json({{"n", 20}}));
}

}  // namespace collection_metadata_test
}  // namespace sextant
