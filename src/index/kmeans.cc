#include "index/kmeans.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <thread>

#include "simd/blas.h"
#include "simd/distance.h"
#include "simd/quant.h"

namespace sextant::index {
namespace {

// Rows per sgemm call: bounds the buffer of products (rows x k floats), large enough for the
// coarse quantizer's sgemm to run at speed.
size_t AssignBlock(size_t k, size_t dim) { return dim >= 64 ? 2048 : 1024; }

void RowNorms(const float* x, size_t n, size_t dim, float* out) {
  const simd::Kernels& kernels = simd::Best();
  for (size_t i = 0; i < n; ++i) out[i] = kernels.ip_f32(x + i * dim, x + i * dim, dim);
}

// Assigns the bn rows at `x` with one sgemm into `dots` (bn x k floats).
void AssignRows(const float* x, size_t bn, const float* centroids, const float* cnorm,
                const float* zeros, size_t k, size_t dim, uint32_t* assignment, float* distances,
                bool inner_product, float* dots) {
  const simd::QuantKernels& qk = simd::QuantBest();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(bn), static_cast<int>(k),
              static_cast<int>(dim), 1.0f, x, static_cast<int>(dim), centroids,
              static_cast<int>(dim), 0.0f, dots, static_cast<int>(k));
  for (size_t i = 0; i < bn; ++i) {
    const float* row = dots + i * k;
    // |x|^2 is common to every centroid: rank by |c|^2 - 2 x.c (or -x.c), add |x|^2 after.
    float best_d;
    const uint32_t best =
        qk.argmin_affine(inner_product ? zeros : cnorm, row, inner_product ? -1.0f : -2.0f, k, &best_d);
    assignment[i] = best;
    if (distances != nullptr) {
      if (inner_product) {
        distances[i] = 1.0f + best_d;
      } else {
        float xn;
        RowNorms(x + i * dim, 1, dim, &xn);
        distances[i] = std::max(0.0f, xn + best_d);
      }
    }
  }
}

// AssignNearest with the caller's buffer for the products (k-means keeps one for all its
// iterations: a fresh megabyte a call is page faults; sgemm overwrites it whole).
void AssignNearestWith(const float* data, size_t n, const float* centroids, size_t k, size_t dim,
                       uint32_t* assignment, float* distances, bool inner_product,
                       std::vector<float>& dots, size_t threads) {
  if (n == 0 || k == 0) return;
  std::vector<float> cnorm(k);
  RowNorms(centroids, k, dim, cnorm.data());
  const std::vector<float> zeros(inner_product ? k : 0, 0.0f);
  const size_t block = AssignBlock(k, dim);
  const size_t blocks = (n + block - 1) / block;
  if (threads == 0) threads = std::max<size_t>(1, std::thread::hardware_concurrency());
  threads = std::min(threads, blocks);
  const size_t per_thread = std::min(n, block) * k;
  if (dots.size() < threads * per_thread) dots.resize(threads * per_thread);
  std::atomic<size_t> next{0};
  auto worker = [&](size_t t) {
    for (size_t b; (b = next.fetch_add(1)) < blocks;) {
      const size_t b0 = b * block;
      AssignRows(data + b0 * dim, std::min(block, n - b0), centroids, cnorm.data(), zeros.data(), k,
                 dim, assignment + b0, distances != nullptr ? distances + b0 : nullptr,
                 inner_product, dots.data() + t * per_thread);
    }
  };
  if (threads <= 1) {
    worker(0);  // sgemm with OpenBLAS's own threads
    return;
  }
  // Blocks on our threads, each sgemm on one: OpenBLAS's threads would only compete with them.
  simd::BlasSingleThreaded blas;
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (std::thread& t : pool) t.join();
}

}  // namespace

void AssignNearest(const float* data, size_t n, const float* centroids, size_t k, size_t dim,
                   uint32_t* assignment, float* distances, bool inner_product, size_t threads) {
  std::vector<float> dots;
  AssignNearestWith(data, n, centroids, k, dim, assignment, distances, inner_product, dots, threads);
}

void AssignNearestReference(const float* data, size_t n, const float* centroids, size_t k,
                            size_t dim, uint32_t* assignment, float* distances) {
  for (size_t i = 0; i < n; ++i) {
    double best_d = std::numeric_limits<double>::infinity();
    uint32_t best = 0;
    for (size_t c = 0; c < k; ++c) {
      double s = 0;
      for (size_t d = 0; d < dim; ++d) {
        const double t = double(data[i * dim + d]) - centroids[c * dim + d];
        s += t * t;
      }
      if (s < best_d) {
        best_d = s;
        best = static_cast<uint32_t>(c);
      }
    }
    assignment[i] = best;
    if (distances != nullptr) distances[i] = static_cast<float>(best_d);
  }
}

Result<std::vector<float>> TrainKMeans(std::span<const float> data, size_t dim, size_t k,
                                       const KMeansOptions& options) {
  if (dim == 0 || k == 0) return Status::InvalidArgument("k-means needs dim >= 1 and k >= 1");
  if (data.size() % dim != 0) {
    return Status::InvalidArgument("k-means input of " + std::to_string(data.size()) +
                                   " floats is not a whole number of rows of dimension " +
                                   std::to_string(dim));
  }
  const size_t n_all = data.size() / dim;
  if (n_all < k) {
    return Status::InvalidArgument("k-means with k=" + std::to_string(k) + " needs at least " +
                                   std::to_string(k) + " training vectors, got " +
                                   std::to_string(n_all));
  }
  std::mt19937_64 rng(options.seed);

  // The training sample.
  const size_t cap = std::max<size_t>(k, k * std::max<size_t>(1, options.max_points_per_centroid));
  std::vector<float> sample_store;
  const float* x = data.data();
  size_t n = n_all;
  if (n_all > cap) {
    std::vector<size_t> perm(n_all);
    std::iota(perm.begin(), perm.end(), size_t{0});
    for (size_t i = 0; i < cap; ++i) {  // partial Fisher-Yates
      std::uniform_int_distribution<size_t> u(i, n_all - 1);
      std::swap(perm[i], perm[u(rng)]);
    }
    std::sort(perm.begin(), perm.begin() + cap);  // sequential reads
    sample_store.resize(cap * dim);
    for (size_t i = 0; i < cap; ++i) {
      std::copy_n(data.data() + perm[i] * dim, dim, sample_store.data() + i * dim);
    }
    x = sample_store.data();
    n = cap;
  }

  // Seeding.
  std::vector<float> centroids(k * dim);
  if (options.plus_plus) {
    std::vector<float> best(n, std::numeric_limits<float>::infinity());
    const simd::Kernels& kernels = simd::Best();
    size_t pick = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
    for (size_t c = 0; c < k; ++c) {
      std::copy_n(x + pick * dim, dim, centroids.data() + c * dim);
      double total = 0;
      for (size_t i = 0; i < n; ++i) {
        best[i] = std::min(best[i], kernels.l2sq_f32(x + i * dim, centroids.data() + c * dim, dim));
        total += best[i];
      }
      if (total <= 0) {  // every point already coincides with a centroid
        pick = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
        continue;
      }
      double r = std::uniform_real_distribution<double>(0, total)(rng);
      pick = n - 1;
      for (size_t i = 0; i < n; ++i) {
        r -= best[i];
        if (r <= 0) {
          pick = i;
          break;
        }
      }
    }
  } else {
    std::vector<size_t> perm(n);
    std::iota(perm.begin(), perm.end(), size_t{0});
    for (size_t i = 0; i < k; ++i) {
      std::uniform_int_distribution<size_t> u(i, n - 1);
      std::swap(perm[i], perm[u(rng)]);
      std::copy_n(x + perm[i] * dim, dim, centroids.data() + i * dim);
    }
  }

  // Lloyd iterations.
  std::vector<uint32_t> assign(n);
  std::vector<float> dots;
  std::vector<double> sums(k * dim);
  std::vector<size_t> counts(k);
  for (size_t it = 0; it < options.iterations; ++it) {
    AssignNearestWith(x, n, centroids.data(), k, dim, assign.data(), nullptr, false, dots,
                      options.threads);
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (size_t i = 0; i < n; ++i) {
      double* s = sums.data() + size_t{assign[i]} * dim;
      const float* r = x + i * dim;
      for (size_t d = 0; d < dim; ++d) s[d] += r[d];
      ++counts[assign[i]];
    }
    for (size_t c = 0; c < k; ++c) {
      if (counts[c] == 0) continue;
      const double inv = 1.0 / static_cast<double>(counts[c]);
      for (size_t d = 0; d < dim; ++d) centroids[c * dim + d] = static_cast<float>(sums[c * dim + d] * inv);
    }
    // Empty clusters: split the largest cluster in two (symmetric small perturbation).
    for (size_t c = 0; c < k; ++c) {
      if (counts[c] != 0) continue;
      const size_t big = static_cast<size_t>(
          std::max_element(counts.begin(), counts.end()) - counts.begin());
      if (counts[big] < 2) break;
      constexpr float kEps = 1.0f / 1024;
      for (size_t d = 0; d < dim; ++d) {
        const float v = centroids[big * dim + d];
        centroids[c * dim + d] = v * (1 + kEps) + ((d & 1) ? kEps : -kEps);
        centroids[big * dim + d] = v * (1 - kEps) - ((d & 1) ? kEps : -kEps);
      }
      counts[c] = counts[big] / 2;
      counts[big] -= counts[c];
    }
  }
  return centroids;
}

}  // namespace sextant::index
