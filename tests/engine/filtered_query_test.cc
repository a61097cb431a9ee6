// The query planner: filtered k-NN recall@10 against brute force at every selectivity from
// 100% down to 0.1%, compared with an exact scan evaluated by the filter's brute-force twin.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "dataset/vector_file.h"
#include "engine_test_util.h"
#include "sextant/database.h"

namespace sextant {
namespace {

using nlohmann::json;

// The segment layouts the planner must handle: everything exact in the mutable segment; one
// sealed HNSW segment made by merging four; several sealed segments holding tombstones of
// replaced points next to a mutable segment holding their new versions.
enum class Layout { kMutable, kOneSealed, kManySegments };

class FilteredQueryTest : public ::testing::TestWithParam<Layout> {};

TEST_P(FilteredQueryTest, RecallAtEverySelectivity) {
  testing::TempDir tmp;
  const size_t n = 10000, dim = 16, nq = 40, k = 10;
  auto data = dataset::GenerateClustered(n, dim, 30, 0.25f, 7);
  auto queries = dataset::GenerateClustered(nq, dim, 30, 0.25f, 8);
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  CollectionConfig c;
  c.name = "c";
  c.dimension = dim;
  c.hnsw.M = 12;
  c.hnsw.ef_construction = 100;
  c.segments.quiet_seconds = 0;  // each layout is kept as built, however long the test runs
  const Layout layout = GetParam();
  if (layout == Layout::kOneSealed) c.segments.seal_points = 2500;
  if (layout == Layout::kManySegments) {
    c.segments.seal_points = 2000;
    c.segments.merge_factor = 100;
    c.segments.compact_deleted_fraction = 1.0;
  }
  auto col = *(*db)->CreateCollection(c);
  std::vector<Point> points;
  for (size_t i = 0; i < n; ++i) {
    Point p;
    p.id = std::to_string(i);
    p.vector.assign(data.row(i), data.row(i) + dim);
    p.metadata = {{"half", i % 2}, {"quarter", i % 4}, {"b10", i % 10}, {"b100", i % 100},
                  {"b1000", i % 1000}, {"tags", {"t" + std::to_string(i % 3)}}};
    points.push_back(std::move(p));
  }
  for (size_t b = 0; b < n; b += 1000) {
    ASSERT_TRUE(col->Upsert(std::span(points).subspan(b, 1000)).ok());
  }
  if (layout != Layout::kMutable) {
    ASSERT_TRUE(col->Optimize().ok());
  }
  if (layout == Layout::kManySegments) {
    std::vector<Point> again;  // same vectors and metadata: the ground truth does not change
    for (size_t i = 0; i < n; i += 7) again.push_back(points[i]);
    ASSERT_TRUE(col->Upsert(again).ok());
  }
  const CollectionStats stats = col->Stats();
  std::printf("[ layout   ] %zu segments, %zu unindexed, %zu deleted pending\n", stats.segments,
              stats.unindexed_points, stats.deleted_pending);
  switch (layout) {
    case Layout::kMutable:
      EXPECT_EQ(stats.segments, 1u);
      EXPECT_EQ(stats.unindexed_points, n);
      break;
    case Layout::kOneSealed:
      EXPECT_EQ(stats.segments, 1u);
      EXPECT_EQ(stats.unindexed_points, 0u);
      EXPECT_GE(stats.segments_merged, 1u);
      break;
    case Layout::kManySegments:
      EXPECT_EQ(stats.segments, 6u);
      EXPECT_EQ(stats.deleted_pending, (n + 6) / 7);
      EXPECT_EQ(stats.unindexed_points, (n + 6) / 7);
      break;
  }
  struct Case {
    json filter;
    double selectivity;
    std::function<bool(size_t)> accept;
  };
  const std::vector<Case> cases = {
      {json::object(), 1.0, [](size_t) { return true; }},
      {json{{"half", 1}}, 0.5, [](size_t i) { return i % 2 == 1; }},
      {json{{"quarter", {{"$ne", 0}}}, {"tags", {{"$contains", "t1"}}}}, 0.25,
       [](size_t i) { return i % 4 != 0 && i % 3 == 1; }},
      {json{{"$or", {{{"quarter", 2}}, {{"b10", 3}}}}}, 0.3,
       [](size_t i) { return i % 4 == 2 || i % 10 == 3; }},
      {json{{"b10", {{"$in", {4}}}}}, 0.1, [](size_t i) { return i % 10 == 4; }},
      {json{{"b100", {{"$gte", 10}, {"$lt", 15}}}}, 0.05, [](size_t i) { return i % 100 >= 10 && i % 100 < 15; }},
      {json{{"b100", 42}}, 0.01, [](size_t i) { return i % 100 == 42; }},
      {json{{"b1000", 999}}, 0.001, [](size_t i) { return i % 1000 == 999; }},
  };
  for (const Case& cs : cases) {
    EXPECT_NEAR(static_cast<double>(*col->Count(cs.filter)) / n, cs.selectivity, cs.selectivity * 0.2 + 1e-9)
        << cs.filter.dump();
    size_t found_total = 0, truth_total = 0;
    for (size_t q = 0; q < nq; ++q) {
      std::vector<std::pair<float, size_t>> all;
      for (size_t i = 0; i < n; ++i) {
        if (!cs.accept(i)) continue;
        float d = 0;
        for (size_t j = 0; j < dim; ++j) {
          const float x = queries.row(q)[j] - data.row(i)[j];
          d += x * x;
        }
        all.push_back({d, i});
      }
      std::partial_sort(all.begin(), all.begin() + std::min(k, all.size()), all.end());
      std::unordered_set<std::string> truth;
      for (size_t j = 0; j < std::min(k, all.size()); ++j) truth.insert(std::to_string(all[j].second));
      QueryRequest req;
      req.vector.assign(queries.row(q), queries.row(q) + dim);
      req.k = k;
      // The queries come from other cluster centres than the data (seed 8, not 7): off the
      // data's distribution, where the default beam (128) reaches recall 0.950-0.955 on the
      // merged graph and a run under TSan fell just below 0.95. The planner is what this test
      // checks, so it asks for a beam that leaves a margin (0.995).
      req.ef = 256;
      if (!cs.filter.empty()) req.filter = cs.filter;
      auto hits = col->Query(req);
      ASSERT_TRUE(hits.ok()) << hits.status().ToString();
      size_t found = 0;
      for (const auto& h : *hits) {
        ASSERT_TRUE(cs.accept(std::stoul(h.id))) << "a hit fails the filter " << cs.filter.dump();
        found += truth.count(h.id);
      }
      found_total += found;
      truth_total += truth.size();
    }
    const double recall = static_cast<double>(found_total) / static_cast<double>(truth_total);
    std::printf("[ recall   ] selectivity %6.2f%%  recall@10 %.3f  filter %s\n", 100 * cs.selectivity,
                recall, cs.filter.dump().c_str());
    EXPECT_GE(recall, 0.95) << "selectivity " << cs.selectivity << " filter " << cs.filter.dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, FilteredQueryTest,
                         ::testing::Values(Layout::kMutable, Layout::kOneSealed, Layout::kManySegments),
                         [](const auto& info) {
                           switch (info.param) {
                             case Layout::kMutable: return "Mutable";
                             case Layout::kOneSealed: return "OneSealed";
                             case Layout::kManySegments: return "ManySegments";
                           }
                           return "";
                         });

}  // namespace
}  // namespace sextant
