// FaultInjectionEnv: an Env for crash and corruption tests.
//
// It forwards to a base Env and remembers what a machine crash could take away:
//  - for every file written through it, how many bytes were synced (WritableFile::Sync;
//    WriteFileAtomically, CopyFile and TruncateFile sync the whole file);
//  - every name created, removed or renamed since the last sync of its directory (SyncDir,
//    or WriteFileAtomically into the same directory), with the durable contents the old name
//    had.
// DropUnsyncedData() then plays the crash: every tracked file is cut back to its synced
// length, new names disappear, removed or renamed-away names come back with their durable
// contents (kept in memory until the directory is synced). Files that existed before and
// were never written through this Env count as durable. Directory operations (CreateDirs,
// RemoveDirRecursively, RenameFile of a directory) count as durable at once. Open WritableFiles are dead
// after a crash: their Append/Sync fail with IOError. Error injection settings are kept.
//
// It also injects errors: SetWriteError(true) makes writes fail with IOError, and
// FailAfterWrites(n) lets n more writes through first. "Writes" are WritableFile::Append and
// Sync, WriteFileAtomically, CopyFile and TruncateFile; a failing write changes nothing.
//
// Thread-safety: every method, and the files it returns, may be used from many threads;
// one mutex serialises the bookkeeping together with the operations it describes (it is a
// test tool, so simplicity beats throughput).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sextant/status.h"
#include "storage/env.h"

namespace sextant::storage {

class FaultInjectionEnv final : public Env {
 public:
  // Ownership: does not own `base`, which must outlive this Env; this Env must outlive the
  // files it returns.
  explicit FaultInjectionEnv(Env* base) : base_(base) {}
  ~FaultInjectionEnv() override;
  FaultInjectionEnv(const FaultInjectionEnv&) = delete;
  FaultInjectionEnv& operator=(const FaultInjectionEnv&) = delete;

  // --- Env (forwarded to the base, with the bookkeeping described above) ---
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                       bool append) override;
  Result<std::string> ReadFile(const std::string& path) override;
  Status WriteFileAtomically(const std::string& path, std::string_view data) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Status CreateDirs(const std::string& path) override;
  Status RemoveDirRecursively(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  bool FileExists(const std::string& path) override;
  Result<uint64_t> GetFileSize(const std::string& path) override;
  Status TruncateFile(const std::string& path, uint64_t size) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;
  Status CopyFile(const std::string& from, const std::string& to) override;

  // --- Crash simulation ---

  // Simulates a machine crash (see the file comment), then forgets all bookkeeping: what is
  // left counts as durable. Files opened before stay dead. Errors: the first failure of the
  // base Env while rolling back (it still tries the rest).
  Status DropUnsyncedData();

  // Bytes of `path` known to be durable: its synced length if tracked, else its size.
  // Errors: NotFound, IOError from the base Env.
  Result<uint64_t> SyncedSize(const std::string& path);

  // --- Error injection ---

  // While true, every write (see the file comment) fails with IOError and writes nothing.
  // SetWriteError(false) also cancels a pending FailAfterWrites.
  void SetWriteError(bool fail);
  // Lets the next `n` writes succeed, then acts as SetWriteError(true).
  void FailAfterWrites(uint64_t n);

  // --- Corruption helpers: change the bytes on "disk" directly (through the base Env),
  // as damage on the medium would. They are not writes: injected errors do not apply. ---

  // XORs the byte at `offset` with `mask` (default: flips all its bits).
  // Errors: OutOfRange if offset >= file size; NotFound, IOError.
  Status FlipByte(const std::string& path, uint64_t offset, uint8_t mask = 0xFF);
  // Cuts the last `n` bytes off the file (all of them if n exceeds its size).
  Status TruncateTail(const std::string& path, uint64_t n);
  // Appends `bytes` and syncs the file (e.g. zeros, as a file system that pre-extended the
  // file leaves); creates the file if missing.
  Status AppendRaw(const std::string& path, std::string_view bytes);

 private:
  friend class FaultInjectionWritableFile;

  // What is known about one file written through this Env. Shared with its open files.
  struct FileState {
    uint64_t synced_size = 0;
    bool dead = false;  // a crash was simulated after it was opened
  };
  // What a name was at the last sync of its directory: absent, or a file with these bytes.
  struct DurableName {
    std::optional<std::string> contents;
  };

  // All below: callers hold mu_.
  // Applies the injected write errors to one write of `path` (`op` names it in the error).
  Status CheckWriteLocked(const std::string& path, const char* op);
  // Records the durable state of `path` before its directory entry changes, unless already
  // recorded since its directory was last synced.
  Status RememberNameLocked(const std::string& path);
  void ForgetDirLocked(const std::string& dir);

  Env* const base_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<FileState>> files_;  // by normalised path
  std::map<std::string, DurableName> names_;                 // by normalised path
  bool write_error_ = false;
  std::optional<uint64_t> writes_left_;  // FailAfterWrites countdown
};

}  // namespace sextant::storage
