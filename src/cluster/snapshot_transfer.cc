#include "cluster/snapshot_transfer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace sextant::cluster {
namespace {

namespace fs = std::filesystem;

bool PlainName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

Status Errno(const std::string& what) { return Status::IOError(what + ": " + std::strerror(errno)); }

Status SyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno("open " + path);
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::OK() : Errno("fsync " + path);
}

}  // namespace

Result<std::vector<SnapshotFile>> ListSnapshotFiles(const std::string& dir) {
  std::vector<SnapshotFile> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    files.push_back({entry.path().filename().string(), static_cast<uint64_t>(entry.file_size())});
  }
  if (ec) return Status::IOError("cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end(), [](const SnapshotFile& a, const SnapshotFile& b) { return a.name < b.name; });
  return files;
}

nlohmann::json SnapshotFilesToJson(const std::vector<SnapshotFile>& files) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : files) out.push_back({{"name", f.name}, {"size", f.size}});
  return out;
}

Result<std::vector<SnapshotFile>> SnapshotFilesFromJson(const nlohmann::json& j) {
  if (!j.is_array()) return Status::InvalidArgument("snapshot files must be an array");
  std::vector<SnapshotFile> files;
  for (const auto& f : j) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || !f.contains("size") ||
        !f["size"].is_number_unsigned()) {
      return Status::InvalidArgument("a snapshot file must be {\"name\": string, \"size\": number}");
    }
    SnapshotFile file{f["name"].get<std::string>(), f["size"].get<uint64_t>()};
    if (!PlainName(file.name)) return Status::InvalidArgument("snapshot file name '" + file.name.substr(0, 80) + "' is not a plain name");
    files.push_back(std::move(file));
  }
  return files;
}

Result<std::string> ReadSnapshotChunk(const std::string& dir, const std::string& name, uint64_t offset,
                                      size_t length) {
  if (!PlainName(name)) return Status::InvalidArgument("snapshot file name '" + name.substr(0, 80) + "' is not a plain name");
  length = std::min(length, kSnapshotChunkBytes);
  const std::string path = dir + "/" + name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + path);
  std::string out(length, '\0');
  size_t done = 0;
  while (done < length) {
    const ssize_t n = ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = Errno("read " + path);
      ::close(fd);
      return st;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(done);
  return out;
}

Status DownloadSnapshot(const std::vector<SnapshotFile>& files, const std::string& dest, const ChunkReader& read) {
  std::error_code ec;
  if (fs::exists(dest, ec)) return Status::AlreadyExists(dest + " exists");
  fs::create_directories(dest, ec);
  if (ec) return Status::IOError("cannot create " + dest + ": " + ec.message());
  auto fail = [&](Status st) {
    std::error_code ignored;
    fs::remove_all(dest, ignored);
    return st;
  };
  for (const SnapshotFile& f : files) {
    if (!PlainName(f.name)) return fail(Status::InvalidArgument("snapshot file name '" + f.name.substr(0, 80) + "' is not a plain name"));
    const std::string path = dest + "/" + f.name;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return fail(Errno("create " + path));
    uint64_t offset = 0;
    Status st;
    while (st.ok() && offset < f.size) {
      auto chunk = read(f.name, offset, static_cast<size_t>(std::min<uint64_t>(kSnapshotChunkBytes, f.size - offset)));
      if (!chunk.ok()) {
        st = chunk.status();
        break;
      }
      if (chunk->empty()) {
        st = Status::IOError("snapshot file " + f.name + " ends at " + std::to_string(offset) + " bytes, listed with " +
                             std::to_string(f.size));
        break;
      }
      size_t written = 0;
      while (written < chunk->size()) {
        const ssize_t n = ::write(fd, chunk->data() + written, chunk->size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          st = Errno("write " + path);
          break;
        }
        written += static_cast<size_t>(n);
      }
      offset += chunk->size();
    }
    if (st.ok() && offset != f.size) {
      st = Status::IOError("snapshot file " + f.name + " has " + std::to_string(offset) + " bytes, listed with " +
                           std::to_string(f.size));
    }
    if (st.ok() && ::fsync(fd) != 0) st = Errno("fsync " + path);
    ::close(fd);
    if (!st.ok()) return fail(st);
  }
  if (Status st = SyncPath(dest, O_RDONLY | O_DIRECTORY); !st.ok()) return fail(st);
  return Status::OK();
}

}  // namespace sextant::cluster
