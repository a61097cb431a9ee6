#include "engine/segmented_index.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sextant::engine {
namespace {

// Filters that at most this many of a segment's points pass (or this fraction of it) are
// answered by an exact scan of the passing points; wider ones by a filtered graph walk.
constexpr size_t kExactScanMinPoints = 2048;
constexpr double kExactScanFraction = 0.03;
// Vectors added per step of a background build, between checks of the stop flag.
constexpr size_t kBuildChunk = 512;

std::vector<uint64_t> ToLabels(const roaring::Roaring& r) {
  std::vector<uint64_t> out;
  out.reserve(r.cardinality());
  for (uint32_t x : r) out.push_back(x);
  return out;
}

void KeepBest(std::vector<index::SearchHit>& hits, size_t k) {
  const size_t take = std::min(k, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + take, hits.end(),
                    [](const index::SearchHit& a, const index::SearchHit& b) {
                      return a.distance < b.distance || (a.distance == b.distance && a.label < b.label);
                    });
  hits.resize(take);
}

}  // namespace

index::Metric ToIndexMetric(Metric m) {
  switch (m) {
    case Metric::kL2: return index::Metric::kL2;
    case Metric::kInnerProduct: return index::Metric::kInnerProduct;
    case Metric::kCosine: return index::Metric::kCosine;
  }
  return index::Metric::kL2;
}

struct SegmentedIndex::Segment {
  enum Kind { kMutable, kFrozen, kSealed };
  uint64_t id = 0;
  Kind kind = kMutable;
  std::unique_ptr<index::FlatIndex> flat;  // mutable and frozen segments
  std::unique_ptr<index::HnswIndex> hnsw;  // sealed segments
  roaring::Roaring live;
  roaring::Roaring deleted;  // vectors the index still holds whose points are gone
  std::string file;          // sealed: the segment file's name

  size_t live_count() const { return live.cardinality(); }
  size_t deleted_count() const { return deleted.cardinality(); }
  size_t MemoryUsage() const {
    return (flat ? flat->MemoryUsage() : 0) + (hnsw ? hnsw->MemoryUsage() : 0) +
           live.getSizeInBytes() + deleted.getSizeInBytes();
  }
  Result<std::vector<float>> GetVector(uint64_t label) const {
    return flat ? flat->GetVector(label) : hnsw->GetVector(label);
  }
};

struct SegmentedIndex::Job {
  enum Kind { kSeal, kMerge } kind = kSeal;
  // kSeal: the frozen segment. kMerge: the inputs, the one whose graph is reused first (when
  // `reuse_first`), each with its live labels when the job was picked.
  std::vector<std::shared_ptr<Segment>> inputs;
  std::vector<std::vector<uint64_t>> labels;
  bool reuse_first = false;
  std::vector<uint64_t> remove_from_first;  // deleted vectors to take out of the reused graph
  uint64_t new_id = 0;
};

size_t SegmentedIndex::AutoSealPoints(size_t dim) {
  const size_t by_size = (size_t{4} << 20) / std::max<size_t>(dim, 1);  // 16 MiB of floats
  return std::clamp<size_t>(by_size, 2048, 50000);
}

std::string SegmentedIndex::SegmentFileName(uint64_t id) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "seg-%012llu.hnsw", static_cast<unsigned long long>(id));
  return buf;
}

Result<std::unique_ptr<SegmentedIndex>> SegmentedIndex::Create(const Options& options) {
  std::unique_ptr<SegmentedIndex> s(new SegmentedIndex(options));
  std::unique_lock<std::shared_mutex> l(s->mu_);
  auto seg = s->NewMutableLocked();
  if (!seg) return Status::InvalidArgument("cannot create a flat index of dimension " + std::to_string(options.dim));
  return s;
}

SegmentedIndex::~SegmentedIndex() {
  {
    std::lock_guard<std::mutex> jl(job_mu_);
    stop_ = true;
  }
  job_cv_.notify_all();
  idle_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<SegmentedIndex::Segment> SegmentedIndex::NewMutableLocked() {
  auto flat = index::FlatIndex::Create(options_.dim, options_.metric);
  if (!flat.ok()) return nullptr;
  auto seg = std::make_shared<Segment>();
  seg->id = next_id_++;
  seg->kind = Segment::kMutable;
  seg->flat = std::make_unique<index::FlatIndex>(std::move(flat).value());
  segments_.push_back(seg);
  return seg;
}

void SegmentedIndex::FreezeMutableLocked() {
  if (!options_.hnsw) return;  // flat collections keep one exact segment
  Segment& m = *segments_.back();
  if (m.live_count() == 0) return;
  m.kind = Segment::kFrozen;
  NewMutableLocked();
}

Status SegmentedIndex::AttachSealed(uint64_t id, const std::string& file,
                                    const roaring::Roaring& live) {
  const std::string path = options_.dir + "/" + file;
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<index::HnswIndex> hnsw, index::HnswIndex::Load(path));
  if (hnsw->dim() != options_.dim || hnsw->options().metric != options_.metric) {
    return Status::Corruption(path + ": segment dimension or metric differs from the collection's");
  }
  roaring::Roaring held;
  for (uint64_t label : hnsw->Labels()) {
    if (label > 0xffffffffu) return Status::Corruption(path + ": label out of range");
    held.add(static_cast<uint32_t>(label));
  }
  if (!live.isSubset(held)) {
    return Status::Corruption(path + ": the checkpoint places points in this segment that it lacks");
  }
  auto seg = std::make_shared<Segment>();
  seg->id = id;
  seg->kind = Segment::kSealed;
  seg->hnsw = std::move(hnsw);
  seg->live = live;
  seg->deleted = held - live;
  seg->file = file;
  std::unique_lock<std::shared_mutex> l(mu_);
  segments_.insert(segments_.begin(), std::move(seg));
  next_id_ = std::max(next_id_, id + 1);
  return Status::OK();
}

void SegmentedIndex::Start(std::function<void()> on_change) {
  on_change_ = std::move(on_change);
  if (options_.hnsw) thread_ = std::thread([this] { Loop(); });
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
  bool froze = false;
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    Segment& m = *segments_.back();
    SEXTANT_RETURN_IF_ERROR(m.flat->Add(label, vector));
    m.live.add(static_cast<uint32_t>(label));
    if (options_.hnsw && m.live_count() >= options_.params.seal_points) {
      FreezeMutableLocked();
      froze = true;
    }
  }
  if (froze) Kick();
  return Status::OK();
}

void SegmentedIndex::Remove(std::span<const uint64_t> labels) {
  if (labels.empty()) return;
  bool compact = false;
  std::unique_lock<std::shared_mutex> l(mu_);
  std::vector<uint64_t> from_mutable;
  Segment& m = *segments_.back();
  for (uint64_t label : labels) {
    const auto x = static_cast<uint32_t>(label);
    for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
      Segment& s = **it;
      if (!s.live.contains(x)) continue;
      s.live.remove(x);
      if (&s == &m) {
        from_mutable.push_back(label);
      } else {
        s.deleted.add(x);
        compact = compact || (s.kind == Segment::kSealed &&
                              s.deleted_count() >= options_.params.compact_deleted_fraction *
                                                        static_cast<double>(s.deleted_count() + s.live_count()));
      }
      break;
    }
  }
  if (!from_mutable.empty()) (void)m.flat->Remove(from_mutable);
  l.unlock();
  if (compact) Kick();
}

Result<std::vector<index::SearchHit>> SegmentedIndex::SearchSegment(
    const Segment& s, std::span<const float> q, size_t k, size_t ef,
    const roaring::Roaring* pass) const {
  const size_t live_n = s.live_count();
  if (live_n == 0) return std::vector<index::SearchHit>{};
  roaring::Roaring subset;
  const roaring::Roaring* cand = nullptr;
  size_t m = live_n;
  if (pass != nullptr) {
    subset = *pass & s.live;
    m = subset.cardinality();
    if (m == 0) return std::vector<index::SearchHit>{};
    cand = &subset;
  }
  if (s.flat) {
    if (cand == nullptr && s.deleted.isEmpty()) return s.flat->Search(q, k, nullptr);
    const auto labels = ToLabels(cand ? *cand : s.live);
    return s.flat->SearchSubset(q, k, labels);
  }
  const size_t held = s.hnsw->size();
  if (cand == nullptr && s.deleted.isEmpty()) return s.hnsw->Search(q, k, ef, nullptr);
  const roaring::Roaring& accept = cand ? *cand : s.live;
  // Few points pass: score them exactly. Many: walk the graph with the filter applied, with a
  // wider beam the rarer they are, and scan instead if the walk comes up short.
  if (m <= std::max(kExactScanMinPoints, static_cast<size_t>(kExactScanFraction * held))) {
    return s.hnsw->SearchSubset(q, k, ToLabels(accept));
  }
  index::BitsetFilter bits(static_cast<size_t>(accept.maximum()) + 1);
  for (uint32_t x : accept) bits.Set(x);
  const double share = static_cast<double>(m) / static_cast<double>(held);
  const size_t boost = static_cast<size_t>(std::ceil(std::min(8.0, 1.0 / share)));
  SEXTANT_ASSIGN_OR_RETURN(auto hits, s.hnsw->Search(q, k, ef * boost, &bits));
  if (hits.size() < std::min(k, m)) return s.hnsw->SearchSubset(q, k, ToLabels(accept));
  return hits;
}

Result<std::vector<index::SearchHit>> SegmentedIndex::Search(std::span<const float> query,
                                                             size_t k, size_t ef,
                                                             const roaring::Roaring* pass) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<index::SearchHit> all;
  for (const auto& s : segments_) {
    SEXTANT_ASSIGN_OR_RETURN(auto hits, SearchSegment(*s, query, k, ef, pass));
    all.insert(all.end(), hits.begin(), hits.end());
  }
  KeepBest(all, k);
  return all;
}

Result<std::vector<float>> SegmentedIndex::GetVector(uint64_t label) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    if ((*it)->live.contains(static_cast<uint32_t>(label))) return (*it)->GetVector(label);
  }
  return Status::NotFound("label " + std::to_string(label) + " has no vector");
}

std::vector<SegmentedIndex::SealedView> SegmentedIndex::Sealed() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<SealedView> out;
  for (const auto& s : segments_) {
    if (s->kind == Segment::kSealed) out.push_back({s->id, s->file, s->live});
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
  std::shared_lock<std::shared_mutex> l(mu_);
  Stats st;
  for (const auto& s : segments_) {
    if (s->kind == Segment::kMutable && s->live_count() == 0) continue;  // an empty buffer
    ++st.segments;
    if (s->kind != Segment::kSealed) st.unindexed += s->live_count();
    st.deleted_pending += s->deleted_count();
  }
  st.sealed = sealed_count_;
  st.merged = merged_count_;
  return st;
}

// The merge policy. Caller holds job_mu_ and mu_ exclusively; one job runs at a time.
bool SegmentedIndex::PickJobLocked(Job* job) {
  // 1. Index frozen segments, oldest first.
  for (const auto& s : segments_) {
    if (s->kind == Segment::kFrozen) {
      job->kind = Job::kSeal;
      job->inputs = {s};
      job->labels = {ToLabels(s->live)};
      job->new_id = next_id_++;
      return true;
    }
  }
  std::vector<std::shared_ptr<Segment>> sealed;
  for (const auto& s : segments_) {
    if (s->kind == Segment::kSealed) sealed.push_back(s);
  }
  std::vector<std::shared_ptr<Segment>> chosen;
  // 2. Optimize(full): everything into one segment.
  if (full_merge_) {
    full_merge_ = false;
    const bool any_deleted = std::any_of(sealed.begin(), sealed.end(),
                                         [](const auto& s) { return !s->deleted.isEmpty(); });
    if (sealed.size() > 1 || any_deleted) chosen = sealed;
  }
  // 3. Compaction: a segment with too many deleted vectors is rewritten (with the rest of
  //    its tier when that is due anyway).
  if (chosen.empty()) {
    for (const auto& s : sealed) {
      const double held = static_cast<double>(s->live_count() + s->deleted_count());
      if (s->deleted_count() > 0 &&
          s->deleted_count() >= options_.params.compact_deleted_fraction * held) {
        chosen = {s};
        break;
      }
    }
  }
  // 4. Tiers: merge_factor segments whose sizes are within a factor merge_factor of each
  //    other (the lowest tier first) become one.
  if (chosen.empty() && sealed.size() >= options_.params.merge_factor) {
    const double f = static_cast<double>(options_.params.merge_factor);
    auto tier = [&](const Segment& s) {
      const double ratio = static_cast<double>(std::max<size_t>(s.live_count(), 1)) /
                           static_cast<double>(options_.params.seal_points);
      return ratio <= 1 ? 0 : static_cast<int>(std::floor(std::log(ratio) / std::log(f)));
    };
    std::sort(sealed.begin(), sealed.end(),
              [](const auto& a, const auto& b) { return a->live_count() < b->live_count(); });
    for (size_t i = 0; i + options_.params.merge_factor <= sealed.size(); ++i) {
      const size_t j = i + options_.params.merge_factor - 1;
      if (tier(*sealed[i]) == tier(*sealed[j])) {
        chosen.assign(sealed.begin() + static_cast<std::ptrdiff_t>(i),
                      sealed.begin() + static_cast<std::ptrdiff_t>(j + 1));
        break;
      }
    }
  }
  if (chosen.empty()) return false;
  // The largest input's graph is reused unless most of it is deleted (a rebuild is cheaper).
  std::sort(chosen.begin(), chosen.end(),
            [](const auto& a, const auto& b) { return a->live_count() > b->live_count(); });
  job->kind = Job::kMerge;
  job->inputs = chosen;
  job->labels.clear();
  for (const auto& s : chosen) {
    job->labels.push_back(ToLabels(s->live));
  }
  const Segment& first = *chosen[0];
  job->reuse_first = first.live_count() > 0 && first.deleted_count() <= first.live_count();
  job->remove_from_first = job->reuse_first ? ToLabels(first.deleted) : std::vector<uint64_t>{};
  job->new_id = next_id_++;
  return true;
}

Status SegmentedIndex::RunJob(Job& job) {
  auto stopped = [&] { return Status::FailedPrecondition("segment build stopped: the collection is closing"); };
  // Build (or extend) the new graph without holding mu_: the inputs' indexes are immutable.
  std::unique_ptr<index::HnswIndex> graph;
  size_t first_to_add = 0;
  if (job.kind == Job::kMerge && job.reuse_first) {
    SEXTANT_ASSIGN_OR_RETURN(graph, index::HnswIndex::Load(options_.dir + "/" + job.inputs[0]->file));
    if (!job.remove_from_first.empty()) SEXTANT_RETURN_IF_ERROR(graph->Remove(job.remove_from_first));
    first_to_add = 1;
  }
  size_t total = 0;
  for (size_t i = first_to_add; i < job.labels.size(); ++i) total += job.labels[i].size();
  if (!graph && total > 0) {
    index::HnswOptions o = options_.hnsw_options;
    o.initial_capacity = total;
    SEXTANT_ASSIGN_OR_RETURN(graph, index::HnswIndex::Create(options_.dim, o));
  }
  std::vector<float> rows;
  std::vector<uint64_t> chunk;
  for (size_t i = first_to_add; i < job.labels.size(); ++i) {
    const Segment& src = *job.inputs[i];
    const auto& labels = job.labels[i];
    for (size_t start = 0; start < labels.size(); start += kBuildChunk) {
      if (stop_) return stopped();
      const size_t end = std::min(labels.size(), start + kBuildChunk);
      rows.clear();
      chunk.assign(labels.begin() + static_cast<std::ptrdiff_t>(start),
                   labels.begin() + static_cast<std::ptrdiff_t>(end));
      for (uint64_t label : chunk) {
        SEXTANT_ASSIGN_OR_RETURN(std::vector<float> v, src.GetVector(label));
        rows.insert(rows.end(), v.begin(), v.end());
      }
      SEXTANT_RETURN_IF_ERROR(graph->AddBatch(rows, chunk, /*threads=*/1));
    }
  }
  if (stop_) return stopped();
  std::string file;
  roaring::Roaring held;
  if (graph) {
    file = SegmentFileName(job.new_id);
    SEXTANT_RETURN_IF_ERROR(graph->Save(options_.dir + "/" + file));
    for (uint64_t label : graph->Labels()) held.add(static_cast<uint32_t>(label));
  }

  // Swap: the new segment replaces its inputs, with the deletes that happened meanwhile.
  std::unique_lock<std::shared_mutex> l(mu_);
  roaring::Roaring live;
  for (const auto& in : job.inputs) live |= in->live;
  std::shared_ptr<Segment> out;
  if (graph && !live.isEmpty()) {
    out = std::make_shared<Segment>();
    out->id = job.new_id;
    out->kind = Segment::kSealed;
    out->hnsw = std::move(graph);
    out->live = live;
    out->deleted = held - live;
    out->file = file;
  } else if (!file.empty()) {
    obsolete_files_.push_back(file);  // everything was deleted while it was built
  }
  std::vector<std::shared_ptr<Segment>> next;
  if (out) next.push_back(out);
  for (const auto& s : segments_) {
    if (std::find(job.inputs.begin(), job.inputs.end(), s) != job.inputs.end()) {
      if (!s->file.empty()) obsolete_files_.push_back(s->file);
      continue;
    }
    next.push_back(s);
  }
  // Sealed segments first, then frozen, then the mutable one (the order Remove relies on).
  std::stable_partition(next.begin(), next.end(),
                        [](const auto& s) { return s->kind == Segment::kSealed; });
  segments_ = std::move(next);
  if (job.kind == Job::kSeal) {
    ++sealed_count_;
  } else {
    ++merged_count_;
  }
  return Status::OK();
}

void SegmentedIndex::Loop() {
  std::unique_lock<std::mutex> jl(job_mu_);
  while (!stop_) {
    const uint64_t seen = kick_gen_;
    Job job;
    bool have = false;
    if (bg_error_.ok()) {
      std::unique_lock<std::shared_mutex> l(mu_);
      have = PickJobLocked(&job);
    }
    if (!have) {
      idle_gen_ = seen;
      idle_cv_.notify_all();
      job_cv_.wait(jl, [&] { return stop_ || kick_gen_ != seen; });
      continue;
    }
    jl.unlock();
    Status st = RunJob(job);
    if (st.ok() && on_change_) on_change_();
    jl.lock();
    if (!st.ok() && !stop_) {
      std::fprintf(stderr, "sextant: background segment build failed: %s\n", st.ToString().c_str());
      bg_error_ = st;
    }
  }
}

Status SegmentedIndex::Optimize(bool full) {
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    FreezeMutableLocked();
  }
  std::unique_lock<std::mutex> jl(job_mu_);
  if (!thread_.joinable()) return Status::OK();  // flat: nothing to index
  if (full) full_merge_ = true;
  const uint64_t want = ++kick_gen_;
  job_cv_.notify_all();
  idle_cv_.wait(jl, [&] { return stop_ || !bg_error_.ok() || idle_gen_ >= want; });
  if (!bg_error_.ok()) return bg_error_;
  if (stop_) return Status::FailedPrecondition("the collection is closing");
  return Status::OK();
}

}  // namespace sextant::engine
