// Declarations shared by the ISA variants of the distance kernels and the dispatcher.
//
// Only declarations live here, never inline functions or templates: the variant .cc files are
// compiled with ISA flags (-mavx2, -mavx512f, ...), and an inline function they instantiated
// could be picked by the linker for callers on CPUs that lack those instructions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/distance.h"

namespace sextant::simd {

// Per-ISA tables. Each is defined only where CMake compiles its source file
// (x86-64: AVX2 and AVX-512; aarch64: NEON); calling one is valid only if the CPU supports it.
const Kernels& Avx2Kernels();
const Kernels& Avx512Kernels();
const Kernels& NeonKernels();

// The dispatcher's choice, separated from the cached Best() so tests can exercise it:
// returns the requested table when `requested_isa` names a variant this CPU runs, otherwise
// the fastest supported table. `requested_isa` may be null or empty.
const Kernels& ChooseKernels(const char* requested_isa);

// The scalar reference kernels, so variants can reuse them for kernels they do not speed up.
namespace ref {
float L2sqF32(const float* a, const float* b, size_t n);
float IpF32(const float* a, const float* b, size_t n);
float CosineDistanceF32(const float* a, const float* b, size_t n);
float L1F32(const float* a, const float* b, size_t n);
uint32_t L2sqU8(const uint8_t* a, const uint8_t* b, size_t n);
uint32_t IpU8(const uint8_t* a, const uint8_t* b, size_t n);
uint32_t L1U8(const uint8_t* a, const uint8_t* b, size_t n);
uint32_t L2sqI8(const int8_t* a, const int8_t* b, size_t n);
int32_t IpI8(const int8_t* a, const int8_t* b, size_t n);
float L2sqF16(const uint16_t* a, const uint16_t* b, size_t n);
float IpF16(const uint16_t* a, const uint16_t* b, size_t n);
float L2sqF32F16(const float* a, const uint16_t* b, size_t n);
float IpF32F16(const float* a, const uint16_t* b, size_t n);
void F32ToF16(const float* in, uint16_t* out, size_t n);
void F16ToF32(const uint16_t* in, float* out, size_t n);
void L2sqF32X4(const float* a, const float* const* b, size_t n, float* out);
void IpF32X4(const float* a, const float* const* b, size_t n, float* out);

// Finishes a cosine distance from its three sums, so every variant treats zero norms and
// rounding the same way: 1 when either norm is zero, else 1 - dot / (|a| |b|) in double.
float CosineFromSums(double dot, double norm_a_sq, double norm_b_sq);
}  // namespace ref

}  // namespace sextant::simd
