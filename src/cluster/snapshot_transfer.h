// Copying a collection snapshot (a flat directory of files, Collection::CreateSnapshot) from one
// node to another in chunks: the source lists the files and serves byte ranges, the receiver
// asks for them in turn and writes them durably. The transport (NATS request/reply in
// cluster_node.cc) is the caller's: DownloadSnapshot takes a function that fetches one chunk.
// Thread-safety: pure functions over the file system.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sextant/status.h"

namespace sextant::cluster {

struct SnapshotFile {
  std::string name;  // a plain file name: no '/', not "." or ".."
  uint64_t size = 0;
};

// The most bytes one chunk carries (under NATS's default max_payload of 1 MiB).
inline constexpr size_t kSnapshotChunkBytes = 512 * 1024;

// The regular files of `dir` (not recursive; a snapshot directory is flat), by name.
Result<std::vector<SnapshotFile>> ListSnapshotFiles(const std::string& dir);
nlohmann::json SnapshotFilesToJson(const std::vector<SnapshotFile>& files);
// InvalidArgument for another shape or a name that is not a plain file name.
Result<std::vector<SnapshotFile>> SnapshotFilesFromJson(const nlohmann::json& j);

// Up to `length` (at most kSnapshotChunkBytes) bytes of `dir/name` from `offset`.
// InvalidArgument for a name that is not a plain file name; IOError when it cannot be read.
Result<std::string> ReadSnapshotChunk(const std::string& dir, const std::string& name, uint64_t offset,
                                      size_t length);

// Fetches every file with `read(name, offset, length)` into `dest` (created; must not exist),
// checks each file's size, fsyncs the files and the directory. On error `dest` is removed.
using ChunkReader = std::function<Result<std::string>(const std::string& name, uint64_t offset, size_t length)>;
Status DownloadSnapshot(const std::vector<SnapshotFile>& files, const std::string& dest, const ChunkReader& read);

}  // namespace sextant::cluster
