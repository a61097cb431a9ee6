// libFuzzer target: LogReader on arbitrary bytes. It must never crash, must end in kEof or
// Corruption, and what it accepts must be exactly what LogWriter would have written: the
// records re-encoded reproduce the input up to last_good_offset(), and the accounting of the
// dropped tail adds up.
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/log_reader.h"
#include "storage/log_writer.h"

namespace {

// Collects what a LogWriter writes.
class StringFile final : public sextant::storage::WritableFile {
 public:
  sextant::Status Append(std::string_view data) override {
    contents.append(data);
    return sextant::Status::OK();
  }
  sextant::Status Sync() override { return sextant::Status::OK(); }
  sextant::Status Close() override { return sextant::Status::OK(); }
  uint64_t Size() const override { return contents.size(); }
  std::string contents;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using sextant::storage::LogReader;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  LogReader reader(input);
  StringFile reencoded;
  sextant::storage::LogWriter writer(&reencoded);
  std::string payload;
  bool ok = false;
  // Each record takes at least one header, so the loop is bounded by the input size.
  for (size_t i = 0; i <= size; ++i) {
    auto r = reader.ReadRecord(&payload);
    if (!r.ok()) {
      if (r.status().code() != sextant::StatusCode::kCorruption) __builtin_trap();
      break;
    }
    if (*r == LogReader::Outcome::kEof) {
      ok = true;
      break;
    }
    if (!writer.AddRecord(payload).ok()) __builtin_trap();
  }
  const uint64_t good = reader.last_good_offset();
  if (good > size) __builtin_trap();
  if (input.substr(0, good) != reencoded.contents) __builtin_trap();
  if (ok) {
    // kEof: the whole input is valid records plus, at most, a reported torn tail.
    if (good + reader.dropped_bytes() != size) __builtin_trap();
    if (reader.tail_dropped() != (reader.dropped_bytes() > 0)) __builtin_trap();
    auto again = reader.ReadRecord(&payload);  // kEof is sticky
    if (!again.ok() || *again != LogReader::Outcome::kEof) __builtin_trap();
  } else if (reader.tail_dropped()) {
    __builtin_trap();
  }
  return 0;
}
