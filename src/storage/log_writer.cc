#include "storage/log_writer.h"

#include "common/crc32c.h"
#include "storage/log_format.h"

namespace sextant::storage {
namespace {

// Payloads up to this size are copied behind the header and written with one Append (one
// system call); larger ones are written in place after the header, where the copy would
// cost more than the second call.
constexpr size_t kCoalesceLimit = 64 * 1024;

}  // namespace

Status LogWriter::AddRecord(std::string_view payload) {
  if (!error_.ok()) return error_;
  if (payload.size() > log::kMaxRecordSize) {
    return Status::InvalidArgument("WAL record of " + std::to_string(payload.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(log::kMaxRecordSize) + " bytes (1 GiB)");
  }
  char header[log::kHeaderSize];
  const char type = static_cast<char>(log::kFullType);
  uint32_t crc = Crc32cExtend(0, &type, 1);
  crc = Crc32cExtend(crc, payload.data(), payload.size());
  log::EncodeFixed32(log::MaskCrc(crc), header);
  log::EncodeFixed32(static_cast<uint32_t>(payload.size()), header + 4);
  header[8] = type;

  Status st;
  if (payload.size() <= kCoalesceLimit) {
    scratch_.assign(header, sizeof(header));
    scratch_.append(payload);
    st = file_->Append(scratch_);
  } else {
    st = file_->Append(std::string_view(header, sizeof(header)));
    if (st.ok()) st = file_->Append(payload);
  }
  if (!st.ok()) error_ = st;
  return st;
}

Status LogWriter::Sync() {
  if (!error_.ok()) return error_;
  Status st = file_->Sync();
  if (!st.ok()) error_ = st;
  return st;
}

}  // namespace sextant::storage
