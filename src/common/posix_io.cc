#include "common/posix_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace sextant::posix {

std::string ErrnoText(int err) { return std::system_category().message(err); }

Status ErrnoStatus(const std::string& path, const char* call, int err) {
  std::string msg = path + ": " + call + ": " + ErrnoText(err);
  if (err == ENOENT) return Status::NotFound(std::move(msg));
  return Status::IOError(std::move(msg));
}

int OpenRetryingEintr(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

Status WriteFully(int fd, const std::string& path, std::string_view data, uint64_t* written) {
  const char* p = data.data();
  size_t n = data.size();
  while (n > 0) {
    // Linux caps one write at ~2 GiB; asking for at most 1 GiB keeps the count in range.
    const size_t chunk = std::min<size_t>(n, size_t{1} << 30);
    const ssize_t w = ::write(fd, p, chunk);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(path, "write", errno);
    }
    // A regular file never legitimately accepts zero bytes; looping would spin forever.
    if (w == 0) return Status::IOError(path + ": write: wrote 0 bytes");
    p += w;
    n -= static_cast<size_t>(w);
    if (written != nullptr) *written += static_cast<uint64_t>(w);
  }
  return Status::OK();
}

std::string ParentDirectory(const std::string& path) {
  if (path.empty()) return ".";
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;  // "a/b/" names the same thing as "a/b"
  const size_t slash = path.find_last_of('/', end - 1);
  if (slash == std::string::npos) return ".";
  size_t dir_end = slash;
  while (dir_end > 0 && path[dir_end - 1] == '/') --dir_end;  // "a//b" -> "a"
  if (dir_end == 0) return "/";
  return path.substr(0, dir_end);
}

FdCloser::~FdCloser() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace sextant::posix
