#include "index/vector_codec.h"

#include <gtest/gtest.h>

#include <array>
#include <bit>
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

// float32 codes four at a time (l2sq_f32_x4, ip_f32_x4) give QueryDistance's values bit for bit,
// with a code repeated as the walk pads a last two or three; the codecs without a four-code
// kernel say so (HasDistances4), so the walk does not pad for them.
TEST(VectorCodecTest, Float32DistancesFourAtATimeMatchOneAtATime) {
  for (size_t d : {1, 15, 100, 784}) {
    auto data = sextant::testing::RandomVectors(6, d, 11);
    for (Metric m : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
      SCOPED_TRACE(::testing::Message() << "d=" << d << " " << MetricName(m));
      auto c = VectorCodec::Create(d, m, StorageType::kFloat32);
      ASSERT_TRUE(c.ok());
      EXPECT_TRUE(c->HasDistances4());
      const size_t cs = c->code_size();
      std::vector<uint8_t> codes(5 * cs), q(c->query_size());
      for (size_t i = 0; i < 5; ++i) ASSERT_TRUE(c->Encode(&data[i * d], &codes[i * cs]).ok());
      c->EncodeQuery(&data[5 * d], q.data());
      for (const std::array<size_t, 4>& pick : {std::array<size_t, 4>{0, 1, 2, 3}, {4, 2, 0, 0}, {3, 1, 1, 1}}) {
        const uint8_t* four[4];
        for (size_t j = 0; j < 4; ++j) four[j] = &codes[pick[j] * cs];
        float got[4];
        c->QueryDistances4(q.data(), four, got);
        for (size_t j = 0; j < 4; ++j) {
          const float one = c->QueryDistance(q.data(), four[j]);
          EXPECT_EQ(std::bit_cast<uint32_t>(got[j]), std::bit_cast<uint32_t>(one)) << j << ": " << got[j] << " vs " << one;
          EXPECT_NEAR(one, ReferenceDistance(m, &data[5 * d], &data[pick[j] * d], d), 1e-4 * (1 + std::fabs(one)));
        }
      }
    }
  }
  auto f16 = VectorCodec::Create(8, Metric::kL2, StorageType::kFloat16);
  auto u8 = VectorCodec::Create(8, Metric::kL2, StorageType::kUint8);
  ASSERT_TRUE(f16.ok() && u8.ok());
  EXPECT_FALSE(f16->HasDistances4());
  EXPECT_FALSE(u8->HasDistances4());
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
