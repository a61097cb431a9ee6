// Small metadata files (a collection's MANIFEST and config.json, the server's key file):
// one JSON object that carries its format name, a version and a checksum of everything else,
//   {"format": "sextant-manifest", "version": 3, ..., "crc32c": "1a2b3c4d"}
// so that a changed byte, a renamed key or a file of another kind is Corruption naming the
// file rather than a different meaning. Written atomically through the Env (temp file, fsync,
// rename, directory fsync). The checksum covers the compact JSON rendering of the object
// without its "crc32c" member (keys sorted, numbers as nlohmann prints them), so it does not
// depend on whitespace. Format in docs/formats/collection.md.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "sextant/status.h"
#include "storage/env.h"

namespace sextant::storage {

struct MetaFile {
  nlohmann::json fields;  // the object without "format", "version" and "crc32c"
  int version = 0;        // 0: a file written before metadata files had checksums (no envelope)
};

// Writes `fields` (an object) with the envelope; pretty-printed when `pretty`.
Status WriteMetaFile(Env* env, const std::string& path, const std::string& format, int version,
                     const nlohmann::json& fields, bool pretty = false);

// Reads and verifies a metadata file. Corruption (naming `path`) for invalid JSON, a missing or
// wrong checksum, another format, or a version outside [1, max_version]. A file with none of
// the envelope's members is returned as version 0: the caller decides whether such a legacy
// file is acceptable and validates it strictly. NotFound when the file does not exist.
Result<MetaFile> ReadMetaFile(Env* env, const std::string& path, const std::string& format,
                              int max_version);

}  // namespace sextant::storage
