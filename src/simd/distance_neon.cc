// AArch64 Advanced SIMD (NEON) kernels. NEON is part of the AArch64 baseline, so this file
// needs no extra compiler flags. Every kernel runs 4-lane (or wider) blocks and finishes with
// a short scalar tail.

#include <arm_neon.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "simd/distance.h"
#include "simd/internal.h"

namespace sextant::simd {
namespace {

// ---- f32 ----

float L2sqF32(const float* a, const float* b, size_t n) {
  // Four independent accumulators hide the FMA latency.
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  float32x4_t acc2 = vdupq_n_f32(0.0f), acc3 = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const float32x4_t d0 = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
    const float32x4_t d1 = vsubq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    const float32x4_t d2 = vsubq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
    const float32x4_t d3 = vsubq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    acc0 = vfmaq_f32(acc0, d0, d0);
    acc1 = vfmaq_f32(acc1, d1, d1);
    acc2 = vfmaq_f32(acc2, d2, d2);
    acc3 = vfmaq_f32(acc3, d3, d3);
  }
  for (; i + 4 <= n; i += 4) {
    const float32x4_t d = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
    acc0 = vfmaq_f32(acc0, d, d);
  }
  float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
  for (; i < n; ++i) {
    const float d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

float IpF32(const float* a, const float* b, size_t n) {
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  float32x4_t acc2 = vdupq_n_f32(0.0f), acc3 = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
    acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    acc2 = vfmaq_f32(acc2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
    acc3 = vfmaq_f32(acc3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
  }
  for (; i + 4 <= n; i += 4) acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
  float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float L1F32(const float* a, const float* b, size_t n) {
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    acc0 = vaddq_f32(acc0, vabdq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
    acc1 = vaddq_f32(acc1, vabdq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4)));
  }
  for (; i + 4 <= n; i += 4) acc0 = vaddq_f32(acc0, vabdq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
  float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) sum += std::fabs(a[i] - b[i]);
  return sum;
}

float CosineDistanceF32(const float* a, const float* b, size_t n) {
  float32x4_t dot0 = vdupq_n_f32(0.0f), aa0 = vdupq_n_f32(0.0f), bb0 = vdupq_n_f32(0.0f);
  float32x4_t dot1 = vdupq_n_f32(0.0f), aa1 = vdupq_n_f32(0.0f), bb1 = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t a0 = vld1q_f32(a + i), b0 = vld1q_f32(b + i);
    const float32x4_t a1 = vld1q_f32(a + i + 4), b1 = vld1q_f32(b + i + 4);
    dot0 = vfmaq_f32(dot0, a0, b0);
    aa0 = vfmaq_f32(aa0, a0, a0);
    bb0 = vfmaq_f32(bb0, b0, b0);
    dot1 = vfmaq_f32(dot1, a1, b1);
    aa1 = vfmaq_f32(aa1, a1, a1);
    bb1 = vfmaq_f32(bb1, b1, b1);
  }
  float dot = vaddvq_f32(vaddq_f32(dot0, dot1));
  float norm_a_sq = vaddvq_f32(vaddq_f32(aa0, aa1));
  float norm_b_sq = vaddvq_f32(vaddq_f32(bb0, bb1));
  for (; i < n; ++i) {
    dot += a[i] * b[i];
    norm_a_sq += a[i] * a[i];
    norm_b_sq += b[i] * b[i];
  }
  return ref::CosineFromSums(dot, norm_a_sq, norm_b_sq);
}

// ---- u8 / i8: exact integer sums. Lanes wrap modulo 2^32; the header's length bound keeps
// the true total within the 32-bit result, so the wrapped total is exact. ----

uint32_t L2sqU8(const uint8_t* a, const uint8_t* b, size_t n) {
  uint32x4_t acc0 = vdupq_n_u32(0), acc1 = vdupq_n_u32(0);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    // |a - b| fits u8 and its square (<= 65025) fits u16; pairwise-add those into u32 lanes.
    const uint8x16_t d = vabdq_u8(vld1q_u8(a + i), vld1q_u8(b + i));
    acc0 = vpadalq_u16(acc0, vmull_u8(vget_low_u8(d), vget_low_u8(d)));
    acc1 = vpadalq_u16(acc1, vmull_high_u8(d, d));
  }
  uint32_t sum = vaddvq_u32(vaddq_u32(acc0, acc1));
  for (; i < n; ++i) {
    const int32_t d = static_cast<int32_t>(a[i]) - b[i];
    sum += static_cast<uint32_t>(d * d);
  }
  return sum;
}

uint32_t IpU8(const uint8_t* a, const uint8_t* b, size_t n) {
  uint32x4_t acc0 = vdupq_n_u32(0), acc1 = vdupq_n_u32(0);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint8x16_t va = vld1q_u8(a + i), vb = vld1q_u8(b + i);
    acc0 = vpadalq_u16(acc0, vmull_u8(vget_low_u8(va), vget_low_u8(vb)));  // <= 65025: fits u16
    acc1 = vpadalq_u16(acc1, vmull_high_u8(va, vb));
  }
  uint32_t sum = vaddvq_u32(vaddq_u32(acc0, acc1));
  for (; i < n; ++i) sum += static_cast<uint32_t>(a[i]) * b[i];
  return sum;
}

uint32_t L1U8(const uint8_t* a, const uint8_t* b, size_t n) {
  uint32x4_t acc = vdupq_n_u32(0);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint8x16_t d = vabdq_u8(vld1q_u8(a + i), vld1q_u8(b + i));
    acc = vpadalq_u16(acc, vpaddlq_u8(d));  // Widen before accumulating: u16 lanes would overflow.
  }
  uint32_t sum = vaddvq_u32(acc);
  for (; i < n; ++i) sum += a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
  return sum;
}

uint32_t L2sqI8(const int8_t* a, const int8_t* b, size_t n) {
  // Differences span -255..255: widen to s16 first, then multiply-accumulate into s32 lanes.
  int32x4_t acc0 = vdupq_n_s32(0), acc1 = vdupq_n_s32(0);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const int8x16_t va = vld1q_s8(a + i), vb = vld1q_s8(b + i);
    const int16x8_t d_lo = vsubl_s8(vget_low_s8(va), vget_low_s8(vb));
    const int16x8_t d_hi = vsubl_high_s8(va, vb);
    acc0 = vmlal_s16(acc0, vget_low_s16(d_lo), vget_low_s16(d_lo));
    acc1 = vmlal_high_s16(acc1, d_lo, d_lo);
    acc0 = vmlal_s16(acc0, vget_low_s16(d_hi), vget_low_s16(d_hi));
    acc1 = vmlal_high_s16(acc1, d_hi, d_hi);
  }
  uint32_t sum = vaddvq_u32(vreinterpretq_u32_s32(vaddq_s32(acc0, acc1)));
  for (; i < n; ++i) {
    const int32_t d = static_cast<int32_t>(a[i]) - b[i];
    sum += static_cast<uint32_t>(d * d);
  }
  return sum;
}

int32_t IpI8(const int8_t* a, const int8_t* b, size_t n) {
  int32x4_t acc0 = vdupq_n_s32(0), acc1 = vdupq_n_s32(0);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const int8x16_t va = vld1q_s8(a + i), vb = vld1q_s8(b + i);
    // Products lie in [-16256, 16384]: they fit s16.
    acc0 = vpadalq_s16(acc0, vmull_s8(vget_low_s8(va), vget_low_s8(vb)));
    acc1 = vpadalq_s16(acc1, vmull_high_s8(va, vb));
  }
  // Sum as unsigned so the (exact) wrapped total never overflows a signed type.
  uint32_t sum = vaddvq_u32(vreinterpretq_u32_s32(vaddq_s32(acc0, acc1)));
  for (; i < n; ++i) sum += static_cast<uint32_t>(static_cast<int32_t>(a[i]) * b[i]);
  return static_cast<int32_t>(sum);
}

// ---- f16: widen 8 halves per step to two f32 vectors (FCVTL is exact). ----

inline float32x4_t LoadLow4(const float* p) { return vld1q_f32(p); }
inline float32x4_t LoadHigh4(const float* p) { return vld1q_f32(p + 4); }
inline float32x4_t LoadLow4(const uint16_t* p) {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}
inline float32x4_t LoadHigh4(const uint16_t* p) {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p + 4)));
}
inline float ToFloat(float x) { return x; }
inline float ToFloat(uint16_t h) { return HalfToFloat(h); }

template <class A, class B>
float L2sqHalf(const A* a, const B* b, size_t n) {
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t d0 = vsubq_f32(LoadLow4(a + i), LoadLow4(b + i));
    const float32x4_t d1 = vsubq_f32(LoadHigh4(a + i), LoadHigh4(b + i));
    acc0 = vfmaq_f32(acc0, d0, d0);
    acc1 = vfmaq_f32(acc1, d1, d1);
  }
  float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) {
    const float d = ToFloat(a[i]) - ToFloat(b[i]);
    sum += d * d;
  }
  return sum;
}

template <class A, class B>
float IpHalf(const A* a, const B* b, size_t n) {
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    acc0 = vfmaq_f32(acc0, LoadLow4(a + i), LoadLow4(b + i));
    acc1 = vfmaq_f32(acc1, LoadHigh4(a + i), LoadHigh4(b + i));
  }
  float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) sum += ToFloat(a[i]) * ToFloat(b[i]);
  return sum;
}

float L2sqF16(const uint16_t* a, const uint16_t* b, size_t n) { return L2sqHalf(a, b, n); }
float IpF16(const uint16_t* a, const uint16_t* b, size_t n) { return IpHalf(a, b, n); }
float L2sqF32F16(const float* a, const uint16_t* b, size_t n) { return L2sqHalf(a, b, n); }
float IpF32F16(const float* a, const uint16_t* b, size_t n) { return IpHalf(a, b, n); }

// FCVTN rounds by FPCR.RMode, round-to-nearest-even unless a caller changed it, matching
// FloatToHalf; FCVTL (half to float) is exact.
void F32ToF16(const float* in, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    vst1_u16(out + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(in + i))));
  }
  for (; i < n; ++i) out[i] = FloatToHalf(in[i]);
}

void F16ToF32(const uint16_t* in, float* out, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, LoadLow4(in + i));
  for (; i < n; ++i) out[i] = HalfToFloat(in[i]);
}

void L2sqF32X4(const float* a, const float* const* b, size_t n, float* out) {
  for (size_t j = 0; j < 4; ++j) out[j] = L2sqF32(a, b[j], n);
}
void IpF32X4(const float* a, const float* const* b, size_t n, float* out) {
  for (size_t j = 0; j < 4; ++j) out[j] = IpF32(a, b[j], n);
}

}  // namespace

const Kernels& NeonKernels() {
  static constexpr Kernels kNeon = {
      .isa = "neon",
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
  return kNeon;
}

}  // namespace sextant::simd
