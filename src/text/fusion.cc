#include "text/fusion.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

namespace sextant::text {

Result<FusionMethod> ParseFusionMethod(std::string_view name) {
  if (name == "rrf") return FusionMethod::kRrf;
  if (name == "weighted") return FusionMethod::kWeighted;
  if (name == "dbsf") return FusionMethod::kDbsf;
  return Status::InvalidArgument("unknown fusion '" + std::string(name) +
                                 "' (expected rrf, weighted or dbsf)");
}

namespace {

// Scores mapped so that higher is better.
double Oriented(const RankedList& l, float s) { return l.higher_is_better ? s : -static_cast<double>(s); }

// Per-list normalisation to [0, 1]: min-max, or the mean +- 3 standard deviations (DBSF).
std::vector<double> Normalised(const RankedList& l, FusionMethod method) {
  std::vector<double> v;
  for (const auto& [doc, s] : l.hits) v.push_back(Oriented(l, s));
  if (v.empty()) return v;
  double lo, hi;
  if (method == FusionMethod::kWeighted) {
    lo = *std::min_element(v.begin(), v.end());
    hi = *std::max_element(v.begin(), v.end());
  } else {
    double mean = 0, var = 0;
    for (double x : v) mean += x;
    mean /= v.size();
    for (double x : v) var += (x - mean) * (x - mean);
    const double sd = std::sqrt(var / v.size());
    lo = mean - 3 * sd;
    hi = mean + 3 * sd;
  }
  for (double& x : v) {
    // A list whose scores are all equal gives every member full credit.
    x = hi > lo ? std::clamp((x - lo) / (hi - lo), 0.0, 1.0) : 1.0;
  }
  return v;
}

}  // namespace

Result<std::vector<FusedHit>> Fuse(std::span<const RankedList> lists, const FusionOptions& options,
                                   size_t k) {
  if (k == 0) return Status::InvalidArgument("k must be at least 1");
  if (options.alpha && !(*options.alpha >= 0.0 && *options.alpha <= 1.0)) {
    return Status::InvalidArgument("alpha must be in [0, 1], got " + std::to_string(*options.alpha));
  }
  if (!(options.rrf_k > 0)) return Status::InvalidArgument("rrf k must be positive");
  std::vector<double> weights;
  for (const RankedList& l : lists) {
    if (!(l.weight >= 0)) return Status::InvalidArgument("list weights must be non-negative");
    weights.push_back(l.weight);
  }
  if (options.alpha && lists.size() == 2 && options.method != FusionMethod::kRrf) {
    weights = {*options.alpha, 1.0 - *options.alpha};
  }
  std::unordered_map<uint32_t, FusedHit> fused;
  for (size_t li = 0; li < lists.size(); ++li) {
    const RankedList& l = lists[li];
    const std::vector<double> norm =
        options.method == FusionMethod::kRrf ? std::vector<double>() : Normalised(l, options.method);
    for (size_t r = 0; r < l.hits.size(); ++r) {
      const auto [doc, raw] = l.hits[r];
      FusedHit& h = fused[doc];
      if (h.ranks.empty()) {
        h.doc = doc;
        h.ranks.resize(lists.size());
        h.scores.resize(lists.size());
      }
      if (h.ranks[li]) continue;  // a document listed twice counts at its best rank
      h.ranks[li] = r + 1;
      h.scores[li] = raw;
      h.score += options.method == FusionMethod::kRrf
                     ? weights[li] / (options.rrf_k + static_cast<double>(r + 1))
                     : weights[li] * norm[r];
    }
  }
  std::vector<FusedHit> out;
  out.reserve(fused.size());
  for (auto& [doc, h] : fused) out.push_back(std::move(h));
  const size_t take = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + take, out.end(), [](const FusedHit& a, const FusedHit& b) {
    return a.score > b.score || (a.score == b.score && a.doc < b.doc);
  });
  out.resize(take);
  return out;
}

}  // namespace sextant::text
