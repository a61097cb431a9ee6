// ExactStore: sq8-f32's exact vectors in three bytes per value beside the SQ8 code. Every
// variant of the decode kernel against a plain twin, bit for bit; the store through slot reuse
// and compaction; and the HNSW index's exact vectors through retraining, removal, Save/Load and
// a version 3 file (float vectors) converted on load.
#include "index/exact_store.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>

#include <unistd.h>

#include "hnsw_file_util.h"
#include "index/hnsw_index.h"
#include "simd/quant.h"
#include "test_util.h"

namespace sextant::index {
namespace {

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

// The float order as an integer, written out the long way: -0 is -1, the negative float with
// magnitude bits m is -1 - m.
int64_t OrderKey(float f) {
  const uint32_t b = Bits(f);
  const int64_t m = b & 0x7fffffff;
  return (b >> 31) != 0 ? -1 - m : m;
}

// Values an SQ8 row meets: inside the trained range, both zeros, denormals, tiny values of
// either sign (escapes), values far outside the range (clamped codes), huge ones.
float AwkwardValue(std::mt19937_64& rng, float lower, float step) {
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  switch (rng() % 10) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return std::numeric_limits<float>::denorm_min() * static_cast<float>(rng() % 1000);
    case 3: return (rng() % 2 ? 1.0f : -1.0f) * step * u(rng) * 0.01f;
    case 4: return lower - 300 * step * u(rng);
    case 5: return (rng() % 2 ? 1e30f : -1e30f) * u(rng);
    default: return lower + 255 * step * u(rng);
  }
}

TEST(ExactStoreTest, EveryKernelDecodesItsRowsBitForBit) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (size_t n = 0; n <= 70; ++n) {
    std::vector<float> lower(n), step(n), x(n);
    std::vector<uint8_t> code(n);
    std::vector<uint16_t> lo(n);
    std::vector<int8_t> hi(n);
    for (int round = 0; round < 20; ++round) {
      size_t want_escapes = 0;
      for (size_t i = 0; i < n; ++i) {
        lower[i] = u(rng) * 0.5f - 0.5f;
        step[i] = i % 13 == 5 ? 0.0f : (u(rng) + 1.5f) * 0.004f;  // some constant dimensions
        x[i] = AwkwardValue(rng, lower[i], step[i]);
        const float c = step[i] > 0 ? std::nearbyint((x[i] - lower[i]) / step[i]) : 0.0f;
        code[i] = static_cast<uint8_t>(std::fmin(std::fmax(c, 0.0f), 255.0f));
        const float p = std::fma(step[i], static_cast<float>(code[i]), lower[i]);
        int64_t r = OrderKey(x[i]) - OrderKey(p);
        if (r <= -(1 << 23) || r >= (1 << 23)) {
          r = -(1 << 23);
          ++want_escapes;
        }
        lo[i] = static_cast<uint16_t>(r & 0xffff);
        hi[i] = static_cast<int8_t>(r >> 16);
      }
      for (const simd::QuantKernels* k : simd::QuantAvailable()) {
        std::vector<float> out(n + 1, 7.0f);
        EXPECT_EQ(k->sq8_residual_decode(code.data(), reinterpret_cast<const uint8_t*>(lo.data()), hi.data(), lower.data(),
                                         step.data(), n, out.data()),
                  want_escapes)
            << k->isa << " n=" << n;
        EXPECT_EQ(out[n], 7.0f) << k->isa << " wrote past the row";
        for (size_t i = 0; i < n; ++i) {
          const bool escaped = (int32_t{hi[i]} * 65536 + lo[i]) == -(1 << 23);
          if (!escaped) {
            EXPECT_EQ(Bits(out[i]), Bits(x[i])) << k->isa << " n=" << n << " i=" << i;
          }
        }
      }
    }
  }
}

VectorCodec Sq8(size_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> lower(dim), step(dim);
  for (size_t d = 0; d < dim; ++d) {
    lower[d] = -0.5f - 0.2f * u(rng);
    step[d] = (1.0f + u(rng)) / 255.0f;
  }
  auto c = VectorCodec::CreateSq8(dim, Metric::kL2, lower, step);
  EXPECT_TRUE(c.ok());
  return std::move(c).value();
}

TEST(ExactStoreTest, RowsSurviveSlotReuseAndCompaction) {
  const size_t dim = 37, slots = 6000;
  const VectorCodec sq8 = Sq8(dim, 5);
  std::mt19937_64 rng(6);
  std::vector<float> x(slots * dim);
  for (size_t s = 0; s < slots; ++s) {
    for (size_t d = 0; d < dim; ++d) x[s * dim + d] = AwkwardValue(rng, sq8.sq8_lower()[d], sq8.sq8_step()[d]);
  }
  ExactStore store(dim);
  ASSERT_TRUE(store.Reserve(slots));
  std::vector<uint8_t> code(sq8.code_size()), row(store.row_bytes());
  std::vector<uint32_t> escaped(dim);
  size_t escapes_total = 0;
  auto put = [&](size_t s, const float* v) {
    ASSERT_TRUE(sq8.Encode(v, code.data()).ok());
    const size_t e = ExactStore::EncodeRow(sq8, code.data(), v, row.data(), escaped.data());
    escapes_total += e;
    store.Put(static_cast<uint32_t>(s), row.data(), {escaped.data(), e});
  };
  std::vector<std::vector<uint8_t>> codes(slots);
  for (size_t s = 0; s < slots; ++s) {
    put(s, &x[s * dim]);
    codes[s] = code;
  }
  EXPECT_GT(escapes_total, slots / 2) << "the values should exercise escapes";
  auto check = [&](const std::vector<uint8_t>& live) {
    std::vector<float> out(dim);
    for (size_t s = 0; s < slots; ++s) {
      if (!live[s]) continue;
      store.Get(sq8, static_cast<uint32_t>(s), codes[s].data(), out.data());
      for (size_t d = 0; d < dim; ++d) {
        ASSERT_EQ(Bits(out[d]), Bits(x[s * dim + d])) << "slot " << s << " dim " << d;
      }
    }
  };
  std::vector<uint8_t> live(slots, 1);
  check(live);
  // Free two thirds and reuse half of those with new vectors: the released escapes are
  // dropped by the compaction, the others stay where their slots find them.
  for (size_t s = 0; s < slots; ++s) {
    if (s % 3 != 0) {
      store.Release(static_cast<uint32_t>(s));
      live[s] = 0;
    }
  }
  const size_t before = store.escapes().size();
  store.CompactIfWasteful(live, slots);
  EXPECT_LT(store.escapes().size(), before / 2);
  check(live);
  for (size_t s = 0; s < slots; s += 2) {
    if (live[s]) continue;
    for (size_t d = 0; d < dim; ++d) x[s * dim + d] = -x[s * dim + d];
    put(s, &x[s * dim]);
    codes[s] = code;
    live[s] = 1;
  }
  check(live);
}

using sextant::testing::Iota;

// What an sq8-f32 index must return for a vector: the float32 value as given (l2) or as
// normalised once (cosine), bit for bit.
std::vector<uint32_t> WantBits(const float* v, size_t dim, Metric metric) {
  auto f32 = VectorCodec::Create(dim, metric, StorageType::kFloat32);
  std::vector<float> row(dim);
  EXPECT_TRUE(f32->Encode(v, reinterpret_cast<uint8_t*>(row.data())).ok());
  std::vector<uint32_t> bits(dim);
  for (size_t d = 0; d < dim; ++d) bits[d] = Bits(row[d]);
  return bits;
}

std::vector<uint32_t> GotBits(const HnswIndex& ix, uint64_t label) {
  auto v = ix.GetVector(label);
  EXPECT_TRUE(v.ok()) << label;
  std::vector<uint32_t> bits;
  for (float f : *v) bits.push_back(Bits(f));
  return bits;
}

class ExactStoreIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("sextant_exact_store_test_" + std::to_string(::getpid()) + ".hnsw"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
};

// Rows of values around zero (each a few escapes), grown one batch at a time so the SQ8
// parameters are relearned twice, some removed and their slots reused, saved and loaded: every
// vector read back is the one stored, bit for bit, and searches rank by exact distances.
TEST_F(ExactStoreIndexTest, HnswKeepsEveryVectorBitForBit) {
  const size_t dim = 24, n = 1200;
  for (Metric metric : {Metric::kL2, Metric::kCosine}) {
    auto base = sextant::testing::RandomVectors(n + 300, dim, 8);
    for (size_t i = 0; i < base.size(); i += 7) base[i] *= 1e-6f;  // near zero: escapes
    for (size_t i = 3; i < base.size(); i += 11) base[i] = i % 2 ? 0.0f : -0.0f;
    HnswOptions opt;
    opt.metric = metric;
    opt.storage = StorageType::kSq8F32;
    opt.M = 8;
    opt.ef_construction = 60;
    auto made = HnswIndex::Create(dim, opt);
    ASSERT_TRUE(made.ok());
    auto ix = std::move(made).value();
    for (size_t from : {size_t{0}, size_t{100}, size_t{300}}) {  // 100, 300, 1200: relearned
      const size_t to = from == 0 ? 100 : from == 100 ? 300 : n;
      ASSERT_TRUE(ix->AddBatch({&base[from * dim], (to - from) * dim}, Iota(to - from, from), 2).ok());
    }
    std::vector<uint64_t> gone;
    for (uint64_t i = 0; i < n; i += 3) gone.push_back(i);
    ASSERT_TRUE(ix->Remove(gone).ok());
    ASSERT_TRUE(ix->AddBatch({&base[n * dim], 300 * dim}, Iota(300, n)).ok());  // reuses slots
    auto check = [&](const HnswIndex& index) {
      for (uint64_t label = 0; label < n + 300; ++label) {
        if (label < n && label % 3 == 0) {
          EXPECT_FALSE(index.GetVector(label).ok());
          continue;
        }
        ASSERT_EQ(GotBits(index, label), WantBits(&base[label * dim], dim, metric)) << label;
      }
    };
    check(*ix);
    ASSERT_TRUE(ix->Save(path_).ok());
    auto loaded = HnswIndex::Load(path_);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    check(**loaded);
    for (size_t q = 1; q < 40; q += 3) {
      auto a = ix->Search({&base[q * dim], dim}, 5, 40);
      auto b = (*loaded)->Search({&base[q * dim], dim}, 5, 40);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(*a, *b);
      EXPECT_EQ((*a)[0].label, q);  // its own vector, at exact distance 0
      EXPECT_NEAR((*a)[0].distance, 0.0f, 1e-6);
    }
    // The loaded (mapped) index copies itself on the first write and keeps every vector.
    ASSERT_TRUE((*loaded)->Remove(std::vector<uint64_t>{1}).ok());
    for (uint64_t label = 2; label < n + 300; label += 97) {
      if (label < n && label % 3 == 0) continue;
      EXPECT_EQ(GotBits(**loaded, label), WantBits(&base[label * dim], dim, metric));
    }
  }
}

// A version 3 sq8-f32 file keeps float32 vectors in its "exact" section. This writes one the
// way version 3 did (from a file saved now, version 5: the same first eight sections, then each
// slot's float vector) and loads it: the vectors are converted, searches answer as before.
TEST_F(ExactStoreIndexTest, LoadsVersion3FloatVectors) {
  const size_t dim = 16, n = 800;
  auto base = sextant::testing::RandomVectors(n, dim, 9);
  HnswOptions opt;
  opt.metric = Metric::kCosine;
  opt.storage = StorageType::kSq8F32;
  opt.M = 8;
  auto made = HnswIndex::Create(dim, opt);
  ASSERT_TRUE(made.ok());
  auto ix = std::move(made).value();
  ASSERT_TRUE(ix->AddBatch(base, Iota(n)).ok());
  ASSERT_TRUE(ix->Remove(std::vector<uint64_t>{5, 6}).ok());
  ASSERT_TRUE(ix->Save(path_).ok());

  // Sections 0-7 as saved, then "exact": each slot's float vector (zeros for free slots).
  sextant::testing::RewriteHnswFile(path_, 3, 9, [&](std::vector<std::string>& s) {
    const std::string& live = s[4];  // a byte per slot
    std::vector<float> exact(live.size() * dim, 0.0f);
    for (size_t slot = 0; slot < live.size(); ++slot) {
      if (!live[slot]) continue;
      uint64_t label;
      std::memcpy(&label, s[3].data() + slot * 8, 8);
      auto v = ix->GetVector(label);
      ASSERT_TRUE(v.ok());
      std::copy(v->begin(), v->end(), exact.begin() + static_cast<std::ptrdiff_t>(slot * dim));
    }
    s[8].assign(reinterpret_cast<const char*>(exact.data()), exact.size() * sizeof(float));
  });

  auto loaded = HnswIndex::Load(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE((*loaded)->CheckIntegrity().ok());
  for (uint64_t label = 0; label < n; ++label) {
    if (label == 5 || label == 6) continue;
    ASSERT_EQ(GotBits(**loaded, label), WantBits(&base[label * dim], dim, Metric::kCosine)) << label;
  }
  for (size_t q = 0; q < 30; ++q) {
    auto a = ix->Search({&base[q * dim], dim}, 10, 50);
    auto b = (*loaded)->Search({&base[q * dim], dim}, 10, 50);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b);
  }
}

}  // namespace
}  // namespace sextant::index
