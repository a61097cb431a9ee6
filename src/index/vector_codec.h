// VectorCodec: how an index turns float vectors into stored codes and compares them.
//
// One codec per index. Stored codes are `code_size()` bytes. A query is encoded once per search
// (EncodeQuery) into `query_size()` bytes and then compared with stored codes (QueryDistance);
// stored codes are compared with each other while the graph is built (CodeDistance). When a
// query's encoding is lossy (a non-integer query against uint8 storage), EncodeQuery says so
// and the index re-ranks its final candidates with ExactDistance.
// Thread-safety: immutable after Create; all methods are const and may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "index/metric.h"
#include "sextant/status.h"
#include "simd/distance.h"
#include "simd/quant.h"

namespace sextant::index {

// How error messages show a vector value: "NaN", "Inf", "-Inf" or the number.
std::string DescribeValue(float v);

// The per-dimension minimum and maximum of rows, normalised first for cosine: what SQ8
// parameters are learned from (VectorCodec::TrainSq8), gathered one row at a time so that a
// caller holding its rows in another form (HNSW's exact vectors) needs no copy of them.
class Sq8Range {
 public:
  Sq8Range(size_t dim, Metric metric);
  // InvalidArgument naming the dimension of a non-finite value (the range is then unchanged).
  Status Add(const float* row);
  size_t rows() const { return rows_; }
  // lower = min, step = (max - min) / 255. InvalidArgument when no row was added.
  Status Params(std::vector<float>* lower, std::vector<float>* step) const;

 private:
  size_t dim_;
  Metric metric_;
  size_t rows_ = 0;
  std::vector<float> lo_, hi_, scratch_;
};

class VectorCodec {
 public:
  // Errors: InvalidArgument for dim == 0 or dim > kMaxDim, kL1 with non-float32 storage, or
  // kSq8 (which needs trained parameters: use CreateSq8).
  static Result<VectorCodec> Create(size_t dim, Metric metric, StorageType storage);

  // SQ8 storage with per-dimension parameters: value = lower[d] + step[d] * byte. A code is the
  // dim bytes (padded to 4) followed by a float, sum_d (step[d] * byte[d])^2, that makes L2
  // distances one dot product per code. Errors: as Create, lower/step of the wrong size, a
  // non-finite or negative step, kL1.
  static Result<VectorCodec> CreateSq8(size_t dim, Metric metric, std::vector<float> lower,
                                       std::vector<float> step);
  // Learns SQ8 parameters from n = data.size() / dim rows: the per-dimension min and max (of
  // the normalised rows for cosine), step = (max - min) / 255. Errors: InvalidArgument for no
  // rows, a size that is not whole rows, or a non-finite value.
  static Status TrainSq8(std::span<const float> data, size_t dim, Metric metric,
                         std::vector<float>* lower, std::vector<float>* step);

  static constexpr size_t kMaxDim = simd::kMaxIntegerKernelDim;

  size_t dim() const { return dim_; }
  Metric metric() const { return metric_; }
  StorageType storage() const { return storage_; }
  size_t code_size() const { return code_size_; }
  size_t query_size() const { return query_size_; }

  // Validates `v` (every value finite; for kUint8 an integer in [0, 255]) and writes the code.
  // Errors name the offending dimension: "value NaN at dimension 17".
  Status Encode(const float* v, uint8_t* code) const;

  // Checks a query: every value finite. Errors name the dimension.
  Status ValidateQuery(const float* q) const;

  // Encodes a (validated) query. Returns true when re-ranking with ExactDistance would not
  // change anything: QueryDistance is exact for this query (f32, f16, integer queries against
  // u8). SQ8 queries are rounded to 16-bit integers (relative error about 1e-4, so the walk
  // runs on integer arithmetic): false, and ExactDistance decodes the codes in float.
  bool EncodeQuery(const float* q, uint8_t* out) const;
  // EncodeQuery for a vector already in the stored form (unit length for cosine), e.g. a stored
  // point's exact copy: the same encoding without normalising it again.
  bool EncodeStoredFormQuery(const float* v, uint8_t* out) const;

  // Writes the float vector used by ExactDistance (normalised for cosine) into `out` (dim floats).
  void PrepareExactQuery(const float* q, float* out) const;

  // Distance between an encoded query and a stored code.
  float QueryDistance(const uint8_t* query, const uint8_t* code) const {
    const size_t n = dim_;
    switch (kind_) {
      case Kind::kF32L2:
        return k_->l2sq_f32(reinterpret_cast<const float*>(query),
                            reinterpret_cast<const float*>(code), n);
      case Kind::kF32Ip:
        return 1.0f - k_->ip_f32(reinterpret_cast<const float*>(query),
                                 reinterpret_cast<const float*>(code), n);
      case Kind::kF32L1:
        return k_->l1_f32(reinterpret_cast<const float*>(query),
                          reinterpret_cast<const float*>(code), n);
      case Kind::kF16L2:
        return k_->l2sq_f32_f16(reinterpret_cast<const float*>(query),
                                reinterpret_cast<const uint16_t*>(code), n);
      case Kind::kF16Ip:
        return 1.0f - k_->ip_f32_f16(reinterpret_cast<const float*>(query),
                                     reinterpret_cast<const uint16_t*>(code), n);
      case Kind::kU8L2:
        return static_cast<float>(k_->l2sq_u8(query, code, n));
      case Kind::kU8Ip:
        return 1.0f - static_cast<float>(k_->ip_u8(query, code, n));
      case Kind::kU8Cos:
        return 1.0f - static_cast<float>(k_->ip_u8(query, code, n)) * TailNorm(query) *
                          TailNorm(code);
      case Kind::kSq8L2:
      case Kind::kSq8Ip:
        return Sq8Distance(query, code, Sq8Dot(query, code));
    }
    return 0.0f;
  }

  // Whether QueryDistances4 has a kernel of its own (rather than four QueryDistance calls), so
  // that two or three codes are worth padding to four.
  bool HasDistances4() const {
    return kind_ == Kind::kF32L2 || kind_ == Kind::kF32Ip || kind_ == Kind::kSq8L2 || kind_ == Kind::kSq8Ip;
  }
  // QueryDistance of one query against four codes, out[j] for codes[j]: the same values to the
  // bit, the SQ8 walk's four integer products in one kernel call (dot_i16_u8_x4), float32's
  // four sums (l2sq_f32_x4, ip_f32_x4) reading the four codes together. Codes may repeat.
  void QueryDistances4(const uint8_t* query, const uint8_t* const* codes, float* out) const {
    if (kind_ == Kind::kF32L2 || kind_ == Kind::kF32Ip) {
      const float* v[4];
      for (size_t j = 0; j < 4; ++j) v[j] = reinterpret_cast<const float*>(codes[j]);
      const auto* q = reinterpret_cast<const float*>(query);
      if (kind_ == Kind::kF32L2) {
        k_->l2sq_f32_x4(q, v, dim_, out);
      } else {
        k_->ip_f32_x4(q, v, dim_, out);
        for (size_t j = 0; j < 4; ++j) out[j] = 1.0f - out[j];
      }
      return;
    }
    if (kind_ != Kind::kSq8L2 && kind_ != Kind::kSq8Ip) {
      for (size_t j = 0; j < 4; ++j) out[j] = QueryDistance(query, codes[j]);
      return;
    }
    int32_t dots[4];
    qk_->dot_i16_u8_x4(reinterpret_cast<const int16_t*>(query), codes, dim_, dots);
    for (size_t j = 0; j < 4; ++j) out[j] = Sq8Distance(query, codes[j], dots[j]);
  }

  // QueryDistance of four queries against one code, out[j] for queries[j]: the same values,
  // for SQ8 four integer products in one kernel call (dot_i16x4_u8).
  void QueriesDistance4(const uint8_t* const* queries, const uint8_t* code, float* out) const {
    if (kind_ != Kind::kSq8L2 && kind_ != Kind::kSq8Ip) {
      for (size_t j = 0; j < 4; ++j) out[j] = QueryDistance(queries[j], code);
      return;
    }
    const int16_t* ws[4];
    for (size_t j = 0; j < 4; ++j) ws[j] = reinterpret_cast<const int16_t*>(queries[j]);
    int32_t dots[4];
    qk_->dot_i16x4_u8(ws, code, dim_, dots);
    for (size_t j = 0; j < 4; ++j) out[j] = Sq8Distance(queries[j], code, dots[j]);
  }

  // Distance between two stored codes.
  float CodeDistance(const uint8_t* a, const uint8_t* b) const;

  // Exact distance between a prepared float query (PrepareExactQuery) and a stored code.
  float ExactDistance(const float* prepared_query, const uint8_t* code) const;

  // Reconstructs the stored vector (normalised for cosine).
  void Decode(const uint8_t* code, float* out) const;

  // SQ8 parameters (kSq8 only).
  const std::vector<float>& sq8_lower() const { return sq8_->lower; }
  const std::vector<float>& sq8_step() const { return sq8_->step; }

 private:
  enum class Kind { kF32L2, kF32Ip, kF32L1, kF16L2, kF16Ip, kU8L2, kU8Ip, kU8Cos, kSq8L2, kSq8Ip };
  struct Sq8Params {
    std::vector<float> lower, step, step_sq;
  };
  VectorCodec() = default;
  // The SQ8 query encoding of `q` (already normalised for cosine).
  void EncodeSq8Query(const float* q, uint8_t* out) const;
  float TailNorm(const uint8_t* code) const {
    float f;
    std::memcpy(&f, code + norm_offset_, sizeof f);
    return f;
  }
  // An encoded SQ8 query is the weights (step-scaled query values) rounded to int16, w[d] =
  // round(weight[d] / scale), padded with zeros to a multiple of 16, then two floats: the
  // scale and the query's constant term (|q - lower|^2 for l2, q.lower otherwise).
  float QueryFloat(const uint8_t* query, size_t i) const {
    float f;
    std::memcpy(&f, query + query_tail_ + i * sizeof(float), sizeof f);
    return f;
  }
  int32_t Sq8Dot(const uint8_t* query, const uint8_t* code) const {
    return qk_->dot_i16_u8(reinterpret_cast<const int16_t*>(query), code, dim_);
  }
  // An SQ8 distance from the integer product `dot` of the query's weights and the code.
  float Sq8Distance(const uint8_t* query, const uint8_t* code, int32_t dot) const {
    if (kind_ == Kind::kSq8L2) {  // |a|^2 - 2 a.(step*c) + |step*c|^2 with a = q - lower
      return QueryFloat(query, 1) + TailNorm(code) - 2.0f * QueryFloat(query, 0) * static_cast<float>(dot);
    }
    // 1 - q.lower - (q*step).c
    return 1.0f - QueryFloat(query, 1) - QueryFloat(query, 0) * static_cast<float>(dot);
  }

  size_t dim_ = 0;
  Metric metric_ = Metric::kL2;
  StorageType storage_ = StorageType::kFloat32;
  Kind kind_ = Kind::kF32L2;
  size_t code_size_ = 0;
  size_t query_size_ = 0;
  size_t norm_offset_ = 0;  // kU8Cos: the float inverse norm; kSq8L2: |step*c|^2
  size_t query_tail_ = 0;   // kSq8: where an encoded query's floats start
  const simd::Kernels* k_ = nullptr;
  const simd::QuantKernels* qk_ = nullptr;
  std::shared_ptr<const Sq8Params> sq8_;
};

}  // namespace sextant::index
