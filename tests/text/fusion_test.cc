// Fusion methods against worked examples computed by hand.
#include "text/fusion.h"

#include <gtest/gtest.h>

namespace sextant::text {
namespace {

// Vector list (distances, smaller is better): d1 0.1, d2 0.2, d3 0.3.
// Text list (BM25, larger is better):        d3 5.0, d1 3.0, d4 1.0.
std::vector<RankedList> Lists() {
  return {RankedList{{{1, 0.1f}, {2, 0.2f}, {3, 0.3f}}, /*higher_is_better=*/false, 1.0f},
          RankedList{{{3, 5.0f}, {1, 3.0f}, {4, 1.0f}}, /*higher_is_better=*/true, 1.0f}};
}

void ExpectOrder(const std::vector<FusedHit>& hits, std::vector<uint32_t> docs, std::vector<double> scores) {
  ASSERT_EQ(hits.size(), docs.size());
  for (size_t i = 0; i < hits.size(); ++i) {
    EXPECT_EQ(hits[i].doc, docs[i]) << "rank " << i;
    EXPECT_NEAR(hits[i].score, scores[i], 1e-5) << "doc " << hits[i].doc;
  }
}

TEST(FusionTest, ReciprocalRankFusion) {
  // k = 60: d1 = 1/61 + 1/62 = 0.032522; d3 = 1/63 + 1/61 = 0.032266; d2 = 1/62 = 0.016129;
  // d4 = 1/63 = 0.015873.
  auto hits = Fuse(Lists(), {FusionMethod::kRrf, 60, std::nullopt}, 10);
  ASSERT_TRUE(hits.ok());
  ExpectOrder(*hits, {1, 3, 2, 4}, {0.0325223, 0.0322664, 0.0161290, 0.0158730});
  // Explanation: per-list ranks and raw scores.
  EXPECT_EQ((*hits)[0].ranks[0], 1u);
  EXPECT_EQ((*hits)[0].ranks[1], 2u);
  EXPECT_FLOAT_EQ(*(*hits)[0].scores[1], 3.0f);
  EXPECT_FALSE((*hits)[2].ranks[1].has_value());  // d2 is not in the text list
  // Weights: doubling the text list's weight puts d3 first: 1/63 + 2/61 > 1/61 + 2/62.
  auto lists = Lists();
  lists[1].weight = 2;
  hits = Fuse(lists, {FusionMethod::kRrf, 60, std::nullopt}, 1);
  EXPECT_EQ((*hits)[0].doc, 3u);
}

TEST(FusionTest, WeightedMinMax) {
  // Vector similarities -0.1, -0.2, -0.3 -> min-max 1, 0.5, 0 (d1, d2, d3).
  // Text 5, 3, 1 -> 1, 0.5, 0 (d3, d1, d4). alpha 0.5:
  // d1 = 0.5*1 + 0.5*0.5 = 0.75; d3 = 0.5*0 + 0.5*1 = 0.5; d2 = 0.25; d4 = 0.
  auto hits = Fuse(Lists(), {FusionMethod::kWeighted, 60, 0.5}, 10);
  ASSERT_TRUE(hits.ok());
  ExpectOrder(*hits, {1, 3, 2, 4}, {0.75, 0.5, 0.25, 0.0});
  // alpha 0.2 favours text: d3 = 0.8; d1 = 0.2 + 0.4 = 0.6; d2 = 0.1; d4 = 0.
  hits = Fuse(Lists(), {FusionMethod::kWeighted, 60, 0.2}, 10);
  ExpectOrder(*hits, {3, 1, 2, 4}, {0.8, 0.6, 0.1, 0.0});
}

TEST(FusionTest, DistributionBased) {
  // Vector similarities -0.1, -0.2, -0.3: mean -0.2, sd sqrt(0.02/3) = 0.0816497; bounds
  // [-0.4449490, 0.0449490] -> d1 0.7041241, d2 0.5, d3 0.2958759. Text 5, 3, 1: mean 3,
  // sd 1.6329932; bounds [-1.8989795, 7.8989795] -> d3 0.7041241, d1 0.5, d4 0.2958759.
  // Weights 1 each: d1 1.2041241, d3 1.0, d2 0.5, d4 0.2958759.
  auto hits = Fuse(Lists(), {FusionMethod::kDbsf, 60, std::nullopt}, 10);
  ASSERT_TRUE(hits.ok());
  ExpectOrder(*hits, {1, 3, 2, 4}, {1.2041241, 1.0, 0.5, 0.2958759});
}

TEST(FusionTest, BadOptions) {
  EXPECT_EQ(Fuse(Lists(), {FusionMethod::kWeighted, 60, 1.5}, 10).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Fuse(Lists(), {FusionMethod::kWeighted, 60, -0.1}, 10).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Fuse(Lists(), {FusionMethod::kRrf, 0, std::nullopt}, 10).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Fuse(Lists(), {}, 0).status().code(), StatusCode::kInvalidArgument);
  auto m = ParseFusionMethod("borda");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("rrf, weighted or dbsf"), std::string::npos);
  EXPECT_EQ(*ParseFusionMethod("dbsf"), FusionMethod::kDbsf);
}

TEST(FusionTest, HybridFindsWhatEachListMisses) {
  // The answer (doc 7) is second in both lists: vector-only top-1 is doc 1 and keyword-only
  // top-1 is doc 5, each a miss; fusion puts doc 7, strong in both, first.
  std::vector<RankedList> lists = {
      RankedList{{{1, 0.100f}, {7, 0.105f}, {2, 0.2f}}, false, 1.0f},
      RankedList{{{5, 9.0f}, {7, 8.9f}, {6, 2.0f}}, true, 1.0f}};
  for (FusionMethod m : {FusionMethod::kRrf, FusionMethod::kWeighted, FusionMethod::kDbsf}) {
    auto hits = Fuse(lists, {m, 60, std::nullopt}, 1);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ((*hits)[0].doc, 7u) << static_cast<int>(m);
  }
}

}  // namespace
}  // namespace sextant::text
