#include "index/flat_index.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace sextant::index {
namespace flat_index_test {  // named: the test programs are unity builds (tests/CMakeLists.txt)

using sextant::testing::BruteForceTopK;
using sextant::testing::RandomVectors;
using sextant::testing::ReferenceDistance;

constexpr size_t kDim = 37;  // not a multiple of any SIMD width
constexpr size_t kN = 600;

using sextant::testing::Iota;

class FlatMetricTest : public ::testing::TestWithParam<Metric> {};

TEST_P(FlatMetricTest, SingleAndBatchMatchBruteForce) {
  const Metric m = GetParam();
  auto base = RandomVectors(kN, kDim, 11);
  auto queries = RandomVectors(20, kDim, 12);
  auto flat = FlatIndex::Create(kDim, m);
  ASSERT_TRUE(flat.ok());
  ASSERT_TRUE(flat->AddBatch(base, Iota(kN)).ok());
  auto batch = flat->SearchBatch(queries, 10);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  for (size_t q = 0; q < 20; ++q) {
    const float* qv = &queries[q * kDim];
    auto want = BruteForceTopK(m, base, kDim, qv, 10, [](size_t) { return true; });
    auto single = flat->Search({qv, kDim}, 10);
    ASSERT_TRUE(single.ok());
    ASSERT_EQ(single->size(), 10u);
    for (size_t j = 0; j < 10; ++j) {
      // Same distance as the reference at each rank (ties may swap labels).
      const double ref = ReferenceDistance(m, qv, &base[want[j] * kDim], kDim);
      EXPECT_NEAR((*single)[j].distance, ref, 1e-4 * std::max(1.0, std::fabs(ref)));
      EXPECT_NEAR((*batch)[q][j].distance, ref, 1e-3 * std::max(1.0, std::fabs(ref)));
    }
    EXPECT_GE(sextant::testing::Overlap(*single, want), 0.9);
    EXPECT_GE(sextant::testing::Overlap((*batch)[q], want), 0.9);
  }
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, FlatMetricTest,
                         ::testing::Values(Metric::kL2, Metric::kInnerProduct, Metric::kCosine,
                                           Metric::kL1),
                         [](const auto& info) { return std::string(MetricName(info.param)); });

TEST(FlatIndexTest, FilterAndRemove) {
  auto base = RandomVectors(kN, kDim, 5);
  auto flat = FlatIndex::Create(kDim, Metric::kL2);
  ASSERT_TRUE(flat.ok());
  ASSERT_TRUE(flat->AddBatch(base, Iota(kN)).ok());
  PredicateFilter even([](uint64_t l) { return l % 2 == 0; });
  auto res = flat->Search({&base[0], kDim}, 5, &even);
  ASSERT_TRUE(res.ok());
  for (const auto& h : *res) EXPECT_EQ(h.label % 2, 0u);
  EXPECT_EQ((*res)[0].label, 0u);

  std::vector<uint64_t> gone = {0, 1, 2, kN - 1};
  ASSERT_TRUE(flat->Remove(gone).ok());
  EXPECT_EQ(flat->size(), kN - 4);
  auto after = flat->Search({&base[0], kDim}, 10);
  ASSERT_TRUE(after.ok());
  for (const auto& h : *after) EXPECT_TRUE(h.label > 2 && h.label != kN - 1);
  auto want = BruteForceTopK(Metric::kL2, base, kDim, &base[0], 10,
                             [](size_t i) { return i > 2 && i != kN - 1; });
  EXPECT_DOUBLE_EQ(sextant::testing::Overlap(*after, want), 1.0);
  EXPECT_EQ(flat->Remove(gone).code(), StatusCode::kNotFound);
}

TEST(FlatIndexTest, BadInputIsRejectedWithoutChanges) {
  auto flat = FlatIndex::Create(4, Metric::kL2);
  ASSERT_TRUE(flat.ok());
  std::vector<float> rows = {1, 2, 3, 4, 5, 6, NAN, 8};
  std::vector<uint64_t> labels = {1, 2};
  Status st = flat->AddBatch(rows, labels);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("row 1"), std::string::npos) << st.message();
  EXPECT_EQ(flat->size(), 0u);
  rows[6] = 7;
  std::vector<uint64_t> dup = {3, 3};
  EXPECT_FALSE(flat->AddBatch(rows, dup).ok());
  EXPECT_EQ(flat->size(), 0u);
  ASSERT_TRUE(flat->AddBatch(rows, labels).ok());
  std::vector<float> q3 = {1, 2, 3};
  EXPECT_NE(flat->Search(q3, 1).status().message().find("dimension 3"), std::string::npos);
  std::vector<float> q = {1, 2, 3, 4};
  EXPECT_EQ(flat->Search(q, 0).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace flat_index_test
}  // namespace sextant::index
