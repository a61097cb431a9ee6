// HnswSq8Index: an HNSW graph (HnswIndex) whose stored codes are SQ8 (one byte per dimension
// with per-dimension min/max learned by Train), about a quarter of float32's memory. The graph
// is built and walked on SQ8 distances; with keep_originals the best `rerank` candidates are
// re-scored exactly from full-precision copies.
//
// Files: Save writes the HNSW file (format version 2 carries the SQ8 parameters) and, with
// keep_originals, a sidecar `path + ".rerank"` (labels and vectors, CRC-32C checked).
// Thread-safety: as VectorIndex.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "index/hnsw_index.h"
#include "index/vector_codec.h"
#include "index/vector_index.h"

namespace sextant::index {

class HnswSq8Index final : public VectorIndex {
 public:
  // Errors: InvalidArgument for l1, search_dims (not supported here), a bad original storage,
  // M or ef_construction out of range.
  static Result<std::unique_ptr<HnswSq8Index>> Create(size_t dim, const IndexSpec& spec);
  // Opens an HNSW file with sq8 storage (and its sidecar when present).
  static Result<std::unique_ptr<HnswSq8Index>> Load(const std::string& path, bool verify_checksums = true);
  // The same, for a graph already loaded from `path` (HnswIndex::Load): reads the sidecar.
  static Result<std::unique_ptr<HnswSq8Index>> FromGraph(std::unique_ptr<HnswIndex> graph,
                                                         const std::string& path, bool verify_checksums);

  std::string type() const override { return "hnsw-sq8"; }
  size_t dim() const override { return dim_; }
  Metric metric() const override { return spec_.metric; }
  size_t size() const override { return hnsw_ ? hnsw_->size() : 0; }
  bool is_trained() const override { return hnsw_ != nullptr; }
  Status Train(std::span<const float> vectors) override;
  Status Add(std::span<const float> vectors, std::span<const uint64_t> labels) override;
  Result<std::vector<SearchHit>> Search(std::span<const float> query, size_t k,
                                        const SearchParams& params,
                                        const SearchFilter* filter = nullptr) const override;
  Status Save(const std::string& path, FileWriter* writer = nullptr) const override;
  size_t MemoryUsage() const override { return hnsw_ ? hnsw_->MemoryUsage() : sizeof(*this); }
  size_t RerankMemoryUsage() const override {
    return originals_.capacity() + orig_labels_.capacity() * sizeof(uint64_t) +
           orig_map_.MemoryUsage();
  }
  const HnswIndex* hnsw() const { return hnsw_.get(); }

 private:
  HnswSq8Index(size_t dim, const IndexSpec& spec, VectorCodec orig)
      : dim_(dim), spec_(spec), orig_codec_(std::move(orig)) {}

  size_t dim_;
  IndexSpec spec_;
  std::unique_ptr<HnswIndex> hnsw_;
  VectorCodec orig_codec_;
  std::vector<uint8_t> originals_;  // row r: orig_codec_ code
  std::vector<uint64_t> orig_labels_;
  LabelMap orig_map_;               // label -> row
};

}  // namespace sextant::index
