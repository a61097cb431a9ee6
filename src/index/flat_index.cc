#include "index/flat_index.h"

#include <cblas.h>

#include <algorithm>
#include <unordered_set>

namespace sextant::index {
namespace {

// Bounded max-heap keeping the k smallest (distance, label) pairs.
class TopK {
 public:
  explicit TopK(size_t k) : k_(k) { heap_.reserve(k + 1); }
  void Push(float d, uint64_t label) {
    if (heap_.size() == k_ && !Better(d, label, heap_.front())) return;
    heap_.push_back({label, d});
    std::push_heap(heap_.begin(), heap_.end(), Worse);
    if (heap_.size() > k_) {
      std::pop_heap(heap_.begin(), heap_.end(), Worse);
      heap_.pop_back();
    }
  }
  std::vector<SearchHit> Take() {
    std::sort_heap(heap_.begin(), heap_.end(), Worse);
    return std::move(heap_);
  }

 private:
  static bool Better(float d, uint64_t label, const SearchHit& h) {
    return d < h.distance || (d == h.distance && label < h.label);
  }
  static bool Worse(const SearchHit& a, const SearchHit& b) {
    return Better(a.distance, a.label, b);
  }
  size_t k_;
  std::vector<SearchHit> heap_;
};

constexpr size_t kBlasMinQueries = 4;   // below this the kernel loop wins
constexpr size_t kBlasBlockRows = 4096; // base rows per sgemm call (bounds scratch memory)

}  // namespace

Result<FlatIndex> FlatIndex::Create(size_t dim, Metric metric) {
  SEXTANT_ASSIGN_OR_RETURN(VectorCodec codec,
                           VectorCodec::Create(dim, metric, StorageType::kFloat32));
  return FlatIndex(dim, metric, std::move(codec));
}

Status FlatIndex::Add(uint64_t label, std::span<const float> vector) {
  return AddBatch(vector, std::span<const uint64_t>(&label, 1));
}

Status FlatIndex::AddBatch(std::span<const float> vectors, std::span<const uint64_t> labels) {
  const size_t n = labels.size();
  if (vectors.size() != n * dim_) {
    return Status::InvalidArgument("vector has " + std::to_string(vectors.size()) +
                                   " values, expected " + std::to_string(n * dim_) +
                                   " (dimension " + std::to_string(dim_) + ")");
  }
  std::vector<float> encoded(n * dim_);
  std::unordered_set<uint64_t> seen;
  for (size_t i = 0; i < n; ++i) {
    Status st = codec_.Encode(vectors.data() + i * dim_,
                              reinterpret_cast<uint8_t*>(encoded.data() + i * dim_));
    if (!st.ok()) return n > 1 ? st.WithContext("row " + std::to_string(i)) : st;
    if (label_map_.Find(labels[i]) != LabelMap::kAbsent || !seen.insert(labels[i]).second) {
      return Status::AlreadyExists("label " + std::to_string(labels[i]) +
                                   " is already in the index");
    }
  }
  const simd::Kernels& k = simd::Best();
  for (size_t i = 0; i < n; ++i) {
    const float* v = encoded.data() + i * dim_;
    label_map_.Put(labels[i], static_cast<uint32_t>(labels_.size()));
    labels_.push_back(labels[i]);
    data_.insert(data_.end(), v, v + dim_);
    norms_.push_back(k.ip_f32(v, v, dim_));
  }
  return Status::OK();
}

Status FlatIndex::Remove(std::span<const uint64_t> labels) {
  for (uint64_t label : labels) {
    if (label_map_.Find(label) == LabelMap::kAbsent) {
      return Status::NotFound("label " + std::to_string(label) + " is not in the index");
    }
  }
  for (uint64_t label : labels) {
    const uint32_t i = label_map_.Find(label);
    if (i == LabelMap::kAbsent) continue;  // listed twice
    const size_t last = labels_.size() - 1;
    if (i != last) {
      std::copy(row(last), row(last) + dim_, data_.begin() + i * dim_);
      norms_[i] = norms_[last];
      labels_[i] = labels_[last];
      label_map_.Put(labels_[i], i);
    }
    label_map_.Erase(label);
    labels_.pop_back();
    norms_.pop_back();
    data_.resize(labels_.size() * dim_);
  }
  data_.shrink_to_fit();
  return Status::OK();
}

Status FlatIndex::ValidateQueries(std::span<const float> queries, size_t k) const {
  if (k == 0) return Status::InvalidArgument("k must be at least 1");
  if (queries.size() % dim_ != 0 || queries.empty()) {
    return Status::InvalidArgument("query has " + std::to_string(queries.size()) +
                                   " values, index has dimension " + std::to_string(dim_));
  }
  for (size_t q = 0; q < queries.size() / dim_; ++q) {
    Status st = codec_.ValidateQuery(queries.data() + q * dim_);
    if (!st.ok()) return st;
  }
  return Status::OK();
}

template <typename ForEachRow>
Result<std::vector<SearchHit>> FlatIndex::ScanTopK(std::span<const float> query, size_t k,
                                                   ForEachRow&& for_each_row) const {
  if (query.size() != dim_) {
    return Status::InvalidArgument("query has dimension " + std::to_string(query.size()) +
                                   ", index has " + std::to_string(dim_));
  }
  SEXTANT_RETURN_IF_ERROR(ValidateQueries(query, k));
  std::vector<float> q(dim_);
  codec_.EncodeQuery(query.data(), reinterpret_cast<uint8_t*>(q.data()));
  const auto* qc = reinterpret_cast<const uint8_t*>(q.data());
  TopK top(k);
  for_each_row([&](size_t i) {
    top.Push(codec_.QueryDistance(qc, reinterpret_cast<const uint8_t*>(row(i))), labels_[i]);
  });
  return top.Take();
}

Result<std::vector<SearchHit>> FlatIndex::Search(std::span<const float> query, size_t k,
                                                 const SearchFilter* filter) const {
  return ScanTopK(query, k, [&](auto&& visit) {
    for (size_t i = 0; i < labels_.size(); ++i) {
      if (filter == nullptr || filter->Accept(labels_[i])) visit(i);
    }
  });
}

Result<std::vector<std::vector<SearchHit>>> FlatIndex::SearchBatch(
    std::span<const float> queries, size_t k, const SearchFilter* filter) const {
  SEXTANT_RETURN_IF_ERROR(ValidateQueries(queries, k));
  const size_t nq = queries.size() / dim_;
  std::vector<std::vector<SearchHit>> out;
  out.reserve(nq);
  if (nq < kBlasMinQueries || metric_ == Metric::kL1) {
    for (size_t q = 0; q < nq; ++q) {
      SEXTANT_ASSIGN_OR_RETURN(auto hits, Search(queries.subspan(q * dim_, dim_), k, filter));
      out.push_back(std::move(hits));
    }
    return out;
  }
  std::vector<float> qs(nq * dim_);
  std::vector<float> qnorm(nq);
  const simd::Kernels& kern = simd::Best();
  for (size_t q = 0; q < nq; ++q) {
    codec_.EncodeQuery(queries.data() + q * dim_, reinterpret_cast<uint8_t*>(&qs[q * dim_]));
    qnorm[q] = kern.ip_f32(&qs[q * dim_], &qs[q * dim_], dim_);
  }
  std::vector<TopK> tops(nq, TopK(k));
  const size_t n = labels_.size();
  std::vector<float> dots(nq * std::min(n, kBlasBlockRows));
  for (size_t start = 0; start < n; start += kBlasBlockRows) {
    const size_t rows = std::min(kBlasBlockRows, n - start);
    // dots[q][r] = queries[q] . base[start + r]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nq),
                static_cast<int>(rows), static_cast<int>(dim_), 1.0f, qs.data(),
                static_cast<int>(dim_), row(start), static_cast<int>(dim_), 0.0f, dots.data(),
                static_cast<int>(rows));
    for (size_t q = 0; q < nq; ++q) {
      const float* dq = dots.data() + q * rows;
      for (size_t r = 0; r < rows; ++r) {
        const uint64_t label = labels_[start + r];
        if (filter != nullptr && !filter->Accept(label)) continue;
        const float d = metric_ == Metric::kL2
                            ? std::max(0.0f, qnorm[q] + norms_[start + r] - 2.0f * dq[r])
                            : 1.0f - dq[r];
        tops[q].Push(d, label);
      }
    }
  }
  for (auto& t : tops) out.push_back(t.Take());
  return out;
}

Result<std::vector<SearchHit>> FlatIndex::SearchSubset(std::span<const float> query, size_t k,
                                                       std::span<const uint64_t> labels) const {
  return ScanTopK(query, k, [&](auto&& visit) {
    for (uint64_t label : labels) {
      const uint32_t i = label_map_.Find(label);
      if (i != LabelMap::kAbsent) visit(i);
    }
  });
}

Result<std::vector<float>> FlatIndex::GetVector(uint64_t label) const {
  const uint32_t i = label_map_.Find(label);
  if (i == LabelMap::kAbsent) {
    return Status::NotFound("label " + std::to_string(label) + " is not in the index");
  }
  return std::vector<float>(row(i), row(i) + dim_);
}

size_t FlatIndex::MemoryUsage() const {
  return data_.capacity() * sizeof(float) + norms_.capacity() * sizeof(float) +
         labels_.capacity() * sizeof(uint64_t) + label_map_.MemoryUsage();
}

}  // namespace sextant::index
