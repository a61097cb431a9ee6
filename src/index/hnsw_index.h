// HnswIndex: a hierarchical navigable small world graph (Malkov & Yashunin, 2016/2018),
// written for Sextant.
//
// Layout: slot i holds one point. Its stored code (VectorCodec) sits in one contiguous array
// with a 32-byte-aligned stride, its level-0 neighbour list (a count, then up to M0 = 2*M ids)
// in another, so a search touches two predictable places per point. Upper levels, which only
// about 1/M of the points have, are separate small arrays.
//
// Slot order: once an index holds HnswOptions::reorder_min_points points, and again each time
// it doubles, AddBatch (ReorderIfDue) renumbers the slots (Reorder) so that points near each
// other in space, which a walk meets together, are near each other in every array. A batch of
// that many points into an empty index takes its slots in that order before inserting
// (ReserveSlotsInClusterOrder), so its own inserts walk grouped neighbourhoods too.
//
// Walks: an unfiltered one keeps its beam in one array sorted by distance (SearchLayer), a
// filtered one in the paper's two heaps (SearchLayerFiltered), which let it cross points the
// filter rejects. GloVe-100, the same saved index: the array 7-11 % more QPS at ef 64, 2-6 %
// at ef 256, and builds 8 % faster (the heaps' sifting branches mispredict on every entrant).
//
// Neighbours are chosen with the paper's heuristic (Algorithm 4): a candidate is kept only
// if it is closer to the new point than to every neighbour already kept, which keeps long
// links across clusters.
//
// Storage kSq8F32 (sq8-f32, the default for float vectors) keeps each vector twice: an SQ8
// code in the code array, on which the graph is built and walked with integer arithmetic (a
// quarter of float32's bytes per distance), and the exact float32 vector, losslessly in three
// bytes per value beside that code (ExactStore), read only to rank the walk's final candidates
// by exact distance (and by GetVector and SearchSubset). The SQ8 parameters are learned from
// the points added, first from the first batch, again (every code and exact row re-encoded)
// each time the index doubles while it holds fewer than 65,536 points.
//
// Storage kFloat32 (l2 or cosine, 128 dimensions or more) also keeps a 1-bit code of every
// point (BinaryScreen, padded dim / 8 bytes and four floats): searches and inserts compute a
// neighbour's bound from it first and read the float32 vector only when the bound says the
// neighbour may enter the beam (Fashion-MNIST, 784-d: about 70 % of the vector reads saved,
// 1.3x the QPS at equal recall). Its centre follows the points on TrainWalkCodes' schedule;
// it is saved with the index (format version 5), and Load computes it again only for a file
// without it.
//
// Deletion really removes a point: every list that pointed at it is rebuilt from the removed
// point's own neighbours with the same heuristic, its slot goes onto a free list and the next
// Add reuses it.
//
// As a VectorIndex (type "hnsw", what CreateVectorIndex and LoadVectorIndex give for it) it
// needs no training (Train only checks that it is empty) and searches with SearchParams::ef.
//
// Thread-safety:
//  - Add/AddBatch may run concurrently with each other (striped locks for writers of link
//    lists; readers go without, see ReadRacingList in hnsw_index.cc).
//  - Search may run concurrently with other Searches.
//  - Search concurrent with Add, and Remove/Save concurrent with anything, need the caller's
//    own exclusion (the collection layer uses a readers-writer lock around its indexes).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/mapped_file.h"
#include "index/binary_screen.h"
#include "index/exact_store.h"
#include "index/metric.h"
#include "index/types.h"
#include "index/vector_codec.h"
#include "index/vector_index.h"
#include "sextant/status.h"

namespace sextant::index {

struct HnswOptions {
  Metric metric = Metric::kL2;
  StorageType storage = StorageType::kFloat32;
  size_t M = 16;                 // links per node on upper levels; 2*M on level 0
  size_t ef_construction = 200;  // candidate list size while inserting
  uint64_t seed = 100;           // level generator seed
  size_t initial_capacity = 0;   // slots reserved up front (grows on demand)
  // kSq8 storage: the trained per-dimension parameters (VectorCodec::TrainSq8). kSq8F32:
  // empty (learned from the points added) or parameters to start from (Load).
  std::vector<float> sq8_lower, sq8_step;
  // kFloat32 storage, l2 or cosine, dim >= BinaryScreen::kMinDim: keep a 1-bit code of every
  // point (BinaryScreen) that lets searches skip reading the vectors of neighbours that cannot
  // enter the beam. Saved with the index; Load gives every index that can have one a screen,
  // computed from the vectors when the file has none (older files, or saved without).
  bool screen = true;
  // AddBatch (and ReorderIfDue) reorders the index once it holds at least this many points and
  // twice as many as at its last reordering (or its load), codes of at most 1 KiB: amortized,
  // about 1 % of the build. 0: never. Smaller indexes mostly fit in the caches anyway.
  size_t reorder_min_points = 32768;
};

// Called from AddBatch after every `done` points (from one thread at a time).
using ProgressFn = std::function<void(size_t done, size_t total)>;

class HnswIndex final : public VectorIndex {
 public:
  // Slots an index can have (SearchLayer's beam marks expanded entries in the id's top bit).
  static constexpr size_t kMaxSlots = 0x7ffffff0u;

  // Errors: InvalidArgument for a bad dimension, M < 2 or M > 512, ef_construction < 1, a
  // metric the storage type cannot serve, or kSq8 storage without (valid) sq8 parameters.
  static Result<std::unique_ptr<HnswIndex>> Create(size_t dim, const HnswOptions& options);

  // Opens an index written by Save. The large arrays are used in place from a read-only
  // memory map (MAP_PRIVATE), so opening is fast (the screen's rows are copied; a file
  // without them, format version 4 or older, has its screen computed from every vector: 0.6 s
  // for 60,000 784-d points); the first Add or Remove copies them into owned memory. Every
  // section's checksum is verified unless `verify_checksums` is false.
  // Errors: NotFound, Corruption (bad magic, checksum, structure), InvalidArgument (a format
  // version this build cannot read).
  static Result<std::unique_ptr<HnswIndex>> Load(const std::string& path,
                                                 bool verify_checksums = true);

  ~HnswIndex() override;

  // VectorIndex. Train learns nothing (FailedPrecondition if the index holds points); Add is
  // AddBatch on one thread; Search is Search(query, k, params.ef, filter).
  std::string type() const override { return "hnsw"; }
  Metric metric() const override { return options_.metric; }
  bool is_trained() const override { return true; }
  Status Train(std::span<const float> vectors) override;
  Status Add(std::span<const float> vectors, std::span<const uint64_t> labels) override;
  Result<std::vector<SearchHit>> Search(std::span<const float> query, size_t k,
                                        const SearchParams& params,
                                        const SearchFilter* filter = nullptr) const override;

  // Writes the index to `path` atomically (temp file, fsync, rename).
  // `writer`: where the file goes (nullptr: PosixFileWriter(); the engine passes its Env).
  Status Save(const std::string& path, FileWriter* writer = nullptr) const override;

  // Inserts one point. Errors: InvalidArgument (wrong dimension, NaN/Inf, a value the storage
  // type cannot hold), AlreadyExists (label present). On error nothing changes.
  Status Add(uint64_t label, std::span<const float> vector);

  // Inserts n points (row-major, dim() floats each) from `threads` threads. Validates every
  // row and label first: on error nothing is inserted. With more than one thread it ends by
  // reconnecting what the concurrent inserts left unreachable (ConnectUnreachable), and then
  // reorders the slots if due (ReorderIfDue), unless `reconnect` is false: a caller adding a
  // series of batches then calls both once at the end.
  Status AddBatch(std::span<const float> vectors, std::span<const uint64_t> labels,
                  size_t threads = 1, const ProgressFn& progress = nullptr, bool reconnect = true);

  // The k nearest points to `query` (ascending distance); ef (>= k) bounds the candidate list.
  // `filter` (optional) restricts which labels may be returned.
  // Errors: InvalidArgument (wrong dimension, NaN/Inf, k == 0).
  Result<std::vector<SearchHit>> Search(std::span<const float> query, size_t k, size_t ef,
                                        const SearchFilter* filter = nullptr) const;

  // Exact top-k among the given labels (absent labels are skipped): the planner's path for
  // filters that few points pass. Same errors as Search. Same thread-safety as Search.
  Result<std::vector<SearchHit>> SearchSubset(std::span<const float> query, size_t k,
                                              std::span<const uint64_t> labels) const;

  // Room for `n` points (slots) without growing again: AddBatch grows the index to exactly
  // what a batch needs, copying every array, so a caller adding a series of batches reserves
  // first (a merge adding 20,000 points to a loaded 200,000-point index in batches of 1,024:
  // 1.9 s without, 1.2 s with). Errors: ResourceExhausted. Exclusive.
  Status Reserve(size_t n);

  // Removes the points, repairing every list that linked to them, and frees their slots.
  // Errors: NotFound naming the first absent label (nothing is removed then).
  Status Remove(std::span<const uint64_t> labels);

  // Renumbers the slots so that points near each other lie together in memory (codes, link
  // lists, exact rows, screen rows): grouped by the nearest of up to 256 k-means centroids (one
  // per 256 points), free slots last. A walk then finds more of what it reads in cache
  // (GloVe-100, 331k points: 0.5 s on two threads, about 1 % of the build; QPS +5 to +9 % at
  // ef 64 and 256, three runs of seven alternating rounds; 1,024 centroids cost four times as
  // much for no more). Answers do not change. `threads`: for the clustering.
  // Errors: ResourceExhausted (the index is unchanged then). Exclusive.
  Status Reorder(size_t threads = 1);
  // Reorder when HnswOptions::reorder_min_points says it is due and the codes are short enough
  // for it to pay (kReorderMaxStride); true if it reordered.
  // AddBatch calls it at its end unless `reconnect` is false: a caller adding a series of
  // batches calls it once after the last, beside ConnectUnreachable. Exclusive.
  bool ReorderIfDue(size_t threads = 1);

  bool Contains(uint64_t label) const;
  // The labels of every point in the index (slot order).
  std::vector<uint64_t> Labels() const;
  // Decodes the stored vector of `label` (normalised for cosine). NotFound if absent.
  Result<std::vector<float>> GetVector(uint64_t label) const;

  size_t size() const override { return live_count_; }
  size_t dim() const override { return codec_.dim(); }
  const HnswOptions& options() const { return options_; }
  // Bytes held by the index: codes, links, labels, level table, label map, scratch tables.
  size_t MemoryUsage() const override;

  // Test hooks. CheckIntegrity: every link points at a live slot that has that level, no self
  // links, counts within bounds, label map and entry point consistent.
  Status CheckIntegrity() const;
  // Live points that no level-0 path from the entry point reaches (the heuristic can prune
  // every in-link of a point; a healthy graph has almost none).
  size_t CountUnreachable() const;
  // Live points other than the entry point with fewer than two level-0 in-links (none after
  // ConnectUnreachable, in an index of more than two points).
  size_t CountWeaklyLinked() const;
  // Gives every point with fewer than two level-0 in-links links from its nearest points, and
  // every point that level-0 search cannot reach from the entry point an in-link from its
  // nearest reachable point (one per unreachable component); returns the links added.
  // Multi-threaded AddBatch and Remove do this themselves; call it after a series of serial
  // batches. Exclusive: waits for concurrent inserts.
  size_t ConnectUnreachable();
  size_t free_slots() const { return free_slots_.size(); }
  size_t slot_count() const { return slot_count_; }

 private:
  struct Candidate {
    float distance;
    uint32_t id;
  };
  class VisitedTable;

  HnswIndex(VectorCodec codec, const HnswOptions& options);

  size_t max_links(int level) const { return level == 0 ? m0_ : options_.M; }
  uint32_t* links(uint32_t id, int level) const {
    if (level == 0) return links0_ + static_cast<size_t>(id) * (m0_ + 1);
    return upper_[id].get() + static_cast<size_t>(level - 1) * (options_.M + 1);
  }
  const uint8_t* code(uint32_t id) const { return codes_ + static_cast<size_t>(id) * stride_; }
  // The stored vector of slot `id` (normalised for cosine) into `out` (dim floats): kSq8F32's
  // exact vector, else the decoded code.
  void StoredVector(uint32_t id, float* out) const;
  // The exact distance from a query prepared by ranking_codec().PrepareExactQuery to slot
  // `id`'s stored vector.
  float RankingDistance(const float* prepared, uint32_t id) const;
  bool two_tier() const { return options_.storage == StorageType::kSq8F32; }
  // SQ8 codes (sq8 or sq8-f32): distances between stored points go through EncodeStoredAsQuery.
  bool sq8_walk() const { return codec_.storage() == StorageType::kSq8; }
  // Encodes stored point `id` as a query, from its code even where an exact copy exists: the
  // code was just read by the walk that found the point, the exact copy is 4x the bytes and
  // seldom cached (GloVe-100 sq8-f32: build 29.9-30.3 s from exact copies, 24.1-25.9 s from
  // codes, recall at ef 64 / 256 the same to 0.0003).
  void EncodeStoredAsQuery(uint32_t id, uint8_t* query) const;
  // The codec ranking final candidates: exact_codec_ for kSq8F32, else codec_.
  const VectorCodec& ranking_codec() const { return exact_codec_ ? *exact_codec_ : codec_; }
  // kSq8F32: learns the SQ8 parameters when the index is empty or small and `batch` (n rows,
  // validated) at least doubles it, re-encoding every stored code. Takes grow_mu_ itself.
  Status TrainWalkCodes(std::span<const float> batch);
  // screen_: sets the centre to the mean of the points held and `batch` (n rows, validated) and
  // encodes every point again, on the same schedule as TrainWalkCodes (while the index is
  // small and the batch at least doubles it). Takes grow_mu_ itself.
  Status TrainScreen(std::span<const float> batch);
  // screen_: the centre from every point held, every point encoded (Load). Exclusive.
  Status RebuildScreen();
  // screen_: the centre set to the mean of the points held and `batch`, every point encoded.
  void EncodeScreen(std::span<const float> batch);
  // live_count_, read under meta_mu_.
  size_t LiveCount() const;
  // Reorder with grow_mu_ held exclusively.
  Status ReorderLocked(size_t threads);
  // The live slots grouped by nearest k-means centroid (Reorder's order).
  std::vector<uint32_t> ClusterOrder(size_t threads) const;
  // Rows 0..count-1 (row(i, out) writes row i's dim() floats, normalised for cosine) grouped by
  // nearest k-means centroid: up to kReorderMaxClusters, one per kReorderPointsPerCluster rows,
  // learned from an evenly spaced sample; the identity when that makes fewer than two.
  std::vector<uint32_t> ClusterRows(size_t count, const std::function<void(size_t, float*)>& row,
                                    size_t threads) const;
  static constexpr size_t kReorderMaxClusters = 256, kReorderPointsPerCluster = 256;
  // ReorderIfDue leaves alone indexes whose codes are longer (16 cache lines): a read of one
  // is a stream of its own, near or not. Fashion-MNIST, 60k points: u8 (800-byte codes) +1.5
  // to +7.6 % QPS for 0.7 s of a 10.5 s build; f32 (3,136 bytes) no gain for 1.0 s of 16 s.
  static constexpr size_t kReorderMaxStride = 1024;
  // Inserts one validated point (Add without the training step).
  // `slot`: the slot AddBatch reserved for it (LabelMap::kAbsent: take a free one).
  Status AddOne(uint64_t label, std::span<const float> vector, uint32_t slot = LabelMap::kAbsent);

  // Dimension, k >= 1 and finite values: the checks every search starts with.
  Status CheckQuery(std::span<const float> query, size_t k) const;
  Status EnsureCapacity(size_t n);
  Status Materialize();  // copies mmap'd arrays into owned memory before a mutation
  int RandomLevel();
  Result<uint32_t> AllocateSlot(uint64_t label, int level, uint32_t slot);
  // AddBatch into an empty index: reserves a slot for each of the n rows of `vectors` (slots
  // 0..n-1) and returns each row's slot, the rows
  // grouped by nearest centroid as Reorder would group them afterwards, so the inserts' own
  // walks already read neighbourhoods that lie together; the rows are still inserted in the
  // order given (the graph is the one that order builds). Empty when it does not apply (the
  // index holds points or free slots, the batch is below reorder_min_points, or the codes are
  // too long for order to pay). Exclusive.
  std::vector<uint32_t> ReserveSlotsInClusterOrder(std::span<const float> vectors, size_t threads);
  void Insert(uint32_t id, const uint8_t* query_code, int level);

  // `racing`: concurrent inserts may be changing link lists (read them with ReadRacingList).
  // The greedy descent from `ep` on level `top` down to level `bottom` (exclusive): the node
  // nearest to `query` found on level bottom + 1, with its walk distance. With a `screen`, a
  // list's neighbours that may be nearer are read in the order of their estimates and the walk
  // moves at the first that is nearer (Fashion-MNIST f32, ef 16: 89 vector reads a query
  // instead of 96, 14 of which were in the upper levels).
  Candidate Descend(const uint8_t* query, uint32_t ep, int top, int bottom, bool racing,
                    const BinaryScreen::Query* screen = nullptr) const;
  // Beam search on `level` from `ep`; returns up to ef candidates (unordered). `screen`: the
  // query prepared for screen_, whose bounds then spare the reads of neighbours that cannot
  // enter a full beam (searches, and the inserts' searches of a screened build). Without a
  // filter the beam is one sorted array; with one, SearchLayerFiltered.
  void SearchLayer(const uint8_t* query, Candidate ep, int level, size_t ef, bool racing,
                   const SearchFilter* filter, VisitedTable& visited,
                   std::vector<Candidate>& out, const BinaryScreen::Query* screen = nullptr) const;
  // The paper's two heaps: candidates to expand (every neighbour nearer than the ef-th
  // accepted result, accepted or not, so a walk crosses what the filter rejects) and the best
  // ef accepted results. SearchLayer's contract; `visited` already reset.
  void SearchLayerFiltered(const uint8_t* query, Candidate ep, int level, size_t ef, bool racing,
                           const SearchFilter* filter, VisitedTable& visited,
                           std::vector<Candidate>& out, const BinaryScreen::Query* screen) const;
  // One expansion of a walk: marks the unvisited neighbours of `id` on `level` in `visited`,
  // drops those whose screen bound exceeds `bound` (with a `screen`, and a finite `bound`:
  // the full beam's worst distance), and writes the rest, in list order, to `ids` with their
  // distances in `distances` (room for 2M each; codes prefetched ahead, distances computed
  // four at a time). Returns how many.
  uint32_t ScoreNeighbours(const uint8_t* query, uint32_t id, int level, bool racing,
                           VisitedTable& visited, const BinaryScreen::Query* screen, float bound,
                           uint32_t* ids, float* distances) const;
  // The walk codec's distances from `query` to the codes of ids[0..m-1] into `distances`:
  // codes prefetched ahead, four at a time through one kernel call.
  void QueryDistancesTo(const uint8_t* query, const uint32_t* ids, uint32_t m, float* distances) const;
  // screen_: `query` (the walk's, a float vector) prepared in a per-thread buffer, or nullptr
  // when there is no screen or it holds no centre yet.
  const BinaryScreen::Query* PrepareScreenQuery(const uint8_t* query) const;
  // Copies to `kept` (which may be `ids`) the n ids whose screen bound is within `bound`, in
  // order, their screen rows prefetched first; returns how many.
  uint32_t ScreenOut(const BinaryScreen::Query& screen, const uint32_t* ids, uint32_t n, float bound,
                     uint32_t* kept) const;
  // Paper's heuristic: keeps at most `m` of `cands` (any order; a walk's, already sorted by
  // distance, are taken as they are) in place.
  void SelectNeighbors(std::vector<Candidate>& cands, size_t m) const;
  void ConnectNewNode(uint32_t id, std::vector<Candidate>& cands, int level);
  size_t ConnectUnreachableLocked();
  // How many level-0 links of live points lead to each slot.
  std::vector<uint32_t> Level0InDegrees() const;
  // Marks in `reached` every node a level-0 walk from `from` reaches (depth first, `stack` as
  // scratch); returns how many it newly marked.
  size_t FloodLevel0(uint32_t from, std::vector<uint8_t>& reached, std::vector<uint32_t>& stack) const;

  // A visited table from the pool (or a new one), in the form an insert's walks use (bits) or
  // a search's (epochs): see VisitedTable in hnsw_index.cc.
  std::unique_ptr<VisitedTable> AcquireVisited(bool for_insert = false) const;
  void ReleaseVisited(std::unique_ptr<VisitedTable> v) const;

  VectorCodec codec_;
  HnswOptions options_;
  size_t m0_;
  size_t stride_;  // bytes between consecutive codes
  double level_mult_;

  // Storage: either owned buffers or views into mapped_.
  AlignedBuffer codes_owned_;
  AlignedBuffer links0_owned_;
  std::shared_ptr<MappedFile> mapped_;
  uint8_t* codes_ = nullptr;
  uint32_t* links0_ = nullptr;
  // kSq8F32: the exact vectors (rows owned, or in mapped_ until Materialize) and their codec
  // (f32; prepares queries and measures exact distances).
  std::optional<ExactStore> exact_;
  std::optional<VectorCodec> exact_codec_;
  size_t trained_rows_ = 0;  // kSq8F32: points the SQ8 parameters were learned from
  size_t ordered_rows_ = 0;  // live points at the last Reorder (or Load)
  // AddBatch calls holding reserved slots (ReserveSlotsInClusterOrder): Reorder renumbers
  // slots, so it is skipped while any is held. Changed and read under grow_mu_ exclusive.
  size_t slot_reservations_ = 0;
  std::optional<BinaryScreen> screen_;  // see HnswOptions::screen
  size_t screen_rows_ = 0;              // points the screen's centre was computed from
  std::vector<std::unique_ptr<uint32_t[]>> upper_;  // levels 1..L for slots with level > 0
  std::vector<uint8_t> levels_;
  std::vector<uint64_t> labels_;
  std::vector<uint8_t> live_;  // 1 for occupied slots
  size_t capacity_ = 0;
  size_t slot_count_ = 0;  // high-water mark of used slots
  size_t live_count_ = 0;
  std::vector<uint32_t> free_slots_;
  LabelMap label_map_;

  // Entry point and its level; -1 when empty.
  uint32_t entry_point_ = 0;
  int max_level_ = -1;

  // Concurrency (see the class comment).
  mutable std::shared_mutex grow_mu_;  // shared by inserters, exclusive to grow/remove
  mutable std::mutex meta_mu_;         // labels, free list, counts, level RNG
  std::mutex entry_mu_;                // entry point / max level
  static constexpr size_t kLockStripes = 1024;
  // A link list's lock, held by inserts that change the list (readers do not take it, see
  // ReadRacingList in hnsw_index.cc). Held for a copy or a write of at most 2M+1 ids, far
  // shorter than a futex's round trip: test-and-test-and-set, yielding when the holder was
  // preempted (there may be fewer cores than inserting threads). One cache line per stripe, so
  // two threads locking neighbouring stripes do not share a line.
  class alignas(64) LinkSpinLock {
   public:
    void lock() noexcept {
      for (int spins = 0; held_.exchange(true, std::memory_order_acquire);) {
        while (held_.load(std::memory_order_relaxed)) {
          if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
          } else {
            std::this_thread::yield();
          }
        }
      }
    }
    void unlock() noexcept { held_.store(false, std::memory_order_release); }

   private:
    std::atomic<bool> held_{false};
  };
  std::unique_ptr<LinkSpinLock[]> link_locks_;
  LinkSpinLock& LinkLock(uint32_t id) const { return link_locks_[id % kLockStripes]; }
  std::mt19937_64 rng_;

  mutable std::mutex visited_mu_;
  mutable std::vector<std::unique_ptr<VisitedTable>> visited_pool_;
};

}  // namespace sextant::index
