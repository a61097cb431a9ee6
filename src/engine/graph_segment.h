// GraphSegment: a sealed segment indexed by an HNSW graph over its full vectors, in an
// immutable file seg-<id>.hnsw (index::HnswIndex's format). Searched approximately (the graph
// walk), or exactly over a subset (the planner's path for filters few points pass).
//
// Thread-safety: as Segment (the graph is never changed once the segment exists).
#pragma once

#include <memory>
#include <string>

#include "common/mapped_file.h"
#include "engine/segment.h"
#include "index/hnsw_index.h"
#include "index/metric.h"

namespace sextant::engine {

class GraphSegment final : public Segment {
 public:
  static std::string FileName(uint64_t id) { return SegmentFileName(id, "hnsw"); }

  // Writes `graph` to dir/FileName(id) through `files` (nullptr: PosixFileWriter()) and makes it
  // sealed segment `id` (no live vectors until SetLive).
  static Result<std::unique_ptr<GraphSegment>> Write(uint64_t id, std::unique_ptr<index::HnswIndex> graph,
                                                     const std::string& dir, FileWriter* files);
  // Opens dir/file as sealed segment `id`. Errors: those of HnswIndex::Load; Corruption when
  // its dimension or metric is not the collection's.
  static Result<std::unique_ptr<GraphSegment>> Open(uint64_t id, const std::string& dir,
                                                    const std::string& file, size_t dim,
                                                    index::Metric metric);

  Kind kind() const override { return Kind::kGraph; }
  bool exact_index() const override { return false; }
  size_t held() const override { return graph_->size(); }
  std::vector<uint64_t> HeldLabels() const override { return graph_->Labels(); }
  Result<std::vector<index::SearchHit>> SearchIndex(const SegmentQuery& query, size_t k, size_t ef,
                                                    const index::SearchFilter* filter) const override {
    return graph_->Search(query.vector, k, ef, filter);
  }
  Result<std::vector<index::SearchHit>> SearchExact(const SegmentQuery& query, size_t k,
                                                    const roaring::Roaring& labels) const override {
    return graph_->SearchSubset(query.vector, k, ToLabels(labels));
  }
  Result<std::vector<float>> GetVector(uint64_t label) const override { return graph_->GetVector(label); }
  size_t IndexMemoryUsage() const override { return graph_->MemoryUsage(); }

 private:
  GraphSegment(uint64_t id, std::unique_ptr<index::HnswIndex> graph, std::string file)
      : Segment(id, State::kSealed), graph_(std::move(graph)) {
    file_ = std::move(file);
  }

  std::unique_ptr<index::HnswIndex> graph_;
};

}  // namespace sextant::engine
