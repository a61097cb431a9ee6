// SegmentedIndex: one collection's vectors, kept in segments (docs/formats/collection.md).
//
// Fresh writes go to the *mutable* segment, a flat index searched exactly, so a write costs
// a copy, not a graph insertion. When it holds `seal_points` vectors it is *frozen*: it stays
// searchable (exactly) while a background thread builds an HNSW graph over it, writes it to
// an immutable segment file and swaps it in as a *sealed* segment. Sealed segments never
// change in place: deleting or replacing one of their points marks the vector deleted (a
// tombstone bitmap the search skips). The same thread merges sealed segments — merge_factor
// segments of a similar size at a time, so their number stays logarithmic in the collection
// size — and compacts a segment once compact_deleted_fraction of its vectors are deleted.
// A merge copies the largest input's graph, really removes its deleted vectors (repairing the
// links) and inserts the other inputs' live vectors, which costs far less than a rebuild.
// Each merge writes a new segment file; the old ones are removed after the next checkpoint
// no longer names them. So deleted vectors' memory and disk are reclaimed.
//
// Labels are the collection's internal point numbers; a live label is in exactly one segment
// (a label freed by a delete may be reused while a sealed segment still holds its tombstone).
//
// Each segment is an engine::Segment (segment.h): a FlatSegment (mutable, frozen), a
// GraphSegment (sealed, HNSW) or a TrainedSegment (sealed, quantized). A query searches every
// segment and merges the top k. The filter planner (filter_planner.h) runs per segment: an
// exact scan of the points that pass when few do, a filtered graph walk otherwise.
//
// Back-pressure (a write-heavy load must not outrun the indexer): frozen segments whose live
// vectors together fit one segment are sealed by one job (building only their live vectors);
// merges and compactions take turns with seals, and go first while the sealed segments
// outnumber their bound (merge_factor - 1 per size tier) or hold more than
// compact_deleted_fraction deleted vectors; and writers wait (Throttle, bounded) while
// kStallFrozen segments are frozen. A failed build is retried with backoff and reported in
// the stats; it never fails a write. Memory freed by merges is given back to the system.
//
// Quiet (SegmentParams::quiet_seconds without a write): the tiers above leave a collection
// that stopped growing with a few segments and its last points unindexed, and every query
// pays for that (each segment is a walk of its own, the mutable one an exact scan). Once
// writes stop, the thread indexes the mutable segment (if it holds a 32nd of seal_points or
// more) and merges the sealed segments into one, smallest first, up to kQuietMergeSeals x
// seal_points vectors: a bulk load ends as one graph without `optimize`.
//
// Thread-safety: every public method may be called from any thread. Searches run
// concurrently with each other; Add/Remove take the internal lock exclusively for the moment
// they change a segment; the background thread builds without the lock and takes it only to
// swap segments in.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "filter/roaring.h"
#include "index/flat_index.h"
#include "engine/raw_vectors.h"
#include "engine/segment.h"
#include "index/hnsw_index.h"
#include "index/vector_codec.h"
#include "index/vector_index.h"
#include "sextant/database.h"

namespace sextant::engine {

index::Metric ToIndexMetric(Metric m);

class SegmentedIndex {
 public:
  // How sealed segments are indexed: an HNSW graph; nothing (kFlat: one exact segment that is
  // never sealed); or a trained VectorIndex (IVF, PQ, SQ8, HNSW over SQ8) with the segment's
  // full vectors in a RawVectors file beside it.
  enum class Kind { kFlat, kHnsw, kTrained };
  struct Options {
    size_t dim = 0;
    index::Metric metric = index::Metric::kL2;
    Kind kind = Kind::kHnsw;
    index::HnswOptions hnsw_options;
    index::IndexSpec trained;  // kTrained
    SegmentParams params;  // seal_points already resolved (non-zero)
    std::string dir;       // where segment files are written
    FileWriter* files = nullptr;  // how (the collection's Env; nullptr: PosixFileWriter())
    size_t build_threads = 1;  // for graph builds and merges
  };

  // Segment sizes chosen for a dimension when SegmentParams::seal_points is 0.
  static size_t AutoSealPoints(size_t dim);
  static std::string SegmentFileName(uint64_t id);

  static Result<std::unique_ptr<SegmentedIndex>> Create(const Options& options);
  // Checks a kTrained configuration (m dividing the dimension, nbits 4 or 8, ...).
  static Status CheckTrainedSpec(size_t dim, const index::IndexSpec& spec);
  // Stops the background thread (waiting for a running on_change to return); a build in
  // progress is abandoned (its file, if written, is not named by any manifest and is removed
  // at the next open). Idempotent; the destructor calls it.
  void Stop();
  ~SegmentedIndex();

  // While opening, before Start: adds sealed segment `id` from `file` (and `vectors_file` for a
  // quantized one), with `live` the labels that are live in it (the rest of its vectors are
  // deleted). Errors: Corruption (damaged file, dimension/metric mismatch, a live label the
  // file lacks).
  Status AttachSealed(uint64_t id, const std::string& file, const std::string& vectors_file,
                      const roaring::Roaring& live);
  // Starts the background thread. `on_change` runs on it, with no lock held, after every
  // segment swap (the collection writes a checkpoint naming the new segment files).
  void Start(std::function<void()> on_change);

  // Adds a vector to the mutable segment (the label must not be live anywhere).
  Status Add(uint64_t label, std::span<const float> vector);
  // Removes live labels wherever they are (absent ones are ignored).
  void Remove(std::span<const uint64_t> labels);

  struct QueryParams {
    size_t ef = 64;      // HNSW beam
    size_t nprobe = 8;   // IVF lists
    size_t rerank = 0;   // quantized segments: candidates re-ranked exactly (0: none)
    // Checked before each segment: DeadlineExceeded once passed.
    std::optional<std::chrono::steady_clock::time_point> deadline;
  };
  // The k nearest live vectors among `pass` (all live ones when null), ascending distance.
  Result<std::vector<index::SearchHit>> Search(std::span<const float> query, size_t k,
                                               const QueryParams& params,
                                               const roaring::Roaring* pass) const;
  // The stored vector (normalised for cosine). NotFound if the label is not live.
  Result<std::vector<float>> GetVector(uint64_t label) const;

  // The sealed segments whose files a checkpoint names, each with its live labels; every
  // other live label is in the mutable or a frozen segment and needs its vector checkpointed.
  struct SealedView {
    uint64_t id;
    std::string file;
    std::string vectors_file;  // quantized segments: the full vectors
    roaring::Roaring live;
  };
  std::vector<SealedView> Sealed() const;
  // Segment files replaced by merges; the caller deletes each one once a committed manifest
  // no longer names it, and gives back the ones it could not delete yet.
  std::vector<std::string> TakeObsoleteFiles();
  void ReturnObsoleteFiles(std::vector<std::string> files);

  // Freezes the mutable segment and waits until the background thread is idle: every vector
  // is then in a sealed segment and merges and compactions are done. With `full`, also merges
  // all sealed segments into one. A build waiting for its retry is retried at once; if one
  // fails while Optimize waits, Optimize returns that error (the build is still retried in
  // the background, with backoff, and writes are unaffected).
  Status Optimize(bool full);

  // Write back-pressure: a writer calls this before it logs a write (holding no lock). While
  // kStallFrozen or more segments wait to be indexed it waits until the indexer catches up,
  // for at most max_stall (the write then goes ahead: a slow indexer delays writes, never
  // fails them). Returns at once while builds are failing, or when the thread is not running.
  static constexpr size_t kStallFrozen = 3;
  void Throttle(std::chrono::milliseconds max_stall = std::chrono::seconds(10));

  struct Stats {
    size_t segments = 0;
    size_t unindexed = 0;        // live vectors in mutable and frozen segments
    size_t deleted_pending = 0;  // tombstones in frozen and sealed segments
    uint64_t sealed = 0;         // since open
    uint64_t merged = 0;         // since open
    uint64_t index_errors = 0;   // failed builds/merges since open (each is retried)
    std::string last_error;      // the last failure's message ("" if none)
    bool failing = false;        // the last attempt failed; a retry is pending
    uint64_t write_stalls = 0;   // Throttle calls that waited
    uint64_t memory_trims = 0;   // times freed memory was handed back to the system
  };
  Stats GetStats() const;
  size_t size() const;  // live vectors
  size_t MemoryUsage() const;

 private:
  struct Job;

  SegmentedIndex(const Options& options, std::shared_ptr<const index::VectorCodec> exact)
      : options_(options), exact_(std::move(exact)) {}
  std::shared_ptr<Segment> NewMutableLocked();
  void FreezeMutableLocked();
  bool PickJobLocked(Job* job);
  // Quiet: no write for quiet_seconds (never when they are 0).
  bool QuietLocked(std::chrono::steady_clock::time_point now) const;
  // When the idle thread should look again for quiet work (nullopt: only when kicked).
  std::optional<std::chrono::steady_clock::time_point> NextQuietCheck() const;
  // The sealed segments a merge or compaction should combine now (empty: none is due);
  // `over` is set when the sealed segments are past their bounds.
  std::vector<std::shared_ptr<Segment>> ChooseMergeLocked(bool* over);
  void RemoveFilesOfFailedJob(const Job& job);
  void TrimMemory();
  Status RunJob(Job& job);
  void Loop();
  void Kick();  // wakes the background thread

  const Options options_;
  // float32: prepares queries; trained segments score their full vectors with it.
  const std::shared_ptr<const index::VectorCodec> exact_;

  mutable std::shared_mutex mu_;  // segments_ and each segment's bitmaps / mutable index
  std::vector<std::shared_ptr<Segment>> segments_;  // sealed..., frozen..., mutable (last)
  uint64_t next_id_ = 1;
  std::vector<std::string> obsolete_files_;
  uint64_t sealed_count_ = 0, merged_count_ = 0;
  std::atomic<size_t> frozen_count_{0};  // frozen segments (written under mu_)
  static constexpr size_t kQuietMergeSeals = 64;  // a quiet merge holds at most 64 x seal_points
  // steady_clock ticks of the last Add or Remove (or of creation).
  std::atomic<int64_t> last_write_{std::chrono::steady_clock::now().time_since_epoch().count()};

  // Background thread (state under job_mu_).
  mutable std::mutex job_mu_;
  std::condition_variable job_cv_;   // work arrived, or stop
  std::condition_variable idle_cv_;  // the thread went idle
  std::atomic<bool> stop_{false};
  uint64_t kick_gen_ = 0;  // bumped by every Kick
  uint64_t idle_gen_ = 0;  // the last kick_gen_ the thread saw before finding nothing to do
  bool full_merge_ = false;
  bool merge_turn_ = false;  // a merge is due and a seal ran last: the merge goes next
  // Failures: counted, the last one kept; the next attempt waits until retry_at_ (backoff)
  // unless retry_now_ (Optimize) says otherwise.
  uint64_t index_errors_ = 0;
  Status last_error_;
  uint32_t consecutive_failures_ = 0;
  std::chrono::steady_clock::time_point retry_at_{};
  bool retry_now_ = false;
  std::atomic<bool> failing_{false};
  std::atomic<bool> running_{false};  // the background thread was started
  std::condition_variable backlog_cv_;  // a job finished (stalled writers look again)
  uint64_t write_stalls_ = 0;
  // Bytes of segments dropped since memory was last handed back to the system.
  size_t freed_since_trim_ = 0;
  std::atomic<uint64_t> memory_trims_{0};
  std::function<void()> on_change_;
  std::thread thread_;
};

}  // namespace sextant::engine
