// int8 kernels for AVX-512 VNNI (this file is compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512dq -mavx512vnni and the AVX2 flags): vpdpbusd adds four u8 x s8 products into each
// 32-bit lane, 64 multiply-adds per instruction against float32's 16. Everything has internal
// linkage except VnniInt8Kernels(); only intrinsics are used (see bert_kernels_internal.h).

#include "common/avx512_intrinsics.h"  // <immintrin.h> without GCC 12's false warnings

#include <cstddef>
#include <cstdint>

#include "embed/bert_kernels_internal.h"

namespace sextant::embed::kernels {
namespace {

#include "embed/bert_kernels_avx512_prims.inc"
#include "embed/bert_kernels_math.inc"
#include "embed/bert_int8_quantize.inc"

inline int32_t LoadU32(const uint8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// MR rows x NB blocks of 16 outputs: MR * NB accumulators, NB weight loads and MR broadcasts
// per group of 4 k. The weight panel (NB blocks x all k) stays in L1/L2 while rows stream by.
template <int MR, int NB>
void Tile(const uint8_t* q, size_t ldq, const float* scale, const float* zero, const Int8Weights& w, size_t block,
          const float* bias, bool gelu, float* y, size_t ldy) {
  __m512i acc[MR][NB];
  for (int r = 0; r < MR; ++r) {
    for (int j = 0; j < NB; ++j) acc[r][j] = _mm512_setzero_si512();
  }
  const size_t stride = w.k_groups * 64;
  const int8_t* wb = w.packed + block * stride;
  for (size_t g = 0; g < w.k_groups; ++g) {
    __m512i b[NB];
    for (int j = 0; j < NB; ++j) b[j] = _mm512_loadu_si512(wb + j * stride + g * 64);
    for (int r = 0; r < MR; ++r) {
      const __m512i a = _mm512_set1_epi32(LoadU32(q + r * ldq + 4 * g));
      for (int j = 0; j < NB; ++j) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], a, b[j]);
    }
  }
  for (int j = 0; j < NB; ++j) {
    const size_t o0 = (block + j) * 16;
    if (o0 >= w.n) break;
    const size_t valid = w.n - o0 < 16 ? w.n - o0 : 16;
    const V ws = Load(w.scale + o0), cs = Load(w.colsum + o0);
    const V bv = valid == 16 ? Load(bias + o0) : LoadN(bias + o0, valid, 0.0f);
    for (int r = 0; r < MR; ++r) {
      V v = Fma(ws, Fma(Set1(scale[r]), _mm512_cvtepi32_ps(acc[r][j]), Mul(Set1(zero[r]), cs)), bv);
      if (gelu) v = GeluV(v);
      if (valid == 16) {
        Store(y + r * ldy + o0, v);
      } else {
        StoreN(y + r * ldy + o0, v, valid);
      }
    }
  }
}

template <int NB>
void Rows(const uint8_t* q, size_t ldq, const float* scale, const float* zero, size_t m, const Int8Weights& w,
          size_t block, const float* bias, bool gelu, float* y, size_t ldy) {
  size_t r = 0;
  for (; r + 4 <= m; r += 4) Tile<4, NB>(q + r * ldq, ldq, scale + r, zero + r, w, block, bias, gelu, y + r * ldy, ldy);
  switch (m - r) {
    case 3: Tile<3, NB>(q + r * ldq, ldq, scale + r, zero + r, w, block, bias, gelu, y + r * ldy, ldy); break;
    case 2: Tile<2, NB>(q + r * ldq, ldq, scale + r, zero + r, w, block, bias, gelu, y + r * ldy, ldy); break;
    case 1: Tile<1, NB>(q + r * ldq, ldq, scale + r, zero + r, w, block, bias, gelu, y + r * ldy, ldy); break;
    default: break;
  }
}

void VnniLinear(const uint8_t* q, size_t ldq, const float* scale, const float* zero, size_t m, const Int8Weights& w,
                const float* bias, bool gelu, float* y, size_t ldy) {
  for (size_t b = 0; b < w.n_blocks; b += 4) {
    switch (w.n_blocks - b < 4 ? w.n_blocks - b : 4) {
      case 4: Rows<4>(q, ldq, scale, zero, m, w, b, bias, gelu, y, ldy); break;
      case 3: Rows<3>(q, ldq, scale, zero, m, w, b, bias, gelu, y, ldy); break;
      case 2: Rows<2>(q, ldq, scale, zero, m, w, b, bias, gelu, y, ldy); break;
      default: Rows<1>(q, ldq, scale, zero, m, w, b, bias, gelu, y, ldy); break;
    }
  }
}

constexpr Int8Kernels kVnni = {"avx512", VecQuantizeRows, VnniLinear};

}  // namespace

const Int8Kernels& VnniInt8Kernels() { return kVnni; }

}  // namespace sextant::embed::kernels
