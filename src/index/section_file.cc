#include "index/section_file.h"

#include <string>

#include "common/crc32c.h"

namespace sextant::index {
namespace {

size_t AlignUp(size_t x) { return (x + kSectionAlign - 1) / kSectionAlign * kSectionAlign; }

}  // namespace

std::vector<FilePiece> LayOutSections(const void* header, size_t header_size,
                                      std::span<const SectionPieces> sections,
                                      std::span<FileSection> table) {
  static const uint8_t kZeros[kSectionAlign] = {};
  std::vector<FilePiece> pieces{{header, header_size}};
  size_t offset = header_size;
  for (size_t s = 0; s < sections.size(); ++s) {
    const size_t aligned = AlignUp(offset);
    if (aligned > offset) pieces.push_back({kZeros, aligned - offset});
    offset = aligned;
    uint32_t crc = 0;
    size_t size = 0;
    for (const FilePiece& p : sections[s]) {
      if (p.size == 0) continue;
      crc = Crc32cExtend(crc, p.data, p.size);
      size += p.size;
      pieces.push_back(p);
    }
    table[s] = {offset, size, crc, 0};
    offset += size;
  }
  return pieces;
}

Status CheckSections(std::span<const uint8_t> file, size_t header_size,
                     std::span<const FileSection> table, std::span<const char* const> names,
                     bool verify_checksums) {
  const uint8_t* base = file.data();
  size_t end = header_size;
  for (size_t s = 0; s < table.size(); ++s) {
    const FileSection& sec = table[s];
    if (sec.offset % kSectionAlign != 0 || sec.offset > file.size() ||
        sec.size > file.size() - sec.offset) {
      return Status::Corruption(std::string("section '") + names[s] + "' is out of bounds");
    }
    if (sec.offset < end) return Status::Corruption("sections overlap");
    for (size_t i = end; i < sec.offset; ++i) {
      if (base[i] != 0) return Status::Corruption("non-zero padding at byte " + std::to_string(i));
    }
    if (verify_checksums && Crc32c(base + sec.offset, sec.size) != sec.crc) {
      return Status::Corruption(std::string("checksum mismatch in section '") + names[s] + "'");
    }
    end = sec.offset + sec.size;
  }
  if (end != file.size()) return Status::Corruption("unexpected bytes after the last section");
  return Status::OK();
}

}  // namespace sextant::index
