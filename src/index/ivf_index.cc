#include "index/ivf_index.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <unordered_set>

namespace sextant::index {
namespace {

constexpr size_t kMaxNlist = size_t{1} << 20;
constexpr size_t kAddBlock = 4096;  // rows prepared and encoded together

std::string DimensionError(const char* what, size_t got, size_t want) {
  return std::string(what) + " has dimension " + std::to_string(got) + ", index has " +
         std::to_string(want);
}

Status CheckFinite(const float* v, size_t n, size_t row) {
  for (size_t d = 0; d < n; ++d) {
    if (!std::isfinite(v[d])) {
      return Status::InvalidArgument("row " + std::to_string(row) + ": value " +
                                     (std::isnan(v[d]) ? std::string("NaN") : std::string("Inf")) +
                                     " at dimension " + std::to_string(d) +
                                     " (vectors must be finite)");
    }
  }
  return Status::OK();
}

}  // namespace

// The best `cap` candidates so far: a max-heap on distance.
class IvfIndex::TopK {
 public:
  explicit TopK(size_t cap) : cap_(cap) { heap_.reserve(cap + 1); }
  bool full() const { return heap_.size() >= cap_; }
  // Distances at or above this cannot enter.
  float bound() const { return full() ? heap_.front().distance : INFINITY; }
  void Push(float d, uint32_t list, uint32_t offset) {
    if (full()) {
      if (!(d < heap_.front().distance)) return;
      std::pop_heap(heap_.begin(), heap_.end(), Less);
      heap_.back() = {d, list, offset};
    } else {
      heap_.push_back({d, list, offset});
    }
    std::push_heap(heap_.begin(), heap_.end(), Less);
  }
  std::vector<Candidate>& items() { return heap_; }

 private:
  static bool Less(const Candidate& a, const Candidate& b) { return a.distance < b.distance; }
  size_t cap_;
  std::vector<Candidate> heap_;
};

IvfIndex::IvfIndex(size_t dim, const IvfOptions& options, VectorCodec orig_codec)
    : dim_(dim),
      sdim_(options.search_dims == 0 ? dim : options.search_dims),
      options_(options),
      orig_codec_(std::move(orig_codec)),
      k_(&simd::Best()),
      qk_(&simd::QuantBest()) {}

Result<std::unique_ptr<IvfIndex>> IvfIndex::Create(size_t dim, const IvfOptions& options) {
  if (options.metric == Metric::kL1) {
    return Status::InvalidArgument("IVF and quantized indexes support l2, ip and cosine, not l1");
  }
  if (options.coarse && (options.nlist == 0 || options.nlist > kMaxNlist)) {
    return Status::InvalidArgument("nlist must be in [1, " + std::to_string(kMaxNlist) +
                                   "], got " + std::to_string(options.nlist));
  }
  if (options.search_dims > dim) {
    return Status::InvalidArgument("search dims " + std::to_string(options.search_dims) +
                                   " exceed the dimension " + std::to_string(dim));
  }
  const size_t sdim = options.search_dims == 0 ? dim : options.search_dims;
  if (sdim < dim && !options.keep_originals) {
    return Status::InvalidArgument(
        "searching on the first " + std::to_string(sdim) + " of " + std::to_string(dim) +
        " dimensions needs the full vectors for re-ranking (keep_originals)");
  }
  if (options.original_storage != StorageType::kFloat32 &&
      options.original_storage != StorageType::kUint8) {
    return Status::InvalidArgument("re-rank vectors are stored as f32 or u8");
  }
  SEXTANT_ASSIGN_OR_RETURN(VectorCodec orig,
                           VectorCodec::Create(dim, options.metric, options.original_storage));
  std::unique_ptr<IvfIndex> ix(new IvfIndex(dim, options, std::move(orig)));
  const Metric inner = options.metric == Metric::kL2 ? Metric::kL2 : Metric::kInnerProduct;
  switch (options.codes) {
    case CodeKind::kFlat: {
      if (options.flat_storage == StorageType::kSq8) {
        return Status::InvalidArgument("use CodeKind::kSq8 for sq8 codes");
      }
      if (options.flat_storage == StorageType::kUint8 && options.metric == Metric::kCosine) {
        return Status::InvalidArgument("u8 storage cannot hold normalised (cosine) vectors");
      }
      SEXTANT_ASSIGN_OR_RETURN(VectorCodec c, VectorCodec::Create(sdim, inner, options.flat_storage));
      ix->codec_.emplace(std::move(c));
      break;
    }
    case CodeKind::kSq8:
      break;  // Train creates the codec
    case CodeKind::kPq: {
      SEXTANT_ASSIGN_OR_RETURN(ProductQuantizer pq,
                               ProductQuantizer::Create(sdim, options.pq_m, options.pq_nbits));
      ix->pq_.emplace(std::move(pq));
      break;
    }
    default:
      return Status::InvalidArgument("unknown code kind");
  }
  ix->lists_.resize(options.coarse ? options.nlist : 1);
  // A flat index without a coarse quantizer has nothing to learn.
  ix->trained_ = !options.coarse && options.codes == CodeKind::kFlat;
  return ix;
}

std::string IvfIndex::type() const {
  const char* code = options_.codes == CodeKind::kFlat  ? "flat"
                     : options_.codes == CodeKind::kSq8 ? "sq8"
                                                        : "pq";
  return options_.coarse ? std::string("ivf-") + code : std::string(code);
}

void IvfIndex::Prepare(const float* x, float* out) const {
  std::copy_n(x, sdim_, out);
  if (options_.metric == Metric::kCosine) {
    double s = 0;
    for (size_t d = 0; d < sdim_; ++d) s += double(out[d]) * out[d];
    const float r = s > 0 ? static_cast<float>(1.0 / std::sqrt(s)) : 0.0f;
    for (size_t d = 0; d < sdim_; ++d) out[d] *= r;
  }
}

size_t IvfIndex::ListCodeBytes(size_t n) const {
  if (pq_) {
    if (pq4()) return (n + simd::kPq4BlockSize - 1) / simd::kPq4BlockSize * pq_->m() * 16;
    return n * pq_->m();
  }
  return codec_ ? n * codec_->code_size() : 0;
}

Status IvfIndex::Train(std::span<const float> vectors) {
  if (count_ > 0) return Status::FailedPrecondition("cannot train an index that holds points");
  if (vectors.size() % dim_ != 0) {
    return Status::InvalidArgument("training data of " + std::to_string(vectors.size()) +
                                   " floats is not whole rows of dimension " +
                                   std::to_string(dim_));
  }
  const size_t n = vectors.size() / dim_;
  for (size_t i = 0; i < n; ++i) {
    SEXTANT_RETURN_IF_ERROR(CheckFinite(vectors.data() + i * dim_, dim_, i));
  }
  if (options_.coarse && n < options_.nlist) {
    return Status::InvalidArgument("nlist " + std::to_string(options_.nlist) +
                                   " is larger than the training set (" + std::to_string(n) +
                                   " vectors)");
  }
  if (pq_ && n < pq_->ksub()) {
    return Status::InvalidArgument("PQ with nbits=" + std::to_string(pq_->nbits()) +
                                   " needs at least " + std::to_string(pq_->ksub()) +
                                   " training vectors, got " + std::to_string(n));
  }
  if (n == 0) return Status::InvalidArgument("training needs at least 1 vector, got 0");

  // One sample serves every quantizer.
  const size_t per = std::max<size_t>(1, options_.kmeans.max_points_per_centroid);
  const size_t want = std::max({options_.coarse ? options_.nlist * per : 0,
                                pq_ ? pq_->ksub() * per : 0, size_t{65536}});
  const size_t s = std::min(n, want);
  std::vector<size_t> rows(n);
  std::iota(rows.begin(), rows.end(), size_t{0});
  if (s < n) {
    std::mt19937_64 rng(options_.kmeans.seed ^ 0x5851f42d4c957f2dULL);
    for (size_t i = 0; i < s; ++i) {
      std::swap(rows[i], rows[std::uniform_int_distribution<size_t>(i, n - 1)(rng)]);
    }
    rows.resize(s);
    std::sort(rows.begin(), rows.end());
  }
  std::vector<float> sample(s * sdim_);
  for (size_t i = 0; i < s; ++i) Prepare(vectors.data() + rows[i] * dim_, sample.data() + i * sdim_);

  std::vector<float> centroids;
  if (options_.coarse) {
    SEXTANT_ASSIGN_OR_RETURN(centroids, TrainKMeans(sample, sdim_, options_.nlist, options_.kmeans));
  }
  const Metric inner = ip() ? Metric::kInnerProduct : Metric::kL2;
  if (options_.codes == CodeKind::kSq8) {
    std::vector<float> lower, step;
    SEXTANT_RETURN_IF_ERROR(VectorCodec::TrainSq8(sample, sdim_, inner, &lower, &step));
    SEXTANT_ASSIGN_OR_RETURN(VectorCodec c,
                             VectorCodec::CreateSq8(sdim_, inner, std::move(lower), std::move(step)));
    codec_.emplace(std::move(c));
  }
  if (pq_) {
    if (options_.coarse) {  // residuals to the nearest centroid
      std::vector<uint32_t> assign(s);
      AssignNearest(sample.data(), s, centroids.data(), options_.nlist, sdim_, assign.data(),
                    nullptr, coarse_ip(), options_.kmeans.threads);
      for (size_t i = 0; i < s; ++i) {
        const float* c = centroids.data() + size_t{assign[i]} * sdim_;
        for (size_t d = 0; d < sdim_; ++d) sample[i * sdim_ + d] -= c[d];
      }
    }
    // PQ k-means has small sub-spaces: more points per centroid are cheap.
    KMeansOptions o = options_.kmeans;
    SEXTANT_RETURN_IF_ERROR(pq_->Train(sample, o));
  }
  centroids_ = std::move(centroids);
  BuildPrecomputed();
  trained_ = true;
  return Status::OK();
}

void IvfIndex::BuildPrecomputed() {
  precomputed_.clear();
  if (!pq_ || !options_.coarse || ip()) return;
  const size_t m = pq_->m(), ks = pq_->ksub(), ds = pq_->dsub(), nl = lists_.size();
  precomputed_.resize(nl * m * ks);
  std::vector<float> rnorm(m * ks);
  for (size_t j = 0; j < m; ++j) {
    for (size_t c = 0; c < ks; ++c) {
      const float* r = pq_->centroid(j, c);
      float s = 0;
      for (size_t d = 0; d < ds; ++d) s += r[d] * r[d];
      rnorm[j * ks + c] = s;
    }
  }
  std::vector<float> ctab(m * ks);
  for (size_t l = 0; l < nl; ++l) {
    pq_->InnerProductTable(centroids_.data() + l * sdim_, ctab.data());
    float* out = precomputed_.data() + l * m * ks;
    for (size_t i = 0; i < m * ks; ++i) out[i] = rnorm[i] + 2.0f * ctab[i];
  }
}

Status IvfIndex::Add(std::span<const float> vectors, std::span<const uint64_t> labels) {
  if (!trained_) return Status::FailedPrecondition("the index is not trained (call Train first)");
  const size_t n = labels.size();
  if (vectors.size() != n * dim_) {
    return Status::InvalidArgument("batch has " + std::to_string(vectors.size()) +
                                   " floats for " + std::to_string(n) + " labels of dimension " +
                                   std::to_string(dim_));
  }
  // Validate everything first: a bad row leaves the index unchanged.
  {
    std::unordered_set<uint64_t> seen;
    seen.reserve(n);
    std::vector<uint8_t> scratch(orig_codec_.code_size());
    for (size_t i = 0; i < n; ++i) {
      const float* v = vectors.data() + i * dim_;
      SEXTANT_RETURN_IF_ERROR(CheckFinite(v, dim_, i));
      if (options_.keep_originals) {
        Status st = orig_codec_.Encode(v, scratch.data());
        if (!st.ok()) return st.WithContext("row " + std::to_string(i));
      }
      if (!seen.insert(labels[i]).second) {
        return Status::InvalidArgument("label " + std::to_string(labels[i]) +
                                       " appears twice in the batch");
      }
      if (label_map_.Find(labels[i]) != LabelMap::kAbsent) {
        return Status::AlreadyExists("label " + std::to_string(labels[i]) +
                                     " is already in the index");
      }
    }
    if (options_.codes == CodeKind::kFlat && codec_->storage() == StorageType::kUint8) {
      std::vector<float> p(sdim_);
      std::vector<uint8_t> c(codec_->code_size());
      for (size_t i = 0; i < n; ++i) {
        Prepare(vectors.data() + i * dim_, p.data());
        Status st = codec_->Encode(p.data(), c.data());
        if (!st.ok()) return st.WithContext("row " + std::to_string(i));
      }
    }
  }
  label_map_.Reserve(count_ + n);
  const size_t osize = orig_codec_.code_size();
  std::vector<float> prepared(std::min(n, kAddBlock) * sdim_);
  std::vector<uint32_t> assign(std::min(n, kAddBlock), 0);
  std::vector<uint8_t> pq_codes;
  for (size_t b0 = 0; b0 < n; b0 += kAddBlock) {
    const size_t bn = std::min(kAddBlock, n - b0);
    for (size_t i = 0; i < bn; ++i) {
      Prepare(vectors.data() + (b0 + i) * dim_, prepared.data() + i * sdim_);
    }
    if (options_.coarse) {
      AssignNearest(prepared.data(), bn, centroids_.data(), lists_.size(), sdim_, assign.data(),
                    nullptr, coarse_ip());
    }
    if (pq_) {
      if (options_.coarse) {
        for (size_t i = 0; i < bn; ++i) {
          const float* c = centroids_.data() + size_t{assign[i]} * sdim_;
          for (size_t d = 0; d < sdim_; ++d) prepared[i * sdim_ + d] -= c[d];
        }
      }
      pq_codes.resize(bn * pq_->m());
      pq_->Encode(prepared.data(), bn, pq_codes.data());
    }
    for (size_t i = 0; i < bn; ++i) {
      List& list = lists_[assign[i]];
      const size_t pos = list.labels.size();
      if (pq_) {
        const uint8_t* code = pq_codes.data() + i * pq_->m();
        if (pq4()) {
          if (pos % simd::kPq4BlockSize == 0) list.codes.resize(list.codes.size() + pq_->m() * 16, 0);
          uint8_t* block = list.codes.data() + pos / simd::kPq4BlockSize * pq_->m() * 16;
          PackPq4(code, pq_->m(), pos % simd::kPq4BlockSize, block);
        } else {
          list.codes.insert(list.codes.end(), code, code + pq_->m());
        }
      } else {
        const size_t cs = codec_->code_size();
        list.codes.resize(list.codes.size() + cs);
        // Validated above (finite; u8 values checked): Encode cannot fail here.
        (void)codec_->Encode(prepared.data() + i * sdim_, list.codes.data() + pos * cs);
      }
      if (options_.keep_originals) {
        list.originals.resize(list.originals.size() + osize);
        (void)orig_codec_.Encode(vectors.data() + (b0 + i) * dim_, list.originals.data() + pos * osize);
      }
      list.labels.push_back(labels[b0 + i]);
      label_map_.Put(labels[b0 + i], assign[i]);
    }
  }
  // Sealed lists: give back the slack of vector growth.
  for (List& l : lists_) {
    l.codes.shrink_to_fit();
    l.labels.shrink_to_fit();
    l.originals.shrink_to_fit();
  }
  count_ += n;
  return Status::OK();
}

void IvfIndex::QueryTable(const float* q, float* table) const {
  const size_t total = pq_->m() * pq_->ksub();
  if (!ip() && !options_.coarse) {
    pq_->L2Table(q, table);  // plain ADC: |q_j - c_j|^2
    return;
  }
  pq_->InnerProductTable(q, table);
  const float f = ip() ? -1.0f : -2.0f;  // L2 residual: -2 q.r; ip: -q.r
  for (size_t i = 0; i < total; ++i) table[i] *= f;
}

float IvfIndex::ListTable(size_t list, float coarse_distance, const float* q,
                          const float* qtable, float* table) const {
  const size_t total = pq_->m() * pq_->ksub();
  if (!precomputed_.empty()) {
    qk_->add_f32(precomputed_.data() + list * total, qtable, total, table);
    return coarse_distance;  // |q - c|^2
  }
  std::copy_n(qtable, total, table);
  if (!ip()) return 0.0f;  // plain ADC (no coarse quantizer)
  if (!options_.coarse) return 1.0f;
  return 1.0f - k_->ip_f32(q, centroids_.data() + list * sdim_, sdim_);  // 1 - q.c
}

void IvfIndex::ScanList(size_t l, float coarse_distance, const float* q, const uint8_t* qcode,
                        const float* qtable, const SearchFilter* filter, TopK& top) const {
  const List& list = lists_[l];
  const size_t n = list.labels.size();
  if (n == 0) return;
  const uint32_t lid = static_cast<uint32_t>(l);
  if (!pq_) {
    const size_t cs = codec_->code_size();
    const uint8_t* codes = list.codes.data();
    for (size_t i = 0; i < n; ++i) {
      if (filter != nullptr && !filter->Accept(list.labels[i])) continue;
      top.Push(codec_->QueryDistance(qcode, codes + i * cs), lid, static_cast<uint32_t>(i));
    }
    return;
  }
  const size_t m = pq_->m(), ks = pq_->ksub();
  thread_local std::vector<float> table;
  table.resize(m * ks);
  const float base = ListTable(l, coarse_distance, q, qtable, table.data());
  if (!pq4()) {
    thread_local std::vector<float> dist;
    constexpr size_t kChunk = 256;
    dist.resize(kChunk);
    for (size_t i0 = 0; i0 < n; i0 += kChunk) {
      const size_t cn = std::min(kChunk, n - i0);
      pq_->AdcScan(table.data(), list.codes.data() + i0 * m, cn, base, dist.data());
      for (size_t i = 0; i < cn; ++i) {
        if (!(dist[i] < top.bound())) continue;
        if (filter != nullptr && !filter->Accept(list.labels[i0 + i])) continue;
        top.Push(dist[i], lid, static_cast<uint32_t>(i0 + i));
      }
    }
    return;
  }
  // 4-bit: byte tables lut = round((t - min_j) / scale), so that
  //   exact = base + sum_j t_j  >=  base + sum_j min_j + scale * (sum_j lut_j - m / 2).
  thread_local std::vector<uint8_t> lut;
  thread_local std::vector<uint16_t> sums;
  lut.resize(m * 16);
  float min_sum = 0, range = 0;
  for (size_t j = 0; j < m; ++j) {
    const float* t = table.data() + j * 16;
    const float lo = *std::min_element(t, t + 16), hi = *std::max_element(t, t + 16);
    min_sum += lo;
    range = std::max(range, hi - lo);
  }
  const float scale = range > 0 ? range / 255.0f : 1.0f;
  for (size_t j = 0; j < m; ++j) {
    const float* t = table.data() + j * 16;
    const float lo = *std::min_element(t, t + 16);
    for (size_t c = 0; c < 16; ++c) {
      lut[j * 16 + c] = static_cast<uint8_t>(std::min(255.0f, std::nearbyint((t[c] - lo) / scale)));
    }
  }
  // Rounding moves each entry by at most scale/2; allow a little more for float error.
  const float slack = scale * (0.5f * static_cast<float>(m) + 1.0f) +
                      1e-5f * (std::fabs(base) + std::fabs(min_sum) + range * static_cast<float>(m));
  const size_t nblocks = (n + simd::kPq4BlockSize - 1) / simd::kPq4BlockSize;
  sums.resize(nblocks * simd::kPq4BlockSize);
  qk_->pq4_scan(list.codes.data(), nblocks, m, lut.data(), sums.data());
  const float lb0 = base + min_sum - slack;
  uint8_t code[256];
  for (size_t i = 0; i < n; ++i) {
    const float lower_bound = lb0 + scale * static_cast<float>(sums[i]);
    if (!(lower_bound < top.bound())) continue;
    if (filter != nullptr && !filter->Accept(list.labels[i])) continue;
    UnpackPq4(list.codes.data() + i / simd::kPq4BlockSize * m * 16, m, i % simd::kPq4BlockSize,
              code);
    top.Push(base + pq_->Adc(table.data(), code), lid, static_cast<uint32_t>(i));
  }
}

Result<std::vector<SearchHit>> IvfIndex::Search(std::span<const float> query, size_t k,
                                                const SearchParams& params,
                                                const SearchFilter* filter) const {
  if (query.size() != dim_) return Status::InvalidArgument(DimensionError("query", query.size(), dim_));
  if (k == 0) return Status::InvalidArgument("k must be at least 1");
  if (params.nprobe == 0) return Status::InvalidArgument("nprobe must be at least 1");
  SEXTANT_RETURN_IF_ERROR(CheckFinite(query.data(), dim_, 0).WithContext("query"));
  if (!trained_) return Status::FailedPrecondition("cannot search an untrained index (call Train first)");
  std::vector<SearchHit> hits;
  if (count_ == 0) return hits;

  thread_local std::vector<float> q;
  q.resize(sdim_);
  Prepare(query.data(), q.data());

  // Lists to scan, nearest centroid first.
  thread_local std::vector<std::pair<float, uint32_t>> probes;
  probes.clear();
  if (options_.coarse) {
    const size_t nl = lists_.size();
    for (size_t l = 0; l < nl; ++l) {
      const float* c = centroids_.data() + l * sdim_;
      const float d =
          coarse_ip() ? 1.0f - k_->ip_f32(q.data(), c, sdim_) : k_->l2sq_f32(q.data(), c, sdim_);
      probes.push_back({d, static_cast<uint32_t>(l)});
    }
    const size_t np = std::min(params.nprobe, nl);
    std::partial_sort(probes.begin(), probes.begin() + np, probes.end());
    probes.resize(np);
  } else {
    probes.push_back({0.0f, 0});
  }

  const bool rerank = options_.keep_originals && (params.rerank > 0 || sdim_ < dim_);
  bool exact_codes = true;
  thread_local std::vector<uint8_t> qcode;
  thread_local std::vector<float> qtable;
  if (pq_) {
    qtable.resize(pq_->m() * pq_->ksub());
    QueryTable(q.data(), qtable.data());
  } else {
    qcode.resize(codec_->query_size() + 64);
    exact_codes = codec_->EncodeQuery(q.data(), qcode.data());
  }
  size_t pool = rerank ? std::max(k, params.rerank) : k;
  if (!exact_codes && !rerank) pool = std::max<size_t>(pool, 2 * k + 8);  // rounded u8 query
  TopK top(pool);
  for (const auto& [d, l] : probes) ScanList(l, d, q.data(), qcode.data(), qtable.data(), filter, top);

  std::vector<Candidate>& cands = top.items();
  if (rerank) {
    thread_local std::vector<float> full;
    full.resize(dim_);
    orig_codec_.PrepareExactQuery(query.data(), full.data());
    const size_t osize = orig_codec_.code_size();
    for (Candidate& c : cands) {
      c.distance = orig_codec_.ExactDistance(full.data(), lists_[c.list].originals.data() + size_t{c.offset} * osize);
    }
  } else if (!exact_codes) {
    for (Candidate& c : cands) {
      c.distance = codec_->ExactDistance(q.data(), lists_[c.list].codes.data() + size_t{c.offset} * codec_->code_size());
    }
  }
  auto label = [&](const Candidate& c) { return lists_[c.list].labels[c.offset]; };
  std::sort(cands.begin(), cands.end(), [&](const Candidate& a, const Candidate& b) {
    return a.distance < b.distance || (a.distance == b.distance && label(a) < label(b));
  });
  const size_t take = std::min(k, cands.size());
  hits.reserve(take);
  for (size_t i = 0; i < take; ++i) hits.push_back({label(cands[i]), cands[i].distance});
  return hits;
}

size_t IvfIndex::MemoryUsage() const {
  size_t bytes = sizeof(*this) + centroids_.capacity() * sizeof(float) +
                 precomputed_.capacity() * sizeof(float) + label_map_.MemoryUsage() +
                 lists_.capacity() * sizeof(List);
  if (pq_) bytes += pq_->MemoryUsage();
  if (codec_ && codec_->storage() == StorageType::kSq8) bytes += 3 * sdim_ * sizeof(float);
  for (const List& l : lists_) bytes += l.codes.capacity() + l.labels.capacity() * sizeof(uint64_t);
  return bytes;
}

size_t IvfIndex::RerankMemoryUsage() const {
  size_t bytes = 0;
  for (const List& l : lists_) bytes += l.originals.capacity();
  return bytes;
}

}  // namespace sextant::index
