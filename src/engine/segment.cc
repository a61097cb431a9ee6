#include "engine/segment.h"

#include <algorithm>
#include <cstdio>

#include "engine/filter_planner.h"

namespace sextant::engine {

std::string SegmentFileName(uint64_t id, const char* ext) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "seg-%012llu.%s", static_cast<unsigned long long>(id), ext);
  return buf;
}

std::vector<uint64_t> ToLabels(const roaring::Roaring& r) {
  std::vector<uint64_t> out;
  out.reserve(r.cardinality());
  for (uint32_t x : r) out.push_back(x);
  return out;
}

void KeepBestHits(std::vector<index::SearchHit>& hits, size_t k) {
  const size_t take = std::min(k, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(take), hits.end(),
                    [](const index::SearchHit& a, const index::SearchHit& b) {
                      return a.distance < b.distance || (a.distance == b.distance && a.label < b.label);
                    });
  hits.resize(take);
}

Status Segment::Add(uint64_t, std::span<const float>) {
  return Status::FailedPrecondition("segment " + std::to_string(id_) + " is immutable");
}

Status Segment::Erase(std::span<const uint64_t>) {
  return Status::FailedPrecondition("segment " + std::to_string(id_) + " is immutable");
}

Result<std::vector<index::SearchHit>> Segment::Search(const SegmentQuery& query, size_t k,
                                                      const roaring::Roaring* pass) const {
  return FilterPlanner::Search(*this, query, k, pass);
}

size_t Segment::Remove(std::span<const uint64_t> labels) {
  std::vector<uint64_t> erase;
  size_t removed = 0;
  for (uint64_t label : labels) {
    const auto x = static_cast<uint32_t>(label);
    if (!live_.contains(x)) continue;
    live_.remove(x);
    ++removed;
    if (state_ == State::kMutable) {
      erase.push_back(label);
    } else {
      deleted_.add(x);
    }
  }
  // The labels were live, so the index holds them: this cannot fail.
  if (!erase.empty()) (void)Erase(erase);
  return removed;
}

Status AttachLive(Segment& segment, const std::string& path, const roaring::Roaring& live) {
  roaring::Roaring held;
  for (uint64_t label : segment.HeldLabels()) {
    if (label > 0xffffffffu) return Status::Corruption(path + ": label out of range");
    held.add(static_cast<uint32_t>(label));
  }
  if (!live.isSubset(held)) {
    return Status::Corruption(path + ": the checkpoint places points in this segment that it lacks");
  }
  segment.SetLive(live, held - live);
  return Status::OK();
}

}  // namespace sextant::engine
