// BinaryScreen: one bit per dimension that tells a graph walk, before it reads a neighbour's
// float32 vector, that the neighbour cannot enter the beam.
//
// Each stored vector o is kept as the signs of its rotated, centred direction (the 1-bit
// RaBitQ code of Gao & Long, SIGMOD 2024): with c the centre, P a random rotation and
// u = P(o - c)/|o - c|, the code is sign(u) in padded() bits, plus |o - c| and
// f = <sign(u), u>/sqrt(padded()). For a query q, with v = P(q - c)/|q - c|,
// <sign(u), v>/(sqrt(padded()) f) estimates <u, v> without bias, with an error whose standard
// deviation is about sqrt(1 - f^2) / (f sqrt(padded() - 1)); LowerBound turns the estimate
// plus kEpsilon such deviations into a lower bound (a likely one, see kEpsilon) of the
// squared L2 distance |o - q|^2. A walk skips the neighbours whose bound exceeds its beam's
// worst distance, so the 3 KiB vector of a 784-d point is read only for the neighbours that
// may enter the beam; the bits cost padded()/8 bytes a point (128 for 784-d). The query's v
// is rounded to 4 bits a value (error far below the code's) and held as four bit planes, so
// <sign(u), v> is four AND-and-popcount sums (simd::QuantKernels::bits_dot_u4).
//
// The rotation is random sign flips and a fast Walsh-Hadamard transform (simd fwht_f32) over
// the vector zero-padded to a power of two (a fixed seed: nothing to store); the query's bit
// planes come from simd u4_planes. One round: on Fashion-MNIST's walk a second or third round
// skipped as many neighbours (within 0.1 %) as one, and a dense random orthogonal matrix fewer.
// The centre is whatever the owner sets (HnswIndex: the mean of the points); any centre gives
// valid bounds, one near the data tighter ones.
//
// Thread-safety: Encode of distinct slots may run concurrently; LowerBound and PrepareQuery
// are const; SetCentre and Reserve need exclusive access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#include "index/types.h"
#include "simd/quant.h"

namespace sextant::index {

class BinaryScreen {
 public:
  // The half-width of the error bound in standard deviations of the estimate, so a bound is
  // not a certain one: about one pair in three has a bound above its distance, but a neighbour
  // is wrongly skipped only when that happens near the beam's edge. A smaller margin loses
  // some recall at a given ef and buys more speed than the larger ef that wins it back costs.
  // Fashion-MNIST f32, three alternating runs each (ef 12-32): QPS at recall@10 >= 0.95
  // 37.1-38.8k at 0.5 against 32.8-35.4k at 1.0 (the previous margin), at >= 0.99 21.2-23.6k
  // against 19.0-20.1k; recall at ef 14 0.955 against 0.962. Generated 384-d embeddings
  // (bench/make_lowdim.py, cosine): at ef 24 0.9705 at 30.2k against 0.9738 at 26.5k. At 0.35
  // Fashion-MNIST was faster still but the 384-d data no faster than at 0.5; at 0 (the
  // estimate alone) recall fell to 0.958 at ef 18. (At 1.9, 55 % skipped: slower than 1.0.)
  static constexpr float kEpsilon = 0.5f;
  // Dimensions below which the screen is not worth its reads. GloVe-100 f32 (cosine, 128
  // padded bits) screened: QPS 1.05-1.21x at ef 32-128, but builds 10 % slower (41.7 s against
  // 37.9 s on two threads): a 400-byte vector is cheap enough to read.
  static constexpr size_t kMinDim = 128;

  // `scale`: what a squared L2 distance is multiplied by to give the caller's distance (1 for
  // l2, 0.5 for cosine distance between unit vectors: 1 - <a, b> = |a - b|^2 / 2).
  BinaryScreen(size_t dim, float scale);

  size_t dim() const { return dim_; }
  size_t padded() const { return padded_; }
  size_t row_bytes() const { return row_bytes_; }
  const uint8_t* row(uint32_t slot) const { return rows_.data() + static_cast<size_t>(slot) * row_bytes_; }
  size_t MemoryUsage() const { return rows_.size() + (centre_.capacity() + signs_.capacity()) * sizeof(float); }

  // Room for `slots` rows. False when memory is exhausted.
  bool Reserve(size_t slots);
  // Replaces the centre (dim floats). Codes encoded before are stale: encode them again.
  void SetCentre(std::span<const float> centre);
  const std::vector<float>& centre() const { return centre_; }
  // Copies the rows of slots [0, slots) from `rows` (as row() lays them out, encoded with the
  // current centre: an index file's). Needs Reserve(slots) first.
  void CopyRows(const uint8_t* rows, size_t slots) { std::memcpy(rows_.data(), rows, slots * row_bytes_); }
  // Renumbers the first order.size() rows: new row i is old row order[i]. False when out of
  // memory (nothing changes then).
  bool Permute(std::span<const uint32_t> order);
  // Writes slot `slot`'s row from its vector (dim floats; normalised for cosine).
  void Encode(uint32_t slot, const float* vector);

  struct Query {
    // v = P(q - c)/|q - c| (zero when q == c) as lower + delta * x with x in [0, 15]: bit j of
    // every x in planes[4 * w + j], word w covering values 64w..64w+63.
    std::vector<uint64_t> planes;
    float lower = 0, delta = 0;
    float x_sum = 0;  // sum of x
    float norm = 0;   // |q - c|
  };
  // Prepares `q` (dim floats, as the walk's query: normalised for cosine).
  void PrepareQuery(const float* q, Query* out) const;
  // A lower bound (up to kEpsilon's confidence) of the distance from the query to slot `slot`,
  // in the caller's units (see `scale`).
  float LowerBound(const Query& q, uint32_t slot) const { return BoundAndEstimate(q, slot).first; }
  // The unbiased estimate of the same distance (the bound without its error margin), for walks
  // that only need to know which of two points is nearer, such as the descent through the
  // upper levels.
  float Estimate(const Query& q, uint32_t slot) const { return BoundAndEstimate(q, slot).second; }
  // Both, {bound, estimate}, from one read of the row and one bit dot product.
  std::pair<float, float> BoundAndEstimate(const Query& q, uint32_t slot) const {
    const uint8_t* r = row(slot);
    // |o - c|, 1/(sqrt(padded) f), the standard deviation of the estimate's error (kEpsilon
    // times it is the bound's margin), 2 |code| - padded.
    float f[4];
    std::memcpy(f, r + code_bytes_, sizeof f);
    // <sign(u), v> = 2 * (sum of v at set bits) - sum of v, with v = lower + delta * x.
    const auto x_at_bits = static_cast<float>(
        k_->bits_dot_u4(reinterpret_cast<const uint64_t*>(r), q.planes.data(), padded_ / 64));
    const float sum = q.lower * f[3] + q.delta * (2.0f * x_at_bits - q.x_sum);
    auto distance = [&](float ip) {
      ip = ip < 1.0f ? ip : 1.0f;
      return scale_ * (f[0] * f[0] + q.norm * q.norm - 2.0f * f[0] * q.norm * ip);
    };
    return {distance(sum * f[1] + kEpsilon * f[2]), distance(sum * f[1])};
  }

 private:
  void Rotate(float* x) const;  // in place, padded() values

  size_t dim_, padded_, code_bytes_, row_bytes_;
  float scale_;
  const simd::QuantKernels* k_;
  std::vector<float> signs_;   // padded() random signs, scaled (see Rotate)
  std::vector<float> centre_;  // dim values
  AlignedBuffer rows_;
};

}  // namespace sextant::index
