#include "engine/trained_segment.h"

#include <algorithm>

namespace sextant::engine {

Result<std::unique_ptr<TrainedSegment>> TrainedSegment::Build(
    uint64_t id, size_t dim, const index::IndexSpec& spec_in, std::span<const float> rows,
    std::span<const uint64_t> labels, const std::string& dir, FileWriter* files,
    std::shared_ptr<const index::VectorCodec> exact) {
  index::IndexSpec spec = spec_in;
  const size_t n = labels.size();
  // A segment too small for the configured lists trains fewer (k-means wants ~39 per list).
  if (spec.type.rfind("ivf", 0) == 0) spec.nlist = std::clamp<size_t>(n / 39, 1, spec.nlist);
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<index::VectorIndex> idx, index::CreateVectorIndex(dim, spec));
  if (!idx->Train(rows).ok()) return std::unique_ptr<TrainedSegment>();  // too few to train
  SEXTANT_RETURN_IF_ERROR(idx->Add(rows, labels));
  std::string file = IndexFileName(id);
  std::string vectors_file = VectorsFileName(id);
  SEXTANT_RETURN_IF_ERROR(idx->Save(dir + "/" + file, files));
  SEXTANT_RETURN_IF_ERROR(RawVectors::Write(dir + "/" + vectors_file, dim, labels, rows, files));
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<RawVectors> raw, RawVectors::Open(dir + "/" + vectors_file));
  return std::unique_ptr<TrainedSegment>(new TrainedSegment(id, std::move(idx), std::move(raw), std::move(exact),
                                                            std::move(file), std::move(vectors_file)));
}

Result<std::unique_ptr<TrainedSegment>> TrainedSegment::Open(uint64_t id, const std::string& dir,
                                                             const std::string& file,
                                                             const std::string& vectors_file,
                                                             std::shared_ptr<const index::VectorCodec> exact) {
  const std::string path = dir + "/" + file;
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<index::VectorIndex> idx, index::LoadVectorIndex(path));
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<RawVectors> raw, RawVectors::Open(dir + "/" + vectors_file));
  if (idx->dim() != exact->dim() || idx->metric() != exact->metric() || raw->dim() != exact->dim() ||
      raw->size() != idx->size()) {
    return Status::Corruption(path + ": segment dimension, metric or size differs from the collection's");
  }
  return std::unique_ptr<TrainedSegment>(
      new TrainedSegment(id, std::move(idx), std::move(raw), std::move(exact), file, vectors_file));
}

std::vector<uint64_t> TrainedSegment::HeldLabels() const {
  std::vector<uint64_t> out;
  out.reserve(raw_->size());
  for (size_t i = 0; i < raw_->size(); ++i) out.push_back(raw_->LabelAt(i));
  return out;
}

Result<std::vector<index::SearchHit>> TrainedSegment::SearchIndex(const SegmentQuery& query, size_t k,
                                                                  size_t ef,
                                                                  const index::SearchFilter* filter) const {
  index::SearchParams sp;
  sp.nprobe = query.nprobe;
  sp.ef = ef;
  // Never more candidates than the segment holds: a rerank of 10^12 asked for through the
  // embedded API (the codec bounds it for the CLI and the server) must not size buffers by it.
  const size_t fetch = std::min(std::max(k, query.rerank), std::max(k, raw_->size()));
  SEXTANT_ASSIGN_OR_RETURN(auto hits, index_->Search(query.vector, fetch, sp, filter));
  if (query.rerank > 0) {
    for (auto& h : hits) {
      const float* row = raw_->Find(h.label);
      if (row != nullptr) h.distance = ExactDistance(query.prepared, row);
    }
    KeepBestHits(hits, k);
  } else if (hits.size() > k) {
    hits.resize(k);
  }
  return hits;
}

Result<std::vector<index::SearchHit>> TrainedSegment::SearchExact(const SegmentQuery& query, size_t k,
                                                                  const roaring::Roaring& labels) const {
  std::vector<index::SearchHit> hits;
  hits.reserve(labels.cardinality());
  for (uint32_t x : labels) {
    const float* row = raw_->Find(x);
    if (row != nullptr) hits.push_back({x, ExactDistance(query.prepared, row)});
  }
  KeepBestHits(hits, k);
  return hits;
}

Result<std::vector<float>> TrainedSegment::GetVector(uint64_t label) const {
  const float* row = raw_->Find(label);
  if (row == nullptr) return Status::NotFound("label " + std::to_string(label) + " is not in the segment");
  return std::vector<float>(row, row + raw_->dim());
}

}  // namespace sextant::engine
