#include "index/hnsw_index.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "common/heap.h"
#include "index/kmeans.h"

namespace sextant::index {
namespace {

inline void Prefetch(const void* p) { __builtin_prefetch(p, 0, 3); }

constexpr size_t kMaxListLength = 1024;  // level-0 lists hold up to 2 * M, and M <= 512
// Level-0 in-links every point but the entry point has after ConnectUnreachable.
constexpr uint32_t kMinInLinks = 2;

// Points that the parameters learned from the data (sq8-f32's SQ8 ranges, the screen's centre)
// are learned from, at most.
constexpr size_t kTrainCap = 65536;
// Whether parameters learned from `trained` points are learned again before a batch of n
// joins the `live` points held: while fewer than kTrainCap informed them and the batch at
// least doubles what they saw.
bool RetrainDue(size_t trained, size_t live, size_t n) {
  return trained < kTrainCap && live + n >= 2 * trained && n > 0;
}

// Neighbours whose codes are in flight: about 16 cache lines, between 2 and 8 codes. GloVe-100
// SQ8 codes (2 lines; 331k codes, beyond the L3 cache), QPS by CPU time at ef 64 / 256: 2 ahead
// 14.1-15.0k / 4.3-4.5k, 4: 15.7-15.9k / 4.6-4.9k, 8: 17.3-17.9k / 4.9-5.2k, all (up to 32):
// 12.6-15.1k / 4.2-4.9k. Long codes (f32, u8 pixels) keep the 2 measured before.
inline uint32_t PrefetchAhead(size_t code_bytes) {
  const size_t lines = (code_bytes + 63) / 64;
  return static_cast<uint32_t>(std::clamp<size_t>(16 / std::max<size_t>(lines, 1), 2, 8));
}
// Prefetches every cache line of (up to 1 KiB of) a code, which need not start on a line (SQ8
// codes are packed); the hardware prefetcher streams the rest of longer ones.
inline void PrefetchCode(const uint8_t* p, size_t bytes) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63};
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + std::min<size_t>(bytes, 1024);
  for (uintptr_t line = first; line < end; line += 64) Prefetch(reinterpret_cast<const void*>(line));
}

struct CloserFirst {  // for a min-heap of candidates via std::*_heap (which builds max-heaps)
  template <typename C>
  bool operator()(const C& a, const C& b) const { return a.distance > b.distance; }
};
struct FartherFirst {
  template <typename C>
  bool operator()(const C& a, const C& b) const { return a.distance < b.distance; }
};

// Link lists that concurrent inserts change are read without their lock: ids are stored with
// release and loaded with acquire (plain moves on x86), so a reader that finds an id also sees
// the node it names (its code, its own lists). A read racing a write sees each position old or
// new; every position only ever holds ids of existing nodes, so a torn read is a slightly
// stale list, which a build tolerates (hnswlib locks each list to copy it: at two threads the
// lock's atomic exchange was 6% of a GloVe-100 build).
inline uint32_t LoadLink(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
inline void StoreLink(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
// Copies list `src` (count first) into `dst`, at most `cap` ids.
inline const uint32_t* ReadRacingList(const uint32_t* src, uint32_t cap, uint32_t* dst) {
  const uint32_t cnt = std::min(LoadLink(src), cap);
  dst[0] = cnt;
  for (uint32_t i = 1; i <= cnt; ++i) dst[i] = LoadLink(src + i);
  return dst;
}

// Replaces the top of a FartherFirst max-heap with `c` (no farther than it) and sifts it down:
// one pass where a push and a pop take two.
template <typename C>
void ReplaceFarthest(std::vector<C>& heap, C c) {
  const size_t n = heap.size();
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child].distance < heap[child + 1].distance) ++child;
    if (!(c.distance < heap[child].distance)) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = c;
}

std::string DimensionError(const char* what, size_t got, size_t want) {
  return std::string(what) + " has dimension " + std::to_string(got) + ", index has " +
         std::to_string(want);
}

}  // namespace

// Marks the slots a walk visited, in one of two forms chosen when the table is acquired:
//  - kEpochs: a two-byte epoch number per slot, cleared in O(1) by bumping the epoch
//    (searches, which test far fewer marks; a bitset cleared word by word measured lower QPS
//    there, one zeroed whole per query was not measured).
//  - kBits: one bit per slot, cleared by zeroing the words (inserts). An insert's level-0
//    search tests about 4,800 marks (GloVe-100); 331,479 epochs are 662 KB, more than the L2
//    cache keeps beside the codes and lists the walk streams through, while the bits are
//    41 KB and stay in it. Full GloVe-100 built on two threads, six alternating pairs: 4.5 %
//    less CPU (95.8-106.3 s against 99.9-115.1 s, every pair), the graph the same (the same
//    marks). Zeroing 41 KB costs an insert about a microsecond of its 180-300.
class HnswIndex::VisitedTable {
 public:
  enum class Mode { kEpochs, kBits };
  // Sized by the first Reset in each mode (a table only inserts use holds no epochs).
  VisitedTable() = default;
  void set_mode(Mode mode) { bits_mode_ = mode == Mode::kBits; }
  // Clears the marks for a walk over slots [0, n).
  void Reset(size_t n) {
    if (bits_mode_) {
      bits_.assign((n + 63) / 64, 0);
      return;
    }
    if (marks_.size() < n) marks_.resize(n, 0);
    if (++epoch_ == 0) {  // wrapped: clear for real once every 65535 searches
      std::fill(marks_.begin(), marks_.end(), 0);
      epoch_ = 1;
    }
  }
  // Returns true if `id` was already visited; marks it otherwise.
  bool TestAndSet(uint32_t id) {
    if (bits_mode_) {
      uint64_t& word = bits_[id >> 6];
      const uint64_t bit = uint64_t{1} << (id & 63);
      const bool was = (word & bit) != 0;
      word |= bit;
      return was;
    }
    if (marks_[id] == epoch_) return true;
    marks_[id] = epoch_;
    return false;
  }
  bool Test(uint32_t id) const {
    return bits_mode_ ? ((bits_[id >> 6] >> (id & 63)) & 1) != 0 : marks_[id] == epoch_;
  }
  void Set(uint32_t id) {
    if (bits_mode_) {
      bits_[id >> 6] |= uint64_t{1} << (id & 63);
    } else {
      marks_[id] = epoch_;
    }
  }
  void PrefetchMark(uint32_t id) const {
    if (!bits_mode_) Prefetch(&marks_[id]);
  }
  size_t MemoryUsage() const {
    return marks_.capacity() * sizeof(uint16_t) + bits_.capacity() * sizeof(uint64_t);
  }

 private:
  std::vector<uint16_t> marks_;
  std::vector<uint64_t> bits_;
  bool bits_mode_ = false;
  uint16_t epoch_ = 0;
};

namespace {

// Bytes between consecutive codes: SQ8 codes (dim + 4 bytes, read by every step of the walk)
// are packed on 8-byte boundaries (GloVe-100: 104 bytes, not 128), the others rounded up to 32.
size_t StrideFor(const VectorCodec& codec) {
  const size_t align = codec.storage() == StorageType::kSq8 ? 8 : 32;
  return (codec.code_size() + align - 1) / align * align;
}

}  // namespace

HnswIndex::HnswIndex(VectorCodec codec, const HnswOptions& options)
    : codec_(std::move(codec)),
      options_(options),
      m0_(2 * options.M),
      stride_(StrideFor(codec_)),
      level_mult_(1.0 / std::log(static_cast<double>(options.M))),
      link_locks_(new LinkSpinLock[kLockStripes]),
      rng_(options.seed) {}

HnswIndex::~HnswIndex() = default;

Result<std::unique_ptr<HnswIndex>> HnswIndex::Create(size_t dim, const HnswOptions& options) {
  if (options.M < 2 || options.M > 512) {
    return Status::InvalidArgument("M must be in [2, 512], got " + std::to_string(options.M));
  }
  if (options.ef_construction < 1) {
    return Status::InvalidArgument("ef_construction must be at least 1");
  }
  const bool two_tier = options.storage == StorageType::kSq8F32;
  const bool untrained = two_tier && options.sq8_lower.empty() && options.sq8_step.empty();
  // An untrained sq8-f32 index starts with placeholder parameters (every code 0) that the
  // first batch replaces (TrainWalkCodes).
  Result<VectorCodec> made =
      options.storage == StorageType::kSq8 || two_tier
          ? VectorCodec::CreateSq8(dim, options.metric,
                                   untrained ? std::vector<float>(dim, 0.0f) : options.sq8_lower,
                                   untrained ? std::vector<float>(dim, 0.0f) : options.sq8_step)
          : VectorCodec::Create(dim, options.metric, options.storage);
  SEXTANT_ASSIGN_OR_RETURN(VectorCodec codec, std::move(made));
  std::unique_ptr<HnswIndex> index(new HnswIndex(std::move(codec), options));
  if (two_tier) {
    SEXTANT_ASSIGN_OR_RETURN(VectorCodec exact, VectorCodec::Create(dim, options.metric, StorageType::kFloat32));
    index->exact_codec_ = std::move(exact);
    index->exact_.emplace(dim);
  }
  if (options.screen && options.storage == StorageType::kFloat32 && dim >= BinaryScreen::kMinDim &&
      (options.metric == Metric::kL2 || options.metric == Metric::kCosine)) {
    index->screen_.emplace(dim, options.metric == Metric::kCosine ? 0.5f : 1.0f);
  }
  if (options.initial_capacity > 0) {
    SEXTANT_RETURN_IF_ERROR(index->EnsureCapacity(options.initial_capacity));
  }
  return index;
}

Status HnswIndex::EnsureCapacity(size_t n) {
  if (n <= capacity_) return Status::OK();
  if (n > kMaxSlots) return Status::ResourceExhausted("an HNSW index holds at most 2^31-16 points");
  SEXTANT_RETURN_IF_ERROR(Materialize());
  if (!codes_owned_.Resize(n * stride_) ||
      !links0_owned_.Resize(n * (m0_ + 1) * sizeof(uint32_t)) ||
      (two_tier() && !exact_->Reserve(n)) || (screen_ && !screen_->Reserve(n))) {
    return Status::ResourceExhausted("out of memory growing the index to " + std::to_string(n) +
                                     " points");
  }
  codes_ = codes_owned_.data();
  links0_ = reinterpret_cast<uint32_t*>(links0_owned_.data());
  upper_.resize(n);
  levels_.resize(n, 0);
  labels_.resize(n, 0);
  live_.resize(n, 0);
  label_map_.Reserve(n);
  capacity_ = n;
  return Status::OK();
}

Status HnswIndex::Reserve(size_t n) {
  std::unique_lock<std::shared_mutex> g(grow_mu_);
  return EnsureCapacity(n);  // (copies a mapped index into memory first)
}

Status HnswIndex::Materialize() {
  if (!mapped_) return Status::OK();
  AlignedBuffer codes, links;
  if (!codes.Resize(std::max<size_t>(capacity_, 1) * stride_) ||
      !links.Resize(std::max<size_t>(capacity_, 1) * (m0_ + 1) * sizeof(uint32_t)) ||
      (two_tier() && !exact_->Reserve(std::max<size_t>(capacity_, 1))) ||
      (screen_ && !screen_->Reserve(std::max<size_t>(capacity_, 1)))) {
    return Status::ResourceExhausted("out of memory copying the mapped index");
  }
  std::memcpy(codes.data(), codes_, slot_count_ * stride_);
  std::memcpy(links.data(), links0_, slot_count_ * (m0_ + 1) * sizeof(uint32_t));
  codes_owned_ = std::move(codes);
  links0_owned_ = std::move(links);
  codes_ = codes_owned_.data();
  links0_ = reinterpret_cast<uint32_t*>(links0_owned_.data());
  mapped_.reset();
  return Status::OK();
}

int HnswIndex::RandomLevel() {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const double r = -std::log(std::max(u(rng_), 1e-300)) * level_mult_;
  return static_cast<int>(std::min(r, 32.0));
}

Result<uint32_t> HnswIndex::AllocateSlot(uint64_t label, int level, uint32_t slot) {
  // Caller holds grow_mu_ (shared) and meta_mu_.
  if (label_map_.Find(label) != LabelMap::kAbsent) {
    return Status::AlreadyExists("label " + std::to_string(label) + " is already in the index");
  }
  uint32_t id;
  if (slot != LabelMap::kAbsent) {
    id = slot;  // reserved by AddBatch
  } else if (!free_slots_.empty()) {
    id = free_slots_.back();
    free_slots_.pop_back();
  } else {
    if (slot_count_ == capacity_) return Status::ResourceExhausted("grow");
    id = static_cast<uint32_t>(slot_count_++);
  }
  label_map_.Put(label, id);
  labels_[id] = label;
  levels_[id] = static_cast<uint8_t>(level);
  live_[id] = 1;
  links(id, 0)[0] = 0;
  if (level > 0) {
    upper_[id].reset(new uint32_t[static_cast<size_t>(level) * (options_.M + 1)]());
  } else {
    upper_[id].reset();
  }
  ++live_count_;
  return id;
}

Status HnswIndex::Add(uint64_t label, std::span<const float> vector) {
  if (vector.size() != dim()) {
    return Status::InvalidArgument(DimensionError("vector", vector.size(), dim()));
  }
  if (two_tier()) {
    SEXTANT_RETURN_IF_ERROR(exact_codec_->ValidateQuery(vector.data()));
    SEXTANT_RETURN_IF_ERROR(TrainWalkCodes(vector));
  }
  if (screen_) {
    SEXTANT_RETURN_IF_ERROR(codec_.ValidateQuery(vector.data()));
    SEXTANT_RETURN_IF_ERROR(TrainScreen(vector));
  }
  return AddOne(label, vector);
}

size_t HnswIndex::LiveCount() const {
  std::lock_guard<std::mutex> m(meta_mu_);
  return live_count_;
}

Status HnswIndex::TrainScreen(std::span<const float> batch) {
  std::unique_lock<std::shared_mutex> g(grow_mu_);
  if (!RetrainDue(screen_rows_, LiveCount(), batch.size() / dim())) return Status::OK();
  SEXTANT_RETURN_IF_ERROR(Materialize());
  EncodeScreen(batch);
  return Status::OK();
}

Status HnswIndex::RebuildScreen() {
  if (!screen_) return Status::OK();
  if (!screen_->Reserve(std::max<size_t>(capacity_, 1))) {
    return Status::ResourceExhausted("out of memory building the index's screen");
  }
  EncodeScreen({});
  return Status::OK();
}

void HnswIndex::EncodeScreen(std::span<const float> batch) {
  // The mean of the stored vectors (normalised for cosine) and the batch's, in double.
  const size_t n = batch.size() / dim();
  std::vector<double> sum(dim(), 0.0);
  std::vector<float> row(dim());
  size_t rows = n;
  auto stored = [&](size_t u) { return reinterpret_cast<const float*>(code(static_cast<uint32_t>(u))); };
  for (size_t u = 0; u < slot_count_; ++u) {
    if (!live_[u]) continue;
    const float* v = stored(u);
    for (size_t i = 0; i < dim(); ++i) sum[i] += v[i];
    ++rows;
  }
  for (size_t r = 0; r < n; ++r) {
    codec_.EncodeQuery(batch.data() + r * dim(), reinterpret_cast<uint8_t*>(row.data()));
    for (size_t i = 0; i < dim(); ++i) sum[i] += row[i];
  }
  for (size_t i = 0; i < dim(); ++i) row[i] = rows > 0 ? static_cast<float>(sum[i] / static_cast<double>(rows)) : 0.0f;
  screen_->SetCentre(row);
  for (size_t u = 0; u < slot_count_; ++u) {
    if (live_[u]) screen_->Encode(static_cast<uint32_t>(u), stored(u));
  }
  screen_rows_ = rows;
}

Status HnswIndex::TrainWalkCodes(std::span<const float> batch) {
  const size_t n = batch.size() / dim();
  std::unique_lock<std::shared_mutex> g(grow_mu_);
  const size_t live = LiveCount();
  if (!RetrainDue(trained_rows_, live, n)) return Status::OK();
  SEXTANT_RETURN_IF_ERROR(Materialize());
  // The exact vectors held and the batch, sampled evenly down to kTrainCap rows, row by row
  // (a copy of the sample, 26 MB for 100-d, would stay in the heap as freed memory).
  const size_t total = live + n;
  const size_t every = (total + kTrainCap - 1) / kTrainCap;
  Sq8Range range(dim(), options_.metric);
  std::vector<float> row(dim());
  size_t seen = 0;
  for (size_t u = 0; u < slot_count_; ++u) {
    if (live_[u] && seen++ % every == 0) {
      StoredVector(static_cast<uint32_t>(u), row.data());
      SEXTANT_RETURN_IF_ERROR(range.Add(row.data()));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (seen++ % every == 0) SEXTANT_RETURN_IF_ERROR(range.Add(batch.data() + i * dim()));
  }
  std::vector<float> lower, step;
  SEXTANT_RETURN_IF_ERROR(range.Params(&lower, &step));
  SEXTANT_ASSIGN_OR_RETURN(VectorCodec codec, VectorCodec::CreateSq8(dim(), options_.metric, std::move(lower),
                                                                    std::move(step)));
  // The points already stored, in place: each exact vector decoded under the old parameters,
  // then its code and its row written under the new ones (its old escapes are dropped).
  std::vector<uint8_t> resid(exact_->row_bytes());
  std::vector<uint32_t> escaped(dim());
  for (size_t u = 0; u < slot_count_; ++u) {
    if (!live_[u]) continue;
    const auto id = static_cast<uint32_t>(u);
    StoredVector(id, row.data());
    exact_->Release(id);
    SEXTANT_RETURN_IF_ERROR(codec.Encode(row.data(), codes_ + u * stride_));
    const size_t escapes = ExactStore::EncodeRow(codec, code(id), row.data(), resid.data(), escaped.data());
    exact_->Put(id, resid.data(), {escaped.data(), escapes});
  }
  exact_->CompactIfWasteful(live_, slot_count_);
  codec_ = std::move(codec);
  trained_rows_ = range.rows() * every;
  return Status::OK();
}

Status HnswIndex::AddOne(uint64_t label, std::span<const float> vector, uint32_t slot) {
  // Per-thread scratch: a batch inserts hundreds of thousands of points a thread.
  thread_local std::vector<uint8_t> code, query;
  thread_local std::vector<float> row;  // kSq8F32: the exact vector (the f32 codec never changes)
  thread_local std::vector<uint8_t> resid;  // kSq8F32: its ExactStore row and escaped values
  thread_local std::vector<uint32_t> escaped;
  size_t escapes = 0;
  if (two_tier()) {
    row.resize(dim());
    SEXTANT_RETURN_IF_ERROR(exact_codec_->Encode(vector.data(), reinterpret_cast<uint8_t*>(row.data())));
    resid.resize(exact_->row_bytes());
    escaped.resize(dim());
  }
  for (;;) {
    {
      std::shared_lock<std::shared_mutex> g(grow_mu_);
      // Encoded under the lock: TrainWalkCodes (exclusive) may replace the codec.
      code.resize(codec_.code_size());
      query.resize(codec_.query_size());
      SEXTANT_RETURN_IF_ERROR(codec_.Encode(vector.data(), code.data()));
      codec_.EncodeQuery(vector.data(), query.data());
      if (two_tier()) escapes = ExactStore::EncodeRow(codec_, code.data(), row.data(), resid.data(), escaped.data());
      if (!mapped_) {
        uint32_t id;
        int level;
        {
          std::lock_guard<std::mutex> m(meta_mu_);
          level = RandomLevel();
          auto allocated = AllocateSlot(label, level, slot);
          if (allocated.ok()) {
            id = *allocated;
            if (two_tier()) exact_->Put(id, resid.data(), {escaped.data(), escapes});
          } else if (allocated.status().code() != StatusCode::kResourceExhausted) {
            return allocated.status();
          } else {
            id = LabelMap::kAbsent;
          }
        }
        if (id != LabelMap::kAbsent) {
          std::memcpy(codes_ + static_cast<size_t>(id) * stride_, code.data(), code.size());
          if (screen_) screen_->Encode(id, reinterpret_cast<const float*>(code.data()));
          Insert(id, query.data(), level);
          return Status::OK();
        }
      }
    }
    std::unique_lock<std::shared_mutex> g(grow_mu_);
    SEXTANT_RETURN_IF_ERROR(Materialize());
    if (slot_count_ == capacity_ && free_slots_.empty()) {
      SEXTANT_RETURN_IF_ERROR(EnsureCapacity(std::max<size_t>(64, capacity_ * 2)));
    }
  }
}

Status HnswIndex::AddBatch(std::span<const float> vectors, std::span<const uint64_t> labels,
                           size_t threads, const ProgressFn& progress, bool reconnect) {
  const size_t n = labels.size();
  if (vectors.size() != n * dim()) {
    return Status::InvalidArgument("batch has " + std::to_string(vectors.size()) +
                                   " floats for " + std::to_string(n) + " labels of dimension " +
                                   std::to_string(dim()));
  }
  // Validate everything before touching the index, so a bad row leaves it unchanged.
  {
    // (sq8-f32: the f32 codec, which accepts what the SQ8 one does and never changes.)
    const VectorCodec& check = two_tier() ? *exact_codec_ : codec_;
    std::vector<uint8_t> scratch(check.code_size());
    for (size_t i = 0; i < n; ++i) {
      Status st = check.Encode(vectors.data() + i * dim(), scratch.data());
      if (!st.ok()) return st.WithContext("row " + std::to_string(i));
    }
    // Duplicates by sorting one array (a hash set of n nodes would leave its small
    // allocations in the heap after the batch: ~50 bytes per point of resident memory).
    std::vector<uint64_t> sorted(labels.begin(), labels.end());
    std::sort(sorted.begin(), sorted.end());
    if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end()) {
      return Status::InvalidArgument("label " + std::to_string(*dup) + " appears twice in the batch");
    }
    for (size_t i = 0; i < n; ++i) {
      if (Contains(labels[i])) {
        return Status::AlreadyExists("label " + std::to_string(labels[i]) +
                                     " is already in the index");
      }
    }
  }
  if (two_tier()) SEXTANT_RETURN_IF_ERROR(TrainWalkCodes(vectors));
  if (screen_) SEXTANT_RETURN_IF_ERROR(TrainScreen(vectors));
  threads = std::max<size_t>(1, std::min(threads, n));
  std::vector<uint32_t> slots;  // row -> reserved slot (empty: each insert takes a free one)
  {
    std::unique_lock<std::shared_mutex> g(grow_mu_);
    SEXTANT_RETURN_IF_ERROR(Materialize());
    const size_t reuse = std::min(free_slots_.size(), n);
    SEXTANT_RETURN_IF_ERROR(EnsureCapacity(slot_count_ + n - reuse));
    slots = ReserveSlotsInClusterOrder(vectors, threads);
  }
  // The clustering's scratch (GloVe-100: 36 bytes a point) back to the system, as after Reorder.
  if (!slots.empty()) ReleaseFreeHeap();
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::mutex error_mu, progress_mu;
  Status first_error;
  const size_t report_every = std::max<size_t>(1, n / 100);
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      Status st = AddOne(labels[i], vectors.subspan(i * dim(), dim()),
                         slots.empty() ? LabelMap::kAbsent : slots[i]);
      if (!st.ok()) {
        std::lock_guard<std::mutex> l(error_mu);
        if (first_error.ok()) first_error = st.WithContext("row " + std::to_string(i));
      }
      const size_t d = done.fetch_add(1) + 1;
      if (progress && (d % report_every == 0 || d == n)) {
        std::lock_guard<std::mutex> l(progress_mu);
        progress(d, n);
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (!slots.empty()) {
    std::unique_lock<std::shared_mutex> g(grow_mu_);
    std::lock_guard<std::mutex> m(meta_mu_);
    for (uint32_t s : slots) {
      if (!live_[s]) free_slots_.push_back(s);  // a row that failed
    }
    --slot_reservations_;
    ordered_rows_ = live_count_;  // in cluster order already: no Reorder until it doubles
    // The exact rows' escapes were appended in insertion order: into slot order, as Reorder
    // leaves them, without the vector's spare capacity.
    if (two_tier()) exact_->Compact(live_, slot_count_);
  }
  if (threads > 1 && reconnect) ConnectUnreachable();
  if (first_error.ok() && reconnect) ReorderIfDue(threads);
  if (!slots.empty()) ReleaseFreeHeap();  // what the batch freed, as Reorder would have
  return first_error;
}

// Concurrent inserts cannot see each other, and the pruning heuristic (and link repair after
// removals) may drop the links into a point or into a whole small cluster. After a batch or a
// removal: first every point with fewer than kMinInLinks level-0 in-links gets links from its
// nearest points, then everything level-0 search cannot reach from the entry point gets, per
// unreachable component, one in-link from the nearest reachable point. A link goes in a free
// place if the linking node has room, else in place of its farthest link whose target keeps
// enough other in-links. Exclusive (grow_mu_ held). Returns the number of links added.
size_t HnswIndex::ConnectUnreachableLocked() {
  if (max_level_ < 0) return 0;
  size_t added = 0;
  std::vector<uint8_t> reached(slot_count_, 0);
  std::vector<uint32_t> in_degree = Level0InDegrees();

  std::unique_ptr<VisitedTable> visited;
  std::vector<uint8_t> qbuf(codec_.query_size() + 64);
  std::vector<float> decoded(dim());
  std::vector<Candidate> found;
  // The points near `v` (nearest first, v left out) by a search from the entry point.
  auto near = [&](uint32_t v) {
    if (!visited) visited = AcquireVisited();
    codec_.Decode(code(v), decoded.data());
    codec_.EncodeQuery(decoded.data(), qbuf.data());
    const Candidate cur = Descend(qbuf.data(), entry_point_, max_level_, 0, /*racing=*/false);
    SearchLayer(qbuf.data(), cur, 0, options_.ef_construction, false, nullptr, *visited, found);
    std::erase_if(found, [&](const Candidate& c) { return c.id == v; });
    std::sort(found.begin(), found.end(), FartherFirst());  // nearest first
  };
  // Links `from` -> `v` at level 0: in a free place, else in place of from's farthest link
  // whose target keeps more than `keep` other in-links. False when neither exists.
  auto link_into = [&](uint32_t from, uint32_t v, uint32_t keep) {
    uint32_t* list = links(from, 0);
    for (uint32_t i = 1; i <= list[0]; ++i) {
      if (list[i] == v) return false;
    }
    if (list[0] < m0_) {
      list[++list[0]] = v;
      ++in_degree[v];
      return true;
    }
    float worst = -1;
    uint32_t at = 0;
    for (uint32_t i = 1; i <= list[0]; ++i) {
      if (in_degree[list[i]] <= keep) continue;
      const float d = codec_.CodeDistance(code(from), code(list[i]));
      if (d > worst) {
        worst = d;
        at = i;
      }
    }
    if (at == 0) return false;
    --in_degree[list[at]];
    list[at] = v;
    ++in_degree[v];
    return true;
  };

  // Points with fewer than kMinInLinks in-links: the heuristic links a point from the nodes
  // it was nearest to when it was inserted and may prune it from their lists as nearer nodes
  // arrive (or a removal takes them), leaving a link from a node far away. Such a point is
  // reachable, but found only by a walk that happens to pass that node. 8,000 32-d uniform
  // points, nine rounds of removing 30 % and adding as many, every point searched for by its
  // own vector at a beam of 128: 12 of 288,000 searches missed without this pass, none with it.
  for (size_t vi = 0; vi < slot_count_ && live_count_ > kMinInLinks; ++vi) {
    const auto v = static_cast<uint32_t>(vi);
    if (!live_[v] || v == entry_point_ || in_degree[v] >= kMinInLinks) continue;
    near(v);
    for (size_t j = 0; j < found.size() && in_degree[v] < kMinInLinks; ++j) {
      if (link_into(found[j].id, v, kMinInLinks)) ++added;
    }
  }

  std::vector<uint32_t> stack;
  FloodLevel0(entry_point_, reached, stack);
  for (size_t vi = 0; vi < slot_count_; ++vi) {
    const auto v = static_cast<uint32_t>(vi);
    if (!live_[v] || reached[v]) continue;
    near(v);
    std::erase_if(found, [&](const Candidate& c) { return !reached[c.id]; });
    bool linked = false;
    for (const Candidate& nb : found) {  // the nearest reachable point with room
      const uint32_t* list = links(nb.id, 0);
      if (list[0] < m0_ && link_into(nb.id, v, kMinInLinks)) {
        linked = true;
        break;
      }
    }
    for (size_t j = 0; j < found.size() && !linked; ++j) {  // or a redundant link to replace
      linked = link_into(found[j].id, v, kMinInLinks);
    }
    if (!linked) continue;
    ++added;
    FloodLevel0(v, reached, stack);
  }
  if (visited) ReleaseVisited(std::move(visited));
  return added;
}

size_t HnswIndex::ConnectUnreachable() {
  std::unique_lock<std::shared_mutex> g(grow_mu_);
  // Don't copy a mapped file for nothing.
  if (mapped_ && CountUnreachable() == 0 && CountWeaklyLinked() == 0) return 0;
  if (Status st = Materialize(); !st.ok()) return 0;
  return ConnectUnreachableLocked();
}

void HnswIndex::Insert(uint32_t id, const uint8_t* query, int level) {
  std::unique_lock<std::mutex> top(entry_mu_);
  if (max_level_ < 0) {
    entry_point_ = id;
    max_level_ = level;
    return;
  }
  const int max_level = max_level_;
  const uint32_t ep = entry_point_;
  if (level <= max_level) top.unlock();  // only a new top level keeps the lock throughout

  // The screen spares reads here as in Search (Fashion-MNIST f32 on two threads: 16.5 CPU
  // seconds with it, 19.2 without; the graphs' recall at ef 16-64 within 0.0006).
  const BinaryScreen::Query* screen = PrepareScreenQuery(query);
  Candidate cur = Descend(query, ep, max_level, level, /*racing=*/true, screen);

  // The neighbours of every level are found top down, then linked bottom up: a node must
  // have its level-0 list before any walk can reach it. Linked top down (as before), a
  // concurrent insert could descend through its upper levels onto a level-0 list still empty,
  // link itself to that node alone, and lose the back-link when the node's own list was
  // written: 32-d points built on two threads were left in small cliques a walk never
  // entered, not found by their own vectors at a beam of 1,000 (IndexerHostile).
  auto visited = AcquireVisited(/*for_insert=*/true);
  const int top_level = std::min(level, max_level);
  thread_local std::vector<std::vector<Candidate>> per_level;
  if (per_level.size() < static_cast<size_t>(top_level) + 1) per_level.resize(static_cast<size_t>(top_level) + 1);
  for (int l = top_level; l >= 0; --l) {
    std::vector<Candidate>& cands = per_level[static_cast<size_t>(l)];
    SearchLayer(query, cur, l, options_.ef_construction, /*racing=*/true, nullptr, *visited, cands, screen);
    std::erase_if(cands, [id](const Candidate& c) { return c.id == id; });
    if (!cands.empty()) cur = *std::min_element(cands.begin(), cands.end(), FartherFirst());
  }
  ReleaseVisited(std::move(visited));
  for (int l = 0; l <= top_level; ++l) {
    std::vector<Candidate>& cands = per_level[static_cast<size_t>(l)];
    if (!cands.empty()) ConnectNewNode(id, cands, l);
  }

  if (level > max_level) {
    entry_point_ = id;
    max_level_ = level;
  }
}

HnswIndex::Candidate HnswIndex::Descend(const uint8_t* query, uint32_t ep, int top, int bottom,
                                        bool racing, const BinaryScreen::Query* screen) const {
  // Without a screen, every neighbour of the current node is read and the walk moves to the
  // nearest. With one: of a list's neighbours whose bound is within the current distance, the
  // one with the best estimate is read first, and the walk moves on at the first that is
  // nearer, so a list usually costs one read; a node is left only for a nearer one, and a level
  // only once every neighbour that may be nearer was read (as in SearchLayer with a beam of one).
  uint32_t buf[513];
  std::pair<float, uint32_t> order[512];  // screened: {estimate, id}
  Candidate cur{codec_.QueryDistance(query, code(ep)), ep};
  for (int l = top; l > bottom; --l) {
    for (bool changed = true; changed;) {
      changed = false;
      const uint32_t* list = links(cur.id, l);
      if (racing) list = ReadRacingList(list, static_cast<uint32_t>(max_links(l)), buf);
      const uint32_t cnt = list[0];
      if (screen == nullptr) {
        for (uint32_t i = 1; i <= cnt; ++i) {
          const uint32_t n = list[i];
          if (i < cnt) PrefetchCode(code(list[i + 1]), codec_.code_size());
          const float d = codec_.QueryDistance(query, code(n));
          if (d < cur.distance) {
            cur = {d, n};
            changed = true;
          }
        }
        continue;
      }
      for (uint32_t i = 1; i <= cnt; ++i) PrefetchCode(screen_->row(list[i]), screen_->row_bytes());
      uint32_t m = 0;
      for (uint32_t i = 1; i <= cnt; ++i) {
        const auto [bound, estimate] = screen_->BoundAndEstimate(*screen, list[i]);
        if (bound <= cur.distance) order[m++] = {estimate, list[i]};
      }
      std::sort(order, order + m);
      for (uint32_t j = 0; j < m && !changed; ++j) {
        const float d = codec_.QueryDistance(query, code(order[j].second));
        if (d < cur.distance) {
          cur = {d, order[j].second};
          changed = true;
        }
      }
    }
  }
  return cur;
}

uint32_t HnswIndex::ScreenOut(const BinaryScreen::Query& screen, const uint32_t* ids, uint32_t n,
                              float bound, uint32_t* kept) const {
  for (uint32_t i = 0; i < n; ++i) PrefetchCode(screen_->row(ids[i]), screen_->row_bytes());
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (screen_->LowerBound(screen, ids[i]) <= bound) kept[k++] = ids[i];
  }
  return k;
}

const BinaryScreen::Query* HnswIndex::PrepareScreenQuery(const uint8_t* query) const {
  if (!screen_ || screen_rows_ == 0) return nullptr;
  thread_local BinaryScreen::Query prepared;
  screen_->PrepareQuery(reinterpret_cast<const float*>(query), &prepared);
  return &prepared;
}

uint32_t HnswIndex::ScoreNeighbours(const uint8_t* query, uint32_t id, int level, bool racing,
                                    VisitedTable& visited, const BinaryScreen::Query* screen,
                                    float bound, uint32_t* ids, float* distances) const {
  uint32_t buf[kMaxListLength + 1];
  uint32_t* todo = ids;
  const uint32_t* list = links(id, level);
  if (racing) list = ReadRacingList(list, static_cast<uint32_t>(max_links(level)), buf);
  const uint32_t cnt = list[0];
  for (uint32_t i = 1; i <= cnt; ++i) visited.PrefetchMark(list[i]);
  // Gather the unvisited neighbours first so their codes can be prefetched together.
  uint32_t m = 0;
  for (uint32_t i = 1; i <= cnt; ++i) {
    const uint32_t n = list[i];
    if (!visited.TestAndSet(n)) todo[m++] = n;
  }
  // Only the neighbours whose screen bound is within the beam's are read in full: a rejected
  // one could not have entered (the bound only tightens while this list is done).
  if (screen != nullptr && bound < INFINITY) m = ScreenOut(*screen, todo, m, bound, todo);
  QueryDistancesTo(query, todo, m, distances);
  return m;
}

void HnswIndex::QueryDistancesTo(const uint8_t* query, const uint32_t* ids, uint32_t m,
                                 float* distances) const {
  const size_t code_bytes = codec_.code_size();
  const uint32_t ahead = PrefetchAhead(code_bytes);
  for (uint32_t j = 0; j < m && j < ahead; ++j) PrefetchCode(code(ids[j]), code_bytes);
  // Distances four at a time (one kernel call, the loads overlapping); a last two or three
  // padded with repeats of the last code where the codec has a four-code kernel.
  const uint32_t least = codec_.HasDistances4() ? 2 : 4;
  for (uint32_t j = 0; j < m; j += 4) {
    const uint32_t group = std::min<uint32_t>(4, m - j);
    for (uint32_t g = 0; g < group; ++g) {
      if (j + g + ahead < m) PrefetchCode(code(ids[j + g + ahead]), code_bytes);
    }
    if (group >= least) {
      const uint8_t* codes[4];
      for (uint32_t g = 0; g < 4; ++g) codes[g] = code(ids[j + std::min(g, group - 1)]);
      float out[4];
      codec_.QueryDistances4(query, codes, out);
      std::copy(out, out + group, distances + j);
    } else {
      for (uint32_t g = 0; g < group; ++g) distances[j + g] = codec_.QueryDistance(query, code(ids[j + g]));
    }
  }
}

void HnswIndex::SearchLayer(const uint8_t* query, Candidate ep, int level, size_t ef, bool racing,
                            const SearchFilter* filter, VisitedTable& visited,
                            std::vector<Candidate>& out, const BinaryScreen::Query* screen) const {
  visited.Reset(capacity_);  // stable while the caller holds grow_mu_ or exclusive access
  if (filter != nullptr) {
    SearchLayerFiltered(query, ep, level, ef, racing, filter, visited, out, screen);
    return;
  }
  // The beam: the best ef candidates found, sorted by distance, each marked once expanded
  // (kExpanded in its id); the walk expands the nearest unexpanded one until none is left.
  // What the two heaps of the paper's algorithm do (candidates to expand, results so far) in
  // one array whose order needs no sifting: an entrant's place by binary search, one memmove.
  constexpr uint32_t kExpanded = uint32_t{1} << 31;  // (above every slot: kMaxSlots)
  const size_t list_bytes = (max_links(level) + 1) * sizeof(uint32_t);
  out.resize(ef + 1);  // one spare: an entrant shifts the worst out through it
  Candidate* beam = out.data();
  size_t size = 0;
  uint32_t ids[kMaxListLength];
  float dists[kMaxListLength];
  visited.Set(ep.id);
  beam[size++] = ep;
  for (size_t at = 0; at < size;) {
    const uint32_t id = beam[at].id;
    beam[at].id = id | kExpanded;
    size_t next = at + 1;  // the nearest place an entrant took, if before at + 1
    float bound = size >= ef ? beam[size - 1].distance : INFINITY;
    const uint32_t m = ScoreNeighbours(query, id, level, racing, visited, screen, bound, ids, dists);
    for (uint32_t j = 0; j < m; ++j) {
      const float d = dists[j];
      if (d >= bound) continue;
      const uint32_t n = ids[j];
      // A point that enters the beam is likely expanded soon: fetch its link list now (a
      // miss per expansion otherwise, the list lives apart from the codes).
      PrefetchCode(reinterpret_cast<const uint8_t*>(links(n, level)), list_bytes);
      // The first entry farther than d, by a binary search without branches.
      const Candidate* first = beam;
      for (size_t len = size; len > 0;) {
        const size_t half = len / 2;
        const bool right = first[half].distance <= d;
        first = right ? first + half + 1 : first;
        len = right ? len - half - 1 : half;
      }
      const auto place = static_cast<size_t>(first - beam);
      std::memmove(beam + place + 1, beam + place, (size - place) * sizeof(Candidate));
      beam[place] = {d, n};
      if (size < ef) ++size;
      if (size >= ef) bound = beam[size - 1].distance;
      next = std::min(next, place);
    }
    while (next < size && (beam[next].id & kExpanded) != 0) ++next;
    at = next;
  }
  out.resize(size);
  for (Candidate& c : out) c.id &= ~kExpanded;
}

void HnswIndex::SearchLayerFiltered(const uint8_t* query, Candidate ep, int level, size_t ef,
                                    bool racing, const SearchFilter* filter, VisitedTable& visited,
                                    std::vector<Candidate>& out,
                                    const BinaryScreen::Query* screen) const {
  thread_local std::vector<Candidate> frontier;  // min-heap: next to expand
  frontier.clear();
  out.clear();  // max-heap: best ef accepted so far
  const size_t list_bytes = (max_links(level) + 1) * sizeof(uint32_t);
  visited.Set(ep.id);
  frontier.push_back(ep);
  const auto accept = [&](uint32_t id) { return filter == nullptr || filter->Accept(labels_[id]); };
  if (accept(ep.id)) out.push_back(ep);
  float bound = out.empty() ? INFINITY : ep.distance;
  uint32_t ids[kMaxListLength];
  float dists[kMaxListLength];
  while (!frontier.empty()) {
    const Candidate c = frontier.front();
    if (c.distance > bound && out.size() >= ef) break;
    std::pop_heap(frontier.begin(), frontier.end(), CloserFirst());
    frontier.pop_back();
    const uint32_t m = ScoreNeighbours(query, c.id, level, racing, visited, screen,
                                       out.size() >= ef ? bound : INFINITY, ids, dists);
    for (uint32_t j = 0; j < m; ++j) {
      const float d = dists[j];
      const uint32_t n = ids[j];
      if (out.size() >= ef && d >= bound) continue;
      PrefetchCode(reinterpret_cast<const uint8_t*>(links(n, level)), list_bytes);
      frontier.push_back({d, n});
      std::push_heap(frontier.begin(), frontier.end(), CloserFirst());
      if (!accept(n)) continue;
      if (out.size() < ef) {
        out.push_back({d, n});
        std::push_heap(out.begin(), out.end(), FartherFirst());
      } else {
        ReplaceFarthest(out, {d, n});
      }
      bound = out.size() >= ef ? out.front().distance : INFINITY;
    }
  }
}

void HnswIndex::EncodeStoredAsQuery(uint32_t id, uint8_t* query) const {
  thread_local std::vector<float> decoded;
  decoded.resize(dim());
  codec_.Decode(code(id), decoded.data());
  codec_.EncodeStoredFormQuery(decoded.data(), query);
}

void HnswIndex::SelectNeighbors(std::vector<Candidate>& cands, size_t m) const {
  if (cands.size() <= m) return;
  // Candidates are taken closest first: as they are when sorted already (a walk's beam), else
  // from a heap: the heuristic usually keeps its m well before the end of ef_construction
  // candidates, so a full sort would order what nobody reads.
  const bool sorted = std::is_sorted(cands.begin(), cands.end(), FartherFirst());
  if (!sorted) std::make_heap(cands.begin(), cands.end(), CloserFirst());
  // SQ8 walks encode each kept neighbour once as a query, so the comparisons run on the walk's
  // integer kernel rather than decoding two codes each time.
  const bool sq8 = sq8_walk();
  // float32: the candidate's code is a query (CodeDistance is QueryDistance) against four kept
  // codes in one call, the same values as one at a time (l2 and ip are symmetric to the bit).
  const bool four_codes = !sq8 && codec_.HasDistances4();
  const size_t qs = (codec_.query_size() + 63) / 64 * 64;
  thread_local std::vector<uint8_t> kept_queries;
  thread_local std::vector<Candidate> kept;
  if (sq8) kept_queries.resize(m * qs);
  kept.clear();
  for (size_t i = 0, heap = cands.size(); i < cands.size() && kept.size() < m; ++i) {
    if (!sorted) std::pop_heap(cands.begin(), cands.begin() + heap, CloserFirst());
    const Candidate c = sorted ? cands[i] : cands[--heap];
    bool good = true;
    for (size_t j = 0; j < kept.size() && good;) {
      if (sq8 && j + 4 <= kept.size()) {  // four kept neighbours in one kernel call
        const uint8_t* queries[4] = {kept_queries.data() + j * qs, kept_queries.data() + (j + 1) * qs,
                                     kept_queries.data() + (j + 2) * qs, kept_queries.data() + (j + 3) * qs};
        float d[4];
        codec_.QueriesDistance4(queries, code(c.id), d);
        good = d[0] >= c.distance && d[1] >= c.distance && d[2] >= c.distance && d[3] >= c.distance;
        j += 4;
        continue;
      }
      if (four_codes && j + 4 <= kept.size()) {
        const uint8_t* codes[4] = {code(kept[j].id), code(kept[j + 1].id), code(kept[j + 2].id), code(kept[j + 3].id)};
        float d[4];
        codec_.QueryDistances4(code(c.id), codes, d);
        good = d[0] >= c.distance && d[1] >= c.distance && d[2] >= c.distance && d[3] >= c.distance;
        j += 4;
        continue;
      }
      const float d = sq8 ? codec_.QueryDistance(kept_queries.data() + j * qs, code(c.id))
                          : codec_.CodeDistance(code(kept[j].id), code(c.id));
      good = d >= c.distance;
      ++j;
    }
    if (!good) continue;
    // The last one kept is never compared with: no query for it.
    if (sq8 && kept.size() + 1 < m) EncodeStoredAsQuery(c.id, kept_queries.data() + kept.size() * qs);
    kept.push_back(c);
  }
  cands.assign(kept.begin(), kept.end());
}

void HnswIndex::ConnectNewNode(uint32_t id, std::vector<Candidate>& cands, int level) {
  SelectNeighbors(cands, options_.M);
  {
    std::lock_guard<LinkSpinLock> l(LinkLock(id));
    uint32_t* own = links(id, level);
    for (size_t i = 0; i < cands.size(); ++i) StoreLink(own + i + 1, cands[i].id);
    StoreLink(own, static_cast<uint32_t>(cands.size()));
  }
  const size_t cap = max_links(level);
  std::vector<Candidate> pool;
  std::vector<uint8_t> nb_query;
  uint32_t seen[kMaxListLength + 1];
  for (const Candidate& nb : cands) {
    // A full list is pruned outside its lock (the heuristic is the costly part of an insert,
    // and a busy neighbour is what other inserts expand): copy it, prune the copy, and write
    // the result back only if nobody changed the list meanwhile; otherwise start over.
    for (;;) {
      uint32_t cnt;
      {
        std::lock_guard<LinkSpinLock> l(LinkLock(nb.id));
        uint32_t* list = links(nb.id, level);
        cnt = list[0];
        if (std::find(list + 1, list + 1 + cnt, id) != list + 1 + cnt) break;
        if (cnt < cap) {
          StoreLink(list + cnt + 1, id);  // the id before the count that covers it
          StoreLink(list, cnt + 1);
          break;
        }
        std::memcpy(seen, list, (cnt + 1) * sizeof(uint32_t));
      }
      pool.clear();
      pool.push_back({nb.distance, id});
      if (sq8_walk()) {
        nb_query.resize(codec_.query_size());
        EncodeStoredAsQuery(nb.id, nb_query.data());
        float d[kMaxListLength];
        QueryDistancesTo(nb_query.data(), seen + 1, cnt, d);
        for (uint32_t i = 1; i <= cnt; ++i) pool.push_back({d[i - 1], seen[i]});
      } else if (codec_.HasDistances4()) {  // float32: nb's code is its query, four codes a call
        float d[kMaxListLength];
        QueryDistancesTo(code(nb.id), seen + 1, cnt, d);
        for (uint32_t i = 1; i <= cnt; ++i) pool.push_back({d[i - 1], seen[i]});
      } else {
        for (uint32_t i = 1; i <= cnt; ++i) {
          pool.push_back({codec_.CodeDistance(code(nb.id), code(seen[i])), seen[i]});
        }
      }
      SelectNeighbors(pool, cap);
      std::lock_guard<LinkSpinLock> l(LinkLock(nb.id));
      uint32_t* list = links(nb.id, level);
      if (list[0] != cnt || std::memcmp(list + 1, seen + 1, cnt * sizeof(uint32_t)) != 0) continue;
      // Ids, then the count (never above the old one): a racing reader sees old or new ids.
      for (size_t i = 0; i < pool.size(); ++i) StoreLink(list + i + 1, pool[i].id);
      StoreLink(list, static_cast<uint32_t>(pool.size()));
      break;
    }
  }
}

std::unique_ptr<HnswIndex::VisitedTable> HnswIndex::AcquireVisited(bool for_insert) const {
  std::unique_ptr<VisitedTable> v;
  {
    std::lock_guard<std::mutex> l(visited_mu_);
    if (!visited_pool_.empty()) {
      v = std::move(visited_pool_.back());
      visited_pool_.pop_back();
    }
  }
  if (!v) v = std::make_unique<VisitedTable>();
  v->set_mode(for_insert ? VisitedTable::Mode::kBits : VisitedTable::Mode::kEpochs);
  return v;
}

void HnswIndex::ReleaseVisited(std::unique_ptr<VisitedTable> v) const {
  std::lock_guard<std::mutex> l(visited_mu_);
  visited_pool_.push_back(std::move(v));
}

Status HnswIndex::CheckQuery(std::span<const float> query, size_t k) const {
  if (query.size() != dim()) {
    return Status::InvalidArgument(DimensionError("query", query.size(), dim()));
  }
  if (k == 0) return Status::InvalidArgument("k must be at least 1");
  return codec_.ValidateQuery(query.data());
}

Result<std::vector<SearchHit>> HnswIndex::Search(std::span<const float> query, size_t k,
                                                 size_t ef, const SearchFilter* filter) const {
  SEXTANT_RETURN_IF_ERROR(CheckQuery(query, k));
  std::vector<SearchHit> hits;
  if (max_level_ < 0 || live_count_ == 0) return hits;

  thread_local std::vector<uint8_t> qbuf;
  qbuf.resize(codec_.query_size() + 64);
  uint8_t* q = qbuf.data();
  const bool exact = codec_.EncodeQuery(query.data(), q);

  const BinaryScreen::Query* screen = PrepareScreenQuery(q);
  const Candidate cur = Descend(q, entry_point_, max_level_, 0, /*racing=*/false, screen);

  auto visited = AcquireVisited();
  thread_local std::vector<Candidate> found;
  SearchLayer(q, cur, 0, std::max(ef, k), /*racing=*/false, filter, *visited, found, screen);
  ReleaseVisited(std::move(visited));

  if (two_tier()) {  // rank the walk's candidates by exact distances from the float vectors
    thread_local std::vector<float> prepared;
    prepared.resize(dim());
    exact_codec_->PrepareExactQuery(query.data(), prepared.data());
    const size_t row_bytes = exact_->row_bytes();
    // Only the best eighth of the candidates (at least 2k) by walk distance are worth an exact
    // distance: SQ8's error reorders neighbours that are close together, it does not move a
    // true top-k point far down the list. (Measured: recall@10 on GloVe-100 and Fashion-MNIST
    // equal to ranking every candidate exactly, from ef 16 to 256.)
    const size_t rerank = std::max(2 * k, found.size() / 8);
    if (found.size() > rerank) {
      std::nth_element(found.begin(), found.begin() + rerank, found.end(), FartherFirst());
      found.resize(rerank);
    }
    constexpr size_t kAhead = 4;
    auto row = [&](uint32_t id) { return exact_->rows() + static_cast<size_t>(id) * row_bytes; };
    for (size_t i = 0; i < found.size() && i < kAhead; ++i) PrefetchCode(row(found[i].id), row_bytes);
    for (size_t i = 0; i < found.size(); ++i) {
      if (i + kAhead < found.size()) PrefetchCode(row(found[i + kAhead].id), row_bytes);
      found[i].distance = RankingDistance(prepared.data(), found[i].id);
    }
  } else if (!exact) {  // the traversal used a rounded query: re-rank the candidates exactly
    thread_local std::vector<float> prepared;
    prepared.resize(dim());
    codec_.PrepareExactQuery(query.data(), prepared.data());
    for (Candidate& c : found) c.distance = codec_.ExactDistance(prepared.data(), code(c.id));
  }
  const size_t take = std::min(k, found.size());
  std::partial_sort(found.begin(), found.begin() + take, found.end(),
                    [](const Candidate& a, const Candidate& b) {
                      return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
                    });
  hits.reserve(take);
  for (size_t i = 0; i < take; ++i) hits.push_back({labels_[found[i].id], found[i].distance});
  return hits;
}

Status HnswIndex::Train(std::span<const float> vectors) {
  if (live_count_ > 0) return Status::FailedPrecondition("Train on an index that holds points");
  if (vectors.size() % dim() != 0) {
    return Status::InvalidArgument("training rows are not whole (" + std::to_string(vectors.size()) +
                                   " floats, dimension " + std::to_string(dim()) + ")");
  }
  return Status::OK();  // a graph learns nothing up front
}

Status HnswIndex::Add(std::span<const float> vectors, std::span<const uint64_t> labels) {
  return AddBatch(vectors, labels);
}

Result<std::vector<SearchHit>> HnswIndex::Search(std::span<const float> query, size_t k,
                                                 const SearchParams& params,
                                                 const SearchFilter* filter) const {
  return Search(query, k, params.ef, filter);
}

Result<std::vector<SearchHit>> HnswIndex::SearchSubset(std::span<const float> query, size_t k,
                                                       std::span<const uint64_t> labels) const {
  SEXTANT_RETURN_IF_ERROR(CheckQuery(query, k));
  std::vector<float> prepared(dim());
  const VectorCodec& rc = ranking_codec();
  rc.PrepareExactQuery(query.data(), prepared.data());
  std::vector<SearchHit> all;
  all.reserve(labels.size());
  for (uint64_t label : labels) {
    const uint32_t id = label_map_.Find(label);
    if (id == LabelMap::kAbsent) continue;
    all.push_back({label, RankingDistance(prepared.data(), id)});
  }
  const size_t take = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + take, all.end(),
                    [](const SearchHit& a, const SearchHit& b) {
                      return a.distance < b.distance || (a.distance == b.distance && a.label < b.label);
                    });
  all.resize(take);
  return all;
}

std::vector<uint32_t> HnswIndex::ClusterOrder(size_t threads) const {
  std::vector<uint32_t> live;
  live.reserve(live_count_);
  for (uint32_t u = 0; u < slot_count_; ++u) {
    if (live_[u]) live.push_back(u);
  }
  std::vector<uint32_t> order = ClusterRows(
      live.size(), [&](size_t i, float* out) { StoredVector(live[i], out); }, threads);
  for (uint32_t& o : order) o = live[o];
  return order;
}

std::vector<uint32_t> HnswIndex::ClusterRows(size_t count,
                                             const std::function<void(size_t, float*)>& row,
                                             size_t threads) const {
  std::vector<uint32_t> order(count);
  const size_t k = std::min<size_t>(kReorderMaxClusters, count / kReorderPointsPerCluster);
  if (k < 2) {
    for (size_t i = 0; i < count; ++i) order[i] = static_cast<uint32_t>(i);
    return order;
  }
  const size_t d = dim();
  // Centroids from an evenly spaced sample (32 points a centroid, six rounds: the order only
  // needs neighbourhoods, not a good quantizer), learned and assigned in float32, a block of
  // rows at a time.
  KMeansOptions km;
  km.iterations = 6;
  km.max_points_per_centroid = 32;
  km.threads = threads;
  const size_t samples = std::min(count, k * km.max_points_per_centroid);
  std::vector<float> rows(std::max<size_t>(samples, 4096) * d);
  for (size_t i = 0; i < samples; ++i) row(i * count / samples, &rows[i * d]);
  Result<std::vector<float>> centroids = TrainKMeans({rows.data(), samples * d}, d, k, km);
  if (!centroids.ok()) {  // (cannot happen: k <= samples)
    for (size_t i = 0; i < count; ++i) order[i] = static_cast<uint32_t>(i);
    return order;
  }
  std::vector<uint32_t> cluster(count);
  for (size_t at = 0; at < count; at += 4096) {
    const size_t m = std::min<size_t>(4096, count - at);
    for (size_t i = 0; i < m; ++i) row(at + i, &rows[i * d]);
    AssignNearest(rows.data(), m, centroids->data(), k, d, &cluster[at], nullptr, false, threads);
  }
  // Stable counting sort by cluster.
  std::vector<size_t> start(k + 1, 0);
  for (uint32_t c : cluster) ++start[c + 1];
  for (size_t c = 0; c < k; ++c) start[c + 1] += start[c];
  for (size_t i = 0; i < count; ++i) order[start[cluster[i]]++] = static_cast<uint32_t>(i);
  return order;
}

std::vector<uint32_t> HnswIndex::ReserveSlotsInClusterOrder(std::span<const float> vectors,
                                                            size_t threads) {
  const size_t n = vectors.size() / dim();
  if (options_.reorder_min_points == 0 || n < options_.reorder_min_points ||
      stride_ > kReorderMaxStride || live_count_ != 0 || !free_slots_.empty() ||
      slot_count_ + n > capacity_) {
    return {};
  }
  const std::vector<uint32_t> order = ClusterRows(
      n, [&](size_t i, float* out) { codec_.PrepareExactQuery(vectors.data() + i * dim(), out); },
      threads);
  const auto base = static_cast<uint32_t>(slot_count_);
  std::vector<uint32_t> slots(n);
  for (size_t s = 0; s < n; ++s) slots[order[s]] = base + static_cast<uint32_t>(s);
  std::lock_guard<std::mutex> m(meta_mu_);
  for (uint32_t s = base; s < base + n; ++s) {  // empty until its row is inserted
    live_[s] = 0;
    levels_[s] = 0;
    upper_[s].reset();
    links(s, 0)[0] = 0;
  }
  slot_count_ = base + n;
  ++slot_reservations_;
  return slots;
}

bool HnswIndex::ReorderIfDue(size_t threads) {
  std::unique_lock<std::shared_mutex> g(grow_mu_);
  if (options_.reorder_min_points == 0 || live_count_ < options_.reorder_min_points ||
      live_count_ < 2 * ordered_rows_ || stride_ > kReorderMaxStride) {
    return false;
  }
  // Out of memory for the copies leaves the index as it was, in its old order: still right.
  const bool reordered = ReorderLocked(threads).ok();
  g.unlock();
  // The old arrays and the clustering's scratch (GloVe-100: about 30 bytes a point) go back to
  // the system instead of staying resident; outside the lock.
  ReleaseFreeHeap();
  return reordered;
}

Status HnswIndex::Reorder(size_t threads) {
  std::unique_lock<std::shared_mutex> g(grow_mu_);
  Status st = ReorderLocked(threads);
  g.unlock();
  ReleaseFreeHeap();  // as in ReorderIfDue
  return st;
}

Status HnswIndex::ReorderLocked(size_t threads) {
  if (slot_reservations_ > 0) return Status::OK();  // a batch is filling reserved slots
  const size_t n = slot_count_;
  ordered_rows_ = live_count_;  // (also when out of memory below: not tried again every batch)
  if (n < 2) return Status::OK();
  SEXTANT_RETURN_IF_ERROR(Materialize());
  // order[new] = old: the live points grouped by nearest centroid, then the free slots.
  std::vector<uint32_t> order = ClusterOrder(std::max<size_t>(threads, 1));
  order.reserve(n);
  for (uint32_t u = 0; u < n; ++u) {
    if (!live_[u]) order.push_back(u);
  }
  std::vector<uint32_t> renumbered(n);  // old -> new
  for (uint32_t s = 0; s < n; ++s) renumbered[order[s]] = s;

  AlignedBuffer codes, links0;
  if (!codes.Resize(capacity_ * stride_) || !links0.Resize(capacity_ * (m0_ + 1) * sizeof(uint32_t)) ||
      (two_tier() && !exact_->Permute(order, live_)) || (screen_ && !screen_->Permute(order))) {
    return Status::ResourceExhausted("out of memory reordering the index");
  }
  // Readers that take only meta_mu_ (Contains, Labels, GetVector) wait for the labels.
  std::lock_guard<std::mutex> meta(meta_mu_);
  auto* new_links0 = reinterpret_cast<uint32_t*>(links0.data());
  std::vector<std::unique_ptr<uint32_t[]>> upper(upper_.size());
  std::vector<uint8_t> levels(levels_.size(), 0), live(live_.size(), 0);
  std::vector<uint64_t> labels(labels_.size(), 0);
  auto copy_list = [&](const uint32_t* from, uint32_t* to) {
    to[0] = from[0];
    for (uint32_t i = 1; i <= from[0]; ++i) to[i] = renumbered[from[i]];
  };
  for (uint32_t s = 0; s < n; ++s) {
    const uint32_t u = order[s];
    std::memcpy(codes.data() + static_cast<size_t>(s) * stride_, code(u), stride_);
    copy_list(links(u, 0), new_links0 + static_cast<size_t>(s) * (m0_ + 1));
    levels[s] = levels_[u];
    live[s] = live_[u];
    labels[s] = labels_[u];
    upper[s] = std::move(upper_[u]);
    for (int l = 1; l <= levels[s] && upper[s]; ++l) {
      uint32_t* list = upper[s].get() + static_cast<size_t>(l - 1) * (options_.M + 1);
      for (uint32_t i = 1; i <= list[0]; ++i) list[i] = renumbered[list[i]];
    }
    if (live[s]) label_map_.Put(labels[s], s);
  }
  codes_owned_ = std::move(codes);
  links0_owned_ = std::move(links0);
  codes_ = codes_owned_.data();
  links0_ = reinterpret_cast<uint32_t*>(links0_owned_.data());
  upper_ = std::move(upper);
  levels_ = std::move(levels);
  live_ = std::move(live);
  labels_ = std::move(labels);
  for (uint32_t& f : free_slots_) f = renumbered[f];
  if (live_count_ > 0) entry_point_ = renumbered[entry_point_];
  return Status::OK();
}

bool HnswIndex::Contains(uint64_t label) const {
  std::lock_guard<std::mutex> l(meta_mu_);
  return label_map_.Find(label) != LabelMap::kAbsent;
}

std::vector<uint64_t> HnswIndex::Labels() const {
  std::lock_guard<std::mutex> l(meta_mu_);
  std::vector<uint64_t> out;
  out.reserve(live_count_);
  for (size_t i = 0; i < slot_count_; ++i) {
    if (live_[i]) out.push_back(labels_[i]);
  }
  return out;
}

Result<std::vector<float>> HnswIndex::GetVector(uint64_t label) const {
  uint32_t id;
  {
    std::lock_guard<std::mutex> l(meta_mu_);
    id = label_map_.Find(label);
  }
  if (id == LabelMap::kAbsent) {
    return Status::NotFound("label " + std::to_string(label) + " is not in the index");
  }
  std::vector<float> out(dim());
  StoredVector(id, out.data());
  return out;
}

void HnswIndex::StoredVector(uint32_t id, float* out) const {
  if (two_tier()) {
    exact_->Get(codec_, id, code(id), out);
  } else {
    codec_.Decode(code(id), out);
  }
}

float HnswIndex::RankingDistance(const float* prepared, uint32_t id) const {
  if (!two_tier()) return codec_.ExactDistance(prepared, code(id));
  thread_local std::vector<float> v;
  v.resize(dim());
  exact_->Get(codec_, id, code(id), v.data());
  return exact_codec_->QueryDistance(reinterpret_cast<const uint8_t*>(prepared),
                                     reinterpret_cast<const uint8_t*>(v.data()));
}

Status HnswIndex::Remove(std::span<const uint64_t> labels) {
  std::unique_lock<std::shared_mutex> g(grow_mu_);
  std::vector<uint32_t> ids;
  ids.reserve(labels.size());
  for (uint64_t label : labels) {
    const uint32_t id = label_map_.Find(label);
    if (id == LabelMap::kAbsent) {
      return Status::NotFound("label " + std::to_string(label) + " is not in the index");
    }
    ids.push_back(id);
  }
  SEXTANT_RETURN_IF_ERROR(Materialize());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (uint32_t id : ids) live_[id] = 0;

  // A new entry point: the live node with the highest level.
  if (!live_[entry_point_]) {
    max_level_ = -1;
    for (size_t i = 0; i < slot_count_; ++i) {
      if (live_[i] && static_cast<int>(levels_[i]) > max_level_) {
        max_level_ = levels_[i];
        entry_point_ = static_cast<uint32_t>(i);
      }
    }
  }

  // Repair every live list that points at a removed node: candidates are the list's live
  // members plus the live neighbours of its removed members, pruned with the heuristic. A node
  // left with too few candidates (its whole neighbourhood went) is re-linked by a fresh search.
  std::vector<Candidate> cands;
  std::vector<uint32_t> seen;
  std::vector<uint8_t> qbuf(codec_.query_size() + 64);
  std::vector<float> decoded(dim());
  auto visited = AcquireVisited();
  for (size_t u = 0; u < slot_count_ && max_level_ >= 0; ++u) {
    if (!live_[u]) continue;
    for (int l = 0; l <= levels_[u]; ++l) {
      uint32_t* list = links(static_cast<uint32_t>(u), l);
      const uint32_t cnt = list[0];
      bool touched = false;
      for (uint32_t i = 1; i <= cnt && !touched; ++i) touched = !live_[list[i]];
      if (!touched) continue;
      cands.clear();
      seen.clear();
      auto consider = [&](uint32_t x) {
        if (x == u || !live_[x] || std::find(seen.begin(), seen.end(), x) != seen.end()) return;
        seen.push_back(x);
        cands.push_back({codec_.CodeDistance(code(static_cast<uint32_t>(u)), code(x)), x});
      };
      for (uint32_t i = 1; i <= cnt; ++i) {
        const uint32_t x = list[i];
        if (live_[x]) {
          consider(x);
        } else if (levels_[x] >= l) {
          const uint32_t* xl = links(x, l);
          for (uint32_t j = 1; j <= xl[0]; ++j) consider(xl[j]);
        }
      }
      const size_t cap = max_links(l);
      if (cands.size() < std::min<size_t>(cap / 2, live_count_ - ids.size() - 1) &&
          static_cast<uint32_t>(u) != entry_point_ && l <= max_level_) {
        codec_.Decode(code(static_cast<uint32_t>(u)), decoded.data());
        codec_.EncodeQuery(decoded.data(), qbuf.data());
        const Candidate cur = Descend(qbuf.data(), entry_point_, max_level_, l, /*racing=*/false);
        std::vector<Candidate> found;
        SearchLayer(qbuf.data(), cur, l, options_.ef_construction, false, nullptr, *visited, found);
        for (const Candidate& c : found) consider(c.id);
      }
      SelectNeighbors(cands, cap);
      list[0] = static_cast<uint32_t>(cands.size());
      for (size_t i = 0; i < cands.size(); ++i) list[i + 1] = cands[i].id;
    }
  }
  ReleaseVisited(std::move(visited));

  for (uint32_t id : ids) {
    label_map_.Erase(labels_[id]);
    if (two_tier()) exact_->Release(id);
    links(id, 0)[0] = 0;
    upper_[id].reset();
    levels_[id] = 0;
    free_slots_.push_back(id);
    --live_count_;
  }
  if (live_count_ == 0) max_level_ = -1;
  if (two_tier()) exact_->CompactIfWasteful(live_, slot_count_);
  ConnectUnreachableLocked();
  return Status::OK();
}

size_t HnswIndex::MemoryUsage() const {
  size_t bytes = sizeof(*this);
  bytes += mapped_ ? mapped_->size() : codes_owned_.size() + links0_owned_.size();
  if (two_tier()) bytes += exact_->MemoryUsage();
  if (screen_) bytes += screen_->MemoryUsage();
  for (size_t i = 0; i < slot_count_; ++i) {
    if (upper_[i]) bytes += static_cast<size_t>(levels_[i]) * (options_.M + 1) * sizeof(uint32_t);
  }
  bytes += upper_.capacity() * sizeof(upper_[0]);
  bytes += levels_.capacity() + live_.capacity() + labels_.capacity() * sizeof(uint64_t);
  bytes += free_slots_.capacity() * sizeof(uint32_t);
  bytes += label_map_.MemoryUsage();
  std::lock_guard<std::mutex> l(visited_mu_);
  for (const auto& v : visited_pool_) bytes += v->MemoryUsage();
  return bytes;
}

Status HnswIndex::CheckIntegrity() const {
  size_t live = 0;
  for (size_t u = 0; u < slot_count_; ++u) {
    if (!live_[u]) continue;
    ++live;
    if (label_map_.Find(labels_[u]) != u) {
      return Status::Internal("slot " + std::to_string(u) + " is not in the label map");
    }
    for (int l = 0; l <= levels_[u]; ++l) {
      const uint32_t* list = links(static_cast<uint32_t>(u), l);
      if (list[0] > max_links(l)) return Status::Internal("too many links at " + std::to_string(u));
      for (uint32_t i = 1; i <= list[0]; ++i) {
        const uint32_t x = list[i];
        if (x >= slot_count_ || !live_[x]) {
          return Status::Internal("slot " + std::to_string(u) + " links to dead slot " +
                                  std::to_string(x) + " at level " + std::to_string(l));
        }
        if (x == u) return Status::Internal("self link at " + std::to_string(u));
        if (levels_[x] < l) return Status::Internal("link to a node without that level");
      }
    }
  }
  if (live != live_count_) return Status::Internal("live count mismatch");
  if (live == 0) return Status::OK();
  if (entry_point_ >= slot_count_ || !live_[entry_point_] || levels_[entry_point_] != max_level_) {
    return Status::Internal("bad entry point");
  }
  return Status::OK();
}

size_t HnswIndex::FloodLevel0(uint32_t from, std::vector<uint8_t>& reached,
                              std::vector<uint32_t>& stack) const {
  if (reached[from]) return 0;
  reached[from] = 1;
  stack.push_back(from);
  size_t marked = 0;
  while (!stack.empty()) {
    const uint32_t u = stack.back();
    stack.pop_back();
    ++marked;
    const uint32_t* list = links(u, 0);
    for (uint32_t i = 1; i <= list[0]; ++i) {
      if (!reached[list[i]]) {
        reached[list[i]] = 1;
        stack.push_back(list[i]);
      }
    }
  }
  return marked;
}

std::vector<uint32_t> HnswIndex::Level0InDegrees() const {
  std::vector<uint32_t> in_degree(slot_count_, 0);
  for (size_t u = 0; u < slot_count_; ++u) {
    if (!live_[u]) continue;
    const uint32_t* list = links(static_cast<uint32_t>(u), 0);
    for (uint32_t i = 1; i <= list[0]; ++i) ++in_degree[list[i]];
  }
  return in_degree;
}

size_t HnswIndex::CountWeaklyLinked() const {
  if (live_count_ <= kMinInLinks) return 0;
  const std::vector<uint32_t> in_degree = Level0InDegrees();
  size_t weak = 0;
  for (size_t u = 0; u < slot_count_; ++u) {
    weak += live_[u] && u != entry_point_ && in_degree[u] < kMinInLinks;
  }
  return weak;
}

size_t HnswIndex::CountUnreachable() const {
  size_t live = 0;
  for (size_t u = 0; u < slot_count_; ++u) live += live_[u];
  if (live == 0) return 0;
  std::vector<uint8_t> reached(slot_count_, 0);
  std::vector<uint32_t> stack;
  return live - FloodLevel0(entry_point_, reached, stack);
}

}  // namespace sextant::index
