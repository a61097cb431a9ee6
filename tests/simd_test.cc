// Tests for the distance kernels: every table this CPU runs is compared with Reference() on
// random data of every length 0..1024, at aligned and unaligned addresses, with poisoned
// memory just outside the inputs; the reference itself is checked against double/64-bit sums
// and exact binary16 facts.

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "simd/distance.h"
#include "simd/internal.h"

namespace sextant::simd {
namespace {

constexpr size_t kMaxDim = 1024;
constexpr size_t kGuard = 80;  // Elements of poison after each input; more than any SIMD block.

// Deterministic values from a fixed-seed std::mt19937 (whose output the standard pins down).
class Rng {
 public:
  explicit Rng(uint32_t seed) : gen_(seed) {}
  uint32_t Bits() { return gen_(); }
  // Uniform in [-1, 1).
  float Unit() {
    return static_cast<float>(static_cast<int32_t>(gen_() >> 8) - (1 << 23)) * 0x1p-23f;
  }
  // Full-range bytes, with the extremes over-represented to hit overflow corners.
  uint8_t U8() {
    const uint32_t r = gen_();
    if (r % 8 == 0) return (r >> 8) & 1 ? 255 : 0;
    return static_cast<uint8_t>(r >> 16);
  }
  int8_t I8() { return static_cast<int8_t>(U8() - 128); }

 private:
  std::mt19937 gen_;
};

// One memory layout for a kernel input: `offset` elements before the data (making the pointer
// unaligned when 1) and optionally a poisoned guard after it. Without the guard the vector is
// exactly as large as the data, so AddressSanitizer flags any read past the end; with it, a
// kernel that reads and uses elements past n gets a wrong (or NaN) result.
struct Layout {
  size_t offset;
  bool guard;
};
constexpr Layout kLayouts[] = {{0, false}, {1, false}, {1, true}};

template <class T>
class Buffer {
 public:
  Buffer(const std::vector<T>& values, Layout layout, T poison)
      : storage_(layout.offset + values.size() + (layout.guard ? kGuard : 0), poison),
        offset_(layout.offset) {
    std::copy(values.begin(), values.end(), storage_.begin() + offset_);
  }
  const T* data() const { return storage_.data() + offset_; }

 private:
  std::vector<T> storage_;
  size_t offset_;
};

const float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr uint16_t kHalfNaN = 0x7e00;

std::string IsaName(const testing::TestParamInfo<const Kernels*>& info) { return info.param->isa; }

class KernelsTest : public testing::TestWithParam<const Kernels*> {
 protected:
  const Kernels& k() const { return *GetParam(); }
  const Kernels& ref() const { return Reference(); }
};

INSTANTIATE_TEST_SUITE_P(AllIsas, KernelsTest, testing::ValuesIn(Available()), IsaName);

// Float sums may round differently per variant: allow 1e-4 of the sum of absolute terms.
double Tolerance(double sum_abs_terms) { return 1e-4 * sum_abs_terms; }

TEST_P(KernelsTest, F32KernelsMatchReference) {
  Rng rng(1);
  for (size_t n = 0; n <= kMaxDim; ++n) {
    // Vary the magnitude so relative tolerances are exercised away from 1.
    const float scale = n % 3 == 0 ? 1000.0f : (n % 3 == 1 ? 1.0f : 1e-3f);
    std::vector<float> va(n), vb(n);
    double l2_abs = 0, ip_abs = 0, l1_abs = 0;
    for (size_t i = 0; i < n; ++i) {
      va[i] = rng.Unit() * scale;
      vb[i] = rng.Unit() * scale;
      const double d = static_cast<double>(va[i]) - vb[i];
      l2_abs += d * d;
      ip_abs += std::fabs(static_cast<double>(va[i]) * vb[i]);
      l1_abs += std::fabs(d);
    }
    for (const Layout layout : kLayouts) {
      SCOPED_TRACE(testing::Message()
                   << "n=" << n << " offset=" << layout.offset << " guard=" << layout.guard);
      const Buffer<float> a(va, layout, kNaN), b(vb, layout, kNaN);
      EXPECT_NEAR(k().l2sq_f32(a.data(), b.data(), n), ref().l2sq_f32(a.data(), b.data(), n),
                  Tolerance(l2_abs));
      EXPECT_NEAR(k().ip_f32(a.data(), b.data(), n), ref().ip_f32(a.data(), b.data(), n),
                  Tolerance(ip_abs));
      EXPECT_NEAR(k().l1_f32(a.data(), b.data(), n), ref().l1_f32(a.data(), b.data(), n),
                  Tolerance(l1_abs));
      // Cosine distance is 1 - (a sum bounded by 1 in magnitude): absolute tolerance.
      EXPECT_NEAR(k().cosine_distance_f32(a.data(), b.data(), n),
                  ref().cosine_distance_f32(a.data(), b.data(), n), 1e-4);
    }
  }
}

// The four-vector kernels against the same table's single ones, to the bit (the walk mixes the
// two and compares their results): every length up to kMaxDim, four vectors at
// different alignments, and a repeated vector (the walk pads a last two or three with repeats).
TEST_P(KernelsTest, FourVectorF32KernelsMatchTheSingleOnesToTheBit) {
  Rng rng(7);
  for (size_t n = 0; n <= kMaxDim; ++n) {
    SCOPED_TRACE(testing::Message() << "n=" << n);
    const float scale = n % 3 == 0 ? 1000.0f : (n % 3 == 1 ? 1.0f : 1e-3f);
    std::vector<float> q(n), storage(4 * (n + 3) + 16);
    for (float& x : q) x = rng.Unit() * scale;
    for (float& x : storage) x = rng.Unit() * scale;
    // Vector j starts j floats past a multiple of n + 3: four different alignments.
    const float* v[4];
    for (size_t j = 0; j < 4; ++j) v[j] = storage.data() + j * (n + 3) + j;
    for (int repeat = 0; repeat < 2; ++repeat) {
      if (repeat == 1) v[3] = v[2];
      float l2[4], ip[4];
      k().l2sq_f32_x4(q.data(), v, n, l2);
      k().ip_f32_x4(q.data(), v, n, ip);
      for (size_t j = 0; j < 4; ++j) {
        const float l2_one = k().l2sq_f32(q.data(), v[j], n), ip_one = k().ip_f32(q.data(), v[j], n);
        EXPECT_EQ(std::bit_cast<uint32_t>(l2[j]), std::bit_cast<uint32_t>(l2_one)) << j << ": " << l2[j] << " vs " << l2_one;
        EXPECT_EQ(std::bit_cast<uint32_t>(ip[j]), std::bit_cast<uint32_t>(ip_one)) << j << ": " << ip[j] << " vs " << ip_one;
      }
    }
  }
}

TEST_P(KernelsTest, F16KernelsMatchReference) {
  Rng rng(2);
  for (size_t n = 0; n <= kMaxDim; ++n) {
    const float scale = n % 2 == 0 ? 100.0f : 0.5f;
    std::vector<uint16_t> ha(n), hb(n);
    std::vector<float> fa(n);
    double l2_abs = 0, ip_abs = 0, l2_mixed_abs = 0, ip_mixed_abs = 0;
    for (size_t i = 0; i < n; ++i) {
      fa[i] = rng.Unit() * scale;
      ha[i] = FloatToHalf(rng.Unit() * scale);
      hb[i] = FloatToHalf(rng.Unit() * scale);
      const double xa = HalfToFloat(ha[i]), xb = HalfToFloat(hb[i]);
      l2_abs += (xa - xb) * (xa - xb);
      ip_abs += std::fabs(xa * xb);
      l2_mixed_abs += (fa[i] - xb) * (fa[i] - xb);
      ip_mixed_abs += std::fabs(fa[i] * xb);
    }
    for (const Layout layout : kLayouts) {
      SCOPED_TRACE(testing::Message()
                   << "n=" << n << " offset=" << layout.offset << " guard=" << layout.guard);
      const Buffer<uint16_t> a(ha, layout, kHalfNaN), b(hb, layout, kHalfNaN);
      const Buffer<float> f(fa, layout, kNaN);
      EXPECT_NEAR(k().l2sq_f16(a.data(), b.data(), n), ref().l2sq_f16(a.data(), b.data(), n),
                  Tolerance(l2_abs));
      EXPECT_NEAR(k().ip_f16(a.data(), b.data(), n), ref().ip_f16(a.data(), b.data(), n),
                  Tolerance(ip_abs));
      EXPECT_NEAR(k().l2sq_f32_f16(f.data(), b.data(), n),
                  ref().l2sq_f32_f16(f.data(), b.data(), n), Tolerance(l2_mixed_abs));
      EXPECT_NEAR(k().ip_f32_f16(f.data(), b.data(), n), ref().ip_f32_f16(f.data(), b.data(), n),
                  Tolerance(ip_mixed_abs));
    }
  }
}

TEST_P(KernelsTest, IntegerKernelsMatchReferenceExactly) {
  Rng rng(3);
  for (size_t n = 0; n <= kMaxDim; ++n) {
    std::vector<uint8_t> ua(n), ub(n);
    std::vector<int8_t> ia(n), ib(n);
    for (size_t i = 0; i < n; ++i) {
      ua[i] = rng.U8();
      ub[i] = rng.U8();
      ia[i] = rng.I8();
      ib[i] = rng.I8();
    }
    for (const Layout layout : kLayouts) {
      SCOPED_TRACE(testing::Message()
                   << "n=" << n << " offset=" << layout.offset << " guard=" << layout.guard);
      // Poison is an extreme value, so any use of it changes the sums.
      const Buffer<uint8_t> a(ua, layout, 255), b(ub, layout, 0);
      const Buffer<int8_t> c(ia, layout, -128), d(ib, layout, 127);
      EXPECT_EQ(k().l2sq_u8(a.data(), b.data(), n), ref().l2sq_u8(a.data(), b.data(), n));
      EXPECT_EQ(k().ip_u8(a.data(), b.data(), n), ref().ip_u8(a.data(), b.data(), n));
      EXPECT_EQ(k().l1_u8(a.data(), b.data(), n), ref().l1_u8(a.data(), b.data(), n));
      EXPECT_EQ(k().l2sq_i8(c.data(), d.data(), n), ref().l2sq_i8(c.data(), d.data(), n));
      EXPECT_EQ(k().ip_i8(c.data(), d.data(), n), ref().ip_i8(c.data(), d.data(), n));
    }
  }
}

TEST_P(KernelsTest, IntegerKernelsDoNotOverflowAtMaxDim) {
  constexpr size_t n = kMaxIntegerKernelDim;
  const std::vector<uint8_t> u_max(n + 1, 255), u_zero(n + 1, 0);
  const std::vector<int8_t> i_min(n + 1, -128), i_max(n + 1, 127);
  const uint64_t u_sq = 255ull * 255ull * n;  // 4261478400: just below 2^32.
  ASSERT_LT(u_sq, uint64_t{1} << 32);
  // Offsets 0 and 1 run the kernels through both aligned blocks and tails.
  for (size_t offset : {0, 1}) {
    SCOPED_TRACE(testing::Message() << "offset=" << offset);
    const size_t len = n - offset;
    const uint64_t sq = 255ull * 255ull * len;
    EXPECT_EQ(k().l2sq_u8(u_max.data() + offset, u_zero.data() + offset, len), sq);
    EXPECT_EQ(k().l2sq_u8(u_zero.data() + offset, u_max.data() + offset, len), sq);
    EXPECT_EQ(k().ip_u8(u_max.data() + offset, u_max.data() + offset, len), sq);
    EXPECT_EQ(k().l1_u8(u_max.data() + offset, u_zero.data() + offset, len), 255ull * len);
    EXPECT_EQ(k().l1_u8(u_zero.data() + offset, u_max.data() + offset, len), 255ull * len);
    EXPECT_EQ(k().l2sq_i8(i_min.data() + offset, i_max.data() + offset, len), sq);
    EXPECT_EQ(k().l2sq_i8(i_max.data() + offset, i_min.data() + offset, len), sq);
    EXPECT_EQ(k().ip_i8(i_min.data() + offset, i_min.data() + offset, len),
              int64_t{128 * 128} * static_cast<int64_t>(len));
    EXPECT_EQ(k().ip_i8(i_min.data() + offset, i_max.data() + offset, len),
              int64_t{-128 * 127} * static_cast<int64_t>(len));
  }
  EXPECT_EQ(k().l2sq_u8(u_max.data(), u_zero.data(), n), u_sq);
}

TEST_P(KernelsTest, CosineOfZeroVectorIsOne) {
  Rng rng(4);
  for (size_t n : {0, 1, 7, 8, 15, 16, 17, 33, 100, 784}) {
    SCOPED_TRACE(testing::Message() << "n=" << n);
    std::vector<float> zero(n, 0.0f), v(n);
    for (float& x : v) x = rng.Unit() + 2.0f;  // Never zero.
    EXPECT_EQ(k().cosine_distance_f32(zero.data(), zero.data(), n), 1.0f);
    EXPECT_EQ(k().cosine_distance_f32(zero.data(), v.data(), n), 1.0f);
    EXPECT_EQ(k().cosine_distance_f32(v.data(), zero.data(), n), 1.0f);
    if (n == 0) continue;
    std::vector<float> neg(n), scaled(n);
    for (size_t i = 0; i < n; ++i) {
      neg[i] = -v[i];
      scaled[i] = 3.0f * v[i];
    }
    EXPECT_NEAR(k().cosine_distance_f32(v.data(), scaled.data(), n), 0.0f, 1e-6);
    EXPECT_NEAR(k().cosine_distance_f32(v.data(), neg.data(), n), 2.0f, 1e-6);
  }
}

TEST_P(KernelsTest, KnownSmallValues) {
  const float a[] = {1, 2, 3}, b[] = {4, 6, 8};
  EXPECT_EQ(k().l2sq_f32(a, b, 3), 9.0f + 16.0f + 25.0f);
  EXPECT_EQ(k().ip_f32(a, b, 3), 4.0f + 12.0f + 24.0f);
  EXPECT_EQ(k().l1_f32(a, b, 3), 3.0f + 4.0f + 5.0f);
  const uint8_t ua[] = {0, 255, 10}, ub[] = {255, 0, 7};
  EXPECT_EQ(k().l2sq_u8(ua, ub, 3), 2u * 255 * 255 + 9);
  EXPECT_EQ(k().ip_u8(ua, ub, 3), 70u);
  EXPECT_EQ(k().l1_u8(ua, ub, 3), 513u);
  const int8_t ia[] = {-128, 127, -3}, ib[] = {127, -128, 5};
  EXPECT_EQ(k().l2sq_i8(ia, ib, 3), 2u * 255 * 255 + 64);
  EXPECT_EQ(k().ip_i8(ia, ib, 3), -128 * 127 * 2 - 15);
  EXPECT_EQ(k().l2sq_f32(nullptr, nullptr, 0), 0.0f);
  EXPECT_EQ(k().l2sq_u8(nullptr, nullptr, 0), 0u);
}

// ---- float16 conversions ----

bool SameFloat(float x, float y) {
  return std::bit_cast<uint32_t>(x) == std::bit_cast<uint32_t>(y) ||
         (std::isnan(x) && std::isnan(y));
}
bool HalfIsNaN(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }
bool SameHalf(uint16_t x, uint16_t y) { return x == y || (HalfIsNaN(x) && HalfIsNaN(y)); }

TEST_P(KernelsTest, HalfToFloatMatchesReferenceForAllPatterns) {
  std::vector<uint16_t> all(65536 + 1);
  for (uint32_t h = 0; h < 65536; ++h) all[h + 1] = static_cast<uint16_t>(h);
  std::vector<float> out(65536 + kGuard, kNaN);
  k().f16_to_f32(all.data() + 1, out.data(), 65536);
  for (uint32_t h = 0; h < 65536; ++h) {
    ASSERT_TRUE(SameFloat(out[h], HalfToFloat(static_cast<uint16_t>(h))))
        << "half 0x" << std::hex << h << " -> " << out[h];
  }
  // Short runs exercise the tails; the guard after them must stay untouched.
  for (size_t n = 0; n <= 40; ++n) {
    std::vector<float> small(n + kGuard, -7.0f);
    k().f16_to_f32(all.data() + 1 + 0x3c00, small.data(), n);  // Starting at 1.0.
    for (size_t i = 0; i < n; ++i)
      ASSERT_EQ(small[i], HalfToFloat(static_cast<uint16_t>(0x3c00 + i))) << n;
    for (size_t i = n; i < small.size(); ++i) ASSERT_EQ(small[i], -7.0f) << "wrote past " << n;
  }
}

// Floats that probe every rounding case of float -> half.
std::vector<float> ConversionProbes() {
  std::vector<float> probes = {0.0f,
                               -0.0f,
                               1.0f,
                               -1.0f,
                               65504.0f,
                               65519.996f,
                               65520.0f,
                               -65520.0f,
                               65536.0f,
                               1e10f,
                               -1e10f,
                               1e-10f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               kNaN,
                               -kNaN,
                               std::bit_cast<float>(0x7f800001u),  // Signalling NaN.
                               std::bit_cast<float>(0xffc12345u),  // NaN with a payload.
                               std::numeric_limits<float>::denorm_min(),
                               std::numeric_limits<float>::min(),
                               0x1p-24f,
                               0x1p-25f,
                               0x1.000002p-25f,
                               0x1.8p-24f,
                               0x1p-14f,
                               0x1.ffcp-15f};
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const float lo = HalfToFloat(static_cast<uint16_t>(h));
    const float hi = HalfToFloat(static_cast<uint16_t>(h + 1));  // Inf for h = 0x7bff.
    const float mid = h == 0x7bff ? 65520.0f : (lo + hi) / 2;    // Exact: a rounding tie.
    for (float x : {lo, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f)}) {
      probes.push_back(x);
      probes.push_back(-x);
    }
  }
  Rng rng(5);
  for (int i = 0; i < 200000; ++i) probes.push_back(std::bit_cast<float>(rng.Bits()));
  return probes;
}

TEST_P(KernelsTest, FloatToHalfMatchesReference) {
  const std::vector<float> probes = ConversionProbes();
  std::vector<uint16_t> out(probes.size() + kGuard, 0xdead);
  k().f32_to_f16(probes.data(), out.data(), probes.size());
  for (size_t i = 0; i < probes.size(); ++i) {
    ASSERT_TRUE(SameHalf(out[i], FloatToHalf(probes[i])))
        << std::hexfloat << probes[i] << " -> 0x" << std::hex << out[i] << ", reference 0x"
        << FloatToHalf(probes[i]);
  }
  for (size_t i = probes.size(); i < out.size(); ++i) ASSERT_EQ(out[i], 0xdead);
  for (size_t n = 0; n <= 40; ++n) {
    std::vector<uint16_t> small(n + kGuard, 0xdead);
    k().f32_to_f16(probes.data() + 1, small.data(), n);  // probes.data() + 1: unaligned.
    for (size_t i = 0; i < n; ++i) ASSERT_TRUE(SameHalf(small[i], FloatToHalf(probes[i + 1])));
    for (size_t i = n; i < small.size(); ++i) ASSERT_EQ(small[i], 0xdead) << "wrote past " << n;
  }
}

// ---- The reference itself ----

TEST(ReferenceTest, HalfToFloatKnownValues) {
  EXPECT_EQ(HalfToFloat(0x0000), 0.0f);
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x3555), 0x1.554p-2f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0400), 0x1p-14f);      // Smallest normal.
  EXPECT_EQ(HalfToFloat(0x03ff), 0x1.ff8p-15f);  // Largest subnormal.
  EXPECT_EQ(HalfToFloat(0x0001), 0x1p-24f);      // Smallest subnormal.
  EXPECT_EQ(HalfToFloat(0x8001), -0x1p-24f);
  EXPECT_EQ(HalfToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(HalfToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7c01)));  // Signalling NaN stays NaN.
  EXPECT_TRUE(std::isnan(HalfToFloat(0xfe00)));
}

TEST(ReferenceTest, FloatToHalfKnownValues) {
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65519.996f), 0x7bff);  // Just below the tie: stays finite.
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);    // Tie with 65536: rounds to even = Inf.
  EXPECT_EQ(FloatToHalf(1e10f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-1e10f), 0xfc00);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(FloatToHalf(0x1p-24f), 0x0001);
  EXPECT_EQ(FloatToHalf(0x1p-25f), 0x0000);  // Tie with 0: rounds to even.
  EXPECT_EQ(FloatToHalf(-0x1p-25f), 0x8000);
  EXPECT_EQ(FloatToHalf(0x1.000002p-25f), 0x0001);  // Just above the tie.
  EXPECT_EQ(FloatToHalf(0x1.8p-24f), 0x0002);       // 1.5 units: tie to even.
  EXPECT_EQ(FloatToHalf(0x1.4p-23f), 0x0002);       // 2.5 units: tie to even.
  EXPECT_EQ(FloatToHalf(0x1.ffcp-15f), 0x0400);     // Rounds up into the normal range.
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(FloatToHalf(1.0f + 0x1p-11f), 0x3c00);    // Tie: 1.0 is even.
  EXPECT_EQ(FloatToHalf(1.0f + 0x1.8p-10f), 0x3c02);  // Tie: 0x3c02 is even.
  EXPECT_TRUE(HalfIsNaN(FloatToHalf(kNaN)));
  EXPECT_TRUE(HalfIsNaN(FloatToHalf(std::bit_cast<float>(0x7f800001u))));  // Payload lost.
  EXPECT_EQ(FloatToHalf(-kNaN) & 0x8000, 0x8000);
}

TEST(ReferenceTest, HalfRoundTripsAndTiesGoToEven) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t half = static_cast<uint16_t>(h);
    if (HalfIsNaN(half)) {
      const uint16_t back = FloatToHalf(HalfToFloat(half));
      ASSERT_TRUE(HalfIsNaN(back));
      ASSERT_EQ(back & 0x8000, half & 0x8000);
    } else {
      ASSERT_EQ(FloatToHalf(HalfToFloat(half)), half) << std::hex << h;
    }
  }
  // Between consecutive finite halves h and h + 1 (same sign), the exact midpoint goes to the
  // even one, and the floats just either side of it go to the nearer one.
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    for (uint32_t sign : {0u, 0x8000u}) {
      const uint16_t lo = static_cast<uint16_t>(h | sign),
                     hi = static_cast<uint16_t>((h + 1) | sign);
      const float mid =
          h == 0x7bff ? (sign ? -65520.0f : 65520.0f) : (HalfToFloat(lo) + HalfToFloat(hi)) / 2;
      ASSERT_EQ(FloatToHalf(mid), h % 2 == 0 ? lo : hi) << std::hex << h;
      ASSERT_EQ(FloatToHalf(std::nextafter(mid, 0.0f)), lo) << std::hex << h;
      ASSERT_EQ(FloatToHalf(std::nextafter(mid, sign ? -1e30f : 1e30f)), hi) << std::hex << h;
    }
  }
}

TEST(ReferenceTest, FloatKernelsAgreeWithDoubleSums) {
  Rng rng(6);
  for (size_t n : {1, 5, 100, 1024, 4099}) {
    std::vector<float> a(n), b(n);
    double l2 = 0, ip = 0, ip_abs = 0, l1 = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; ++i) {
      a[i] = rng.Unit() * 10;
      b[i] = rng.Unit() * 10;
      const double d = static_cast<double>(a[i]) - b[i];
      l2 += d * d;
      ip += static_cast<double>(a[i]) * b[i];
      ip_abs += std::fabs(static_cast<double>(a[i]) * b[i]);
      l1 += std::fabs(d);
      aa += static_cast<double>(a[i]) * a[i];
      bb += static_cast<double>(b[i]) * b[i];
    }
    const Kernels& r = Reference();
    EXPECT_NEAR(r.l2sq_f32(a.data(), b.data(), n), l2, 1e-5 * l2);
    EXPECT_NEAR(r.ip_f32(a.data(), b.data(), n), ip, 1e-5 * ip_abs);
    EXPECT_NEAR(r.l1_f32(a.data(), b.data(), n), l1, 1e-5 * l1);
    EXPECT_NEAR(r.cosine_distance_f32(a.data(), b.data(), n), 1 - ip / std::sqrt(aa * bb), 1e-6);
  }
}

TEST(ReferenceTest, IntegerKernelsAgreeWith64BitSums) {
  Rng rng(7);
  const size_t n = 3001;
  std::vector<uint8_t> ua(n), ub(n);
  std::vector<int8_t> ia(n), ib(n);
  uint64_t l2u = 0, ipu = 0, l1u = 0, l2i = 0;
  int64_t ipi = 0;
  for (size_t i = 0; i < n; ++i) {
    ua[i] = rng.U8();
    ub[i] = rng.U8();
    ia[i] = rng.I8();
    ib[i] = rng.I8();
    const int64_t du = int64_t{ua[i]} - ub[i], di = int64_t{ia[i]} - ib[i];
    l2u += du * du;
    ipu += uint64_t{ua[i]} * ub[i];
    l1u += du < 0 ? -du : du;
    l2i += di * di;
    ipi += int64_t{ia[i]} * ib[i];
  }
  const Kernels& r = Reference();
  EXPECT_EQ(r.l2sq_u8(ua.data(), ub.data(), n), l2u);
  EXPECT_EQ(r.ip_u8(ua.data(), ub.data(), n), ipu);
  EXPECT_EQ(r.l1_u8(ua.data(), ub.data(), n), l1u);
  EXPECT_EQ(r.l2sq_i8(ia.data(), ib.data(), n), l2i);
  EXPECT_EQ(r.ip_i8(ia.data(), ib.data(), n), ipi);
}

// ---- Dispatch ----

TEST(DispatchTest, TablesAreCompleteAndDistinct) {
  const std::vector<const Kernels*> tables = Available();
  ASSERT_FALSE(tables.empty());
  EXPECT_EQ(tables.front(), &Reference());
  std::set<std::string> names;
  for (const Kernels* t : tables) {
    EXPECT_TRUE(names.insert(t->isa).second) << t->isa;
    EXPECT_TRUE(t->l2sq_f32 && t->ip_f32 && t->cosine_distance_f32 && t->l1_f32);
    EXPECT_TRUE(t->l2sq_u8 && t->ip_u8 && t->l1_u8 && t->l2sq_i8 && t->ip_i8);
    EXPECT_TRUE(t->l2sq_f16 && t->ip_f16 && t->l2sq_f32_f16 && t->ip_f32_f16);
    EXPECT_TRUE(t->f32_to_f16 && t->f16_to_f32);
    EXPECT_TRUE(t->l2sq_f32_x4 && t->ip_f32_x4);
  }
}

TEST(DispatchTest, ChooseHonoursSupportedRequestsOnly) {
  const std::vector<const Kernels*> tables = Available();
  for (const Kernels* t : tables) EXPECT_EQ(&ChooseKernels(t->isa), t);
  EXPECT_EQ(&ChooseKernels(nullptr), tables.back());
  EXPECT_EQ(&ChooseKernels(""), tables.back());
  EXPECT_EQ(&ChooseKernels("no-such-isa"), tables.back());
  // Variants of other architectures fall back silently.
  for (const char* isa : {"avx2", "avx512", "neon"}) {
    bool supported = false;
    for (const Kernels* t : tables) supported |= std::string(t->isa) == isa;
    if (!supported) {
      EXPECT_EQ(&ChooseKernels(isa), tables.back()) << isa;
    }
  }
}

TEST(DispatchTest, BestFollowsEnvironment) {
  // Best() caches its choice, which the environment (SEXTANT_ISA) determined at first use.
  EXPECT_EQ(&Best(), &ChooseKernels(std::getenv("SEXTANT_ISA")));
  EXPECT_EQ(&Best(), &Best());
}

}  // namespace
}  // namespace sextant::simd
