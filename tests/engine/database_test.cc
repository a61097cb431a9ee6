#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "engine_test_util.h"
#include "sextant/database.h"

namespace sextant {
namespace database_test {  // named: the test programs are unity builds (tests/CMakeLists.txt)

using nlohmann::json;
using testing::PointFor;
using testing::PointsFor;
using testing::TempDir;
using testing::VectorFor;

constexpr size_t kDim = 8;

CollectionConfig Config(const std::string& name, IndexType index = IndexType::kHnsw,
                        Metric metric = Metric::kL2) {
  CollectionConfig c;
  c.name = name;
  c.dimension = kDim;
  c.metric = metric;
  c.index = index;
  return c;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

TEST(DatabaseTest, CreateUpsertReopenGet) {
  TempDir tmp;
  for (IndexType index : {IndexType::kHnsw, IndexType::kFlat}) {
    for (Metric metric : {Metric::kL2, Metric::kCosine}) {
      const std::string name = std::string(IndexTypeToString(index)) + "_" + MetricToString(metric);
      {
        auto db = Database::Open(tmp.path());
        ASSERT_TRUE(db.ok()) << db.status().ToString();
        auto col = (*db)->CreateCollection(Config(name, index, metric));
        ASSERT_TRUE(col.ok()) << col.status().ToString();
        auto n = (*col)->Upsert(PointsFor(0, 300, kDim));
        ASSERT_TRUE(n.ok()) << n.status().ToString();
        EXPECT_EQ(*n, 300u);
        if (metric == Metric::kCosine) {
          ASSERT_TRUE((*col)->Checkpoint().ok());  // exercise both recovery paths
        }
      }
      auto db = Database::Open(tmp.path());
      ASSERT_TRUE(db.ok()) << db.status().ToString();
      auto col = (*db)->GetCollection(name);
      ASSERT_TRUE(col.ok());
      EXPECT_EQ(*(*col)->Count(), 300u);
      std::vector<std::string> ids = {"p5", "missing", "p299"};
      auto got = (*col)->Get(ids);
      ASSERT_TRUE(got.ok());
      ASSERT_EQ(got->size(), 2u);
      const Point want = PointFor(5, kDim);
      EXPECT_EQ((*got)[0].id, "p5");
      EXPECT_EQ((*got)[0].document, want.document);
      EXPECT_EQ((*got)[0].metadata, want.metadata);
      for (size_t d = 0; d < kDim; ++d) EXPECT_NEAR((*got)[0].vector[d], want.vector[d], 1e-5);
      // A point's own vector finds it first.
      QueryRequest q;
      q.vector = VectorFor(42, kDim);
      q.k = 3;
      q.include_metadata = true;
      auto hits = (*col)->Query(q);
      ASSERT_TRUE(hits.ok()) << hits.status().ToString();
      ASSERT_FALSE(hits->empty());
      EXPECT_EQ((*hits)[0].id, "p42");
      EXPECT_EQ((*hits)[0].metadata->at("n"), 42);
    }
  }
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  EXPECT_EQ((*db)->ListCollections().size(), 4u);
}

TEST(DatabaseTest, SecondOpenerGetsAClearError) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  auto again = Database::Open(tmp.path());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("LOCK"), std::string::npos) << again.status().message();
}

TEST(DatabaseTest, BadInputAppliesNothing) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  EXPECT_EQ((*db)->CreateCollection(Config("bad name!")).status().code(), StatusCode::kInvalidArgument);
  auto zero = Config("z");
  zero.dimension = 0;
  EXPECT_EQ((*db)->CreateCollection(zero).status().code(), StatusCode::kInvalidArgument);
  auto col = (*db)->CreateCollection(Config("c"));
  ASSERT_TRUE(col.ok());
  EXPECT_EQ((*db)->CreateCollection(Config("c")).status().code(), StatusCode::kAlreadyExists);

  auto expect_rejected = [&](std::vector<Point> batch, const std::string& words) {
    auto r = (*col)->Upsert(batch);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
    EXPECT_EQ(*(*col)->Count(), 0u) << "a failing batch must apply nothing";
  };
  auto batch = PointsFor(0, 5, kDim);
  batch[3].vector.pop_back();
  expect_rejected(batch, "point 3 (id 'p3'): vector has dimension 7, collection has 8");
  batch = PointsFor(0, 5, kDim);
  batch[2].vector[4] = NAN;
  expect_rejected(batch, "NaN at dimension 4");
  batch = PointsFor(0, 5, kDim);
  batch[1].vector[0] = INFINITY;
  expect_rejected(batch, "Inf at dimension 0");
  batch = PointsFor(0, 5, kDim);
  batch[4].id = "";
  expect_rejected(batch, "point 4: id is empty");
  batch = PointsFor(0, 5, kDim);
  batch[4].id = "p0";
  expect_rejected(batch, "appears twice");
  batch = PointsFor(0, 5, kDim);
  batch[0].metadata = {{"nested", {{"a", 1}}}};
  expect_rejected(batch, "metadata field 'nested'");

  // Bad filters and queries.
  QueryRequest q;
  q.vector = VectorFor(1, kDim);
  q.filter = json{{"n", {{"$near", 3}}}};
  auto r = (*col)->Query(q);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("$near"), std::string::npos) << r.status().message();
  q.filter.reset();
  q.k = 0;
  EXPECT_EQ((*col)->Query(q).status().code(), StatusCode::kInvalidArgument);
  q.k = 5;
  q.vector.push_back(1);
  EXPECT_NE((*col)->Query(q).status().message().find("dimension 9"), std::string::npos);

  // The database keeps working.
  ASSERT_TRUE((*col)->Upsert(PointsFor(0, 5, kDim)).ok());
  EXPECT_EQ(*(*col)->Count(), 5u);
}

TEST(DatabaseTest, UpsertReplacesDeleteAndUpdate) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  auto col = *(*db)->CreateCollection(Config("c"));
  ASSERT_TRUE(col->Upsert(PointsFor(0, 100, kDim)).ok());
  Point moved = PointFor(7, kDim);
  moved.vector = VectorFor(1000, kDim);
  moved.metadata = {{"moved", true}};
  ASSERT_TRUE(col->Upsert(std::vector<Point>{moved}).ok());
  EXPECT_EQ(*col->Count(), 100u);
  QueryRequest q;
  q.vector = VectorFor(1000, kDim);
  q.k = 1;
  EXPECT_EQ((*col->Query(q))[0].id, "p7");

  std::vector<std::string> gone = {"p1", "p2", "nope"};
  EXPECT_EQ(*col->Delete(gone), 2u);
  EXPECT_EQ(*col->Count(), 98u);
  EXPECT_EQ(*col->DeleteByFilter(json{{"tag", "t3"}}), 14u);  // 3, 10, ..., 94 (none deleted yet)
  EXPECT_EQ(*col->Count(json{{"tag", "t3"}}), 0u);

  ASSERT_TRUE(col->UpdateMetadata("p8", json{{"extra", 1}}, /*merge=*/true).ok());
  auto p8 = *col->Get(std::vector<std::string>{"p8"});
  EXPECT_EQ(p8[0].metadata["extra"], 1);
  EXPECT_EQ(p8[0].metadata["n"], 8);
  ASSERT_TRUE(col->UpdateMetadata("p8", json{{"only", "this"}}, /*merge=*/false).ok());
  p8 = *col->Get(std::vector<std::string>{"p8"});
  EXPECT_EQ(p8[0].metadata, (json{{"only", "this"}}));
  EXPECT_EQ(col->UpdateMetadata("p1", json::object(), true).code(), StatusCode::kNotFound);
  EXPECT_EQ(*col->Count(json{{"only", "this"}}), 1u);
}

TEST(DatabaseTest, ScrollVisitsEveryPointOnce) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  auto col = *(*db)->CreateCollection(Config("c"));
  ASSERT_TRUE(col->Upsert(PointsFor(0, 250, kDim)).ok());
  std::set<std::string> seen;
  std::string after;
  for (int pages = 0;; ++pages) {
    auto page = col->Scroll(after, 40, json{{"even", true}});
    ASSERT_TRUE(page.ok());
    for (const auto& p : page->points) {
      EXPECT_TRUE(seen.insert(p.id).second) << p.id;
      EXPECT_EQ(p.metadata["even"], true);
      EXPECT_GT(p.id, after);
    }
    if (!page->next) break;
    after = *page->next;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(seen.size(), 125u);
}

TEST(DatabaseTest, AddDeleteCyclesDoNotGrowDiskOrMemory) {
  TempDir tmp;
  DatabaseOptions opt;
  opt.checkpoint_log_bytes = 256 << 10;
  auto db = Database::Open(tmp.path(), opt);
  auto col = *(*db)->CreateCollection(Config("c"));
  ASSERT_TRUE(col->Upsert(PointsFor(0, 1000, kDim)).ok());
  uint64_t disk_after_first = 0;
  size_t memory_after_first = 0;
  for (int cycle = 0; cycle < 30; ++cycle) {
    std::vector<std::string> ids;
    for (size_t i = 0; i < 500; ++i) ids.push_back("p" + std::to_string(i + 500 * (cycle % 2)));
    ASSERT_EQ(*col->Delete(ids), 500u);
    ASSERT_TRUE(col->Upsert(PointsFor(500 * (cycle % 2), 500, kDim)).ok());
    if (cycle == 1) {
      ASSERT_TRUE(col->Checkpoint().ok());
      disk_after_first = DirBytes(tmp.path());
      memory_after_first = col->MemoryUsage();
    }
  }
  ASSERT_TRUE(col->Checkpoint().ok());
  EXPECT_EQ(*col->Count(), 1000u);
  EXPECT_LE(DirBytes(tmp.path()), disk_after_first * 3 / 2) << "disk grew across cycles";
  EXPECT_LE(col->MemoryUsage(), memory_after_first * 3 / 2) << "memory grew across cycles";
}

TEST(DatabaseTest, SnapshotWhileWritingAndRestore) {
  TempDir tmp;
  auto db = Database::Open(tmp.sub("db"));
  auto col = *(*db)->CreateCollection(Config("c"));
  ASSERT_TRUE(col->Upsert(PointsFor(0, 200, kDim)).ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (size_t b = 2; !stop && b < 200; ++b) ASSERT_TRUE(col->Upsert(PointsFor(b * 100, 100, kDim)).ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(col->CreateSnapshot(tmp.sub("snap")).ok());
  stop = true;
  writer.join();
  EXPECT_EQ(col->CreateSnapshot(tmp.sub("snap")).code(), StatusCode::kAlreadyExists);

  auto restored = (*db)->RestoreSnapshot(tmp.sub("snap"), "copy");
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  const size_t n = *(*restored)->Count();
  EXPECT_GE(n, 200u);
  EXPECT_EQ(n % 100, 0u) << "a snapshot holds whole batches";
  for (size_t i = 0; i < n; i += 37) {
    auto got = *(*restored)->Get(std::vector<std::string>{"p" + std::to_string(i)});
    ASSERT_EQ(got.size(), 1u) << i;
    EXPECT_EQ(got[0].vector, VectorFor(i, kDim));
  }
  EXPECT_EQ((*db)->RestoreSnapshot(tmp.sub("snap"), "copy").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ((*db)->RestoreSnapshot(tmp.sub("nothing"), "x").status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE((*db)->DropCollection("copy").ok());
  EXPECT_EQ((*db)->GetCollection("copy").status().code(), StatusCode::kNotFound);
}

// Readers run while a writer upserts and deletes (ThreadSanitizer runs this test in CI).
TEST(DatabaseTest, ConcurrentReadersDuringWrites) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  auto col = *(*db)->CreateCollection(Config("c"));
  ASSERT_TRUE(col->Upsert(PointsFor(0, 300, kDim)).ok());
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  std::atomic<size_t> reads{0};
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      while (!stop) {
        const size_t i = (reads++ * 7 + t) % 600;
        auto got = col->Get(std::vector<std::string>{"p" + std::to_string(i)});
        ASSERT_TRUE(got.ok());
        for (const auto& p : *got) ASSERT_EQ(p.vector.size(), kDim);
        QueryRequest q;
        q.vector = VectorFor(i, kDim);
        q.k = 5;
        q.filter = json{{"even", i % 2 == 0}};
        auto hits = col->Query(q);
        ASSERT_TRUE(hits.ok()) << hits.status().ToString();
        ASSERT_TRUE(col->Count().ok());
      }
    });
  }
  for (size_t round = 0; round < 20; ++round) {
    ASSERT_TRUE(col->Upsert(PointsFor(300 + (round % 3) * 100, 100, kDim)).ok());
    std::vector<std::string> ids;
    for (size_t i = 0; i < 50; ++i) ids.push_back("p" + std::to_string(300 + ((round + 1) % 3) * 100 + i));
    ASSERT_TRUE(col->Delete(ids).ok());
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_GT(reads.load(), 0u);
}

}  // namespace database_test
}  // namespace sextant
