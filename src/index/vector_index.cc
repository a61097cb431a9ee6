#include "index/vector_index.h"

#include <cstring>

#include "common/mapped_file.h"
#include "index/hnsw_sq8_index.h"
#include "index/ivf_index.h"

namespace sextant::index {

Result<std::unique_ptr<VectorIndex>> CreateVectorIndex(size_t dim, const IndexSpec& spec) {
  if (spec.type == "hnsw") {
    // The graph keeps its vectors at full precision (or exactly, for u8): nothing to re-rank,
    // and it is built on every dimension.
    if (spec.keep_originals) return Status::InvalidArgument("hnsw keeps its vectors already (keep_originals is for quantized indexes)");
    if (spec.search_dims != 0) return Status::InvalidArgument("hnsw does not support search_dims (Matryoshka search needs a quantized index)");
    HnswOptions o;
    o.metric = spec.metric;
    o.storage = spec.storage;
    o.M = spec.hnsw_M;
    o.ef_construction = spec.ef_construction;
    SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<HnswIndex> ix, HnswIndex::Create(dim, o));
    return std::unique_ptr<VectorIndex>(std::move(ix));
  }
  if (spec.type == "hnsw-sq8") {
    SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<HnswSq8Index> ix, HnswSq8Index::Create(dim, spec));
    return std::unique_ptr<VectorIndex>(std::move(ix));
  }
  IvfOptions o;
  o.metric = spec.metric;
  o.nlist = spec.nlist;
  o.pq_m = spec.m;
  o.pq_nbits = spec.nbits;
  o.flat_storage = spec.storage;
  o.keep_originals = spec.keep_originals;
  o.original_storage = spec.original_storage;
  o.search_dims = spec.search_dims;
  o.kmeans = spec.kmeans;
  if (spec.type == "ivf-flat") {
    o.codes = CodeKind::kFlat;
  } else if (spec.type == "ivf-pq") {
    o.codes = CodeKind::kPq;
  } else if (spec.type == "ivf-sq8") {
    o.codes = CodeKind::kSq8;
  } else if (spec.type == "pq") {
    o.codes = CodeKind::kPq;
    o.coarse = false;
  } else if (spec.type == "sq8") {
    o.codes = CodeKind::kSq8;
    o.coarse = false;
  } else {
    return Status::InvalidArgument("unknown index type '" + spec.type +
                                   "' (expected hnsw, ivf-flat, ivf-pq, ivf-sq8, pq, sq8 or hnsw-sq8)");
  }
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<IvfIndex> ix, IvfIndex::Create(dim, o));
  return std::unique_ptr<VectorIndex>(std::move(ix));
}

Result<std::unique_ptr<VectorIndex>> LoadVectorIndex(const std::string& path, bool verify_checksums) {
  char magic[8] = {};
  {
    SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> f, MappedFile::Open(path));
    if (f->size() < sizeof magic) return Status::Corruption(path + ": too short to be an index file");
    std::memcpy(magic, f->data(), sizeof magic);
  }
  if (std::memcmp(magic, "SXIVF", 5) == 0) {
    SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<IvfIndex> ix, IvfIndex::Load(path, verify_checksums));
    return std::unique_ptr<VectorIndex>(std::move(ix));
  }
  if (std::memcmp(magic, "SXHNSW", 6) == 0) {
    // One file format for both graphs: SQ8 storage (with its optional re-rank sidecar) is hnsw-sq8.
    SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<HnswIndex> graph, HnswIndex::Load(path, verify_checksums));
    if (graph->options().storage != StorageType::kSq8) return std::unique_ptr<VectorIndex>(std::move(graph));
    SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<HnswSq8Index> ix,
                             HnswSq8Index::FromGraph(std::move(graph), path, verify_checksums));
    return std::unique_ptr<VectorIndex>(std::move(ix));
  }
  return Status::Corruption(path + ": not an index file (unknown magic)");
}

}  // namespace sextant::index
