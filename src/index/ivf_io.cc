// Save/Load for IvfIndex.
//
// File layout (little-endian): a fixed header, then sections each starting at a multiple of 64
// with zero padding between them: centroids (nlist x search_dims floats), PQ codebooks, SQ8
// parameters (lower then step), list sizes (one uint64 per list), codes (the lists' codes one
// after another), labels (uint64, list order), originals (re-rank vectors, list order). The
// header holds each section's offset, size and CRC-32C and ends with the CRC-32C of itself;
// Load checks all of them, the padding, and that nothing follows the last section.
#include <algorithm>
#include <bit>
#include <cstring>

#include "common/crc32c.h"
#include "common/mapped_file.h"
#include "index/ivf_index.h"
#include "index/section_file.h"

namespace sextant::index {
namespace {

static_assert(std::endian::native == std::endian::little, "the index format is little-endian");

constexpr char kMagic[8] = {'S', 'X', 'I', 'V', 'F', 0, 0, 0};
constexpr uint32_t kVersion = 1;

enum SectionId { kCentroids, kCodebooks, kSq8, kListSizes, kCodes, kLabels, kOriginals, kNumSections };
const char* const kSectionNames[kNumSections] = {"centroids", "codebooks", "sq8",      "list_sizes",
                                                 "codes",     "labels",    "originals"};

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint32_t metric;
  uint32_t codes;
  uint32_t flat_storage;
  uint32_t original_storage;
  uint32_t dim;
  uint32_t search_dims;
  uint32_t coarse;
  uint32_t nlist;
  uint32_t pq_m;
  uint32_t pq_nbits;
  uint32_t keep_originals;
  uint32_t trained;
  uint64_t count;
  FileSection sections[kNumSections];
  uint32_t reserved;
  uint32_t header_crc;  // CRC-32C of every byte above
};
static_assert(sizeof(FileHeader) % 8 == 0);

}  // namespace

Status IvfIndex::Save(const std::string& path, FileWriter* writer) const {
  std::vector<uint64_t> list_sizes;
  for (const List& l : lists_) list_sizes.push_back(l.labels.size());
  std::vector<float> sq8;
  if (codec_ && codec_->storage() == StorageType::kSq8) {
    sq8 = codec_->sq8_lower();
    sq8.insert(sq8.end(), codec_->sq8_step().begin(), codec_->sq8_step().end());
  }
  // Each section is one or more pieces.
  std::vector<SectionPieces> sec(kNumSections);
  auto add = [&](int s, const void* p, size_t n) {
    if (n > 0) sec[s].push_back({p, n});
  };
  add(kCentroids, centroids_.data(), centroids_.size() * sizeof(float));
  if (pq_) add(kCodebooks, pq_->codebooks().data(), pq_->codebooks().size() * sizeof(float));
  add(kSq8, sq8.data(), sq8.size() * sizeof(float));
  add(kListSizes, list_sizes.data(), list_sizes.size() * sizeof(uint64_t));
  for (const List& l : lists_) {
    add(kCodes, l.codes.data(), l.codes.size());
    add(kLabels, l.labels.data(), l.labels.size() * sizeof(uint64_t));
    add(kOriginals, l.originals.data(), l.originals.size());
  }
  FileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.header_size = sizeof(FileHeader);
  h.metric = static_cast<uint32_t>(options_.metric);
  h.codes = static_cast<uint32_t>(options_.codes);
  h.flat_storage = static_cast<uint32_t>(options_.flat_storage);
  h.original_storage = static_cast<uint32_t>(options_.original_storage);
  h.dim = static_cast<uint32_t>(dim_);
  h.search_dims = static_cast<uint32_t>(sdim_);
  h.coarse = options_.coarse ? 1 : 0;
  h.nlist = static_cast<uint32_t>(lists_.size());
  h.pq_m = static_cast<uint32_t>(options_.pq_m);
  h.pq_nbits = static_cast<uint32_t>(options_.pq_nbits);
  h.keep_originals = options_.keep_originals ? 1 : 0;
  h.trained = trained_ ? 1 : 0;
  h.count = count_;
  const std::vector<FilePiece> pieces = LayOutSections(&h, sizeof h, sec, h.sections);
  h.header_crc = Crc32c(&h, offsetof(FileHeader, header_crc));
  return (writer != nullptr ? writer : PosixFileWriter())->WriteFilePieces(path, pieces);
}

Result<std::unique_ptr<IvfIndex>> IvfIndex::Load(const std::string& path, bool verify_checksums) {
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  auto corrupt = [&](const std::string& why) { return Status::Corruption(path + ": " + why); };
  if (file->size() < sizeof(FileHeader)) return corrupt("too short to be an IVF index file");
  FileHeader h;
  std::memcpy(&h, file->data(), sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) return corrupt("not an IVF index file");
  if (h.version != kVersion) {
    return Status::InvalidArgument(path + ": index format version " + std::to_string(h.version) +
                                   " is not supported (this build reads version " +
                                   std::to_string(kVersion) + ")");
  }
  if (h.header_size != sizeof h) return corrupt("unexpected header size");
  if (verify_checksums && Crc32c(&h, offsetof(FileHeader, header_crc)) != h.header_crc) {
    return corrupt("header checksum mismatch");
  }
  if (h.metric > 3 || h.codes > 2 || h.flat_storage > 3 || h.original_storage > 3 ||
      h.coarse > 1 || h.keep_originals > 1 || h.trained > 1 || h.nlist == 0) {
    return corrupt("bad header field");
  }
  IvfOptions opt;
  opt.metric = static_cast<Metric>(h.metric);
  opt.codes = static_cast<CodeKind>(h.codes);
  opt.flat_storage = static_cast<StorageType>(h.flat_storage);
  opt.original_storage = static_cast<StorageType>(h.original_storage);
  opt.coarse = h.coarse == 1;
  opt.nlist = h.nlist;
  opt.pq_m = h.pq_m;
  opt.pq_nbits = h.pq_nbits;
  opt.keep_originals = h.keep_originals == 1;
  opt.search_dims = h.search_dims == h.dim ? 0 : h.search_dims;
  if (!opt.coarse && h.nlist != 1) return corrupt("bad header field");
  auto created = Create(h.dim, opt);
  if (!created.ok()) return Status::Corruption(path + ": " + created.status().message());
  std::unique_ptr<IvfIndex> ix = std::move(created).value();

  const uint8_t* base = file->data();
  if (Status st = CheckSections({base, file->size()}, sizeof(FileHeader), h.sections, kSectionNames,
                                verify_checksums);
      !st.ok()) {
    return corrupt(st.message());
  }
  auto floats = [&](int s) {
    std::vector<float> v(h.sections[s].size / sizeof(float));
    // std::copy_n, not memcpy: the section may be empty (memcpy from null is undefined).
    std::copy_n(reinterpret_cast<const float*>(base + h.sections[s].offset), v.size(), v.begin());
    return v;
  };
  auto size_is = [&](int s, size_t want) -> Status {
    if (h.sections[s].size != want) {
      return corrupt(std::string("section '") + kSectionNames[s] + "' has " +
                     std::to_string(h.sections[s].size) + " bytes, expected " + std::to_string(want));
    }
    return Status::OK();
  };
  const size_t sdim = ix->sdim_;
  const bool trained = h.trained == 1;
  SEXTANT_RETURN_IF_ERROR(size_is(kCentroids, trained && opt.coarse ? opt.nlist * sdim * sizeof(float) : 0));
  const size_t books = ix->pq_ ? ix->pq_->m() * ix->pq_->ksub() * ix->pq_->dsub() : 0;
  SEXTANT_RETURN_IF_ERROR(size_is(kCodebooks, trained ? books * sizeof(float) : 0));
  const bool sq8 = opt.codes == CodeKind::kSq8;
  SEXTANT_RETURN_IF_ERROR(size_is(kSq8, trained && sq8 ? 2 * sdim * sizeof(float) : 0));
  SEXTANT_RETURN_IF_ERROR(size_is(kListSizes, ix->lists_.size() * sizeof(uint64_t)));
  if (!trained && h.count != 0) return corrupt("an untrained index holds points");

  ix->centroids_ = floats(kCentroids);
  if (trained && ix->pq_) SEXTANT_RETURN_IF_ERROR(ix->pq_->SetCodebooks(floats(kCodebooks)));
  if (trained && sq8) {
    std::vector<float> p = floats(kSq8);
    std::vector<float> lower(p.begin(), p.begin() + sdim), step(p.begin() + sdim, p.end());
    const Metric inner = ix->ip() ? Metric::kInnerProduct : Metric::kL2;
    auto c = VectorCodec::CreateSq8(sdim, inner, std::move(lower), std::move(step));
    if (!c.ok()) return corrupt(c.status().message());
    ix->codec_.emplace(std::move(c).value());
  }
  std::vector<uint64_t> sizes(ix->lists_.size());
  std::copy_n(reinterpret_cast<const uint64_t*>(base + h.sections[kListSizes].offset), sizes.size(),
              sizes.begin());
  uint64_t total = 0, code_bytes = 0;
  for (uint64_t s : sizes) {
    if (s > h.count) return corrupt("list sizes disagree with the point count");
    total += s;
    code_bytes += ix->ListCodeBytes(s);
  }
  if (total != h.count) return corrupt("list sizes disagree with the point count");
  const size_t osize = opt.keep_originals ? ix->orig_codec_.code_size() : 0;
  SEXTANT_RETURN_IF_ERROR(size_is(kCodes, code_bytes));
  SEXTANT_RETURN_IF_ERROR(size_is(kLabels, total * sizeof(uint64_t)));
  SEXTANT_RETURN_IF_ERROR(size_is(kOriginals, total * osize));

  const uint8_t* codes = base + h.sections[kCodes].offset;
  const uint8_t* labels = base + h.sections[kLabels].offset;
  const uint8_t* originals = base + h.sections[kOriginals].offset;
  ix->label_map_.Reserve(total);
  for (size_t l = 0; l < sizes.size(); ++l) {
    List& list = ix->lists_[l];
    const size_t n = sizes[l], cb = ix->ListCodeBytes(n);
    list.codes.assign(codes, codes + cb);
    codes += cb;
    list.labels.resize(n);
    if (n > 0) std::memcpy(list.labels.data(), labels, n * sizeof(uint64_t));
    labels += n * sizeof(uint64_t);
    list.originals.assign(originals, originals + n * osize);
    originals += n * osize;
    for (uint64_t label : list.labels) {
      if (ix->label_map_.Find(label) != LabelMap::kAbsent) {
        return corrupt("label " + std::to_string(label) + " appears twice");
      }
      ix->label_map_.Put(label, static_cast<uint32_t>(l));
    }
  }
  ix->count_ = total;
  ix->trained_ = trained || ix->trained_;
  if (trained) ix->BuildPrecomputed();
  return ix;
}

}  // namespace sextant::index
