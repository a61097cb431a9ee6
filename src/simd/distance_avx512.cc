// AVX-512 (F, BW, VL, DQ) kernels. Tails use mask registers: masked loads read only the
// selected lanes (no fault past the end of the array) and zero the rest, so no scalar tails.
//
// As in distance_avx2.cc, everything but Avx512Kernels() has internal linkage so no function
// compiled with these flags can leak into code run on CPUs without AVX-512.

#include "common/avx512_intrinsics.h"  // <immintrin.h> without GCC 12's false warnings

#include <cstddef>
#include <cstdint>

#include "simd/distance.h"
#include "simd/internal.h"

namespace sextant::simd {
namespace {

// Mask of the low r lanes; r is below the lane count, so the shifts are defined.
inline __mmask16 LowMask16(size_t r) { return static_cast<__mmask16>((1u << r) - 1); }
inline __mmask32 LowMask32(size_t r) { return static_cast<__mmask32>((1u << r) - 1); }
inline __mmask64 LowMask64(size_t r) { return static_cast<__mmask64>((uint64_t{1} << r) - 1); }

inline float HorizontalSum(__m512 v) {
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Explicit wrapping lane adds (rather than _mm512_reduce_add_epi32): the true total fits the
// 32-bit result by the header's length bound, so the wrapped total is exact.
inline uint32_t HorizontalSumU32(__m512i v) {
  const __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(s));
}

// ---- Float kernels (f32 and f16 inputs share one loop; f16 is widened to f32 on load). ----

inline __m512 Load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 Load16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
// Masked-off lanes load as zero (+0.0f, or half 0x0000), which adds nothing to any sum.
inline __m512 LoadMasked(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 LoadMasked(const uint16_t* p, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

struct L2sqStep {
  static __m512 Apply(__m512 acc, __m512 a, __m512 b) {
    const __m512 d = _mm512_sub_ps(a, b);
    return _mm512_fmadd_ps(d, d, acc);
  }
};
struct IpStep {
  static __m512 Apply(__m512 acc, __m512 a, __m512 b) { return _mm512_fmadd_ps(a, b, acc); }
};
struct L1Step {
  static __m512 Apply(__m512 acc, __m512 a, __m512 b) {
    return _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(a, b)));
  }
};

// Four independent accumulators a vector hide the FMA latency. kVectors vectors b[0..) against
// one a at once, the a blocks loaded once for all: each vector's accumulators see the same
// blocks in the same order whatever kVectors is, so every count gives the same sums to the bit.
// Four vectors (l2sq_f32_x4): 16 accumulators and the 4 a blocks fit the 32 registers.
template <class Step, size_t kVectors, class A, class B>
void ReduceFloatN(const A* a, const B* const* b, size_t n, float* out) {
  __m512 acc[kVectors][4];
  for (auto& row : acc) {
    for (__m512& x : row) x = _mm512_setzero_ps();
  }
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512 q[4] = {Load16(a + i), Load16(a + i + 16), Load16(a + i + 32), Load16(a + i + 48)};
#pragma GCC unroll 4
    for (size_t j = 0; j < kVectors; ++j) {
#pragma GCC unroll 4
      for (size_t k = 0; k < 4; ++k) acc[j][k] = Step::Apply(acc[j][k], q[k], Load16(b[j] + i + 16 * k));
    }
  }
  for (; i + 16 <= n; i += 16) {
    const __m512 q = Load16(a + i);
#pragma GCC unroll 4
    for (size_t j = 0; j < kVectors; ++j) acc[j][0] = Step::Apply(acc[j][0], q, Load16(b[j] + i));
  }
  if (i < n) {
    const __mmask16 m = LowMask16(n - i);
    const __m512 q = LoadMasked(a + i, m);
#pragma GCC unroll 4
    for (size_t j = 0; j < kVectors; ++j) acc[j][1] = Step::Apply(acc[j][1], q, LoadMasked(b[j] + i, m));
  }
#pragma GCC unroll 4
  for (size_t j = 0; j < kVectors; ++j) {
    out[j] = HorizontalSum(_mm512_add_ps(_mm512_add_ps(acc[j][0], acc[j][1]), _mm512_add_ps(acc[j][2], acc[j][3])));
  }
}

template <class Step, class A, class B>
float ReduceFloat(const A* a, const B* b, size_t n) {
  float out;
  ReduceFloatN<Step, 1>(a, &b, n, &out);
  return out;
}

float L2sqF32(const float* a, const float* b, size_t n) { return ReduceFloat<L2sqStep>(a, b, n); }
float IpF32(const float* a, const float* b, size_t n) { return ReduceFloat<IpStep>(a, b, n); }

void L2sqF32X4(const float* a, const float* const* b, size_t n, float* out) { ReduceFloatN<L2sqStep, 4>(a, b, n, out); }
void IpF32X4(const float* a, const float* const* b, size_t n, float* out) { ReduceFloatN<IpStep, 4>(a, b, n, out); }
float L1F32(const float* a, const float* b, size_t n) { return ReduceFloat<L1Step>(a, b, n); }
float L2sqF16(const uint16_t* a, const uint16_t* b, size_t n) {
  return ReduceFloat<L2sqStep>(a, b, n);
}
float IpF16(const uint16_t* a, const uint16_t* b, size_t n) { return ReduceFloat<IpStep>(a, b, n); }
float L2sqF32F16(const float* a, const uint16_t* b, size_t n) {
  return ReduceFloat<L2sqStep>(a, b, n);
}
float IpF32F16(const float* a, const uint16_t* b, size_t n) { return ReduceFloat<IpStep>(a, b, n); }

float CosineDistanceF32(const float* a, const float* b, size_t n) {
  __m512 dot0 = _mm512_setzero_ps(), aa0 = _mm512_setzero_ps(), bb0 = _mm512_setzero_ps();
  __m512 dot1 = _mm512_setzero_ps(), aa1 = _mm512_setzero_ps(), bb1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a0 = _mm512_loadu_ps(a + i), b0 = _mm512_loadu_ps(b + i);
    const __m512 a1 = _mm512_loadu_ps(a + i + 16), b1 = _mm512_loadu_ps(b + i + 16);
    dot0 = _mm512_fmadd_ps(a0, b0, dot0);
    aa0 = _mm512_fmadd_ps(a0, a0, aa0);
    bb0 = _mm512_fmadd_ps(b0, b0, bb0);
    dot1 = _mm512_fmadd_ps(a1, b1, dot1);
    aa1 = _mm512_fmadd_ps(a1, a1, aa1);
    bb1 = _mm512_fmadd_ps(b1, b1, bb1);
  }
  // At most 31 left: two masked blocks (a block whose mask is empty loads zeros).
  for (int block = 0; block < 2 && i < n; ++block, i += 16) {
    const size_t r = n - i;
    const __mmask16 m = r >= 16 ? static_cast<__mmask16>(0xffff) : LowMask16(r);
    const __m512 a0 = _mm512_maskz_loadu_ps(m, a + i), b0 = _mm512_maskz_loadu_ps(m, b + i);
    dot0 = _mm512_fmadd_ps(a0, b0, dot0);
    aa0 = _mm512_fmadd_ps(a0, a0, aa0);
    bb0 = _mm512_fmadd_ps(b0, b0, bb0);
  }
  return ref::CosineFromSums(HorizontalSum(_mm512_add_ps(dot0, dot1)),
                             HorizontalSum(_mm512_add_ps(aa0, aa1)),
                             HorizontalSum(_mm512_add_ps(bb0, bb1)));
}

// ---- Byte kernels: 32 bytes per step, widened to 32 16-bit lanes. ----

// Each Step adds 32-bit partial sums of 32 byte pairs to acc. Widened values fit int16
// (differences are within +-255) and _mm512_madd_epi16 adds pairs of products (at most
// 2 * 255^2) into int32 lanes without overflow.
struct L2sqU8Step {
  static __m512i Apply(__m512i acc, __m256i a, __m256i b) {
    const __m512i d = _mm512_sub_epi16(_mm512_cvtepu8_epi16(a), _mm512_cvtepu8_epi16(b));
    return _mm512_add_epi32(acc, _mm512_madd_epi16(d, d));
  }
};
struct IpU8Step {
  static __m512i Apply(__m512i acc, __m256i a, __m256i b) {
    return _mm512_add_epi32(acc,
                            _mm512_madd_epi16(_mm512_cvtepu8_epi16(a), _mm512_cvtepu8_epi16(b)));
  }
};
struct L2sqI8Step {
  static __m512i Apply(__m512i acc, __m256i a, __m256i b) {
    const __m512i d = _mm512_sub_epi16(_mm512_cvtepi8_epi16(a), _mm512_cvtepi8_epi16(b));
    return _mm512_add_epi32(acc, _mm512_madd_epi16(d, d));
  }
};
struct IpI8Step {
  static __m512i Apply(__m512i acc, __m256i a, __m256i b) {
    return _mm512_add_epi32(acc,
                            _mm512_madd_epi16(_mm512_cvtepi8_epi16(a), _mm512_cvtepi8_epi16(b)));
  }
};

inline __m256i Load32Bytes(const void* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

template <class Step, class T>
uint32_t ReduceBytes(const T* a, const T* b, size_t n) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = Step::Apply(acc0, Load32Bytes(a + i), Load32Bytes(b + i));
    acc1 = Step::Apply(acc1, Load32Bytes(a + i + 32), Load32Bytes(b + i + 32));
  }
  if (i + 32 <= n) {
    acc0 = Step::Apply(acc0, Load32Bytes(a + i), Load32Bytes(b + i));
    i += 32;
  }
  if (i < n) {
    // Masked-off bytes load as zero, which adds nothing to any of these sums.
    const __mmask32 m = LowMask32(n - i);
    acc1 = Step::Apply(acc1, _mm256_maskz_loadu_epi8(m, a + i), _mm256_maskz_loadu_epi8(m, b + i));
  }
  return HorizontalSumU32(_mm512_add_epi32(acc0, acc1));
}

uint32_t L2sqU8(const uint8_t* a, const uint8_t* b, size_t n) {
  return ReduceBytes<L2sqU8Step>(a, b, n);
}
uint32_t IpU8(const uint8_t* a, const uint8_t* b, size_t n) {
  return ReduceBytes<IpU8Step>(a, b, n);
}
uint32_t L2sqI8(const int8_t* a, const int8_t* b, size_t n) {
  return ReduceBytes<L2sqI8Step>(a, b, n);
}
int32_t IpI8(const int8_t* a, const int8_t* b, size_t n) {
  return static_cast<int32_t>(ReduceBytes<IpI8Step>(a, b, n));
}

uint32_t L1U8(const uint8_t* a, const uint8_t* b, size_t n) {
  // _mm512_sad_epu8 sums |a - b| of each 8-byte group into a 64-bit lane.
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc = _mm512_add_epi64(acc,
                           _mm512_sad_epu8(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i)));
  }
  if (i < n) {
    const __mmask64 m = LowMask64(n - i);
    acc = _mm512_add_epi64(
        acc, _mm512_sad_epu8(_mm512_maskz_loadu_epi8(m, a + i), _mm512_maskz_loadu_epi8(m, b + i)));
  }
  const __m256i s4 =
      _mm256_add_epi64(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
  __m128i s = _mm_add_epi64(_mm256_castsi256_si128(s4), _mm256_extracti128_si256(s4, 1));
  s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
  return static_cast<uint32_t>(_mm_cvtsi128_si64(s));
}

// ---- Conversions. ----

void F32ToF16(const float* in, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), h);
  }
  if (i < n) {
    const __mmask16 m = LowMask16(n - i);
    const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, in + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_mask_storeu_epi16(out + i, m, h);
  }
}

void F16ToF32(const uint16_t* in, float* out, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, Load16(in + i));
  if (i < n) {
    const __mmask16 m = LowMask16(n - i);
    _mm512_mask_storeu_ps(out + i, m, LoadMasked(in + i, m));
  }
}

}  // namespace

const Kernels& Avx512Kernels() {
  static constexpr Kernels kAvx512 = {
      .isa = "avx512",
      .l2sq_f32 = L2sqF32,
      .ip_f32 = IpF32,
      .cosine_distance_f32 = CosineDistanceF32,
      .l1_f32 = L1F32,
      .l2sq_u8 = L2sqU8,
      .ip_u8 = IpU8,
      .l1_u8 = L1U8,
      .l2sq_i8 = L2sqI8,
      .ip_i8 = IpI8,
      .l2sq_f16 = L2sqF16,
      .ip_f16 = IpF16,
      .l2sq_f32_f16 = L2sqF32F16,
      .ip_f32_f16 = IpF32F16,
      .f32_to_f16 = F32ToF16,
      .f16_to_f32 = F16ToF32,
      .l2sq_f32_x4 = L2sqF32X4,
      .ip_f32_x4 = IpF32X4,
  };
  return kAvx512;
}

}  // namespace sextant::simd
