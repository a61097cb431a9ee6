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

#include "index/metric.h"
#include "sextant/status.h"
#include "simd/distance.h"

namespace sextant::index {

class VectorCodec {
 public:
  // Errors: InvalidArgument for dim == 0 or dim > kMaxDim, or kL1 with non-float32 storage.
  static Result<VectorCodec> Create(size_t dim, Metric metric, StorageType storage);

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

  // Encodes a (validated) query. Returns true when QueryDistance is exact for this query, so
  // no re-ranking is needed.
  bool EncodeQuery(const float* q, uint8_t* out) const;

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
    }
    return 0.0f;
  }

  // Distance between two stored codes.
  float CodeDistance(const uint8_t* a, const uint8_t* b) const;

  // Exact distance between a prepared float query (PrepareExactQuery) and a stored code.
  float ExactDistance(const float* prepared_query, const uint8_t* code) const;

  // Reconstructs the stored vector (normalised for cosine).
  void Decode(const uint8_t* code, float* out) const;

 private:
  enum class Kind { kF32L2, kF32Ip, kF32L1, kF16L2, kF16Ip, kU8L2, kU8Ip, kU8Cos };
  VectorCodec() = default;
  float TailNorm(const uint8_t* code) const {
    float f;
    std::memcpy(&f, code + norm_offset_, sizeof f);
    return f;
  }

  size_t dim_ = 0;
  Metric metric_ = Metric::kL2;
  StorageType storage_ = StorageType::kFloat32;
  Kind kind_ = Kind::kF32L2;
  size_t code_size_ = 0;
  size_t query_size_ = 0;
  size_t norm_offset_ = 0;  // kU8Cos: where the float inverse norm sits in a code
  const simd::Kernels* k_ = nullptr;
};

}  // namespace sextant::index
