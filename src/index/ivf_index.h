// IvfIndex: an inverted-file index. Training runs k-means (kmeans.h) over a sample to get nlist
// coarse centroids; every added vector goes to the list of its nearest centroid. A search
// ranks the centroids, scans the codes of the nprobe nearest lists and keeps the k best.
// Without a coarse quantizer (IvfOptions::coarse = false) there is one list: a flat scan over
// compressed codes ("pq", "sq8").
//
// What a list stores per vector (IvfOptions::codes):
//  - kFlat: the vector through VectorCodec (f32, f16, or u8 for byte data: exact integer
//    distances at a quarter of the bytes).
//  - kSq8:  VectorCodec SQ8 codes (one byte per dimension, trained per-dimension min/max).
//  - kPq:   ProductQuantizer codes of the residual x - centroid (of x itself without a coarse
//    quantizer). Under L2 the distance |q - c - r|^2 splits into |q - c|^2 (known from ranking
//    the centroids), a per-list table |r_j|^2 + 2 c_j.r_j precomputed at training, and -2 q.r_j
//    (one table per query); so a probed list costs one table addition and m lookups per code.
//    8-bit codes are scanned with four codes in flight; 4-bit codes are packed in blocks of 32
//    and scanned with the in-register lookup of simd/quant.h on byte-quantized tables, which
//    serves as a lower-bound filter: a code whose bound can enter the top list is re-scored
//    with the float tables, so results equal plain ADC.
//
// Labels are unique (a LabelMap). Removing points is not supported (sealed segments).
// Thread-safety: as VectorIndex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "index/kmeans.h"
#include "index/pq.h"
#include "index/vector_codec.h"
#include "index/vector_index.h"

namespace sextant::index {

enum class CodeKind : uint32_t { kFlat = 0, kSq8 = 1, kPq = 2 };

struct IvfOptions {
  Metric metric = Metric::kL2;          // l2, ip or cosine
  bool coarse = true;                   // k-means lists; false: one list, no residuals
  size_t nlist = 256;
  CodeKind codes = CodeKind::kFlat;
  StorageType flat_storage = StorageType::kFloat32;  // kFlat: f32, f16 or u8
  size_t pq_m = 8;
  size_t pq_nbits = 8;
  size_t search_dims = 0;               // index the first D dimensions (0: all)
  bool keep_originals = false;          // full vectors for re-ranking
  StorageType original_storage = StorageType::kFloat32;  // f32 or u8
  KMeansOptions kmeans;
};

class IvfIndex final : public VectorIndex {
 public:
  // Errors: InvalidArgument for l1, nlist 0 or above 2^20, PQ m/nbits (see ProductQuantizer),
  // search_dims > dim, search_dims < dim without keep_originals, sq8 or a bad original
  // storage, u8 codes with cosine.
  static Result<std::unique_ptr<IvfIndex>> Create(size_t dim, const IvfOptions& options);
  // Reads a file written by Save into memory (see VectorIndex / LoadVectorIndex for errors).
  static Result<std::unique_ptr<IvfIndex>> Load(const std::string& path, bool verify_checksums = true);

  std::string type() const override;
  size_t dim() const override { return dim_; }
  Metric metric() const override { return options_.metric; }
  size_t size() const override { return count_; }
  bool is_trained() const override { return trained_; }
  Status Train(std::span<const float> vectors) override;
  Status Add(std::span<const float> vectors, std::span<const uint64_t> labels) override;
  Result<std::vector<SearchHit>> Search(std::span<const float> query, size_t k,
                                        const SearchParams& params,
                                        const SearchFilter* filter = nullptr) const override;
  Status Save(const std::string& path, FileWriter* writer = nullptr) const override;
  size_t MemoryUsage() const override;
  size_t RerankMemoryUsage() const override;

  const IvfOptions& options() const { return options_; }
  size_t nlist() const { return lists_.size(); }
  size_t list_size(size_t l) const { return lists_[l].labels.size(); }
  // Coarse centroids (nlist x search dims), empty without a coarse quantizer.
  const std::vector<float>& centroids() const { return centroids_; }
  const ProductQuantizer* pq() const { return pq_ ? &*pq_ : nullptr; }

 private:
  struct List {
    std::vector<uint8_t> codes;
    std::vector<uint64_t> labels;
    std::vector<uint8_t> originals;  // keep_originals: orig_codec_ codes
  };
  struct Candidate {
    float distance;
    uint32_t list;
    uint32_t offset;
  };
  class TopK;

  IvfIndex(size_t dim, const IvfOptions& options, VectorCodec orig_codec);

  bool ip() const { return options_.metric != Metric::kL2; }
  // Lists are assigned and probed by inner product for kInnerProduct, by L2 otherwise (cosine
  // vectors are normalised, and k-means minimises L2).
  bool coarse_ip() const { return options_.metric == Metric::kInnerProduct; }
  bool pq4() const { return pq_ && pq_->nbits() == 4; }
  // The first sdim_ values of x, normalised for cosine.
  void Prepare(const float* x, float* out) const;
  size_t ListCodeBytes(size_t n) const;
  void BuildPrecomputed();
  // Per-query PQ table (see the class comment) and the per-list table / base distance.
  void QueryTable(const float* q, float* table) const;
  float ListTable(size_t list, float coarse_distance, const float* q, const float* qtable,
                  float* table) const;
  void ScanList(size_t l, float coarse_distance, const float* q, const uint8_t* qcode,
                const float* qtable, const SearchFilter* filter, TopK& top) const;

  size_t dim_;
  size_t sdim_;
  IvfOptions options_;
  bool trained_ = false;
  size_t count_ = 0;
  std::vector<float> centroids_;       // nlist x sdim_ (coarse only)
  std::optional<VectorCodec> codec_;   // kFlat / kSq8 (kSq8: set by Train)
  std::optional<ProductQuantizer> pq_;  // kPq
  std::vector<float> precomputed_;     // L2 + coarse + PQ: nlist x m x ksub
  VectorCodec orig_codec_;
  std::vector<List> lists_;
  LabelMap label_map_;                 // label -> list
  const simd::Kernels* k_;
  const simd::QuantKernels* qk_;
};

}  // namespace sextant::index
