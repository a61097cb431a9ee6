// The element-wise kernels of the BERT encoder (everything but the matrix products, which go
// to OpenBLAS): bias + exact GELU, bias, residual + bias + LayerNorm, softmax, and the vector
// erf/exp they are built on. One table per instruction set: a scalar reference (the slow,
// obviously right twin, and the fallback on any CPU), AVX2 + FMA, and AVX-512; Best() picks the
// fastest the CPU runs, once. SEXTANT_ISA=reference|avx2|avx512 forces one (as for the distance
// kernels). tests/embed/bert_kernels_test.cc compares every table the CPU runs with the
// reference.
//
// Thread-safety: the tables are immutable; every kernel works on the memory it is given only.
#pragma once

#include <cstddef>
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

// The scalar reference (std::erf, std::exp, double sums in LayerNorm).
const BertKernels& Reference();
// Every table this CPU runs, slowest first.
std::vector<const BertKernels*> Available();
// The fastest table this CPU runs, or the one SEXTANT_ISA names if the CPU runs it.
const BertKernels& Best();

}  // namespace sextant::embed::kernels
