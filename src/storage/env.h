// Env: the storage layer's seam to the file system.
//
// Every file operation of the storage layer goes through an Env so that tests can substitute
// one that injects faults or simulates a crash (FaultInjectionEnv). Env::Default() is the
// POSIX implementation. Errors are values: every failure names the path and the system call
// that refused ("db/wal-000001.log: fdatasync: No space left on device"); a missing file or
// directory is NotFound, other failures IOError.
//
// Durability vocabulary used below: data written to a file is durable once the file is
// synced; a new, removed or renamed name is durable once its directory is synced (SyncDir).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/mapped_file.h"
#include "sextant/status.h"

namespace sextant::storage {

// A file open for sequential writing. Appends go straight to the operating system (no user
// space buffer), so after Append returns the bytes survive a crash of this process, and after
// Sync they survive a crash of the machine.
// Ownership: owns its file descriptor; the destructor closes it (without syncing).
// Thread-safety: not thread-safe; one writer at a time (callers serialise, e.g. the WAL).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  WritableFile(const WritableFile&) = delete;
  WritableFile& operator=(const WritableFile&) = delete;

  // Appends `data` at the end of the file. On error some prefix of `data` may have been
  // written; Size() counts what was. Errors: IOError; FailedPrecondition after Close.
  virtual Status Append(std::string_view data) = 0;
  // Makes every byte appended so far durable (fdatasync). Errors: IOError; after a failed
  // Sync the state of unsynced data is unknown, so callers must not simply retry.
  virtual Status Sync() = 0;
  // Closes the file (without syncing). Idempotent; later Appends fail. Errors: IOError (a
  // deferred write error reported by close()).
  virtual Status Close() = 0;
  // Bytes in the file: its size at open plus everything appended through this object.
  virtual uint64_t Size() const = 0;

 protected:
  WritableFile() = default;
};

// An exclusive advisory lock on a lock file, held until this object is destroyed.
// The lock file itself is left in place on release: deleting it would let a process that has
// just opened the old file lock an inode nobody else can see any more.
// Ownership: owns the open lock file descriptor. A forked child shares the lock until it
// exits (the descriptor is close-on-exec, so an exec'd program does not).
// Thread-safety: immutable; destroy it from any one thread.
class FileLock {
 public:
  virtual ~FileLock() = default;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // The lock file's path as given to Env::LockFile.
  const std::string& path() const { return path_; }

 protected:
  explicit FileLock(std::string path) : path_(std::move(path)) {}

 private:
  std::string path_;
};

// The file system operations the storage layer needs.
// Thread-safety: every method may be called concurrently from many threads.
class Env : public FileWriter {
 public:
  ~Env() override = default;

  // The POSIX file system. The object lives for the whole process; do not delete it.
  static Env* Default();

  // Opens `path` for writing, creating it (mode 0644) if missing. append=true keeps the
  // contents and writes after them; append=false truncates the file to zero bytes.
  // Errors: NotFound (missing directory), IOError.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                               bool append) = 0;

  // Reads the whole file. Errors: NotFound, IOError (including "is a directory").
  virtual Result<std::string> ReadFile(const std::string& path) = 0;

  // Replaces `path` with `data` so that a crash leaves either the old contents or the new
  // ones: writes PATH.tmp, fsyncs it, renames it over `path`, fsyncs the directory.
  // Errors: IOError naming the failing step; on failure `path` is unchanged.
  virtual Status WriteFileAtomically(const std::string& path, std::string_view data) = 0;

  // WriteFileAtomically of the concatenation of `pieces` (index and segment files, written by
  // code below the storage layer through the FileWriter interface). This default joins the
  // pieces and calls WriteFileAtomically; the POSIX Env writes them without the copy.
  Status WriteFilePieces(const std::string& path, const std::vector<FilePiece>& pieces) override;

  // rename(2): atomically replaces `to` if it exists. Durable after SyncDir of both parents.
  // Errors: NotFound (missing `from`), IOError.
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;

  // Removes a file (not a directory). Errors: NotFound, IOError.
  virtual Status RemoveFile(const std::string& path) = 0;

  // Creates `path` and any missing parents (mode 0755); an existing directory is fine.
  // Errors: IOError when a component exists but is not a directory, or mkdir fails.
  virtual Status CreateDirs(const std::string& path) = 0;

  // Removes `path` and everything below it without following symbolic links. A missing
  // path is not an error (so that cleanup code can call it unconditionally).
  // Errors: IOError naming the entry that could not be removed.
  virtual Status RemoveDirRecursively(const std::string& path) = 0;

  // Makes the directory's entries (created, removed, renamed names) durable (fsync of the
  // directory). Errors: NotFound, IOError.
  virtual Status SyncDir(const std::string& path) = 0;

  // Names of the entries in a directory, without "." and "..", sorted bytewise.
  // Errors: NotFound, IOError (including "not a directory").
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;

  // True if something exists at `path` (file, directory, ...). Never fails: a path that
  // cannot be examined counts as missing.
  virtual bool FileExists(const std::string& path) = 0;

  // Size of a regular file in bytes. Errors: NotFound, IOError (e.g. a directory).
  virtual Result<uint64_t> GetFileSize(const std::string& path) = 0;

  // Sets the file's size to `size` (cutting it, or extending it with zero bytes) and syncs
  // the file, so the new size is durable on return. Used to cut a torn WAL tail before
  // appending again. Errors: NotFound, IOError.
  virtual Status TruncateFile(const std::string& path, uint64_t size) = 0;

  // Takes an exclusive lock on the lock file `path` (created if missing), e.g. DIR/LOCK.
  // The lock is per open: a second LockFile on the same file fails whether it comes from
  // another process or from this one. Errors: FailedPrecondition "database directory is in
  // use by another process (lock file PATH)" when held; NotFound, IOError otherwise.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;

  // Copies the contents of `from` to `to` (created or truncated) and syncs the copy; the new
  // name is durable after SyncDir of its directory. Not atomic: on failure `to` may hold a
  // prefix. Errors: NotFound (missing `from`), IOError.
  virtual Status CopyFile(const std::string& from, const std::string& to) = 0;

 protected:
  Env() = default;
};

// Returns the directory part of `path` ("a/b/c" -> "a/b", "c" -> ".", "/c" -> "/"),
// ignoring trailing slashes. Pure string work; touches no file.
std::string ParentDir(const std::string& path);

}  // namespace sextant::storage
