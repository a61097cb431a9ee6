#include "index/hnsw_sq8_index.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <random>

#include "common/crc32c.h"
#include "common/mapped_file.h"

namespace sextant::index {
namespace {

constexpr char kRerankMagic[8] = {'S', 'X', 'R', 'R', 'K', 0, 0, 0};
constexpr uint32_t kRerankVersion = 1;
constexpr size_t kMaxTrainRows = 65536;

// Sidecar header: labels (count x uint64) then vectors (count x code_size) follow directly.
struct RerankHeader {
  char magic[8];
  uint32_t version;
  uint32_t storage;
  uint64_t dim;
  uint64_t count;
  uint64_t code_size;
  uint32_t data_crc;    // CRC-32C of labels then vectors
  uint32_t header_crc;  // CRC-32C of every byte above
};

}  // namespace

Result<std::unique_ptr<HnswSq8Index>> HnswSq8Index::Create(size_t dim, const IndexSpec& spec) {
  if (spec.metric == Metric::kL1) return Status::InvalidArgument("hnsw-sq8 supports l2, ip and cosine");
  if (spec.search_dims != 0 && spec.search_dims != dim) {
    return Status::InvalidArgument("hnsw-sq8 does not support --dims (Matryoshka search); use an IVF index");
  }
  if (spec.original_storage != StorageType::kFloat32 && spec.original_storage != StorageType::kUint8) {
    return Status::InvalidArgument("re-rank vectors are stored as f32 or u8");
  }
  if (spec.hnsw_M < 2 || spec.hnsw_M > 512 || spec.ef_construction < 1) {
    return Status::InvalidArgument("M must be in [2, 512] and ef_construction at least 1");
  }
  SEXTANT_ASSIGN_OR_RETURN(VectorCodec orig, VectorCodec::Create(dim, spec.metric, spec.original_storage));
  return std::unique_ptr<HnswSq8Index>(new HnswSq8Index(dim, spec, std::move(orig)));
}

Status HnswSq8Index::Train(std::span<const float> vectors) {
  if (size() > 0) return Status::FailedPrecondition("cannot train an index that holds points");
  if (vectors.size() % dim_ != 0) {
    return Status::InvalidArgument("training data is not whole rows of dimension " + std::to_string(dim_));
  }
  const size_t n = vectors.size() / dim_;
  std::vector<float> sample;
  std::span<const float> use = vectors;
  if (n > kMaxTrainRows) {  // min/max of a large sample; outliers beyond it are clamped
    std::mt19937_64 rng(spec_.kmeans.seed);
    sample.reserve(kMaxTrainRows * dim_);
    for (size_t i = 0; i < kMaxTrainRows; ++i) {
      const size_t r = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
      sample.insert(sample.end(), vectors.data() + r * dim_, vectors.data() + (r + 1) * dim_);
    }
    use = sample;
  }
  HnswOptions opt;
  opt.metric = spec_.metric;
  opt.storage = StorageType::kSq8;
  opt.M = spec_.hnsw_M;
  opt.ef_construction = spec_.ef_construction;
  SEXTANT_RETURN_IF_ERROR(VectorCodec::TrainSq8(use, dim_, spec_.metric, &opt.sq8_lower, &opt.sq8_step));
  SEXTANT_ASSIGN_OR_RETURN(hnsw_, HnswIndex::Create(dim_, opt));
  return Status::OK();
}

Status HnswSq8Index::Add(std::span<const float> vectors, std::span<const uint64_t> labels) {
  if (!hnsw_) return Status::FailedPrecondition("the index is not trained (call Train first)");
  const size_t n = labels.size();
  const size_t osize = orig_codec_.code_size();
  std::vector<uint8_t> codes;
  if (spec_.keep_originals) {
    if (vectors.size() != n * dim_) {
      return Status::InvalidArgument("batch has " + std::to_string(vectors.size()) +
                                     " floats for " + std::to_string(n) + " labels");
    }
    codes.resize(n * osize);
    for (size_t i = 0; i < n; ++i) {
      Status st = orig_codec_.Encode(vectors.data() + i * dim_, codes.data() + i * osize);
      if (!st.ok()) return st.WithContext("row " + std::to_string(i));
    }
  }
  SEXTANT_RETURN_IF_ERROR(hnsw_->AddBatch(vectors, labels, spec_.build_threads));
  if (spec_.keep_originals) {
    originals_.insert(originals_.end(), codes.begin(), codes.end());
    for (size_t i = 0; i < n; ++i) {
      orig_map_.Put(labels[i], static_cast<uint32_t>(orig_labels_.size()));
      orig_labels_.push_back(labels[i]);
    }
  }
  return Status::OK();
}

Result<std::vector<SearchHit>> HnswSq8Index::Search(std::span<const float> query, size_t k,
                                                    const SearchParams& params,
                                                    const SearchFilter* filter) const {
  if (!hnsw_) return Status::FailedPrecondition("cannot search an untrained index (call Train first)");
  const bool rerank = spec_.keep_originals && params.rerank > 0;
  const size_t pool = rerank ? std::max(k, params.rerank) : k;
  SEXTANT_ASSIGN_OR_RETURN(std::vector<SearchHit> hits,
                           hnsw_->Search(query, pool, std::max(params.ef, pool), filter));
  if (!rerank) return hits;
  std::vector<float> q(dim_);
  orig_codec_.PrepareExactQuery(query.data(), q.data());
  const size_t osize = orig_codec_.code_size();
  for (SearchHit& h : hits) {
    const uint32_t row = orig_map_.Find(h.label);
    if (row != LabelMap::kAbsent) h.distance = orig_codec_.ExactDistance(q.data(), originals_.data() + size_t{row} * osize);
  }
  std::sort(hits.begin(), hits.end(), [](const SearchHit& a, const SearchHit& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.label < b.label);
  });
  if (hits.size() > k) hits.resize(k);
  return hits;
}

Status HnswSq8Index::Save(const std::string& path, FileWriter* writer) const {
  if (!hnsw_) return Status::FailedPrecondition("cannot save an untrained index");
  if (writer == nullptr) writer = PosixFileWriter();
  SEXTANT_RETURN_IF_ERROR(hnsw_->Save(path, writer));
  const std::string side = path + ".rerank";
  if (!spec_.keep_originals) {
    std::error_code ec;
    std::filesystem::remove(side, ec);  // a stale sidecar must not be picked up by Load
    return Status::OK();
  }
  RerankHeader h{};
  std::memcpy(h.magic, kRerankMagic, sizeof kRerankMagic);
  h.version = kRerankVersion;
  h.storage = static_cast<uint32_t>(spec_.original_storage);
  h.dim = dim_;
  h.count = orig_labels_.size();
  h.code_size = orig_codec_.code_size();
  h.data_crc = Crc32cExtend(Crc32c(orig_labels_.data(), orig_labels_.size() * sizeof(uint64_t)),
                            originals_.data(), originals_.size());
  h.header_crc = Crc32c(&h, offsetof(RerankHeader, header_crc));
  return writer->WriteFilePieces(side, {{&h, sizeof h},
                                    {orig_labels_.data(), orig_labels_.size() * sizeof(uint64_t)},
                                    {originals_.data(), originals_.size()}});
}

Result<std::unique_ptr<HnswSq8Index>> HnswSq8Index::Load(const std::string& path, bool verify_checksums) {
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<HnswIndex> hnsw, HnswIndex::Load(path, verify_checksums));
  return FromGraph(std::move(hnsw), path, verify_checksums);
}

Result<std::unique_ptr<HnswSq8Index>> HnswSq8Index::FromGraph(std::unique_ptr<HnswIndex> hnsw,
                                                              const std::string& path, bool verify_checksums) {
  if (hnsw->options().storage != StorageType::kSq8) {
    return Status::InvalidArgument(path + ": an HNSW index with " +
                                   StorageTypeName(hnsw->options().storage) +
                                   " storage, not hnsw-sq8");
  }
  IndexSpec spec;
  spec.type = "hnsw-sq8";
  spec.metric = hnsw->options().metric;
  spec.hnsw_M = hnsw->options().M;
  spec.ef_construction = hnsw->options().ef_construction;
  const std::string side = path + ".rerank";
  std::unique_ptr<MappedFile> file;
  if (std::filesystem::exists(side)) {
    SEXTANT_ASSIGN_OR_RETURN(file, MappedFile::Open(side));
    RerankHeader h;
    auto corrupt = [&](const std::string& why) { return Status::Corruption(side + ": " + why); };
    if (file->size() < sizeof h) return corrupt("too short");
    std::memcpy(&h, file->data(), sizeof h);
    if (std::memcmp(h.magic, kRerankMagic, sizeof kRerankMagic) != 0) return corrupt("not a re-rank file");
    if (h.version != kRerankVersion) {
      return Status::InvalidArgument(side + ": re-rank file version " + std::to_string(h.version) +
                                     " is not supported");
    }
    if (verify_checksums && Crc32c(&h, offsetof(RerankHeader, header_crc)) != h.header_crc) {
      return corrupt("header checksum mismatch");
    }
    if (h.dim != hnsw->dim() || (h.storage != 0 && h.storage != 2) || h.count != hnsw->size() ||
        file->size() != sizeof h + h.count * (8 + h.code_size)) {
      return corrupt("inconsistent header");
    }
    if (verify_checksums && Crc32c(file->data() + sizeof h, file->size() - sizeof h) != h.data_crc) {
      return corrupt("checksum mismatch");
    }
    spec.keep_originals = true;
    spec.original_storage = static_cast<StorageType>(h.storage);
  }
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<HnswSq8Index> ix, Create(hnsw->dim(), spec));
  if (file) {
    const size_t count = hnsw->size();
    if (ix->orig_codec_.code_size() * count + count * 8 + sizeof(RerankHeader) != file->size()) {
      return Status::Corruption(side + ": inconsistent sizes");
    }
    ix->orig_labels_.resize(count);
    if (count > 0) std::memcpy(ix->orig_labels_.data(), file->data() + sizeof(RerankHeader), count * 8);
    const uint8_t* v = file->data() + sizeof(RerankHeader) + count * 8;
    ix->originals_.assign(v, v + count * ix->orig_codec_.code_size());
    for (size_t r = 0; r < count; ++r) {
      if (!hnsw->Contains(ix->orig_labels_[r]) || ix->orig_map_.Find(ix->orig_labels_[r]) != LabelMap::kAbsent) {
        return Status::Corruption(side + ": labels disagree with the index");
      }
      ix->orig_map_.Put(ix->orig_labels_[r], static_cast<uint32_t>(r));
    }
  }
  ix->hnsw_ = std::move(hnsw);
  return ix;
}

}  // namespace sextant::index
