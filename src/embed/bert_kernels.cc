// The scalar reference kernels and the run-time choice of a table. Compiled without ISA flags:
// it runs on any CPU and calls into a variant only after checking the CPU supports it.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "embed/bert_kernels.h"
#include "embed/bert_kernels_internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#define SEXTANT_BERT_X86 1
#endif

namespace sextant::embed::kernels {
namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;

void RefBiasGelu(float* x, const float* bias, size_t rows, size_t cols, size_t ld) {
  for (size_t r = 0; r < rows; ++r) {
    float* row = x + r * ld;
    for (size_t c = 0; c < cols; ++c) {
      const float v = row[c] + bias[c];
      row[c] = static_cast<float>(0.5 * v * (1.0 + std::erf(v * kInvSqrt2)));
    }
  }
}

void RefAddBias(float* x, const float* bias, size_t rows, size_t cols, size_t ld) {
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) x[r * ld + c] += bias[c];
  }
}

void RefAddLayerNorm(float* out, const float* a, const float* b, const float* c, const float* gamma,
                     const float* beta, size_t rows, size_t cols, float eps) {
  for (size_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (size_t j = 0; j < cols; ++j) {
      const float v = a[r * cols + j] + b[r * cols + j] + (c != nullptr ? c[j] : 0.0f);
      out[r * cols + j] = v;
      sum += v;
    }
    const double mean = sum / static_cast<double>(cols);
    double ss = 0;
    for (size_t j = 0; j < cols; ++j) {
      const double d = out[r * cols + j] - mean;
      ss += d * d;
    }
    const double rstd = 1.0 / std::sqrt(ss / static_cast<double>(cols) + eps);
    for (size_t j = 0; j < cols; ++j) {
      out[r * cols + j] = static_cast<float>((out[r * cols + j] - mean) * rstd * gamma[j] + beta[j]);
    }
  }
}

void RefSoftmax(float* s, size_t rows, size_t cols, size_t ld, float scale) {
  for (size_t r = 0; r < rows; ++r) {
    float* row = s + r * ld;
    float mx = -std::numeric_limits<float>::infinity();
    for (size_t c = 0; c < cols; ++c) mx = std::max(mx, row[c] * scale);
    double sum = 0;
    for (size_t c = 0; c < cols; ++c) {
      const float e = std::exp(row[c] * scale - mx);
      row[c] = e < 1e-38f ? 0.0f : e;
      sum += row[c];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (size_t c = 0; c < cols; ++c) row[c] *= inv;
  }
}

void RefErf(const float* in, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = std::erf(in[i]);
}

void RefExp(const float* in, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = in[i] < -87.3f ? 0.0f : std::exp(in[i]);
}

constexpr BertKernels kReference = {"reference", RefBiasGelu, RefAddBias, RefAddLayerNorm, RefSoftmax, RefErf, RefExp};

#if defined(SEXTANT_BERT_X86)
// __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 register state.
bool CpuRunsAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
// bert_kernels_avx512.cc is compiled with F, BW, VL and DQ (plus the AVX2 flags).
bool CpuRunsAvx512() {
  return CpuRunsAvx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
#endif

const BertKernels& Choose(const char* requested) {
  const std::vector<const BertKernels*> tables = Available();
  if (requested != nullptr && requested[0] != '\0') {
    for (const BertKernels* t : tables) {
      if (std::strcmp(t->isa, requested) == 0) return *t;
    }
  }
  return *tables.back();
}

}  // namespace

const BertKernels& Reference() { return kReference; }

std::vector<const BertKernels*> Available() {
  std::vector<const BertKernels*> tables = {&kReference};
#if defined(SEXTANT_BERT_X86)
  if (CpuRunsAvx2()) tables.push_back(&Avx2Kernels());
  if (CpuRunsAvx512()) tables.push_back(&Avx512Kernels());
#endif
  return tables;
}

const BertKernels& Best() {
  static const BertKernels& best = Choose(std::getenv("SEXTANT_ISA"));
  return best;
}

}  // namespace sextant::embed::kernels
