// Small POSIX helpers shared by the file code (common/mapped_file.cc, storage/env.cc):
// errno as a Status naming path and call, a descriptor closer, EINTR-safe open and write.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "sextant/status.h"

namespace sextant::posix {

// The text of an errno value (thread-safe, unlike strerror).
std::string ErrnoText(int err);

// "PATH: CALL: message"; NotFound for ENOENT so callers can tell "missing" from "broken".
Status ErrnoStatus(const std::string& path, const char* call, int err);

// open(2), retried on EINTR. Returns the descriptor or -1 with errno set.
int OpenRetryingEintr(const std::string& path, int flags, mode_t mode = 0);

// Writes all of `data`: write(2) may write less than asked (signals, quotas, huge sizes).
// Adds the bytes actually written to *written (if given), also on failure.
Status WriteFully(int fd, const std::string& path, std::string_view data, uint64_t* written = nullptr);

// The directory part of `path` ("." when there is none, "/" for top-level files).
std::string ParentDirectory(const std::string& path);

// Closes a file descriptor on scope exit unless released, so every error path closes it.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser();
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace sextant::posix
