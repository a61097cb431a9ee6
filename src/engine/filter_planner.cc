#include "engine/filter_planner.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace sextant::engine {

FilterPlanner::Plan FilterPlanner::Choose(size_t candidates, size_t held, bool restricted,
                                          bool exact_index) {
  Plan plan;
  if (!restricted) return plan;  // kIndex
  const bool few = candidates <= std::max(kExactScanMinPoints,
                                          static_cast<size_t>(kExactScanFraction * static_cast<double>(held)));
  if (exact_index || few) {
    plan.strategy = Strategy::kExactScan;
    return plan;
  }
  plan.strategy = Strategy::kFilteredIndex;
  const double share = static_cast<double>(candidates) / static_cast<double>(std::max<size_t>(held, 1));
  plan.ef_boost = static_cast<size_t>(std::ceil(std::min(kMaxEfBoost, 1.0 / share)));
  return plan;
}

Result<std::vector<index::SearchHit>> FilterPlanner::Search(const Segment& segment,
                                                            const SegmentQuery& query, size_t k,
                                                            const roaring::Roaring* pass) {
  const size_t live_n = segment.live_count();
  if (live_n == 0) return std::vector<index::SearchHit>{};
  // The points that may be returned: the live ones that pass.
  std::optional<roaring::Roaring> subset;
  size_t candidates = live_n;
  if (pass != nullptr) {
    subset.emplace(*pass & segment.live());
    candidates = subset->cardinality();
    if (candidates == 0) return std::vector<index::SearchHit>{};
  }
  const roaring::Roaring& accept = subset ? *subset : segment.live();
  const bool restricted = subset.has_value() || !segment.deleted().isEmpty();
  const Plan plan = Choose(candidates, segment.held(), restricted, segment.exact_index());
  switch (plan.strategy) {
    case Strategy::kIndex:
      return segment.SearchIndex(query, k, query.ef, nullptr);
    case Strategy::kExactScan:
      return segment.SearchExact(query, k, accept);
    case Strategy::kFilteredIndex:
      break;
  }
  index::BitsetFilter bits(static_cast<size_t>(accept.maximum()) + 1);
  for (uint32_t x : accept) bits.Set(x);
  SEXTANT_ASSIGN_OR_RETURN(auto hits, segment.SearchIndex(query, k, query.ef * plan.ef_boost, &bits));
  if (hits.size() < std::min(k, candidates)) return segment.SearchExact(query, k, accept);
  return hits;
}

}  // namespace sextant::engine
