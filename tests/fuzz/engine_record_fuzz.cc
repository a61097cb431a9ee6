// libFuzzer target: the decoders of the collection's own files — a log record's payload
// (DecodeOp) and a checkpoint (DecodeCheckpoint). Both read bytes that passed a checksum, but
// a bug, a format mismatch or a checksum collision must still give a Status, never a crash.
// The first byte picks the decoder (and the dimension); a checkpoint gets a valid trailing
// CRC so that mutations reach the structure rather than the checksum. Whatever decodes must
// encode and decode again to the same bytes.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/crc32c.h"
#include "engine/op_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    const size_t dim = (data[0] / 2) % 9;
    auto op = sextant::engine::DecodeOp(rest, dim);
    if (op.ok()) {
      const std::string again = sextant::engine::EncodeOp(*op);
      auto twice = sextant::engine::DecodeOp(again, dim);
      if (!twice.ok() || sextant::engine::EncodeOp(*twice) != again) __builtin_trap();
    }
  } else {
    std::string bytes(rest);
    const uint32_t crc = sextant::Crc32c(bytes.data(), bytes.size());
    char le[4];
    std::memcpy(le, &crc, 4);  // x86-64: little-endian, as the format stores it
    bytes.append(le, 4);
    auto cp = sextant::engine::DecodeCheckpoint(bytes, "fuzz");
    if (cp.ok()) {
      const std::string again = sextant::engine::EncodeCheckpoint(*cp);
      auto twice = sextant::engine::DecodeCheckpoint(again, "fuzz");
      if (!twice.ok() || sextant::engine::EncodeCheckpoint(*twice) != again) __builtin_trap();
    }
  }
  return 0;
}
