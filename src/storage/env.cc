#include "storage/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <set>
#include <system_error>
#include <utility>

#include "common/mapped_file.h"
#include "common/posix_io.h"

namespace sextant::storage {
namespace {

using posix::ErrnoStatus;
using posix::FdCloser;
using posix::OpenRetryingEintr;
using posix::WriteFully;

// Closes `fd`, reporting a deferred write error. EINTR is not an error here: Linux has
// already released the descriptor, and retrying could close someone else's.
Status CloseChecked(int fd, const std::string& path) {
  if (::close(fd) != 0 && errno != EINTR) return ErrnoStatus(path, "close", errno);
  return Status::OK();
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Append(std::string_view data) override {
    if (fd_ < 0) return Status::FailedPrecondition(path_ + ": append after close");
    return WriteFully(fd_, path_, data, &size_);
  }

  Status Sync() override {
    if (fd_ < 0) return Status::FailedPrecondition(path_ + ": sync after close");
    // fdatasync skips timestamps but does flush the size, which is all a reader needs.
    int rc;
    do {
      rc = ::fdatasync(fd_);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return ErrnoStatus(path_, "fdatasync", errno);
    return Status::OK();
  }

  Status Close() override {
    if (fd_ < 0) return Status::OK();
    return CloseChecked(std::exchange(fd_, -1), path_);
  }

  uint64_t Size() const override { return size_; }

 private:
  const std::string path_;
  int fd_;
  uint64_t size_;
};

// Lock files held by this process, by inode. flock(2) already refuses a second open file
// description of a locked file, even in the same process; the registry makes that hold
// also where flock is emulated with per-process fcntl locks (NFS), and costs nothing.
struct LockKey {
  dev_t dev;
  ino_t ino;
  bool operator<(const LockKey& o) const { return dev != o.dev ? dev < o.dev : ino < o.ino; }
};
std::mutex& LockRegistryMutex() {
  static std::mutex* mu = new std::mutex;  // never destroyed: locks may outlive statics
  return *mu;
}
std::set<LockKey>& LockRegistry() {
  static auto* held = new std::set<LockKey>;
  return *held;
}

Status LockHeld(const std::string& path) {
  return Status::FailedPrecondition("database directory is in use by another process (lock file " +
                                    path + ")");
}

class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(std::string path, int fd, LockKey key)
      : FileLock(std::move(path)), fd_(fd), key_(key) {}
  ~PosixFileLock() override {
    // Close and unregister together, so another thread never sees one without the other.
    // Closing (rather than LOCK_UN) leaves the lock to a forked child that shares it.
    std::lock_guard<std::mutex> guard(LockRegistryMutex());
    ::close(fd_);
    LockRegistry().erase(key_);
  }

 private:
  const int fd_;
  const LockKey key_;
};

Result<std::vector<std::string>> ListDirectory(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return ErrnoStatus(path, "opendir", errno);
  std::vector<std::string> names;
  while (true) {
    errno = 0;  // readdir signals an error only through errno
    const dirent* entry = ::readdir(dir);
    if (entry == nullptr) {
      const int err = errno;
      ::closedir(dir);
      if (err != 0) return ErrnoStatus(path, "readdir", err);
      break;
    }
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::OK();
    return ErrnoStatus(path, "lstat", errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(path, "unlink", errno);
    return Status::OK();
  }
  SEXTANT_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(path));
  for (const std::string& name : names) {
    SEXTANT_RETURN_IF_ERROR(RemoveTree(path + "/" + name));
  }
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(path, "rmdir", errno);
  return Status::OK();
}

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                       bool append) override {
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    FdCloser fd(OpenRetryingEintr(path, flags, 0644));
    if (fd.get() < 0) return ErrnoStatus(path, "open", errno);
    uint64_t size = 0;
    if (append) {
      struct stat st;
      if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(path, "fstat", errno);
      size = static_cast<uint64_t>(st.st_size);
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd.Release(), size));
  }

  Result<std::string> ReadFile(const std::string& path) override {
    return ReadFileToString(path);
  }

  Status WriteFileAtomically(const std::string& path, std::string_view data) override {
    return sextant::WriteFileAtomically(path, {FilePiece{data.data(), data.size()}});
  }
  Status WriteFilePieces(const std::string& path, const std::vector<FilePiece>& pieces) override {
    return sextant::WriteFileAtomically(path, pieces);
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      const std::string what = "rename to " + to;
      return ErrnoStatus(from, what.c_str(), errno);
    }
    return Status::OK();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus(path, "unlink", errno);
    return Status::OK();
  }

  Status CreateDirs(const std::string& path) override {
    if (path.empty()) return Status::InvalidArgument("CreateDirs: empty path");
    // mkdir each prefix in turn ("a", "a/b", "a/b/c"); existing directories are fine.
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = path.find('/', pos + 1);
      const std::string prefix = path.substr(0, pos);
      if (prefix.empty() || prefix.back() == '/') continue;  // "//" or a trailing slash
      if (::mkdir(prefix.c_str(), 0755) == 0) continue;
      const int err = errno;
      if (err != EEXIST) return ErrnoStatus(prefix, "mkdir", err);
      struct stat st;
      if (::stat(prefix.c_str(), &st) != 0) return ErrnoStatus(prefix, "stat", errno);
      if (!S_ISDIR(st.st_mode)) {
        return Status::IOError(prefix + ": mkdir: exists and is not a directory");
      }
    }
    return Status::OK();
  }

  Status RemoveDirRecursively(const std::string& path) override { return RemoveTree(path); }

  Status SyncDir(const std::string& path) override {
    FdCloser fd(OpenRetryingEintr(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoStatus(path, "open directory", errno);
    int rc;
    do {
      rc = ::fsync(fd.get());
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return ErrnoStatus(path, "fsync directory", errno);
    return Status::OK();
  }

  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    return ListDirectory(path);
  }

  bool FileExists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  Result<uint64_t> GetFileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(path, "stat", errno);
    if (S_ISDIR(st.st_mode)) return Status::IOError(path + ": is a directory, not a file");
    return static_cast<uint64_t>(st.st_size);
  }

  Status TruncateFile(const std::string& path, uint64_t size) override {
    FdCloser fd(OpenRetryingEintr(path, O_WRONLY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoStatus(path, "open", errno);
    int rc;
    do {
      rc = ::ftruncate(fd.get(), static_cast<off_t>(size));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return ErrnoStatus(path, "ftruncate", errno);
    do {
      rc = ::fsync(fd.get());
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return ErrnoStatus(path, "fsync", errno);
    return CloseChecked(fd.Release(), path);
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    FdCloser fd(OpenRetryingEintr(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoStatus(path, "open", errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(path, "fstat", errno);
    const LockKey key{st.st_dev, st.st_ino};

    // Held across flock so that two threads racing for the same file cannot both succeed.
    std::lock_guard<std::mutex> guard(LockRegistryMutex());
    if (LockRegistry().count(key) != 0) return LockHeld(path);
    int rc;
    do {
      rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      if (errno == EWOULDBLOCK) return LockHeld(path);
      return ErrnoStatus(path, "flock", errno);
    }
    LockRegistry().insert(key);
    return std::unique_ptr<FileLock>(new PosixFileLock(path, fd.Release(), key));
  }

  Status CopyFile(const std::string& from, const std::string& to) override {
    FdCloser in(OpenRetryingEintr(from, O_RDONLY | O_CLOEXEC));
    if (in.get() < 0) return ErrnoStatus(from, "open", errno);
    struct stat in_st;
    if (::fstat(in.get(), &in_st) != 0) return ErrnoStatus(from, "fstat", errno);
    if (S_ISDIR(in_st.st_mode)) return Status::IOError(from + ": is a directory, not a file");
    // No O_TRUNC yet: copying a file onto itself must be refused before it is emptied.
    FdCloser out(OpenRetryingEintr(to, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    if (out.get() < 0) return ErrnoStatus(to, "open", errno);
    struct stat out_st;
    if (::fstat(out.get(), &out_st) != 0) return ErrnoStatus(to, "fstat", errno);
    if (in_st.st_dev == out_st.st_dev && in_st.st_ino == out_st.st_ino) {
      return Status::InvalidArgument("CopyFile: " + from + " and " + to + " are the same file");
    }
    if (::ftruncate(out.get(), 0) != 0) return ErrnoStatus(to, "ftruncate", errno);

    std::string buffer(size_t{1} << 20, '\0');
    while (true) {
      const ssize_t got = ::read(in.get(), buffer.data(), buffer.size());
      if (got < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(from, "read", errno);
      }
      if (got == 0) break;
      SEXTANT_RETURN_IF_ERROR(
          WriteFully(out.get(), to, std::string_view(buffer.data(), size_t(got)), nullptr));
    }
    int rc;
    do {
      rc = ::fsync(out.get());
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return ErrnoStatus(to, "fsync", errno);
    return CloseChecked(out.Release(), to);
  }
};

}  // namespace

Status Env::WriteFilePieces(const std::string& path, const std::vector<FilePiece>& pieces) {
  std::string joined;
  size_t total = 0;
  for (const FilePiece& p : pieces) total += p.size;
  joined.reserve(total);
  for (const FilePiece& p : pieces) joined.append(static_cast<const char*>(p.data), p.size);
  return WriteFileAtomically(path, joined);
}

Env* Env::Default() {
  // Never destroyed, so that objects in other static destructors may still use it.
  static Env* env = new PosixEnv;
  return env;
}

std::string ParentDir(const std::string& path) { return posix::ParentDirectory(path); }

}  // namespace sextant::storage
