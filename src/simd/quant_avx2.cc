// AVX2 + FMA quant kernels (this file is compiled with -mavx2 -mfma). Internal linkage except
// Avx2QuantKernels(), for the reason given in simd/internal.h.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "simd/quant.h"

namespace sextant::simd {
namespace {

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256 LoadU8AsF32(const uint8_t* p) {
  const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
}

float DotF32U8(const float* w, const uint8_t* c, size_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), LoadU8AsF32(c + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), LoadU8AsF32(c + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), LoadU8AsF32(c + i), acc0);
  }
  float s = HorizontalSum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += w[i] * static_cast<float>(c[i]);
  return s;
}

int32_t DotI16U8(const int16_t* w, const uint8_t* c, size_t n) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i)));
    const __m256i c1 =
        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i + 16)));
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(
                                      c0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i))));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(c1, _mm256_loadu_si256(
                                                            reinterpret_cast<const __m256i*>(w + i + 16))));
  }
  __m128i acc = _mm_add_epi32(_mm256_castsi256_si128(_mm256_add_epi32(acc0, acc1)),
                              _mm256_extracti128_si256(_mm256_add_epi32(acc0, acc1), 1));
  for (; i + 8 <= n; i += 8) {
    const __m128i cv = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + i)));
    acc = _mm_add_epi32(acc, _mm_madd_epi16(cv, _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i))));
  }
  acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, 0x4e));
  acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, 0xb1));
  int32_t s = _mm_cvtsi128_si32(acc);
  for (; i < n; ++i) s += static_cast<int32_t>(w[i]) * c[i];
  return s;
}

// out[j] = the sum of accumulator aj's eight lanes, the four reduced together: {a0, a1} lane
// pairs, {a2, a3}, then both (two unpack-and-add rounds), then the two 128-bit halves.
inline void StoreFourSums(__m256i a0, __m256i a1, __m256i a2, __m256i a3, int32_t* out) {
  const __m256i s01 = _mm256_add_epi32(_mm256_unpacklo_epi32(a0, a1), _mm256_unpackhi_epi32(a0, a1));
  const __m256i s23 = _mm256_add_epi32(_mm256_unpacklo_epi32(a2, a3), _mm256_unpackhi_epi32(a2, a3));
  const __m256i s = _mm256_add_epi32(_mm256_unpacklo_epi64(s01, s23), _mm256_unpackhi_epi64(s01, s23));
  const __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), sum);
}

// 16 dimensions a step for each of the four codes (the weights loaded once), the scalar tail
// as in DotI16U8; the four accumulators reduced together (StoreFourSums).
void DotI16U8x4(const int16_t* w, const uint8_t* const* codes, size_t n, int32_t* out) {
  const uint8_t *c0 = codes[0], *c1 = codes[1], *c2 = codes[2], *c3 = codes[3];
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  auto step = [](__m256i acc, const uint8_t* c, __m256i wv) {
    const __m256i cv = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(cv, wv));
  };
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i));
    a0 = step(a0, c0 + i, wv);
    a1 = step(a1, c1 + i, wv);
    a2 = step(a2, c2 + i, wv);
    a3 = step(a3, c3 + i, wv);
  }
  StoreFourSums(a0, a1, a2, a3, out);
  for (; i < n; ++i) {
    const int32_t wi = w[i];
    out[0] += wi * c0[i];
    out[1] += wi * c1[i];
    out[2] += wi * c2[i];
    out[3] += wi * c3[i];
  }
}

// DotI16U8x4 turned around: the code widened once a step, four weight vectors against it;
// the same reduction (StoreFourSums) and scalar tail.
void DotI16x4U8(const int16_t* const* ws, const uint8_t* c, size_t n, int32_t* out) {
  const int16_t *w0 = ws[0], *w1 = ws[1], *w2 = ws[2], *w3 = ws[3];
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  auto step = [](__m256i acc, __m256i cv, const int16_t* w) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(cv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w))));
  };
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i cv = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i)));
    a0 = step(a0, cv, w0 + i);
    a1 = step(a1, cv, w1 + i);
    a2 = step(a2, cv, w2 + i);
    a3 = step(a3, cv, w3 + i);
  }
  StoreFourSums(a0, a1, a2, a3, out);
  for (; i < n; ++i) {
    const int32_t ci = c[i];
    out[0] += w0[i] * ci;
    out[1] += w1[i] * ci;
    out[2] += w2[i] * ci;
    out[3] += w3[i] * ci;
  }
}

float Wl2U8(const uint8_t* a, const uint8_t* b, const float* w, size_t n) {
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_sub_ps(LoadU8AsF32(a + i), LoadU8AsF32(b + i));
    acc = _mm256_fmadd_ps(_mm256_mul_ps(d, d), _mm256_loadu_ps(w + i), acc);
  }
  float s = HorizontalSum(acc);
  for (; i < n; ++i) {
    const float d = static_cast<float>(static_cast<int>(a[i]) - static_cast<int>(b[i]));
    s += w[i] * d * d;
  }
  return s;
}

// One block: the low 128-bit lane looks up vectors 0..15 (low nibbles), the high lane vectors
// 16..31 (high nibbles), both with the same 16-byte table. Byte sums are widened to 16 bits.
void Pq4Scan(const uint8_t* blocks, size_t nblocks, size_t m, const uint8_t* luts,
             uint16_t* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i zero = _mm256_setzero_si256();
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* block = blocks + b * m * 16;
    __m256i acc_lo = _mm256_setzero_si256();  // lane 0: vectors 0-7, lane 1: 16-23
    __m256i acc_hi = _mm256_setzero_si256();  // lane 0: vectors 8-15, lane 1: 24-31
    for (size_t j = 0; j < m; ++j) {
      const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + j * 16));
      const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(c),
                                                   _mm_srli_epi16(c, 4), 1);
      const __m256i idx = _mm256_and_si256(both, low4);
      const __m256i lut = _mm256_broadcastsi128_si256(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(luts + j * 16)));
      const __m256i r = _mm256_shuffle_epi8(lut, idx);
      acc_lo = _mm256_add_epi16(acc_lo, _mm256_unpacklo_epi8(r, zero));
      acc_hi = _mm256_add_epi16(acc_hi, _mm256_unpackhi_epi8(r, zero));
    }
    uint16_t* o = out + b * kPq4BlockSize;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm256_castsi256_si128(acc_lo));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 8), _mm256_castsi256_si128(acc_hi));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 16), _mm256_extracti128_si256(acc_lo, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 24), _mm256_extracti128_si256(acc_hi, 1));
  }
}

// Per-lane running minimum and its index (the earliest in the lane: strict <) in two
// independent chains of eight lanes (one chain's compare-and-blend waits on the one before;
// two keep the core busy), then the smallest index among the lanes holding the overall
// minimum, then the scalar tail.
uint32_t ArgminAffine(const float* a, const float* b, float alpha, size_t n, float* min_value) {
  size_t i = 0;
  uint32_t best = 0;
  float best_v = a[0] + alpha * b[0];
  if (n >= 16) {
    const __m256 va = _mm256_set1_ps(alpha);
    __m256 min0 = _mm256_add_ps(_mm256_loadu_ps(a), _mm256_mul_ps(va, _mm256_loadu_ps(b)));
    __m256 min1 = _mm256_add_ps(_mm256_loadu_ps(a + 8), _mm256_mul_ps(va, _mm256_loadu_ps(b + 8)));
    __m256i idx0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i idx1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
    __m256i cur0 = idx0, cur1 = idx1;
    const __m256i sixteen = _mm256_set1_epi32(16);
    auto step = [&](__m256& vmin, __m256i& vidx, __m256i cur, size_t at) {
      const __m256 v = _mm256_add_ps(_mm256_loadu_ps(a + at), _mm256_mul_ps(va, _mm256_loadu_ps(b + at)));
      const __m256 lt = _mm256_cmp_ps(v, vmin, _CMP_LT_OQ);
      vmin = _mm256_blendv_ps(vmin, v, lt);
      vidx = _mm256_castps_si256(
          _mm256_blendv_ps(_mm256_castsi256_ps(vidx), _mm256_castsi256_ps(cur), lt));
    };
    for (i = 16; i + 16 <= n; i += 16) {
      cur0 = _mm256_add_epi32(cur0, sixteen);
      cur1 = _mm256_add_epi32(cur1, sixteen);
      step(min0, idx0, cur0, i);
      step(min1, idx1, cur1, i + 8);
    }
    if (i + 8 <= n) {
      step(min0, idx0, _mm256_add_epi32(cur0, sixteen), i);
      i += 8;
    }
    alignas(32) float mins[16];
    alignas(32) uint32_t idx[16];
    _mm256_store_ps(mins, min0);
    _mm256_store_ps(mins + 8, min1);
    _mm256_store_si256(reinterpret_cast<__m256i*>(idx), idx0);
    _mm256_store_si256(reinterpret_cast<__m256i*>(idx + 8), idx1);
    best_v = mins[0];
    best = idx[0];
    for (int l = 1; l < 16; ++l) {
      if (mins[l] < best_v || (mins[l] == best_v && idx[l] < best)) {
        best_v = mins[l];
        best = idx[l];
      }
    }
  } else {
    i = 1;
  }
  for (; i < n; ++i) {
    const float v = a[i] + alpha * b[i];
    if (v < best_v) {
      best_v = v;
      best = static_cast<uint32_t>(i);
    }
  }
  *min_value = best_v;
  return best;
}

void MatvecT(const float* mt, const float* x, size_t rows, size_t cols, float* out) {
  size_t c = 0;
  for (; c + 32 <= cols; c += 32) {  // four accumulators per row sweep
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t r = 0; r < rows; ++r) {
      const __m256 xr = _mm256_set1_ps(x[r]);
      const float* m = mt + r * cols + c;
      a0 = _mm256_fmadd_ps(xr, _mm256_loadu_ps(m), a0);
      a1 = _mm256_fmadd_ps(xr, _mm256_loadu_ps(m + 8), a1);
      a2 = _mm256_fmadd_ps(xr, _mm256_loadu_ps(m + 16), a2);
      a3 = _mm256_fmadd_ps(xr, _mm256_loadu_ps(m + 24), a3);
    }
    _mm256_storeu_ps(out + c, a0);
    _mm256_storeu_ps(out + c + 8, a1);
    _mm256_storeu_ps(out + c + 16, a2);
    _mm256_storeu_ps(out + c + 24, a3);
  }
  for (; c + 8 <= cols; c += 8) {
    __m256 a0 = _mm256_setzero_ps();
    for (size_t r = 0; r < rows; ++r) {
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(x[r]), _mm256_loadu_ps(mt + r * cols + c), a0);
    }
    _mm256_storeu_ps(out + c, a0);
  }
  for (; c < cols; ++c) {
    float s = 0;
    for (size_t r = 0; r < rows; ++r) s += x[r] * mt[r * cols + c];
    out[c] = s;
  }
}

void AddF32(const float* a, const float* b, size_t n, float* out) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    _mm256_storeu_ps(out + i + 8, _mm256_add_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8)));
  }
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

float Sq8QueryWeights(const float* q, const float* lower, const float* step, size_t n, bool l2,
                      float* w, float* base) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 b0 = _mm256_setzero_ps(), b1 = b0, m0 = b0, m1 = b0;
  size_t i = 0;
  auto step8 = [&](size_t at, __m256& bacc, __m256& macc) {
    const __m256 qv = _mm256_loadu_ps(q + at), lv = _mm256_loadu_ps(lower + at);
    const __m256 a = l2 ? _mm256_sub_ps(qv, lv) : qv;
    const __m256 x = _mm256_mul_ps(a, _mm256_loadu_ps(step + at));
    _mm256_storeu_ps(w + at, x);
    bacc = l2 ? _mm256_fmadd_ps(a, a, bacc) : _mm256_fmadd_ps(qv, lv, bacc);
    macc = _mm256_max_ps(macc, _mm256_and_ps(x, abs_mask));
  };
  for (; i + 16 <= n; i += 16) {
    step8(i, b0, m0);
    step8(i + 8, b1, m1);
  }
  for (; i + 8 <= n; i += 8) step8(i, b0, m0);
  float b = HorizontalSum(_mm256_add_ps(b0, b1));
  __m256 m = _mm256_max_ps(m0, m1);
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float wmax = _mm_cvtss_f32(m4);
  for (; i < n; ++i) {
    const float a = l2 ? q[i] - lower[i] : q[i];
    w[i] = a * step[i];
    b += l2 ? a * a : q[i] * lower[i];
    const float ax = w[i] < 0 ? -w[i] : w[i];
    wmax = ax > wmax ? ax : wmax;
  }
  *base = b;
  return wmax;
}

void RoundI16(const float* w, size_t n, float scale, int16_t* out) {
  const __m256 s = _mm256_set1_ps(scale);
  const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(0x80000000u)));
  const __m256 half = _mm256_set1_ps(0.5f);
  auto round8 = [&](size_t at) {
    const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(w + at), s);
    // x + copysign(0.5, x), truncated: the reference's halves away from zero (a zero or -0
    // gets +-0.5, which truncates to 0 either way).
    return _mm256_cvttps_epi32(_mm256_add_ps(x, _mm256_or_ps(half, _mm256_and_ps(x, sign))));
  };
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i packed = _mm256_packs_epi32(round8(i), round8(i + 8));  // per 128-bit lane
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm256_permute4x64_epi64(packed, _MM_SHUFFLE(3, 1, 2, 0)));
  }
  for (; i < n; ++i) {
    const float x = w[i] * scale;
    out[i] = static_cast<int16_t>(static_cast<int32_t>(x + (x >= 0 ? 0.5f : -0.5f)));
  }
}

size_t Sq8ResidualDecode(const uint8_t* code, const uint8_t* lo, const int8_t* hi,
                         const float* lower, const float* step, size_t n, float* out) {
  const __m256i low31 = _mm256_set1_epi32(0x7fffffff);
  const __m256i escape = _mm256_set1_epi32(kSq8ResidualEscape);
  auto key = [&](__m256i bits) {  // Sq8OrderedKey
    return _mm256_xor_si256(bits, _mm256_and_si256(_mm256_srai_epi32(bits, 31), low31));
  };
  size_t escapes = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 c = _mm256_cvtepi32_ps(
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(code + i))));
    const __m256 p = _mm256_fmadd_ps(_mm256_loadu_ps(step + i), c, _mm256_loadu_ps(lower + i));
    const __m256i r = _mm256_or_si256(
        _mm256_slli_epi32(
            _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(hi + i))), 16),
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lo + 2 * i))));
    const __m256i bits = key(_mm256_add_epi32(key(_mm256_castps_si256(p)), r));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), bits);
    escapes += static_cast<size_t>(__builtin_popcount(static_cast<unsigned>(
        _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(r, escape))))));
  }
  for (; i < n; ++i) {
    const int32_t r = Sq8Residual(lo, hi, i);
    escapes += r == kSq8ResidualEscape;
    const int32_t bits = Sq8ResidualBits(Sq8Prediction(lower[i], step[i], code[i]), r);
    std::memcpy(out + i, &bits, sizeof bits);
  }
  return escapes;
}

// bits_dot_u4: each code word copied to four lanes and ANDed with its four planes, then
// counted per byte by nibble lookups (VPSHUFB) and the bytes of each 64-bit lane summed by
// VPSADBW; lane j holds plane j's count, weighted 2^j at the end. A byte counts at most 8 a
// word, so 8 words add up in bytes before they are widened. Against 64 scalar AND-POPCNT-adds
// for a 1,024-bit code (the previous variant): 12 against 18 ns in a loop over cached codes
// on an AMD EPYC.
inline __m256i ByteCounts(__m256i x) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,  //
                                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(x, low)),
                         _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), low)));
}

uint32_t BitsDotU4(const uint64_t* code, const uint64_t* planes, size_t words) {
  __m256i acc = _mm256_setzero_si256();
  for (size_t w = 0; w < words;) {
    const size_t end = std::min(words, w + 8);
    __m256i bytes = _mm256_setzero_si256();
    for (; w < end; ++w) {
      const __m256i c = _mm256_set1_epi64x(static_cast<long long>(code[w]));
      const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(planes + 4 * w));
      bytes = _mm256_add_epi8(bytes, ByteCounts(_mm256_and_si256(c, p)));
    }
    acc = _mm256_add_epi64(acc, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
  }
  const __m256i weighted = _mm256_sllv_epi64(acc, _mm256_setr_epi64x(0, 1, 2, 3));
  const __m128i s =
      _mm_add_epi64(_mm256_castsi256_si128(weighted), _mm256_extracti128_si256(weighted, 1));
  return static_cast<uint32_t>(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1));
}

// One butterfly level inside a register: `partner` holds each lane's partner, the sum is kept
// in the lower lane of each pair and the difference in the upper (kUpper's lanes; the blend
// takes an immediate, hence a template argument).
template <int kUpper>
__m256 FwhtLevel(__m256 v, __m256 partner) {
  return _mm256_blend_ps(_mm256_add_ps(v, partner), _mm256_sub_ps(partner, v), kUpper);
}

// Levels h = 1, 2, 4 inside each register of eight, the wider levels between registers. The
// same butterflies as the reference, so the same bits.
void FwhtF32(float* x, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    v = FwhtLevel<0xaa>(v, _mm256_permute_ps(v, 0xb1));
    v = FwhtLevel<0xcc>(v, _mm256_permute_ps(v, 0x4e));
    v = FwhtLevel<0xf0>(v, _mm256_permute2f128_ps(v, v, 0x01));
    _mm256_storeu_ps(x + i, v);
  }
  for (size_t h = 8; h < n; h *= 2) {
    for (size_t i = 0; i < n; i += 2 * h) {
      for (size_t j = i; j < i + h; j += 8) {
        const __m256 a = _mm256_loadu_ps(x + j), b = _mm256_loadu_ps(x + j + h);
        _mm256_storeu_ps(x + j, _mm256_add_ps(a, b));
        _mm256_storeu_ps(x + j + h, _mm256_sub_ps(a, b));
      }
    }
  }
}

// 32 values a step: rounded to int32, packed to bytes (the packs work per 128-bit half, the
// final permutation restores the order), and bit j of each byte shifted to its top bit for
// movemask, 32 bits of plane j at once.
uint32_t U4Planes(const float* v, size_t n, float lower, float scale, uint64_t* planes) {
  const __m256 lo = _mm256_set1_ps(lower), sc = _mm256_set1_ps(scale), half = _mm256_set1_ps(0.5f);
  const __m256i fifteen = _mm256_set1_epi32(15), order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  __m256i sum = _mm256_setzero_si256();
  auto round8 = [&](const float* p) {
    const __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(p), lo), sc);
    const __m256i r = _mm256_min_epi32(_mm256_cvttps_epi32(_mm256_add_ps(t, half)), fifteen);
    sum = _mm256_add_epi32(sum, r);
    return r;
  };
  for (size_t w = 0; w < n / 64; ++w) {
    uint64_t plane[4] = {0, 0, 0, 0};
    for (size_t part = 0; part < 2; ++part) {
      const float* p = v + 64 * w + 32 * part;
      const __m256i a = round8(p), b = round8(p + 8), c = round8(p + 16), d = round8(p + 24);
      const __m256i bytes = _mm256_permutevar8x32_epi32(
          _mm256_packus_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d)), order);
      for (int j = 0; j < 4; ++j) {
        const auto top = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_slli_epi16(bytes, 7 - j)));
        plane[j] |= static_cast<uint64_t>(top) << (32 * part);
      }
    }
    for (size_t j = 0; j < 4; ++j) planes[4 * w + j] = plane[j];
  }
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(s));
}

}  // namespace

const QuantKernels& Avx2QuantKernels() {
  static const QuantKernels k = {"avx2", DotF32U8, DotI16U8, DotI16U8x4, DotI16x4U8, Wl2U8, Pq4Scan, ArgminAffine,
                                 MatvecT, AddF32, Sq8QueryWeights, RoundI16,
                                 Sq8ResidualDecode, BitsDotU4, FwhtF32, U4Planes};
  return k;
}

}  // namespace sextant::simd
