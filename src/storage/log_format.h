// The write-ahead log's record format, shared by LogWriter and LogReader.
// See docs/formats/wal.md for the byte layout and the recovery rules.
//
//   record := masked_crc:u32 | length:u32 | type:u8 | payload[length]     (little-endian)
//   masked_crc = Mask(CRC-32C(type byte followed by payload))
#pragma once

#include <cstddef>
#include <cstdint>

namespace sextant::storage::log {

// Bytes before the payload: checksum, length, type.
inline constexpr size_t kHeaderSize = 4 + 4 + 1;
// The largest payload a record may carry (1 GiB); longer ones are refused by the writer and
// treated as a damaged length by the reader.
inline constexpr uint32_t kMaxRecordSize = uint32_t{1} << 30;

// The record type byte. Zero is never written, so that zero-filled space (a pre-extended or
// partly written file) can never look like a record; unknown values are refused.
enum RecordType : uint8_t {
  kZeroType = 0,
  kFullType = 1,  // the payload is one whole caller record
};

// Stored checksums are masked: the CRC of a byte string that itself contains CRCs (a WAL
// record holding another log) is poorly distributed, and masking also keeps an all-zero
// record from carrying a "valid" zero checksum. Rotate right by 15 bits, then add a constant.
inline constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline constexpr uint32_t MaskCrc(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}
inline constexpr uint32_t UnmaskCrc(uint32_t masked) {
  const uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

inline void EncodeFixed32(uint32_t v, char* out) {
  out[0] = static_cast<char>(v & 0xFFu);
  out[1] = static_cast<char>((v >> 8) & 0xFFu);
  out[2] = static_cast<char>((v >> 16) & 0xFFu);
  out[3] = static_cast<char>((v >> 24) & 0xFFu);
}
inline uint32_t DecodeFixed32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | (static_cast<uint32_t>(u[1]) << 8) |
         (static_cast<uint32_t>(u[2]) << 16) | (static_cast<uint32_t>(u[3]) << 24);
}

}  // namespace sextant::storage::log
