// K-means, product quantization, SQ8 codes and the quant kernels, each against a slow twin.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "index/kmeans.h"
#include "index/pq.h"
#include "index/vector_codec.h"
#include "simd/quant.h"
#include "test_util.h"

namespace sextant::index {
namespace {

using sextant::testing::RandomVectors;

double L2(const float* a, const float* b, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return s;
}

// k well-separated centres (coordinates in {-10, +10}) with 50 points each, noise 0.1.
std::vector<float> SeparableClusters(size_t k, size_t dim, std::vector<float>* centres) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> noise(0, 0.1f);
  centres->assign(k * dim, 0);
  for (size_t c = 0; c < k; ++c) {
    for (size_t d = 0; d < dim; ++d) (*centres)[c * dim + d] = ((c >> (d % 4)) & 1) ? 10.0f : -10.0f;
    (*centres)[c * dim + (c % dim)] += 20.0f * static_cast<float>(c);  // distinct centres
  }
  std::vector<float> data;
  for (size_t i = 0; i < 50; ++i) {
    for (size_t c = 0; c < k; ++c) {
      for (size_t d = 0; d < dim; ++d) data.push_back((*centres)[c * dim + d] + noise(rng));
    }
  }
  return data;
}

TEST(KMeansTest, FindsSeparableClusters) {
  const size_t k = 8, dim = 16;
  std::vector<float> centres;
  const std::vector<float> data = SeparableClusters(k, dim, &centres);
  KMeansOptions opt;
  opt.plus_plus = true;
  opt.iterations = 10;
  auto got = TrainKMeans(data, dim, k, opt);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  // Every true centre has a learned centroid within the noise, and vice versa.
  for (size_t c = 0; c < k; ++c) {
    double best = 1e30;
    for (size_t g = 0; g < k; ++g) best = std::min(best, L2(&centres[c * dim], &(*got)[g * dim], dim));
    EXPECT_LT(best, 0.05) << "centre " << c;
  }
}

// Lloyd iterations never increase the objective (sum of squared distances to the nearest
// centroid) of the sampled start.
TEST(KMeansTest, IterationsDoNotIncreaseTheObjective) {
  const size_t k = 20, dim = 8, n = 2000;
  const auto data = RandomVectors(n, dim, 21);
  auto objective = [&](const std::vector<float>& c) {
    std::vector<uint32_t> a(n);
    std::vector<float> d(n);
    AssignNearestReference(data.data(), n, c.data(), k, dim, a.data(), d.data());
    double s = 0;
    for (float x : d) s += x;
    return s;
  };
  double last = 1e30;
  for (size_t iters : {0, 1, 4, 16}) {
    KMeansOptions opt;
    opt.iterations = iters;
    auto c = TrainKMeans(data, dim, k, opt);
    ASSERT_TRUE(c.ok());
    const double obj = objective(*c);
    EXPECT_LE(obj, last * (1 + 1e-6)) << iters << " iterations";
    last = obj;
  }
}

// Three blocks of rows (1,024 each at this dimension, the last one short): on one thread with
// OpenBLAS's, and on two and three of ours (a block each, or one thread taking two).
TEST(KMeansTest, AssignNearestMatchesReference) {
  const size_t n = 3000, k = 37, dim = 13;
  const auto x = RandomVectors(n, dim, 1), c = RandomVectors(k, dim, 2);
  std::vector<uint32_t> b(n);
  std::vector<float> db(n);
  AssignNearestReference(x.data(), n, c.data(), k, dim, b.data(), db.data());
  for (size_t threads : {1, 2, 3}) {
    SCOPED_TRACE(threads);
    std::vector<uint32_t> a(n, k);
    std::vector<float> da(n, -1.0f);
    AssignNearest(x.data(), n, c.data(), k, dim, a.data(), da.data(), false, threads);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_LT(a[i], k) << "row " << i << " not assigned";
      EXPECT_NEAR(da[i], db[i], 1e-4 * (1 + db[i]));
      if (a[i] != b[i]) {  // only a near-tie may differ
        EXPECT_NEAR(L2(&x[i * dim], &c[a[i] * dim], dim), db[i], 1e-4);
      }
    }
  }
}

TEST(KMeansTest, Errors) {
  const auto x = RandomVectors(10, 4, 1);
  auto r = TrainKMeans(x, 4, 11, {});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("at least 11 training vectors, got 10"), std::string::npos);
  EXPECT_FALSE(TrainKMeans(x, 0, 2, {}).ok());
  EXPECT_FALSE(TrainKMeans(x, 3, 2, {}).ok());  // 40 floats are not whole rows of 3
}

TEST(ProductQuantizerTest, BadParameters) {
  EXPECT_EQ(ProductQuantizer::Create(10, 3, 8).status().code(), StatusCode::kInvalidArgument);
  auto r = ProductQuantizer::Create(16, 4, 5);
  EXPECT_NE(r.status().message().find("nbits must be 4 or 8"), std::string::npos);
  EXPECT_FALSE(ProductQuantizer::Create(16, 0, 8).ok());
  auto pq = ProductQuantizer::Create(16, 4, 8);
  ASSERT_TRUE(pq.ok());
  Status st = pq->Train(RandomVectors(100, 16, 1), {});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("at least 256 training vectors, got 100"), std::string::npos);
}

// Data whose every sub-vector is one of 16 points (plus tiny noise): 4-bit PQ recovers it.
TEST(ProductQuantizerTest, ReconstructsStructuredData) {
  const size_t dim = 24, m = 6, ds = 4, n = 2000;
  std::mt19937_64 rng(5);
  const auto atoms = RandomVectors(m * 16, ds, 9, -5, 5);
  std::normal_distribution<float> noise(0, 0.01f);
  std::vector<float> x(n * dim);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < m; ++j) {
      const size_t a = rng() % 16;
      for (size_t d = 0; d < ds; ++d) x[i * dim + j * ds + d] = atoms[(j * 16 + a) * ds + d] + noise(rng);
    }
  }
  for (size_t nbits : {4, 8}) {
    auto pq = ProductQuantizer::Create(dim, m, nbits);
    ASSERT_TRUE(pq.ok());
    KMeansOptions opt;
    opt.plus_plus = true;
    opt.iterations = 10;
    ASSERT_TRUE(pq->Train(x, opt).ok());
    std::vector<uint8_t> codes(n * m);
    pq->Encode(x.data(), n, codes.data());
    double err = 0, norm = 0;
    std::vector<float> y(dim);
    for (size_t i = 0; i < n; ++i) {
      pq->Decode(&codes[i * m], y.data());
      err += L2(&x[i * dim], y.data(), dim);
      norm += L2(&x[i * dim], std::vector<float>(dim, 0).data(), dim);
    }
    EXPECT_LT(err / n, 0.01) << "nbits " << nbits;  // noise alone: 24 * 1e-4
    EXPECT_LT(err / norm, 1e-3);
  }
}

TEST(ProductQuantizerTest, CodesRoundTripAndAdcMatchesDecode) {
  const size_t dim = 32, m = 8, n = 1500;
  const auto x = RandomVectors(n, dim, 11);
  for (size_t nbits : {4, 8}) {
    auto pq = ProductQuantizer::Create(dim, m, nbits);
    ASSERT_TRUE(pq.ok());
    ASSERT_TRUE(pq->Train(x, {}).ok());
    std::vector<uint8_t> codes(n * m), again(n * m), ref(m);
    pq->Encode(x.data(), n, codes.data());
    std::vector<float> decoded(n * dim);
    for (size_t i = 0; i < n; ++i) pq->Decode(&codes[i * m], &decoded[i * dim]);
    pq->Encode(decoded.data(), n, again.data());
    EXPECT_EQ(codes, again) << "decode then encode must give the same codes";
    size_t differ = 0;
    for (size_t i = 0; i < n; ++i) {
      pq->EncodeReference(&x[i * dim], ref.data());
      for (size_t j = 0; j < m; ++j) differ += ref[j] != codes[i * m + j];
      for (size_t j = 0; j < m; ++j) EXPECT_LT(codes[i * m + j], pq->ksub());
    }
    EXPECT_LE(differ, n * m / 1000) << "sgemm encoding disagrees with the reference too often";

    const auto q = RandomVectors(1, dim, 12);
    std::vector<float> table(m * pq->ksub()), ip(m * pq->ksub());
    pq->L2Table(q.data(), table.data());
    pq->InnerProductTable(q.data(), ip.data());
    std::vector<float> scan(n);
    if (nbits == 8) pq->AdcScan(table.data(), codes.data(), n, 0.5f, scan.data());
    for (size_t i = 0; i < n; ++i) {
      const double want = L2(q.data(), &decoded[i * dim], dim);
      EXPECT_NEAR(pq->Adc(table.data(), &codes[i * m]), want, 1e-4 * (1 + want));
      double dot = 0;
      for (size_t d = 0; d < dim; ++d) dot += double(q[d]) * decoded[i * dim + d];
      EXPECT_NEAR(pq->Adc(ip.data(), &codes[i * m]), dot, 1e-4 * (1 + std::fabs(dot)));
      if (nbits == 8) {
        EXPECT_NEAR(scan[i], 0.5 + want, 1e-4 * (1 + want));
      }
    }
  }
}

TEST(ProductQuantizerTest, Pq4PackingRoundTrips) {
  const size_t m = 7;
  std::vector<uint8_t> block(m * 16, 0), codes(32 * m), back(m);
  std::mt19937_64 rng(1);
  for (auto& c : codes) c = rng() % 16;
  for (size_t i = 0; i < 32; ++i) PackPq4(&codes[i * m], m, i, block.data());
  for (size_t i = 0; i < 32; ++i) {
    UnpackPq4(block.data(), m, i, back.data());
    EXPECT_EQ(std::vector<uint8_t>(codes.begin() + i * m, codes.begin() + (i + 1) * m), back);
  }
}

// Every quant kernel variant the CPU runs against the scalar reference.
// The 1-bit code against a 4-bit query in bit planes: every variant against the reference,
// and the reference against the sum written out from 4-bit values (all-zero and all-one codes
// included).
TEST(QuantKernelsTest, BitsDotU4MatchesScalarTwin) {
  std::mt19937_64 rng(9);
  const simd::QuantKernels& ref = simd::QuantReference();
  for (size_t words : {1, 2, 7, 8, 9, 13, 16, 40}) {
    std::vector<uint32_t> x(words * 64);
    for (auto& v : x) v = static_cast<uint32_t>(rng() % 16);
    std::vector<uint64_t> planes(words * 4, 0);
    for (size_t i = 0; i < x.size(); ++i) {
      for (size_t j = 0; j < 4; ++j) planes[i / 64 * 4 + j] |= static_cast<uint64_t>((x[i] >> j) & 1) << (i % 64);
    }
    for (int pattern = 0; pattern < 3; ++pattern) {
      std::vector<uint64_t> code(words);
      for (auto& c : code) c = pattern == 0 ? 0 : pattern == 1 ? ~uint64_t{0} : rng();
      uint32_t want = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        if ((code[i / 64] >> (i % 64)) & 1) want += x[i];
      }
      EXPECT_EQ(ref.bits_dot_u4(code.data(), planes.data(), words), want) << words << " " << pattern;
      for (const simd::QuantKernels* k : simd::QuantAvailable()) {
        EXPECT_EQ(k->bits_dot_u4(code.data(), planes.data(), words), want)
            << k->isa << " words=" << words << " pattern " << pattern;
      }
    }
  }
}

// The screen's rotation: every variant bit-identical to the reference (the same butterflies),
// and the reference equal to the Hadamard matrix written out, H[i][j] = (-1)^popcount(i & j),
// summed in double.
TEST(QuantKernelsTest, FwhtMatchesHadamardMatrix) {
  const simd::QuantKernels& ref = simd::QuantReference();
  for (size_t n : {64, 128, 256, 1024, 4096}) {
    const std::vector<float> x = RandomVectors(1, n, n);
    std::vector<float> want(n);
    for (size_t i = 0; i < n; ++i) {
      double sum = 0;
      for (size_t j = 0; j < n; ++j) sum += (std::popcount(i & j) % 2 ? -1.0 : 1.0) * x[j];
      want[i] = static_cast<float>(sum);
    }
    std::vector<float> got = x;
    ref.fwht_f32(got.data(), n);
    for (size_t i = 0; i < n; ++i) ASSERT_NEAR(got[i], want[i], 1e-4 * std::sqrt(double(n))) << n << " " << i;
    for (const simd::QuantKernels* k : simd::QuantAvailable()) {
      std::vector<float> kx = x;
      k->fwht_f32(kx.data(), n);
      EXPECT_EQ(std::memcmp(kx.data(), got.data(), n * sizeof(float)), 0) << k->isa << " n=" << n;
    }
  }
}

// The query's 4-bit planes: every variant against values rounded one at a time, with values at
// the bottom of the range, exactly half a step above a level (rounds up), and above the top
// (clamped to 15).
TEST(QuantKernelsTest, U4PlanesMatchesRoundedValues) {
  for (size_t n : {64, 128, 1024}) {
    std::vector<float> v = RandomVectors(1, n, n + 1, 0.0f, 1.0f);
    const float lower = 0.0f, scale = 16.0f;  // powers of two: v[1] lands on 2.5 exactly
    v[0] = 0.0f;
    v[1] = 2.5f / 16.0f;
    v[2] = 1.2f;  // above the range: 19.2 before the clamp
    v[n - 1] = 1.0f;
    std::vector<uint32_t> x(n);
    uint32_t want_sum = 0;
    for (size_t i = 0; i < n; ++i) {
      const float t = (v[i] - lower) * scale;
      x[i] = std::min<uint32_t>(15, static_cast<uint32_t>(t + 0.5f));
      want_sum += x[i];
    }
    EXPECT_EQ(x[1], 3u);
    EXPECT_EQ(x[2], 15u);
    for (const simd::QuantKernels* k : simd::QuantAvailable()) {
      std::vector<uint64_t> planes(n / 64 * 4, ~uint64_t{0});
      EXPECT_EQ(k->u4_planes(v.data(), n, lower, scale, planes.data()), want_sum) << k->isa << " n=" << n;
      for (size_t i = 0; i < n; ++i) {
        uint32_t got = 0;
        for (uint32_t j = 0; j < 4; ++j) {
          got |= static_cast<uint32_t>((planes[i / 64 * 4 + j] >> (i % 64)) & 1) << j;
        }
        ASSERT_EQ(got, x[i]) << k->isa << " n=" << n << " value " << i;
      }
    }
  }
}

TEST(QuantKernelsTest, FastScanMatchesScalarTwin) {
  std::mt19937_64 rng(2);
  const simd::QuantKernels& ref = simd::QuantReference();
  for (const simd::QuantKernels* k : simd::QuantAvailable()) {
    for (size_t m : {1, 2, 3, 8, 16, 56, 255, 256}) {
      for (size_t nblocks : {1, 3}) {
        std::vector<uint8_t> blocks(nblocks * m * 16), luts(m * 16);
        for (auto& b : blocks) b = static_cast<uint8_t>(rng());
        for (auto& l : luts) l = static_cast<uint8_t>(rng());
        if (m == 256) std::fill(luts.begin(), luts.end(), 255);  // the largest sum
        std::vector<uint16_t> want(nblocks * 32), got(nblocks * 32);
        ref.pq4_scan(blocks.data(), nblocks, m, luts.data(), want.data());
        k->pq4_scan(blocks.data(), nblocks, m, luts.data(), got.data());
        EXPECT_EQ(want, got) << k->isa << " m=" << m;
        // The reference itself against unpacking by hand.
        for (size_t i = 0; i < nblocks * 32; ++i) {
          std::vector<uint8_t> code(m);
          UnpackPq4(blocks.data() + (i / 32) * m * 16, m, i % 32, code.data());
          uint32_t s = 0;
          for (size_t j = 0; j < m; ++j) s += luts[j * 16 + code[j]];
          ASSERT_EQ(want[i], s);
        }
      }
    }
    for (size_t rows : {1, 3, 14}) {
      for (size_t cols : {1, 7, 16, 40, 256}) {
        const auto mt = RandomVectors(rows, cols, rows * 1000 + cols), x = RandomVectors(1, rows, 5);
        std::vector<float> want(cols), got(cols), sum(cols), sum_ref(cols);
        ref.matvec_t(mt.data(), x.data(), rows, cols, want.data());
        k->matvec_t(mt.data(), x.data(), rows, cols, got.data());
        for (size_t c = 0; c < cols; ++c) EXPECT_NEAR(got[c], want[c], 1e-5 * (1 + std::fabs(want[c])));
        ref.add_f32(mt.data(), want.data(), cols, sum_ref.data());
        k->add_f32(mt.data(), want.data(), cols, sum.data());
        EXPECT_EQ(sum, sum_ref);
      }
    }
    std::vector<size_t> lengths(80);
    std::iota(lengths.begin(), lengths.end(), size_t{1});
    for (size_t n : {255, 256, 257, 1000}) lengths.push_back(n);
    for (size_t n : lengths) {
      auto a = RandomVectors(1, n, 100 + n), b = RandomVectors(1, n, 200 + n);
      // Ties: the first index wins, whichever lane or chain holds each.
      if (n > 20) a[n / 3] = a[n / 2] = a[n - 1] = -5;
      if (n > 20) b[n / 3] = b[n / 2] = b[n - 1] = 1;
      if (n > 200) a[n / 7 + 8] = -5, b[n / 7 + 8] = 1;
      for (float alpha : {-2.0f, -1.0f, 1.0f}) {
        float vr, vk;
        const uint32_t ir = ref.argmin_affine(a.data(), b.data(), alpha, n, &vr);
        const uint32_t ik = k->argmin_affine(a.data(), b.data(), alpha, n, &vk);
        EXPECT_EQ(ir, ik) << k->isa << " n=" << n;
        EXPECT_EQ(vr, vk);
      }
    }
    // The SQ8 query encoding's kernels: weights, their maximum and the int16 rounding equal
    // the reference bit for bit (halves, -0 and the largest magnitude included); the constant
    // term within float summation order.
    for (size_t n = 0; n <= 70; ++n) {
      const auto q = RandomVectors(1, n + 1, 300 + n, -4, 4);
      const auto lower = RandomVectors(1, n + 1, 400 + n, -2, 1);
      const auto step = RandomVectors(1, n + 1, 500 + n, 0, 3);
      for (bool l2 : {true, false}) {
        std::vector<float> wr(n + 1, 7), wk(n + 1, 7);
        float br = 0, bk = 0;
        const float mr = ref.sq8_query_weights(q.data(), lower.data(), step.data(), n, l2, wr.data(), &br);
        const float mk = k->sq8_query_weights(q.data(), lower.data(), step.data(), n, l2, wk.data(), &bk);
        EXPECT_EQ(mr, mk) << k->isa << " n=" << n;
        EXPECT_EQ(wr, wk) << k->isa << " n=" << n;  // the sentinel past n untouched in both
        EXPECT_NEAR(br, bk, 1e-5 * (1 + std::fabs(br))) << k->isa << " n=" << n;
        float want_max = 0, want_base = 0;
        for (size_t i = 0; i < n; ++i) {
          const float a = l2 ? q[i] - lower[i] : q[i];
          want_max = std::max(want_max, std::fabs(a * step[i]));
          want_base += l2 ? a * a : q[i] * lower[i];
        }
        EXPECT_EQ(mr, want_max);
        EXPECT_NEAR(br, want_base, 1e-5 * (1 + std::fabs(want_base)));
      }
      std::vector<float> w(n);
      for (size_t i = 0; i < n; ++i) {
        switch (i % 5) {
          case 0: w[i] = static_cast<float>(static_cast<int>(i) - 35) + 0.5f; break;  // a half
          case 1: w[i] = -static_cast<float>(i) - 0.5f; break;
          case 2: w[i] = i % 2 ? -0.0f : 32767.0f; break;
          case 3: w[i] = -32767.0f; break;
          default: w[i] = q[i] * 1000; break;
        }
      }
      std::vector<int16_t> rr(n + 1, 9), rk(n + 1, 9);
      ref.round_i16(w.data(), n, 1.0f, rr.data());
      k->round_i16(w.data(), n, 1.0f, rk.data());
      EXPECT_EQ(rr, rk) << k->isa << " n=" << n;
      for (size_t i = 0; i < n; ++i) {
        EXPECT_EQ(rr[i], static_cast<int16_t>(std::trunc(w[i] + std::copysign(0.5f, w[i]))));
      }
      ref.round_i16(w.data(), n, 0.37f, rr.data());
      k->round_i16(w.data(), n, 0.37f, rk.data());
      EXPECT_EQ(rr, rk) << k->isa << " n=" << n;
    }
    // The SQ8 walk's integer product: equal to the reference in every variant, for every
    // length through three AVX-512 steps and their masked tails, at the extreme values the
    // codec allows (|w| = 32767 with bytes of 255).
    for (size_t n = 0; n <= 200; ++n) {
      std::vector<int16_t> w(n + 1);
      std::vector<uint8_t> c(n + 1);
      for (auto& x : w) x = static_cast<int16_t>(static_cast<int>(rng() % 65535) - 32767);
      for (auto& x : c) x = static_cast<uint8_t>(rng());
      int64_t want = 0;
      for (size_t i = 0; i < n; ++i) want += int64_t{w[i]} * c[i];
      ASSERT_EQ(ref.dot_i16_u8(w.data(), c.data(), n), want) << n;
      EXPECT_EQ(k->dot_i16_u8(w.data(), c.data(), n), want) << k->isa << " n=" << n;
      std::fill(w.begin(), w.end(), int16_t{-32767});
      std::fill(c.begin(), c.end(), uint8_t{255});
      EXPECT_EQ(k->dot_i16_u8(w.data(), c.data(), n), int64_t{-32767} * 255 * static_cast<int64_t>(n))
          << k->isa << " n=" << n;
      // Four codes at once: each its own sum; each code ends where its allocation ends (ASan
      // sees a read past it) and starts at its own offset; the last one all 255.
      std::vector<std::vector<uint8_t>> four(4);
      const uint8_t* ptrs[4];
      for (size_t j = 0; j < 4; ++j) {
        four[j].resize(n + j % 3);
        for (auto& x : four[j]) x = j == 3 ? uint8_t{255} : static_cast<uint8_t>(rng());
        ptrs[j] = four[j].data() + j % 3;
      }
      for (auto& x : w) x = static_cast<int16_t>(static_cast<int>(rng() % 65535) - 32767);
      int32_t got[4];
      k->dot_i16_u8_x4(w.data(), ptrs, n, got);
      for (size_t j = 0; j < 4; ++j) {
        int64_t sum = 0;
        for (size_t i = 0; i < n; ++i) sum += int64_t{w[i]} * ptrs[j][i];
        EXPECT_EQ(got[j], sum) << k->isa << " n=" << n << " code " << j;
      }
      // Four queries against one code (the first, and the last, all 255): each query ends where
      // its allocation ends and starts at its own offset; the last one all -32767.
      std::vector<std::vector<int16_t>> queries(4);
      const int16_t* qptrs[4];
      for (size_t j = 0; j < 4; ++j) {
        queries[j].resize(n + j % 3);
        for (auto& x : queries[j]) {
          x = j == 3 ? int16_t{-32767} : static_cast<int16_t>(static_cast<int>(rng() % 65535) - 32767);
        }
        qptrs[j] = queries[j].data() + j % 3;
      }
      for (const uint8_t* code : {ptrs[0], ptrs[3]}) {
        k->dot_i16x4_u8(qptrs, code, n, got);
        for (size_t j = 0; j < 4; ++j) {
          int64_t sum = 0;
          for (size_t i = 0; i < n; ++i) sum += int64_t{qptrs[j][i]} * code[i];
          EXPECT_EQ(got[j], sum) << k->isa << " n=" << n << " query " << j;
        }
      }
    }
    for (size_t n = 0; n <= 70; ++n) {
      const auto w = RandomVectors(1, n + 1, n);
      std::vector<uint8_t> a(n + 1), b(n + 1);
      for (auto& x : a) x = static_cast<uint8_t>(rng());
      for (auto& x : b) x = static_cast<uint8_t>(rng());
      const float want = ref.dot_f32_u8(w.data(), a.data(), n);
      EXPECT_NEAR(k->dot_f32_u8(w.data(), a.data(), n), want, 1e-4 * (1 + std::fabs(want)));
      const float want2 = ref.wl2_u8(a.data(), b.data(), w.data(), n);
      EXPECT_NEAR(k->wl2_u8(a.data(), b.data(), w.data(), n), want2, 1e-4 * (1 + std::fabs(want2)));
    }
  }
}

TEST(Sq8CodecTest, EncodesWithinHalfAStepAndDistancesMatchDecoded) {
  const size_t dim = 37, n = 500;
  const auto x = RandomVectors(n, dim, 4, -3, 7);
  for (Metric metric : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
    std::vector<float> lower, step;
    ASSERT_TRUE(VectorCodec::TrainSq8(x, dim, metric, &lower, &step).ok());
    auto codec = VectorCodec::CreateSq8(dim, metric, lower, step);
    ASSERT_TRUE(codec.ok()) << codec.status().ToString();
    std::vector<uint8_t> code(codec->code_size()), code2(codec->code_size()),
        q(codec->query_size());
    std::vector<float> y(dim), y2(dim), prepared(dim);
    const auto query = RandomVectors(1, dim, 5, -3, 7);
    // SQ8 queries are rounded to int16 weights: "not exact", the index re-ranks in float.
    ASSERT_FALSE(codec->EncodeQuery(query.data(), q.data()));
    codec->PrepareExactQuery(query.data(), prepared.data());
    for (size_t i = 0; i + 1 < n; ++i) {
      ASSERT_TRUE(codec->Encode(&x[i * dim], code.data()).ok());
      ASSERT_TRUE(codec->Encode(&x[(i + 1) * dim], code2.data()).ok());
      codec->Decode(code.data(), y.data());
      codec->Decode(code2.data(), y2.data());
      if (metric == Metric::kL2) {
        for (size_t d = 0; d < dim; ++d) ASSERT_LE(std::fabs(y[d] - x[i * dim + d]), step[d] / 2 + 1e-5);
      }
      const float exact = codec->ExactDistance(prepared.data(), code.data());
      // The int16 weights carry about 15 bits: the error is relative to the size of the
      // products summed (|q| |y|), not to the distance, which may be a small difference.
      double qn = 0, yn = 0;
      for (size_t d = 0; d < dim; ++d) qn += double(prepared[d]) * prepared[d], yn += double(y[d]) * y[d];
      EXPECT_NEAR(codec->QueryDistance(q.data(), code.data()), exact,
                  1e-3 * (1 + std::fabs(exact)) + 1e-4 * std::sqrt(qn * yn));
      double want = metric == Metric::kL2 ? L2(y.data(), y2.data(), dim) : 0;
      if (metric != Metric::kL2) {
        for (size_t d = 0; d < dim; ++d) want += double(y[d]) * y2[d];
        want = 1 - want;
      }
      EXPECT_NEAR(codec->CodeDistance(code.data(), code2.data()), want, 1e-3 * (1 + std::fabs(want)));
    }
    // Four codes at once: the same values as one at a time, bit for bit.
    const size_t cs = codec->code_size();
    std::vector<uint8_t> four(4 * cs);
    const uint8_t* codes[4];
    for (size_t j = 0; j < 4; ++j) {
      ASSERT_TRUE(codec->Encode(&x[(7 * j + 3) * dim], &four[j * cs]).ok());
      codes[j] = &four[j * cs];
    }
    float got[4];
    codec->QueryDistances4(q.data(), codes, got);
    for (size_t j = 0; j < 4; ++j) EXPECT_EQ(got[j], codec->QueryDistance(q.data(), codes[j])) << j;
  }
}

// Queries are checked for finite values without an early exit; the message still names the
// first offending dimension, wherever it is (the loop's last values, the largest finite float
// accepted).
TEST(VectorCodecTest, ValidateQueryNamesTheFirstNonFiniteDimension) {
  auto c = VectorCodec::Create(37, Metric::kL2, StorageType::kFloat32);
  ASSERT_TRUE(c.ok());
  std::vector<float> q(37, 1.0f);
  q[5] = std::numeric_limits<float>::max();
  q[6] = -std::numeric_limits<float>::denorm_min();
  EXPECT_TRUE(c->ValidateQuery(q.data()).ok());
  for (size_t at : {0, 17, 36}) {
    for (float bad : {NAN, INFINITY, -INFINITY}) {
      std::vector<float> b = q;
      b[at] = bad;
      b[36] = at == 36 ? bad : NAN;  // a later one too: the first is named
      const Status st = c->ValidateQuery(b.data());
      EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
      EXPECT_NE(st.message().find("at dimension " + std::to_string(at) + " "), std::string::npos)
          << st.message();
    }
  }
}

TEST(Sq8CodecTest, Errors) {
  EXPECT_EQ(VectorCodec::Create(8, Metric::kL2, StorageType::kSq8).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(VectorCodec::CreateSq8(8, Metric::kL2, std::vector<float>(7), std::vector<float>(8)).ok());
  EXPECT_FALSE(VectorCodec::CreateSq8(2, Metric::kL2, {0, 0}, {1, -1}).ok());
  EXPECT_FALSE(VectorCodec::CreateSq8(2, Metric::kL1, {0, 0}, {1, 1}).ok());
  std::vector<float> lower, step;
  EXPECT_FALSE(VectorCodec::TrainSq8({}, 4, Metric::kL2, &lower, &step).ok());
  auto c = VectorCodec::CreateSq8(2, Metric::kL2, {0, 0}, {1, 0});
  ASSERT_TRUE(c.ok());
  std::vector<uint8_t> code(c->code_size());
  const float nan[2] = {NAN, 1};
  EXPECT_EQ(c->Encode(nan, code.data()).code(), StatusCode::kInvalidArgument);
  const float big[2] = {1000, 5};  // clamped to the trained range; zero step encodes 0
  ASSERT_TRUE(c->Encode(big, code.data()).ok());
  EXPECT_EQ(code[0], 255);
  EXPECT_EQ(code[1], 0);
}

}  // namespace
}  // namespace sextant::index
