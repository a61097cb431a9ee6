// Tests of the WAL record format: round trips, torn tails, corruption.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <random>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "storage/env.h"
#include "storage/log_format.h"
#include "storage/log_reader.h"
#include "storage/log_writer.h"
#include "storage_test_util.h"

namespace sextant::storage {
namespace {

using testing::RandomBytes;
using testing::ScratchDir;
using Outcome = LogReader::Outcome;

// A WritableFile in memory, with an optional failure, for writer-only tests.
class StringFile final : public WritableFile {
 public:
  Status Append(std::string_view data) override {
    if (fail_appends_) return Status::IOError("mem: append: injected");
    contents_.append(data);
    return Status::OK();
  }
  Status Sync() override {
    ++syncs_;
    return fail_syncs_ ? Status::IOError("mem: sync: injected") : Status::OK();
  }
  Status Close() override { return Status::OK(); }
  uint64_t Size() const override { return contents_.size(); }

  std::string contents_;
  bool fail_appends_ = false;
  bool fail_syncs_ = false;
  int syncs_ = 0;
};

// Encodes records with a LogWriter; returns the log and each record's start offset.
std::string Encode(const std::vector<std::string>& records, std::vector<uint64_t>* offsets) {
  StringFile file;
  LogWriter writer(&file);
  for (const std::string& r : records) {
    if (offsets != nullptr) offsets->push_back(file.Size());
    EXPECT_TRUE(writer.AddRecord(r).ok());
  }
  return file.contents_;
}

struct ReadAll {
  std::vector<std::string> records;
  Status error;
  bool tail_dropped = false;
  uint64_t last_good = 0;
  uint64_t dropped = 0;
};

ReadAll Read(std::string_view contents) {
  ReadAll out;
  LogReader reader(contents);
  std::string payload;
  while (true) {
    Result<Outcome> r = reader.ReadRecord(&payload);
    if (!r.ok()) {
      out.error = r.status();
      break;
    }
    if (*r == Outcome::kEof) break;
    out.records.push_back(payload);
  }
  out.tail_dropped = reader.tail_dropped();
  out.last_good = reader.last_good_offset();
  out.dropped = reader.dropped_bytes();
  return out;
}

std::vector<std::string> SampleRecords(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> records;
  for (size_t i = 0; i < n; ++i) {
    size_t size;
    switch (rng() % 6) {
      case 0: size = 0; break;
      case 1: size = rng() % 16; break;
      case 2: size = rng() % 1000; break;
      case 3: size = rng() % 70000; break;  // around the writer's coalescing limit
      case 4: size = rng() % (1 << 20) + 1; break;
      default: size = (1 << 20) - rng() % 3; break;
    }
    records.push_back(RandomBytes(rng, size));
  }
  records.push_back(std::string(1 << 20, 'x'));  // exactly 1 MB
  records.push_back("");
  return records;
}

TEST(LogFormatTest, HeaderLayoutIsAsDocumented) {
  std::string log = Encode({"abc"}, nullptr);
  ASSERT_EQ(log.size(), log::kHeaderSize + 3);
  const char typed[] = {1, 'a', 'b', 'c'};
  const uint32_t crc = Crc32c(typed, sizeof(typed));
  EXPECT_EQ(log::DecodeFixed32(log.data()), log::MaskCrc(crc));
  EXPECT_EQ(static_cast<uint8_t>(log[0]), log::MaskCrc(crc) & 0xFF);  // little-endian
  EXPECT_EQ(log.substr(4, 4), std::string("\x03\x00\x00\x00", 4));
  EXPECT_EQ(log[8], 1);
  EXPECT_EQ(log.substr(9), "abc");
  for (uint32_t v : {0u, 1u, 0xFFFFFFFFu, 0x12345678u, crc}) {
    EXPECT_EQ(log::UnmaskCrc(log::MaskCrc(v)), v);
    EXPECT_NE(log::MaskCrc(v), v);
  }
}

TEST(LogTest, EmptyLog) {
  ReadAll r = Read("");
  EXPECT_TRUE(r.error.ok());
  EXPECT_TRUE(r.records.empty());
  EXPECT_FALSE(r.tail_dropped);
  EXPECT_EQ(r.last_good, 0u);
  EXPECT_EQ(r.dropped, 0u);
}

TEST(LogTest, RoundTripThroughAFile) {
  ScratchDir dir;
  const std::string path = dir.Child("wal.log");
  const std::vector<std::string> records = SampleRecords(42, 200);
  {
    auto file = Env::Default()->NewWritableFile(path, false);
    ASSERT_TRUE(file.ok());
    LogWriter writer(file->get());
    for (size_t i = 0; i < records.size(); ++i) {
      SEXTANT_ASSERT_OK(writer.AddRecord(records[i]));
      if (i % 17 == 0) SEXTANT_ASSERT_OK(writer.Sync());
    }
    SEXTANT_ASSERT_OK(writer.Sync());
    SEXTANT_ASSERT_OK((*file)->Close());
  }
  auto contents = Env::Default()->ReadFile(path);
  ASSERT_TRUE(contents.ok());
  const uint64_t size = contents->size();
  LogReader reader(std::move(*contents));  // the owning constructor
  std::string payload;
  for (size_t i = 0; i < records.size(); ++i) {
    auto r = reader.ReadRecord(&payload);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(*r, Outcome::kRecord) << "record " << i;
    ASSERT_EQ(payload, records[i]) << "record " << i;
  }
  for (int i = 0; i < 3; ++i) {  // kEof is sticky
    auto r = reader.ReadRecord(&payload);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, Outcome::kEof);
  }
  EXPECT_FALSE(reader.tail_dropped());
  EXPECT_EQ(reader.last_good_offset(), size);
  EXPECT_EQ(reader.dropped_bytes(), 0u);
}

TEST(LogTest, AppendAfterReopenContinuesTheLog) {
  ScratchDir dir;
  const std::string path = dir.Child("wal.log");
  for (int session = 0; session < 3; ++session) {
    auto file = Env::Default()->NewWritableFile(path, /*append=*/true);
    ASSERT_TRUE(file.ok());
    LogWriter writer(file->get());
    SEXTANT_ASSERT_OK(writer.AddRecord("session " + std::to_string(session)));
    SEXTANT_ASSERT_OK(writer.Sync());
  }
  auto contents = Env::Default()->ReadFile(path);
  ASSERT_TRUE(contents.ok());
  ReadAll r = Read(*contents);
  EXPECT_EQ(r.records, (std::vector<std::string>{"session 0", "session 1", "session 2"}));
}

TEST(LogTest, WriterRefusesOversizedRecordsAndStaysUsable) {
  StringFile file;
  LogWriter writer(&file);
  // More than 1 GiB of untouched anonymous memory costs no RAM; the writer must refuse
  // before reading it.
  const size_t huge_size = size_t{log::kMaxRecordSize} + 1;
  void* huge = ::mmap(nullptr, huge_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                      -1, 0);
  ASSERT_NE(huge, MAP_FAILED);
  const Status st = writer.AddRecord(std::string_view(static_cast<const char*>(huge), huge_size));
  ::munmap(huge, huge_size);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("1 GiB"), std::string::npos) << st.ToString();
  EXPECT_EQ(file.Size(), 0u);
  SEXTANT_EXPECT_OK(writer.AddRecord("fine"));
  EXPECT_EQ(Read(file.contents_).records, std::vector<std::string>{"fine"});
}

TEST(LogTest, WriterErrorsAreSticky) {
  StringFile file;
  LogWriter writer(&file);
  SEXTANT_ASSERT_OK(writer.AddRecord("a"));
  file.fail_appends_ = true;
  EXPECT_EQ(writer.AddRecord("b").code(), StatusCode::kIOError);
  file.fail_appends_ = false;
  // The file may now end in a partial record: nothing more may be appended after it.
  EXPECT_EQ(writer.AddRecord("c").code(), StatusCode::kIOError);
  EXPECT_EQ(writer.Sync().code(), StatusCode::kIOError);
  EXPECT_EQ(Read(file.contents_).records, std::vector<std::string>{"a"});

  StringFile file2;
  LogWriter writer2(&file2);
  file2.fail_syncs_ = true;
  EXPECT_EQ(writer2.Sync().code(), StatusCode::kIOError);
  file2.fail_syncs_ = false;
  EXPECT_EQ(writer2.AddRecord("x").code(), StatusCode::kIOError);
  EXPECT_EQ(writer2.Sync().code(), StatusCode::kIOError);
  EXPECT_EQ(file2.syncs_, 1);
}

// A crash can cut the last record anywhere: the reader returns every earlier record, then
// kEof with the torn tail reported, at every possible cut point.
TEST(LogTest, TornTailAtEveryCutPoint) {
  for (size_t last_size : {size_t{0}, size_t{1}, size_t{200}, size_t{70000}}) {
    std::mt19937_64 rng(last_size);
    std::vector<std::string> records = {"first", RandomBytes(rng, 300), "", "fourth"};
    records.push_back(RandomBytes(rng, last_size));
    std::vector<uint64_t> offsets;
    const std::string log = Encode(records, &offsets);
    const uint64_t last = offsets.back();
    ASSERT_EQ(log.size(), last + log::kHeaderSize + last_size);
    // For the big record, every cut in the header and the first and last 300 payload bytes,
    // and every 97th in between.
    for (uint64_t cut = last; cut <= log.size(); ++cut) {
      const uint64_t in_payload = cut - last;
      if (last_size > 1000 && in_payload > 400 && log.size() - cut > 300 && in_payload % 97) {
        continue;
      }
      ReadAll r = Read(std::string_view(log).substr(0, cut));
      ASSERT_TRUE(r.error.ok()) << "cut " << cut << ": " << r.error.ToString();
      if (cut == log.size()) {
        EXPECT_EQ(r.records, records);
        EXPECT_FALSE(r.tail_dropped);
        continue;
      }
      ASSERT_EQ(r.records.size(), records.size() - 1) << "cut " << cut;
      EXPECT_TRUE(std::equal(r.records.begin(), r.records.end(), records.begin()));
      EXPECT_EQ(r.last_good, last) << "cut " << cut;
      EXPECT_EQ(r.tail_dropped, cut > last) << "cut " << cut;
      EXPECT_EQ(r.dropped, cut - last) << "cut " << cut;
    }
  }
}

TEST(LogTest, FlippedByteInAMiddleRecordIsCorruptionWithItsOffset) {
  std::mt19937_64 rng(5);
  const std::vector<std::string> records = {RandomBytes(rng, 40), RandomBytes(rng, 100),
                                            RandomBytes(rng, 100), RandomBytes(rng, 30)};
  std::vector<uint64_t> offsets;
  const std::string log = Encode(records, &offsets);
  // Every byte of the second and third records, header included, with two different masks.
  for (size_t victim : {size_t{1}, size_t{2}}) {
    const uint64_t begin = offsets[victim];
    const uint64_t end = offsets[victim + 1];
    for (uint64_t pos = begin; pos < end; ++pos) {
      for (uint8_t mask : {uint8_t{0xFF}, uint8_t{0x01}, uint8_t{0x80}}) {
        std::string damaged = log;
        damaged[pos] = static_cast<char>(damaged[pos] ^ mask);
        ReadAll r = Read(damaged);
        ASSERT_FALSE(r.error.ok()) << "byte " << pos << " mask " << int(mask);
        EXPECT_EQ(r.error.code(), StatusCode::kCorruption);
        const std::string expect = "WAL corruption at offset " + std::to_string(begin) + ":";
        EXPECT_EQ(r.error.message().rfind(expect, 0), 0u)
            << "byte " << pos << ": " << r.error.ToString();
        EXPECT_EQ(r.records.size(), victim) << "byte " << pos;
        EXPECT_FALSE(r.tail_dropped);
      }
    }
  }
}

TEST(LogTest, ErrorsAreSticky) {
  const std::string log = Encode({"a", "b", "c"}, nullptr);
  std::string damaged = log;
  damaged[log::kHeaderSize + 1 + log::kHeaderSize] ^= 1;  // payload of "b"
  LogReader reader{std::string_view(damaged)};
  std::string payload;
  auto r = reader.ReadRecord(&payload);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(payload, "a");
  for (int i = 0; i < 3; ++i) {
    auto again = reader.ReadRecord(&payload);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.status().code(), StatusCode::kCorruption);
  }
  EXPECT_EQ(reader.last_good_offset(), log::kHeaderSize + 1);
}

// The final record's checksum failing looks exactly like a torn write of its payload.
TEST(LogTest, FlippedByteInTheLastRecordIsATornTail) {
  std::mt19937_64 rng(6);
  const std::vector<std::string> records = {RandomBytes(rng, 50), RandomBytes(rng, 80)};
  std::vector<uint64_t> offsets;
  const std::string log = Encode(records, &offsets);
  const uint64_t last = offsets[1];
  for (uint64_t pos = last; pos < log.size(); ++pos) {
    const bool length_byte = pos >= last + 4 && pos < last + 8;
    std::string damaged = log;
    damaged[pos] = static_cast<char>(damaged[pos] ^ 0xFF);
    ReadAll r = Read(damaged);
    ASSERT_EQ(r.records.size(), 1u) << "byte " << pos;
    if (length_byte) {
      // A damaged length is told apart: shorter leaves bytes behind the record, longer
      // leaves a payload whose checksum matches right up to the end of the file.
      EXPECT_EQ(r.error.code(), StatusCode::kCorruption) << "byte " << pos;
      continue;
    }
    ASSERT_TRUE(r.error.ok()) << "byte " << pos << ": " << r.error.ToString();
    EXPECT_TRUE(r.tail_dropped);
    EXPECT_EQ(r.last_good, last);
    EXPECT_EQ(r.dropped, log.size() - last);
  }
}

TEST(LogTest, ZeroTailIsATornTail) {
  const std::vector<std::string> records = {"alpha", "beta"};
  const std::string log = Encode(records, nullptr);
  for (size_t zeros : {1, 5, 8, 9, 10, 100, 4096, 1 << 20}) {
    ReadAll r = Read(log + std::string(zeros, '\0'));
    ASSERT_TRUE(r.error.ok()) << zeros << ": " << r.error.ToString();
    EXPECT_EQ(r.records, records);
    EXPECT_TRUE(r.tail_dropped);
    EXPECT_EQ(r.last_good, log.size());
    EXPECT_EQ(r.dropped, zeros);
  }
  // A whole file of zeros (pre-allocated, nothing written).
  ReadAll r = Read(std::string(8192, '\0'));
  EXPECT_TRUE(r.error.ok());
  EXPECT_TRUE(r.records.empty());
  EXPECT_TRUE(r.tail_dropped);
  EXPECT_EQ(r.dropped, 8192u);
}

TEST(LogTest, TornRecordFollowedByZerosIsATornTail) {
  // The file was pre-extended with zeros and the last record only partly reached the disk.
  const std::string log = Encode({"keep", std::string(1000, 'p')}, nullptr);
  const uint64_t last = log::kHeaderSize + 4;
  for (uint64_t written : {uint64_t{3}, uint64_t{9}, uint64_t{500}, uint64_t{1008}}) {
    std::string damaged = log.substr(0, last + written) + std::string(4096, '\0');
    ReadAll r = Read(damaged);
    ASSERT_TRUE(r.error.ok()) << written << ": " << r.error.ToString();
    EXPECT_EQ(r.records, std::vector<std::string>{"keep"});
    EXPECT_TRUE(r.tail_dropped);
    EXPECT_EQ(r.last_good, last);
  }
}

TEST(LogTest, GarbageHeaders) {
  const std::string log = Encode({"alpha", "beta"}, nullptr);
  // Garbage whose length runs past the end, at the very end: indistinguishable from a torn
  // header, so dropped.
  ReadAll r = Read(log + std::string(20, '\x03'));
  EXPECT_TRUE(r.error.ok()) << r.error.ToString();
  EXPECT_TRUE(r.tail_dropped);
  EXPECT_EQ(r.last_good, log.size());
  // The same garbage in front of a valid record is damage, not a torn tail.
  const std::string tail = Encode({"gamma"}, nullptr);
  r = Read(log + std::string(20, '\x03') + tail);
  EXPECT_EQ(r.error.code(), StatusCode::kCorruption) << r.error.ToString();
  EXPECT_EQ(r.error.message().rfind("WAL corruption at offset " + std::to_string(log.size()), 0),
            0u) << r.error.ToString();
  EXPECT_NE(r.error.message().find("valid record at offset " + std::to_string(log.size() + 20)),
            std::string::npos) << r.error.ToString();
  // A length over the limit followed by more bytes is damage even at the end.
  r = Read(log + std::string(20, '\x7f'));
  EXPECT_EQ(r.error.code(), StatusCode::kCorruption) << r.error.ToString();
}

TEST(LogTest, OversizedLengthFollowedByDataIsCorruption) {
  std::string log = Encode({"a", "b"}, nullptr);
  log[4 + 3] = 0x7f;  // first record's length high byte: > 1 GiB
  ReadAll r = Read(log);
  EXPECT_EQ(r.error.code(), StatusCode::kCorruption);
  EXPECT_NE(r.error.message().find("exceeds the limit"), std::string::npos)
      << r.error.ToString();
  // As the only, final header, the same is a torn tail.
  std::string alone = Encode({""}, nullptr);
  alone[7] = 0x7f;
  r = Read(alone);
  EXPECT_TRUE(r.error.ok());
  EXPECT_TRUE(r.tail_dropped);
}

TEST(LogTest, UnknownTypeWithValidChecksumIsCorruption) {
  // Hand-build a record of type 2 with a correct checksum, then a normal record after it.
  const std::string payload = "future";
  std::string rec(log::kHeaderSize, '\0');
  rec[8] = 2;
  uint32_t crc = Crc32cExtend(0, &rec[8], 1);
  crc = Crc32cExtend(crc, payload.data(), payload.size());
  log::EncodeFixed32(log::MaskCrc(crc), rec.data());
  log::EncodeFixed32(static_cast<uint32_t>(payload.size()), rec.data() + 4);
  rec += payload;
  for (const std::string& log : {rec, rec + Encode({"x"}, nullptr)}) {
    ReadAll r = Read(log);
    EXPECT_EQ(r.error.code(), StatusCode::kCorruption);
    EXPECT_NE(r.error.message().find("unknown record type 2"), std::string::npos)
        << r.error.ToString();
  }
}

TEST(LogTest, DamagedLengthRunningPastTheEndIsCorruption) {
  // The middle record's length grows past the end of the file; the records after it must not
  // be dropped as if they were a torn tail.
  const std::vector<std::string> records = {"one", "two two", "three", "four"};
  std::vector<uint64_t> offsets;
  std::string log = Encode(records, &offsets);
  log[offsets[1] + 6] = 0x01;  // length += 65536
  ReadAll r = Read(log);
  EXPECT_EQ(r.error.code(), StatusCode::kCorruption);
  EXPECT_NE(r.error.message().find("checksum matches its first 7 bytes, followed by a valid "
                                    "record at offset " + std::to_string(offsets[2])),
            std::string::npos)
      << r.error.ToString();
  EXPECT_EQ(r.records.size(), 1u);
}

TEST(LogTest, ReaderRecoversAfterTruncatingTheTornTail) {
  // The recovery protocol: read, truncate to last_good_offset, append, read again.
  ScratchDir dir;
  const std::string path = dir.Child("wal.log");
  Env* env = Env::Default();
  std::string log = Encode({"a", "bb", "ccc"}, nullptr);
  SEXTANT_ASSERT_OK(env->WriteFileAtomically(path, log.substr(0, log.size() - 2)));
  auto contents = env->ReadFile(path);
  ASSERT_TRUE(contents.ok());
  ReadAll r = Read(*contents);
  ASSERT_TRUE(r.tail_dropped);
  SEXTANT_ASSERT_OK(env->TruncateFile(path, r.last_good));
  {
    auto file = env->NewWritableFile(path, true);
    ASSERT_TRUE(file.ok());
    LogWriter writer(file->get());
    SEXTANT_ASSERT_OK(writer.AddRecord("dddd"));
    SEXTANT_ASSERT_OK(writer.Sync());
  }
  contents = env->ReadFile(path);
  ASSERT_TRUE(contents.ok());
  r = Read(*contents);
  EXPECT_TRUE(r.error.ok());
  EXPECT_FALSE(r.tail_dropped);
  EXPECT_EQ(r.records, (std::vector<std::string>{"a", "bb", "dddd"}));
}

TEST(LogTest, RandomDamageNeverCrashesAndNeverInventsRecords) {
  // Random truncations and byte flips: every record returned is one that was written, in
  // order, and the reader ends with kEof or Corruption.
  std::mt19937_64 rng(99);
  std::vector<std::string> records;
  for (int i = 0; i < 30; ++i) records.push_back(RandomBytes(rng, rng() % 200));
  const std::string log = Encode(records, nullptr);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string damaged = log.substr(0, rng() % (log.size() + 1));
    const int flips = static_cast<int>(rng() % 3);
    for (int f = 0; f < flips && !damaged.empty(); ++f) {
      damaged[rng() % damaged.size()] ^= static_cast<char>(1 + rng() % 255);
    }
    ReadAll r = Read(damaged);
    ASSERT_LE(r.records.size(), records.size());
    for (size_t i = 0; i < r.records.size(); ++i) ASSERT_EQ(r.records[i], records[i]);
    if (r.error.ok()) {
      EXPECT_EQ(r.last_good + r.dropped, damaged.size());
    } else {
      EXPECT_EQ(r.error.code(), StatusCode::kCorruption);
    }
  }
}

}  // namespace
}  // namespace sextant::storage
