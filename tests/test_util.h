// Helpers shared by the index tests: random data and a brute-force twin.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <unordered_set>
#include <vector>

#include "index/metric.h"
#include "index/types.h"

namespace sextant::testing {

// Labels from, from + 1, ..., from + n - 1.
inline std::vector<uint64_t> Iota(size_t n, uint64_t from = 0) {
  std::vector<uint64_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = from + i;
  return v;
}

inline std::vector<float> RandomVectors(size_t n, size_t dim, uint64_t seed, float lo = -1,
                                        float hi = 1) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n * dim);
  for (auto& x : v) x = u(rng);
  return v;
}

// Integer-valued vectors in [0, 255], as uint8 data sets hold.
inline std::vector<float> RandomByteVectors(size_t n, size_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> u(0, 255);
  std::vector<float> v(n * dim);
  for (auto& x : v) x = static_cast<float>(u(rng));
  return v;
}

// Distance in double precision, the obviously right way.
inline double ReferenceDistance(index::Metric m, const float* a, const float* b, size_t d) {
  double s = 0, na = 0, nb = 0;
  for (size_t i = 0; i < d; ++i) {
    switch (m) {
      case index::Metric::kL2: s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]); break;
      case index::Metric::kL1: s += std::fabs(double(a[i]) - b[i]); break;
      default: s += double(a[i]) * b[i];
    }
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  if (m == index::Metric::kInnerProduct) return 1 - s;
  if (m == index::Metric::kCosine) return (na == 0 || nb == 0) ? 1 : 1 - s / std::sqrt(na * nb);
  return s;
}

// Exact top-k labels (label = row number) among rows accepted by `accept`.
template <typename Accept>
std::vector<uint64_t> BruteForceTopK(index::Metric m, const std::vector<float>& base, size_t dim,
                                     const float* q, size_t k, Accept&& accept) {
  std::vector<std::pair<double, uint64_t>> all;
  for (size_t i = 0; i < base.size() / dim; ++i) {
    if (accept(i)) all.push_back({ReferenceDistance(m, q, &base[i * dim], dim), i});
  }
  const size_t take = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + take, all.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < take; ++i) out.push_back(all[i].second);
  return out;
}

inline double Overlap(const std::vector<index::SearchHit>& got, const std::vector<uint64_t>& want) {
  if (want.empty()) return got.empty() ? 1.0 : 0.0;
  std::unordered_set<uint64_t> w(want.begin(), want.end());
  size_t hits = 0;
  for (const auto& h : got) hits += w.count(h.label);
  return double(hits) / double(want.size());
}

}  // namespace sextant::testing
