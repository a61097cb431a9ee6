// ProductQuantizer: splits a vector into m sub-vectors of dim/m dimensions and replaces each by
// the index of its nearest centroid among 2^nbits (nbits 4 or 8) learned by k-means per
// sub-space. A code is m bytes, one per sub-quantizer (4-bit codes are packed further into
// fast-scan blocks by the index that stores them; see PackPq4Block).
//
// Distances are computed asymmetrically (ADC): a query gives an m x 2^nbits table of partial
// distances once, then each code costs m table lookups.
// Thread-safety: immutable after Train/SetCodebooks; const methods may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "index/kmeans.h"
#include "sextant/status.h"

namespace sextant::index {

class ProductQuantizer {
 public:
  // Errors: InvalidArgument when m is 0 or does not divide dim, or nbits is not 4 or 8.
  static Result<ProductQuantizer> Create(size_t dim, size_t m, size_t nbits);

  // Learns the codebooks from n = data.size() / dim rows.
  // Errors: InvalidArgument for fewer than 2^nbits rows.
  Status Train(std::span<const float> data, const KMeansOptions& options);
  // Installs codebooks (m * ksub * dsub floats, e.g. read from a file).
  Status SetCodebooks(std::vector<float> codebooks);

  bool trained() const { return !codebooks_.empty(); }
  size_t dim() const { return dim_; }
  size_t m() const { return m_; }
  size_t nbits() const { return nbits_; }
  size_t ksub() const { return ksub_; }
  size_t dsub() const { return dsub_; }
  // Centroid c of sub-quantizer j: codebooks()[(j * ksub + c) * dsub ...].
  const std::vector<float>& codebooks() const { return codebooks_; }
  // Bytes held (codebooks and their derived tables).
  size_t MemoryUsage() const {
    return (codebooks_.capacity() + transposed_.capacity() + norms_.capacity()) * sizeof(float);
  }
  const float* centroid(size_t j, size_t c) const {
    return codebooks_.data() + (j * ksub_ + c) * dsub_;
  }

  // Encodes n rows into n * m bytes (sgemm per sub-space).
  void Encode(const float* x, size_t n, uint8_t* codes) const;
  // The obviously-right twin: nearest centroid by a plain loop.
  void EncodeReference(const float* x, uint8_t* code) const;
  void Decode(const uint8_t* code, float* out) const;

  // table[j * ksub + c] = |q_j - centroid(j, c)|^2 (computed as |q_j|^2 - 2 q_j.c + |c|^2).
  void L2Table(const float* q, float* table) const;
  // table[j * ksub + c] = q_j . centroid(j, c).
  void InnerProductTable(const float* q, float* table) const;

  // Sum over j of table[j * ksub + code[j]].
  float Adc(const float* table, const uint8_t* code) const {
    float s = 0;
    for (size_t j = 0; j < m_; ++j) s += table[j * ksub_ + code[j]];
    return s;
  }
  // Adc for n consecutive m-byte codes (8-bit), four codes at a time: out[i] = base + sum.
  void AdcScan(const float* table, const uint8_t* codes, size_t n, float base, float* out) const;

 private:
  ProductQuantizer(size_t dim, size_t m, size_t nbits)
      : dim_(dim), m_(m), nbits_(nbits), ksub_(size_t{1} << nbits), dsub_(dim / m) {}
  // Derived from codebooks_: per sub-quantizer a dsub x ksub transposed copy (so a distance
  // table is one matrix-vector product vectorised over centroids) and centroid norms.
  void BuildDerived();

  size_t dim_, m_, nbits_, ksub_, dsub_;
  std::vector<float> codebooks_;
  std::vector<float> transposed_;
  std::vector<float> norms_;
};

// 4-bit fast-scan layout (see simd/quant.h): writes the m sub-codes `code` (values < 16) of
// vector `i` (0..31) into a block of m * 16 bytes.
inline void PackPq4(const uint8_t* code, size_t m, size_t i, uint8_t* block) {
  const int shift = i < 16 ? 0 : 4;
  const uint8_t keep = i < 16 ? 0xf0 : 0x0f;
  for (size_t j = 0; j < m; ++j) {
    uint8_t& b = block[j * 16 + (i & 15)];
    b = static_cast<uint8_t>((b & keep) | ((code[j] & 15) << shift));
  }
}
inline void UnpackPq4(const uint8_t* block, size_t m, size_t i, uint8_t* code) {
  for (size_t j = 0; j < m; ++j) {
    const uint8_t b = block[j * 16 + (i & 15)];
    code[j] = i < 16 ? (b & 15) : (b >> 4);
  }
}

}  // namespace sextant::index
