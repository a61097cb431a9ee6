#include "engine/flat_segment.h"

namespace sextant::engine {

Result<std::unique_ptr<FlatSegment>> FlatSegment::Create(uint64_t id, size_t dim, index::Metric metric) {
  SEXTANT_ASSIGN_OR_RETURN(index::FlatIndex flat, index::FlatIndex::Create(dim, metric));
  return std::unique_ptr<FlatSegment>(new FlatSegment(id, std::move(flat)));
}

std::vector<uint64_t> FlatSegment::HeldLabels() const {
  std::vector<uint64_t> out = ToLabels(live_);
  for (uint32_t x : deleted_) out.push_back(x);
  return out;
}

Result<std::vector<index::SearchHit>> FlatSegment::SearchIndex(const SegmentQuery& query, size_t k,
                                                               size_t /*ef*/,
                                                               const index::SearchFilter* filter) const {
  return flat_.Search(query.vector, k, filter);
}

Result<std::vector<index::SearchHit>> FlatSegment::SearchExact(const SegmentQuery& query, size_t k,
                                                               const roaring::Roaring& labels) const {
  return flat_.SearchSubset(query.vector, k, ToLabels(labels));
}

Status FlatSegment::Add(uint64_t label, std::span<const float> vector) {
  if (state_ != State::kMutable) return Segment::Add(label, vector);
  SEXTANT_RETURN_IF_ERROR(flat_.Add(label, vector));
  live_.add(static_cast<uint32_t>(label));
  return Status::OK();
}

}  // namespace sextant::engine
