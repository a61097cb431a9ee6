// The element-wise kernels of the BERT encoder (everything but the matrix products, which go
// to OpenBLAS): bias + exact GELU, bias, residual + bias + LayerNorm, softmax, and the vector
// erf/exp they are built on. One table per instruction set: a scalar reference (the slow,
// obviously right twin, and the fallback on any CPU), AVX2 + FMA, and AVX-512; Best() picks the
// fastest the CPU runs, once. SEXTANT_ISA=reference|avx2|avx512 forces one (as for the distance
// kernels). tests/embed/bert_kernels_test.cc compares every table the CPU runs with the
// reference.
//
// The quantized mode's int8 matrix products have their own tables (Int8Kernels): the scalar
// reference, AVX2 (exact integer sums through 16-bit products: it works everywhere AVX2 does,
// but is no faster than float32) and AVX-512 VNNI (vpdpbusd: four 8-bit products per lane).
//
// Thread-safety: the tables are immutable; every kernel works on the memory it is given only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sextant::embed::kernels {

struct BertKernels {
  const char* isa;  // "reference", "avx2", "avx512"

  // x[r][c] = gelu(x[r][c] + bias[c]) for r < rows, c < cols (row stride ld), with the exact
  // gelu(v) = v / 2 * (1 + erf(v / sqrt(2))).
  void (*bias_gelu)(float* x, const float* bias, size_t rows, size_t cols, size_t ld);
  // x[r][c] += bias[c].
  void (*add_bias)(float* x, const float* bias, size_t rows, size_t cols, size_t ld);
  // out[r] = LayerNorm(a[r] + b[r] + c) * gamma + beta over `cols` values per row (rows packed,
  // stride cols); `c` is one row added to every row, or null. The mean and the (biased)
  // variance are those of a[r] + b[r] + c, as torch.nn.LayerNorm computes them. `out` may be
  // `a` (in place); it must not overlap `b`.
  void (*add_layer_norm)(float* out, const float* a, const float* b, const float* c, const float* gamma,
                         const float* beta, size_t rows, size_t cols, float eps);
  // Each of `rows` rows of `cols` values (stride ld) becomes softmax(row * scale): exp of the
  // difference to the row's maximum, divided by their sum. Results below ~1e-38 are 0.
  void (*softmax)(float* s, size_t rows, size_t cols, size_t ld, float scale);

  // out[i] = erf(in[i]) / exp(in[i]) (within 4e-7 absolute / 2e-7 relative of the exact value;
  // exp is 0 below -87.3 and +inf above 88.7). Exposed for the tests; in may equal out.
  void (*erf)(const float* in, float* out, size_t n);
  void (*exp)(const float* in, float* out, size_t n);
};

// A Linear layer's weights w[n][k] quantized for the int8 kernels: per output o a scale and
// q[o][k] = round(w[o][k] / scale[o]) in [-127, 127]; packed in blocks of 16 outputs, 4
// consecutive k of each output per 4 bytes (64 bytes per block and k group: the operand layout
// of vpdpbusd), outputs and k zero-padded to whole blocks. A view: Int8Pack owns the memory.
struct Int8Weights {
  const int8_t* packed = nullptr;  // [n_blocks][k_groups][16][4]
  const float* scale = nullptr;    // [n_blocks * 16]
  const float* colsum = nullptr;   // [n_blocks * 16]: sum over k of q[o][k]
  size_t n = 0;                    // outputs
  size_t n_blocks = 0;             // ceil(n / 16)
  size_t k_groups = 0;             // ceil(k / 4)
};

struct Int8Pack {
  std::vector<int8_t> packed;
  std::vector<float> scale, colsum;
  size_t n = 0, k = 0;
  Int8Weights view() const {
    return {packed.data(), scale.data(), colsum.data(), n, (n + 15) / 16, (k + 3) / 4};
  }
};
// Quantizes and packs w (n rows of k floats).
Int8Pack PackInt8(const float* w, size_t n, size_t k);

struct Int8Kernels {
  const char* isa;  // "reference", "avx2", "avx512" (AVX-512 VNNI)

  // Row r of x (m rows of k floats, packed) becomes q[r][0, k) = round((x - zero[r]) / scale[r])
  // in [0, 255] with zero[r] = the row's minimum and scale[r] = (maximum - minimum) / 255 (0
  // for a constant row, whose q is 0); q[r][k, ldq) is set to 0. ldq >= 4 * ceil(k / 4).
  void (*quantize_rows)(const float* x, size_t m, size_t k, uint8_t* q, size_t ldq, float* scale, float* zero);
  // y[r][o] = w.scale[o] * (scale[r] * sum_k q[r][k] * wq[o][k] + zero[r] * w.colsum[o]) + bias[o]
  // for o < w.n (the integer sum is exact), then gelu(y) if `gelu`. Rows of y have stride ldy.
  void (*linear)(const uint8_t* q, size_t ldq, const float* scale, const float* zero, size_t m,
                 const Int8Weights& w, const float* bias, bool gelu, float* y, size_t ldy);
};

// The scalar reference (std::erf, std::exp, double sums in LayerNorm).
const BertKernels& Reference();
// Every table this CPU runs, slowest first.
std::vector<const BertKernels*> Available();
// The fastest table this CPU runs, or the one SEXTANT_ISA names if the CPU runs it.
const BertKernels& Best();

// The same for the int8 products.
const Int8Kernels& Int8Reference();
std::vector<const Int8Kernels*> Int8Available();
const Int8Kernels& Int8Best();

}  // namespace sextant::embed::kernels
