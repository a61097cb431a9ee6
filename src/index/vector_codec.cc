#include "index/vector_codec.h"

#include <cmath>
#include <string>
#include <vector>

namespace sextant::index {
namespace {

size_t RoundUp(size_t x, size_t a) { return (x + a - 1) / a * a; }

std::string DescribeValue(float v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
  return std::to_string(v);
}

// Scale so that |v| == 1; a zero vector stays zero (its cosine distance to anything is 1).
void Normalize(const float* in, float* out, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(in[i]) * in[i];
  const float r = s > 0 ? static_cast<float>(1.0 / std::sqrt(s)) : 0.0f;
  for (size_t i = 0; i < n; ++i) out[i] = in[i] * r;
}

float InverseNorm(const uint8_t* v, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; ++i) s += static_cast<uint64_t>(v[i]) * v[i];
  return s > 0 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(s))) : 0.0f;
}

}  // namespace

Result<VectorCodec> VectorCodec::Create(size_t dim, Metric metric, StorageType storage) {
  if (dim == 0 || dim > kMaxDim) {
    return Status::InvalidArgument("dimension " + std::to_string(dim) + " is out of range [1, " +
                                   std::to_string(kMaxDim) + "]");
  }
  if (metric == Metric::kL1 && storage != StorageType::kFloat32) {
    return Status::InvalidArgument("metric l1 needs f32 storage, not " +
                                   std::string(StorageTypeName(storage)));
  }
  VectorCodec c;
  c.dim_ = dim;
  c.metric_ = metric;
  c.storage_ = storage;
  c.k_ = &simd::Best();
  const bool ip_like = metric == Metric::kInnerProduct || metric == Metric::kCosine;
  switch (storage) {
    case StorageType::kFloat32:
      c.code_size_ = dim * sizeof(float);
      c.query_size_ = c.code_size_;
      c.kind_ = metric == Metric::kL1 ? Kind::kF32L1 : ip_like ? Kind::kF32Ip : Kind::kF32L2;
      break;
    case StorageType::kFloat16:
      c.code_size_ = RoundUp(dim * sizeof(uint16_t), 4);
      c.query_size_ = dim * sizeof(float);  // queries stay float32: asymmetric distance
      c.kind_ = ip_like ? Kind::kF16Ip : Kind::kF16L2;
      break;
    case StorageType::kUint8:
      if (metric == Metric::kCosine) {
        c.norm_offset_ = RoundUp(dim, 4);
        c.code_size_ = c.norm_offset_ + sizeof(float);
        c.kind_ = Kind::kU8Cos;
      } else {
        c.code_size_ = RoundUp(dim, 4);
        c.kind_ = metric == Metric::kInnerProduct ? Kind::kU8Ip : Kind::kU8L2;
      }
      c.query_size_ = c.code_size_;
      break;
  }
  return c;
}

Status VectorCodec::ValidateQuery(const float* q) const {
  for (size_t i = 0; i < dim_; ++i) {
    if (!std::isfinite(q[i])) {
      return Status::InvalidArgument("value " + DescribeValue(q[i]) + " at dimension " +
                                     std::to_string(i) + " (vectors must be finite)");
    }
  }
  return Status::OK();
}

Status VectorCodec::Encode(const float* v, uint8_t* code) const {
  SEXTANT_RETURN_IF_ERROR(ValidateQuery(v));
  std::memset(code, 0, code_size_);
  switch (storage_) {
    case StorageType::kFloat32:
      if (metric_ == Metric::kCosine) {
        Normalize(v, reinterpret_cast<float*>(code), dim_);
      } else {
        std::memcpy(code, v, dim_ * sizeof(float));
      }
      return Status::OK();
    case StorageType::kFloat16: {
      if (metric_ == Metric::kCosine) {
        std::vector<float> tmp(dim_);
        Normalize(v, tmp.data(), dim_);
        k_->f32_to_f16(tmp.data(), reinterpret_cast<uint16_t*>(code), dim_);
      } else {
        k_->f32_to_f16(v, reinterpret_cast<uint16_t*>(code), dim_);
      }
      return Status::OK();
    }
    case StorageType::kUint8:
      for (size_t i = 0; i < dim_; ++i) {
        const float x = v[i];
        if (!(x >= 0.0f && x <= 255.0f) || x != std::nearbyint(x)) {
          return Status::InvalidArgument("value " + DescribeValue(x) + " at dimension " +
                                         std::to_string(i) +
                                         " is not an integer in [0, 255] (u8 storage)");
        }
        code[i] = static_cast<uint8_t>(x);
      }
      if (kind_ == Kind::kU8Cos) {
        const float inv = InverseNorm(code, dim_);
        std::memcpy(code + norm_offset_, &inv, sizeof inv);
      }
      return Status::OK();
  }
  return Status::Internal("unknown storage type");
}

bool VectorCodec::EncodeQuery(const float* q, uint8_t* out) const {
  switch (storage_) {
    case StorageType::kFloat32:
    case StorageType::kFloat16:
      if (metric_ == Metric::kCosine) {
        Normalize(q, reinterpret_cast<float*>(out), dim_);
      } else {
        std::memcpy(out, q, dim_ * sizeof(float));
      }
      return true;
    case StorageType::kUint8: {
      std::memset(out, 0, query_size_);
      bool exact = true;
      for (size_t i = 0; i < dim_; ++i) {
        const float r = std::nearbyint(std::fmin(std::fmax(q[i], 0.0f), 255.0f));
        exact &= (r == q[i]);
        out[i] = static_cast<uint8_t>(r);
      }
      if (kind_ == Kind::kU8Cos) {
        const float inv = InverseNorm(out, dim_);
        std::memcpy(out + norm_offset_, &inv, sizeof inv);
      }
      return exact;
    }
  }
  return true;
}

void VectorCodec::PrepareExactQuery(const float* q, float* out) const {
  if (metric_ == Metric::kCosine) {
    Normalize(q, out, dim_);
  } else {
    std::memcpy(out, q, dim_ * sizeof(float));
  }
}

float VectorCodec::CodeDistance(const uint8_t* a, const uint8_t* b) const {
  const size_t n = dim_;
  switch (kind_) {
    case Kind::kF16L2:
      return k_->l2sq_f16(reinterpret_cast<const uint16_t*>(a),
                          reinterpret_cast<const uint16_t*>(b), n);
    case Kind::kF16Ip:
      return 1.0f - k_->ip_f16(reinterpret_cast<const uint16_t*>(a),
                               reinterpret_cast<const uint16_t*>(b), n);
    default:
      // Every other kind stores codes in the same layout as its encoded queries.
      return QueryDistance(a, b);
  }
}

void VectorCodec::Decode(const uint8_t* code, float* out) const {
  switch (storage_) {
    case StorageType::kFloat32:
      std::memcpy(out, code, dim_ * sizeof(float));
      return;
    case StorageType::kFloat16:
      k_->f16_to_f32(reinterpret_cast<const uint16_t*>(code), out, dim_);
      return;
    case StorageType::kUint8:
      if (kind_ == Kind::kU8Cos) {
        const float inv = TailNorm(code);
        for (size_t i = 0; i < dim_; ++i) out[i] = code[i] * inv;
      } else {
        for (size_t i = 0; i < dim_; ++i) out[i] = code[i];
      }
      return;
  }
}

float VectorCodec::ExactDistance(const float* prepared_query, const uint8_t* code) const {
  if (storage_ == StorageType::kFloat32) {
    return QueryDistance(reinterpret_cast<const uint8_t*>(prepared_query), code);
  }
  thread_local std::vector<float> decoded;
  decoded.resize(dim_);
  Decode(code, decoded.data());
  switch (metric_) {
    case Metric::kL2: return k_->l2sq_f32(prepared_query, decoded.data(), dim_);
    case Metric::kInnerProduct:
    case Metric::kCosine: return 1.0f - k_->ip_f32(prepared_query, decoded.data(), dim_);
    case Metric::kL1: return k_->l1_f32(prepared_query, decoded.data(), dim_);
  }
  return 0.0f;
}

}  // namespace sextant::index
