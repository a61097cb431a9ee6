#include "engine/segmented_index.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/heap.h"
#include "engine/flat_segment.h"
#include "engine/graph_segment.h"
#include "engine/search_pool.h"
#include "engine/trained_segment.h"

#if defined(__GLIBC__)
#endif


namespace sextant::engine {
namespace {

// Vectors added per step of a background build, between checks of the stop flag.
constexpr size_t kBuildChunk = 512;
// A failed build is retried after 100 ms, then twice as long each time, at most this long.
constexpr auto kFirstRetry = std::chrono::milliseconds(100);
constexpr auto kMaxRetry = std::chrono::seconds(10);
// Freed memory is handed back to the system whenever the indexer goes idle, and during a
// long busy spell after every this many bytes of dropped segments.
constexpr size_t kTrimBytes = size_t{64} << 20;
// The smallest beam a segment of a multi-segment collection is searched with (unless the
// query's own is smaller); see Search.
constexpr size_t kMinSegmentBeam = 32;

}  // namespace

index::Metric ToIndexMetric(Metric m) {
  switch (m) {
    case Metric::kL2: return index::Metric::kL2;
    case Metric::kInnerProduct: return index::Metric::kInnerProduct;
    case Metric::kCosine: return index::Metric::kCosine;
  }
  return index::Metric::kL2;
}

struct SegmentedIndex::Job {
  enum Kind { kSeal, kMerge } kind = kSeal;
  // kSeal: the frozen segment. kMerge: the inputs, the one whose graph is reused first (when
  // `reuse_first`), each with its live labels when the job was picked.
  std::vector<std::shared_ptr<Segment>> inputs;
  std::vector<std::vector<uint64_t>> labels;
  bool reuse_first = false;
  std::vector<uint64_t> remove_from_first;  // deleted vectors to take out of the reused graph
  uint64_t new_id = 0;
  size_t freed_bytes = 0;  // set by the swap: memory of the inputs it dropped
};

size_t SegmentedIndex::AutoSealPoints(size_t dim) {
  const size_t by_size = (size_t{4} << 20) / std::max<size_t>(dim, 1);  // 16 MiB of floats
  return std::clamp<size_t>(by_size, 2048, 50000);
}

std::string SegmentedIndex::SegmentFileName(uint64_t id) { return GraphSegment::FileName(id); }

Status SegmentedIndex::CheckTrainedSpec(size_t dim, const index::IndexSpec& spec) {
  return index::CreateVectorIndex(dim, spec).status();
}

Result<std::unique_ptr<SegmentedIndex>> SegmentedIndex::Create(const Options& options) {
  // Full vectors are float32 rows, which is what a float32 codec's code is.
  SEXTANT_ASSIGN_OR_RETURN(index::VectorCodec exact,
                           index::VectorCodec::Create(options.dim, options.metric, index::StorageType::kFloat32));
  std::unique_ptr<SegmentedIndex> s(
      new SegmentedIndex(options, std::make_shared<const index::VectorCodec>(std::move(exact))));
  std::unique_lock<std::shared_mutex> l(s->mu_);
  auto seg = s->NewMutableLocked();
  if (!seg) return Status::InvalidArgument("cannot create a flat index of dimension " + std::to_string(options.dim));
  return s;
}

SegmentedIndex::~SegmentedIndex() { Stop(); }

void SegmentedIndex::Stop() {
  {
    std::lock_guard<std::mutex> jl(job_mu_);
    stop_ = true;
  }
  job_cv_.notify_all();
  idle_cv_.notify_all();
  backlog_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<Segment> SegmentedIndex::NewMutableLocked() {
  auto flat = FlatSegment::Create(next_id_, options_.dim, options_.metric);
  if (!flat.ok()) return nullptr;
  ++next_id_;
  std::shared_ptr<Segment> seg = std::move(flat).value();
  segments_.push_back(seg);
  return seg;
}

void SegmentedIndex::FreezeMutableLocked() {
  if (options_.kind == Kind::kFlat) return;  // flat collections keep one exact segment
  Segment& m = *segments_.back();
  if (m.live_count() == 0) return;
  m.Freeze();
  frozen_count_.fetch_add(1);
  NewMutableLocked();
}

Status SegmentedIndex::AttachSealed(uint64_t id, const std::string& file,
                                    const std::string& vectors_file, const roaring::Roaring& live) {
  std::shared_ptr<Segment> seg;
  if (vectors_file.empty()) {
    SEXTANT_ASSIGN_OR_RETURN(seg, GraphSegment::Open(id, options_.dir, file, options_.dim, options_.metric));
  } else {
    SEXTANT_ASSIGN_OR_RETURN(seg, TrainedSegment::Open(id, options_.dir, file, vectors_file, exact_));
  }
  SEXTANT_RETURN_IF_ERROR(AttachLive(*seg, options_.dir + "/" + file, live));
  std::unique_lock<std::shared_mutex> l(mu_);
  segments_.insert(segments_.begin(), std::move(seg));
  next_id_ = std::max(next_id_, id + 1);
  return Status::OK();
}

void SegmentedIndex::Start(std::function<void()> on_change) {
  on_change_ = std::move(on_change);
  if (options_.kind != Kind::kFlat) {
    thread_ = std::thread([this] { Loop(); });
    running_ = true;
  }
  Kick();  // a recovered mutable segment may already be due
}

void SegmentedIndex::Kick() {
  {
    std::lock_guard<std::mutex> jl(job_mu_);
    ++kick_gen_;
  }
  job_cv_.notify_all();
}

Status SegmentedIndex::Add(uint64_t label, std::span<const float> vector) {
  last_write_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  bool froze = false;
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    Segment& m = *segments_.back();
    SEXTANT_RETURN_IF_ERROR(m.Add(label, vector));
    if (options_.kind != Kind::kFlat && m.live_count() >= options_.params.seal_points) {
      FreezeMutableLocked();
      froze = true;
    }
  }
  if (froze) Kick();
  return Status::OK();
}

void SegmentedIndex::Remove(std::span<const uint64_t> labels) {
  if (labels.empty()) return;
  last_write_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  bool compact = false;
  std::unique_lock<std::shared_mutex> l(mu_);
  // Each label is live in at most one segment; the newest ones are looked at first.
  std::vector<std::vector<uint64_t>> by_segment(segments_.size());
  for (uint64_t label : labels) {
    for (size_t i = segments_.size(); i-- > 0;) {
      if (!segments_[i]->Contains(label)) continue;
      by_segment[i].push_back(label);
      break;
    }
  }
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (by_segment[i].empty()) continue;
    Segment& s = *segments_[i];
    s.Remove(by_segment[i]);
    compact = compact || (s.state() == Segment::State::kSealed &&
                          s.deleted_count() >= options_.params.compact_deleted_fraction *
                                                   static_cast<double>(s.deleted_count() + s.live_count()));
  }
  l.unlock();
  if (compact) Kick();
}

Result<std::vector<index::SearchHit>> SegmentedIndex::Search(std::span<const float> query,
                                                             size_t k, const QueryParams& params,
                                                             const roaring::Roaring* pass) const {
  // The query as exact distances need it (normalised for cosine, as stored vectors are).
  std::vector<float> q_exact(query.size());
  if (query.size() == options_.dim) exact_->PrepareExactQuery(query.data(), q_exact.data());
  SegmentQuery q;
  q.vector = query;
  q.prepared = q_exact;
  q.ef = params.ef;
  q.nprobe = params.nprobe;
  q.rerank = params.rerank;
  std::shared_lock<std::shared_mutex> l(mu_);
  // Only segments with live points: the mutable one is empty after a seal, and a collection
  // in one segment then runs its query on the caller's thread instead of waking the pool
  // (whose threads spin between jobs: a single-segment collection kept one spinning).
  std::vector<const Segment*> live;
  size_t total = 0;
  for (const auto& s : segments_) {
    if (s->live_count() == 0) continue;
    live.push_back(s.get());
    total += s->live_count();
  }
  // Segments are searched at once on the shared search pool (the caller takes part), each with
  // a beam sized by its share of the points: a segment holding a share f of the points holds
  // about f k of the k nearest, so its beam is its share of the query's plus k (one segment
  // keeps the query's beam), and never below kMinSegmentBeam (or the query's beam): for a
  // small k the share alone leaves a beam of a few (k = 1 in a segment with 6 % of the points:
  // 9), too small for HNSW to find even that segment's nearest reliably.
  // docs/benchmarks.md, "Segments", has the measurements.
  std::vector<Result<std::vector<index::SearchHit>>> found(live.size(), std::vector<index::SearchHit>{});
  SearchPool::Shared().RunAll(live.size(), [&](size_t i) {
    const Segment& s = *live[i];
    if (params.deadline && std::chrono::steady_clock::now() > *params.deadline) {
      found[i] = Status::DeadlineExceeded("the query's deadline passed before segment " +
                                          std::to_string(i + 1) + " of " +
                                          std::to_string(live.size()) + " was searched");
      return;
    }
    SegmentQuery sq = q;
    if (live.size() > 1) {  // then total > 0: every segment in `live` holds points
      const double share = static_cast<double>(s.live_count()) / static_cast<double>(total);
      sq.ef = std::min(params.ef, std::max({k, kMinSegmentBeam, static_cast<size_t>(std::ceil(share * params.ef)) + k}));
    }
    found[i] = s.Search(sq, k, pass);
  });
  std::vector<index::SearchHit> all;
  for (auto& r : found) {
    if (!r.ok()) return r.status();
    all.insert(all.end(), r->begin(), r->end());
  }
  KeepBestHits(all, k);
  return all;
}

Result<std::vector<float>> SegmentedIndex::GetVector(uint64_t label) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    if ((*it)->Contains(label)) return (*it)->GetVector(label);
  }
  return Status::NotFound("label " + std::to_string(label) + " has no vector");
}

std::vector<SegmentedIndex::SealedView> SegmentedIndex::Sealed() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<SealedView> out;
  for (const auto& s : segments_) {
    if (s->state() == Segment::State::kSealed) out.push_back({s->id(), s->file(), s->vectors_file(), s->live()});
  }
  return out;
}

std::vector<std::string> SegmentedIndex::TakeObsoleteFiles() {
  std::unique_lock<std::shared_mutex> l(mu_);
  return std::move(obsolete_files_);
}

void SegmentedIndex::ReturnObsoleteFiles(std::vector<std::string> files) {
  std::unique_lock<std::shared_mutex> l(mu_);
  obsolete_files_.insert(obsolete_files_.end(), files.begin(), files.end());
}

size_t SegmentedIndex::size() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  size_t n = 0;
  for (const auto& s : segments_) n += s->live_count();
  return n;
}

size_t SegmentedIndex::MemoryUsage() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  size_t n = 0;
  for (const auto& s : segments_) n += s->MemoryUsage() + sizeof(Segment);
  return n;
}

SegmentedIndex::Stats SegmentedIndex::GetStats() const {
  Stats st;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    for (const auto& s : segments_) {
      if (s->state() == Segment::State::kMutable && s->live_count() == 0) continue;  // an empty buffer
      ++st.segments;
      if (s->state() != Segment::State::kSealed) st.unindexed += s->live_count();
      st.deleted_pending += s->deleted_count();
    }
    st.sealed = sealed_count_;
    st.merged = merged_count_;
  }
  // job_mu_ is taken before mu_ elsewhere, so never while holding it.
  std::lock_guard<std::mutex> jl(job_mu_);
  st.index_errors = index_errors_;
  st.last_error = last_error_.ok() ? std::string() : last_error_.ToString();
  st.failing = consecutive_failures_ > 0;
  st.write_stalls = write_stalls_;
  st.memory_trims = memory_trims_.load();
  return st;
}

// Which sealed segments to merge now. Caller holds job_mu_ and mu_ exclusively.
std::vector<std::shared_ptr<Segment>> SegmentedIndex::ChooseMergeLocked(bool* over) {
  std::vector<std::shared_ptr<Segment>> sealed;
  size_t live = 0, deleted = 0;
  for (const auto& s : segments_) {
    if (s->state() != Segment::State::kSealed) continue;
    sealed.push_back(s);
    live += s->live_count();
    deleted += s->deleted_count();
  }
  const size_t factor = options_.params.merge_factor;
  const double fraction = options_.params.compact_deleted_fraction;
  // The bounds: merge_factor - 1 segments per size tier, and no more deleted vectors than the
  // share at which a segment is compacted.
  const double f = static_cast<double>(factor);
  auto tier = [&](size_t n) {
    const double ratio = static_cast<double>(std::max<size_t>(n, 1)) /
                         static_cast<double>(options_.params.seal_points);
    return ratio <= 1 ? 0 : static_cast<int>(std::floor(std::log(ratio) / std::log(f)));
  };
  const size_t max_segments = (factor - 1) * static_cast<size_t>(tier(live) + 1);
  *over = sealed.size() > max_segments ||
          (deleted > 0 && static_cast<double>(deleted) >= fraction * static_cast<double>(live + deleted));

  // 1. Optimize(full): everything into one segment.
  if (full_merge_) {
    const bool any_deleted = deleted > 0;
    if (sealed.size() > 1 || any_deleted) return sealed;
    full_merge_ = false;  // nothing to do
  }
  // 2. Compaction: segments with too many deleted vectors (or none live) are rewritten, the
  //    one with the most deleted first, together with smaller ones that are due too (one
  //    job, one segment fewer for each).
  std::vector<std::shared_ptr<Segment>> due;
  for (const auto& s : sealed) {
    const double held = static_cast<double>(s->live_count() + s->deleted_count());
    if (s->live_count() == 0 || (s->deleted_count() > 0 && s->deleted_count() >= fraction * held)) {
      due.push_back(s);
    }
  }
  if (!due.empty()) {
    std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) {
      return a->deleted_count() > b->deleted_count() ||
             (a->deleted_count() == b->deleted_count() && a->id() < b->id());
    });
    std::vector<std::shared_ptr<Segment>> chosen = {due[0]};
    for (size_t i = 1; i < due.size() && chosen.size() < factor; ++i) {
      if (due[i]->live_count() <= due[0]->live_count()) chosen.push_back(due[i]);
    }
    return chosen;
  }
  // 3. Tiers: merge_factor segments whose sizes are within a factor merge_factor of each
  //    other (the lowest tier first) become one.
  std::sort(sealed.begin(), sealed.end(), [](const auto& a, const auto& b) {
    return a->live_count() < b->live_count() || (a->live_count() == b->live_count() && a->id() < b->id());
  });
  for (size_t i = 0; i + factor <= sealed.size(); ++i) {
    const size_t j = i + factor - 1;
    if (tier(sealed[i]->live_count()) == tier(sealed[j]->live_count())) {
      return {sealed.begin() + static_cast<std::ptrdiff_t>(i), sealed.begin() + static_cast<std::ptrdiff_t>(j + 1)};
    }
  }
  // 4. Past the bound without a full tier (sizes spread by deletes): the smallest ones.
  if (sealed.size() > max_segments) {
    sealed.resize(std::min(factor, sealed.size()));
    return sealed;
  }
  // 5. Quiet, nothing left to seal: the smallest segments, as many as fit the quiet cap, into
  //    one (sealed is sorted smallest first).
  if (sealed.size() >= 2 && frozen_count_.load() == 0 && QuietLocked(std::chrono::steady_clock::now())) {
    const size_t cap = kQuietMergeSeals * options_.params.seal_points;
    size_t take = 0, points = 0;
    while (take < sealed.size() && points + sealed[take]->live_count() <= cap) points += sealed[take++]->live_count();
    if (take >= 2) {
      sealed.resize(take);
      return sealed;
    }
  }
  return {};
}

bool SegmentedIndex::QuietLocked(std::chrono::steady_clock::time_point now) const {
  const double quiet = options_.params.quiet_seconds;
  if (!(quiet > 0)) return false;
  const std::chrono::steady_clock::time_point last{
      std::chrono::steady_clock::duration(last_write_.load(std::memory_order_relaxed))};
  return now - last >= std::chrono::duration<double>(quiet);
}

std::optional<std::chrono::steady_clock::time_point> SegmentedIndex::NextQuietCheck() const {
  const double quiet = options_.params.quiet_seconds;
  if (!(quiet > 0)) return std::nullopt;
  using Clock = std::chrono::steady_clock;
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(quiet));
  const Clock::time_point last{Clock::duration(last_write_.load(std::memory_order_relaxed))};
  const Clock::time_point now = Clock::now();
  // Not quiet yet: when it will be (a write meanwhile moves that on; the thread then waits
  // again). Quiet already, with nothing done: a later write starts a new quiet period, which
  // is looked at within two periods of that write.
  return last + period > now ? last + period + std::chrono::milliseconds(1) : now + period;
}

// The merge policy. Caller holds job_mu_ and mu_ exclusively; one job runs at a time.
bool SegmentedIndex::PickJobLocked(Job* job) {
  // Quiet: the mutable segment's points are indexed now rather than when it fills up (a few
  // are left to the exact scan).
  if (frozen_count_.load() == 0 &&
      segments_.back()->live_count() >= std::max<size_t>(1, options_.params.seal_points / 32) &&
      QuietLocked(std::chrono::steady_clock::now())) {
    FreezeMutableLocked();
  }
  std::vector<std::shared_ptr<Segment>> frozen;
  for (const auto& s : segments_) {
    if (s->state() == Segment::State::kFrozen) frozen.push_back(s);
  }
  bool over = false;
  std::vector<std::shared_ptr<Segment>> chosen = ChooseMergeLocked(&over);
  // Seals and merges take turns when both are due, so that neither starves the other under a
  // steady stream of writes; merges go first while the sealed segments are past their bounds
  // (writers then wait in Throttle once the frozen backlog grows). A full merge waits for
  // the frozen segments, which it must include.
  const bool seal = !frozen.empty() && (chosen.empty() || full_merge_ || (!over && !merge_turn_));
  if (seal) {
    // The oldest frozen segment, and with it the next ones while their live vectors together
    // fit one segment (seal_points): under overwrites most of their vectors are deleted
    // already, and one graph over the live rest is cheaper, and adds fewer segments, than one
    // per segment. Full ones are sealed one by one.
    job->kind = Job::kSeal;
    job->inputs.clear();
    job->labels.clear();
    size_t live = 0;
    for (const auto& s : frozen) {
      if (!job->inputs.empty() && live + s->live_count() > options_.params.seal_points) break;
      live += s->live_count();
      job->inputs.push_back(s);
      job->labels.push_back(ToLabels(s->live()));
    }
    job->new_id = next_id_++;
    merge_turn_ = !chosen.empty();
    return true;
  }
  if (chosen.empty()) return false;
  merge_turn_ = false;
  full_merge_ = false;  // taken now, if it was asked for
  // The largest input's graph is reused unless most of it is deleted (a rebuild is cheaper).
  std::sort(chosen.begin(), chosen.end(),
            [](const auto& a, const auto& b) { return a->live_count() > b->live_count(); });
  job->kind = Job::kMerge;
  job->inputs = chosen;
  job->labels.clear();
  for (const auto& s : chosen) {
    job->labels.push_back(ToLabels(s->live()));
  }
  const Segment& first = *chosen[0];
  job->reuse_first = first.kind() == Segment::Kind::kGraph && options_.kind == Kind::kHnsw &&
                     first.live_count() > 0 && first.deleted_count() <= first.live_count();
  job->remove_from_first = job->reuse_first ? ToLabels(first.deleted()) : std::vector<uint64_t>{};
  job->new_id = next_id_++;
  return true;
}

Status SegmentedIndex::RunJob(Job& job) {
  auto stopped = [&] { return Status::FailedPrecondition("segment build stopped: the collection is closing"); };
  // Build (or extend) the new index without holding mu_: the inputs' indexes are immutable.
  std::unique_ptr<index::HnswIndex> graph;
  std::shared_ptr<Segment> built;
  size_t first_to_add = 0;
  if (job.kind == Job::kMerge && job.reuse_first) {
    SEXTANT_ASSIGN_OR_RETURN(graph, index::HnswIndex::Load(options_.dir + "/" + job.inputs[0]->file()));
    if (!job.remove_from_first.empty()) SEXTANT_RETURN_IF_ERROR(graph->Remove(job.remove_from_first));
    first_to_add = 1;
  }
  size_t total = 0;
  for (size_t i = first_to_add; i < job.labels.size(); ++i) total += job.labels[i].size();
  // Room for every point up front: each chunk below would otherwise grow (copy) the graph.
  if (graph) SEXTANT_RETURN_IF_ERROR(graph->Reserve(graph->slot_count() + total));
  if (options_.kind == Kind::kTrained && total > 0) {
    // Quantized: train on every live vector of the inputs, then add them.
    std::vector<float> rows;
    std::vector<uint64_t> labels;
    rows.reserve(total * options_.dim);
    labels.reserve(total);
    for (size_t i = 0; i < job.labels.size(); ++i) {
      for (uint64_t label : job.labels[i]) {
        SEXTANT_ASSIGN_OR_RETURN(std::vector<float> v, job.inputs[i]->GetVector(label));
        rows.insert(rows.end(), v.begin(), v.end());
        labels.push_back(label);
      }
      if (stop_) return stopped();
    }
    // Null when too few to train: the vectors are indexed as a graph below.
    SEXTANT_ASSIGN_OR_RETURN(built, TrainedSegment::Build(job.new_id, options_.dim, options_.trained, rows, labels,
                                                          options_.dir, options_.files, exact_));
  }
  if (!built && !graph && total > 0) {
    index::HnswOptions o = options_.hnsw_options;
    o.initial_capacity = total;
    SEXTANT_ASSIGN_OR_RETURN(graph, index::HnswIndex::Create(options_.dim, o));
  }
  std::vector<float> rows;
  std::vector<uint64_t> chunk;
  for (size_t i = first_to_add; graph && i < job.labels.size(); ++i) {
    const Segment& src = *job.inputs[i];
    const auto& labels = job.labels[i];
    const size_t chunk_size = kBuildChunk * std::max<size_t>(1, options_.build_threads);
    for (size_t start = 0; start < labels.size(); start += chunk_size) {
      if (stop_) return stopped();
      const size_t end = std::min(labels.size(), start + chunk_size);
      rows.clear();
      chunk.assign(labels.begin() + static_cast<std::ptrdiff_t>(start),
                   labels.begin() + static_cast<std::ptrdiff_t>(end));
      for (uint64_t label : chunk) {
        SEXTANT_ASSIGN_OR_RETURN(std::vector<float> v, src.GetVector(label));
        rows.insert(rows.end(), v.begin(), v.end());
      }
      SEXTANT_RETURN_IF_ERROR(graph->AddBatch(rows, chunk, options_.build_threads, nullptr, /*reconnect=*/false));
    }
  }
  if (stop_) return stopped();
  if (graph) {
    graph->ConnectUnreachable();  // once, after every chunk
    graph->ReorderIfDue(options_.build_threads);  // likewise (see HnswOptions::reorder_min_points)
    SEXTANT_ASSIGN_OR_RETURN(built, GraphSegment::Write(job.new_id, std::move(graph), options_.dir, options_.files));
  }
  roaring::Roaring held;
  if (built) {
    for (uint64_t label : built->HeldLabels()) held.add(static_cast<uint32_t>(label));
  }

  // Swap: the new segment replaces its inputs, with the deletes that happened meanwhile.
  std::unique_lock<std::shared_mutex> l(mu_);
  roaring::Roaring live;
  for (const auto& in : job.inputs) live |= in->live();
  std::shared_ptr<Segment> out;
  if (built && !live.isEmpty()) {
    out = built;
    roaring::Roaring deleted = held - live;
    out->SetLive(std::move(live), std::move(deleted));
  } else if (built) {
    // Everything was deleted while it was built.
    obsolete_files_.push_back(built->file());
    if (!built->vectors_file().empty()) obsolete_files_.push_back(built->vectors_file());
  }
  std::vector<std::shared_ptr<Segment>> next;
  if (out) next.push_back(out);
  size_t frozen = 0;
  for (const auto& s : segments_) {
    if (std::find(job.inputs.begin(), job.inputs.end(), s) != job.inputs.end()) {
      if (!s->file().empty()) obsolete_files_.push_back(s->file());
      if (!s->vectors_file().empty()) obsolete_files_.push_back(s->vectors_file());
      job.freed_bytes += s->MemoryUsage();
      continue;
    }
    frozen += s->state() == Segment::State::kFrozen;
    next.push_back(s);
  }
  // Sealed segments first, then frozen, then the mutable one (the order Remove relies on).
  std::stable_partition(next.begin(), next.end(),
                        [](const auto& s) { return s->state() == Segment::State::kSealed; });
  segments_ = std::move(next);
  frozen_count_.store(frozen);
  if (job.kind == Job::kSeal) {
    sealed_count_ += job.inputs.size();  // frozen segments indexed
  } else {
    ++merged_count_;
  }
  return Status::OK();
}

void SegmentedIndex::RemoveFilesOfFailedJob(const Job& job) {
  // Whatever the failed job wrote under its segment's names (never the temporary names: a
  // failed atomic write removes its own).
  for (const std::string& name : {GraphSegment::FileName(job.new_id), TrainedSegment::IndexFileName(job.new_id),
                                  TrainedSegment::IndexFileName(job.new_id) + ".rerank",
                                  TrainedSegment::VectorsFileName(job.new_id)}) {
    std::error_code ec;
    std::filesystem::remove(options_.dir + "/" + name, ec);
  }
}

void SegmentedIndex::TrimMemory() {
  // Freed segments (graphs, flat buffers, bitmaps) leave their pages in the allocator's arenas.
  ReleaseFreeHeap();
  memory_trims_.fetch_add(1);
}

void SegmentedIndex::Loop() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> jl(job_mu_);
  while (!stop_) {
    // After a failure, wait for the retry (Optimize, or Stop, cuts the wait short).
    if (consecutive_failures_ > 0 && !retry_now_ && Clock::now() < retry_at_) {
      job_cv_.wait_until(jl, retry_at_, [&] { return stop_.load() || retry_now_; });
      continue;
    }
    retry_now_ = false;
    const uint64_t seen = kick_gen_;
    Job job;
    bool have = false;
    {
      std::unique_lock<std::shared_mutex> l(mu_);
      have = PickJobLocked(&job);
    }
    if (!have) {
      if (freed_since_trim_ > 0) {
        freed_since_trim_ = 0;
        jl.unlock();
        TrimMemory();
        jl.lock();
        continue;  // look again before going idle: work may have come meanwhile
      }
      idle_gen_ = seen;
      idle_cv_.notify_all();
      if (const auto next = NextQuietCheck()) {
        job_cv_.wait_until(jl, *next, [&] { return stop_ || kick_gen_ != seen; });
      } else {
        job_cv_.wait(jl, [&] { return stop_ || kick_gen_ != seen; });
      }
      continue;
    }
    jl.unlock();
    Status st = RunJob(job);
    if (!st.ok()) RemoveFilesOfFailedJob(job);
    const size_t freed = job.freed_bytes;
    job = Job{};  // the replaced segments' last references: their memory is free now
    if (st.ok() && on_change_) on_change_();
    bool trim = false;
    jl.lock();
    if (st.ok()) {
      consecutive_failures_ = 0;
      failing_ = false;
      freed_since_trim_ += freed;
      if (freed_since_trim_ >= kTrimBytes) {
        freed_since_trim_ = 0;
        trim = true;
      }
    } else if (!stop_) {
      // Retried with backoff; the vectors stay searchable (exactly, while frozen) and writes
      // go on. Stats report the failures; Optimize returns them.
      ++index_errors_;
      last_error_ = st;
      ++consecutive_failures_;
      failing_ = true;
      const auto wait = std::min<Clock::duration>(
          kMaxRetry, kFirstRetry * (int64_t{1} << std::min<uint32_t>(consecutive_failures_ - 1, 16)));
      retry_at_ = Clock::now() + wait;
      std::fprintf(stderr, "sextant: background segment build failed (attempt %u, retry in %lld ms): %s\n",
                   consecutive_failures_,
                   static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()),
                   st.ToString().c_str());
      idle_cv_.notify_all();  // an Optimize waiting on this job hears of the failure
    }
    backlog_cv_.notify_all();
    if (trim) {
      jl.unlock();
      TrimMemory();
      jl.lock();
    }
  }
}

void SegmentedIndex::Throttle(std::chrono::milliseconds max_stall) {
  if (frozen_count_.load() < kStallFrozen || failing_.load() || stop_.load()) return;
  std::unique_lock<std::mutex> jl(job_mu_);
  if (!running_.load()) return;
  ++write_stalls_;
  backlog_cv_.wait_for(jl, max_stall, [&] {
    return stop_.load() || failing_.load() || frozen_count_.load() < kStallFrozen;
  });
}

Status SegmentedIndex::Optimize(bool full) {
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    FreezeMutableLocked();
  }
  std::unique_lock<std::mutex> jl(job_mu_);
  // Checked first: once stop_ is set, Stop may be joining thread_ (job_mu_ not held).
  if (stop_) return Status::FailedPrecondition("the collection is closing");
  if (!thread_.joinable()) return Status::OK();  // flat: nothing to index
  if (full) full_merge_ = true;
  const uint64_t errors_before = index_errors_;
  retry_now_ = true;  // a build waiting for its retry runs now
  const uint64_t want = ++kick_gen_;
  job_cv_.notify_all();
  idle_cv_.wait(jl, [&] { return stop_ || idle_gen_ >= want || index_errors_ > errors_before; });
  if (stop_) return Status::FailedPrecondition("the collection is closing");
  if (idle_gen_ >= want) return Status::OK();
  return Status(last_error_.code(),
                "background indexing failed (" + std::to_string(consecutive_failures_) +
                    " attempts in a row; it is retried, and writes are not affected): " +
                    last_error_.message());
}

}  // namespace sextant::engine
