// Scalar reference kernels: plain loops, no ISA flags, written to be obviously right.
// Every SIMD variant is tested against these.

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "simd/distance.h"
#include "simd/internal.h"

namespace sextant::simd {

uint16_t FloatToHalf(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;

  if (abs >= 0x7f800000u) {  // Inf or NaN.
    if (abs == 0x7f800000u) return sign | 0x7c00u;
    // NaN: keep the top payload bits and force the quiet bit, as F16C and ARM FCVT do.
    return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  }
  if (abs >= 0x47800000u) return sign | 0x7c00u;  // >= 65536: overflow to Inf.

  const uint32_t exp = abs >> 23;
  if (exp >= 113) {
    // Normal half (|f| >= 2^-14): rebias the exponent (127 -> 15) and drop 13 mantissa bits,
    // rounding to nearest even. A carry out of the mantissa correctly bumps the exponent,
    // up to Inf for values in [65520, 65536).
    uint32_t h = (abs - (112u << 23)) >> 13;
    const uint32_t rest = abs & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  if (exp < 102) return sign;  // |f| < 2^-25 rounds to (signed) zero.

  // Subnormal half: the result counts units of 2^-24. With the implicit bit restored, the
  // float equals mant * 2^(exp - 150), i.e. mant >> (126 - exp) units (shift in [14, 24]).
  const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exp;
  uint32_t h = mant >> shift;
  const uint32_t rest = mant & ((1u << shift) - 1);
  const uint32_t half_unit = 1u << (shift - 1);
  if (rest > half_unit || (rest == half_unit && (h & 1u))) ++h;  // May become 0x400: fine.
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;

  if (exp == 0x1f) {
    // Inf, or NaN with the payload kept and the quiet bit set (as F16C and ARM FCVT do).
    const uint32_t quiet = mant != 0 ? 0x400000u : 0u;
    return std::bit_cast<float>(sign | 0x7f800000u | quiet | (mant << 13));
  }
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in float.
    const float magnitude = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

namespace ref {

float L2sqF32(const float* a, const float* b, size_t n) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    const float d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

float IpF32(const float* a, const float* b, size_t n) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float CosineFromSums(double dot, double norm_a_sq, double norm_b_sq) {
  if (norm_a_sq == 0.0 || norm_b_sq == 0.0) return 1.0f;
  return static_cast<float>(1.0 - dot / (std::sqrt(norm_a_sq) * std::sqrt(norm_b_sq)));
}

float CosineDistanceF32(const float* a, const float* b, size_t n) {
  // Double sums: the norms of long vectors lose digits in float, and this is the yardstick.
  double dot = 0.0, norm_a_sq = 0.0, norm_b_sq = 0.0;
  for (size_t i = 0; i < n; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    norm_a_sq += static_cast<double>(a[i]) * a[i];
    norm_b_sq += static_cast<double>(b[i]) * b[i];
  }
  return CosineFromSums(dot, norm_a_sq, norm_b_sq);
}

float L1F32(const float* a, const float* b, size_t n) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) sum += std::fabs(a[i] - b[i]);
  return sum;
}

// The integer kernels sum in 64 bits; the header's n <= kMaxIntegerKernelDim bound guarantees
// the total fits the 32-bit result.
uint32_t L2sqU8(const uint8_t* a, const uint8_t* b, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t d = static_cast<int64_t>(a[i]) - b[i];
    sum += static_cast<uint64_t>(d * d);
  }
  return static_cast<uint32_t>(sum);
}

uint32_t IpU8(const uint8_t* a, const uint8_t* b, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<uint64_t>(a[i]) * b[i];
  return static_cast<uint32_t>(sum);
}

uint32_t L1U8(const uint8_t* a, const uint8_t* b, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
  return static_cast<uint32_t>(sum);
}

uint32_t L2sqI8(const int8_t* a, const int8_t* b, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t d = static_cast<int64_t>(a[i]) - b[i];
    sum += static_cast<uint64_t>(d * d);
  }
  return static_cast<uint32_t>(sum);
}

int32_t IpI8(const int8_t* a, const int8_t* b, size_t n) {
  int64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<int64_t>(a[i]) * b[i];
  return static_cast<int32_t>(sum);
}

float L2sqF16(const uint16_t* a, const uint16_t* b, size_t n) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    const float d = HalfToFloat(a[i]) - HalfToFloat(b[i]);
    sum += d * d;
  }
  return sum;
}

float IpF16(const uint16_t* a, const uint16_t* b, size_t n) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) sum += HalfToFloat(a[i]) * HalfToFloat(b[i]);
  return sum;
}

float L2sqF32F16(const float* a, const uint16_t* b, size_t n) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    const float d = a[i] - HalfToFloat(b[i]);
    sum += d * d;
  }
  return sum;
}

float IpF32F16(const float* a, const uint16_t* b, size_t n) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) sum += a[i] * HalfToFloat(b[i]);
  return sum;
}

void F32ToF16(const float* in, uint16_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = FloatToHalf(in[i]);
}

void F16ToF32(const uint16_t* in, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = HalfToFloat(in[i]);
}

void L2sqF32X4(const float* a, const float* const* b, size_t n, float* out) {
  for (size_t j = 0; j < 4; ++j) out[j] = L2sqF32(a, b[j], n);
}

void IpF32X4(const float* a, const float* const* b, size_t n, float* out) {
  for (size_t j = 0; j < 4; ++j) out[j] = IpF32(a, b[j], n);
}

}  // namespace ref

const Kernels& Reference() {
  static constexpr Kernels kReference = {
      .isa = "reference",
      .l2sq_f32 = ref::L2sqF32,
      .ip_f32 = ref::IpF32,
      .cosine_distance_f32 = ref::CosineDistanceF32,
      .l1_f32 = ref::L1F32,
      .l2sq_u8 = ref::L2sqU8,
      .ip_u8 = ref::IpU8,
      .l1_u8 = ref::L1U8,
      .l2sq_i8 = ref::L2sqI8,
      .ip_i8 = ref::IpI8,
      .l2sq_f16 = ref::L2sqF16,
      .ip_f16 = ref::IpF16,
      .l2sq_f32_f16 = ref::L2sqF32F16,
      .ip_f32_f16 = ref::IpF32F16,
      .f32_to_f16 = ref::F32ToF16,
      .f16_to_f32 = ref::F16ToF32,
      .l2sq_f32_x4 = ref::L2sqF32X4,
      .ip_f32_x4 = ref::IpF32X4,
  };
  return kReference;
}

}  // namespace sextant::simd
