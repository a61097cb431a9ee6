// FilterPlanner: how one segment answers a query restricted to some of its points.
//
// A query may exclude some of the vectors a segment's index holds: a filter lets only some
// points pass, and tombstones (points deleted since the segment was sealed) must be skipped.
// The planner chooses, per segment:
//
//   kIndex          nothing is excluded: the index search as it is;
//   kExactScan      few points may be returned (at most kExactScanMinPoints, or
//                   kExactScanFraction of the vectors held), or the index is an exact scan
//                   anyway: score exactly the points that may be returned;
//   kFilteredIndex  many may: search the index with the filter applied, its beam widened
//                   (ef_boost, up to 8x) the rarer they are; if that comes up with fewer than
//                   min(k, candidates) hits, fall back to the exact scan.
//
// The exact scan is the planner's obviously-right twin: its answer is the brute-force answer
// over the passing live points (tests/engine/filter_planner_test.cc checks both against it).
//
// Thread-safety: stateless; Search has the thread-safety of the segment's const methods.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/segment.h"
#include "filter/roaring.h"
#include "index/types.h"
#include "sextant/status.h"

namespace sextant::engine {

class FilterPlanner {
 public:
  static constexpr size_t kExactScanMinPoints = 2048;
  static constexpr double kExactScanFraction = 0.03;
  static constexpr double kMaxEfBoost = 8.0;

  enum class Strategy { kIndex, kExactScan, kFilteredIndex };
  struct Plan {
    Strategy strategy = Strategy::kIndex;
    size_t ef_boost = 1;  // kFilteredIndex: the beam multiplier
  };

  // The plan for a segment whose index holds `held` vectors, of which `candidates` may be
  // returned (candidates > 0). `restricted`: some held vectors must be skipped. `exact_index`:
  // the index search is an exact scan itself.
  static Plan Choose(size_t candidates, size_t held, bool restricted, bool exact_index);

  // The k nearest live vectors of `segment` among `pass` (every live one when null), ascending
  // distance: the plan above, carried out.
  static Result<std::vector<index::SearchHit>> Search(const Segment& segment,
                                                      const SegmentQuery& query, size_t k,
                                                      const roaring::Roaring* pass);
};

}  // namespace sextant::engine
