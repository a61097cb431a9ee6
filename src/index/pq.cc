#include "index/pq.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <mutex>
#include <string>
#include <thread>

#include "simd/blas.h"
#include "simd/quant.h"

namespace sextant::index {

Result<ProductQuantizer> ProductQuantizer::Create(size_t dim, size_t m, size_t nbits) {
  if (nbits != 4 && nbits != 8) {
    return Status::InvalidArgument("PQ nbits must be 4 or 8, got " + std::to_string(nbits));
  }
  if (dim == 0 || m == 0 || dim % m != 0) {
    return Status::InvalidArgument("PQ m=" + std::to_string(m) +
                                   " must be at least 1 and divide the dimension " +
                                   std::to_string(dim));
  }
  if (nbits == 4 && m > 256) {
    return Status::InvalidArgument("4-bit PQ supports at most m=256 sub-quantizers, got " +
                                   std::to_string(m));
  }
  return ProductQuantizer(dim, m, nbits);
}

Status ProductQuantizer::Train(std::span<const float> data, const KMeansOptions& options) {
  const size_t n = data.size() / dim_;
  if (data.size() % dim_ != 0) return Status::InvalidArgument("training data is not whole rows");
  if (n < ksub_) {
    return Status::InvalidArgument("PQ with nbits=" + std::to_string(nbits_) + " needs at least " +
                                   std::to_string(ksub_) + " training vectors, got " +
                                   std::to_string(n));
  }
  std::vector<float> books(m_ * ksub_ * dsub_);
  // Sub-spaces are independent clusterings: train them on several threads, each calling
  // OpenBLAS on its own small products.
  simd::BlasSingleThreaded blas;
  size_t threads = options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
  threads = std::max<size_t>(1, std::min(threads, m_));
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first_error;
  auto worker = [&] {
    std::vector<float> sub(n * dsub_);
    for (size_t j; (j = next.fetch_add(1)) < m_;) {
      for (size_t i = 0; i < n; ++i) {
        std::copy_n(data.data() + i * dim_ + j * dsub_, dsub_, sub.data() + i * dsub_);
      }
      KMeansOptions o = options;
      o.seed = options.seed + 7919 * (j + 1);
      o.threads = 1;  // the sub-spaces are what runs in parallel
      auto c = TrainKMeans(sub, dsub_, ksub_, o);
      if (!c.ok()) {
        std::lock_guard<std::mutex> l(mu);
        first_error = c.status();
        return;
      }
      std::copy(c->begin(), c->end(), books.begin() + j * ksub_ * dsub_);
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  SEXTANT_RETURN_IF_ERROR(first_error);
  codebooks_ = std::move(books);
  BuildDerived();
  return Status::OK();
}

Status ProductQuantizer::SetCodebooks(std::vector<float> codebooks) {
  if (codebooks.size() != m_ * ksub_ * dsub_) {
    return Status::InvalidArgument("PQ codebooks have " + std::to_string(codebooks.size()) +
                                   " floats, expected " + std::to_string(m_ * ksub_ * dsub_));
  }
  codebooks_ = std::move(codebooks);
  BuildDerived();
  return Status::OK();
}

void ProductQuantizer::BuildDerived() {
  transposed_.assign(m_ * ksub_ * dsub_, 0.0f);
  norms_.assign(m_ * ksub_, 0.0f);
  for (size_t j = 0; j < m_; ++j) {
    float* t = transposed_.data() + j * ksub_ * dsub_;
    for (size_t c = 0; c < ksub_; ++c) {
      const float* v = centroid(j, c);
      float s = 0;
      for (size_t d = 0; d < dsub_; ++d) {
        t[d * ksub_ + c] = v[d];
        s += v[d] * v[d];
      }
      norms_[j * ksub_ + c] = s;
    }
  }
}

void ProductQuantizer::Encode(const float* x, size_t n, uint8_t* codes) const {
  constexpr size_t kBlock = 4096;
  simd::BlasSingleThreaded blas;  // products of dsub columns: too small to share out
  std::vector<float> sub(std::min(n, kBlock) * dsub_);
  std::vector<uint32_t> assign(std::min(n, kBlock));
  for (size_t b0 = 0; b0 < n; b0 += kBlock) {
    const size_t bn = std::min(kBlock, n - b0);
    for (size_t j = 0; j < m_; ++j) {
      for (size_t i = 0; i < bn; ++i) {
        std::copy_n(x + (b0 + i) * dim_ + j * dsub_, dsub_, sub.data() + i * dsub_);
      }
      AssignNearest(sub.data(), bn, centroid(j, 0), ksub_, dsub_, assign.data(), nullptr);
      for (size_t i = 0; i < bn; ++i) codes[(b0 + i) * m_ + j] = static_cast<uint8_t>(assign[i]);
    }
  }
}

void ProductQuantizer::EncodeReference(const float* x, uint8_t* code) const {
  for (size_t j = 0; j < m_; ++j) {
    uint32_t a;
    AssignNearestReference(x + j * dsub_, 1, centroid(j, 0), ksub_, dsub_, &a, nullptr);
    code[j] = static_cast<uint8_t>(a);
  }
}

void ProductQuantizer::Decode(const uint8_t* code, float* out) const {
  for (size_t j = 0; j < m_; ++j) std::copy_n(centroid(j, code[j]), dsub_, out + j * dsub_);
}

void ProductQuantizer::L2Table(const float* q, float* table) const {
  InnerProductTable(q, table);
  for (size_t j = 0; j < m_; ++j) {
    const float* qj = q + j * dsub_;
    float qn = 0;
    for (size_t d = 0; d < dsub_; ++d) qn += qj[d] * qj[d];
    float* t = table + j * ksub_;
    const float* cn = norms_.data() + j * ksub_;
    for (size_t c = 0; c < ksub_; ++c) t[c] = std::max(0.0f, qn - 2.0f * t[c] + cn[c]);
  }
}

void ProductQuantizer::InnerProductTable(const float* q, float* table) const {
  const simd::QuantKernels& k = simd::QuantBest();
  for (size_t j = 0; j < m_; ++j) {
    k.matvec_t(transposed_.data() + j * ksub_ * dsub_, q + j * dsub_, dsub_, ksub_,
               table + j * ksub_);
  }
}

void ProductQuantizer::AdcScan(const float* table, const uint8_t* codes, size_t n, float base,
                               float* out) const {
  const size_t m = m_, ks = ksub_;
  size_t i = 0;
  // Four independent sums hide the latency of the dependent loads.
  for (; i + 4 <= n; i += 4) {
    const uint8_t* c0 = codes + i * m;
    const uint8_t* c1 = c0 + m;
    const uint8_t* c2 = c1 + m;
    const uint8_t* c3 = c2 + m;
    float s0 = base, s1 = base, s2 = base, s3 = base;
    const float* t = table;
    for (size_t j = 0; j < m; ++j, t += ks) {
      s0 += t[c0[j]];
      s1 += t[c1[j]];
      s2 += t[c2[j]];
      s3 += t[c3[j]];
    }
    out[i] = s0;
    out[i + 1] = s1;
    out[i + 2] = s2;
    out[i + 3] = s3;
  }
  for (; i < n; ++i) out[i] = base + Adc(table, codes + i * m);
}

}  // namespace sextant::index
