// Read-only memory-mapped files and durable whole-file writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sextant/status.h"

namespace sextant {

// A file mapped read-only into memory (mmap, MAP_PRIVATE). The mapping lives as long as the
// object; pointers into data() become invalid when it is destroyed.
// Thread-safety: immutable after Open; safe to read from many threads.
class MappedFile {
 public:
  // Maps the whole file at `path`. An empty file maps to data() == nullptr, size() == 0.
  // Errors: NotFound if the file does not exist, IOError for other open/mmap failures.
  static Result<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// A piece of a file being written: `size` bytes at `data`.
struct FilePiece {
  const void* data;
  size_t size;
};

// Writes the concatenation of `pieces` to `path` so that a crash leaves either the old file or
// the complete new one: writes `path`.tmp, fsyncs it, renames it over `path`, fsyncs the
// directory. Errors: IOError naming the path and the failing system call.
Status WriteFileAtomically(const std::string& path, const std::vector<FilePiece>& pieces);

// Where whole files are written. PosixFileWriter() is WriteFileAtomically above; a
// storage::Env is one too, so that the index files written below the storage layer go through
// the Env seam (and a fault-injecting Env sees them) without the indexes knowing about Env.
class FileWriter {
 public:
  virtual ~FileWriter() = default;
  // The contract of WriteFileAtomically.
  virtual Status WriteFilePieces(const std::string& path, const std::vector<FilePiece>& pieces) = 0;
};
FileWriter* PosixFileWriter();

// Reads a whole file into a string. Errors: NotFound, IOError.
Result<std::string> ReadFileToString(const std::string& path);

}  // namespace sextant
