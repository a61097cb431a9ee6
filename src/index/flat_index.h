// FlatIndex: exact nearest-neighbour search by scanning every stored vector.
//
// Single queries use the SIMD kernels; batches of queries under L2, inner product or cosine
// go through OpenBLAS sgemm (|x|^2 - 2 x.q + |q|^2 for L2), which is several times faster
// than one kernel call per pair once there are a few queries. Removal swaps the last vector
// into the hole, so memory is really freed.
// Thread-safety: Search/SearchBatch may run concurrently with each other; Add and Remove
// need exclusive access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "index/metric.h"
#include "index/types.h"
#include "index/vector_codec.h"
#include "sextant/status.h"

namespace sextant::index {

class FlatIndex {
 public:
  static Result<FlatIndex> Create(size_t dim, Metric metric);

  // Errors: InvalidArgument (dimension, NaN/Inf), AlreadyExists (label present).
  Status Add(uint64_t label, std::span<const float> vector);
  // All-or-nothing batch insert.
  Status AddBatch(std::span<const float> vectors, std::span<const uint64_t> labels);
  // Errors: NotFound naming the first absent label; nothing is removed then.
  Status Remove(std::span<const uint64_t> labels);

  // Exact top-k (ascending distance, ties by label).
  Result<std::vector<SearchHit>> Search(std::span<const float> query, size_t k,
                                        const SearchFilter* filter = nullptr) const;
  // Exact top-k for nq queries (row-major). Uses sgemm when it pays off.
  Result<std::vector<std::vector<SearchHit>>> SearchBatch(std::span<const float> queries,
                                                          size_t k,
                                                          const SearchFilter* filter = nullptr) const;

  // Exact top-k among the given labels (absent ones skipped).
  Result<std::vector<SearchHit>> SearchSubset(std::span<const float> query, size_t k,
                                              std::span<const uint64_t> labels) const;
  // The stored vector (normalised for cosine). NotFound if absent.
  Result<std::vector<float>> GetVector(uint64_t label) const;

  size_t size() const { return labels_.size(); }
  size_t dim() const { return dim_; }
  Metric metric() const { return metric_; }
  size_t MemoryUsage() const;

 private:
  FlatIndex(size_t dim, Metric metric, VectorCodec codec)
      : dim_(dim), metric_(metric), codec_(std::move(codec)) {}
  Status ValidateQueries(std::span<const float> queries, size_t k) const;
  // Validates the query, then keeps the k best of the rows `for_each_row(visit)` visits.
  template <typename ForEachRow>
  Result<std::vector<SearchHit>> ScanTopK(std::span<const float> query, size_t k,
                                          ForEachRow&& for_each_row) const;
  const float* row(size_t i) const { return data_.data() + i * dim_; }

  size_t dim_;
  Metric metric_;
  VectorCodec codec_;          // f32 storage: validation, cosine normalisation, distances
  std::vector<float> data_;    // size() * dim_ floats (normalised for cosine)
  std::vector<float> norms_;   // squared norms, for the sgemm path under L2
  std::vector<uint64_t> labels_;
  LabelMap label_map_;
};

}  // namespace sextant::index
