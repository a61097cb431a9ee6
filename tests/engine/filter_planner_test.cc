// The filter planner: its choice of plan at the boundaries, how it carries a plan out (a fake
// segment records which primitive ran, with which beam and filter), and its answers against
// brute force on a real graph segment at every selectivity.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine_test_util.h"
#include "segment_kinds_test.h"

namespace sextant::engine {
namespace {

using namespace sextant::engine::testing;  // NOLINT
using Strategy = FilterPlanner::Strategy;

TEST(FilterPlannerTest, ChoosesByHowManyMayBeReturned) {
  constexpr size_t kMin = FilterPlanner::kExactScanMinPoints;
  // Nothing excluded: the index as it is, whatever the sizes.
  EXPECT_EQ(FilterPlanner::Choose(10, 10, false, false).strategy, Strategy::kIndex);
  EXPECT_EQ(FilterPlanner::Choose(1'000'000, 1'000'000, false, true).strategy, Strategy::kIndex);
  // An exact index is scanned over the candidates however many there are.
  EXPECT_EQ(FilterPlanner::Choose(900'000, 1'000'000, true, true).strategy, Strategy::kExactScan);
  // Few candidates: at most kExactScanMinPoints, or kExactScanFraction of what the index holds.
  EXPECT_EQ(FilterPlanner::Choose(kMin, 1'000'000, true, false).strategy, Strategy::kExactScan);
  EXPECT_EQ(FilterPlanner::Choose(kMin + 1, 10'000, true, false).strategy, Strategy::kFilteredIndex);
  EXPECT_EQ(FilterPlanner::Choose(30'000, 1'000'000, true, false).strategy, Strategy::kExactScan);
  EXPECT_EQ(FilterPlanner::Choose(30'001, 1'000'000, true, false).strategy, Strategy::kFilteredIndex);
  // The beam widens as the candidates get rarer, at most 8x.
  EXPECT_EQ(FilterPlanner::Choose(9'000, 10'000, true, false).ef_boost, 2u);
  EXPECT_EQ(FilterPlanner::Choose(5'000, 10'000, true, false).ef_boost, 2u);
  EXPECT_EQ(FilterPlanner::Choose(4'999, 10'000, true, false).ef_boost, 3u);
  EXPECT_EQ(FilterPlanner::Choose(40'000, 1'000'000, true, false).ef_boost, 8u);
  EXPECT_EQ(FilterPlanner::Choose(10'000, 10'000, true, false).ef_boost, 1u);  // tombstones only
}

// A segment whose index search is brute force over what `filter` accepts, cut to `limit`
// hits (an index walk that comes up short), and which records the calls the planner made.
class FakeSegment final : public Segment {
 public:
  FakeSegment(const Rows& rows, const roaring::Roaring& live, bool exact)
      : Segment(1, State::kSealed), rows_(rows), exact_(exact) {
    roaring::Roaring all = AllOf(rows.labels.size());
    SetLive(live, all - live);
  }
  Kind kind() const override { return Kind::kGraph; }
  bool exact_index() const override { return exact_; }
  size_t held() const override { return rows_.labels.size(); }
  std::vector<uint64_t> HeldLabels() const override { return rows_.labels; }
  Result<std::vector<index::SearchHit>> SearchIndex(const SegmentQuery& q, size_t k, size_t ef,
                                                    const index::SearchFilter* filter) const override {
    ++index_calls;
    last_ef = ef;
    last_filter = filter != nullptr;
    roaring::Roaring accepted;
    for (uint64_t x : rows_.labels) {
      if (filter == nullptr || filter->Accept(x)) accepted.add(static_cast<uint32_t>(x));
    }
    return Hits(q, std::min(k, limit), accepted);
  }
  Result<std::vector<index::SearchHit>> SearchExact(const SegmentQuery& q, size_t k,
                                                    const roaring::Roaring& labels) const override {
    ++exact_calls;
    last_exact_count = labels.cardinality();
    return Hits(q, k, labels);
  }
  Result<std::vector<float>> GetVector(uint64_t label) const override {
    auto r = rows_.row(label);
    return std::vector<float>(r.begin(), r.end());
  }
  size_t IndexMemoryUsage() const override { return 0; }

  size_t limit = SIZE_MAX;
  mutable size_t index_calls = 0, exact_calls = 0, last_ef = 0, last_exact_count = 0;
  mutable bool last_filter = false;

 private:
  std::vector<index::SearchHit> Hits(const SegmentQuery& q, size_t k, const roaring::Roaring& labels) const {
    std::vector<index::SearchHit> hits;
    for (uint64_t x : BruteForce(rows_, q.vector, k, labels)) hits.push_back({x, SquaredL2(q.vector, rows_.row(x))});
    return hits;
  }
  const Rows& rows_;
  bool exact_;
};

TEST(FilterPlannerTest, CarriesOutThePlan) {
  const Rows rows = RandomRows(10'000, 8, 1);
  const Rows queries = RandomRows(1, 8, 2);
  QueryHolder q(queries.row(0), 50, 8, 0);
  roaring::Roaring live = AllOf(10'000);
  {
    FakeSegment s(rows, live, false);  // nothing excluded
    auto hits = FilterPlanner::Search(s, q.query, 10, nullptr);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ(LabelsOf(*hits), BruteForce(rows, q.q, 10, live));
    EXPECT_EQ(s.index_calls, 1u);
    EXPECT_EQ(s.exact_calls, 0u);
    EXPECT_EQ(s.last_ef, 50u);
    EXPECT_FALSE(s.last_filter);
  }
  roaring::Roaring pass;
  for (uint32_t x = 0; x < 10'000; x += 3) pass.add(x);  // 3334 pass: a filtered walk
  {
    FakeSegment s(rows, live, false);
    auto hits = FilterPlanner::Search(s, q.query, 10, &pass);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ(LabelsOf(*hits), BruteForce(rows, q.q, 10, pass));
    EXPECT_EQ(s.index_calls, 1u);
    EXPECT_EQ(s.exact_calls, 0u);
    EXPECT_EQ(s.last_ef, 50u * 3);  // 1/3 pass: a 3x beam
    EXPECT_TRUE(s.last_filter);
  }
  {
    FakeSegment s(rows, live, false);
    s.limit = 4;  // the walk comes up short: the exact scan answers
    auto hits = FilterPlanner::Search(s, q.query, 10, &pass);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ(LabelsOf(*hits), BruteForce(rows, q.q, 10, pass));
    EXPECT_EQ(s.index_calls, 1u);
    EXPECT_EQ(s.exact_calls, 1u);
    EXPECT_EQ(s.last_exact_count, pass.cardinality());
  }
  {
    roaring::Roaring some = live - pass;  // tombstones only: restricted, many candidates
    FakeSegment s(rows, some, false);
    auto hits = FilterPlanner::Search(s, q.query, 10, nullptr);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ(LabelsOf(*hits), BruteForce(rows, q.q, 10, some));
    EXPECT_TRUE(s.last_filter);
    EXPECT_EQ(s.exact_calls, 0u);
  }
  {
    roaring::Roaring few;
    for (uint32_t x = 0; x < 10'000; x += 100) few.add(x);
    FakeSegment s(rows, live, false);
    auto hits = FilterPlanner::Search(s, q.query, 10, &few);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ(LabelsOf(*hits), BruteForce(rows, q.q, 10, few));
    EXPECT_EQ(s.index_calls, 0u);
    EXPECT_EQ(s.exact_calls, 1u);
    EXPECT_EQ(s.last_exact_count, 100u);
  }
  {
    FakeSegment s(rows, live, true);  // an exact index: scanned over the candidates
    auto hits = FilterPlanner::Search(s, q.query, 10, &pass);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ(LabelsOf(*hits), BruteForce(rows, q.q, 10, pass));
    EXPECT_EQ(s.index_calls, 0u);
    EXPECT_EQ(s.exact_calls, 1u);
  }
  {
    // The filter and the live points do not meet; an empty segment: no call at all.
    roaring::Roaring outside;
    outside.add(20'000);
    FakeSegment s(rows, live, false);
    auto hits = FilterPlanner::Search(s, q.query, 10, &outside);
    ASSERT_TRUE(hits.ok());
    EXPECT_TRUE(hits->empty());
    FakeSegment empty(rows, roaring::Roaring(), false);
    hits = FilterPlanner::Search(empty, q.query, 10, nullptr);
    ASSERT_TRUE(hits.ok());
    EXPECT_TRUE(hits->empty());
    EXPECT_EQ(s.index_calls + s.exact_calls + empty.index_calls + empty.exact_calls, 0u);
  }
}

// A real graph segment, filters of every selectivity, with tombstones: the answers of the
// exact plans are the brute-force answers; those of the filtered walk are close to them.
TEST(FilterPlannerTest, GraphSegmentAgainstBruteForce) {
  constexpr size_t kN = 8000, kDim = 16, kK = 10;
  const Rows rows = RandomRows(kN, kDim, 11);
  const Rows queries = RandomRows(30, kDim, 12);
  sextant::testing::TempDir dir;
  std::filesystem::create_directories(dir.path());
  index::HnswOptions o;
  o.M = 12;
  o.ef_construction = 100;
  auto graph = index::HnswIndex::Create(kDim, o);
  ASSERT_TRUE(graph.ok());
  ASSERT_TRUE((*graph)->AddBatch(rows.data, rows.labels).ok());
  auto seg = GraphSegment::Write(3, std::move(graph).value(), dir.path(), nullptr);
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  ASSERT_TRUE(AttachLive(**seg, "graph", AllOf(kN)).ok());
  std::vector<uint64_t> gone;
  for (uint64_t x = 0; x < kN; x += 11) gone.push_back(x);
  (*seg)->Remove(gone);
  const roaring::Roaring live = (*seg)->live();
  std::mt19937 rng(4);
  for (double share : {0.0005, 0.01, 0.2, 0.3, 0.5, 0.9, 1.0}) {
    roaring::Roaring pass;
    std::bernoulli_distribution keep(share);
    for (uint32_t x = 0; x < kN; ++x) {
      if (keep(rng)) pass.add(x);
    }
    const roaring::Roaring allowed = pass & live;
    const auto plan = FilterPlanner::Choose(allowed.cardinality(), (*seg)->held(), true, false);
    double recall = 0;
    for (size_t i = 0; i < queries.labels.size(); ++i) {
      QueryHolder q(queries.row(i), 64, 8, 0);
      auto hits = FilterPlanner::Search(**seg, q.query, kK, &pass);
      ASSERT_TRUE(hits.ok()) << hits.status().ToString();
      EXPECT_EQ(hits->size(), std::min<size_t>(kK, allowed.cardinality()));
      for (const auto& h : *hits) ASSERT_TRUE(allowed.contains(static_cast<uint32_t>(h.label)));
      const auto want = BruteForce(rows, q.q, kK, allowed);
      if (plan.strategy == Strategy::kExactScan) {
        EXPECT_EQ(LabelsOf(*hits), want) << "share " << share;
      }
      recall += Recall(LabelsOf(*hits), want);
    }
    EXPECT_GE(recall / static_cast<double>(queries.labels.size()), 0.9) << "share " << share;
  }
}

}  // namespace
}  // namespace sextant::engine
