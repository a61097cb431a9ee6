// RawVectors: the full-precision vectors of one sealed segment whose index is quantized, in an
// immutable file mapped into memory (so it may be larger than RAM; the OS pages it).
//
// File (little-endian): "SXVECS\0\0", u32 version = 1, u32 dim, u64 count, count × u64 label,
// zero padding to a multiple of 64 bytes, count × dim × f32 rows, u32 CRC-32C of every byte
// before it. Written atomically (temp file, fsync, rename).
//
// Thread-safety: immutable after Open; any number of readers.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/mapped_file.h"
#include "index/types.h"
#include "sextant/status.h"

namespace sextant::engine {

class RawVectors {
 public:
  // Writes rows (labels.size() × dim floats, row-major) to `path`.
  // Written atomically through `writer` (nullptr: PosixFileWriter()).
  static Status Write(const std::string& path, size_t dim, std::span<const uint64_t> labels,
                      std::span<const float> rows, FileWriter* writer = nullptr);
  // Maps and verifies a file. Errors: NotFound, IOError, Corruption naming the path.
  static Result<std::unique_ptr<RawVectors>> Open(const std::string& path);

  size_t dim() const { return dim_; }
  size_t size() const { return count_; }
  // The row of `label`, or nullptr.
  const float* Find(uint64_t label) const {
    const uint32_t i = rows_by_label_.Find(label);
    return i == index::LabelMap::kAbsent ? nullptr : rows_ + static_cast<size_t>(i) * dim_;
  }
  uint64_t LabelAt(size_t i) const {
    uint64_t label;
    std::memcpy(&label, labels_ + i * 8, 8);
    return label;
  }
  size_t file_size() const { return file_->size(); }
  size_t MemoryUsage() const { return rows_by_label_.MemoryUsage(); }  // the map; rows are paged

 private:
  RawVectors() = default;
  std::unique_ptr<MappedFile> file_;
  size_t dim_ = 0, count_ = 0;
  const float* rows_ = nullptr;
  const uint8_t* labels_ = nullptr;
  index::LabelMap rows_by_label_;
};

}  // namespace sextant::engine
