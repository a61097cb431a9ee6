// VectorStore: one collection's vector index behind one interface (HNSW or flat), keyed by the
// engine's internal point numbers.
// Thread-safety: as the wrapped index — the collection holds its readers-writer lock around it.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "index/flat_index.h"
#include "index/hnsw_index.h"
#include "sextant/database.h"

namespace sextant::engine {

class VectorStore {
 public:
  static Result<std::unique_ptr<VectorStore>> Create(const CollectionConfig& config);
  // Opens an HNSW index file written by Save (hnsw collections only).
  static Result<std::unique_ptr<VectorStore>> Load(const CollectionConfig& config,
                                                   const std::string& path);

  bool is_hnsw() const { return hnsw_ != nullptr; }
  Status Add(uint64_t label, std::span<const float> v);
  Status Remove(std::span<const uint64_t> labels);
  Result<std::vector<index::SearchHit>> Search(std::span<const float> q, size_t k, size_t ef,
                                               const index::SearchFilter* filter) const;
  Result<std::vector<index::SearchHit>> SearchSubset(std::span<const float> q, size_t k,
                                                     std::span<const uint64_t> labels) const;
  // The stored vector: normalised for cosine (the collection keeps each point's norm).
  Result<std::vector<float>> GetVector(uint64_t label) const;
  // HNSW only: writes the graph file.
  Status Save(const std::string& path) const;
  size_t size() const;
  size_t MemoryUsage() const;

 private:
  std::unique_ptr<index::HnswIndex> hnsw_;
  std::unique_ptr<index::FlatIndex> flat_;
};

index::Metric ToIndexMetric(Metric m);

}  // namespace sextant::engine
