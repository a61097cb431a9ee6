// TrainedSegment: a sealed segment indexed by a trained index::VectorIndex (ivf-flat, ivf-pq,
// ivf-sq8, pq, sq8, hnsw-sq8), in seg-<id>.idx, with its full float32 vectors beside it in
// seg-<id>.vec (RawVectors, memory-mapped). The index answers approximately from its codes;
// the full vectors re-rank its candidates (SegmentQuery::rerank), answer the exact scans of
// the filter planner and GetVector, and feed merges.
//
// Thread-safety: as Segment (index and vectors are immutable once the segment exists).
#pragma once

#include <memory>
#include <span>
#include <string>

#include "common/mapped_file.h"
#include "engine/raw_vectors.h"
#include "engine/segment.h"
#include "index/vector_codec.h"
#include "index/vector_index.h"

namespace sextant::engine {

class TrainedSegment final : public Segment {
 public:
  static std::string IndexFileName(uint64_t id) { return SegmentFileName(id, "idx"); }
  static std::string VectorsFileName(uint64_t id) { return SegmentFileName(id, "vec"); }

  // Trains an index of `spec` on `rows` (labels.size() × dim floats), adds them, and writes
  // dir/IndexFileName(id) and dir/VectorsFileName(id) through `files`. IVF types train fewer
  // lists when the rows are few (about 39 per list). Returns null, writing nothing, when the
  // rows are too few to train at all (the caller indexes them otherwise). `exact` is the
  // float32 codec that scores full vectors (shared by the collection's segments).
  static Result<std::unique_ptr<TrainedSegment>> Build(uint64_t id, size_t dim, const index::IndexSpec& spec,
                                                       std::span<const float> rows,
                                                       std::span<const uint64_t> labels,
                                                       const std::string& dir, FileWriter* files,
                                                       std::shared_ptr<const index::VectorCodec> exact);
  // Opens dir/file and dir/vectors_file as sealed segment `id`. Errors: those of
  // LoadVectorIndex and RawVectors::Open; Corruption when dimension, metric or size disagree.
  static Result<std::unique_ptr<TrainedSegment>> Open(uint64_t id, const std::string& dir,
                                                      const std::string& file,
                                                      const std::string& vectors_file,
                                                      std::shared_ptr<const index::VectorCodec> exact);

  Kind kind() const override { return Kind::kTrained; }
  bool exact_index() const override { return false; }
  size_t held() const override { return index_->size(); }
  std::vector<uint64_t> HeldLabels() const override;
  Result<std::vector<index::SearchHit>> SearchIndex(const SegmentQuery& query, size_t k, size_t ef,
                                                    const index::SearchFilter* filter) const override;
  Result<std::vector<index::SearchHit>> SearchExact(const SegmentQuery& query, size_t k,
                                                    const roaring::Roaring& labels) const override;
  Result<std::vector<float>> GetVector(uint64_t label) const override;
  size_t IndexMemoryUsage() const override { return index_->MemoryUsage() + raw_->MemoryUsage(); }

 private:
  TrainedSegment(uint64_t id, std::unique_ptr<index::VectorIndex> index, std::unique_ptr<RawVectors> raw,
                 std::shared_ptr<const index::VectorCodec> exact, std::string file, std::string vectors_file)
      : Segment(id, State::kSealed), index_(std::move(index)), raw_(std::move(raw)), exact_(std::move(exact)) {
    file_ = std::move(file);
    vectors_file_ = std::move(vectors_file);
  }
  // Exact distance between a prepared query and a full float32 row.
  float ExactDistance(std::span<const float> prepared, const float* row) const {
    return exact_->ExactDistance(prepared.data(), reinterpret_cast<const uint8_t*>(row));
  }

  std::unique_ptr<index::VectorIndex> index_;
  std::unique_ptr<RawVectors> raw_;
  std::shared_ptr<const index::VectorCodec> exact_;
};

}  // namespace sextant::engine
