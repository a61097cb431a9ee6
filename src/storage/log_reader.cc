#include "storage/log_reader.h"

#include <cstdio>

#include "common/crc32c.h"
#include "storage/log_format.h"

namespace sextant::storage {
namespace {

std::string Hex32(uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

}  // namespace

Status LogReader::Fail(uint64_t offset, const std::string& what) {
  error_ = Status::Corruption("WAL corruption at offset " + std::to_string(offset) + ": " + what);
  return error_;
}

Result<LogReader::Outcome> LogReader::DropTail() {
  tail_dropped_ = true;
  dropped_bytes_ = data().size() - pos_;
  eof_ = true;
  return Outcome::kEof;
}

bool LogReader::ZeroFrom(uint64_t offset) {
  if (!nonzero_end_known_) {
    // Backwards: the scan costs only the length of the zero run at the end (usually none).
    const std::string_view d = data();
    uint64_t end = d.size();
    while (end > 0 && d[end - 1] == '\0') --end;
    nonzero_end_ = end;
    nonzero_end_known_ = true;
  }
  return offset >= nonzero_end_;
}

LogReader::LaterRecord LogReader::FindLaterRecord(uint64_t offset, uint32_t stored_crc,
                                                  char type) {
  // A torn write leaves the header and a prefix of one payload, and nothing after it. So a
  // complete record with a valid checksum starting inside that space means the header is
  // damaged (most often its length), not torn. The same holds when the stored checksum
  // matches the bytes up to the end of the file exactly. A torn tail passes either test
  // only by a 2^-32 coincidence, or if its payload itself embeds a framed WAL record.
  const std::string_view d = data();
  const uint64_t size = d.size();
  const uint64_t payload_start = offset + log::kHeaderSize;
  // Checksumming candidates costs their length; a budget keeps hostile input linear.
  uint64_t budget = 8 * (size - offset) + (uint64_t{1} << 20);
  LaterRecord found;
  for (uint64_t next = payload_start; next + log::kHeaderSize <= size; ++next) {
    // Cheap filters first: the type byte and a length that fits. CRCs only for candidates.
    if (static_cast<uint8_t>(d[next + 8]) != log::kFullType) continue;
    const uint32_t next_len = log::DecodeFixed32(d.data() + next + 4);
    if (next_len > size - next - log::kHeaderSize) continue;
    if (budget < next_len + uint64_t{1}) break;
    budget -= next_len + uint64_t{1};
    const uint32_t next_crc = Crc32cExtend(0, d.data() + next + 8, 1 + size_t{next_len});
    if (log::MaskCrc(next_crc) == log::DecodeFixed32(d.data() + next)) {
      found.offset = next;
      break;
    }
  }
  // Does the stored checksum match the payload bytes up to that record (or the file end)?
  const uint64_t prefix_end = found.offset != 0 ? found.offset : size;
  uint32_t crc = Crc32cExtend(0, &type, 1);
  crc = Crc32cExtend(crc, d.data() + payload_start, prefix_end - payload_start);
  found.checksum_matches_prefix = log::MaskCrc(crc) == stored_crc;
  if (found.offset == 0 && found.checksum_matches_prefix) found.offset = size;
  return found;
}

Result<LogReader::Outcome> LogReader::ReadRecord(std::string* payload) {
  if (!error_.ok()) return error_;
  if (eof_) return Outcome::kEof;
  const std::string_view d = data();
  const uint64_t size = d.size();
  const uint64_t offset = pos_;
  const uint64_t remaining = size - offset;
  if (remaining == 0) {
    eof_ = true;
    return Outcome::kEof;
  }
  // Header cut short: a torn write (a zero-filled tail shorter than a header lands here too).
  if (remaining < log::kHeaderSize) return DropTail();

  const char* header = d.data() + offset;
  const uint32_t stored_crc = log::DecodeFixed32(header);
  const uint32_t length = log::DecodeFixed32(header + 4);
  const char type = header[8];
  const uint64_t payload_start = offset + log::kHeaderSize;

  if (length > log::kMaxRecordSize) {
    // No writer produces this length: garbage at the very end is a torn header, anywhere
    // else it is damage.
    if (ZeroFrom(payload_start)) return DropTail();
    return Fail(offset, "record length " + std::to_string(length) + " exceeds the limit of " +
                            std::to_string(log::kMaxRecordSize) + " bytes, and " +
                            std::to_string(size - payload_start) + " more bytes follow");
  }
  if (length > size - payload_start) {
    // The payload runs past the end: cut short by a crash, unless the header is damaged.
    const LaterRecord later = FindLaterRecord(offset, stored_crc, type);
    if (later.offset == 0) return DropTail();
    std::string what = "record claims " + std::to_string(length) +
                       " payload bytes, past the end of the file at " + std::to_string(size);
    if (later.checksum_matches_prefix) {
      what += ", but its checksum matches its first " +
              std::to_string(later.offset - payload_start) + " bytes";
    }
    if (later.offset < size) {
      what += (later.checksum_matches_prefix ? ", followed by" : ", but there is") +
              std::string(" a valid record at offset ") + std::to_string(later.offset);
    }
    return Fail(offset, what + ": the header is damaged");
  }

  const uint64_t end = payload_start + length;
  uint32_t crc = Crc32cExtend(0, &type, 1);
  crc = Crc32cExtend(crc, d.data() + payload_start, length);
  if (log::MaskCrc(crc) != stored_crc) {
    // A final record (nothing but zeros after it) that fails its checksum is a torn write.
    if (ZeroFrom(end)) return DropTail();
    return Fail(offset, "checksum mismatch in record of " + std::to_string(length) +
                            " payload bytes (stored " + Hex32(stored_crc) + ", computed " +
                            Hex32(log::MaskCrc(crc)) + "), and " + std::to_string(size - end) +
                            " more bytes follow");
  }
  // The checksum covers the type byte, so an unknown type was written on purpose (by a newer
  // version): refuse rather than misread it.
  if (static_cast<uint8_t>(type) != log::kFullType) {
    return Fail(offset, "unknown record type " +
                            std::to_string(static_cast<unsigned>(static_cast<uint8_t>(type))));
  }
  payload->assign(d.data() + payload_start, length);
  last_record_offset_ = offset;
  pos_ = end;
  return Outcome::kRecord;
}

}  // namespace sextant::storage
