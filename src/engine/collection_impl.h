// CollectionImpl: one collection — its points, vector index, payload index, log and
// checkpoints — behind the public Collection interface. Its code is split by job:
//   collection_impl.cc      the write path (validate, log, apply) and stats
//   collection_recovery.cc  create/open, recovery, checkpoints, log repair, snapshots
//   collection_query.cc     get/count/scroll, filters, vector/text/hybrid queries
//   collection_settings.h   the config rules and config.json; point_validation.h the point rules
//
// On disk (docs/formats/collection.md), in the collection's directory:
//   config.json          the CollectionConfig
//   MANIFEST             JSON naming the live checkpoint files, segments and log; replaced
//                        atomically, it is the commit point of a checkpoint
//   points-SEQ.dat       every point at log sequence SEQ (ids, documents, metadata, its
//                        segment, and the vectors not yet in a sealed segment)
//   seg-ID.hnsw          a sealed segment: an immutable HNSW graph (engine/segmented_index.h)
//   wal-SEQ.log          writes after SEQ, one record per write
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include <roaring/roaring.hh>

#include "engine/collection_embedding.h"
#include "engine/op_codec.h"
#include "engine/segmented_index.h"
#include "filter/filter.h"
#include "filter/payload_index.h"
#include "sextant/database.h"
#include "storage/env.h"
#include "storage/log_writer.h"
#include "text/analyzer.h"
#include "text/fusion.h"
#include "text/inverted_index.h"

namespace sextant::engine {

class CollectionImpl final : public Collection {
 public:
  // Makes a new collection in `dir` (which must not exist).
  static Result<std::unique_ptr<CollectionImpl>> Create(storage::Env* env, const std::string& dir,
                                                        const CollectionConfig& config,
                                                        const DatabaseOptions& options);
  // Opens an existing collection directory, replaying its log.
  static Result<std::unique_ptr<CollectionImpl>> Open(storage::Env* env, const std::string& dir,
                                                      const DatabaseOptions& options);
  ~CollectionImpl() override;

  CollectionConfig config() const override;
  Status SetMetadata(const nlohmann::json& metadata) override;
  Result<size_t> Upsert(std::span<const Point> input) override;
  Result<size_t> UpsertColumns(const PointColumns& columns) override;
  Result<std::vector<Point>> Get(std::span<const std::string> ids,
                                 bool include_vector) const override;
  Result<size_t> Delete(std::span<const std::string> ids) override;
  Result<size_t> DeleteByFilter(const nlohmann::json& filter) override;
  Status UpdateMetadata(const std::string& id, const nlohmann::json& metadata,
                        bool merge) override;
  Result<size_t> Count(const std::optional<nlohmann::json>& filter) const override;
  Result<ScrollPage> Scroll(const std::string& after, size_t limit,
                            const std::optional<nlohmann::json>& filter,
                            bool include_vector) const override;
  Result<std::vector<QueryHit>> Query(const QueryRequest& request) const override;
  Result<TextStats> TextStatistics(std::string_view text) const override;
  Result<QuerySides> SearchSides(const QueryRequest& request) const override;
  Status Checkpoint() override;
  Status CreateSnapshot(const std::string& dir) override;
  size_t MemoryUsage() const override;
  CollectionStats Stats() const override;
  Status Optimize(bool merge_all) override;

  // Whether the collection still serves calls, and if not, why (the error CheckOpen gives).
  enum class OpenState : uint8_t { kOpen, kDropped, kClosed };
  // Ends the collection's use of its directory, for DropCollection (kDropped) or the
  // Database's close (kClosed): every later call through any handle fails, calls already
  // running finish. Stops the background indexer and waits for a write in progress; a close
  // (not a drop) then records the clean close in the MANIFEST. Afterwards this object neither
  // reads nor writes its directory, which may be removed or taken by a new collection.
  // Idempotent; the destructor calls it. Not concurrently with itself (the Database calls it
  // under its lock, and the destructor runs after the last handle has gone).
  void Close(OpenState why);

 private:
  struct Record {
    std::string id;
    std::optional<std::string> document;
    nlohmann::json metadata;
    float norm = 1;
  };

  CollectionImpl(storage::Env* env, std::string dir, CollectionConfig config,
                 DatabaseOptions options);
  Status Recover();
  // MANIFEST through storage::WriteMetaFile / ReadMetaFile; the reader checks its shape and
  // names strictly (Corruption naming the file).
  Status WriteManifest(const nlohmann::json& fields);
  Result<nlohmann::json> ReadManifest(const std::string& path) const;
  Status OpenLog(const std::string& name, bool truncate);
  // Appends `op` to the log (fsync per options), then applies it. Caller holds write_mu_.
  Status Commit(Op& op);
  // As Commit, for a record `encode` gives for its sequence number and `apply` applies (under
  // state_mu_ exclusively).
  Status CommitRecord(const std::function<std::string(uint64_t seq)>& encode, const std::function<void()>& apply);
  // The write path of Upsert and UpsertColumns: validate the whole batch, embed what has no
  // vector, log, apply.
  Result<size_t> UpsertRefs(std::vector<PointRef> points);
  void Apply(const Op& op);  // caller holds state_mu_ exclusively
  void ApplyUpsert(std::span<const PointRef> points);
  void ApplyDelete(const std::vector<std::string>& ids);
  // Writes a checkpoint when there is something new (always with `force`). Caller holds write_mu_.
  Status CheckpointLocked(bool force = false);
  // Runs on the segment thread after a segment swap: a checkpoint names the new files.
  void OnSegmentsChanged();
  Result<std::unique_ptr<SegmentedIndex>> MakeVectorIndex() const;
  Point MakePoint(uint32_t internal, bool include_vector) const;
  // Internal ids of live points passing `f`. Caller holds state_mu_.
  roaring::Roaring Matching(const filter::Filter& f) const;
  Result<filter::Filter> ParseFilter(const nlohmann::json& j) const;
  // OK while open; otherwise the error every call gets once the collection is closed (Close).
  Status CheckOpen() const;
  // CheckOpen, then after a failed log write: tries RepairLog first. Caller holds write_mu_.
  Status CheckWritable();
  // Truncates the log to its last whole record (wal_bytes_) and reopens it for appending.
  Status RepairLog();
  Status InitIndexes();  // text_ / analyzer_ from the config
  void TextAdd(uint32_t internal, const std::optional<std::string>& document);
  void TextRemove(uint32_t internal);
  // A query text for the keyword side: a keyword index, a text that is not empty, UTF-8.
  Status CheckQueryText(std::string_view text) const;
  // Query once its mode is resolved: a vector, a keyword text, or both (hybrid). With `sides`
  // and a text, the sides are left there unfused and no hits are returned.
  Result<std::vector<QueryHit>> Search(const QueryRequest& q, QuerySides* sides = nullptr) const;
  // A hit on point `internal` with the fields `q` includes (caller holds state_mu_ shared).
  QueryHit MakeHit(uint32_t internal, float score, const QueryRequest& q) const;
  // For explain: the terms of `query_terms` that the point's document holds, each once.
  nlohmann::json MatchedTerms(uint32_t internal, const std::vector<std::string>& query_terms) const;
  // The vector and text parts of Query (caller holds state_mu_ shared).
  Result<std::vector<index::SearchHit>> VectorSearch(const QueryRequest& q, size_t k,
                                                     const roaring::Roaring* pass) const;
  Result<std::vector<QueryHit>> HybridQuery(const QueryRequest& q, text::FusionMethod method,
                                            const roaring::Roaring* pass, QuerySides* sides) const;

  storage::Env* env_;
  const std::string dir_;
  // Every member is fixed at open but `metadata`, which SetMetadata changes (holding write_mu_
  // and metadata_mu_); config() copies it under metadata_mu_. The engine's own code reads
  // config_ without the lock and never its metadata.
  CollectionConfig config_;
  mutable std::mutex metadata_mu_;
  DatabaseOptions options_;

  std::mutex write_mu_;                 // serialises writers, checkpoints and snapshots
  mutable std::shared_mutex state_mu_;  // readers shared; applying a write exclusive
  // Set once, by Close, before it takes write_mu_: a writer that holds write_mu_ and has
  // passed CheckWritable finishes, every later one fails.
  std::atomic<OpenState> open_state_{OpenState::kOpen};

  // In-memory state (guarded by state_mu_).
  std::vector<std::optional<Record>> records_;  // by internal id
  std::vector<uint32_t> free_ids_;
  std::map<std::string, uint32_t, std::less<>> ids_;  // ordered: Scroll pages by id
  roaring::Roaring live_;
  filter::PayloadIndex payload_;
  std::unique_ptr<SegmentedIndex> vectors_;   // null for text-only collections (dimension 0)
  std::unique_ptr<text::InvertedIndex> text_;  // documents, when config_.text
  std::unique_ptr<text::Analyzer> analyzer_;   // the same analyzer, for explain
  std::unique_ptr<CollectionEmbedder> embedder_;  // when config_.embedding
  size_t record_bytes_ = 0;

  // Log and checkpoint state (guarded by write_mu_).
  uint64_t last_seq_ = 0;
  uint64_t checkpoint_seq_ = 0;
  std::string wal_name_;
  std::unique_ptr<storage::WritableFile> wal_file_;
  std::unique_ptr<storage::LogWriter> wal_;
  uint64_t wal_bytes_ = 0;
  uint64_t checkpoint_gen_ = 0;                 // checkpoints written (names the points file)
  std::string points_name_;                     // the current manifest's points file, if any
  std::vector<std::string> manifest_segments_;  // segment files the current manifest names
  nlohmann::json manifest_;                     // the fields of the last committed manifest
  std::atomic<uint64_t> wal_records_{0};
  std::atomic<uint64_t> checkpoints_{0};
  Status broken_;  // a failed log write: writes are refused until RepairLog succeeds
};

}  // namespace sextant::engine
