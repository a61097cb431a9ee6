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

void RefQuantizeRows(const float* x, size_t m, size_t k, uint8_t* q, size_t ldq, float* scale, float* zero) {
  for (size_t r = 0; r < m; ++r) {
    const float* row = x + r * k;
    float lo = row[0], hi = row[0];
    for (size_t c = 1; c < k; ++c) {
      lo = std::min(lo, row[c]);
      hi = std::max(hi, row[c]);
    }
    const float s = (hi - lo) / 255.0f;
    const float inv = s > 0 ? 1.0f / s : 0.0f;
    for (size_t c = 0; c < k; ++c) {
      const float v = std::nearbyint((row[c] - lo) * inv);
      q[r * ldq + c] = static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v)));
    }
    std::fill(q + r * ldq + k, q + (r + 1) * ldq, uint8_t{0});
    scale[r] = s;
    zero[r] = lo;
  }
}

void RefInt8Linear(const uint8_t* q, size_t ldq, const float* scale, const float* zero, size_t m,
                   const Int8Weights& w, const float* bias, bool gelu, float* y, size_t ldy) {
  for (size_t r = 0; r < m; ++r) {
    for (size_t o = 0; o < w.n; ++o) {
      const int8_t* block = w.packed + (o / 16) * w.k_groups * 64 + (o % 16) * 4;
      int32_t acc = 0;
      for (size_t g = 0; g < w.k_groups; ++g) {
        for (size_t j = 0; j < 4; ++j) acc += int32_t{q[r * ldq + 4 * g + j]} * block[g * 64 + j];
      }
      float v = w.scale[o] * (scale[r] * static_cast<float>(acc) + zero[r] * w.colsum[o]) + bias[o];
      if (gelu) v = static_cast<float>(0.5 * v * (1.0 + std::erf(v * kInvSqrt2)));
      y[r * ldy + o] = v;
    }
  }
}

constexpr Int8Kernels kInt8Reference = {"reference", RefQuantizeRows, RefInt8Linear};

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
bool CpuRunsVnni() { return CpuRunsAvx512() && __builtin_cpu_supports("avx512vnni"); }
#endif

template <typename Table>
const Table& Choose(const std::vector<const Table*>& tables, const char* requested) {
  if (requested != nullptr && requested[0] != '\0') {
    for (const Table* t : tables) {
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
  static const BertKernels& best = Choose(Available(), std::getenv("SEXTANT_ISA"));
  return best;
}

const Int8Kernels& Int8Reference() { return kInt8Reference; }

std::vector<const Int8Kernels*> Int8Available() {
  std::vector<const Int8Kernels*> tables = {&kInt8Reference};
#if defined(SEXTANT_BERT_X86)
  if (CpuRunsAvx2()) tables.push_back(&Avx2Int8Kernels());
  if (CpuRunsVnni()) tables.push_back(&VnniInt8Kernels());
#endif
  return tables;
}

const Int8Kernels& Int8Best() {
  static const Int8Kernels& best = Choose(Int8Available(), std::getenv("SEXTANT_ISA"));
  return best;
}

Int8Pack PackInt8(const float* w, size_t n, size_t k) {
  Int8Pack p;
  p.n = n;
  p.k = k;
  const size_t blocks = (n + 15) / 16, groups = (k + 3) / 4;
  p.packed.assign(blocks * groups * 64, 0);
  p.scale.assign(blocks * 16, 0.0f);
  p.colsum.assign(blocks * 16, 0.0f);
  for (size_t o = 0; o < n; ++o) {
    const float* row = w + o * k;
    float mx = 0;
    for (size_t c = 0; c < k; ++c) mx = std::max(mx, std::fabs(row[c]));
    const float s = mx / 127.0f;
    const float inv = s > 0 ? 1.0f / s : 0.0f;
    int32_t sum = 0;
    int8_t* block = p.packed.data() + (o / 16) * groups * 64 + (o % 16) * 4;
    for (size_t c = 0; c < k; ++c) {
      const int v = static_cast<int>(std::max(-127.0f, std::min(127.0f, std::nearbyint(row[c] * inv))));
      block[(c / 4) * 64 + c % 4] = static_cast<int8_t>(v);
      sum += v;
    }
    p.scale[o] = s;
    p.colsum[o] = static_cast<float>(sum);
  }
  return p;
}

}  // namespace sextant::embed::kernels
