// VectorIndex: the shape shared by the trained (quantized) indexes, so that the engine can use
// any of them as a sealed segment's index: Train, Add, Search with a filter, Save/Load,
// MemoryUsage.
//
//   type        class           what it stores
//   hnsw        HnswIndex       an HNSW graph over full vectors (f32, f16 or lossless u8)
//   ivf-flat    IvfIndex        k-means lists of full vectors (f32, f16 or lossless u8)
//   ivf-pq      IvfIndex        k-means lists of residual PQ codes (8-bit, or 4-bit fast scan)
//   ivf-sq8     IvfIndex        k-means lists of SQ8 codes
//   pq          IvfIndex        one list of PQ codes (no coarse quantizer)
//   sq8         IvfIndex        one list of SQ8 codes
//   hnsw-sq8    HnswSq8Index    an HNSW graph over SQ8 codes
//
// Two-stage search: an index built with keep_originals also stores the full-precision vectors
// (f32, or u8 for byte data) and re-ranks the best `rerank` candidates with exact distances.
// Matryoshka search: with search_dims D < dim the index is built and searched on the first D
// dimensions only and re-ranks on all of them (which requires keep_originals).
//
// Thread-safety (every implementation): Search may run concurrently with other Searches;
// Train, Add and Save need exclusive access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/mapped_file.h"
#include "index/kmeans.h"
#include "index/metric.h"
#include "index/types.h"
#include "sextant/status.h"

namespace sextant::index {

struct SearchParams {
  size_t nprobe = 8;  // IVF: inverted lists scanned per query
  size_t ef = 64;     // HNSW: beam width
  size_t rerank = 0;  // candidates re-ranked exactly from the originals (0: just k, and only
                      // when searching on fewer dimensions than stored)
};

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;

  // "hnsw", "ivf-flat", "ivf-pq", "ivf-sq8", "pq", "sq8", "hnsw-sq8".
  virtual std::string type() const = 0;
  virtual size_t dim() const = 0;
  virtual Metric metric() const = 0;
  virtual size_t size() const = 0;
  virtual bool is_trained() const = 0;

  // Learns the quantizers from n = vectors.size() / dim() rows (the index must be empty).
  // Errors: InvalidArgument for too few rows for the configuration (naming what it needs),
  // rows that are not whole or not finite; FailedPrecondition if the index holds points.
  virtual Status Train(std::span<const float> vectors) = 0;

  // Adds n rows with their labels, all or nothing. Errors: FailedPrecondition before Train;
  // InvalidArgument (sizes, NaN/Inf, a label twice in the batch); AlreadyExists (a label in
  // the index).
  virtual Status Add(std::span<const float> vectors, std::span<const uint64_t> labels) = 0;

  // The k nearest points (ascending distance, the metric's convention of metric.h; an
  // approximation from the codes unless re-ranked). `filter` (optional) restricts the labels
  // returned. Errors: FailedPrecondition before Train; InvalidArgument (dimension, NaN/Inf,
  // k == 0, nprobe == 0).
  virtual Result<std::vector<SearchHit>> Search(std::span<const float> query, size_t k,
                                                const SearchParams& params,
                                                const SearchFilter* filter = nullptr) const = 0;

  // Writes the index to `path` atomically with a versioned header and CRC-32C checksums.
  // Writes the index atomically through `writer` (nullptr: PosixFileWriter()).
  virtual Status Save(const std::string& path, FileWriter* writer = nullptr) const = 0;

  // Bytes held for searching (codes, labels, quantizers, tables).
  virtual size_t MemoryUsage() const = 0;
  // Bytes of full-precision vectors kept for re-ranking (0 without keep_originals). A segment
  // that already stores its vectors could serve these from disk instead.
  virtual size_t RerankMemoryUsage() const { return 0; }
};

// Everything needed to build any of the indexes above by name.
struct IndexSpec {
  std::string type = "ivf-flat";
  Metric metric = Metric::kL2;
  size_t nlist = 256;                            // ivf-*
  size_t m = 8;                                  // pq, ivf-pq: sub-quantizers
  size_t nbits = 8;                              // pq, ivf-pq: 4 or 8
  StorageType storage = StorageType::kFloat32;   // ivf-flat, hnsw: how vectors are stored
  bool keep_originals = false;                   // store full vectors for re-ranking
  StorageType original_storage = StorageType::kFloat32;  // f32, or u8 for byte data
  size_t search_dims = 0;                        // Matryoshka prefix (0: all dimensions)
  size_t hnsw_M = 16;                            // hnsw, hnsw-sq8
  size_t ef_construction = 200;                  // hnsw, hnsw-sq8
  size_t build_threads = 1;                      // hnsw-sq8
  KMeansOptions kmeans;
};

// Errors: InvalidArgument for an unknown type (listing the known ones) or bad parameters (m
// not dividing the dimension, nbits other than 4 or 8, nlist 0, search_dims > dim, ...).
Result<std::unique_ptr<VectorIndex>> CreateVectorIndex(size_t dim, const IndexSpec& spec);

// Opens a file written by VectorIndex::Save (any type). Errors: NotFound, Corruption (magic,
// checksums, structure), InvalidArgument (a format version this build cannot read).
// verify_checksums = false skips the CRCs (only the fuzz target does this, so that its
// mutations reach the structural checks, which must then hold on their own).
Result<std::unique_ptr<VectorIndex>> LoadVectorIndex(const std::string& path, bool verify_checksums = true);

}  // namespace sextant::index
