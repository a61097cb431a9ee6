// AVX2 + FMA BERT kernels (this file is compiled with -mavx2 -mfma). Everything has internal
// linkage except Avx2Kernels(); only intrinsics are used (see bert_kernels_internal.h).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "embed/bert_kernels_internal.h"

namespace sextant::embed::kernels {
namespace {

using V = __m256;
constexpr size_t kW = 8;

// Loading 8 lanes at kTailMask + 8 - n gives n all-ones lanes, then zeros.
alignas(64) constexpr int32_t kTailMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i TailMask(size_t n) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailMask + 8 - n)); }

inline V Load(const float* p) { return _mm256_loadu_ps(p); }
inline void Store(float* p, V v) { _mm256_storeu_ps(p, v); }
inline V LoadN(const float* p, size_t n, float fill) {
  const __m256i m = TailMask(n);
  return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
inline void StoreN(float* p, V v, size_t n) { _mm256_maskstore_ps(p, TailMask(n), v); }
inline V Set1(float x) { return _mm256_set1_ps(x); }
inline V Add(V a, V b) { return _mm256_add_ps(a, b); }
inline V Sub(V a, V b) { return _mm256_sub_ps(a, b); }
inline V Mul(V a, V b) { return _mm256_mul_ps(a, b); }
inline V Div(V a, V b) { return _mm256_div_ps(a, b); }
inline V Fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline V Min(V a, V b) { return _mm256_min_ps(a, b); }
inline V Max(V a, V b) { return _mm256_max_ps(a, b); }
inline V RoundNearest(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline V Pow2(V n) {
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_castsi256_ps(e);
}
inline V LessThan(V a, V b, V x, V y) { return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
inline float HSum(V v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float HMin(V v) {
  __m128 s = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_min_ps(s, _mm_movehl_ps(s, s));
  s = _mm_min_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline __m128i PackU8(V v) {
  const __m256i i = _mm256_cvtps_epi32(v);
  const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
  return _mm_packus_epi16(w, w);
}
inline void StoreU8(uint8_t* p, V v) { _mm_storel_epi64(reinterpret_cast<__m128i*>(p), PackU8(v)); }
inline void StoreU8N(uint8_t* p, V v, size_t n) {
  alignas(16) uint8_t tmp[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(tmp), PackU8(v));
  for (size_t i = 0; i < n; ++i) p[i] = tmp[i];
}
inline float HMax(V v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

#include "embed/bert_kernels_impl.inc"

constexpr BertKernels kAvx2 = {"avx2", VecBiasGelu, VecAddBias, VecAddLayerNorm, VecSoftmax, VecErf, VecExp};

// ---- int8 ----

#include "embed/bert_int8_quantize.inc"

// AVX2 has no 8-bit dot product that cannot saturate (vpmaddubsw saturates at 16 bits), so the
// 8-bit operands are widened to 16 bits and multiplied with vpmaddwd: exact, like vpdpbusd, but
// no faster than float32. Two rows x one block of 16 outputs at a time.
inline int32_t LoadU32(const uint8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// acc[i] holds, for outputs 4i..4i+3, the sums of k pairs (0,1) and (2,3) in adjacent lanes;
// folds them into the 16 outputs' sums.
inline void FoldPairs(const __m256i acc[4], __m256i out[2]) {
  // Per 128-bit lane, hadd gives [a.01, a.23, b.01, b.23]: outputs (0,1,4,5 | 2,3,6,7).
  out[0] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[0], acc[1]), 0xD8);
  out[1] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[2], acc[3]), 0xD8);
}

inline void Epilogue8(__m256i acc, float sx, float zx, const Int8Weights& w, size_t o0, const float* bias, bool gelu,
                      float* y) {
  if (o0 >= w.n) return;
  const size_t valid = w.n - o0 < 8 ? w.n - o0 : 8;
  const V cs = Load(w.colsum + o0);
  V v = Mul(Load(w.scale + o0), Fma(Set1(sx), _mm256_cvtepi32_ps(acc), Mul(Set1(zx), cs)));
  v = Add(v, valid == 8 ? Load(bias + o0) : LoadN(bias + o0, valid, 0.0f));
  if (gelu) v = GeluV(v);
  if (valid == 8) {
    Store(y + o0, v);
  } else {
    StoreN(y + o0, v, valid);
  }
}

template <int MR>
void Avx2Block(const uint8_t* q, size_t ldq, const float* scale, const float* zero, const Int8Weights& w,
               size_t block, const float* bias, bool gelu, float* y, size_t ldy) {
  __m256i acc[MR][4];
  for (int r = 0; r < MR; ++r) {
    for (int i = 0; i < 4; ++i) acc[r][i] = _mm256_setzero_si256();
  }
  const int8_t* wb = w.packed + block * w.k_groups * 64;
  for (size_t g = 0; g < w.k_groups; ++g) {
    __m256i wv[4];
    for (int i = 0; i < 4; ++i) {
      wv[i] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb + g * 64 + 16 * i)));
    }
    for (int r = 0; r < MR; ++r) {
      const __m256i a = _mm256_cvtepu8_epi16(_mm_set1_epi32(LoadU32(q + r * ldq + 4 * g)));
      for (int i = 0; i < 4; ++i) acc[r][i] = _mm256_add_epi32(acc[r][i], _mm256_madd_epi16(wv[i], a));
    }
  }
  for (int r = 0; r < MR; ++r) {
    __m256i sums[2];
    FoldPairs(acc[r], sums);
    for (int h = 0; h < 2; ++h) {
      Epilogue8(sums[h], scale[r], zero[r], w, block * 16 + 8 * h, bias, gelu, y + r * ldy);
    }
  }
}

void Avx2Int8Linear(const uint8_t* q, size_t ldq, const float* scale, const float* zero, size_t m,
                    const Int8Weights& w, const float* bias, bool gelu, float* y, size_t ldy) {
  for (size_t b = 0; b < w.n_blocks; ++b) {
    size_t r = 0;
    for (; r + 2 <= m; r += 2) Avx2Block<2>(q + r * ldq, ldq, scale + r, zero + r, w, b, bias, gelu, y + r * ldy, ldy);
    if (r < m) Avx2Block<1>(q + r * ldq, ldq, scale + r, zero + r, w, b, bias, gelu, y + r * ldy, ldy);
  }
}

constexpr Int8Kernels kAvx2Int8 = {"avx2", VecQuantizeRows, Avx2Int8Linear};

}  // namespace

const BertKernels& Avx2Kernels() { return kAvx2; }
const Int8Kernels& Avx2Int8Kernels() { return kAvx2Int8; }

}  // namespace sextant::embed::kernels
