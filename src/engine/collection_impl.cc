// CollectionImpl's write path: validate a batch, log it, apply it to the in-memory state and the
// indexes; plus the vector index's settings, memory and stats. Recovery and checkpoints are in
// collection_recovery.cc, reads and queries in collection_query.cc.
#include "engine/collection_impl.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <thread>
#include <unordered_set>

#include "codec/collection_json.h"
#include "engine/collection_settings.h"
#include "engine/point_validation.h"

namespace sextant::engine {
namespace {

float Norm(std::span<const float> v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return static_cast<float>(std::sqrt(s));
}

}  // namespace

CollectionImpl::CollectionImpl(storage::Env* env, std::string dir, CollectionConfig config,
                               DatabaseOptions options)
    : env_(env), dir_(std::move(dir)), config_(std::move(config)), options_(options) {
  if (config_.embedding) embedder_ = std::make_unique<CollectionEmbedder>(*config_.embedding, config_.dimension);
}

Status CollectionImpl::InitIndexes() {
  if (!config_.text) return Status::OK();
  SEXTANT_ASSIGN_OR_RETURN(analyzer_, text::MakeAnalyzer(config_.analyzer));
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<text::Analyzer> for_index, text::MakeAnalyzer(config_.analyzer));
  SEXTANT_ASSIGN_OR_RETURN(text_, text::InvertedIndex::Create(std::move(for_index),
                                                              {config_.bm25_k1, config_.bm25_b}));
  return Status::OK();
}

void CollectionImpl::TextAdd(uint32_t internal, const std::optional<std::string>& document) {
  // Documents were validated (UTF-8) before they were logged, so this cannot fail.
  if (text_ && document) (void)text_->Add(internal, *document);
}

void CollectionImpl::TextRemove(uint32_t internal) {
  if (text_ && text_->Contains(internal)) (void)text_->Remove(internal);
}

Result<std::unique_ptr<SegmentedIndex>> CollectionImpl::MakeVectorIndex() const {
  SegmentedIndex::Options o;
  o.dim = config_.dimension;
  o.metric = ToIndexMetric(config_.metric);
  o.kind = config_.index == IndexType::kHnsw   ? SegmentedIndex::Kind::kHnsw
           : config_.index == IndexType::kFlat ? SegmentedIndex::Kind::kFlat
                                               : SegmentedIndex::Kind::kTrained;
  o.hnsw_options.metric = o.metric;
  // Graphs are walked on SQ8 codes and rank by exact distances from float copies (sq8-f32,
  // docs/benchmarks.md); l1 keeps float32, which SQ8's arithmetic cannot serve.
  o.hnsw_options.storage = o.metric == index::Metric::kL1 ? index::StorageType::kFloat32
                                                          : index::StorageType::kSq8F32;
  o.hnsw_options.M = config_.hnsw.M;
  o.hnsw_options.ef_construction = config_.hnsw.ef_construction;
  o.trained = TrainedSpec(config_);
  o.build_threads = options_.index_threads > 0
                        ? options_.index_threads
                        : std::max<size_t>(1, std::thread::hardware_concurrency());
  o.trained.build_threads = o.build_threads;
  o.params = config_.segments;
  if (o.params.seal_points == 0) o.params.seal_points = SegmentedIndex::AutoSealPoints(o.dim);
  o.dir = dir_;
  o.files = env_;  // segment files through the Env seam, like every other file
  return SegmentedIndex::Create(o);
}

void CollectionImpl::OnSegmentsChanged() {
  std::lock_guard<std::mutex> w(write_mu_);
  // A dropped collection's files are about to go: no checkpoint to name the new segment.
  if (!broken_.ok() || open_state_ == OpenState::kDropped) return;
  // Failure only delays the switch to the new files: the old checkpoint stays valid.
  (void)CheckpointLocked(/*force=*/true);
}

Status CollectionImpl::Commit(Op& op) {
  return CommitRecord(
      [&](uint64_t seq) {
        op.seq = seq;
        return EncodeOp(op);
      },
      [&] { Apply(op); });
}

Status CollectionImpl::CommitRecord(const std::function<std::string(uint64_t seq)>& encode,
                                    const std::function<void()>& apply) {
  SEXTANT_RETURN_IF_ERROR(CheckWritable());
  const uint64_t seq = last_seq_ + 1;
  const std::string payload = encode(seq);
  Status st = wal_->AddRecord(payload);
  if (st.ok() && options_.durability == Durability::kSync) st = wal_->Sync();
  if (!st.ok()) {
    // The log may now end in a partial record; recovery cuts it, but this process must not
    // append after it.
    broken_ = st;
    return st;
  }
  {
    std::unique_lock<std::shared_mutex> lock(state_mu_);
    apply();
    last_seq_ = seq;
  }
  wal_bytes_ += payload.size() + 9;
  ++wal_records_;
  if (wal_bytes_ > options_.checkpoint_log_bytes) {
    // The write itself is durable; a failed checkpoint only leaves the log longer.
    (void)CheckpointLocked();
  }
  return Status::OK();
}

void CollectionImpl::Apply(const Op& op) {
  switch (op.type) {
    case Op::kUpsert: {
      std::vector<PointRef> refs;
      refs.reserve(op.points.size());
      for (const Point& p : op.points) refs.push_back(RefOf(p));
      ApplyUpsert(refs);
      break;
    }
    case Op::kDelete:
      ApplyDelete(op.ids);
      break;
    case Op::kUpdateMetadata: {
      auto it = ids_.find(op.ids[0]);
      if (it == ids_.end()) return;
      Record& r = *records_[it->second];
      payload_.Erase(it->second, r.metadata);
      if (op.merge) {
        for (const auto& [k, v] : op.metadata.items()) r.metadata[k] = v;
      } else {
        r.metadata = op.metadata;
      }
      payload_.Insert(it->second, r.metadata);
      break;
    }
  }
}

void CollectionImpl::ApplyUpsert(std::span<const PointRef> points) {
  // Replaced points leave the index in one batch (one repair pass), then everything is added.
  std::vector<uint64_t> replaced;
  std::vector<uint32_t> slots(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    auto it = ids_.find(points[i].id);  // std::less<>: no string built to look up
    if (it != ids_.end()) {
      replaced.push_back(it->second);
      slots[i] = it->second;
      payload_.Erase(it->second, records_[it->second]->metadata);
      TextRemove(it->second);
    } else if (!free_ids_.empty()) {
      slots[i] = free_ids_.back();
      free_ids_.pop_back();
    } else {
      slots[i] = static_cast<uint32_t>(records_.size());
      records_.emplace_back();
    }
  }
  if (vectors_) (void)vectors_->Remove(replaced);
  for (size_t i = 0; i < points.size(); ++i) {
    const PointRef& p = points[i];
    const uint32_t internal = slots[i];
    if (records_[internal]) {
      const Record& old = *records_[internal];
      record_bytes_ -= old.id.size() + (old.document ? old.document->size() : 0) + 64;
    }
    if (vectors_) (void)vectors_->Add(internal, p.vector);
    Record r{std::string(p.id), std::nullopt, *p.metadata,
             config_.metric == Metric::kCosine ? Norm(p.vector) : 1.0f};
    if (p.document) r.document.emplace(*p.document);
    TextAdd(internal, r.document);
    ids_.insert_or_assign(r.id, internal);
    live_.add(internal);
    payload_.Insert(internal, r.metadata);
    record_bytes_ += r.id.size() + (r.document ? r.document->size() : 0) + 64;
    records_[internal] = std::move(r);
  }
}

void CollectionImpl::ApplyDelete(const std::vector<std::string>& ids) {
  std::vector<uint64_t> gone;
  for (const std::string& id : ids) {
    auto it = ids_.find(id);
    if (it == ids_.end()) continue;
    const uint32_t internal = it->second;
    const Record& r = *records_[internal];
    payload_.Erase(internal, r.metadata);
    TextRemove(internal);
    record_bytes_ -= r.id.size() + (r.document ? r.document->size() : 0) + 64;
    records_[internal].reset();
    live_.remove(internal);
    free_ids_.push_back(internal);
    gone.push_back(internal);
    ids_.erase(it);
  }
  if (vectors_) (void)vectors_->Remove(gone);
}

Result<size_t> CollectionImpl::Upsert(std::span<const Point> input) {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  std::vector<PointRef> points;
  points.reserve(input.size());
  for (const Point& p : input) points.push_back(RefOf(p));
  return UpsertRefs(std::move(points));
}

Result<size_t> CollectionImpl::UpsertColumns(const PointColumns& c) {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  const size_t n = c.ids.size();
  if (!c.documents.empty() && c.documents.size() != n) {
    return Status::InvalidArgument("documents has " + std::to_string(c.documents.size()) + " entries, ids has " +
                                   std::to_string(n));
  }
  if (!c.metadata.empty() && c.metadata.size() != n) {
    return Status::InvalidArgument("metadata has " + std::to_string(c.metadata.size()) + " entries, ids has " +
                                   std::to_string(n));
  }
  const bool has_vectors = c.vectors != nullptr && c.dimension > 0;
  if (has_vectors && c.dimension != config_.dimension) {
    if (config_.dimension == 0) {
      return Status::InvalidArgument("this collection is text-only (dimension 0); omit the vectors");
    }
    return Status::InvalidArgument("vectors have dimension " + std::to_string(c.dimension) + ", collection has " +
                                   std::to_string(config_.dimension));
  }
  static const nlohmann::json kNoMetadata = nlohmann::json::object();
  std::vector<PointRef> points(n);
  for (size_t i = 0; i < n; ++i) {
    PointRef& p = points[i];
    p.id = c.ids[i];
    if (has_vectors) p.vector = std::span<const float>(c.vectors + i * c.dimension, c.dimension);
    if (!c.documents.empty()) p.document = c.documents[i];
    p.metadata = c.metadata.empty() ? &kNoMetadata : &c.metadata[i];
  }
  return UpsertRefs(std::move(points));
}

Result<size_t> CollectionImpl::UpsertRefs(std::vector<PointRef> points) {
  // A collection with a model embeds the documents of points without a vector first, outside
  // every lock: the log then holds the vectors, and recovery never embeds again. A model's
  // failure fails the whole batch before anything is written.
  std::unordered_set<std::string_view> seen;
  seen.reserve(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    SEXTANT_RETURN_IF_ERROR(ValidatePointAt(points[i], config_.dimension, config_.metric, i, embedder_ != nullptr));
    if (!seen.insert(points[i].id).second) {
      return Status::InvalidArgument("point " + std::to_string(i) + ": id '" + std::string(points[i].id) +
                                     "' appears twice in the batch");
    }
  }
  std::vector<float> embedded;  // the rows the model gave; points' vectors may point into it
  if (embedder_) {
    SEXTANT_RETURN_IF_ERROR(EmbedDocuments(*embedder_, config_.dimension, config_.metric, points, &embedded));
  }
  if (points.empty()) return size_t{0};
  // Back-pressure: while the indexer is far behind, wait (bounded) before logging the write.
  if (vectors_) vectors_->Throttle();
  std::lock_guard<std::mutex> w(write_mu_);
  SEXTANT_RETURN_IF_ERROR(CommitRecord([&](uint64_t seq) { return EncodeUpsert(seq, points); },
                                       [&] { ApplyUpsert(points); }));
  return points.size();
}

Result<size_t> CollectionImpl::Delete(std::span<const std::string> ids) {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> w(write_mu_);
  Op op;
  op.type = Op::kDelete;
  {
    std::shared_lock<std::shared_mutex> r(state_mu_);
    std::unordered_set<std::string_view> seen;
    for (const auto& id : ids) {
      if (ids_.count(id) && seen.insert(id).second) op.ids.push_back(id);
    }
  }
  if (op.ids.empty()) return size_t{0};
  SEXTANT_RETURN_IF_ERROR(Commit(op));
  return op.ids.size();
}

Result<filter::Filter> CollectionImpl::ParseFilter(const nlohmann::json& j) const {
  auto f = filter::Filter::Parse(j);
  if (!f.ok()) return f.status().WithContext("filter");
  return f;
}

roaring::Roaring CollectionImpl::Matching(const filter::Filter& f) const {
  if (auto ids = payload_.Evaluate(f, live_)) return std::move(*ids);
  roaring::Roaring out;  // a filter the payload index cannot answer: scan the metadata
  for (uint32_t internal : live_) {
    if (f.Matches(records_[internal]->metadata)) out.add(internal);
  }
  return out;
}

Result<size_t> CollectionImpl::DeleteByFilter(const nlohmann::json& filter) {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  SEXTANT_ASSIGN_OR_RETURN(filter::Filter f, ParseFilter(filter));
  std::lock_guard<std::mutex> w(write_mu_);
  Op op;
  op.type = Op::kDelete;
  {
    std::shared_lock<std::shared_mutex> r(state_mu_);
    for (uint32_t internal : Matching(f)) op.ids.push_back(records_[internal]->id);
  }
  if (op.ids.empty()) return size_t{0};
  SEXTANT_RETURN_IF_ERROR(Commit(op));
  return op.ids.size();
}

Status CollectionImpl::UpdateMetadata(const std::string& id, const nlohmann::json& metadata,
                                      bool merge) {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  Point probe;
  probe.id = id;
  probe.vector.assign(config_.dimension, 0.0f);
  probe.metadata = metadata;
  SEXTANT_RETURN_IF_ERROR(ValidatePointAt(probe, config_.dimension, Metric::kL2, 0));
  std::lock_guard<std::mutex> w(write_mu_);
  {
    std::shared_lock<std::shared_mutex> r(state_mu_);
    if (!ids_.count(id)) return Status::NotFound("point '" + id + "' not found");
  }
  Op op;
  op.type = Op::kUpdateMetadata;
  op.ids = {id};
  op.metadata = metadata;
  op.merge = merge;
  return Commit(op);
}

CollectionConfig CollectionImpl::config() const {
  std::lock_guard<std::mutex> m(metadata_mu_);
  return config_;
}

Status CollectionImpl::SetMetadata(const nlohmann::json& metadata) {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  SEXTANT_RETURN_IF_ERROR(codec::CheckCollectionMetadata(metadata));
  // Under write_mu_: after a drop or close has taken the directory (checked again once held),
  // and never while a snapshot copies config.json.
  std::lock_guard<std::mutex> w(write_mu_);
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  CollectionConfig next = config();
  next.metadata = metadata;
  SEXTANT_RETURN_IF_ERROR(WriteConfigFile(env_, dir_ + "/config.json", next));
  std::lock_guard<std::mutex> m(metadata_mu_);
  config_.metadata = metadata;
  return Status::OK();
}

size_t CollectionImpl::MemoryUsage() const {
  std::shared_lock<std::shared_mutex> r(state_mu_);
  return (vectors_ ? vectors_->MemoryUsage() : 0) + payload_.MemoryUsage() + record_bytes_ +
         records_.capacity() * sizeof(std::optional<Record>) + ids_.size() * 64 +
         live_.getSizeInBytes();
}

CollectionStats CollectionImpl::Stats() const {
  CollectionStats st;
  st.memory_bytes = MemoryUsage();
  {
    std::shared_lock<std::shared_mutex> r(state_mu_);
    st.points = ids_.size();
  }
  if (vectors_) {
    const SegmentedIndex::Stats s = vectors_->GetStats();
    st.segments = s.segments;
    st.unindexed_points = s.unindexed;
    st.deleted_pending = s.deleted_pending;
    st.segments_sealed = s.sealed;
    st.segments_merged = s.merged;
    st.index_errors = s.index_errors;
    st.last_index_error = s.last_error;
    st.write_stalls = s.write_stalls;
  }
  st.wal_records = wal_records_.load();
  st.checkpoints = checkpoints_.load();
  uint64_t disk_bytes = 0, wal_bytes = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::error_code fe;
    if (e.is_regular_file(fe)) {
      const auto size = e.file_size(fe);
      if (!fe) disk_bytes += size;
      if (e.path().filename().string().rfind("wal-", 0) == 0 && !fe) wal_bytes = size;
    }
  }
  // The figures count only if the collection was still open after they were read: the
  // listing then ended before a drop renamed the directory away (after which the name may
  // belong to a new collection). Close sets the state before anything is renamed.
  if (open_state_ == OpenState::kOpen) {
    st.disk_bytes = disk_bytes;
    st.wal_bytes = wal_bytes;
  }
  return st;
}

Status CollectionImpl::Optimize(bool merge_all) {
  SEXTANT_RETURN_IF_ERROR(CheckOpen());
  if (!vectors_) return Status::OK();
  Status st = vectors_->Optimize(merge_all);
  // A drop or close stops the indexer under a waiting Optimize: say which.
  Status open = CheckOpen();
  return st.ok() || open.ok() ? st : open;
}

}  // namespace sextant::engine
