// Kernels for quantized codes: SQ8 (one byte per dimension with per-dimension scales) and
// 4-bit PQ "fast scan" (a 16-entry byte lookup table per sub-quantizer, looked up in registers).
//
// Like distance.h, every ISA variant fills one QuantKernels table and QuantReference() is the
// plain scalar twin that tests compare each variant with; results are bit-identical for the
// integer kernel (pq4_scan) and equal up to float summation order for the others.
// Thread-safety: pure functions; tables immutable after first use.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace sextant::simd {

// Vectors per fast-scan block.
inline constexpr size_t kPq4BlockSize = 32;

struct QuantKernels {
  const char* isa;  // "reference", "avx2", "avx512"

  // sum_i w[i] * c[i]: a float query (pre-scaled) against one byte code.
  float (*dot_f32_u8)(const float* w, const uint8_t* c, size_t n);
  // sum_i w[i] * c[i] in 32-bit integers: an int16 query (SQ8 weights scaled to integers)
  // against one byte code, the graph walk's distance. Exact, and the same in every variant,
  // while n * max|w[i]| * 255 < 2^31 (VectorCodec keeps its queries so).
  int32_t (*dot_i16_u8)(const int16_t* w, const uint8_t* c, size_t n);
  // dot_i16_u8 of one query against four codes: out[j] = sum_i w[i] * codes[j][i], the same
  // values. The walk's neighbours four at a time: the query's weights are loaded once for the
  // four, their loads overlap, and one reduction serves all four sums.
  void (*dot_i16_u8_x4)(const int16_t* w, const uint8_t* const* codes, size_t n, int32_t* out);
  // dot_i16_u8 of four queries against one code: out[j] = sum_i ws[j][i] * c[i], the same
  // values. The neighbour heuristic's comparisons: a candidate against four kept neighbours
  // (encoded as queries), the code widened once for the four.
  void (*dot_i16x4_u8)(const int16_t* const* ws, const uint8_t* c, size_t n, int32_t* out);
  // sum_i w[i] * (a[i] - b[i])^2: two byte codes with per-dimension weights (SQ8 steps^2).
  float (*wl2_u8)(const uint8_t* a, const uint8_t* b, const float* w, size_t n);
  // 4-bit fast scan. `blocks` holds `nblocks` blocks of 32 codes with m sub-quantizers each,
  // laid out as m groups of 16 bytes: byte b of group j holds sub-code j of vector b in its low
  // nibble and of vector b+16 in its high nibble. `luts` holds m tables of 16 bytes. Writes
  // out[32*block + i] = sum_j luts[16*j + code_j(i)], exact for m <= 256.
  void (*pq4_scan)(const uint8_t* blocks, size_t nblocks, size_t m, const uint8_t* luts,
                   uint16_t* out);
  // The first i < n (n >= 1) minimising a[i] + alpha * b[i], and that value in *min_value:
  // k-means assignment from sgemm dot products (a = |c|^2, alpha = -2). Bit-identical across
  // variants when alpha is a power of two (the product is then exact).
  uint32_t (*argmin_affine)(const float* a, const float* b, float alpha, size_t n,
                            float* min_value);
  // out[c] = sum_r x[r] * mt[r * cols + c] for c < cols: a transposed matrix times a vector
  // (PQ distance tables from transposed codebooks).
  void (*matvec_t)(const float* mt, const float* x, size_t rows, size_t cols, float* out);
  // out[i] = a[i] + b[i].
  void (*add_f32)(const float* a, const float* b, size_t n, float* out);
  // An SQ8 query's float weights: w[i] = (q[i] - lower[i]) * step[i] with
  // *base = sum_i (q[i] - lower[i])^2 when l2, else w[i] = q[i] * step[i] with
  // *base = sum_i q[i] * lower[i]. Returns max_i |w[i]|. The weights and the maximum are
  // exact in every variant; *base equal up to summation order.
  float (*sq8_query_weights)(const float* q, const float* lower, const float* step, size_t n,
                             bool l2, float* w, float* base);
  // out[i] = w[i] * scale rounded to the nearest integer, halves away from zero, computed as
  // trunc(x + copysign(0.5, x)) in float, so bit-identical in every variant. Requires
  // |w[i] * scale| + 0.5 < 32768.
  void (*round_i16)(const float* w, size_t n, float scale, int16_t* out);
  // Lossless float vectors beside their SQ8 codes: value i is predicted as
  // p = fma(step[i], code[i], lower[i]) and stored as the 24-bit difference r[i] between the
  // ordered integer keys (Sq8OrderedKey) of the value and of p, split into the low 16 bits
  // (lo: n little-endian u16, at any alignment: rows are 3 * n bytes) and the high byte (hi[i],
  // signed). Writes out[i] = the value whose key is key(p) + r[i], bit-identical in every
  // variant (fma is exactly rounded). A difference of -2^23 (kSq8ResidualEscape) marks a value
  // stored elsewhere: out[i] is then unspecified.
  // Returns how many such escapes the row holds.
  size_t (*sq8_residual_decode)(const uint8_t* code, const uint8_t* lo, const int8_t* hi,
                                const float* lower, const float* step, size_t n, float* out);
  // sum over w < words and j < 4 of 2^j * popcount(code[w] & planes[4 * w + j]): a 1-bit code
  // against a 4-bit query held as bit planes (BinaryScreen), the sum of the query's values at
  // the code's set bits. Exact, the same in every variant.
  uint32_t (*bits_dot_u4)(const uint64_t* code, const uint64_t* planes, size_t words);
  // The unnormalised fast Walsh-Hadamard transform of x[0, n) in place, n a power of two and
  // at least 64: log2(n) levels of butterflies (a + b, a - b) on pairs h apart, h = 1, 2, 4...
  // Every variant does the same float operations, so the results are bit-identical.
  void (*fwht_f32)(float* x, size_t n);
  // A rotated query rounded to 4 bits a value for bits_dot_u4: x[i] = min(15, trunc((v[i] -
  // lower) * scale + 0.5f)) (v[i] >= lower; the product and the sum each rounded, no fma), bit
  // j of x[64w + b] stored as bit b of planes[4w + j], n a multiple of 64. Returns sum_i x[i].
  // Exact, the same in every variant.
  uint32_t (*u4_planes)(const float* v, size_t n, float lower, float scale, uint64_t* planes);
};

// The residual that marks an escaped value (see sq8_residual_decode).
inline constexpr int32_t kSq8ResidualEscape = -(int32_t{1} << 23);
// The float bit pattern `bits` as an integer that orders like the float (-0 just below +0):
// the sign bit kept, the other bits flipped for negative values. Its own inverse.
inline constexpr int32_t Sq8OrderedKey(int32_t bits) { return bits ^ ((bits >> 31) & 0x7fffffff); }

// The scalar steps of sq8_residual_decode, shared by the reference kernel, the SIMD kernels'
// tails and ExactStore. Internal linkage: the kernels' files are compiled with different ISA
// flags, and one inline definition chosen by the linker for all of them could carry
// instructions the reference path must not run.
// Value i's residual from a row's planes: lo (two bytes per value, little-endian, any
// alignment: rows are 3 * dim bytes) and hi (one signed byte per value).
[[maybe_unused]] static inline int32_t Sq8Residual(const uint8_t* lo, const int8_t* hi, size_t i) {
  uint16_t low;
  std::memcpy(&low, lo + 2 * i, sizeof low);
  return static_cast<int32_t>(static_cast<uint32_t>(hi[i]) << 16 | low);
}
// The value predicted by an SQ8 code: fma, one rounding, the same bits in every variant.
[[maybe_unused]] static inline float Sq8Prediction(float lower, float step, uint8_t code) {
  return std::fma(step, static_cast<float>(code), lower);
}
// The float bits whose ordered key is key(prediction) + r, the sum wrapping like the SIMD
// variants' (an escape's sum may overflow; its value is replaced anyway).
[[maybe_unused]] static inline int32_t Sq8ResidualBits(float prediction, int32_t r) {
  int32_t pbits;
  std::memcpy(&pbits, &prediction, sizeof pbits);
  return Sq8OrderedKey(static_cast<int32_t>(static_cast<uint32_t>(Sq8OrderedKey(pbits)) +
                                            static_cast<uint32_t>(r)));
}

// The scalar reference, compiled without ISA flags.
const QuantKernels& QuantReference();
// The table matching simd::Best()'s choice (so SEXTANT_ISA=reference forces the reference).
const QuantKernels& QuantBest();
// Every table this CPU runs, reference first.
std::vector<const QuantKernels*> QuantAvailable();

}  // namespace sextant::simd
