// AVX-512 (F, BW, VL) quant kernels (this file is compiled with the AVX-512 flags). Only the
// SQ8 walk's integer dot product has its own variant; the other entries are the AVX2 table's.
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

}  // namespace

const QuantKernels& Avx512QuantKernels() {
  static const QuantKernels k = [] {
    QuantKernels t = Avx2QuantKernels();
    t.isa = "avx512";
    t.dot_i16_u8 = DotI16U8;
    return t;
  }();
  return k;
}

}  // namespace sextant::simd
