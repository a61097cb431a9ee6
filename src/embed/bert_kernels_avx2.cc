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
inline float HMax(V v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

#include "embed/bert_kernels_impl.inc"

constexpr BertKernels kAvx2 = {"avx2", VecBiasGelu, VecAddBias, VecAddLayerNorm, VecSoftmax, VecErf, VecExp};

}  // namespace

const BertKernels& Avx2Kernels() { return kAvx2; }

}  // namespace sextant::embed::kernels
