// Distance kernels with runtime CPU dispatch.
//
// Every kernel is exact for any length n >= 0 (remainders handled; n == 0 gives 0). Each ISA
// variant (portable reference, AVX2+FMA+F16C, AVX-512, NEON) fills one Kernels table; Best()
// picks the fastest table this CPU runs, once, on first use. Reference() is the plain,
// obviously-right twin that tests compare every variant against.
//
// Conventions:
//  - l2sq: sum of squared differences (no square root).
//  - ip:   inner product.
//  - cosine_distance: 1 - a.b / (|a| |b|); defined as 1 when either vector has zero norm.
//  - l1:   sum of absolute differences.
//  - Integer kernels are exact: uint8/int8 inputs of length n <= 65536 cannot overflow the
//    32-bit result types.
//  - float16 values are IEEE 754 binary16 bit patterns stored in uint16_t.
// Thread-safety: all functions are pure; the tables are immutable after first use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sextant::simd {

// Largest vector length the integer kernels accept without overflow.
inline constexpr size_t kMaxIntegerKernelDim = 65536;

struct Kernels {
  const char* isa;  // "reference", "avx2", "avx512", "neon"

  float (*l2sq_f32)(const float* a, const float* b, size_t n);
  float (*ip_f32)(const float* a, const float* b, size_t n);
  float (*cosine_distance_f32)(const float* a, const float* b, size_t n);
  float (*l1_f32)(const float* a, const float* b, size_t n);

  uint32_t (*l2sq_u8)(const uint8_t* a, const uint8_t* b, size_t n);
  uint32_t (*ip_u8)(const uint8_t* a, const uint8_t* b, size_t n);
  uint32_t (*l1_u8)(const uint8_t* a, const uint8_t* b, size_t n);
  uint32_t (*l2sq_i8)(const int8_t* a, const int8_t* b, size_t n);
  int32_t (*ip_i8)(const int8_t* a, const int8_t* b, size_t n);

  float (*l2sq_f16)(const uint16_t* a, const uint16_t* b, size_t n);
  float (*ip_f16)(const uint16_t* a, const uint16_t* b, size_t n);
  // Asymmetric: a float32 query against float16 stored data.
  float (*l2sq_f32_f16)(const float* a, const uint16_t* b, size_t n);
  float (*ip_f32_f16)(const float* a, const uint16_t* b, size_t n);

  // Conversions (round to nearest even; overflow to +-Inf as IEEE does).
  void (*f32_to_f16)(const float* in, uint16_t* out, size_t n);
  void (*f16_to_f32)(const uint16_t* in, float* out, size_t n);

  // One query against four vectors, out[j] = l2sq_f32(a, b[j], n) (ip_f32) to the bit: each
  // vector's sums taken in the same order as the single kernel's, the four vectors read
  // together (a graph walk's neighbours, which are not in cache: four streams of loads in
  // flight instead of one). The b[j] may repeat.
  void (*l2sq_f32_x4)(const float* a, const float* const* b, size_t n, float* out);
  void (*ip_f32_x4)(const float* a, const float* const* b, size_t n, float* out);
};

// The plain scalar implementation, compiled without any ISA-specific flags.
const Kernels& Reference();

// The fastest table this CPU supports. Setting the environment variable SEXTANT_ISA to
// "reference", "avx2" or "avx512" before first use forces a (supported) variant, for
// benchmarking and for tests.
const Kernels& Best();

// Every table this CPU can run, reference first. Tests iterate over these.
std::vector<const Kernels*> Available();

// Scalar helpers shared by the reference kernels and conversions.
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);

}  // namespace sextant::simd
