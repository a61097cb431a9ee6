// Save/Load for HnswIndex. The format is described in docs/formats/hnsw.md.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "common/crc32c.h"
#include "index/hnsw_index.h"
#include "index/section_file.h"

namespace sextant::index {
namespace {

static_assert(std::endian::native == std::endian::little, "the index format is little-endian");

constexpr char kMagic[8] = {'S', 'X', 'H', 'N', 'S', 'W', 0, 0};
// Version 2 added the "sq8" section (SQ8 parameters: lower then step floats; empty for other
// storage types), version 3 the "exact" section (sq8-f32 storage: each slot's float32 vector;
// empty for other storage types), version 4 the sections of ExactStore ("exact_rows",
// "escape_start", "escapes": sq8-f32's exact vectors in three bytes per value; "exact" is then
// empty). Older files (a header 24 bytes shorter per missing section) still load; a version 3
// sq8-f32 file's float vectors are converted into an ExactStore on load. Version 5 added the
// screen of f32 indexes ("screen": how many points its centre was computed from, then the
// centre; "screen_rows": every slot's row), which older files leave to Load to rebuild.
constexpr uint32_t kVersion = 5;
constexpr uint32_t kOldestVersion = 1;

enum SectionId {
  kCodes, kLinks0, kLevels, kLabels, kLive, kUpper, kFree, kSq8, kExact,
  kExactRows, kEscapeStart, kEscapes, kScreen, kScreenRows, kNumSections
};
const char* const kSectionNames[kNumSections] = {
    "codes", "links0", "levels",     "labels",       "live",    "upper",  "free",
    "sq8",   "exact",  "exact_rows", "escape_start", "escapes", "screen", "screen_rows"};

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint32_t metric;
  uint32_t storage;
  uint32_t dim;
  uint32_t m;
  uint32_t ef_construction;
  int32_t max_level;
  uint32_t entry_point;
  uint32_t stride;
  uint64_t seed;
  uint64_t slot_count;
  uint64_t live_count;
  FileSection sections[kNumSections];
  uint32_t reserved;
  uint32_t header_crc;  // CRC-32C of every byte above
};
static_assert(sizeof(FileHeader) % 8 == 0);
// Sections and header size of each version (1: 7 sections, 2: 8, 3: 9, 4: 12, 5: 14).
size_t SectionsOf(uint32_t version) { return version <= 3 ? 6 + version : version == 4 ? 12 : 14; }
size_t HeaderSizeOf(uint32_t version) {
  return sizeof(FileHeader) - (kNumSections - SectionsOf(version)) * sizeof(FileSection);
}

}  // namespace

Status HnswIndex::Save(const std::string& path, FileWriter* writer) const {
  const size_t n = slot_count_;
  std::vector<uint32_t> upper;
  for (size_t i = 0; i < n; ++i) {
    if (live_[i] && levels_[i] > 0) {
      const uint32_t* p = upper_[i].get();
      upper.insert(upper.end(), p, p + static_cast<size_t>(levels_[i]) * (options_.M + 1));
    }
  }
  std::vector<float> sq8;
  if (options_.storage == StorageType::kSq8 || two_tier()) {
    sq8 = codec_.sq8_lower();
    sq8.insert(sq8.end(), codec_.sq8_step().begin(), codec_.sq8_step().end());
  }
  const bool tt = two_tier();
  // The screen, once it has a centre: the points the centre was computed from, the centre.
  const bool screened = screen_ && screen_rows_ > 0;
  std::vector<uint8_t> screen_head;
  if (screened) {
    const uint64_t rows = screen_rows_;
    screen_head.resize(sizeof rows + dim() * sizeof(float));
    std::memcpy(screen_head.data(), &rows, sizeof rows);
    std::memcpy(screen_head.data() + sizeof rows, screen_->centre().data(), dim() * sizeof(float));
  }
  const void* data[kNumSections] = {codes_,       links0_,      levels_.data(),
                                    labels_.data(), live_.data(), upper.data(),
                                    free_slots_.data(), sq8.data(), nullptr,
                                    tt ? exact_->rows() : nullptr,
                                    tt ? exact_->escape_start().data() : nullptr,
                                    tt ? exact_->escapes().data() : nullptr,
                                    screen_head.data(),
                                    screened ? screen_->row(0) : nullptr};
  const size_t sizes[kNumSections] = {n * stride_,
                                      n * (m0_ + 1) * sizeof(uint32_t),
                                      n,
                                      n * sizeof(uint64_t),
                                      n,
                                      upper.size() * sizeof(uint32_t),
                                      free_slots_.size() * sizeof(uint32_t),
                                      sq8.size() * sizeof(float),
                                      0,
                                      tt ? n * exact_->row_bytes() : 0,
                                      tt ? n * sizeof(uint32_t) : 0,
                                      tt ? exact_->escapes().size() * sizeof(uint32_t) : 0,
                                      screen_head.size(),
                                      screened ? n * screen_->row_bytes() : 0};
  FileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.header_size = sizeof(FileHeader);
  h.metric = static_cast<uint32_t>(options_.metric);
  h.storage = static_cast<uint32_t>(options_.storage);
  h.dim = static_cast<uint32_t>(dim());
  h.m = static_cast<uint32_t>(options_.M);
  h.ef_construction = static_cast<uint32_t>(options_.ef_construction);
  h.max_level = max_level_;
  h.entry_point = entry_point_;
  h.stride = static_cast<uint32_t>(stride_);
  h.seed = options_.seed;
  h.slot_count = n;
  h.live_count = live_count_;
  std::vector<SectionPieces> sections(kNumSections);
  for (int s = 0; s < kNumSections; ++s) sections[s].push_back({data[s], sizes[s]});
  const std::vector<FilePiece> pieces = LayOutSections(&h, sizeof h, sections, h.sections);
  h.header_crc = Crc32c(&h, offsetof(FileHeader, header_crc));
  return (writer != nullptr ? writer : PosixFileWriter())->WriteFilePieces(path, pieces);
}

Result<std::unique_ptr<HnswIndex>> HnswIndex::Load(const std::string& path,
                                                   bool verify_checksums) {
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  auto corrupt = [&](const std::string& why) {
    return Status::Corruption(path + ": " + why);
  };
  if (file->size() < HeaderSizeOf(1)) return corrupt("too short to be an HNSW index file");
  FileHeader h{};
  std::memcpy(&h, file->data(), offsetof(FileHeader, sections));
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) return corrupt("not an HNSW index file");
  if (h.version < kOldestVersion || h.version > kVersion) {
    return Status::InvalidArgument(path + ": index format version " + std::to_string(h.version) +
                                   " is not supported (this build reads versions " +
                                   std::to_string(kOldestVersion) + " to " +
                                   std::to_string(kVersion) + ")");
  }
  const size_t num_sections = SectionsOf(h.version);
  const size_t header_size = HeaderSizeOf(h.version);
  if (file->size() < header_size) return corrupt("too short to be an HNSW index file");
  if (h.header_size != header_size) return corrupt("unexpected header size");
  // An older header lacks the last section entries; those sections are then empty.
  std::memcpy(&h.sections, file->data() + offsetof(FileHeader, sections),
              num_sections * sizeof(FileSection));
  std::memcpy(&h.reserved, file->data() + header_size - 8, 8);
  if (Crc32c(file->data(), header_size - 4) != h.header_crc) {
    return corrupt("header checksum mismatch");
  }
  if (h.metric > 3 || h.storage > 4) return corrupt("unknown metric or storage type");
  HnswOptions opt;
  opt.metric = static_cast<Metric>(h.metric);
  opt.storage = static_cast<StorageType>(h.storage);
  opt.M = h.m;
  opt.ef_construction = h.ef_construction;
  opt.seed = h.seed;
  const bool two_tier = opt.storage == StorageType::kSq8F32;
  if (two_tier && num_sections <= kExact) return corrupt("sq8-f32 storage without an 'exact' section");
  const bool exact_f32 = two_tier && h.version == 3;  // converted into an ExactStore below
  if (opt.storage == StorageType::kSq8 || two_tier) {
    const FileSection& sec = h.sections[kSq8];
    if (num_sections <= kSq8 || sec.size != 2 * size_t{h.dim} * sizeof(float) ||
        sec.offset > file->size() || sec.size > file->size() - sec.offset) {
      return corrupt("section 'sq8' is out of bounds");
    }
    const float* p = reinterpret_cast<const float*>(file->data() + sec.offset);
    opt.sq8_lower.assign(p, p + h.dim);
    opt.sq8_step.assign(p + h.dim, p + 2 * size_t{h.dim});
  }
  auto created = Create(h.dim, opt);
  if (!created.ok()) return created.status().WithContext(path);
  std::unique_ptr<HnswIndex> ix = std::move(created).value();
  const size_t n = h.slot_count;
  // Files written before SQ8 codes were packed (8-byte stride) keep their 32-byte stride.
  if (h.stride < ix->codec_.code_size() || h.stride % 8 != 0 || h.stride > ix->stride_ + 32 ||
      n > kMaxSlots || h.live_count > n) {
    return corrupt("inconsistent header");
  }
  ix->stride_ = h.stride;
  const size_t expect[kNumSections] = {n * ix->stride_, n * (ix->m0_ + 1) * sizeof(uint32_t),
                                       n, n * sizeof(uint64_t), n, SIZE_MAX, SIZE_MAX,
                                       opt.storage == StorageType::kSq8 || two_tier ? 2 * size_t{h.dim} * 4 : 0,
                                       exact_f32 ? n * h.dim * sizeof(float) : 0,
                                       two_tier ? n * 3 * size_t{h.dim} : 0,
                                       two_tier ? n * sizeof(uint32_t) : 0,
                                       two_tier ? SIZE_MAX : 0,
                                       SIZE_MAX, SIZE_MAX};  // (the screen's: below)
  const uint8_t* base = file->data();
  for (size_t s = 0; s < num_sections; ++s) {  // sizes this header implies
    const FileSection& sec = h.sections[s];
    if ((expect[s] != SIZE_MAX && sec.size != expect[s]) ||
        sec.size % (s == kUpper || s == kFree || s == kEscapes ? 4 : 1) != 0) {
      return corrupt(std::string("section '") + kSectionNames[s] + "' has the wrong size");
    }
  }
  // The screen's sections: both empty, or the centre and a row per slot of an index that has
  // a screen (what Create gives for these options).
  const bool stored_screen = num_sections > kScreen && h.sections[kScreen].size > 0;
  if (num_sections > kScreen) {
    const size_t head = sizeof(uint64_t) + size_t{h.dim} * sizeof(float);
    const size_t rows = stored_screen && ix->screen_ ? n * ix->screen_->row_bytes() : 0;
    if ((stored_screen && (!ix->screen_ || h.sections[kScreen].size != head)) ||
        h.sections[kScreenRows].size != rows) {
      return corrupt("sections 'screen' and 'screen_rows' have the wrong sizes");
    }
  }
  // Bounds, order, zero padding, checksums, nothing after the last section: every byte of the
  // file is covered by a check.
  if (Status st = CheckSections({base, file->size()}, header_size, {h.sections, num_sections},
                                {kSectionNames, num_sections}, verify_checksums);
      !st.ok()) {
    return corrupt(st.message());
  }
  auto section = [&](int s) { return base + h.sections[s].offset; };

  ix->capacity_ = n;
  ix->slot_count_ = n;
  ix->live_count_ = h.live_count;
  ix->codes_ = const_cast<uint8_t*>(section(kCodes));
  ix->links0_ = reinterpret_cast<uint32_t*>(const_cast<uint8_t*>(section(kLinks0)));
  if (two_tier) ix->trained_rows_ = h.live_count;  // parameters as saved; relearned only if it doubles
  ix->ordered_rows_ = h.live_count;  // in its saved order; reordered only if it doubles
  ix->levels_.assign(section(kLevels), section(kLevels) + n);
  ix->live_.assign(section(kLive), section(kLive) + n);
  for (uint8_t live : ix->live_) {
    if (live > 1) return corrupt("bad slot flags");
  }
  if (exact_f32) {  // version 3: float vectors, encoded into an ExactStore (owned memory)
    if (!ix->exact_->Reserve(std::max<size_t>(n, 1))) return Status::ResourceExhausted("out of memory loading " + path);
    const float* exact = reinterpret_cast<const float*>(section(kExact));
    std::vector<uint8_t> row(ix->exact_->row_bytes());
    std::vector<uint32_t> escaped(h.dim);
    for (size_t i = 0; i < n; ++i) {
      if (!ix->live_[i]) continue;
      const size_t escapes = ExactStore::EncodeRow(ix->codec_, section(kCodes) + i * ix->stride_,
                                                   exact + i * h.dim, row.data(), escaped.data());
      ix->exact_->Put(static_cast<uint32_t>(i), row.data(), {escaped.data(), escapes});
    }
  } else if (two_tier) {  // version 4: rows used in place, escape tables copied
    const auto* start = reinterpret_cast<const uint32_t*>(section(kEscapeStart));
    const auto* escapes = reinterpret_cast<const uint32_t*>(section(kEscapes));
    if (Status st = ix->exact_->Adopt(section(kExactRows), n, std::vector<uint32_t>(start, start + n),
                                      std::vector<uint32_t>(escapes, escapes + h.sections[kEscapes].size / 4),
                                      ix->live_);
        !st.ok()) {
      return corrupt(st.message());
    }
  }
  ix->labels_.resize(n);
  // std::copy, not memcpy: these may be empty (memcpy on a null pointer is undefined).
  std::copy_n(reinterpret_cast<const uint64_t*>(section(kLabels)), n, ix->labels_.begin());
  ix->free_slots_.resize(h.sections[kFree].size / 4);
  std::copy_n(reinterpret_cast<const uint32_t*>(section(kFree)), ix->free_slots_.size(),
              ix->free_slots_.begin());
  ix->upper_.resize(n);
  ix->label_map_.Reserve(n);

  // Structural checks: a corrupt file must be reported, never walked into.
  const uint32_t* upper = reinterpret_cast<const uint32_t*>(section(kUpper));
  const size_t upper_words = h.sections[kUpper].size / 4;
  size_t pos = 0, live = 0;
  const size_t per_level = opt.M + 1;
  for (size_t i = 0; i < n; ++i) {
    if (ix->live_[i] > 1 || ix->levels_[i] > 32) return corrupt("bad slot flags");
    if (!ix->live_[i]) continue;
    ++live;
    if (ix->label_map_.Find(ix->labels_[i]) != LabelMap::kAbsent) {
      return corrupt("label " + std::to_string(ix->labels_[i]) + " appears twice");
    }
    ix->label_map_.Put(ix->labels_[i], static_cast<uint32_t>(i));
    const size_t lv = ix->levels_[i];
    if (lv > 0) {
      if (pos + lv * per_level > upper_words) return corrupt("upper-level links truncated");
      ix->upper_[i].reset(new uint32_t[lv * per_level]);
      std::memcpy(ix->upper_[i].get(), upper + pos, lv * per_level * sizeof(uint32_t));
      pos += lv * per_level;
    }
  }
  if (pos != upper_words || live != h.live_count) return corrupt("slot counts disagree");
  std::vector<uint8_t> listed(n, 0);
  for (uint32_t f : ix->free_slots_) {
    if (f >= n || ix->live_[f] || listed[f]) {
      return corrupt("free list names a live, missing or repeated slot");
    }
    listed[f] = 1;
  }
  if (live > 0) {
    if (h.entry_point >= n || h.max_level < 0 || h.max_level > 32) return corrupt("bad entry point");
    ix->entry_point_ = h.entry_point;
    ix->max_level_ = h.max_level;
  }
  // The graph itself: link counts and targets, entry point (the same checks tests use).
  if (Status st = ix->CheckIntegrity(); !st.ok()) return corrupt(st.message());
  if (stored_screen) {  // version 5: copied (owned memory), not computed again from the vectors
    const uint8_t* head = section(kScreen);
    uint64_t rows;
    std::memcpy(&rows, head, sizeof rows);
    std::vector<float> centre(h.dim);
    std::memcpy(centre.data(), head + sizeof rows, centre.size() * sizeof(float));
    for (float c : centre) {
      if (!std::isfinite(c)) return corrupt("the screen's centre is not finite");
    }
    if (!ix->screen_->Reserve(std::max<size_t>(n, 1))) {
      return Status::ResourceExhausted("out of memory loading the screen of " + path);
    }
    ix->screen_->SetCentre(centre);
    ix->screen_->CopyRows(section(kScreenRows), n);
    ix->screen_rows_ = rows;
  } else {
    SEXTANT_RETURN_IF_ERROR(ix->RebuildScreen());
  }
  ix->mapped_ = std::move(file);
  return ix;
}

}  // namespace sextant::index
