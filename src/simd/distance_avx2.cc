// AVX2 + FMA + F16C kernels (this file is compiled with -mavx2 -mfma -mf16c).
//
// Everything here has internal linkage except Avx2Kernels(): an inline function from a shared
// header instantiated in this file could otherwise be chosen by the linker for code that runs
// on CPUs without AVX2. Only intrinsics and std::memcpy are used.

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "simd/distance.h"
#include "simd/internal.h"

namespace sextant::simd {
namespace {

// Loading 8 lanes at kTailMask + 8 - r gives r all-ones lanes followed by zeros: the mask for
// _mm256_maskload_ps, which reads only the selected lanes and so never runs past the array.
alignas(64) constexpr int32_t kTailMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                               0,  0,  0,  0,  0,  0,  0,  0};

inline __m256i TailMask(size_t r) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailMask + 8 - r));
}

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lane additions wrap modulo 2^32; the header's length bound keeps the true total below 2^32
// (or within int32 for ip_i8), so the wrapped total is exact.
inline uint32_t HorizontalSumU32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(s));
}

// ---- Float kernels (f32 and f16 inputs share one loop; f16 is widened to f32 on load). ----

inline __m256 Load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 Load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Loads the last r (1..7) elements and zeros the other lanes; zeros add nothing to any sum.
inline __m256 LoadTail(const float* p, size_t r) { return _mm256_maskload_ps(p, TailMask(r)); }
inline __m256 LoadTail(const uint16_t* p, size_t r) {
  // No 16-bit masked load in AVX2: copy into a zeroed buffer (half 0x0000 is +0.0f).
  alignas(16) uint16_t buf[8] = {};
  std::memcpy(buf, p, r * sizeof(uint16_t));
  return Load8(buf);
}

struct L2sqStep {
  static __m256 Apply(__m256 acc, __m256 a, __m256 b) {
    const __m256 d = _mm256_sub_ps(a, b);
    return _mm256_fmadd_ps(d, d, acc);
  }
};
struct IpStep {
  static __m256 Apply(__m256 acc, __m256 a, __m256 b) { return _mm256_fmadd_ps(a, b, acc); }
};
struct L1Step {
  static __m256 Apply(__m256 acc, __m256 a, __m256 b) {
    const __m256 abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(a, b));
    return _mm256_add_ps(acc, abs);
  }
};

// Four independent accumulators a vector hide the 4-cycle FMA latency (2 FMAs issue per
// cycle). kVectors vectors b[0..) against one a at once, the a blocks loaded once for all: each
// vector's accumulators see the same blocks in the same order whatever kVectors is, so every
// count gives the same sums to the bit. Two vectors: 8 accumulators and the 4 a blocks fill
// the 16 registers, so four (l2sq_f32_x4) are two calls of two.
template <class Step, size_t kVectors, class A, class B>
void ReduceFloatN(const A* a, const B* const* b, size_t n, float* out) {
  __m256 acc[kVectors][4];
  for (auto& row : acc) {
    for (__m256& x : row) x = _mm256_setzero_ps();
  }
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 q[4] = {Load8(a + i), Load8(a + i + 8), Load8(a + i + 16), Load8(a + i + 24)};
#pragma GCC unroll 2
    for (size_t j = 0; j < kVectors; ++j) {
#pragma GCC unroll 4
      for (size_t k = 0; k < 4; ++k) acc[j][k] = Step::Apply(acc[j][k], q[k], Load8(b[j] + i + 8 * k));
    }
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 q = Load8(a + i);
    for (size_t j = 0; j < kVectors; ++j) acc[j][0] = Step::Apply(acc[j][0], q, Load8(b[j] + i));
  }
  if (i < n) {
    const __m256 q = LoadTail(a + i, n - i);
    for (size_t j = 0; j < kVectors; ++j) acc[j][1] = Step::Apply(acc[j][1], q, LoadTail(b[j] + i, n - i));
  }
  for (size_t j = 0; j < kVectors; ++j) {
    out[j] = HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc[j][0], acc[j][1]), _mm256_add_ps(acc[j][2], acc[j][3])));
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

void L2sqF32X4(const float* a, const float* const* b, size_t n, float* out) {
  ReduceFloatN<L2sqStep, 2>(a, b, n, out);
  ReduceFloatN<L2sqStep, 2>(a, b + 2, n, out + 2);
}
void IpF32X4(const float* a, const float* const* b, size_t n, float* out) {
  ReduceFloatN<IpStep, 2>(a, b, n, out);
  ReduceFloatN<IpStep, 2>(a, b + 2, n, out + 2);
}
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
  __m256 dot0 = _mm256_setzero_ps(), aa0 = _mm256_setzero_ps(), bb0 = _mm256_setzero_ps();
  __m256 dot1 = _mm256_setzero_ps(), aa1 = _mm256_setzero_ps(), bb1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a0 = _mm256_loadu_ps(a + i), b0 = _mm256_loadu_ps(b + i);
    const __m256 a1 = _mm256_loadu_ps(a + i + 8), b1 = _mm256_loadu_ps(b + i + 8);
    dot0 = _mm256_fmadd_ps(a0, b0, dot0);
    aa0 = _mm256_fmadd_ps(a0, a0, aa0);
    bb0 = _mm256_fmadd_ps(b0, b0, bb0);
    dot1 = _mm256_fmadd_ps(a1, b1, dot1);
    aa1 = _mm256_fmadd_ps(a1, a1, aa1);
    bb1 = _mm256_fmadd_ps(b1, b1, bb1);
  }
  if (i < n) {
    // 1..15 left: one full block of 8 if there is one, then a masked block.
    const size_t r = n - i;
    __m256 a0, b0;
    if (r >= 8) {
      a0 = _mm256_loadu_ps(a + i);
      b0 = _mm256_loadu_ps(b + i);
      if (r > 8) {
        const __m256i mask = TailMask(r - 8);
        const __m256 a1 = _mm256_maskload_ps(a + i + 8, mask);
        const __m256 b1 = _mm256_maskload_ps(b + i + 8, mask);
        dot1 = _mm256_fmadd_ps(a1, b1, dot1);
        aa1 = _mm256_fmadd_ps(a1, a1, aa1);
        bb1 = _mm256_fmadd_ps(b1, b1, bb1);
      }
    } else {
      const __m256i mask = TailMask(r);
      a0 = _mm256_maskload_ps(a + i, mask);
      b0 = _mm256_maskload_ps(b + i, mask);
    }
    dot0 = _mm256_fmadd_ps(a0, b0, dot0);
    aa0 = _mm256_fmadd_ps(a0, a0, aa0);
    bb0 = _mm256_fmadd_ps(b0, b0, bb0);
  }
  return ref::CosineFromSums(HorizontalSum(_mm256_add_ps(dot0, dot1)),
                             HorizontalSum(_mm256_add_ps(aa0, aa1)),
                             HorizontalSum(_mm256_add_ps(bb0, bb1)));
}

// ---- Byte kernels: 32 bytes per step, widened to 16-bit lanes. ----

inline __m128i Load16Bytes(const void* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// Each Step consumes 32 bytes of a and b and adds 32-bit partial sums to acc. Widened values
// fit int16 (differences are within +-255), and _mm256_madd_epi16 adds pairs of products
// (at most 2 * 255^2 or 2 * 128^2) into int32 lanes without overflow.
struct L2sqU8Step {
  static __m256i Apply(__m256i acc, const uint8_t* a, const uint8_t* b) {
    const __m256i d0 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(Load16Bytes(a)),
                                        _mm256_cvtepu8_epi16(Load16Bytes(b)));
    const __m256i d1 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(Load16Bytes(a + 16)),
                                        _mm256_cvtepu8_epi16(Load16Bytes(b + 16)));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(d0, d0));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(d1, d1));
  }
};
struct IpU8Step {
  static __m256i Apply(__m256i acc, const uint8_t* a, const uint8_t* b) {
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepu8_epi16(Load16Bytes(a)),
                                                  _mm256_cvtepu8_epi16(Load16Bytes(b))));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepu8_epi16(Load16Bytes(a + 16)),
                                                   _mm256_cvtepu8_epi16(Load16Bytes(b + 16))));
  }
};
struct L2sqI8Step {
  static __m256i Apply(__m256i acc, const int8_t* a, const int8_t* b) {
    const __m256i d0 = _mm256_sub_epi16(_mm256_cvtepi8_epi16(Load16Bytes(a)),
                                        _mm256_cvtepi8_epi16(Load16Bytes(b)));
    const __m256i d1 = _mm256_sub_epi16(_mm256_cvtepi8_epi16(Load16Bytes(a + 16)),
                                        _mm256_cvtepi8_epi16(Load16Bytes(b + 16)));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(d0, d0));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(d1, d1));
  }
};
struct IpI8Step {
  static __m256i Apply(__m256i acc, const int8_t* a, const int8_t* b) {
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepi8_epi16(Load16Bytes(a)),
                                                  _mm256_cvtepi8_epi16(Load16Bytes(b))));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepi8_epi16(Load16Bytes(a + 16)),
                                                   _mm256_cvtepi8_epi16(Load16Bytes(b + 16))));
  }
};

template <class Step, class T>
uint32_t ReduceBytes(const T* a, const T* b, size_t n) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = Step::Apply(acc0, a + i, b + i);
    acc1 = Step::Apply(acc1, a + i + 32, b + i + 32);
  }
  if (i + 32 <= n) {
    acc0 = Step::Apply(acc0, a + i, b + i);
    i += 32;
  }
  if (i < n) {
    // Zero padding contributes nothing to any of these sums.
    alignas(32) T a_tail[32] = {};
    alignas(32) T b_tail[32] = {};
    std::memcpy(a_tail, a + i, n - i);
    std::memcpy(b_tail, b + i, n - i);
    acc1 = Step::Apply(acc1, a_tail, b_tail);
  }
  return HorizontalSumU32(_mm256_add_epi32(acc0, acc1));
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
  // _mm256_sad_epu8 sums |a - b| of each 8-byte group into a 64-bit lane.
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    acc = _mm256_add_epi64(acc, _mm256_sad_epu8(va, vb));
  }
  if (i < n) {
    alignas(32) uint8_t a_tail[32] = {};
    alignas(32) uint8_t b_tail[32] = {};
    std::memcpy(a_tail, a + i, n - i);
    std::memcpy(b_tail, b + i, n - i);
    const __m256i va = _mm256_load_si256(reinterpret_cast<const __m256i*>(a_tail));
    const __m256i vb = _mm256_load_si256(reinterpret_cast<const __m256i*>(b_tail));
    acc = _mm256_add_epi64(acc, _mm256_sad_epu8(va, vb));
  }
  __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
  return static_cast<uint32_t>(_mm_cvtsi128_si64(s));
}

// ---- Conversions. ----

void F32ToF16(const float* in, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
  if (i < n) {
    const __m128i h =
        _mm256_cvtps_ph(_mm256_maskload_ps(in + i, TailMask(n - i)), _MM_FROUND_TO_NEAREST_INT);
    alignas(16) uint16_t buf[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(buf), h);
    std::memcpy(out + i, buf, (n - i) * sizeof(uint16_t));
  }
}

void F16ToF32(const uint16_t* in, float* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, Load8(in + i));
  if (i < n) _mm256_maskstore_ps(out + i, TailMask(n - i), LoadTail(in + i, n - i));
}

}  // namespace

const Kernels& Avx2Kernels() {
  static constexpr Kernels kAvx2 = {
      .isa = "avx2",
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
  return kAvx2;
}

}  // namespace sextant::simd
