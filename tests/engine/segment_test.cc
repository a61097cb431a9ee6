// Segments: background sealing, merging and compaction, tombstones, recovery of sealed
// segments, bounded space under churn, and queries while the background thread works.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <thread>
#include <unordered_set>

#include "engine_test_util.h"
#include "sextant/database.h"

namespace sextant {
namespace segment_test {  // named: the test programs are unity builds (tests/CMakeLists.txt)

using testing::PointsFor;
using testing::TempDir;
using testing::VectorFor;

constexpr size_t kDim = 16;

CollectionConfig SegConfig(size_t seal_points, size_t merge_factor = 4,
                           double compact_fraction = 0.2) {
  CollectionConfig c;
  c.name = "c";
  c.dimension = kDim;
  c.hnsw.M = 12;
  c.hnsw.ef_construction = 80;
  c.segments.seal_points = seal_points;
  c.segments.merge_factor = merge_factor;
  c.segments.compact_deleted_fraction = compact_fraction;
  c.segments.quiet_seconds = 0;  // the layouts these tests build are the point (QuietTest: on)
  return c;
}

float L2(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]);
  return d;
}

// recall@k of the collection against brute force over the points numbered in `present`.
double Recall(Collection& col, const std::map<size_t, std::vector<float>>& present, size_t nq,
              size_t k) {
  double total = 0;
  for (size_t q = 0; q < nq; ++q) {
    const std::vector<float> query = VectorFor(100000 + q * 13, kDim);
    std::vector<std::pair<float, size_t>> all;
    for (const auto& [i, v] : present) all.push_back({L2(query, v), i});
    const size_t take = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + take, all.end());
    std::unordered_set<std::string> truth;
    for (size_t j = 0; j < take; ++j) truth.insert("p" + std::to_string(all[j].second));
    QueryRequest req;
    req.vector = query;
    req.k = k;
    auto hits = col.Query(req);
    EXPECT_TRUE(hits.ok()) << hits.status().ToString();
    if (!hits.ok()) return 0;
    size_t found = 0;
    for (const auto& h : *hits) {
      EXPECT_TRUE(present.count(std::stoul(h.id.substr(1)))) << h.id << " was deleted";
      found += truth.count(h.id);
    }
    total += truth.empty() ? 1.0 : static_cast<double>(found) / truth.size();
  }
  return total / nq;
}

size_t SegmentFiles(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    n += e.path().filename().string().rfind("seg-", 0) == 0;
  }
  return n;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

TEST(SegmentTest, WritesAreSearchableWhileSegmentsAreBuilt) {
  TempDir tmp;
  auto db = std::move(Database::Open(tmp.path())).value();
  auto col = *db->CreateCollection(SegConfig(300));
  std::map<size_t, std::vector<float>> present;
  for (size_t b = 0; b < 20; ++b) {
    ASSERT_TRUE(col->Upsert(PointsFor(b * 150, 150, kDim)).ok());
    for (size_t i = b * 150; i < (b + 1) * 150; ++i) present[i] = VectorFor(i, kDim);
    // Whatever the background thread is doing, the newest batch is already found.
    EXPECT_EQ(*col->Count(), present.size());
    QueryRequest req;
    req.vector = VectorFor(b * 150 + 77, kDim);
    req.k = 1;
    auto hits = *col->Query(req);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].id, "p" + std::to_string(b * 150 + 77));
  }
  EXPECT_GE(Recall(*col, present, 30, 10), 0.95);
  ASSERT_TRUE(col->Optimize().ok());
  const CollectionStats st = col->Stats();
  EXPECT_EQ(st.unindexed_points, 0u);
  EXPECT_GE(st.segments_sealed, 10u);
  EXPECT_GE(st.segments_merged, 1u);
  // Tiered merging keeps the number of segments small: fewer than merge_factor per tier.
  EXPECT_LE(st.segments, 6u) << "segments were not merged";
  EXPECT_GE(Recall(*col, present, 30, 10), 0.95);
  for (size_t i = 0; i < 3000; i += 101) {
    auto got = *col->Get(std::vector<std::string>{"p" + std::to_string(i)});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].vector, VectorFor(i, kDim));
  }
}

TEST(SegmentTest, QueryDeadline) {
  TempDir tmp;
  auto db = std::move(Database::Open(tmp.path())).value();
  CollectionConfig c = SegConfig(200, 100, 1.0);
  c.text = true;
  auto col = *db->CreateCollection(c);
  std::vector<Point> points = PointsFor(0, 1000, kDim);
  for (size_t i = 0; i < points.size(); ++i) points[i].document = i % 2 ? "red fox" : "blue whale";
  ASSERT_TRUE(col->Upsert(points).ok());
  ASSERT_TRUE(col->Optimize().ok());
  ASSERT_EQ(col->Stats().segments, 5u);

  QueryRequest q;
  q.vector = VectorFor(123, kDim);
  q.k = 5;
  const auto plain = *col->Query(q);
  ASSERT_EQ(plain.size(), 5u);
  // A deadline that has passed: nothing is searched, whatever the query's shape.
  q.deadline = std::chrono::steady_clock::now() - std::chrono::milliseconds(1);
  auto late = col->Query(q);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), StatusCode::kDeadlineExceeded) << late.status().ToString();
  q.filter = nlohmann::json{{"n", {{"$lt", 50}}}};
  EXPECT_EQ(col->Query(q).status().code(), StatusCode::kDeadlineExceeded);
  q.filter.reset();
  q.text = "fox";
  EXPECT_EQ(col->Query(q).status().code(), StatusCode::kDeadlineExceeded);
  q.text.reset();
  // One far away changes nothing.
  q.deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
  auto in_time = col->Query(q);
  ASSERT_TRUE(in_time.ok()) << in_time.status().ToString();
  ASSERT_EQ(in_time->size(), plain.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ((*in_time)[i].id, plain[i].id);
    EXPECT_EQ((*in_time)[i].score, plain[i].score);
  }
  // The collection keeps working after a query gave up.
  EXPECT_EQ(*col->Count(), 1000u);
}

TEST(SegmentTest, ReopenKeepsSealedSegmentsAndTombstones) {
  for (bool checkpoint_last : {true, false}) {
    SCOPED_TRACE(checkpoint_last ? "after a checkpoint" : "log replayed over sealed segments");
    TempDir dir;
    // Deleted: every 9th point. Then replaced with new vectors: every 10th from 4 (those that
    // were deleted come back as new points).
    auto deleted = [](size_t i) { return i % 9 == 0; };
    auto changed = [](size_t i) { return i % 10 == 4; };
    std::map<size_t, std::vector<float>> present;
    size_t tombstones = 0;
    for (size_t i = 0; i < 1000; ++i) {
      if (changed(i)) {
        present[i] = VectorFor(i + 5000, kDim);
        tombstones += 1;  // either deleted or replaced: its sealed vector is dead
      } else if (!deleted(i)) {
        present[i] = VectorFor(i, kDim);
      } else {
        tombstones += 1;
      }
    }
    CollectionStats before;
    {
      auto db = std::move(Database::Open(dir.path())).value();
      // No merges, no compaction: five sealed segments keep their tombstones.
      auto col = *db->CreateCollection(SegConfig(200, 100, 1.0));
      ASSERT_TRUE(col->Upsert(PointsFor(0, 1000, kDim)).ok());
      ASSERT_TRUE(col->Optimize().ok());
      ASSERT_EQ(col->Stats().segments, 5u);
      std::vector<std::string> gone;
      for (size_t i = 0; i < 1000; ++i) {
        if (deleted(i)) gone.push_back("p" + std::to_string(i));
      }
      ASSERT_EQ(*col->Delete(gone), gone.size());
      std::vector<Point> updates;
      for (size_t i = 0; i < 1000; ++i) {
        if (!changed(i)) continue;
        Point p = testing::PointFor(i, kDim);
        p.vector = VectorFor(i + 5000, kDim);
        updates.push_back(p);
      }
      ASSERT_TRUE(col->Upsert(updates).ok());
      if (checkpoint_last) {
        ASSERT_TRUE(col->Checkpoint().ok());
      }
      before = col->Stats();
      EXPECT_EQ(before.points, present.size());
      EXPECT_EQ(before.deleted_pending, tombstones);
      EXPECT_EQ(before.segments, 6u);  // five sealed, and the mutable one with the updates
    }
    auto db = std::move(Database::Open(dir.path())).value();
    auto col = *db->GetCollection("c");
    const CollectionStats after = col->Stats();
    EXPECT_EQ(after.points, present.size());
    EXPECT_EQ(after.segments, before.segments);
    EXPECT_EQ(after.deleted_pending, before.deleted_pending);
    for (const auto& [i, v] : present) {
      auto got = *col->Get(std::vector<std::string>{"p" + std::to_string(i)});
      ASSERT_EQ(got.size(), 1u) << i;
      ASSERT_EQ(got[0].vector, v) << i;
    }
    EXPECT_GE(Recall(*col, present, 30, 10), 0.95);
  }
}

TEST(SegmentTest, ChurnIsCompactedAndSpaceStaysBounded) {
  TempDir tmp;
  DatabaseOptions opt;
  opt.checkpoint_log_bytes = 256 << 10;
  auto db = std::move(Database::Open(tmp.path(), opt)).value();
  auto col = *db->CreateCollection(SegConfig(250));
  const std::string dir = tmp.path() + "/collections/c";
  ASSERT_TRUE(col->Upsert(PointsFor(0, 2000, kDim)).ok());
  uint64_t disk_first = 0;
  size_t memory_first = 0;
  for (int cycle = 0; cycle < 16; ++cycle) {
    // Delete a quarter of the points and add them back with the same ids.
    std::vector<std::string> ids;
    const size_t from = 500 * (cycle % 4);
    for (size_t i = from; i < from + 500; ++i) ids.push_back("p" + std::to_string(i));
    ASSERT_EQ(*col->Delete(ids), 500u);
    ASSERT_TRUE(col->Upsert(PointsFor(from, 500, kDim)).ok());
    ASSERT_TRUE(col->Optimize().ok());
    if (cycle == 3) {
      ASSERT_TRUE(col->Checkpoint().ok());
      disk_first = DirBytes(tmp.path());
      memory_first = col->MemoryUsage();
    }
  }
  ASSERT_TRUE(col->Checkpoint().ok());
  const CollectionStats st = col->Stats();
  EXPECT_EQ(st.points, 2000u);
  EXPECT_GE(st.segments_merged, 4u);
  // Compaction bounds the deleted vectors a segment may keep.
  EXPECT_LE(st.deleted_pending, 2000u * 0.2 + 1);
  EXPECT_EQ(SegmentFiles(dir), st.segments) << "a merged segment's file was left behind";
  EXPECT_LE(DirBytes(tmp.path()), disk_first * 3 / 2) << "disk grew across cycles";
  EXPECT_LE(col->MemoryUsage(), memory_first * 3 / 2) << "memory grew across cycles";
  std::map<size_t, std::vector<float>> present;
  for (size_t i = 0; i < 2000; ++i) present[i] = VectorFor(i, kDim);
  EXPECT_GE(Recall(*col, present, 30, 10), 0.95);
}

TEST(SegmentTest, FlatCollectionsKeepOneExactSegment) {
  TempDir tmp;
  auto db = std::move(Database::Open(tmp.path())).value();
  CollectionConfig c = SegConfig(100);
  c.index = IndexType::kFlat;
  auto col = *db->CreateCollection(c);
  ASSERT_TRUE(col->Upsert(PointsFor(0, 1000, kDim)).ok());
  ASSERT_TRUE(col->Optimize().ok());
  const CollectionStats st = col->Stats();
  EXPECT_EQ(st.segments, 1u);
  EXPECT_EQ(st.unindexed_points, 1000u);
  std::map<size_t, std::vector<float>> present;
  for (size_t i = 0; i < 1000; ++i) present[i] = VectorFor(i, kDim);
  EXPECT_EQ(Recall(*col, present, 20, 10), 1.0);
}

TEST(SegmentTest, BadSegmentSettingsAreRejected) {
  TempDir tmp;
  auto db = std::move(Database::Open(tmp.path())).value();
  CollectionConfig c = SegConfig(8);
  EXPECT_EQ(db->CreateCollection(c).status().code(), StatusCode::kInvalidArgument);
  c = SegConfig(100, 1);
  EXPECT_EQ(db->CreateCollection(c).status().code(), StatusCode::kInvalidArgument);
  c = SegConfig(100, 4, 0.0);
  EXPECT_EQ(db->CreateCollection(c).status().code(), StatusCode::kInvalidArgument);
}

TEST(SegmentTest, SnapshotWhileSegmentsAreBuiltAndMerged) {
  TempDir tmp;
  auto db = std::move(Database::Open(tmp.sub("db"))).value();
  auto col = *db->CreateCollection(SegConfig(100));
  ASSERT_TRUE(col->Upsert(PointsFor(0, 500, kDim)).ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (size_t b = 5; !stop && b < 60; ++b) ASSERT_TRUE(col->Upsert(PointsFor(b * 100, 100, kDim)).ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_TRUE(col->CreateSnapshot(tmp.sub("snap")).ok());
  stop = true;
  writer.join();
  ASSERT_TRUE(col->Optimize().ok());  // merges delete segment files the snapshot links to
  auto restored = db->RestoreSnapshot(tmp.sub("snap"), "copy");
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  const size_t n = *(*restored)->Count();
  EXPECT_GE(n, 500u);
  EXPECT_EQ(n % 100, 0u) << "a snapshot holds whole batches";
  std::map<size_t, std::vector<float>> present;
  for (size_t i = 0; i < n; ++i) {
    present[i] = VectorFor(i, kDim);
    auto got = *(*restored)->Get(std::vector<std::string>{"p" + std::to_string(i)});
    ASSERT_EQ(got.size(), 1u) << i;
    ASSERT_EQ(got[0].vector, VectorFor(i, kDim));
  }
  EXPECT_GE(Recall(**restored, present, 20, 10), 0.95);
}

// Closing the database while the background thread seals, merges or checkpoints must leave a
// collection that opens with every point intact (the thread's checkpoint once ran after the
// collection had let go of its segments and wrote vectorless points).
TEST(SegmentTest, CloseWhileSegmentsAreBuiltLeavesAValidCollection) {
  TempDir tmp;
  for (int round = 0; round < 8; ++round) {
    {
      auto db = std::move(Database::Open(tmp.path())).value();
      auto col = round == 0 ? *db->CreateCollection(SegConfig(64)) : *db->GetCollection("c");
      ASSERT_TRUE(col->Upsert(PointsFor(round * 200, 200, kDim)).ok());
      std::vector<std::string> ids;
      for (size_t i = 0; i < 40; ++i) ids.push_back("p" + std::to_string(round * 200 + i));
      ASSERT_TRUE(col->Delete(ids).ok());  // tombstones trigger compactions too
    }
    auto db = Database::Open(tmp.path());
    ASSERT_TRUE(db.ok()) << "round " << round << ": " << db.status().ToString();
    auto col = *(*db)->GetCollection("c");
    ASSERT_EQ(*col->Count(), static_cast<size_t>(round + 1) * 160u);
    for (size_t i = static_cast<size_t>(round) * 200 + 40; i < static_cast<size_t>(round + 1) * 200; i += 7) {
      auto got = *col->Get(std::vector<std::string>{"p" + std::to_string(i)});
      ASSERT_EQ(got.size(), 1u);
      ASSERT_EQ(got[0].vector, VectorFor(i, kDim));
    }
  }
}

// Readers query and read while a writer upserts and deletes and the background thread seals
// and merges (ThreadSanitizer runs this test in CI).
TEST(SegmentTest, ConcurrentQueriesDuringBackgroundMerges) {
  TempDir tmp;
  auto db = std::move(Database::Open(tmp.path())).value();
  auto col = *db->CreateCollection(SegConfig(100));
  ASSERT_TRUE(col->Upsert(PointsFor(0, 400, kDim)).ok());  // p0..p399 are never touched again
  std::atomic<bool> stop{false};
  std::atomic<size_t> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      while (!stop) {
        const size_t i = (reads++ * 31 + t) % 400;
        QueryRequest req;
        req.vector = VectorFor(i, kDim);
        req.k = 3;
        if (i % 3 == 0) req.filter = nlohmann::json{{"even", i % 2 == 0}};
        auto hits = col->Query(req);
        ASSERT_TRUE(hits.ok()) << hits.status().ToString();
        ASSERT_FALSE(hits->empty());
        auto got = col->Get(std::vector<std::string>{"p" + std::to_string(i)});
        ASSERT_TRUE(got.ok());
        ASSERT_EQ(got->size(), 1u) << "p" << i;
        ASSERT_EQ((*got)[0].vector, VectorFor(i, kDim));
      }
    });
  }
  for (size_t round = 0; round < 12; ++round) {
    ASSERT_TRUE(col->Upsert(PointsFor(400 + (round % 4) * 100, 100, kDim)).ok());
    std::vector<std::string> ids;
    for (size_t i = 0; i < 60; ++i) ids.push_back("p" + std::to_string(400 + ((round + 1) % 4) * 100 + i));
    ASSERT_TRUE(col->Delete(ids).ok());
  }
  ASSERT_TRUE(col->Optimize().ok());
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_GT(reads.load(), 0u);
  EXPECT_GE(col->Stats().segments_sealed, 1u);
}

// Writers overwrite a small collection as fast as they can while a reader queries: the
// indexer's back-pressure (seals and merges take turns, merges first past the bounds, writers
// wait while three segments are frozen) keeps the segments and deleted vectors bounded, and
// every point reads back as last written (ThreadSanitizer runs this test in CI).
TEST(SegmentTest, ConcurrentOverwritesKeepSegmentsBounded) {
  constexpr size_t kPoints = 1000, kWriters = 2, kBatches = 40, kBatch = 50;
  TempDir tmp;
  DatabaseOptions opt;
  opt.durability = Durability::kRelaxed;
  auto db = std::move(Database::Open(tmp.path(), opt)).value();
  auto col = *db->CreateCollection(SegConfig(64));
  ASSERT_TRUE(col->Upsert(PointsFor(0, kPoints, kDim)).ok());
  ASSERT_TRUE(col->Optimize().ok());  // one batch froze 15 segments at once
  // Writer t owns the ids i with i % kWriters == t and remembers what it wrote last.
  std::vector<std::map<size_t, size_t>> version(kWriters);
  std::atomic<bool> stop{false};
  std::atomic<size_t> done{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) + 1);
      for (size_t b = 0; b < kBatches; ++b) {
        std::vector<Point> batch;
        std::unordered_set<size_t> ids;
        while (batch.size() < kBatch) {
          const size_t i = (rng() % (kPoints / kWriters)) * kWriters + t;
          if (!ids.insert(i).second) continue;
          const size_t v = (b + 1) * 10000 + i;
          Point p = testing::PointFor(i, kDim);
          p.vector = VectorFor(v, kDim);
          batch.push_back(std::move(p));
          version[t][i] = v;
        }
        auto n = col->Upsert(batch);
        ASSERT_TRUE(n.ok()) << n.status().ToString();
      }
      ++done;
    });
  }
  threads.emplace_back([&] {
    size_t q = 0;
    while (!stop) {
      QueryRequest req;
      req.vector = VectorFor(50000 + q++, kDim);
      req.k = 5;
      auto hits = col->Query(req);
      ASSERT_TRUE(hits.ok()) << hits.status().ToString();
      ASSERT_EQ(hits->size(), 5u);
    }
  });
  size_t max_segments = 0, max_deleted = 0;
  while (done < kWriters) {
    const CollectionStats st = col->Stats();
    max_segments = std::max(max_segments, st.segments);
    max_deleted = std::max(max_deleted, st.deleted_pending);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (auto& th : threads) th.join();
  // At most 3 sealed segments per size tier (2 tiers at 1,000 points of 64), one more being
  // merged, 3 frozen (and what one batch per writer adds) and the mutable one.
  EXPECT_LE(max_segments, 14u);
  EXPECT_LE(max_deleted, kPoints / 4 + 8 * 64 + kWriters * kBatch);
  ASSERT_TRUE(col->Optimize().ok());
  const CollectionStats st = col->Stats();
  EXPECT_EQ(st.points, kPoints);
  EXPECT_EQ(st.unindexed_points, 0u);
  EXPECT_LE(st.segments, 6u);
  EXPECT_LE(st.deleted_pending, kPoints / 4);
  std::map<size_t, std::vector<float>> present;
  for (size_t i = 0; i < kPoints; ++i) {
    auto it = version[i % kWriters].find(i);
    present[i] = VectorFor(it == version[i % kWriters].end() ? i : it->second, kDim);
  }
  for (size_t i = 0; i < kPoints; i += 7) {
    auto got = *col->Get(std::vector<std::string>{"p" + std::to_string(i)});
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0].vector, present[i]) << i;
  }
  EXPECT_GE(Recall(*col, present, 30, 10), 0.95);
}

// Quiet indexing (SegmentParams::quiet_seconds): once writes stop, the mutable segment's
// points are indexed and the sealed segments merged into one, with no Optimize call.
bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit = std::chrono::seconds(120)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

TEST(QuietTest, ACollectionLeftAloneEndsAsOneGraph) {
  TempDir tmp;
  auto db = std::move(Database::Open(tmp.path())).value();
  CollectionConfig c = SegConfig(200, 100);  // merge_factor 100: the tiers never merge these
  c.segments.quiet_seconds = 0.3;
  auto col = *db->CreateCollection(c);
  std::map<size_t, std::vector<float>> present;
  for (size_t b = 0; b < 23; ++b) {  // 1,150 points: five segments' worth and a tail of 150
    ASSERT_TRUE(col->Upsert(PointsFor(b * 50, 50, kDim)).ok());
  }
  for (size_t i = 0; i < 1150; ++i) present[i] = VectorFor(i, kDim);
  ASSERT_TRUE(WaitFor([&] {
    const CollectionStats st = col->Stats();
    return st.segments == 1 && st.unindexed_points == 0;
  })) << "segments " << col->Stats().segments << ", unindexed " << col->Stats().unindexed_points;
  const CollectionStats st = col->Stats();
  EXPECT_EQ(st.points, 1150u);
  EXPECT_GE(st.segments_merged, 1u);
  EXPECT_EQ(st.deleted_pending, 0u);
  EXPECT_GE(Recall(*col, present, 30, 10), 0.95);
  for (size_t i = 0; i < 1150; i += 37) {
    auto got = *col->Get(std::vector<std::string>{"p" + std::to_string(i)});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].vector, VectorFor(i, kDim));
  }
  // The merged segment is what a reopened collection finds.
  col.reset();
  db.reset();
  db = std::move(Database::Open(tmp.path())).value();
  col = *db->GetCollection("c");
  EXPECT_EQ(col->Stats().segments, 1u);
  EXPECT_EQ(col->Stats().unindexed_points, 0u);
  EXPECT_GE(Recall(*col, present, 30, 10), 0.95);
}

TEST(QuietTest, WritesPostponeItAndDeletesAreMergedAway) {
  TempDir tmp;
  auto db = std::move(Database::Open(tmp.path())).value();
  CollectionConfig c = SegConfig(16, 100, 1.0);  // no tier merges, no compaction
  c.segments.quiet_seconds = 2;
  auto col = *db->CreateCollection(c);
  std::map<size_t, std::vector<float>> present;
  // A write every 20 ms for 1.5 s: never quiet, so the seals pile up unmerged.
  for (size_t i = 0; i < 75; ++i) {
    ASSERT_TRUE(col->Upsert(PointsFor(i * 2, 2, kDim)).ok());
    present[i * 2] = VectorFor(i * 2, kDim);
    present[i * 2 + 1] = VectorFor(i * 2 + 1, kDim);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(col->Stats().segments_merged, 0u) << "merged while writes were coming";
  std::vector<std::string> gone;
  for (size_t i = 0; i < 150; i += 3) {
    gone.push_back("p" + std::to_string(i));
    present.erase(i);
  }
  ASSERT_TRUE(col->Delete(gone).ok());
  ASSERT_TRUE(WaitFor([&] {
    const CollectionStats st = col->Stats();
    return st.segments == 1 && st.unindexed_points == 0;
  }));
  const CollectionStats st = col->Stats();
  EXPECT_EQ(st.points, present.size());
  EXPECT_EQ(st.deleted_pending, 0u) << "the merge drops what was deleted";
  EXPECT_GE(Recall(*col, present, 20, 10), 0.95);
}

TEST(QuietTest, MergesStopAtTheCapAndTinyTailsStayExact) {
  TempDir tmp;
  auto db = std::move(Database::Open(tmp.path())).value();
  CollectionConfig c = SegConfig(64, 100);
  c.segments.quiet_seconds = 0.2;
  auto col = *db->CreateCollection(c);
  // 68 full segments of 64 (4,352 points; a quiet merge holds at most 64 x 64 = 4,096) and a
  // tail of 1 (under seal_points / 32 = 2: left to the exact scan).
  ASSERT_TRUE(col->Upsert(PointsFor(0, 68 * 64 + 1, kDim)).ok());
  // Smallest first: 64 segments merge into one of 4,096, then the other four into one of 256;
  // those two together are past the cap.
  ASSERT_TRUE(WaitFor([&] { return col->Stats().segments == 3; }))
      << "segments " << col->Stats().segments;
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // three quiet periods more
  const CollectionStats st = col->Stats();
  EXPECT_EQ(st.segments, 3u);  // 4,096 + 256 sealed, and the mutable one with its point
  EXPECT_EQ(st.unindexed_points, 1u);
  EXPECT_EQ(st.points, 68u * 64 + 1);
}

}  // namespace segment_test
}  // namespace sextant
