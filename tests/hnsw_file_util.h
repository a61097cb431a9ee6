// Writes HNSW index files of older format versions, or with edited sections, for the tests of
// HnswIndex::Load (header layout: docs/formats/hnsw.md).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "common/mapped_file.h"
#include "index/section_file.h"

namespace sextant::testing {

// Rewrites the index file at `path`, which HnswIndex::Save wrote (format version 5, 14
// sections), as format `version` with its first `keep` sections, after `edit` (optional) had
// the chance to change their bytes: a version 4 file is a version 5 one without the screen's
// two sections, a version 3 file has 9 (the 9th, "exact", holding float vectors). The section
// table and the header CRC are written anew, so the file passes the checksums whatever the
// edit did.
inline void RewriteHnswFile(const std::string& path, uint32_t version, size_t keep,
                            const std::function<void(std::vector<std::string>&)>& edit = nullptr) {
  std::string file;
  {
    std::ifstream f(path, std::ios::binary);
    file.assign(std::istreambuf_iterator<char>(f), {});
  }
  constexpr size_t kFields = 72;  // the header's fields before the section table
  std::vector<index::FileSection> table(14);
  ASSERT_GE(file.size(), kFields + table.size() * sizeof(index::FileSection) + 8);
  uint32_t saved_version;
  std::memcpy(&saved_version, file.data() + 8, 4);
  ASSERT_EQ(saved_version, 5u) << "Save writes another version: update this helper";
  ASSERT_LE(keep, table.size());
  std::memcpy(table.data(), file.data() + kFields, table.size() * sizeof(index::FileSection));
  std::vector<std::string> bytes(keep);
  for (size_t s = 0; s < keep; ++s) bytes[s].assign(file.data() + table[s].offset, table[s].size);
  if (edit) edit(bytes);
  std::vector<index::SectionPieces> sections(keep);
  for (size_t s = 0; s < keep; ++s) sections[s].push_back({bytes[s].data(), bytes[s].size()});
  const size_t header_size = kFields + keep * sizeof(index::FileSection) + 8;
  std::vector<uint8_t> header(header_size, 0);
  std::memcpy(header.data(), file.data(), kFields);
  const auto hs = static_cast<uint32_t>(header_size);
  std::memcpy(header.data() + 8, &version, 4);
  std::memcpy(header.data() + 12, &hs, 4);
  std::vector<index::FileSection> written(keep);
  auto pieces = index::LayOutSections(header.data(), header_size, sections, written);
  std::memcpy(header.data() + kFields, written.data(), keep * sizeof(index::FileSection));
  const uint32_t crc = Crc32c(header.data(), header_size - 4);
  std::memcpy(header.data() + header_size - 4, &crc, 4);
  ASSERT_TRUE(PosixFileWriter()->WriteFilePieces(path, pieces).ok());
}

}  // namespace sextant::testing
