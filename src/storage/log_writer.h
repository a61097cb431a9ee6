// LogWriter: appends checksummed records to a write-ahead log file.
//
// Each record is written whole, right after the previous one (no block structure); see
// docs/formats/wal.md. A record is durable once Sync() returns OK.
#pragma once

#include <string>
#include <string_view>

#include "sextant/status.h"
#include "storage/env.h"

namespace sextant::storage {

// Ownership: does not own `file`, which must outlive the writer; the caller closes it.
// The file must be empty or end on a record boundary (after recovery, truncate a torn tail to
// LogReader::last_good_offset() before opening it for append).
// Errors are sticky: once an Append or Sync of the file has failed, the file may end in a
// partial record (or unsynced data may be lost), so every later call returns that first
// error; recover by reopening the log (the reader treats the partial record as a torn tail).
// Thread-safety: not thread-safe; callers serialise AddRecord/Sync (e.g. one commit thread).
class LogWriter {
 public:
  explicit LogWriter(WritableFile* file) : file_(file) {}
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Appends one record holding `payload` (0 bytes to log::kMaxRecordSize). The record
  // reaches the operating system before this returns, but is durable only after Sync.
  // Errors: InvalidArgument for a payload over 1 GiB (the writer stays usable); IOError from
  // the file (sticky, see above).
  Status AddRecord(std::string_view payload);

  // Makes every record added so far durable. Errors: IOError (sticky).
  Status Sync();

 private:
  WritableFile* const file_;
  Status error_;          // first failure of the file; once set, returned by every call
  std::string scratch_;   // header + small payload, so a typical record is one write
};

}  // namespace sextant::storage
