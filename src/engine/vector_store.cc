#include "engine/vector_store.h"

namespace sextant::engine {

index::Metric ToIndexMetric(Metric m) {
  switch (m) {
    case Metric::kL2: return index::Metric::kL2;
    case Metric::kInnerProduct: return index::Metric::kInnerProduct;
    case Metric::kCosine: return index::Metric::kCosine;
  }
  return index::Metric::kL2;
}

namespace {
index::HnswOptions HnswOptionsFor(const CollectionConfig& c) {
  index::HnswOptions o;
  o.metric = ToIndexMetric(c.metric);
  o.M = c.hnsw.M;
  o.ef_construction = c.hnsw.ef_construction;
  return o;
}
}  // namespace

Result<std::unique_ptr<VectorStore>> VectorStore::Create(const CollectionConfig& config) {
  auto s = std::make_unique<VectorStore>();
  if (config.index == IndexType::kHnsw) {
    SEXTANT_ASSIGN_OR_RETURN(s->hnsw_, index::HnswIndex::Create(config.dimension, HnswOptionsFor(config)));
  } else {
    SEXTANT_ASSIGN_OR_RETURN(index::FlatIndex f,
                             index::FlatIndex::Create(config.dimension, ToIndexMetric(config.metric)));
    s->flat_ = std::make_unique<index::FlatIndex>(std::move(f));
  }
  return s;
}

Result<std::unique_ptr<VectorStore>> VectorStore::Load(const CollectionConfig& config,
                                                       const std::string& path) {
  auto s = std::make_unique<VectorStore>();
  SEXTANT_ASSIGN_OR_RETURN(s->hnsw_, index::HnswIndex::Load(path));
  const auto& o = s->hnsw_->options();
  if (s->hnsw_->dim() != config.dimension || o.metric != ToIndexMetric(config.metric)) {
    return Status::Corruption(path + ": index dimension or metric differs from the collection's");
  }
  return s;
}

Status VectorStore::Add(uint64_t label, std::span<const float> v) {
  return hnsw_ ? hnsw_->Add(label, v) : flat_->Add(label, v);
}

Status VectorStore::Remove(std::span<const uint64_t> labels) {
  if (labels.empty()) return Status::OK();
  return hnsw_ ? hnsw_->Remove(labels) : flat_->Remove(labels);
}

Result<std::vector<index::SearchHit>> VectorStore::Search(std::span<const float> q, size_t k,
                                                          size_t ef,
                                                          const index::SearchFilter* filter) const {
  return hnsw_ ? hnsw_->Search(q, k, ef, filter) : flat_->Search(q, k, filter);
}

Result<std::vector<index::SearchHit>> VectorStore::SearchSubset(
    std::span<const float> q, size_t k, std::span<const uint64_t> labels) const {
  return hnsw_ ? hnsw_->SearchSubset(q, k, labels) : flat_->SearchSubset(q, k, labels);
}

Result<std::vector<float>> VectorStore::GetVector(uint64_t label) const {
  return hnsw_ ? hnsw_->GetVector(label) : flat_->GetVector(label);
}

Status VectorStore::Save(const std::string& path) const {
  if (!hnsw_) return Status::Internal("only HNSW stores save an index file");
  return hnsw_->Save(path);
}

size_t VectorStore::size() const { return hnsw_ ? hnsw_->size() : flat_->size(); }

size_t VectorStore::MemoryUsage() const {
  return hnsw_ ? hnsw_->MemoryUsage() : flat_->MemoryUsage();
}

}  // namespace sextant::engine
