#include "engine/raw_vectors.h"

#include <cstring>

#include "common/crc32c.h"

namespace sextant::engine {
namespace {

constexpr char kMagic[8] = {'S', 'X', 'V', 'E', 'C', 'S', 0, 0};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeader = 8 + 4 + 4 + 8;

size_t RowsOffset(size_t count) { return (kHeader + count * 8 + 63) / 64 * 64; }

}  // namespace

Status RawVectors::Write(const std::string& path, size_t dim, std::span<const uint64_t> labels,
                         std::span<const float> rows, FileWriter* writer) {
  if (rows.size() != labels.size() * dim) {
    return Status::Internal("raw vectors: " + std::to_string(rows.size()) + " floats for " +
                            std::to_string(labels.size()) + " rows of dimension " + std::to_string(dim));
  }
  std::string head(kMagic, sizeof kMagic);
  const uint32_t version = kVersion, d = static_cast<uint32_t>(dim);
  const uint64_t count = labels.size();
  head.append(reinterpret_cast<const char*>(&version), 4);
  head.append(reinterpret_cast<const char*>(&d), 4);
  head.append(reinterpret_cast<const char*>(&count), 8);
  head.append(reinterpret_cast<const char*>(labels.data()), labels.size() * 8);
  head.resize(RowsOffset(count), '\0');
  uint32_t crc = Crc32c(head.data(), head.size());
  crc = Crc32cExtend(crc, reinterpret_cast<const char*>(rows.data()), rows.size() * sizeof(float));
  return (writer != nullptr ? writer : PosixFileWriter())->WriteFilePieces(path, {{head.data(), head.size()},
                                    {rows.data(), rows.size() * sizeof(float)},
                                    {&crc, sizeof crc}});
}

Result<std::unique_ptr<RawVectors>> RawVectors::Open(const std::string& path) {
  auto bad = [&](const std::string& why) { return Status::Corruption(path + ": " + why); };
  std::unique_ptr<RawVectors> r(new RawVectors());
  SEXTANT_ASSIGN_OR_RETURN(r->file_, MappedFile::Open(path));
  const uint8_t* p = r->file_->data();
  const size_t size = r->file_->size();
  if (size < kHeader + 4 || std::memcmp(p, kMagic, sizeof kMagic) != 0) return bad("not a vectors file");
  uint32_t version, dim;
  uint64_t count;
  std::memcpy(&version, p + 8, 4);
  std::memcpy(&dim, p + 12, 4);
  std::memcpy(&count, p + 16, 8);
  if (version != kVersion) return bad("vectors file version " + std::to_string(version) + " is not supported");
  if (dim == 0 || count > size / 8 || RowsOffset(count) + count * dim * 4 + 4 != size) {
    return bad("vectors file size does not match its header");
  }
  uint32_t stored;
  std::memcpy(&stored, p + size - 4, 4);
  if (Crc32c(reinterpret_cast<const char*>(p), size - 4) != stored) return bad("checksum mismatch");
  r->dim_ = dim;
  r->count_ = count;
  r->rows_ = reinterpret_cast<const float*>(p + RowsOffset(count));
  r->labels_ = p + kHeader;
  r->rows_by_label_.Reserve(count);
  for (size_t i = 0; i < count; ++i) {
    uint64_t label;
    std::memcpy(&label, p + kHeader + i * 8, 8);
    if (r->rows_by_label_.Find(label) != index::LabelMap::kAbsent) return bad("label appears twice");
    r->rows_by_label_.Put(label, static_cast<uint32_t>(i));
  }
  return r;
}

}  // namespace sextant::engine
