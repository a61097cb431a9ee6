// Scalar reference quant kernels and the dispatcher (compiled without ISA flags).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "simd/distance.h"
#include "simd/quant.h"

namespace sextant::simd {

#if defined(__x86_64__) || defined(_M_X64)
const QuantKernels& Avx2QuantKernels();    // quant_avx2.cc
const QuantKernels& Avx512QuantKernels();  // quant_avx512.cc
#define SEXTANT_QUANT_X86 1
#endif

namespace {

float DotF32U8(const float* w, const uint8_t* c, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += w[i] * static_cast<float>(c[i]);
  return s;
}

int32_t DotI16U8(const int16_t* w, const uint8_t* c, size_t n) {
  int32_t s = 0;
  for (size_t i = 0; i < n; ++i) s += static_cast<int32_t>(w[i]) * c[i];
  return s;
}

void DotI16U8x4(const int16_t* w, const uint8_t* const* codes, size_t n, int32_t* out) {
  for (size_t j = 0; j < 4; ++j) out[j] = DotI16U8(w, codes[j], n);
}

void DotI16x4U8(const int16_t* const* ws, const uint8_t* c, size_t n, int32_t* out) {
  for (size_t j = 0; j < 4; ++j) out[j] = DotI16U8(ws[j], c, n);
}

float Wl2U8(const uint8_t* a, const uint8_t* b, const float* w, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) {
    const float d = static_cast<float>(static_cast<int>(a[i]) - static_cast<int>(b[i]));
    s += w[i] * d * d;
  }
  return s;
}

void Pq4Scan(const uint8_t* blocks, size_t nblocks, size_t m, const uint8_t* luts,
             uint16_t* out) {
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* block = blocks + b * m * 16;
    for (size_t i = 0; i < kPq4BlockSize; ++i) {
      uint32_t sum = 0;
      for (size_t j = 0; j < m; ++j) {
        const uint8_t byte = block[j * 16 + (i & 15)];
        const uint8_t code = i < 16 ? (byte & 15) : (byte >> 4);
        sum += luts[j * 16 + code];
      }
      out[b * kPq4BlockSize + i] = static_cast<uint16_t>(sum);
    }
  }
}

uint32_t ArgminAffine(const float* a, const float* b, float alpha, size_t n, float* min_value) {
  uint32_t best = 0;
  float best_v = a[0] + alpha * b[0];
  for (size_t i = 1; i < n; ++i) {
    const float v = a[i] + alpha * b[i];
    if (v < best_v) {
      best_v = v;
      best = static_cast<uint32_t>(i);
    }
  }
  *min_value = best_v;
  return best;
}

void MatvecT(const float* mt, const float* x, size_t rows, size_t cols, float* out) {
  for (size_t c = 0; c < cols; ++c) out[c] = 0;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) out[c] += x[r] * mt[r * cols + c];
  }
}

void AddF32(const float* a, const float* b, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

float Sq8QueryWeights(const float* q, const float* lower, const float* step, size_t n, bool l2,
                      float* w, float* base) {
  float b = 0, wmax = 0;
  for (size_t i = 0; i < n; ++i) {
    const float a = l2 ? q[i] - lower[i] : q[i];
    w[i] = a * step[i];
    b += l2 ? a * a : q[i] * lower[i];
    wmax = std::max(wmax, std::fabs(w[i]));
  }
  *base = b;
  return wmax;
}

void RoundI16(const float* w, size_t n, float scale, int16_t* out) {
  for (size_t i = 0; i < n; ++i) {
    const float x = w[i] * scale;
    out[i] = static_cast<int16_t>(static_cast<int32_t>(x + (x >= 0 ? 0.5f : -0.5f)));
  }
}

size_t Sq8ResidualDecode(const uint8_t* code, const uint8_t* lo, const int8_t* hi,
                         const float* lower, const float* step, size_t n, float* out) {
  size_t escapes = 0;
  for (size_t i = 0; i < n; ++i) {
    const int32_t r = Sq8Residual(lo, hi, i);
    escapes += r == kSq8ResidualEscape;
    const int32_t bits = Sq8ResidualBits(Sq8Prediction(lower[i], step[i], code[i]), r);
    std::memcpy(out + i, &bits, sizeof bits);
  }
  return escapes;
}

uint32_t BitsDotU4(const uint64_t* code, const uint64_t* planes, size_t words) {
  uint32_t s = 0;
  for (size_t w = 0; w < words; ++w) {
    for (size_t bit = 0; bit < 64; ++bit) {
      if (!((code[w] >> bit) & 1)) continue;
      for (uint32_t j = 0; j < 4; ++j) s += static_cast<uint32_t>((planes[4 * w + j] >> bit) & 1) << j;
    }
  }
  return s;
}

void FwhtF32(float* x, size_t n) {
  for (size_t h = 1; h < n; h *= 2) {
    for (size_t i = 0; i < n; i += 2 * h) {
      for (size_t j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
    }
  }
}

uint32_t U4Planes(const float* v, size_t n, float lower, float scale, uint64_t* planes) {
  uint32_t sum = 0;
  for (size_t w = 0; w < n / 64; ++w) {
    for (uint32_t j = 0; j < 4; ++j) planes[4 * w + j] = 0;
    for (size_t b = 0; b < 64; ++b) {
      const float t = (v[64 * w + b] - lower) * scale;
      const auto r = static_cast<int32_t>(t + 0.5f);
      const uint32_t x = static_cast<uint32_t>(r < 15 ? r : 15);
      sum += x;
      for (uint32_t j = 0; j < 4; ++j) planes[4 * w + j] |= static_cast<uint64_t>((x >> j) & 1) << b;
    }
  }
  return sum;
}

bool HasTable(const char* isa) {
  for (const Kernels* k : Available()) {
    if (std::strcmp(k->isa, isa) == 0) return true;
  }
  return false;
}
bool HasAvx2Table() { return HasTable("avx2"); }
bool HasAvx512Table() { return HasTable("avx512"); }

}  // namespace

const QuantKernels& QuantReference() {
  static const QuantKernels k = {"reference", DotF32U8, DotI16U8, DotI16U8x4, DotI16x4U8, Wl2U8, Pq4Scan, ArgminAffine,
                                 MatvecT, AddF32, Sq8QueryWeights, RoundI16,
                                 Sq8ResidualDecode, BitsDotU4, FwhtF32, U4Planes};
  return k;
}

std::vector<const QuantKernels*> QuantAvailable() {
  std::vector<const QuantKernels*> out = {&QuantReference()};
#if defined(SEXTANT_QUANT_X86)
  if (HasAvx2Table()) out.push_back(&Avx2QuantKernels());
  if (HasAvx512Table()) out.push_back(&Avx512QuantKernels());
#endif
  return out;
}

const QuantKernels& QuantBest() {
  static const QuantKernels& best = [&]() -> const QuantKernels& {
    // The table of the same ISA as Best() (so SEXTANT_ISA=avx2 also tests the AVX2 quant
    // kernels on an AVX-512 machine), else the fastest below it.
    const QuantKernels* pick = &QuantReference();
    for (const QuantKernels* k : QuantAvailable()) {
      pick = k;
      if (std::strcmp(k->isa, Best().isa) == 0) break;
    }
    return *pick;
  }();
  return best;
}

}  // namespace sextant::simd
