// K-means clustering (Lloyd's algorithm) for the IVF coarse quantizer and the PQ codebooks.
//
// Training draws at most k * max_points_per_centroid rows (uniformly, seeded), starts from k
// distinct sampled rows or k-means++, and assigns points with OpenBLAS sgemm
// (|x|^2 - 2 x.c + |c|^2) in blocks. A cluster that empties takes half of the largest one
// (its centroid is a slightly perturbed copy), as FAISS does.
// Thread-safety: free functions without shared state; sgemm may use OpenBLAS's threads, or
// ours (KMeansOptions::threads, AssignNearest's `threads`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sextant/status.h"

namespace sextant::index {

struct KMeansOptions {
  size_t iterations = 25;
  size_t max_points_per_centroid = 256;  // training sample: at most k times this many rows
  bool plus_plus = false;               // k-means++ seeding instead of k sampled rows
  uint64_t seed = 1234;
  // Threads: for PQ, its sub-spaces trained side by side (each clustering then on one); for
  // one clustering, the blocks of its assignment step (AssignNearest's `threads`). 0: one per
  // hardware thread.
  size_t threads = 0;
};

// Clusters the n = data.size() / dim rows into k centroids (k * dim floats, row-major).
// Errors: InvalidArgument for dim == 0, k == 0, a size that is not a multiple of dim, or fewer
// than k rows ("k-means with k=256 needs at least 256 training vectors, got 100").
Result<std::vector<float>> TrainKMeans(std::span<const float> data, size_t dim, size_t k,
                                       const KMeansOptions& options);

// For each of the n rows of `data`, the index of the nearest of the k centroids (squared L2;
// ties to the lower index) and, when `distances` is not null, that squared distance. With
// `inner_product`, the centroid with the largest dot product and `distances` = 1 - dot.
// `threads`: 1 runs the blocks of rows (1,024-2,048 each) in turn, each sgemm with OpenBLAS's
// own threads; more (0: one per hardware thread) run the blocks on that many threads of our
// own, OpenBLAS held single-threaded meanwhile (simd::BlasSingleThreaded). Fashion-MNIST
// ivf-flat, nlist 256, on two cores: trained in 5.1-5.5 s with OpenBLAS's threads, 4.4-5.1 s
// with ours (three runs each, alternating).
void AssignNearest(const float* data, size_t n, const float* centroids, size_t k, size_t dim,
                   uint32_t* assignment, float* distances, bool inner_product = false,
                   size_t threads = 1);

// The obviously-right twin of AssignNearest (one distance at a time, double precision).
void AssignNearestReference(const float* data, size_t n, const float* centroids, size_t k,
                            size_t dim, uint32_t* assignment, float* distances);

}  // namespace sextant::index
