// FlatSegment: a segment searched by an exact scan (index::FlatIndex). The collection's
// mutable segment, which takes every fresh write, is one; when full it is frozen and stays
// searchable (exactly, tombstones skipped) until the sealed segment built from it replaces it.
// A flat collection (kFlat) keeps a single mutable one. It has no file: its vectors are in the
// log and the checkpoint.
//
// Thread-safety: as Segment.
#pragma once

#include <memory>

#include "engine/segment.h"
#include "index/flat_index.h"
#include "index/metric.h"

namespace sextant::engine {

class FlatSegment final : public Segment {
 public:
  // A new, empty, mutable segment. Errors: InvalidArgument (dimension).
  static Result<std::unique_ptr<FlatSegment>> Create(uint64_t id, size_t dim, index::Metric metric);

  Kind kind() const override { return Kind::kFlat; }
  bool exact_index() const override { return true; }
  size_t held() const override { return flat_.size(); }
  std::vector<uint64_t> HeldLabels() const override;
  Result<std::vector<index::SearchHit>> SearchIndex(const SegmentQuery& query, size_t k, size_t ef,
                                                    const index::SearchFilter* filter) const override;
  Result<std::vector<index::SearchHit>> SearchExact(const SegmentQuery& query, size_t k,
                                                    const roaring::Roaring& labels) const override;
  Result<std::vector<float>> GetVector(uint64_t label) const override { return flat_.GetVector(label); }
  size_t IndexMemoryUsage() const override { return flat_.MemoryUsage(); }
  // Errors: as FlatIndex::Add; FailedPrecondition once frozen.
  Status Add(uint64_t label, std::span<const float> vector) override;

 private:
  FlatSegment(uint64_t id, index::FlatIndex flat) : Segment(id, State::kMutable), flat_(std::move(flat)) {}
  Status Erase(std::span<const uint64_t> labels) override { return flat_.Remove(labels); }

  index::FlatIndex flat_;
};

}  // namespace sextant::engine
