// Index files made of a fixed header and sections (HNSW and IVF files): each section starts
// at a multiple of 64 bytes, zero padding between them, and the header's table gives each
// section's offset, size and CRC-32C. LayOutSections places the sections when saving;
// CheckSections verifies a loaded file's table so that every byte is covered by a check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/mapped_file.h"
#include "sextant/status.h"

namespace sextant::index {

// One entry of a header's section table, as stored (little-endian, 24 bytes).
struct FileSection {
  uint64_t offset;
  uint64_t size;
  uint32_t crc;  // CRC-32C of the section's bytes
  uint32_t reserved;
};
static_assert(sizeof(FileSection) == 24);

inline constexpr size_t kSectionAlign = 64;

// A section's content, in one or more pieces written one after the other.
using SectionPieces = std::vector<FilePiece>;

// Places `sections` after a header of `header_size` bytes at `header`: fills `table` (one entry
// per section) and returns the file's pieces, the header first. The header is written from
// `header` when the pieces are, so the caller completes it (its own checksum) after this call.
std::vector<FilePiece> LayOutSections(const void* header, size_t header_size,
                                      std::span<const SectionPieces> sections,
                                      std::span<FileSection> table);

// Checks the sections of `file` (whose header is `header_size` bytes) against `table`: each at
// a multiple of 64, inside the file and after the previous one, zero bytes between them,
// nothing after the last, and (with verify_checksums) each CRC. Corruption naming the section
// (from `names`) or the byte; the caller adds the path.
Status CheckSections(std::span<const uint8_t> file, size_t header_size,
                     std::span<const FileSection> table, std::span<const char* const> names,
                     bool verify_checksums = true);

}  // namespace sextant::index
