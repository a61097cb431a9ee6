#include "index/binary_screen.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <cmath>
#include <random>

namespace sextant::index {

// PrepareQuery gathers bit planes from bytes read as 64-bit words.
static_assert(std::endian::native == std::endian::little);

BinaryScreen::BinaryScreen(size_t dim, float scale)
    : dim_(dim),
      padded_(std::max<size_t>(std::bit_ceil(dim), 64)),
      code_bytes_(padded_ / 8),
      row_bytes_((padded_ / 8 + 4 * sizeof(float) + 15) / 16 * 16),
      scale_(scale),
      k_(&simd::QuantBest()),
      centre_(dim, 0.0f) {
  std::mt19937_64 rng(0x5e7a9c1b);  // fixed: the rotation is part of no file
  // Random signs carrying the rotation's scale (see Rotate).
  signs_.resize(padded_);
  const float unit = 1.0f / std::sqrt(static_cast<float>(padded_));
  for (float& s : signs_) s = (rng() & 1) ? unit : -unit;
}

bool BinaryScreen::Reserve(size_t slots) { return rows_.Resize(slots * row_bytes_); }

void BinaryScreen::SetCentre(std::span<const float> centre) { centre_.assign(centre.begin(), centre.end()); }

namespace {

// The unnormalised fast Walsh-Hadamard transform of n (a power of two, >= 4) values: the first
// two butterfly levels fused per group of four, the others in loops the compiler vectorises.
void Fwht(float* x, size_t n) {
  for (size_t i = 0; i < n; i += 4) {
    const float s0 = x[i] + x[i + 1], d0 = x[i] - x[i + 1];
    const float s1 = x[i + 2] + x[i + 3], d1 = x[i + 2] - x[i + 3];
    x[i] = s0 + s1;
    x[i + 1] = d0 + d1;
    x[i + 2] = s0 - s1;
    x[i + 3] = d0 - d1;
  }
  for (size_t h = 4; h < n; h *= 2) {
    for (size_t i = 0; i < n; i += 2 * h) {
      float* lo = x + i;
      float* hi = x + i + h;
      for (size_t j = 0; j < h; ++j) {
        const float a = lo[j], b = hi[j];
        lo[j] = a + b;
        hi[j] = a - b;
      }
    }
  }
}

}  // namespace

void BinaryScreen::Rotate(float* x) const {
  // The unnormalised transform scales lengths by sqrt(padded), which the signs take back.
  for (size_t i = 0; i < padded_; ++i) x[i] *= signs_[i];
  Fwht(x, padded_);
}

void BinaryScreen::Encode(uint32_t slot, const float* vector) {
  thread_local std::vector<float> u;
  u.assign(padded_, 0.0f);
  double sq = 0;
  for (size_t i = 0; i < dim_; ++i) {
    u[i] = vector[i] - centre_[i];
    sq += static_cast<double>(u[i]) * u[i];
  }
  uint8_t* r = rows_.data() + static_cast<size_t>(slot) * row_bytes_;
  std::memset(r, 0, row_bytes_);
  const double norm = std::sqrt(sq);
  float f[4] = {static_cast<float>(norm), 0.0f, 0.0f, 0.0f};
  if (norm > 0) {
    for (size_t i = 0; i < dim_; ++i) u[i] = static_cast<float>(u[i] / norm);
    Rotate(u.data());
    double dot = 0;  // <sign(u), u>, sign(u) with entries +-1
    size_t set = 0;
    for (size_t i = 0; i < padded_; ++i) {
      if (u[i] > 0) {
        r[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
        ++set;
      }
      dot += std::fabs(u[i]);
    }
    f[3] = 2.0f * static_cast<float>(set) - static_cast<float>(padded_);
    const double p = static_cast<double>(padded_);
    const double fr = std::clamp(dot / std::sqrt(p), 1e-6, 1.0);  // f >= 1/sqrt(p) in exact arithmetic
    f[1] = static_cast<float>(1.0 / (std::sqrt(p) * fr));
    f[2] = static_cast<float>(kEpsilon * std::sqrt(std::max(0.0, 1.0 - fr * fr)) / (fr * std::sqrt(p - 1)));
  }
  std::memcpy(r + code_bytes_, f, sizeof f);
}

void BinaryScreen::PrepareQuery(const float* q, Query* out) const {
  // Eight independent sums (and minima, maxima) below, so the loops vectorise: the order of a
  // float sum is otherwise fixed. (A query is prepared once per search: 1-2 us for 784-d.)
  thread_local std::vector<float> v;
  v.assign(padded_, 0.0f);
  float lanes[8] = {};
  size_t i = 0;
  for (; i + 8 <= dim_; i += 8) {
    for (size_t k = 0; k < 8; ++k) {
      v[i + k] = q[i + k] - centre_[i + k];
      lanes[k] += v[i + k] * v[i + k];
    }
  }
  for (; i < dim_; ++i) {
    v[i] = q[i] - centre_[i];
    lanes[0] += v[i] * v[i];
  }
  double sq = 0;
  for (float l : lanes) sq += l;
  out->norm = static_cast<float>(std::sqrt(sq));
  out->planes.assign(padded_ / 64 * 4, 0);
  out->lower = out->delta = out->x_sum = 0;
  if (sq == 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(sq));
  for (i = 0; i < dim_; ++i) v[i] *= inv;
  Rotate(v.data());
  float lo[8], hi[8];  // padded_ >= 64
  for (size_t k = 0; k < 8; ++k) lo[k] = hi[k] = v[k];
  for (i = 0; i < padded_; i += 8) {
    for (size_t k = 0; k < 8; ++k) {
      lo[k] = v[i + k] < lo[k] ? v[i + k] : lo[k];
      hi[k] = v[i + k] > hi[k] ? v[i + k] : hi[k];
    }
  }
  out->lower = *std::min_element(lo, lo + 8);
  out->delta = (*std::max_element(hi, hi + 8) - out->lower) / 15.0f;
  if (out->delta <= 0) return;
  const float scale = 1.0f / out->delta;
  thread_local std::vector<uint8_t> x;
  x.resize(padded_);
  uint32_t x_sum = 0;
  for (i = 0; i < padded_; ++i) {
    // Non-negative: adding a half and truncating rounds to nearest.
    const auto r = static_cast<int32_t>((v[i] - out->lower) * scale + 0.5f);
    x[i] = static_cast<uint8_t>(r < 15 ? r : 15);
    x_sum += x[i];
  }
  // Bit j of eight values at a time: their bytes' bit j masked out, then gathered into one
  // byte by a multiplication (value k's bit lands at bit 56 + k, no two products collide there).
  for (size_t w = 0; w < padded_ / 64; ++w) {
    uint64_t* planes = out->planes.data() + 4 * w;
    for (size_t g = 0; g < 8; ++g) {
      uint64_t eight;
      std::memcpy(&eight, x.data() + w * 64 + g * 8, sizeof eight);
      for (uint32_t j = 0; j < 4; ++j) {
        const uint64_t bits = (((eight >> j) & 0x0101010101010101ull) * 0x0102040810204080ull) >> 56;
        planes[j] |= bits << (8 * g);
      }
    }
  }
  out->x_sum = static_cast<float>(x_sum);
}

}  // namespace sextant::index
