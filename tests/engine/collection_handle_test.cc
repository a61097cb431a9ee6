// Collection handles (shared_ptr) outliving their collection: after DropCollection, a drop and
// a re-create or restore under the same name, and the Database's close. An old handle must
// fail every call with the documented error, never crash, and never reach another collection.
// ThreadSanitizer runs the concurrent cases (engine_test is in its stage).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine_test_util.h"
#include "sextant/database.h"

namespace sextant {
namespace collection_handle_test {  // named: the test programs are unity builds (tests/CMakeLists.txt)

using nlohmann::json;
using testing::PointsFor;
using testing::TempDir;
using testing::VectorFor;

constexpr size_t kDim = 8;

CollectionConfig Config(const std::string& name, size_t seal_points = 0) {
  CollectionConfig c;
  c.name = name;
  c.dimension = kDim;
  c.segments.seal_points = seal_points;
  return c;
}

std::vector<Point> Named(const std::string& prefix, size_t from, size_t count) {
  std::vector<Point> points = PointsFor(from, count, kDim);
  for (Point& p : points) p.id = prefix + p.id;
  return points;
}

QueryRequest QueryFor(size_t i) {
  QueryRequest q;
  q.vector = VectorFor(i, kDim);
  q.k = 5;
  return q;
}

// The error a call through a handle of a dropped collection gets.
void ExpectDropped(const Status& st, const std::string& name) {
  EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
  EXPECT_EQ(st.message(), "collection '" + name + "' was dropped");
}

// Every call of `col`, each expected to fail with `expect`.
template <typename Expect>
void ExpectEveryCallFails(Collection& col, const std::string& snapshot_dir, Expect expect) {
  const std::vector<std::string> ids = {"p1"};
  expect(col.Upsert(PointsFor(1000, 3, kDim)).status());
  expect(col.Upsert({}).status());
  expect(col.Get(ids).status());
  expect(col.Delete(ids).status());
  expect(col.Delete(std::vector<std::string>{"absent"}).status());
  expect(col.DeleteByFilter(json{{"even", true}}).status());
  expect(col.UpdateMetadata("p1", json{{"k", 1}}, true));
  expect(col.Count().status());
  expect(col.Count(json{{"even", true}}).status());
  expect(col.Scroll("", 10).status());
  expect(col.Query(QueryFor(1)).status());
  expect(col.Checkpoint());
  expect(col.CreateSnapshot(snapshot_dir));
  expect(col.Optimize());
  EXPECT_FALSE(std::filesystem::exists(snapshot_dir)) << "a closed collection wrote a snapshot";
}

TEST(CollectionHandleTest, DroppedHandleFailsEveryCallAndKeepsItsMemory) {
  TempDir tmp;
  auto db = std::move(Database::Open(tmp.sub("db"))).value();
  // Small segments: the handle holds sealed (memory-mapped) segments whose files are removed.
  auto col = *db->CreateCollection(Config("c", /*seal_points=*/64));
  ASSERT_TRUE(col->Upsert(PointsFor(0, 300, kDim)).ok());
  ASSERT_TRUE(col->Optimize().ok());
  auto same = *db->GetCollection("c");
  EXPECT_EQ(same.get(), col.get()) << "one collection, one object";

  ASSERT_TRUE(db->DropCollection("c").ok());
  EXPECT_FALSE(std::filesystem::exists(tmp.sub("db/collections/c")));
  EXPECT_TRUE(std::filesystem::is_empty(tmp.sub("db/collections"))) << "the drop left a hidden directory";
  ExpectEveryCallFails(*same, tmp.sub("snap"), [](const Status& st) { ExpectDropped(st, "c"); });
  EXPECT_EQ(col->config().name, "c");
  const CollectionStats st = col->Stats();
  EXPECT_EQ(st.points, 300u);
  EXPECT_EQ(st.disk_bytes, 0u);
  EXPECT_EQ(st.wal_bytes, 0u);
  EXPECT_GT(col->MemoryUsage(), 0u);
  EXPECT_EQ(db->DropCollection("c").code(), StatusCode::kNotFound);
}

// A new collection under the old name is out of the old handle's reach: its writes fail, its
// reads do not see the new points, and its last release writes nothing into the new directory.
TEST(CollectionHandleTest, RecreatedNameIsNotReachedByAnOldHandle) {
  TempDir tmp;
  const std::string dir = tmp.sub("db");
  auto db = std::move(Database::Open(dir)).value();
  auto old = *db->CreateCollection(Config("c"));
  ASSERT_TRUE(old->Upsert(Named("old-", 0, 50)).ok());
  ASSERT_TRUE(db->DropCollection("c").ok());
  auto fresh = *db->CreateCollection(Config("c"));
  ASSERT_TRUE(fresh->Upsert(Named("new-", 0, 20)).ok());

  ExpectEveryCallFails(*old, tmp.sub("snap"), [](const Status& st) { ExpectDropped(st, "c"); });
  EXPECT_EQ(*fresh->Count(), 20u);
  EXPECT_TRUE(fresh->Get(std::vector<std::string>{"old-p1", "p1000"})->empty());
  EXPECT_EQ(old->Stats().points, 50u);
  EXPECT_EQ(old->Stats().disk_bytes, 0u) << "the old handle measured the new collection's files";
  EXPECT_EQ(fresh->Stats().points, 20u);
  EXPECT_GT(fresh->Stats().disk_bytes, 0u);

  old.reset();  // the dropped collection's last handle, beside the new one
  db.reset();
  auto reopened = Database::Open(dir);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_TRUE((*reopened)->BrokenCollections().empty());
  auto c = (*reopened)->GetCollection("c");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*(*c)->Count(), 20u);
}

// A handle may outlive its Database: the close ends its use of the directory (the lock is
// released, another opener owns the files), and its own release later writes nothing there.
TEST(CollectionHandleTest, HandleOutlivingItsDatabaseIsClosed) {
  TempDir tmp;
  const std::string dir = tmp.sub("db");
  auto db = std::move(Database::Open(dir)).value();
  auto old = *db->CreateCollection(Config("c"));
  ASSERT_TRUE(old->Upsert(PointsFor(0, 40, kDim)).ok());
  db.reset();

  ExpectEveryCallFails(*old, tmp.sub("snap"), [](const Status& st) {
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
    EXPECT_EQ(st.message(), "collection 'c' is closed: its Database was closed");
  });
  EXPECT_EQ(old->Stats().points, 40u);
  EXPECT_EQ(old->Stats().disk_bytes, 0u);

  {
    auto again = Database::Open(dir);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    auto col = *(*again)->GetCollection("c");
    ASSERT_TRUE(col->Upsert(PointsFor(40, 10, kDim)).ok());
    old.reset();  // must not touch the reopened collection's files
  }
  auto third = Database::Open(dir);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  auto c = (*third)->GetCollection("c");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*(*c)->Count(), 50u);
}

// Threads query, read and upsert through handles while the collection is dropped (its indexer
// busy sealing small segments) and then created again under the same name. Every call that
// starts after the drop returned fails as documented; before, a call succeeds or fails the
// same way; the new collection holds only what was written to it.
TEST(CollectionHandleTest, DropWhileQueriesAndUpsertsRunThroughOldHandles) {
  TempDir tmp;
  auto db = std::move(Database::Open(tmp.sub("db"))).value();
  auto col = *db->CreateCollection(Config("c", /*seal_points=*/64));
  ASSERT_TRUE(col->Upsert(PointsFor(0, 200, kDim)).ok());

  std::atomic<bool> dropped{false}, stop{false};
  std::atomic<size_t> calls{0}, calls_after_drop{0};
  auto check = [](const Status& st, bool after_drop) {
    if (after_drop || !st.ok()) ExpectDropped(st, "c");
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t, handle = col] {
      for (size_t i = 0; !stop; ++i) {
        const bool after_drop = dropped.load();
        if (t % 2 == 0) {
          check(handle->Upsert(Named("t" + std::to_string(t) + "-", i * 16, 16)).status(), after_drop);
        } else {
          check(handle->Query(QueryFor(i)).status(), after_drop);
          check(handle->Get(std::vector<std::string>{"p" + std::to_string(i % 200)}).status(), after_drop);
          check(handle->Count(json{{"even", true}}).status(), after_drop);
        }
        ++calls;
        if (after_drop) ++calls_after_drop;
      }
    });
  }
  auto wait_for = [](const std::atomic<size_t>& counter, size_t n) {
    while (counter.load() < n) std::this_thread::yield();
  };
  wait_for(calls, 100);
  ASSERT_TRUE(db->DropCollection("c").ok());
  dropped = true;
  col.reset();  // the threads hold the last handles
  wait_for(calls_after_drop, 100);
  auto fresh = *db->CreateCollection(Config("c", /*seal_points=*/64));
  ASSERT_TRUE(fresh->Upsert(Named("new-", 0, 100)).ok());
  wait_for(calls_after_drop, 200);
  stop = true;
  for (auto& th : threads) th.join();

  EXPECT_EQ(*fresh->Count(), 100u);
  EXPECT_TRUE(fresh->Get(std::vector<std::string>{"t0-p0", "t2-p16", "p0"})->empty());
  ASSERT_TRUE(fresh->Optimize().ok());
  EXPECT_EQ(*fresh->Count(), 100u);
}

// A snapshot restored under the name of a dropped collection, while a thread still works
// through the old handle: the restored collection holds exactly the snapshot, also reopened.
TEST(CollectionHandleTest, RestoreOverADroppedNameWhileAnOldHandleIsUsed) {
  TempDir tmp;
  const std::string dir = tmp.sub("db");
  auto db = std::move(Database::Open(dir)).value();
  auto col = *db->CreateCollection(Config("c"));
  ASSERT_TRUE(col->Upsert(PointsFor(0, 100, kDim)).ok());
  ASSERT_TRUE(col->CreateSnapshot(tmp.sub("snap")).ok());

  std::atomic<bool> stop{false};
  std::atomic<size_t> calls{0}, failed{0};
  std::thread user([&, handle = col] {
    for (size_t i = 0; !stop; ++i) {
      auto written = handle->Upsert(Named("x-", i, 1));
      auto hits = handle->Query(QueryFor(i));
      for (const Status& st : {written.status(), hits.status()}) {
        if (!st.ok()) {
          ExpectDropped(st, "c");
          ++failed;
        }
      }
      ++calls;
    }
  });
  while (calls.load() < 20) std::this_thread::yield();
  ASSERT_TRUE(db->DropCollection("c").ok());
  auto restored = db->RestoreSnapshot(tmp.sub("snap"), "c");
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  const size_t failed_before = failed.load();
  while (failed.load() < failed_before + 20) std::this_thread::yield();
  stop = true;
  user.join();

  EXPECT_EQ(*(*restored)->Count(), 100u);
  EXPECT_TRUE((*restored)->Get(std::vector<std::string>{"x-p0", "x-p1"})->empty());
  ExpectDropped(col->Count().status(), "c");
  col.reset();  // the dropped collection's last handle, beside the restored one
  db.reset();
  auto reopened = Database::Open(dir);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto c = (*reopened)->GetCollection("c");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*(*c)->Count(), 100u);
}

}  // namespace collection_handle_test
}  // namespace sextant
