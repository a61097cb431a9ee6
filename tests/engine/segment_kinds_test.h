// Helpers for the segment tests: random vectors, a brute-force twin, and a segment of each kind.
#pragma once

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/filter_planner.h"
#include "engine/flat_segment.h"
#include "engine/graph_segment.h"
#include "engine/segment.h"
#include "engine/trained_segment.h"
#include "filter/roaring.h"
#include "index/hnsw_index.h"
#include "index/vector_codec.h"

namespace sextant::engine::testing {

struct Rows {
  size_t dim = 0;
  std::vector<float> data;  // row i is label i
  std::vector<uint64_t> labels;
  std::span<const float> row(uint64_t label) const { return {data.data() + label * dim, dim}; }
};

inline Rows RandomRows(size_t n, size_t dim, uint32_t seed) {
  Rows r;
  r.dim = dim;
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  r.data.resize(n * dim);
  for (float& x : r.data) x = g(rng);
  for (size_t i = 0; i < n; ++i) r.labels.push_back(i);
  return r;
}

inline float SquaredL2(std::span<const float> a, std::span<const float> b) {
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]);
  return d;
}

// The brute-force twin: the k nearest of `allowed` (L2), ascending distance, ties by label.
inline std::vector<uint64_t> BruteForce(const Rows& rows, std::span<const float> q, size_t k,
                                        const roaring::Roaring& allowed) {
  std::vector<std::pair<float, uint64_t>> all;
  for (uint32_t x : allowed) all.push_back({SquaredL2(q, rows.row(x)), x});
  std::sort(all.begin(), all.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < std::min(k, all.size()); ++i) out.push_back(all[i].second);
  return out;
}

inline std::vector<uint64_t> LabelsOf(const std::vector<index::SearchHit>& hits) {
  std::vector<uint64_t> out;
  for (const auto& h : hits) out.push_back(h.label);
  return out;
}

inline double Recall(const std::vector<uint64_t>& got, const std::vector<uint64_t>& want) {
  if (want.empty()) return 1.0;
  size_t found = 0;
  for (uint64_t x : want) found += std::find(got.begin(), got.end(), x) != got.end();
  return static_cast<double>(found) / static_cast<double>(want.size());
}

inline roaring::Roaring AllOf(size_t n) {
  roaring::Roaring r;
  r.addRange(0, n);
  return r;
}

inline std::shared_ptr<const index::VectorCodec> ExactCodec(size_t dim) {
  return std::make_shared<const index::VectorCodec>(
      index::VectorCodec::Create(dim, index::Metric::kL2, index::StorageType::kFloat32).value());
}

// A SegmentQuery for `q` (L2: the prepared query is the query itself).
struct QueryHolder {
  std::vector<float> q;
  SegmentQuery query;
  QueryHolder(std::span<const float> v, size_t ef, size_t nprobe, size_t rerank) : q(v.begin(), v.end()) {
    query.vector = q;
    query.prepared = q;
    query.ef = ef;
    query.nprobe = nprobe;
    query.rerank = rerank;
  }
};

}  // namespace sextant::engine::testing
