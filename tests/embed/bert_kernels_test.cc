// Every BERT kernel table the CPU runs against the scalar reference (std::erf, std::exp, double
// LayerNorm sums), over lengths that exercise the vector tails, and the vector erf/exp over
// their whole range.
#include "embed/bert_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace sextant::embed::kernels {
namespace {

std::vector<float> Random(size_t n, uint32_t seed, float lo = -3, float hi = 3) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

double MaxRelDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, std::fabs(double(a[i]) - b[i]) / std::max(1.0, std::fabs(double(b[i]))));
  }
  return m;
}

TEST(BertKernels, ReferenceIsAlwaysThereAndBestIsAvailable) {
  const auto tables = Available();
  ASSERT_FALSE(tables.empty());
  EXPECT_STREQ(tables.front()->isa, "reference");
  bool found = false;
  for (const BertKernels* t : tables) found |= t == &Best();
  EXPECT_TRUE(found);
  std::printf("[ BERT kernels: %s ]\n", Best().isa);
}

TEST(BertKernels, ErfAndExpOverTheirRange) {
  std::vector<float> x;
  for (double v = -7; v <= 7; v += 1.0 / 1024) x.push_back(float(v));
  std::vector<float> ex;
  for (double v = -100; v <= 88; v += 1.0 / 256) ex.push_back(float(v));
  for (const BertKernels* t : Available()) {
    std::vector<float> out(x.size());
    t->erf(x.data(), out.data(), x.size());
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(out[i] - std::erf(double(x[i]))));
    EXPECT_LT(worst, 4e-7) << t->isa;
    std::vector<float> e(ex.size());
    t->exp(ex.data(), e.data(), ex.size());
    double rel = 0;
    for (size_t i = 0; i < ex.size(); ++i) {
      if (ex[i] < -87.3f) {
        EXPECT_EQ(e[i], 0.0f) << t->isa << " exp(" << ex[i] << ")";
        continue;
      }
      const double want = std::exp(double(ex[i]));
      rel = std::max(rel, std::fabs(e[i] - want) / want);
    }
    EXPECT_LT(rel, 2e-7) << t->isa;
    std::printf("[ %s: erf max abs error %.3g, exp max rel error %.3g ]\n", t->isa, worst, rel);
  }
}

TEST(BertKernels, ElementwiseKernelsMatchTheReference) {
  const BertKernels& ref = Reference();
  for (const BertKernels* t : Available()) {
    for (size_t cols : {1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 70, 384, 1536}) {
      const size_t rows = 3, ld = cols + 5;
      const auto x = Random(rows * ld, uint32_t(cols));
      const auto bias = Random(cols, uint32_t(cols) + 1);
      auto a = x, b = x;
      ref.bias_gelu(a.data(), bias.data(), rows, cols, ld);
      t->bias_gelu(b.data(), bias.data(), rows, cols, ld);
      EXPECT_LT(MaxRelDiff(b, a), 1e-6) << t->isa << " gelu cols " << cols;
      a = x, b = x;
      ref.add_bias(a.data(), bias.data(), rows, cols, ld);
      t->add_bias(b.data(), bias.data(), rows, cols, ld);
      EXPECT_EQ(a, b) << t->isa << " bias cols " << cols;

      // LayerNorm over packed rows, with and without the shared row, in place and not.
      const auto y = Random(rows * cols, uint32_t(cols) + 2, -5, 9);
      const auto gamma = Random(cols, 5, 0.5f, 1.5f), beta = Random(cols, 6);
      for (const float* c : {bias.data(), static_cast<const float*>(nullptr)}) {
        std::vector<float> want(rows * cols), got(x.begin(), x.begin() + rows * cols);
        ref.add_layer_norm(want.data(), x.data(), y.data(), c, gamma.data(), beta.data(), rows, cols, 1e-12f);
        t->add_layer_norm(got.data(), got.data(), y.data(), c, gamma.data(), beta.data(), rows, cols, 1e-12f);
        EXPECT_LT(MaxRelDiff(got, want), 2e-5) << t->isa << " layer norm cols " << cols;
      }

      // Softmax of scaled rows, values far apart included.
      auto s = Random(rows * ld, uint32_t(cols) + 3, -40, 40);
      auto s2 = s;
      ref.softmax(s.data(), rows, cols, ld, 0.17f);
      t->softmax(s2.data(), rows, cols, ld, 0.17f);
      double worst = 0;
      for (size_t r = 0; r < rows; ++r) {
        double sum = 0;
        for (size_t c = 0; c < cols; ++c) {
          worst = std::max(worst, double(std::fabs(s[r * ld + c] - s2[r * ld + c])));
          sum += s2[r * ld + c];
        }
        EXPECT_NEAR(sum, 1.0, 1e-5) << t->isa;
        for (size_t c = cols; c < ld; ++c) EXPECT_EQ(s2[r * ld + c], s[r * ld + c]);  // past the row: untouched
      }
      EXPECT_LT(worst, 1e-6) << t->isa << " softmax cols " << cols;
    }
  }
}

TEST(BertKernels, SoftmaxOfVeryNegativeRowsStaysFinite) {
  for (const BertKernels* t : Available()) {
    std::vector<float> s = {-1e30f, -1e30f, -2e30f, -1e30f, -5e29f, -3e30f, -1e30f, -1e30f, -1e30f};
    t->softmax(s.data(), 1, s.size(), s.size(), 1.0f);
    for (float v : s) EXPECT_TRUE(std::isfinite(v)) << t->isa;
    EXPECT_FLOAT_EQ(s[4], 1.0f) << t->isa;
  }
}

TEST(BertKernels, Int8QuantizeRowsIsExactlyTheReference) {
  const auto tables = Int8Available();
  EXPECT_STREQ(tables.front()->isa, "reference");
  std::printf("[ int8 kernels: %s ]\n", Int8Best().isa);
  for (size_t k : {1, 3, 4, 5, 16, 17, 31, 64, 383, 384}) {
    const size_t m = 5, ldq = (k + 3) / 4 * 4 + 8;
    auto x = Random(m * k, uint32_t(k), -4, 7);
    if (k > 3) std::fill(x.begin() + 3 * k, x.begin() + 4 * k, 1.25f);  // a constant row
    std::vector<uint8_t> want(m * ldq, 77);
    std::vector<float> ws(m), wz(m);
    Int8Reference().quantize_rows(x.data(), m, k, want.data(), ldq, ws.data(), wz.data());
    for (size_t r = 0; r < m; ++r) {
      // Dequantized, every value is within half a step of the original.
      for (size_t c = 0; c < k; ++c) EXPECT_NEAR(wz[r] + ws[r] * want[r * ldq + c], x[r * k + c], ws[r] / 2 + 1e-6);
      for (size_t c = k; c < ldq; ++c) EXPECT_EQ(want[r * ldq + c], 0);
    }
    for (const Int8Kernels* t : tables) {
      std::vector<uint8_t> got(m * ldq, 99);
      std::vector<float> gs(m), gz(m);
      t->quantize_rows(x.data(), m, k, got.data(), ldq, gs.data(), gz.data());
      EXPECT_EQ(got, want) << t->isa << " k " << k;
      EXPECT_EQ(gs, ws) << t->isa;
      EXPECT_EQ(gz, wz) << t->isa;
    }
  }
}

TEST(BertKernels, Int8LinearMatchesTheReferenceAndTheFloatProduct) {
  for (size_t n : {1, 15, 16, 17, 40, 64, 65, 200}) {
    for (size_t k : {1, 4, 7, 32, 97}) {
      for (size_t m : {1, 2, 3, 4, 5, 9}) {
        const auto w = Random(n * k, uint32_t(n * 131 + k), -0.5f, 0.5f);
        const auto x = Random(m * k, uint32_t(m + 7 * k), -2, 3);
        const auto bias = Random(n, uint32_t(n), -1, 1);
        const Int8Pack pack = PackInt8(w.data(), n, k);
        const size_t ldq = (k + 3) / 4 * 4;
        std::vector<uint8_t> q(m * ldq);
        std::vector<float> sx(m), zx(m);
        Int8Reference().quantize_rows(x.data(), m, k, q.data(), ldq, sx.data(), zx.data());
        for (bool gelu : {false, true}) {
          const size_t ldy = n + 3;
          std::vector<float> want(m * ldy, -9.0f);
          Int8Reference().linear(q.data(), ldq, sx.data(), zx.data(), m, pack.view(), bias.data(), gelu, want.data(), ldy);
          // The quantized product is close to the float one (8-bit steps on both sides).
          if (!gelu) {
            for (size_t r = 0; r < m; ++r) {
              for (size_t o = 0; o < n; ++o) {
                double exact = bias[o];
                for (size_t c = 0; c < k; ++c) exact += double(x[r * k + c]) * w[o * k + c];
                EXPECT_NEAR(want[r * ldy + o], exact, 0.02 * std::sqrt(double(k)) + 1e-3) << n << " " << k << " " << m;
              }
            }
          }
          for (const Int8Kernels* t : Int8Available()) {
            std::vector<float> got(m * ldy, -9.0f);
            t->linear(q.data(), ldq, sx.data(), zx.data(), m, pack.view(), bias.data(), gelu, got.data(), ldy);
            EXPECT_LT(MaxRelDiff(got, want), 2e-6) << t->isa << " n " << n << " k " << k << " m " << m;
            for (size_t r = 0; r < m; ++r) {
              for (size_t o = n; o < ldy; ++o) EXPECT_EQ(got[r * ldy + o], -9.0f) << t->isa;  // past n: untouched
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace sextant::embed::kernels
