// Segment: one group of a collection's vectors, behind one interface whatever indexes it
// (docs/formats/collection.md, Segments). Three kinds implement it:
//
//   kind       class           index                                   files
//   kFlat      FlatSegment     exact scan (index::FlatIndex)           none (the log and checkpoint)
//   kGraph     GraphSegment    HNSW graph (index::HnswIndex)           seg-N.hnsw
//   kTrained   TrainedSegment  a trained index::VectorIndex (IVF, PQ,  seg-N.idx (+ .rerank),
//                              SQ8, HNSW over SQ8) + full vectors      seg-N.vec (RawVectors)
//
// A segment knows which of the vectors its index holds are live (`live`) and which belong to
// points deleted or replaced since (`deleted`, tombstones the search skips). A flat segment is
// mutable (it takes Adds; a removal really removes), then frozen (immutable, searched exactly
// while a sealed segment is built from it); graph and trained segments are sealed (immutable
// files; a removal is a tombstone until a merge or compaction rewrites the segment).
//
// Search() runs the filter planner (engine/filter_planner.h) over the primitives each kind
// provides: an index search (optionally with a filter) and an exact scan of a label subset.
//
// Thread-safety: const methods may run concurrently with each other; Add, Remove and the
// setters need exclusive access (SegmentedIndex's lock provides both).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "filter/roaring.h"
#include "index/types.h"
#include "sextant/status.h"

namespace sextant::engine {

// One query as every segment of a collection needs it.
struct SegmentQuery {
  std::span<const float> vector;    // as the caller gave it (indexes prepare it themselves)
  std::span<const float> prepared;  // for exact distances to full float32 rows (normalised
                                    // for cosine, as stored vectors are)
  size_t ef = 64;      // HNSW beam (graph segments and hnsw-sq8)
  size_t nprobe = 8;   // IVF lists
  size_t rerank = 0;   // trained segments: candidates re-ranked exactly (0: none)
};

// The file names of sealed segment `id`: "seg-<12 digits>.<ext>".
std::string SegmentFileName(uint64_t id, const char* ext);
// The labels of a bitmap, ascending.
std::vector<uint64_t> ToLabels(const roaring::Roaring& r);
// Keeps the k best hits (ascending distance, ties by label), sorted.
void KeepBestHits(std::vector<index::SearchHit>& hits, size_t k);

class Segment {
 public:
  enum class Kind { kFlat, kGraph, kTrained };
  enum class State { kMutable, kFrozen, kSealed };

  virtual ~Segment() = default;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  // ---- What the kind provides.
  virtual Kind kind() const = 0;
  // Whether SearchIndex is exact (a scan): the planner then never walks the index with a filter.
  virtual bool exact_index() const = 0;
  // Vectors the index holds: live ones and tombstones.
  virtual size_t held() const = 0;
  // The labels of every vector the index holds (sealed kinds; used when opening and merging).
  virtual std::vector<uint64_t> HeldLabels() const = 0;
  // The k nearest vectors the index holds that `filter` accepts (nullptr: all), ascending
  // distance. Approximate for graph and trained segments; `ef` is the beam to use (the planner
  // widens it for filters). A trained segment re-ranks query.rerank candidates exactly.
  virtual Result<std::vector<index::SearchHit>> SearchIndex(const SegmentQuery& query, size_t k,
                                                            size_t ef,
                                                            const index::SearchFilter* filter) const = 0;
  // The exact k nearest among `labels` (labels the index lacks are skipped), ascending
  // distance, ties by label.
  virtual Result<std::vector<index::SearchHit>> SearchExact(const SegmentQuery& query, size_t k,
                                                            const roaring::Roaring& labels) const = 0;
  // The stored vector (normalised for cosine) of a vector the index holds. NotFound otherwise.
  virtual Result<std::vector<float>> GetVector(uint64_t label) const = 0;
  // Bytes of the index (and of a trained segment's label map); bitmaps are added by MemoryUsage.
  virtual size_t IndexMemoryUsage() const = 0;
  // Mutable segments only: adds a live vector. FailedPrecondition for the other states.
  virtual Status Add(uint64_t label, std::span<const float> vector);

  // ---- Common to every kind.
  // The k nearest live vectors among `pass` (all live ones when null), ascending distance:
  // the filter planner's choice of index walk or exact scan.
  Result<std::vector<index::SearchHit>> Search(const SegmentQuery& query, size_t k,
                                               const roaring::Roaring* pass) const;
  // Removes the labels that are live here (others are ignored): a mutable segment drops their
  // vectors, an immutable one keeps them as tombstones. Returns how many were live here.
  size_t Remove(std::span<const uint64_t> labels);

  uint64_t id() const { return id_; }
  State state() const { return state_; }
  void Freeze() { state_ = State::kFrozen; }
  const roaring::Roaring& live() const { return live_; }
  const roaring::Roaring& deleted() const { return deleted_; }
  bool Contains(uint64_t label) const { return live_.contains(static_cast<uint32_t>(label)); }
  size_t live_count() const { return live_.cardinality(); }
  size_t deleted_count() const { return deleted_.cardinality(); }
  // Sealed segments: which of the held vectors are live (the rest are tombstones).
  void SetLive(roaring::Roaring live, roaring::Roaring deleted) {
    live_ = std::move(live);
    deleted_ = std::move(deleted);
  }
  // Sealed segments: the file names (relative to the collection's directory); "" otherwise.
  const std::string& file() const { return file_; }
  const std::string& vectors_file() const { return vectors_file_; }  // trained: full vectors
  // Index, label map and bitmaps.
  size_t MemoryUsage() const {
    return IndexMemoryUsage() + live_.getSizeInBytes() + deleted_.getSizeInBytes();
  }

 protected:
  Segment(uint64_t id, State state) : id_(id), state_(state) {}
  // Mutable segments: drops removed vectors from the index.
  virtual Status Erase(std::span<const uint64_t> labels);

  uint64_t id_;
  State state_;
  roaring::Roaring live_;
  roaring::Roaring deleted_;  // vectors the index still holds whose points are gone
  std::string file_;
  std::string vectors_file_;
};

// Checks that a sealed segment loaded from `path` holds every label of `live` and fits 32 bits;
// sets its bitmaps (the held vectors not in `live` become tombstones). Errors: Corruption.
Status AttachLive(Segment& segment, const std::string& path, const roaring::Roaring& live);

}  // namespace sextant::engine
