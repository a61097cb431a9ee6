// AVX-512 BERT kernels (this file is compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq
// and the AVX2 flags). Everything has internal linkage except Avx512Kernels(); only intrinsics
// are used (see bert_kernels_internal.h).

// GCC 12's AVX-512 headers set up their "undefined" vectors in a way that trips
// -Wuninitialized (GCC bug 105593); the pragmas keep those false positives out of our build.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <cstddef>
#include <cstdint>

#include "embed/bert_kernels_internal.h"

namespace sextant::embed::kernels {
namespace {

using V = __m512;
constexpr size_t kW = 16;

inline __mmask16 TailMask(size_t n) { return static_cast<__mmask16>((1u << n) - 1); }

inline V Load(const float* p) { return _mm512_loadu_ps(p); }
inline void Store(float* p, V v) { _mm512_storeu_ps(p, v); }
inline V LoadN(const float* p, size_t n, float fill) { return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), TailMask(n), p); }
inline void StoreN(float* p, V v, size_t n) { _mm512_mask_storeu_ps(p, TailMask(n), v); }
inline V Set1(float x) { return _mm512_set1_ps(x); }
inline V Add(V a, V b) { return _mm512_add_ps(a, b); }
inline V Sub(V a, V b) { return _mm512_sub_ps(a, b); }
inline V Mul(V a, V b) { return _mm512_mul_ps(a, b); }
inline V Div(V a, V b) { return _mm512_div_ps(a, b); }
inline V Fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline V Min(V a, V b) { return _mm512_min_ps(a, b); }
inline V Max(V a, V b) { return _mm512_max_ps(a, b); }
inline V RoundNearest(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline V Pow2(V n) {
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_castsi512_ps(e);
}
inline V LessThan(V a, V b, V x, V y) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x); }
inline float HSum(V v) { return _mm512_reduce_add_ps(v); }
inline float HMax(V v) { return _mm512_reduce_max_ps(v); }

#include "embed/bert_kernels_impl.inc"

constexpr BertKernels kAvx512 = {"avx512", VecBiasGelu, VecAddBias, VecAddLayerNorm, VecSoftmax, VecErf, VecExp};

}  // namespace

const BertKernels& Avx512Kernels() { return kAvx512; }

}  // namespace sextant::embed::kernels
