#include "common/mapped_file.h"

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

// strerror() may use a shared buffer; the category message is thread-safe.
std::string ErrnoText(int err) { return std::system_category().message(err); }

// "path: open: No such file or directory"
Status ErrnoStatus(const std::string& path, const char* call, int err) {
  std::string msg = path + ": " + call + ": " + ErrnoText(err);
  if (err == ENOENT) return Status::NotFound(std::move(msg));
  return Status::IOError(std::move(msg));
}

// Closes a file descriptor on scope exit unless released, so every error path closes it.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

int OpenRetryingEintr(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Writes all of data[0, n): write() may write less than asked (signals, pipes, huge sizes).
bool WriteFully(int fd, const void* data, size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    // Linux caps one write at ~2 GiB; asking for less keeps the count in ssize_t range.
    const size_t chunk = std::min<size_t>(n, size_t{1} << 30);
    const ssize_t written = ::write(fd, p, chunk);
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += written;
    n -= static_cast<size_t>(written);
  }
  return true;
}

std::string ParentDirectory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

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
    if (piece.size > 0 && !WriteFully(fd, piece.data, piece.size)) return fail("write", errno);
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
