// AVX-512 (F, BW, VL) quant kernels (this file is compiled with the AVX-512 flags). The SQ8
// walk's integer dot products (one code, four codes), the screen's query preparation (fwht_f32,
// u4_planes) have their own variants, and the screen's bits_dot_u4 one where the CPU also has
// VPOPCNTDQ (checked when the table is made); the other entries are the AVX2 table's.
// Internal linkage except Avx512QuantKernels(), for the reason given in simd/internal.h.

#include "common/avx512_intrinsics.h"  // <immintrin.h> without GCC 12's false warnings

#include <cstddef>
#include <cstdint>

#include "simd/quant.h"

namespace sextant::simd {

const QuantKernels& Avx2QuantKernels();  // quant_avx2.cc

namespace {

// 32 dimensions per step: bytes widened to 16 bits, multiplied and summed in pairs; the last
// partial step uses masked loads (which never touch the masked-off bytes), so there is no tail.
int32_t DotI16U8(const int16_t* w, const uint8_t* c, size_t n) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512i c0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i)));
    const __m512i c1 =
        _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i + 32)));
    acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(c0, _mm512_loadu_si512(w + i)));
    acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(c1, _mm512_loadu_si512(w + i + 32)));
  }
  for (; i + 32 <= n; i += 32) {
    const __m512i c0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i)));
    acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(c0, _mm512_loadu_si512(w + i)));
  }
  if (i < n) {
    const __mmask32 m = static_cast<__mmask32>((uint64_t{1} << (n - i)) - 1);
    const __m512i c0 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, c + i));
    acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(c0, _mm512_maskz_loadu_epi16(m, w + i)));
  }
  // Lane adds that wrap like the reference's int32 sum (exact within the header's bound).
  const __m512i v = _mm512_add_epi32(acc0, acc1);
  const __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// out[j] = the sum of accumulator aj's sixteen lanes, the four reduced together: two
// unpack-and-add rounds leave each 128-bit lane holding partial sums of the four, then the
// lanes are added.
inline void StoreFourSums(__m512i a0, __m512i a1, __m512i a2, __m512i a3, int32_t* out) {
  const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
  const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
  const __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
  const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
  const __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), sum);
}

// 32 dimensions a step for each of the four codes (the weights loaded once); the last partial
// step masked as in DotI16U8; the four accumulators reduced together (StoreFourSums).
void DotI16U8x4(const int16_t* w, const uint8_t* const* codes, size_t n, int32_t* out) {
  const uint8_t *c0 = codes[0], *c1 = codes[1], *c2 = codes[2], *c3 = codes[3];
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  auto step = [](__m512i acc, __m256i c, __m512i wv) {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_cvtepu8_epi16(c), wv));
  };
  auto load = [](const uint8_t* c) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c)); };
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i wv = _mm512_loadu_si512(w + i);
    a0 = step(a0, load(c0 + i), wv);
    a1 = step(a1, load(c1 + i), wv);
    a2 = step(a2, load(c2 + i), wv);
    a3 = step(a3, load(c3 + i), wv);
  }
  if (i < n) {
    const __mmask32 m = static_cast<__mmask32>((uint64_t{1} << (n - i)) - 1);
    const __m512i wv = _mm512_maskz_loadu_epi16(m, w + i);
    a0 = step(a0, _mm256_maskz_loadu_epi8(m, c0 + i), wv);
    a1 = step(a1, _mm256_maskz_loadu_epi8(m, c1 + i), wv);
    a2 = step(a2, _mm256_maskz_loadu_epi8(m, c2 + i), wv);
    a3 = step(a3, _mm256_maskz_loadu_epi8(m, c3 + i), wv);
  }
  StoreFourSums(a0, a1, a2, a3, out);
}

// DotI16U8x4 turned around: the code widened once a step, four weight vectors against it;
// the last partial step masked, the same reduction (StoreFourSums).
void DotI16x4U8(const int16_t* const* ws, const uint8_t* c, size_t n, int32_t* out) {
  const int16_t *w0 = ws[0], *w1 = ws[1], *w2 = ws[2], *w3 = ws[3];
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  auto step = [](__m512i acc, __m512i cv, __m512i wv) { return _mm512_add_epi32(acc, _mm512_madd_epi16(cv, wv)); };
  auto load = [](const int16_t* w) { return _mm512_loadu_si512(w); };
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i cv = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i)));
    a0 = step(a0, cv, load(w0 + i));
    a1 = step(a1, cv, load(w1 + i));
    a2 = step(a2, cv, load(w2 + i));
    a3 = step(a3, cv, load(w3 + i));
  }
  if (i < n) {
    const __mmask32 m = static_cast<__mmask32>((uint64_t{1} << (n - i)) - 1);
    const __m512i cv = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, c + i));
    a0 = step(a0, cv, _mm512_maskz_loadu_epi16(m, w0 + i));
    a1 = step(a1, cv, _mm512_maskz_loadu_epi16(m, w1 + i));
    a2 = step(a2, cv, _mm512_maskz_loadu_epi16(m, w2 + i));
    a3 = step(a3, cv, _mm512_maskz_loadu_epi16(m, w3 + i));
  }
  StoreFourSums(a0, a1, a2, a3, out);
}

// Two code words a step against their eight planes (planes[4w .. 4w+7]: words w and w+1, four
// planes each) in one register: each code word copied to its four lanes, ANDed, counted per
// lane with VPOPCNTDQ; lane j and j + 4 hold plane j's count, weighted 2^j at the end. An odd
// last word takes the low half alone (a masked load, nothing read past the planes). For a
// 1,024-bit code: 8 steps of five vector instructions (the AVX2 variant: 16 steps of nibble
// lookups). PairCounts is one step: `pair` holds words w and w + 1 (its low 128 bits).
__attribute__((target("avx512vpopcntdq"))) inline __m512i PairCounts(__m128i pair,
                                                                     const uint64_t* planes) {
  const __m512i spread = _mm512_set_epi64(1, 1, 1, 1, 0, 0, 0, 0);
  const __m512i c = _mm512_permutexvar_epi64(spread, _mm512_castsi128_si512(pair));
  return _mm512_popcnt_epi64(_mm512_and_si512(c, _mm512_loadu_si512(planes)));
}

__attribute__((target("avx512vpopcntdq"))) uint32_t BitsDotU4Vpopcnt(const uint64_t* code,
                                                                      const uint64_t* planes,
                                                                      size_t words) {
  auto load2 = [code](size_t w) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(code + w)); };
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  size_t w = 0;
  for (; w + 4 <= words; w += 4) {
    acc0 = _mm512_add_epi64(acc0, PairCounts(load2(w), planes + 4 * w));
    acc1 = _mm512_add_epi64(acc1, PairCounts(load2(w + 2), planes + 4 * w + 8));
  }
  if (w + 2 <= words) {
    acc0 = _mm512_add_epi64(acc0, PairCounts(load2(w), planes + 4 * w));
    w += 2;
  }
  if (w < words) {
    const __m512i c = _mm512_set1_epi64(static_cast<long long>(code[w]));
    const __m512i p = _mm512_maskz_loadu_epi64(0x0f, planes + 4 * w);
    acc1 = _mm512_add_epi64(acc1, _mm512_popcnt_epi64(_mm512_and_si512(c, p)));
  }
  const __m512i weights = _mm512_set_epi64(3, 2, 1, 0, 3, 2, 1, 0);  // lane j, j + 4: 2^j
  const __m512i weighted = _mm512_sllv_epi64(_mm512_add_epi64(acc0, acc1), weights);
  return static_cast<uint32_t>(_mm512_reduce_add_epi64(weighted));
}

// As the AVX2 variant with sixteen lanes: levels h = 1, 2, 4, 8 inside a register.
void FwhtF32(float* x, size_t n) {
  auto level = [](__m512 v, __m512 partner, __mmask16 upper) {
    return _mm512_mask_blend_ps(upper, _mm512_add_ps(v, partner), _mm512_sub_ps(partner, v));
  };
  for (size_t i = 0; i < n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    v = level(v, _mm512_permute_ps(v, 0xb1), 0xaaaa);
    v = level(v, _mm512_permute_ps(v, 0x4e), 0xcccc);
    v = level(v, _mm512_shuffle_f32x4(v, v, 0xb1), 0xf0f0);
    v = level(v, _mm512_shuffle_f32x4(v, v, 0x4e), 0xff00);
    _mm512_storeu_ps(x + i, v);
  }
  for (size_t h = 16; h < n; h *= 2) {
    for (size_t i = 0; i < n; i += 2 * h) {
      for (size_t j = i; j < i + h; j += 16) {
        const __m512 a = _mm512_loadu_ps(x + j), b = _mm512_loadu_ps(x + j + h);
        _mm512_storeu_ps(x + j, _mm512_add_ps(a, b));
        _mm512_storeu_ps(x + j + h, _mm512_sub_ps(a, b));
      }
    }
  }
}

// Sixteen values a step rounded to int32; bit j of each tested into a 16-bit mask, four masks
// to a plane word.
uint32_t U4Planes(const float* v, size_t n, float lower, float scale, uint64_t* planes) {
  const __m512 lo = _mm512_set1_ps(lower), sc = _mm512_set1_ps(scale), half = _mm512_set1_ps(0.5f);
  const __m512i fifteen = _mm512_set1_epi32(15);
  __m512i sum = _mm512_setzero_si512();
  for (size_t w = 0; w < n / 64; ++w) {
    uint64_t plane[4] = {0, 0, 0, 0};
    for (size_t part = 0; part < 4; ++part) {
      const __m512 t = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(v + 64 * w + 16 * part), lo), sc);
      const __m512i r = _mm512_min_epi32(_mm512_cvttps_epi32(_mm512_add_ps(t, half)), fifteen);
      sum = _mm512_add_epi32(sum, r);
      for (int j = 0; j < 4; ++j) {
        const __mmask16 bit = _mm512_test_epi32_mask(r, _mm512_set1_epi32(1 << j));
        plane[j] |= static_cast<uint64_t>(bit) << (16 * part);
      }
    }
    for (size_t j = 0; j < 4; ++j) planes[4 * w + j] = plane[j];
  }
  return static_cast<uint32_t>(_mm512_reduce_add_epi32(sum));
}

bool CpuRunsVpopcntdq() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vpopcntdq");
}

}  // namespace

const QuantKernels& Avx512QuantKernels() {
  static const QuantKernels k = [] {
    QuantKernels t = Avx2QuantKernels();
    t.isa = "avx512";
    t.dot_i16_u8 = DotI16U8;
    t.dot_i16_u8_x4 = DotI16U8x4;
    t.dot_i16x4_u8 = DotI16x4U8;
    t.fwht_f32 = FwhtF32;
    t.u4_planes = U4Planes;
    if (CpuRunsVpopcntdq()) t.bits_dot_u4 = BitsDotU4Vpopcnt;
    return t;
  }();
  return k;
}

}  // namespace sextant::simd
