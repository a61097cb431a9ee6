// Every segment kind behind the engine::Segment interface (flat mutable and frozen, HNSW
// graph, trained IVF/SQ8/HNSW-SQ8 with their full vectors) answers the same queries as the
// brute-force twin: exact scans exactly, index searches with high recall; tombstones and
// filters are never returned; vectors, files and reopening behave alike.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine_test_util.h"
#include "segment_kinds_test.h"

namespace sextant::engine {
namespace segment_kinds_test {  // named: the test programs are unity builds (tests/CMakeLists.txt)

using namespace sextant::engine::testing;  // NOLINT
using sextant::testing::TempDir;

constexpr size_t kDim = 16;
constexpr size_t kN = 3000;
constexpr size_t kK = 10;
constexpr size_t kQueries = 20;

enum class Kind { kFlatMutable, kFlatFrozen, kGraph, kIvfFlat, kSq8, kHnswSq8 };

std::string KindName(Kind k) {
  switch (k) {
    case Kind::kFlatMutable: return "FlatMutable";
    case Kind::kFlatFrozen: return "FlatFrozen";
    case Kind::kGraph: return "Graph";
    case Kind::kIvfFlat: return "IvfFlat";
    case Kind::kSq8: return "Sq8";
    case Kind::kHnswSq8: return "HnswSq8";
  }
  return "?";
}

bool Sealed(Kind k) { return k != Kind::kFlatMutable && k != Kind::kFlatFrozen; }
bool ExactIndex(Kind k) { return !Sealed(k); }

index::IndexSpec SpecFor(Kind k) {
  index::IndexSpec spec;
  spec.metric = index::Metric::kL2;
  spec.type = k == Kind::kIvfFlat ? "ivf-flat" : k == Kind::kSq8 ? "sq8" : "hnsw-sq8";
  spec.nlist = 16;
  spec.hnsw_M = 12;
  spec.ef_construction = 100;
  return spec;
}

class SegmentKindsTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.path());
    rows_ = RandomRows(kN, kDim, 7);
    queries_ = RandomRows(kQueries, kDim, 99);
    segment_ = Make();
    ASSERT_NE(segment_, nullptr);
  }

  std::unique_ptr<Segment> Make() {
    const Kind kind = GetParam();
    std::unique_ptr<Segment> seg;
    if (!Sealed(kind)) {
      auto flat = FlatSegment::Create(1, kDim, index::Metric::kL2);
      EXPECT_TRUE(flat.ok());
      for (uint64_t label : rows_.labels) EXPECT_TRUE((*flat)->Add(label, rows_.row(label)).ok());
      if (kind == Kind::kFlatFrozen) (*flat)->Freeze();
      return std::move(flat).value();
    }
    if (kind == Kind::kGraph) {
      index::HnswOptions o;
      o.M = 12;
      o.ef_construction = 100;
      auto graph = index::HnswIndex::Create(kDim, o);
      EXPECT_TRUE(graph.ok());
      EXPECT_TRUE((*graph)->AddBatch(rows_.data, rows_.labels).ok());
      auto g = GraphSegment::Write(7, std::move(graph).value(), dir_.path(), nullptr);
      EXPECT_TRUE(g.ok()) << g.status().ToString();
      seg = std::move(g).value();
    } else {
      auto t = TrainedSegment::Build(7, kDim, SpecFor(kind), rows_.data, rows_.labels, dir_.path(), nullptr,
                                     ExactCodec(kDim));
      EXPECT_TRUE(t.ok()) << t.status().ToString();
      seg = std::move(t).value();
    }
    EXPECT_TRUE(AttachLive(*seg, seg->file(), AllOf(kN)).ok());
    return seg;
  }

  QueryHolder Query(size_t i) const {
    // A beam and a re-rank depth that give the approximate kinds a high recall.
    return QueryHolder(queries_.row(i), 128, 8, 100);
  }

  TempDir dir_;
  Rows rows_, queries_;
  std::unique_ptr<Segment> segment_;
};

TEST_P(SegmentKindsTest, ExactScanIsTheBruteForceAnswer) {
  std::mt19937 rng(3);
  for (double share : {1.0, 0.6, 0.1, 0.002}) {
    roaring::Roaring subset;
    std::bernoulli_distribution keep(share);
    for (uint64_t x = 0; x < kN; ++x) {
      if (keep(rng)) subset.add(static_cast<uint32_t>(x));
    }
    for (size_t i = 0; i < kQueries; ++i) {
      QueryHolder q = Query(i);
      auto hits = segment_->SearchExact(q.query, kK, subset);
      ASSERT_TRUE(hits.ok()) << hits.status().ToString();
      EXPECT_EQ(LabelsOf(*hits), BruteForce(rows_, q.q, kK, subset)) << "share " << share;
      for (const auto& h : *hits) EXPECT_NEAR(h.distance, SquaredL2(q.q, rows_.row(h.label)), 1e-3);
    }
  }
}

TEST_P(SegmentKindsTest, SearchMatchesBruteForce) {
  double recall = 0;
  for (size_t i = 0; i < kQueries; ++i) {
    QueryHolder q = Query(i);
    auto hits = segment_->Search(q.query, kK, nullptr);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    ASSERT_EQ(hits->size(), kK);
    const auto want = BruteForce(rows_, q.q, kK, AllOf(kN));
    if (ExactIndex(GetParam())) {
      EXPECT_EQ(LabelsOf(*hits), want);
    }
    recall += Recall(LabelsOf(*hits), want);
    EXPECT_TRUE(std::is_sorted(hits->begin(), hits->end(),
                               [](const auto& a, const auto& b) { return a.distance < b.distance; }));
  }
  EXPECT_GE(recall / kQueries, 0.9);
}

TEST_P(SegmentKindsTest, FilteredSearchReturnsOnlyPassingPoints) {
  std::mt19937 rng(5);
  // 1% and 25% pass: the planner scans them exactly; 90%: a filtered index search.
  for (double share : {0.01, 0.25, 0.9}) {
    roaring::Roaring pass;
    std::bernoulli_distribution keep(share);
    for (uint64_t x = 0; x < kN; ++x) {
      if (keep(rng)) pass.add(static_cast<uint32_t>(x));
    }
    const bool exact = ExactIndex(GetParam()) || pass.cardinality() <= FilterPlanner::kExactScanMinPoints;
    double recall = 0;
    for (size_t i = 0; i < kQueries; ++i) {
      QueryHolder q = Query(i);
      auto hits = segment_->Search(q.query, kK, &pass);
      ASSERT_TRUE(hits.ok()) << hits.status().ToString();
      for (const auto& h : *hits) ASSERT_TRUE(pass.contains(static_cast<uint32_t>(h.label)));
      const auto want = BruteForce(rows_, q.q, kK, pass);
      if (exact) {
        EXPECT_EQ(LabelsOf(*hits), want) << "share " << share;
      }
      recall += Recall(LabelsOf(*hits), want);
    }
    EXPECT_GE(recall / kQueries, 0.9) << "share " << share;
  }
  roaring::Roaring none;
  none.add(kN + 5);  // not in the segment
  auto hits = segment_->Search(Query(0).query, kK, &none);
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
}

TEST_P(SegmentKindsTest, RemovedPointsAreNeverReturned) {
  std::vector<uint64_t> gone;
  for (uint64_t x = 0; x < kN; x += 5) gone.push_back(x);
  gone.push_back(kN + 1);  // not here: ignored
  const size_t held_before = segment_->held();
  EXPECT_EQ(segment_->Remove(gone), gone.size() - 1);
  EXPECT_EQ(segment_->Remove(gone), 0u);  // already gone
  EXPECT_EQ(segment_->live_count(), kN - (gone.size() - 1));
  if (GetParam() == Kind::kFlatMutable) {
    EXPECT_EQ(segment_->deleted_count(), 0u);  // really removed
    EXPECT_EQ(segment_->held(), held_before - (gone.size() - 1));
  } else {
    EXPECT_EQ(segment_->deleted_count(), gone.size() - 1);  // tombstones
    EXPECT_EQ(segment_->held(), held_before);
  }
  roaring::Roaring live = segment_->live();
  double recall = 0;
  for (size_t i = 0; i < kQueries; ++i) {
    QueryHolder q = Query(i);
    auto hits = segment_->Search(q.query, kK, nullptr);
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), kK);
    for (const auto& h : *hits) ASSERT_TRUE(live.contains(static_cast<uint32_t>(h.label)));
    const auto want = BruteForce(rows_, q.q, kK, live);
    if (ExactIndex(GetParam())) {
      EXPECT_EQ(LabelsOf(*hits), want);
    }
    recall += Recall(LabelsOf(*hits), want);
  }
  EXPECT_GE(recall / kQueries, 0.9);
}

TEST_P(SegmentKindsTest, VectorsMemoryAndState) {
  for (uint64_t label : {uint64_t{0}, uint64_t{17}, uint64_t{kN - 1}}) {
    auto v = segment_->GetVector(label);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    ASSERT_EQ(v->size(), kDim);
    for (size_t d = 0; d < kDim; ++d) EXPECT_FLOAT_EQ((*v)[d], rows_.row(label)[d]);
  }
  EXPECT_EQ(segment_->GetVector(kN + 3).status().code(), StatusCode::kNotFound);
  EXPECT_GT(segment_->IndexMemoryUsage(), 0u);
  EXPECT_GT(segment_->MemoryUsage(), segment_->IndexMemoryUsage());
  EXPECT_EQ(segment_->held(), kN);
  auto held = segment_->HeldLabels();
  std::sort(held.begin(), held.end());
  EXPECT_EQ(held, rows_.labels);
  const std::vector<float> v(kDim, 0.5f);
  const Status add = segment_->Add(kN + 10, v);
  if (GetParam() == Kind::kFlatMutable) {
    EXPECT_TRUE(add.ok());
    EXPECT_TRUE(segment_->Contains(kN + 10));
    EXPECT_EQ(segment_->Add(kN + 10, v).code(), StatusCode::kAlreadyExists);
  } else {
    EXPECT_EQ(add.code(), StatusCode::kFailedPrecondition);  // immutable
    EXPECT_FALSE(segment_->Contains(kN + 10));
  }
  const Segment::Kind want = !Sealed(GetParam())          ? Segment::Kind::kFlat
                             : GetParam() == Kind::kGraph ? Segment::Kind::kGraph
                                                          : Segment::Kind::kTrained;
  EXPECT_EQ(segment_->kind(), want);
}

TEST_P(SegmentKindsTest, SealedFilesReopenWithTheSameAnswers) {
  if (!Sealed(GetParam())) {
    EXPECT_TRUE(segment_->file().empty());  // its vectors live in the log and checkpoint
    return;
  }
  EXPECT_EQ(segment_->state(), Segment::State::kSealed);
  EXPECT_EQ(segment_->id(), 7u);
  ASSERT_FALSE(segment_->file().empty());
  EXPECT_TRUE(std::filesystem::exists(dir_.sub(segment_->file())));
  if (GetParam() == Kind::kGraph) {
    EXPECT_EQ(segment_->file(), "seg-000000000007.hnsw");
    EXPECT_TRUE(segment_->vectors_file().empty());
  } else {
    EXPECT_EQ(segment_->file(), "seg-000000000007.idx");
    EXPECT_EQ(segment_->vectors_file(), "seg-000000000007.vec");
    EXPECT_TRUE(std::filesystem::exists(dir_.sub(segment_->vectors_file())));
  }
  std::vector<uint64_t> gone = {1, 2, 3, 500};
  segment_->Remove(gone);
  roaring::Roaring live = segment_->live();
  std::unique_ptr<Segment> again;
  if (GetParam() == Kind::kGraph) {
    auto g = GraphSegment::Open(7, dir_.path(), segment_->file(), kDim, index::Metric::kL2);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    again = std::move(g).value();
    EXPECT_EQ(GraphSegment::Open(7, dir_.path(), segment_->file(), kDim + 1, index::Metric::kL2).status().code(),
              StatusCode::kCorruption);
  } else {
    auto t = TrainedSegment::Open(7, dir_.path(), segment_->file(), segment_->vectors_file(), ExactCodec(kDim));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    again = std::move(t).value();
    EXPECT_EQ(TrainedSegment::Open(7, dir_.path(), segment_->file(), segment_->vectors_file(), ExactCodec(kDim + 1))
                  .status()
                  .code(),
              StatusCode::kCorruption);
  }
  ASSERT_TRUE(AttachLive(*again, segment_->file(), live).ok());
  EXPECT_EQ(again->deleted_count(), gone.size());
  roaring::Roaring stranger = live;
  stranger.add(kN + 1);  // a live label the file lacks
  EXPECT_EQ(AttachLive(*again, segment_->file(), stranger).code(), StatusCode::kCorruption);
  ASSERT_TRUE(AttachLive(*again, segment_->file(), live).ok());
  for (size_t i = 0; i < kQueries; ++i) {
    QueryHolder q = Query(i);
    auto a = segment_->Search(q.query, kK, nullptr);
    auto b = again->Search(q.query, kK, nullptr);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b);
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, SegmentKindsTest,
                         ::testing::Values(Kind::kFlatMutable, Kind::kFlatFrozen, Kind::kGraph, Kind::kIvfFlat,
                                           Kind::kSq8, Kind::kHnswSq8),
                         [](const auto& info) { return KindName(info.param); });

}  // namespace segment_kinds_test
}  // namespace sextant::engine
