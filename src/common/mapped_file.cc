#include "common/mapped_file.h"

#include "common/posix_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <utility>

namespace sextant {
namespace {

using posix::ErrnoStatus;
using posix::ErrnoText;
using posix::FdCloser;
using posix::OpenRetryingEintr;
using posix::ParentDirectory;

}  // namespace

Result<std::unique_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  FdCloser fd(OpenRetryingEintr(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(path, "open", errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(path, "fstat", errno);
  if (S_ISDIR(st.st_mode)) return Status::IOError(path + ": is a directory, not a file");
  if (!S_ISREG(st.st_mode)) return Status::IOError(path + ": not a regular file");
  const size_t size = static_cast<size_t>(st.st_size);
  // mmap rejects a zero length; an empty file is a valid, empty mapping.
  if (size == 0) return std::unique_ptr<MappedFile>(new MappedFile(path, nullptr, 0));
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (addr == MAP_FAILED) return ErrnoStatus(path, "mmap", errno);
  // The mapping keeps its own reference to the file; the descriptor can close now.
  return std::unique_ptr<MappedFile>(new MappedFile(path, static_cast<const uint8_t*>(addr), size));
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

FileWriter* PosixFileWriter() {
  class Posix final : public FileWriter {
   public:
    Status WriteFilePieces(const std::string& path, const std::vector<FilePiece>& pieces) override {
      return WriteFileAtomically(path, pieces);
    }
  };
  static Posix writer;
  return &writer;
}

Status WriteFileAtomically(const std::string& path, const std::vector<FilePiece>& pieces) {
  const std::string tmp = path + ".tmp";
  int fd = OpenRetryingEintr(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError(tmp + ": open: " + ErrnoText(errno));

  // On any failure before the rename, drop the partial temporary file; `path` is untouched.
  auto fail = [&](const char* call, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return Status::IOError(tmp + ": " + call + ": " + ErrnoText(err));
  };
  for (const FilePiece& piece : pieces) {
    if (piece.size > 0) {
      Status st = posix::WriteFully(fd, tmp, std::string_view(static_cast<const char*>(piece.data), piece.size));
      if (!st.ok()) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return st;
      }
    }
  }
  if (::fsync(fd) != 0) return fail("fsync", errno);
  // close() can report a deferred write error (e.g. on NFS), so it is checked too.
  const int close_rc = ::close(fd);
  fd = -1;
  if (close_rc != 0) return fail("close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Status::IOError(tmp + ": rename to " + path + ": " + ErrnoText(err));
  }

  // The rename is durable only once the directory entry itself is on disk.
  const std::string dir = ParentDirectory(path);
  FdCloser dir_fd(OpenRetryingEintr(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) {
    return Status::IOError(path + ": open parent directory " + dir + ": " + ErrnoText(errno));
  }
  if (::fsync(dir_fd.get()) != 0) {
    return Status::IOError(path + ": fsync parent directory " + dir + ": " + ErrnoText(errno));
  }
  return Status::OK();
}

Result<std::string> ReadFileToString(const std::string& path) {
  FdCloser fd(OpenRetryingEintr(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(path, "open", errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(path, "fstat", errno);
  if (S_ISDIR(st.st_mode)) return Status::IOError(path + ": is a directory, not a file");

  // Size from fstat is only a hint (procfs reports 0, files can grow): read until EOF.
  std::string out;
  // One spare byte lets the EOF read land without growing the buffer for a regular file.
  out.resize(st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 4096);
  size_t used = 0;
  while (true) {
    if (used == out.size()) out.resize(out.size() * 2);
    const ssize_t got = ::read(fd.get(), out.data() + used, out.size() - used);
    if (got < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(path, "read", errno);
    }
    if (got == 0) break;
    used += static_cast<size_t>(got);
  }
  out.resize(used);
  return out;
}

}  // namespace sextant
