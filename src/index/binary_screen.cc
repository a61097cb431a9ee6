#include "index/binary_screen.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <cmath>
#include <random>

namespace sextant::index {

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

bool BinaryScreen::Permute(std::span<const uint32_t> order) {
  AlignedBuffer rows;
  if (!rows.Resize(std::max(rows_.size(), order.size() * row_bytes_))) return false;
  for (size_t s = 0; s < order.size(); ++s) {
    std::memcpy(rows.data() + s * row_bytes_, rows_.data() + static_cast<size_t>(order[s]) * row_bytes_, row_bytes_);
  }
  rows_ = std::move(rows);
  return true;
}

void BinaryScreen::SetCentre(std::span<const float> centre) { centre_.assign(centre.begin(), centre.end()); }

void BinaryScreen::Rotate(float* x) const {
  // The unnormalised transform scales lengths by sqrt(padded), which the signs take back.
  for (size_t i = 0; i < padded_; ++i) x[i] *= signs_[i];
  k_->fwht_f32(x, padded_);
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
    // Unscaled: files written when the margin was one deviation stored the same value.
    f[2] = static_cast<float>(std::sqrt(std::max(0.0, 1.0 - fr * fr)) / (fr * std::sqrt(p - 1)));
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
  out->x_sum = static_cast<float>(k_->u4_planes(v.data(), padded_, out->lower, scale, out->planes.data()));
}

}  // namespace sextant::index
