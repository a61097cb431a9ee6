// Fusion of ranked result lists (hybrid search): reciprocal rank fusion, weighted score fusion
// with min-max normalisation, and distribution-based score fusion. Each fused hit keeps, per
// input list, its rank and raw score, so a caller can explain why it ranked where it did.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "sextant/status.h"

namespace sextant::text {

// One input list, best first. `higher_is_better` is false for distances (vector search) and
// true for similarities and BM25 scores.
struct RankedList {
  std::vector<std::pair<uint32_t, float>> hits;
  bool higher_is_better = true;
  float weight = 1.0f;
};

enum class FusionMethod {
  kRrf,       // sum of weight / (rrf_k + rank), rank from 1
  kWeighted,  // sum of weight * min-max normalised score (missing from a list: 0)
  kDbsf,      // sum of weight * score normalised to [mean - 3 sd, mean + 3 sd], clipped to [0, 1]
};
// "rrf" | "weighted" | "dbsf"; anything else is InvalidArgument naming the known methods.
Result<FusionMethod> ParseFusionMethod(std::string_view name);

struct FusionOptions {
  FusionMethod method = FusionMethod::kRrf;
  double rrf_k = 60;
  // With exactly two lists and kWeighted or kDbsf: the first list gets weight alpha, the second
  // 1 - alpha (their own weights are ignored). Must lie in [0, 1].
  std::optional<double> alpha;
};

struct FusedHit {
  uint32_t doc = 0;
  double score = 0;                          // higher is better
  std::vector<std::optional<size_t>> ranks;  // per input list, 1-based; nullopt if absent
  std::vector<std::optional<float>> scores;  // per input list, the raw score
};

// The k best documents by fused score (ties by doc id). Errors: InvalidArgument for alpha
// outside [0, 1], a negative weight, rrf_k <= 0, or k == 0.
Result<std::vector<FusedHit>> Fuse(std::span<const RankedList> lists, const FusionOptions& options,
                                   size_t k);

}  // namespace sextant::text
