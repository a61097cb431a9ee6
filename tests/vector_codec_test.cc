#include "index/vector_codec.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace sextant::index {
namespace {

using sextant::testing::RandomByteVectors;
using sextant::testing::ReferenceDistance;

TEST(VectorCodecTest, RejectsBadDimensionAndMetricCombination) {
  EXPECT_FALSE(VectorCodec::Create(0, Metric::kL2, StorageType::kFloat32).ok());
  EXPECT_FALSE(VectorCodec::Create(VectorCodec::kMaxDim + 1, Metric::kL2, StorageType::kFloat32).ok());
  auto c = VectorCodec::Create(8, Metric::kL1, StorageType::kUint8);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("l1"), std::string::npos);
}

TEST(VectorCodecTest, EncodeNamesTheBadDimension) {
  auto c = VectorCodec::Create(4, Metric::kL2, StorageType::kFloat32);
  ASSERT_TRUE(c.ok());
  std::vector<uint8_t> code(c->code_size());
  float v[4] = {1, 2, NAN, 4};
  Status st = c->Encode(v, code.data());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("NaN at dimension 2"), std::string::npos) << st.message();
  v[2] = INFINITY;
  EXPECT_NE(c->Encode(v, code.data()).message().find("Inf at dimension 2"), std::string::npos);
}

TEST(VectorCodecTest, Uint8StorageAcceptsOnlyBytes) {
  auto c = VectorCodec::Create(3, Metric::kL2, StorageType::kUint8);
  ASSERT_TRUE(c.ok());
  std::vector<uint8_t> code(c->code_size());
  float ok[3] = {0, 255, 17};
  EXPECT_TRUE(c->Encode(ok, code.data()).ok());
  for (float bad : {-1.0f, 256.0f, 0.5f}) {
    float v[3] = {0, bad, 1};
    Status st = c->Encode(v, code.data());
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("dimension 1"), std::string::npos) << st.message();
  }
}

// u8 storage must give the same distances as exact float32 arithmetic on byte-valued data.
TEST(VectorCodecTest, Uint8DistancesMatchReference) {
  const size_t d = 97;
  auto data = RandomByteVectors(20, d, 7);
  for (Metric m : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
    auto c = VectorCodec::Create(d, m, StorageType::kUint8);
    ASSERT_TRUE(c.ok());
    std::vector<uint8_t> a(c->code_size()), q(c->query_size());
    std::vector<float> prepared(d);
    for (size_t i = 0; i + 1 < 20; ++i) {
      ASSERT_TRUE(c->Encode(&data[i * d], a.data()).ok());
      EXPECT_TRUE(c->EncodeQuery(&data[(i + 1) * d], q.data()));
      const double want = ReferenceDistance(m, &data[(i + 1) * d], &data[i * d], d);
      const double tol = 1e-5 * std::max(1.0, std::fabs(want));
      EXPECT_NEAR(c->QueryDistance(q.data(), a.data()), want, tol) << MetricName(m);
      c->PrepareExactQuery(&data[(i + 1) * d], prepared.data());
      EXPECT_NEAR(c->ExactDistance(prepared.data(), a.data()), want, tol);
    }
  }
}

TEST(VectorCodecTest, NonIntegerQueryAgainstUint8IsFlaggedInexact) {
  auto c = VectorCodec::Create(2, Metric::kL2, StorageType::kUint8);
  ASSERT_TRUE(c.ok());
  std::vector<uint8_t> q(c->query_size());
  float exact[2] = {3, 4}, inexact[2] = {3.5f, 4};
  EXPECT_TRUE(c->EncodeQuery(exact, q.data()));
  EXPECT_FALSE(c->EncodeQuery(inexact, q.data()));
}

TEST(VectorCodecTest, Float16IsCloseToFloat32) {
  const size_t d = 64;
  auto data = sextant::testing::RandomVectors(10, d, 3);
  for (Metric m : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
    auto c = VectorCodec::Create(d, m, StorageType::kFloat16);
    ASSERT_TRUE(c.ok());
    std::vector<uint8_t> a(c->code_size()), b(c->code_size()), q(c->query_size());
    ASSERT_TRUE(c->Encode(&data[0], a.data()).ok());
    ASSERT_TRUE(c->Encode(&data[d], b.data()).ok());
    c->EncodeQuery(&data[d], q.data());
    const double want = ReferenceDistance(m, &data[d], &data[0], d);
    EXPECT_NEAR(c->QueryDistance(q.data(), a.data()), want, 1e-2 * std::max(1.0, std::fabs(want)));
    EXPECT_NEAR(c->CodeDistance(b.data(), a.data()), want, 1e-2 * std::max(1.0, std::fabs(want)));
  }
}

}  // namespace
}  // namespace sextant::index
