#include "index/hnsw_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "dataset/vector_file.h"
#include "index/binary_screen.h"
#include "index/vector_codec.h"
#include "hnsw_file_util.h"
#include "sanitized.h"
#include "test_util.h"

namespace sextant::index {
namespace hnsw_index_test {  // named: the test programs are unity builds (tests/CMakeLists.txt)

using sextant::testing::BruteForceTopK;
using sextant::testing::Overlap;

using sextant::testing::Iota;
using sextant::testing::RewriteHnswFile;

std::vector<float> Clustered(size_t n, size_t dim, uint64_t seed) {
  return dataset::GenerateClustered(n, dim, 20, 0.3f, seed).data;
}

std::unique_ptr<HnswIndex> Build(const std::vector<float>& base, size_t dim, HnswOptions opt,
                                 size_t threads = 1) {
  auto ix = HnswIndex::Create(dim, opt);
  EXPECT_TRUE(ix.ok()) << ix.status().ToString();
  Status st = (*ix)->AddBatch(base, Iota(base.size() / dim), threads);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return std::move(ix).value();
}

// The exact top-k labels of every query among the accepted base points.
template <typename Accept>
std::vector<std::vector<uint64_t>> BruteForceTruth(Metric m, const std::vector<float>& base,
                                                   const std::vector<float>& queries, size_t dim,
                                                   size_t k, Accept&& accept) {
  std::vector<std::vector<uint64_t>> truth;
  for (size_t q = 0; q < queries.size() / dim; ++q) {
    truth.push_back(BruteForceTopK(m, base, dim, &queries[q * dim], k, accept));
  }
  return truth;
}

// Mean recall@k of the index over the queries against `truth` (BruteForceTruth: computed once
// where several indexes or efs are measured on the same queries).
template <typename Accept>
double RecallAgainst(const HnswIndex& ix, const std::vector<std::vector<uint64_t>>& truth,
                     const std::vector<float>& queries, size_t dim, size_t k, size_t ef,
                     Accept&& accept, const SearchFilter* filter = nullptr) {
  double total = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    auto got = ix.Search({&queries[q * dim], dim}, k, ef, filter);
    EXPECT_TRUE(got.ok());
    for (const auto& h : *got) EXPECT_TRUE(accept(h.label)) << "returned a filtered label";
    total += Overlap(*got, truth[q]);
  }
  return total / static_cast<double>(truth.size());
}

// Mean recall@k of the index against brute force over every query.
template <typename Accept>
double MeasureRecall(const HnswIndex& ix, Metric m, const std::vector<float>& base,
                     const std::vector<float>& queries, size_t dim, size_t k, size_t ef,
                     Accept&& accept, const SearchFilter* filter = nullptr) {
  return RecallAgainst(ix, BruteForceTruth(m, base, queries, dim, k, accept), queries, dim, k, ef,
                       accept, filter);
}

constexpr auto kAll = [](size_t) { return true; };

struct Config {
  Metric metric;
  StorageType storage;
};

class HnswRecallTest : public ::testing::TestWithParam<Config> {};

TEST_P(HnswRecallTest, MatchesBruteForce) {
  const Config c = GetParam();
  const size_t dim = 24, n = 3000;
  std::vector<float> base, queries;
  if (c.storage == StorageType::kUint8) {
    base = sextant::testing::RandomByteVectors(n, dim, 1);
    queries = sextant::testing::RandomByteVectors(50, dim, 2);
  } else {
    base = Clustered(n, dim, 1);
    queries = Clustered(50, dim, 2);
  }
  HnswOptions opt;
  opt.metric = c.metric;
  opt.storage = c.storage;
  opt.M = 12;
  opt.ef_construction = 100;
  auto ix = Build(base, dim, opt);
  ASSERT_TRUE(ix->CheckIntegrity().ok()) << ix->CheckIntegrity().ToString();
  EXPECT_EQ(ix->size(), n);
  // Inner product is not a metric (a point need not be its own nearest neighbour), so graph
  // search needs a wider beam for the same recall.
  const size_t ef = c.metric == Metric::kInnerProduct ? 400 : 100;
  const double recall = MeasureRecall(*ix, c.metric, base, queries, dim, 10, ef, kAll);
  const double want = c.metric == Metric::kInnerProduct ? 0.9
                      : c.storage == StorageType::kFloat16 ? 0.93 : 0.95;
  EXPECT_GE(recall, want)
      << MetricName(c.metric) << "/" << StorageTypeName(c.storage);
  if (c.storage == StorageType::kSq8F32) {
    // The walk is on SQ8 codes but what comes back is ranked by, and reports, exact distances:
    // each hit's distance is the brute-force distance of that label, and vectors read back
    // are the exact ones stored (normalised for cosine).
    auto f32 = VectorCodec::Create(dim, c.metric, StorageType::kFloat32);
    ASSERT_TRUE(f32.ok());
    std::vector<float> pq(dim), row(dim);
    for (size_t q = 0; q < 10; ++q) {
      auto hits = ix->Search({&queries[q * dim], dim}, 10, ef);
      ASSERT_TRUE(hits.ok());
      f32->PrepareExactQuery(&queries[q * dim], pq.data());
      for (size_t i = 0; i < hits->size(); ++i) {
        const auto& h = (*hits)[i];
        ASSERT_TRUE(f32->Encode(&base[h.label * dim], reinterpret_cast<uint8_t*>(row.data())).ok());
        EXPECT_FLOAT_EQ(h.distance, f32->QueryDistance(reinterpret_cast<const uint8_t*>(pq.data()),
                                                       reinterpret_cast<const uint8_t*>(row.data())));
        if (i > 0) {
          EXPECT_LE((*hits)[i - 1].distance, h.distance);
        }
      }
    }
    for (uint64_t label : {0, 17, 2999}) {
      auto v = ix->GetVector(label);
      ASSERT_TRUE(v.ok());
      ASSERT_TRUE(f32->Encode(&base[label * dim], reinterpret_cast<uint8_t*>(row.data())).ok());
      EXPECT_EQ(*v, row);
    }
  }
}

// sq8-f32 learns its SQ8 parameters from the points: a graph grown one point at a time whose
// values widen as it grows (the first points span a tiny range) is retrained as it doubles,
// so the walk keeps finding the true neighbours.
TEST(HnswIndexTest, Sq8F32RetrainsAsItGrows) {
  const size_t dim = 16, n = 2000;
  auto base = Clustered(n, dim, 21);
  for (size_t i = 0; i < 40; ++i) {  // the first points: nearly identical
    for (size_t d = 0; d < dim; ++d) base[i * dim + d] = 0.01f * base[i * dim + d];
  }
  auto queries = Clustered(40, dim, 22);
  HnswOptions opt;
  opt.storage = StorageType::kSq8F32;
  opt.M = 12;
  opt.ef_construction = 100;
  auto made = HnswIndex::Create(dim, opt);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  auto ix = std::move(made).value();
  for (size_t i = 0; i < n; ++i) ASSERT_TRUE(ix->Add(i, {&base[i * dim], dim}).ok());
  ASSERT_TRUE(ix->CheckIntegrity().ok());
  EXPECT_GE(MeasureRecall(*ix, Metric::kL2, base, queries, dim, 10, 100, kAll), 0.95);
  // A bad row leaves it unchanged, retraining or not.
  std::vector<float> bad(dim * 3, 1.0f);
  bad[dim + 2] = NAN;
  EXPECT_EQ(ix->AddBatch(bad, std::vector<uint64_t>{5000, 5001, 5002}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ix->size(), n);
}

INSTANTIATE_TEST_SUITE_P(
    MetricsAndStorage, HnswRecallTest,
    ::testing::Values(Config{Metric::kL2, StorageType::kFloat32},
                      Config{Metric::kInnerProduct, StorageType::kFloat32},
                      Config{Metric::kCosine, StorageType::kFloat32},
                      Config{Metric::kL1, StorageType::kFloat32},
                      Config{Metric::kL2, StorageType::kFloat16},
                      Config{Metric::kCosine, StorageType::kFloat16},
                      Config{Metric::kL2, StorageType::kUint8},
                      Config{Metric::kInnerProduct, StorageType::kUint8},
                      Config{Metric::kCosine, StorageType::kUint8},
                      Config{Metric::kL2, StorageType::kSq8F32},
                      Config{Metric::kInnerProduct, StorageType::kSq8F32},
                      Config{Metric::kCosine, StorageType::kSq8F32}),
    [](const auto& info) {
      std::string name = std::string(MetricName(info.param.metric)) + "_" +
                         StorageTypeName(info.param.storage);
      std::replace(name.begin(), name.end(), '-', '_');  // sq8-f32: test names allow no '-'
      return name;
    });

TEST(HnswIndexTest, ConcurrentInsertionBuildsAGoodGraph) {
  const size_t dim = 16, n = 4000;
  auto base = Clustered(n, dim, 3);
  auto queries = Clustered(200, dim, 4);
  HnswOptions opt;
  opt.M = 8;
  opt.ef_construction = 80;
  auto serial = Build(base, dim, opt, /*threads=*/1);
  auto ix = Build(base, dim, opt, /*threads=*/4);
  EXPECT_EQ(ix->size(), n);
  ASSERT_TRUE(ix->CheckIntegrity().ok()) << ix->CheckIntegrity().ToString();
  // Concurrent inserts can orphan points or whole clusters; the batch ends by reconnecting them.
  EXPECT_EQ(ix->CountUnreachable(), 0u);
  // Thread timing changes the graph, so the bound is relative: as good as a serial build,
  // within a margin (300 runs on 2 cores: mean 0.004 below it, worst 0.023 below).
  const double want = MeasureRecall(*serial, Metric::kL2, base, queries, dim, 10, 80, kAll);
  const double got = MeasureRecall(*ix, Metric::kL2, base, queries, dim, 10, 80, kAll);
  EXPECT_GE(want, 0.93);
  EXPECT_GE(got, want - 0.04);
  if (getenv("SEXTANT_DEBUG_RECALL")) fprintf(stderr, "R %.4f %.4f\n", want, got);
}

// A point inserted concurrently must be linked where walks go: its level-0 list is written
// before any walk can reach it (through its upper levels), so no concurrent insert lands on an
// empty list and links itself there alone. Before that, 512 32-d uniform points on 4 threads
// left a few points per graph in small cliques that a search for them never entered.
// No reconnection pass here: the inserts alone must give every point its place. (Under
// sanitizers 6 graphs: the old order missed about one point per graph.)
// At most one miss is allowed: with the threads preempted for long stretches (four busy loops
// beside the test on two cores), an insert paused between finding its neighbours and linking
// can link into lists pruned since, and one point of the 12,288 is missed in about one run of
// a hundred (3 of 330 runs at 796141d and 2ac8806 together; once in a CI run). That race is
// what the reconnection pass, on in every real batch, repairs; the linking bug this test
// guards against missed 22-64 points a run.
TEST(HnswIndexTest, ConcurrentInsertsLeaveEveryPointFindableByItsOwnVector) {
  const size_t dim = 32, n = 512, graphs = sextant::testing::kSanitized ? 6 : 24;
  HnswOptions opt;
  opt.M = 16;
  opt.ef_construction = 100;
  opt.storage = StorageType::kSq8F32;
  size_t missed = 0;
  for (uint64_t seed = 0; seed < graphs; ++seed) {
    const auto base = sextant::testing::RandomVectors(n, dim, 1000 + seed);
    auto ix = HnswIndex::Create(dim, opt);
    ASSERT_TRUE(ix.ok());
    ASSERT_TRUE((*ix)->AddBatch(base, Iota(n), /*threads=*/4, nullptr, /*reconnect=*/false).ok());
    for (size_t i = 0; i < n; ++i) {
      auto hits = (*ix)->Search({&base[i * dim], dim}, 1, 64);
      ASSERT_TRUE(hits.ok());
      if ((*hits)[0].label != i) ++missed;
    }
  }
  EXPECT_LE(missed, 1u) << "points of " << graphs << " graphs not found by their own vectors";
}

// After a batch and after removals every point has at least two level-0 in-links: a point
// linked only from a node far from it is found only by walks that happen to pass that node.
TEST(HnswIndexTest, BatchesAndRemovalsLeaveNoPointWithASingleInLink) {
  const size_t dim = 32, n = 4000;
  HnswOptions opt;
  opt.M = 16;
  opt.ef_construction = 100;
  opt.storage = StorageType::kSq8F32;
  auto ix = HnswIndex::Create(dim, opt);
  ASSERT_TRUE(ix.ok());
  auto base = sextant::testing::RandomVectors(n, dim, 21);
  ASSERT_TRUE((*ix)->AddBatch(base, Iota(n), /*threads=*/4).ok());
  EXPECT_EQ((*ix)->CountWeaklyLinked(), 0u);
  EXPECT_EQ((*ix)->CountUnreachable(), 0u);
  uint64_t next = n;
  for (int round = 0; round < 4; ++round) {
    std::vector<uint64_t> gone;
    for (uint64_t label : (*ix)->Labels()) {
      if ((label * 7 + round) % 10 < 3) gone.push_back(label);  // 30 %
    }
    ASSERT_TRUE((*ix)->Remove(gone).ok());
    EXPECT_EQ((*ix)->CountWeaklyLinked(), 0u) << "round " << round << ", after removing";
    EXPECT_EQ((*ix)->CountUnreachable(), 0u) << "round " << round;
    auto more = sextant::testing::RandomVectors(gone.size(), dim, 100 + round);
    ASSERT_TRUE((*ix)->AddBatch(more, Iota(gone.size(), next), /*threads=*/4).ok());
    next += gone.size();
    EXPECT_EQ((*ix)->CountWeaklyLinked(), 0u) << "round " << round << ", after adding";
  }
  ASSERT_TRUE((*ix)->CheckIntegrity().ok()) << (*ix)->CheckIntegrity().ToString();
}

TEST(HnswIndexTest, ConcurrentAddFromCallerThreadsGrowsCapacity) {
  const size_t dim = 8, per_thread = 500;
  auto ix = HnswIndex::Create(dim, HnswOptions{});
  ASSERT_TRUE(ix.ok());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto data = sextant::testing::RandomVectors(per_thread, dim, 100 + t);
      for (size_t i = 0; i < per_thread; ++i) {
        ASSERT_TRUE((*ix)->Add(t * per_thread + i, {&data[i * dim], dim}).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ((*ix)->size(), 4 * per_thread);
  EXPECT_TRUE((*ix)->CheckIntegrity().ok()) << (*ix)->CheckIntegrity().ToString();
}

TEST(HnswIndexTest, FilteredSearchAtSeveralSelectivities) {
  const size_t dim = 16, n = 3000;
  auto base = Clustered(n, dim, 5);
  auto queries = Clustered(30, dim, 6);
  HnswOptions opt;
  opt.M = 12;
  opt.ef_construction = 100;
  auto ix = Build(base, dim, opt);
  for (size_t modulo : {2, 10, 50}) {
    BitsetFilter bits(n);
    for (size_t i = 0; i < n; i += modulo) bits.Set(i);
    auto accept = [modulo](size_t l) { return l % modulo == 0; };
    const double r = MeasureRecall(*ix, Metric::kL2, base, queries, dim, 10, 200, accept, &bits);
    EXPECT_GE(r, 0.9) << "1/" << modulo << " of points pass";
  }
}

// Without a filter a walk keeps its beam in one sorted array; with one, in the paper's two
// heaps (SearchLayerFiltered). A filter that accepts everything must walk exactly as no
// filter does: same hits, same distances, at every beam width (f32, the screened f32 walk at
// 128-d, SQ8 codes with exact ranking).
TEST(HnswIndexTest, SortedBeamAndFilteredHeapsWalkAlike) {
  struct Case {
    size_t dim;
    StorageType storage;
    Metric metric;
  };
  for (const Case& c : {Case{24, StorageType::kFloat32, Metric::kL2},
                        Case{128, StorageType::kFloat32, Metric::kCosine},
                        Case{24, StorageType::kSq8F32, Metric::kInnerProduct}}) {
    const size_t n = 3000;
    auto base = Clustered(n, c.dim, 11);
    auto queries = Clustered(100, c.dim, 12);
    HnswOptions opt;
    opt.metric = c.metric;
    opt.storage = c.storage;
    opt.M = 8;
    opt.ef_construction = 60;
    auto ix = Build(base, c.dim, opt);
    BitsetFilter all(n);
    for (size_t i = 0; i < n; ++i) all.Set(i);
    size_t compared = 0;
    for (size_t ef : {10, 40, 150}) {
      for (size_t q = 0; q < 100; ++q) {
        const std::span<const float> query(&queries[q * c.dim], c.dim);
        auto plain = ix->Search(query, 10, ef);
        auto filtered = ix->Search(query, 10, ef, &all);
        ASSERT_TRUE(plain.ok() && filtered.ok());
        ASSERT_EQ(plain->size(), 10u);
        ASSERT_EQ(plain->size(), filtered->size());
        for (size_t i = 0; i < plain->size(); ++i) {
          EXPECT_EQ((*plain)[i].label, (*filtered)[i].label)
              << StorageTypeName(c.storage) << " " << c.dim << "-d, ef " << ef << ", query " << q;
          EXPECT_EQ((*plain)[i].distance, (*filtered)[i].distance);
          ++compared;
        }
      }
    }
    EXPECT_EQ(compared, 3000u);
  }
}

TEST(HnswIndexTest, RemoveRepairsLinksAndReusesSlots) {
  const size_t dim = 16, n = 3000;
  auto base = Clustered(n, dim, 7);
  auto queries = Clustered(30, dim, 8);
  HnswOptions opt;
  opt.M = 12;
  opt.ef_construction = 100;
  auto ix = Build(base, dim, opt);
  std::vector<uint64_t> gone;
  for (size_t i = 0; i < n; i += 3) gone.push_back(i);  // a third of the points
  ASSERT_TRUE(ix->Remove(gone).ok());
  EXPECT_EQ(ix->size(), n - gone.size());
  Status integrity = ix->CheckIntegrity();  // includes: no link points at a removed slot
  ASSERT_TRUE(integrity.ok()) << integrity.ToString();
  EXPECT_EQ(ix->CountUnreachable(), 0u);
  auto alive = [](size_t l) { return l % 3 != 0; };
  EXPECT_GE(MeasureRecall(*ix, Metric::kL2, base, queries, dim, 10, 100, alive), 0.93);
  EXPECT_EQ(ix->free_slots(), gone.size());
  EXPECT_FALSE(ix->Contains(0));
  EXPECT_EQ(ix->Remove(gone).code(), StatusCode::kNotFound);

  // Re-adding reuses the freed slots: the slot count does not grow.
  const size_t slots = ix->slot_count();
  for (uint64_t label : gone) ASSERT_TRUE(ix->Add(label, {&base[label * dim], dim}).ok());
  EXPECT_EQ(ix->slot_count(), slots);
  EXPECT_EQ(ix->free_slots(), 0u);
  ASSERT_TRUE(ix->CheckIntegrity().ok());
  EXPECT_GE(MeasureRecall(*ix, Metric::kL2, base, queries, dim, 10, 100, kAll), 0.93);
}

TEST(HnswIndexTest, AddDeleteCyclesDoNotGrow) {
  const size_t dim = 8, n = 500;
  auto ix = HnswIndex::Create(dim, HnswOptions{});
  ASSERT_TRUE(ix.ok());
  auto data = sextant::testing::RandomVectors(n, dim, 9);
  ASSERT_TRUE((*ix)->AddBatch(data, Iota(n)).ok());
  const size_t slots = (*ix)->slot_count();
  const size_t memory = (*ix)->MemoryUsage();
  for (int cycle = 0; cycle < 20; ++cycle) {
    std::vector<uint64_t> batch = Iota(100, (cycle % 5) * 100);
    ASSERT_TRUE((*ix)->Remove(batch).ok());
    ASSERT_TRUE((*ix)->AddBatch({&data[(cycle % 5) * 100 * dim], 100 * dim}, batch).ok());
  }
  EXPECT_EQ((*ix)->slot_count(), slots);
  EXPECT_LE((*ix)->MemoryUsage(), memory + memory / 10);
  EXPECT_TRUE((*ix)->CheckIntegrity().ok());
}

TEST(HnswIndexTest, RemoveEverythingThenAddAgain) {
  const size_t dim = 4;
  auto ix = HnswIndex::Create(dim, HnswOptions{});
  ASSERT_TRUE(ix.ok());
  auto data = sextant::testing::RandomVectors(50, dim, 10);
  ASSERT_TRUE((*ix)->AddBatch(data, Iota(50)).ok());
  auto all = Iota(50);
  ASSERT_TRUE((*ix)->Remove(all).ok());
  EXPECT_EQ((*ix)->size(), 0u);
  auto none = (*ix)->Search({&data[0], dim}, 5, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE((*ix)->AddBatch(data, Iota(50)).ok());
  auto some = (*ix)->Search({&data[0], dim}, 1, 10);
  ASSERT_TRUE(some.ok());
  EXPECT_EQ((*some)[0].label, 0u);
  EXPECT_TRUE((*ix)->CheckIntegrity().ok());
}

TEST(HnswIndexTest, BadInput) {
  HnswOptions opt;
  opt.M = 1;
  EXPECT_EQ(HnswIndex::Create(4, opt).status().code(), StatusCode::kInvalidArgument);
  auto ix = HnswIndex::Create(4, HnswOptions{});
  ASSERT_TRUE(ix.ok());
  std::vector<float> v = {1, 2, 3, 4};
  ASSERT_TRUE((*ix)->Add(1, v).ok());
  EXPECT_EQ((*ix)->Add(1, v).code(), StatusCode::kAlreadyExists);
  std::vector<float> short_v = {1, 2, 3};
  Status st = (*ix)->Add(2, short_v);
  EXPECT_NE(st.message().find("dimension 3"), std::string::npos) << st.message();
  std::vector<float> nan_v = {1, NAN, 3, 4};
  EXPECT_EQ((*ix)->Add(3, nan_v).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*ix)->Search(v, 0, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*ix)->Search(nan_v, 1, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE((*ix)->Search(short_v, 1, 10).ok());
  // A batch with one bad row inserts nothing.
  std::vector<float> batch = {1, 1, 1, 1, 2, 2, INFINITY, 2};
  std::vector<uint64_t> labels = {10, 11};
  st = (*ix)->AddBatch(batch, labels);
  EXPECT_NE(st.message().find("row 1"), std::string::npos) << st.message();
  EXPECT_FALSE((*ix)->Contains(10));
  EXPECT_EQ((*ix)->size(), 1u);
}

// The 1-bit screen's bounds against exact squared distances on clustered 200-d data: a point
// is at bound 0 from itself, a point at the centre at its exact distance, cosine's bound is half
// the l2 one on unit vectors, and a bound lies above its distance for about the share of pairs
// kEpsilon implies (the estimate's error near-Gaussian: 31 % at half a deviation) and never far
// above it.
TEST(BinaryScreenTest, BoundsAgainstExactDistances) {
  const size_t dim = 200, n = 300;
  auto base = Clustered(n, dim, 41);
  std::vector<float> centre(dim, 0.0f);
  for (size_t i = 0; i < n; ++i) {
    for (size_t d = 0; d < dim; ++d) centre[d] += base[i * dim + d] / n;
  }
  BinaryScreen screen(dim, 1.0f);
  ASSERT_TRUE(screen.Reserve(n + 1));
  screen.SetCentre(centre);
  for (size_t i = 0; i < n; ++i) screen.Encode(static_cast<uint32_t>(i), &base[i * dim]);
  screen.Encode(static_cast<uint32_t>(n), centre.data());
  auto sq = [&](const float* a, const float* b) {
    double s = 0;
    for (size_t d = 0; d < dim; ++d) s += (static_cast<double>(a[d]) - b[d]) * (a[d] - b[d]);
    return s;
  };
  BinaryScreen::Query q;
  size_t above = 0, pairs = 0, self_zero = 0;
  double est_error = 0, abs_error = 0, dist_sum = 0;
  for (size_t i = 0; i < n; ++i) {
    screen.PrepareQuery(&base[i * dim], &q);
    const double r2 = sq(&base[i * dim], centre.data());
    // From itself: 0 for most points, but the query's 4-bit rounding can leave the estimate of
    // <u, u> = 1 more than half a deviation low, the bound then a few % of r2 above 0.
    const double self = screen.LowerBound(q, static_cast<uint32_t>(i));
    EXPECT_LE(self, 0.05 * r2) << i;
    self_zero += self == 0.0;
    EXPECT_NEAR(screen.LowerBound(q, static_cast<uint32_t>(n)), r2, 1e-4 * r2) << i;
    // Not 0 but near it (the query is rounded to 4 bits a value): up to 7 % of r2 here, where
    // a point nowhere near would be at about 2 r2.
    EXPECT_NEAR(screen.Estimate(q, static_cast<uint32_t>(i)), 0.0, 0.1 * r2) << i;
    EXPECT_NEAR(screen.Estimate(q, static_cast<uint32_t>(n)), r2, 1e-4 * r2) << i;
    for (size_t j = 0; j < n; j += 7) {
      if (j == i) continue;
      const double d = sq(&base[i * dim], &base[j * dim]);
      const double lb = screen.LowerBound(q, static_cast<uint32_t>(j));
      const double est = screen.Estimate(q, static_cast<uint32_t>(j));
      above += lb > d;
      ++pairs;
      EXPECT_LE(lb, 1.5 * d) << i << " " << j;
      EXPECT_LE(lb, est) << i << " " << j;  // the bound is the estimate less a margin
      est_error += est - d;
      abs_error += std::fabs(est - d);
      dist_sum += d;
    }
  }
  EXPECT_GE(self_zero, n * 9 / 10) << self_zero << " of " << n << " points at bound 0 from themselves";
  const double above_expected = 0.5 * std::erfc(BinaryScreen::kEpsilon / std::sqrt(2.0));
  // 30.3 % of 12,857 pairs at half a deviation, 30.9 % expected.
  EXPECT_NEAR(static_cast<double>(above) / pairs, above_expected, 0.08) << above << " of " << pairs;
  // The estimate is unbiased (its errors cancel over the pairs) and close (within a fifth of
  // the distance on average in 200 dimensions).
  EXPECT_LT(std::fabs(est_error), 0.02 * dist_sum) << est_error << " over " << dist_sum;
  EXPECT_LT(abs_error, 0.2 * dist_sum) << abs_error << " over " << dist_sum;
  EXPECT_GT(abs_error, 0.0);

  // Cosine: on unit vectors, half the l2 bound.
  std::vector<float> unit(base.begin(), base.begin() + 20 * dim);
  for (size_t i = 0; i < 20; ++i) {
    double s = 0;
    for (size_t d = 0; d < dim; ++d) s += unit[i * dim + d] * unit[i * dim + d];
    for (size_t d = 0; d < dim; ++d) unit[i * dim + d] = static_cast<float>(unit[i * dim + d] / std::sqrt(s));
  }
  BinaryScreen l2(dim, 1.0f), cosine(dim, 0.5f);
  ASSERT_TRUE(l2.Reserve(20) && cosine.Reserve(20));
  for (size_t i = 0; i < 20; ++i) {
    l2.Encode(static_cast<uint32_t>(i), &unit[i * dim]);
    cosine.Encode(static_cast<uint32_t>(i), &unit[i * dim]);
  }
  BinaryScreen::Query ql, qc;
  l2.PrepareQuery(&unit[0], &ql);
  cosine.PrepareQuery(&unit[0], &qc);
  for (uint32_t i = 1; i < 20; ++i) EXPECT_FLOAT_EQ(cosine.LowerBound(qc, i), 0.5f * l2.LowerBound(ql, i));
}

// f32 storage in 160 dimensions: the screen's search on a graph against the plain walk on the
// same graph (an unscreened index, and that index saved and loaded, which builds the screen)
// and brute force — recall as high, every hit's distance the exact one; a screened build
// (whose inserts' searches are screened too) serial and on two threads finds the neighbours,
// and answers the same after Save and Load; a graph grown one point at a time (the centre moving
// as it doubles) with removals and reused slots still finds its neighbours.
TEST(HnswIndexTest, ScreenedF32SearchMatchesBruteForceAndTheUnscreenedWalk) {
  const size_t dim = 160, n = 2500;
  auto base = Clustered(n, dim, 51);
  // 400 queries: at ef 16 both walks find about two thirds of the neighbours, and over 40 queries
  // two equally good walks (the screened descent by bounds or by estimates) differed by 0.03.
  auto queries = Clustered(400, dim, 52);
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("sextant_screen_test_" + std::to_string(::getpid()) + ".hnsw")).string();
  // Cosine (the same walk over unit vectors, half the scale) only outside the sanitizers: each
  // metric costs three builds (TSan: 31 s for both).
  std::vector<Metric> metrics = {Metric::kL2};
  if (!sextant::testing::kSanitized) metrics.push_back(Metric::kCosine);
  // Brute force once per metric (seven recalls use it; under ASan the test's own code is -O0).
  auto truth_for = [&](Metric metric) { return BruteForceTruth(metric, base, queries, dim, 10, kAll); };
  auto recall = [&](const HnswIndex& ix, const std::vector<std::vector<uint64_t>>& truth, size_t ef) {
    return RecallAgainst(ix, truth, queries, dim, 10, ef, kAll);
  };
  const auto l2_truth = truth_for(Metric::kL2);
  for (Metric metric : metrics) {
    const auto truth = metric == Metric::kL2 ? l2_truth : truth_for(metric);
    HnswOptions opt;
    opt.metric = metric;
    opt.M = 12;
    opt.ef_construction = 100;
    opt.screen = false;
    auto plain = Build(base, dim, opt);
    ASSERT_TRUE(plain->Save(path).ok());
    auto loaded = HnswIndex::Load(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    auto& same_graph = *loaded;
    EXPECT_GT(same_graph->MemoryUsage(), plain->MemoryUsage() + n * dim / 8) << "no screen was built";
    // The screen trades a little recall at a given ef for a cheaper walk (kEpsilon): within
    // 0.06 of the plain walk's at ef 16 (0.032 lower for l2, 0.044 for cosine at half a
    // deviation), which a larger ef wins back (ef 24 screened against 16 plain), and within
    // 0.02 at ef 128.
    for (size_t ef : {16, 128}) {
      const double with = recall(*same_graph, truth, ef);
      const double without = recall(*plain, truth, ef);
      EXPECT_GE(with, without - (ef == 16 ? 0.06 : 0.02)) << MetricName(metric) << " ef " << ef;
      if (ef == 16) {
        EXPECT_GE(recall(*same_graph, truth, 24), without) << MetricName(metric);
      } else {
        EXPECT_GE(with, 0.95) << MetricName(metric);
      }
    }
    for (size_t q = 0; q < 10; ++q) {
      auto hits = same_graph->Search({&queries[q * dim], dim}, 10, 32);
      ASSERT_TRUE(hits.ok());
      for (const auto& h : *hits) {
        EXPECT_NEAR(h.distance, sextant::testing::ReferenceDistance(metric, &queries[q * dim], &base[h.label * dim], dim),
                    1e-4 * (1 + std::fabs(h.distance)));
      }
    }

    opt.screen = true;
    auto screened = Build(base, dim, opt);
    EXPECT_GE(recall(*screened, truth, 128), 0.95) << MetricName(metric);
    // Serially built, the points sit in row order, so Load's centre is the build's to the bit.
    ASSERT_TRUE(screened->Save(path).ok());
    auto reloaded = HnswIndex::Load(path);
    ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
    for (size_t q = 0; q < 40; ++q) {
      auto a = screened->Search({&queries[q * dim], dim}, 10, 24);
      auto b = (*reloaded)->Search({&queries[q * dim], dim}, 10, 24);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(*a, *b) << "query " << q;
    }
    std::filesystem::remove(path);
    if (metric == Metric::kL2) {  // two threads: concurrent inserts read the screen
      auto concurrent = Build(base, dim, opt, 2);
      ASSERT_TRUE(concurrent->CheckIntegrity().ok());
      EXPECT_GE(recall(*concurrent, truth, 128), 0.95);
    }
  }
  HnswOptions opt;
  opt.M = 12;
  opt.ef_construction = 100;
  auto made = HnswIndex::Create(dim, opt);
  ASSERT_TRUE(made.ok());
  auto ix = std::move(made).value();
  for (size_t i = 0; i < n; ++i) ASSERT_TRUE(ix->Add(i, {&base[i * dim], dim}).ok());
  std::vector<uint64_t> gone = Iota(200, 100);
  ASSERT_TRUE(ix->Remove(gone).ok());
  for (uint64_t label : gone) ASSERT_TRUE(ix->Add(label, {&base[label * dim], dim}).ok());
  ASSERT_TRUE(ix->CheckIntegrity().ok());
  EXPECT_GE(recall(*ix, l2_truth, 128), 0.95);
}

class HnswFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("sextant_hnsw_test_" + std::to_string(::getpid()) + ".hnsw"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
};

// The screen is saved with the index (format version 5): a loaded index answers exactly as the
// one saved, also when the screen's centre is not the mean of every point (it was set from the
// first batch and the second did not double the index). A version 4 file (no screen sections)
// still loads, its screen computed again; a non-finite centre or screen sections of the wrong
// size are Corruption.
TEST_F(HnswFileTest, ScreenIsSavedWithTheIndex) {
  const size_t dim = 160, n = 1600;
  auto base = Clustered(n, dim, 61);
  auto queries = Clustered(200, dim, 62);
  const std::string& path = path_;
  HnswOptions opt;
  opt.M = 12;
  opt.ef_construction = 100;
  auto made = HnswIndex::Create(dim, opt);
  ASSERT_TRUE(made.ok());
  auto ix = std::move(made).value();
  ASSERT_TRUE(ix->AddBatch({base.data(), 1000 * dim}, Iota(1000)).ok());
  ASSERT_TRUE(ix->AddBatch({base.data() + 1000 * dim, 600 * dim}, Iota(600, 1000)).ok());
  ASSERT_TRUE(ix->Save(path).ok());
  auto same = [&](const HnswIndex& a, const HnswIndex& b) {
    size_t differ = 0;
    for (size_t q = 0; q < 200; ++q) {
      auto x = a.Search({&queries[q * dim], dim}, 10, 12);
      auto y = b.Search({&queries[q * dim], dim}, 10, 12);
      EXPECT_TRUE(x.ok() && y.ok());
      if (x.ok() && y.ok() && *x != *y) ++differ;
    }
    return differ;
  };
  {
    auto loaded = HnswIndex::Load(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ(same(*ix, **loaded), 0u);
  }
  {  // version 4: the screen computed again from the vectors
    RewriteHnswFile(path, 4, 12);
    auto loaded = HnswIndex::Load(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_TRUE((*loaded)->CheckIntegrity().ok());
    // Its centre is the mean of all 1,600 points, not the saved one: some answers differ (46 of
    // 200 here), which is what the exact equality above rules out for a version 5 file.
    EXPECT_GT(same(*ix, **loaded), 0u);
    EXPECT_GT((*loaded)->MemoryUsage(), ix->MemoryUsage() - n * dim / 16) << "no screen was built";
    EXPECT_GE(MeasureRecall(**loaded, Metric::kL2, base, queries, dim, 10, 128, kAll), 0.95);
  }
  ASSERT_TRUE(ix->Save(path).ok());
  RewriteHnswFile(path, 5, 14, [&](std::vector<std::string>& s) {
    const float nan = std::nanf("");
    std::memcpy(s[12].data() + 8 + 7 * sizeof(float), &nan, sizeof nan);
  });
  auto bad = HnswIndex::Load(path);
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bad.status().message().find("centre is not finite"), std::string::npos) << bad.status().ToString();
  ASSERT_TRUE(ix->Save(path).ok());
  RewriteHnswFile(path, 5, 14, [](std::vector<std::string>& s) { s[13].resize(s[13].size() - 64); });
  bad = HnswIndex::Load(path);
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bad.status().message().find("'screen_rows'"), std::string::npos) << bad.status().ToString();
}

TEST_F(HnswFileTest, SaveLoadRoundTripAndMutateAfterLoad) {
  const size_t dim = 20, n = 1500;
  auto base = sextant::testing::RandomByteVectors(n, dim, 11);
  HnswOptions opt;
  opt.storage = StorageType::kUint8;
  opt.metric = Metric::kCosine;
  auto ix = Build(base, dim, opt);
  std::vector<uint64_t> gone = {3, 4, 5};
  ASSERT_TRUE(ix->Remove(gone).ok());
  ASSERT_TRUE(ix->Save(path_).ok());
  auto loaded = HnswIndex::Load(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->size(), ix->size());
  EXPECT_TRUE((*loaded)->CheckIntegrity().ok());
  for (size_t q = 0; q < 20; ++q) {
    auto a = ix->Search({&base[q * dim], dim}, 10, 50);
    auto b = (*loaded)->Search({&base[q * dim], dim}, 10, 50);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b);
  }
  // The mapped index accepts writes (it copies itself into memory first).
  ASSERT_TRUE((*loaded)->Add(3, {&base[3 * dim], dim}).ok());
  ASSERT_TRUE((*loaded)->Remove(std::vector<uint64_t>{7}).ok());
  EXPECT_TRUE((*loaded)->CheckIntegrity().ok());
  EXPECT_EQ((*loaded)->size(), n - 3);
}

// What a merge does with the graph it reuses: Reserve room on the mapped index (which copies
// it into memory), then add in batches. Answers unchanged by Reserve; every added point found.
TEST_F(HnswFileTest, ReserveThenAddBatchesToLoadedIndex) {
  const size_t dim = 16, n = 1200, extra = 800;
  auto base = Clustered(n + extra, dim, 41);
  HnswOptions opt;
  opt.storage = StorageType::kSq8F32;
  opt.metric = Metric::kCosine;
  auto ix = Build(std::vector<float>(base.begin(), base.begin() + static_cast<std::ptrdiff_t>(n * dim)), dim, opt,
                  /*threads=*/2);
  ASSERT_TRUE(ix->Save(path_).ok());
  auto loaded = HnswIndex::Load(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  HnswIndex& g = **loaded;
  ASSERT_TRUE(g.Reserve(n + extra).ok());
  ASSERT_TRUE(g.Reserve(10).ok());  // less than held: nothing to do
  for (size_t q = 0; q < 20; ++q) {
    auto a = ix->Search({&base[q * dim], dim}, 10, 50);
    auto b = g.Search({&base[q * dim], dim}, 10, 50);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b);
  }
  for (size_t start = n; start < n + extra; start += 100) {
    const std::vector<uint64_t> labels = Iota(100, start);
    ASSERT_TRUE(g.AddBatch({&base[start * dim], 100 * dim}, labels, 2, nullptr, /*reconnect=*/false).ok());
  }
  g.ConnectUnreachable();
  ASSERT_TRUE(g.CheckIntegrity().ok());
  EXPECT_EQ(g.size(), n + extra);
  size_t found = 0;
  for (size_t i = n; i < n + extra; ++i) {
    auto r = g.Search({&base[i * dim], dim}, 1, 64);
    ASSERT_TRUE(r.ok());
    found += !r->empty() && (*r)[0].label == i;
  }
  EXPECT_GE(found, extra * 99 / 100);
}

// sq8-f32 files carry the SQ8 parameters and the exact vectors; a loaded index answers like
// the one saved, and keeps learning when it grows after loading.
TEST_F(HnswFileTest, Sq8F32RoundTrip) {
  const size_t dim = 20, n = 1500;
  auto base = Clustered(n, dim, 31);
  for (Metric metric : {Metric::kL2, Metric::kCosine}) {
    HnswOptions opt;
    opt.storage = StorageType::kSq8F32;
    opt.metric = metric;
    auto ix = Build(base, dim, opt, /*threads=*/2);
    ASSERT_TRUE(ix->Remove(std::vector<uint64_t>{8, 9}).ok());
    ASSERT_TRUE(ix->Save(path_).ok());
    auto loaded = HnswIndex::Load(path_);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ((*loaded)->options().storage, StorageType::kSq8F32);
    EXPECT_TRUE((*loaded)->CheckIntegrity().ok());
    for (size_t q = 0; q < 20; ++q) {
      auto a = ix->Search({&base[q * dim], dim}, 10, 50);
      auto b = (*loaded)->Search({&base[q * dim], dim}, 10, 50);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(*a, *b);
    }
    for (uint64_t label : {0, 700}) EXPECT_EQ(*ix->GetVector(label), *(*loaded)->GetVector(label));
    std::vector<float> more = Clustered(n, dim, 32);
    ASSERT_TRUE((*loaded)->AddBatch(more, Iota(n, 10000)).ok());
    auto hit = (*loaded)->Search({&more[5 * dim], dim}, 1, 50);
    ASSERT_TRUE(hit.ok());
    EXPECT_EQ((*hit)[0].label, 10005u);
    EXPECT_NEAR((*hit)[0].distance, 0.0f, 1e-5);
  }
}

// The slot-order tests' small cosine index: M 8, ef_construction 60, never reordered.
HnswOptions SlotOrderOptions(StorageType storage) {
  HnswOptions opt;
  opt.storage = storage;
  opt.metric = Metric::kCosine;
  opt.M = 8;
  opt.ef_construction = 60;
  opt.reorder_min_points = 0;
  return opt;
}

// Reorder renumbers every slot and changes no answer: for each storage (f32 with its screen,
// sq8-f32 with its exact rows and their escapes, f16), an index with freed slots answers
// exactly as before, returns the same stored vectors, passes the integrity check with every
// point reachable, reuses its free slots, takes removals, and saves and loads. (1,200 points:
// four clusters of the order; AddBatch's own reordering is tested below.)
TEST_F(HnswFileTest, ReorderChangesNoAnswer) {
  const size_t dim = 160, n = 1200;
  auto base = Clustered(n, dim, 41);
  auto queries = Clustered(60, dim, 42);
  for (StorageType storage : {StorageType::kFloat32, StorageType::kSq8F32, StorageType::kFloat16}) {
    SCOPED_TRACE(StorageTypeName(storage));
    HnswOptions opt = SlotOrderOptions(storage);
    auto ix = Build(base, dim, opt, /*threads=*/2);
    std::vector<uint64_t> gone;
    for (uint64_t l = 5; l < n; l += 7) gone.push_back(l);
    ASSERT_TRUE(ix->Remove(gone).ok());
    std::vector<std::vector<SearchHit>> before;
    for (size_t q = 0; q < 60; ++q) before.push_back(*ix->Search({&queries[q * dim], dim}, 10, 40));
    const std::vector<uint64_t> labels = ix->Labels();
    std::vector<std::vector<float>> vectors;
    for (uint64_t l : {0, 1, 601, 1199}) vectors.push_back(*ix->GetVector(l));

    ASSERT_TRUE(ix->Reorder(2).ok());
    Status integrity = ix->CheckIntegrity();
    ASSERT_TRUE(integrity.ok()) << integrity.ToString();
    EXPECT_EQ(ix->CountUnreachable(), 0u);
    EXPECT_EQ(ix->size(), n - gone.size());
    EXPECT_EQ(ix->free_slots(), gone.size());
    EXPECT_NE(ix->Labels(), labels) << "nothing was renumbered";
    std::vector<uint64_t> sorted_before = labels, sorted_after = ix->Labels();
    std::sort(sorted_before.begin(), sorted_before.end());
    std::sort(sorted_after.begin(), sorted_after.end());
    EXPECT_EQ(sorted_after, sorted_before);
    size_t i = 0;
    for (uint64_t l : {0, 1, 601, 1199}) EXPECT_EQ(*ix->GetVector(l), vectors[i++]) << l;
    for (size_t q = 0; q < 60; ++q) EXPECT_EQ(*ix->Search({&queries[q * dim], dim}, 10, 40), before[q]) << q;

    // Still an index like any other: the freed slots are reused, points are removed, the file
    // round trip answers the same.
    const size_t slots = ix->slot_count();
    for (uint64_t l : gone) ASSERT_TRUE(ix->Add(l, {&base[l * dim], dim}).ok());
    EXPECT_EQ(ix->slot_count(), slots);
    ASSERT_TRUE(ix->Remove(std::vector<uint64_t>{3, 4}).ok());
    ASSERT_TRUE(ix->CheckIntegrity().ok());
    auto hit = ix->Search({&base[5 * dim], dim}, 1, 40);
    ASSERT_TRUE(hit.ok());
    EXPECT_EQ((*hit)[0].label, 5u);
    ASSERT_TRUE(ix->Save(path_).ok());
    auto loaded = HnswIndex::Load(path_);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    for (size_t q = 0; q < 60; ++q) {
      EXPECT_EQ(*(*loaded)->Search({&queries[q * dim], dim}, 10, 40), *ix->Search({&queries[q * dim], dim}, 10, 40));
    }
    EXPECT_GE(MeasureRecall(**loaded, Metric::kCosine, base, queries, dim, 10, 80,
                            [](size_t l) { return l != 3 && l != 4; }),
              0.9);
  }
}

// AddBatch reorders by itself once the index reaches HnswOptions::reorder_min_points and has
// doubled since its last ordering: a series of one-thread batches (slots in label order until
// then) ends grouped, answering as well as brute force says it should; a load counts as an
// ordering, 0 turns it off, and long codes are left alone.
TEST_F(HnswFileTest, AddBatchReordersAsTheIndexDoubles) {
  const size_t dim = 16, n = 3000;
  auto base = Clustered(n, dim, 51);
  auto queries = Clustered(40, dim, 52);
  auto in_label_order = [](const HnswIndex& ix) {
    const std::vector<uint64_t> l = ix.Labels();
    return std::is_sorted(l.begin(), l.end());
  };
  HnswOptions opt;
  opt.M = 8;
  opt.ef_construction = 60;
  opt.reorder_min_points = 1500;
  auto made = HnswIndex::Create(dim, opt);
  ASSERT_TRUE(made.ok());
  auto ix = std::move(made).value();
  ASSERT_TRUE(ix->AddBatch({base.data(), 1000 * dim}, Iota(1000)).ok());
  EXPECT_TRUE(in_label_order(*ix)) << "reordered below reorder_min_points";
  ASSERT_TRUE(ix->AddBatch({base.data() + 1000 * dim, 1000 * dim}, Iota(1000, 1000)).ok());
  EXPECT_FALSE(in_label_order(*ix)) << "not reordered at 2,000 points";
  ASSERT_TRUE(ix->CheckIntegrity().ok());
  ASSERT_TRUE(ix->Save(path_).ok());
  auto loaded = HnswIndex::Load(path_);
  ASSERT_TRUE(loaded.ok());
  // 3,000 points: not twice the 2,000 it was loaded (ordered) with, so the new slots stay last.
  ASSERT_TRUE((*loaded)->AddBatch({base.data() + 2000 * dim, 1000 * dim}, Iota(1000, 2000)).ok());
  const std::vector<uint64_t> labels = (*loaded)->Labels();
  EXPECT_TRUE(std::is_sorted(labels.begin() + 2000, labels.end()));
  EXPECT_GE(MeasureRecall(**loaded, Metric::kL2, base, queries, dim, 10, 80, kAll), 0.95);

  opt.reorder_min_points = 0;
  auto never = Build(base, dim, opt);
  EXPECT_TRUE(in_label_order(*never));
  // Codes longer than 1 KiB (f32, 300 dimensions) are left in their order: no gain there.
  opt.reorder_min_points = 300;
  auto wide = Build(Clustered(600, 300, 53), 300, opt);
  EXPECT_TRUE(in_label_order(*wide));
}

// A batch into an empty index takes its slots in cluster order up front (so the inserts' own
// walks read neighbourhoods that lie together), while inserting in the order given: on one
// thread the graph is the one the plain build makes, so every answer is the same, hit for hit
// and distance for distance (f32 with its screen, sq8-f32 with its escapes, f16); the slots
// are not in label order, none is left free, and the index saves, loads, takes removals and
// further batches like any other. On two threads it is still a sound index.
TEST_F(HnswFileTest, BatchIntoEmptyIndexTakesSlotsInClusterOrder) {
  const size_t dim = 160, n = 1200;
  auto base = Clustered(n, dim, 61);
  auto queries = Clustered(60, dim, 62);
  for (StorageType storage : {StorageType::kFloat32, StorageType::kSq8F32, StorageType::kFloat16}) {
    SCOPED_TRACE(StorageTypeName(storage));
    HnswOptions opt = SlotOrderOptions(storage);
    auto plain = Build(base, dim, opt, /*threads=*/1);
    opt.reorder_min_points = 1000;
    auto placed = Build(base, dim, opt, /*threads=*/1);

    const std::vector<uint64_t> plain_labels = plain->Labels(), labels = placed->Labels();
    EXPECT_TRUE(std::is_sorted(plain_labels.begin(), plain_labels.end()));
    EXPECT_FALSE(std::is_sorted(labels.begin(), labels.end())) << "slots in label order";
    std::vector<uint64_t> sorted = labels;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, plain_labels);
    EXPECT_EQ(placed->slot_count(), n);
    EXPECT_EQ(placed->free_slots(), 0u);
    Status integrity = placed->CheckIntegrity();
    ASSERT_TRUE(integrity.ok()) << integrity.ToString();
    for (uint64_t l : {0, 1, 599, 1199}) EXPECT_EQ(*placed->GetVector(l), *plain->GetVector(l)) << l;
    for (size_t q = 0; q < 60; ++q) {
      EXPECT_EQ(*placed->Search({&queries[q * dim], dim}, 10, 40),
                *plain->Search({&queries[q * dim], dim}, 10, 40)) << q;
    }

    ASSERT_TRUE(placed->Save(path_).ok());
    auto loaded = HnswIndex::Load(path_);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    for (size_t q = 0; q < 60; ++q) {
      EXPECT_EQ(*(*loaded)->Search({&queries[q * dim], dim}, 10, 40),
                *placed->Search({&queries[q * dim], dim}, 10, 40)) << q;
    }
    std::vector<uint64_t> gone;
    for (uint64_t l = 3; l < n; l += 5) gone.push_back(l);
    ASSERT_TRUE(placed->Remove(gone).ok());
    auto more = Clustered(300, dim, 63);
    ASSERT_TRUE(placed->AddBatch(more, Iota(300, n), /*threads=*/2).ok());
    ASSERT_TRUE(placed->CheckIntegrity().ok());
    EXPECT_EQ(placed->size(), n - gone.size() + 300);

    auto two = Build(base, dim, opt, /*threads=*/2);
    ASSERT_TRUE(two->CheckIntegrity().ok());
    EXPECT_EQ(two->free_slots(), 0u);
    EXPECT_EQ(two->CountUnreachable(), 0u);
    const double plain_recall = MeasureRecall(*plain, Metric::kCosine, base, queries, dim, 10, 80, kAll);
    EXPECT_GE(MeasureRecall(*two, Metric::kCosine, base, queries, dim, 10, 80, kAll),
              std::min(0.9, plain_recall - 0.02));
  }
}

TEST_F(HnswFileTest, CorruptionIsDetected) {
  const size_t dim = 8, n = 300;
  auto base = sextant::testing::RandomVectors(n, dim, 12);
  auto ix = Build(base, dim, HnswOptions{});
  ASSERT_TRUE(ix->Save(path_).ok());
  std::string bytes;
  {
    std::ifstream f(path_, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  auto write = [&](const std::string& b) {
    std::ofstream f(path_, std::ios::binary | std::ios::trunc);
    f.write(b.data(), static_cast<std::streamsize>(b.size()));
  };
  // A flipped byte anywhere in the data sections.
  for (size_t pos : {bytes.size() / 3, bytes.size() / 2, bytes.size() - 5}) {
    std::string bad = bytes;
    bad[pos] ^= 0x40;
    write(bad);
    auto r = HnswIndex::Load(path_);
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << "flip at " << pos;
  }
  write(bytes.substr(0, bytes.size() / 2));
  EXPECT_EQ(HnswIndex::Load(path_).status().code(), StatusCode::kCorruption);
  write("not an index at all, but long enough to hold a header ........................"
        "..................................................................................."
        "...................................................................................");
  EXPECT_EQ(HnswIndex::Load(path_).status().code(), StatusCode::kCorruption);
  std::string future = bytes;
  future[8] = 99;  // version field
  write(future);
  auto r = HnswIndex::Load(path_);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("version 99"), std::string::npos);
  EXPECT_EQ(HnswIndex::Load(path_ + ".missing").status().code(), StatusCode::kNotFound);
}

// Real data: a slice of Fashion-MNIST with u8 and f32 storage against exact search.
TEST(HnswIndexRealDataTest, FashionMnistSlice) {
  const std::string dir = std::string(SEXTANT_SHARED_DATA) + "/fashion-mnist";
  if (!std::filesystem::exists(dir + "/base.bvecs")) {
    GTEST_SKIP() << dir << " not found (the shared data sets are not beside this checkout)";
  }
  auto base = dataset::ReadVectors(dir + "/base.bvecs", 2000);
  auto queries = dataset::ReadVectors(dir + "/query.bvecs", 30);
  ASSERT_TRUE(base.ok() && queries.ok());
  for (StorageType s : {StorageType::kUint8, StorageType::kFloat32}) {
    HnswOptions opt;
    opt.storage = s;
    opt.ef_construction = 100;
    auto ix = Build(base->data, base->dim, opt, 2);
    EXPECT_GE(MeasureRecall(*ix, Metric::kL2, base->data, queries->data, base->dim, 10, 64, kAll),
              0.95);
  }
}

}  // namespace hnsw_index_test
}  // namespace sextant::index
