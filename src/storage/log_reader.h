// LogReader: reads back the records of a write-ahead log file, telling a torn tail left by a
// crash (dropped, reported) from corruption (an error naming the byte offset).
//
// Recovery rules (docs/formats/wal.md):
//  - A final record cut short (header or payload), or a final record whose checksum fails,
//    is a torn tail: ReadRecord returns kEof with tail_dropped() true. "Final" means that
//    only zero bytes, or nothing, follow it, so a zero-filled (pre-extended) tail is torn too.
//  - A checksum, length or type failure followed by more (non-zero) bytes is corruption:
//    ReadRecord returns Corruption with the record's offset; nothing is skipped silently.
//  - A length that runs past the end of the file is a torn payload, unless a complete record
//    with a valid checksum starts after the header, or the stored checksum matches exactly
//    the bytes up to the end of the file: then the header is damaged, which is corruption.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sextant/status.h"

namespace sextant::storage {

// Ownership: the string_view constructor borrows the contents, which must outlive the
// reader (an lvalue std::string binds here); the std::string&& constructor takes them over.
// Thread-safety: not thread-safe (ReadRecord advances the reader); distinct readers over
// the same contents are independent.
class LogReader {
 public:
  enum class Outcome { kRecord, kEof };

  explicit LogReader(std::string_view contents) : view_(contents) {}
  explicit LogReader(std::string&& contents) : owned_(std::move(contents)), owns_(true) {}

  // Reads the next record into *payload (replacing its contents) and returns kRecord, or
  // returns kEof at the end of the log (clean end or dropped torn tail; see tail_dropped()).
  // Errors: Corruption "WAL corruption at offset N: ..." for damage before the end. Once it
  // has returned kEof or an error, every later call returns the same.
  Result<Outcome> ReadRecord(std::string* payload);

  // Offset just past the last record returned: where valid data ends. After a torn tail,
  // truncate the file to this size before appending to it again.
  uint64_t last_good_offset() const { return pos_; }
  // True if the last ReadRecord returned kEof after dropping a torn tail.
  bool tail_dropped() const { return tail_dropped_; }
  // Bytes dropped as a torn tail (file size - last_good_offset()); 0 if none.
  uint64_t dropped_bytes() const { return dropped_bytes_; }
  // Offset of the header of the record most recently returned (for callers' messages).
  uint64_t last_record_offset() const { return last_record_offset_; }

 private:
  std::string_view data() const { return owns_ ? std::string_view(owned_) : view_; }
  Result<Outcome> DropTail();
  Status Fail(uint64_t offset, const std::string& what);
  // True if every byte from `offset` to the end of the contents is zero.
  bool ZeroFrom(uint64_t offset);
  // For a record at `offset` whose length runs past the end: evidence that its header is
  // damaged rather than torn (see the rules above); offset 0 if there is none.
  struct LaterRecord {
    uint64_t offset = 0;  // a valid record found after the header, or the file size
    bool checksum_matches_prefix = false;  // the stored CRC matches the bytes up to `offset`
  };
  LaterRecord FindLaterRecord(uint64_t offset, uint32_t stored_crc, char type);

  std::string owned_;
  bool owns_ = false;
  std::string_view view_;  // used when !owns_ (a view into owned_ would dangle on move)

  uint64_t pos_ = 0;
  uint64_t last_record_offset_ = 0;
  uint64_t dropped_bytes_ = 0;
  bool tail_dropped_ = false;
  bool eof_ = false;
  Status error_;
  // Index of the last non-zero byte + 1 (0: all zero); computed on first need.
  uint64_t nonzero_end_ = 0;
  bool nonzero_end_known_ = false;
};

}  // namespace sextant::storage
