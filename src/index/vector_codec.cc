#include "index/vector_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace sextant::index {

std::string DescribeValue(float v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
  return std::to_string(v);
}

namespace {

size_t RoundUp(size_t x, size_t a) { return (x + a - 1) / a * a; }

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

Result<VectorCodec> VectorCodec::CreateSq8(size_t dim, Metric metric, std::vector<float> lower,
                                           std::vector<float> step) {
  if (metric == Metric::kL1) return Status::InvalidArgument("metric l1 needs f32 storage, not sq8");
  if (lower.size() != dim || step.size() != dim) {
    return Status::InvalidArgument("sq8 parameters have " + std::to_string(lower.size()) + "/" +
                                   std::to_string(step.size()) + " values for dimension " +
                                   std::to_string(dim));
  }
  for (size_t d = 0; d < dim; ++d) {
    if (!std::isfinite(lower[d]) || !std::isfinite(step[d]) || step[d] < 0) {
      return Status::InvalidArgument("bad sq8 parameters at dimension " + std::to_string(d));
    }
  }
  SEXTANT_ASSIGN_OR_RETURN(VectorCodec c, Create(dim, metric, StorageType::kFloat32));
  c.storage_ = StorageType::kSq8;
  c.qk_ = &simd::QuantBest();
  c.norm_offset_ = RoundUp(dim, 4);
  c.code_size_ = c.norm_offset_ + sizeof(float);
  c.query_tail_ = RoundUp(dim, 16) * sizeof(int16_t);
  c.query_size_ = c.query_tail_ + 2 * sizeof(float);
  c.kind_ = metric == Metric::kL2 ? Kind::kSq8L2 : Kind::kSq8Ip;
  auto params = std::make_shared<Sq8Params>();
  params->step_sq.resize(dim);
  for (size_t d = 0; d < dim; ++d) params->step_sq[d] = step[d] * step[d];
  params->lower = std::move(lower);
  params->step = std::move(step);
  c.sq8_ = std::move(params);
  return c;
}

Sq8Range::Sq8Range(size_t dim, Metric metric)
    : dim_(dim), metric_(metric), lo_(dim, INFINITY), hi_(dim, -INFINITY) {}

Status Sq8Range::Add(const float* v) {
  for (size_t d = 0; d < dim_; ++d) {
    if (!std::isfinite(v[d])) {
      return Status::InvalidArgument("value " + DescribeValue(v[d]) + " at dimension " + std::to_string(d));
    }
  }
  if (metric_ == Metric::kCosine) {
    scratch_.resize(dim_);
    Normalize(v, scratch_.data(), dim_);
    v = scratch_.data();
  }
  for (size_t d = 0; d < dim_; ++d) {
    lo_[d] = std::min(lo_[d], v[d]);
    hi_[d] = std::max(hi_[d], v[d]);
  }
  ++rows_;
  return Status::OK();
}

Status Sq8Range::Params(std::vector<float>* lower, std::vector<float>* step) const {
  if (rows_ == 0) return Status::InvalidArgument("sq8 needs at least 1 training vector, got 0");
  step->resize(dim_);
  for (size_t d = 0; d < dim_; ++d) (*step)[d] = (hi_[d] - lo_[d]) / 255.0f;
  *lower = lo_;
  return Status::OK();
}

Status VectorCodec::TrainSq8(std::span<const float> data, size_t dim, Metric metric,
                             std::vector<float>* lower, std::vector<float>* step) {
  if (dim == 0 || data.size() % dim != 0) {
    return Status::InvalidArgument("sq8 training data is not a whole number of rows");
  }
  const size_t n = data.size() / dim;
  Sq8Range range(dim, metric);
  for (size_t i = 0; i < n; ++i) {
    Status st = range.Add(data.data() + i * dim);
    if (!st.ok()) return st.WithContext("training row " + std::to_string(i));
  }
  return range.Params(lower, step);
}

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
    case StorageType::kSq8:
      return Status::InvalidArgument("sq8 storage needs trained parameters (VectorCodec::CreateSq8)");
    case StorageType::kSq8F32:
      return Status::InvalidArgument("sq8-f32 storage is an HNSW index's pair of an sq8 and an f32 codec");
  }
  return c;
}

Status VectorCodec::ValidateQuery(const float* q) const {
  // Every value's exponent bits tested without an early exit, so the loop vectorises (a query
  // is checked on every search: 784-d scalar checks were 2.6 % of Fashion-MNIST's f32 search
  // time); the offending dimension is looked for only when there is one.
  uint32_t bad = 0;
  for (size_t i = 0; i < dim_; ++i) {
    uint32_t bits;
    std::memcpy(&bits, q + i, sizeof bits);
    bad |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  if (bad == 0) return Status::OK();
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
    case StorageType::kSq8: {
      thread_local std::vector<float> tmp;
      if (metric_ == Metric::kCosine) {
        tmp.resize(dim_);
        Normalize(v, tmp.data(), dim_);
        v = tmp.data();
      }
      const Sq8Params& p = *sq8_;
      float term = 0;
      for (size_t i = 0; i < dim_; ++i) {
        float c = 0;
        if (p.step[i] > 0) {
          c = std::nearbyint((v[i] - p.lower[i]) / p.step[i]);
          c = std::fmin(std::fmax(c, 0.0f), 255.0f);
        }
        code[i] = static_cast<uint8_t>(c);
        const float y = p.step[i] * c;
        term += y * y;
      }
      std::memcpy(code + norm_offset_, &term, sizeof term);
      return Status::OK();
    }
    case StorageType::kSq8F32:  // never a codec's own storage (Create refuses it)
      break;
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
    case StorageType::kSq8: {
      if (metric_ == Metric::kCosine) {
        thread_local std::vector<float> tmp;
        tmp.resize(dim_);
        Normalize(q, tmp.data(), dim_);
        q = tmp.data();
      }
      EncodeSq8Query(q, out);
      return false;
    }
    case StorageType::kSq8F32:  // never a codec's own storage
      break;
  }
  return true;
}

bool VectorCodec::EncodeStoredFormQuery(const float* v, uint8_t* out) const {
  if (storage_ != StorageType::kSq8) return EncodeQuery(v, out);
  EncodeSq8Query(v, out);
  return false;
}

void VectorCodec::EncodeSq8Query(const float* q, uint8_t* out) const {
  const Sq8Params& p = *sq8_;
  const size_t n = dim_;
  // Runs for every stored point HNSW compares while pruning, not only per search: SIMD kernels.
  thread_local std::vector<float> weights;
  weights.resize(n);
  float base = 0;
  const float wmax = qk_->sq8_query_weights(q, p.lower.data(), p.step.data(), n,
                                            kind_ == Kind::kSq8L2, weights.data(), &base);
  // The largest weight becomes +-limit: 32767, or less where dim * limit * 255 could
  // overflow the kernel's 32-bit sums (dimensions above 257).
  const double limit = std::min(32767.0, std::floor(2147483647.0 / (255.0 * n)));
  const float scale = wmax > 0 ? static_cast<float>(wmax / limit) : 0.0f;
  // Slightly under limit / wmax, so |w * inv| + 0.5 stays below limit + 1 and rounding stays
  // within [-limit, limit].
  const float inv = wmax > 0 ? static_cast<float>(limit / wmax) * 0.99999f : 0.0f;
  std::memset(out, 0, query_tail_);
  qk_->round_i16(weights.data(), n, inv, reinterpret_cast<int16_t*>(out));
  std::memcpy(out + query_tail_, &scale, sizeof scale);
  std::memcpy(out + query_tail_ + sizeof(float), &base, sizeof base);
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
    case Kind::kSq8L2:
      return qk_->wl2_u8(a, b, sq8_->step_sq.data(), n);
    case Kind::kSq8Ip: {
      thread_local std::vector<float> da, db;
      da.resize(n);
      db.resize(n);
      Decode(a, da.data());
      Decode(b, db.data());
      return 1.0f - k_->ip_f32(da.data(), db.data(), n);
    }
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
    case StorageType::kSq8:
      for (size_t i = 0; i < dim_; ++i) out[i] = sq8_->lower[i] + sq8_->step[i] * code[i];
      return;
    case StorageType::kSq8F32:  // never a codec's own storage
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
