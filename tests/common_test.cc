// Tests for src/common: CRC-32C, memory-mapped files, atomic writes, Status/Result.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/crc32c.h"
#include "common/mapped_file.h"
#include "sextant/status.h"

namespace sextant {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------
// CRC-32C

uint32_t CrcOfString(const std::string& s) { return Crc32c(s.data(), s.size()); }

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(CrcOfString(""), 0u);
  EXPECT_EQ(CrcOfString("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32cExtendPortable(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(CrcOfString("a"), 0xC1D04330u);

  // RFC 3720 (iSCSI), appendix B.4.
  std::vector<uint8_t> buf(32, 0x00);
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), 0x8A9136AAu);
  EXPECT_EQ(Crc32cExtendPortable(0, buf.data(), buf.size()), 0x8A9136AAu);
  std::fill(buf.begin(), buf.end(), 0xFF);
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), 0x62A8AB43u);
  EXPECT_EQ(Crc32cExtendPortable(0, buf.data(), buf.size()), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), 0x46DD794Eu);
  EXPECT_EQ(Crc32cExtendPortable(0, buf.data(), buf.size()), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), 0x113FDB5Cu);
  EXPECT_EQ(Crc32cExtendPortable(0, buf.data(), buf.size()), 0x113FDB5Cu);
}

TEST(Crc32cTest, DispatchedMatchesPortableOnManyLengthsAndAlignments) {
  std::mt19937_64 rng(42);
  std::vector<uint8_t> buf(70000);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t offset = 0; offset < 16; ++offset) {
    for (size_t len = 0; len <= 300; ++len) {
      const uint8_t* p = buf.data() + offset;
      ASSERT_EQ(Crc32c(p, len), Crc32cExtendPortable(0, p, len))
          << "offset " << offset << " length " << len;
    }
  }
  for (size_t len : {1023u, 4096u, 4097u, 65536u, 69983u}) {
    for (size_t offset : {0u, 1u, 7u, 13u}) {
      const uint8_t* p = buf.data() + offset;
      ASSERT_EQ(Crc32c(p, len), Crc32cExtendPortable(0, p, len))
          << "offset " << offset << " length " << len;
      // A non-zero starting CRC too.
      ASSERT_EQ(Crc32cExtend(0xDEADBEEF, p, len), Crc32cExtendPortable(0xDEADBEEF, p, len));
    }
  }
}

TEST(Crc32cTest, ExtendIsComposable) {
  const std::string s = "The quick brown fox jumps over the lazy dog, twice over: 0123456789";
  const uint32_t whole = CrcOfString(s);
  EXPECT_EQ(whole, Crc32cExtendPortable(0, s.data(), s.size()));
  for (size_t split = 0; split <= s.size(); ++split) {
    const uint32_t head = Crc32c(s.data(), split);
    EXPECT_EQ(Crc32cExtend(head, s.data() + split, s.size() - split), whole) << split;
    const uint32_t head_p = Crc32cExtendPortable(0, s.data(), split);
    EXPECT_EQ(Crc32cExtendPortable(head_p, s.data() + split, s.size() - split), whole) << split;
  }
  // Extending by nothing changes nothing.
  EXPECT_EQ(Crc32cExtend(whole, s.data(), 0), whole);
}

TEST(Crc32cTest, DetectsSingleBitFlip) {
  std::vector<uint8_t> buf(1000, 0x5A);
  const uint32_t before = Crc32c(buf.data(), buf.size());
  buf[517] ^= 0x08;
  EXPECT_NE(Crc32c(buf.data(), buf.size()), before);
}

// ---------------------------------------------------------------------------------------
// Files

// A fresh directory per test, removed afterwards (tests may run in parallel under ctest).
class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "sextant_common_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr) << std::strerror(errno);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  std::string Path(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  void WriteRaw(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good());
  }

  std::string dir_;
};

TEST_F(FileTest, MappedFileMapsContents) {
  std::string bytes(10000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  const std::string path = Path("data.bin");
  WriteRaw(path, bytes);
  auto file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ((*file)->size(), bytes.size());
  EXPECT_EQ((*file)->path(), path);
  EXPECT_EQ(std::memcmp((*file)->data(), bytes.data(), bytes.size()), 0);
}

TEST_F(FileTest, MappedFileMissingIsNotFound) {
  const std::string path = Path("missing.bin");
  auto file = MappedFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound);
  EXPECT_NE(file.status().message().find(path), std::string::npos) << file.status().ToString();
  EXPECT_NE(file.status().message().find("No such file"), std::string::npos)
      << file.status().ToString();
}

TEST_F(FileTest, MappedFileEmpty) {
  const std::string path = Path("empty.bin");
  WriteRaw(path, "");
  auto file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->data(), nullptr);
  EXPECT_EQ((*file)->size(), 0u);
}

TEST_F(FileTest, MappedFileDirectoryIsIOError) {
  auto file = MappedFile::Open(dir_);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kIOError);
  EXPECT_NE(file.status().message().find(dir_), std::string::npos);
}

TEST_F(FileTest, WriteFileAtomicallyRoundTrip) {
  const std::string path = Path("out.bin");
  const std::string a = "hello, ";
  const std::string b(100000, 'x');
  const std::string c = "!";
  ASSERT_TRUE(
      WriteFileAtomically(
          path, {{a.data(), a.size()}, {nullptr, 0}, {b.data(), b.size()}, {c.data(), c.size()}})
          .ok());
  auto read = ReadFileToString(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, a + b + c);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST_F(FileTest, WriteFileAtomicallyOverwritesAndAllowsEmpty) {
  const std::string path = Path("out.bin");
  const std::string big(5000, 'a');
  ASSERT_TRUE(WriteFileAtomically(path, {{big.data(), big.size()}}).ok());
  const std::string small = "short";
  ASSERT_TRUE(WriteFileAtomically(path, {{small.data(), small.size()}}).ok());
  auto read = ReadFileToString(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, small);

  ASSERT_TRUE(WriteFileAtomically(path, {}).ok());
  read = ReadFileToString(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "");
}

TEST_F(FileTest, WriteFileAtomicallyRelativePath) {
  // A bare file name has "." as its parent directory.
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir_);
  const std::string text = "relative";
  const Status st = WriteFileAtomically("rel.txt", {{text.data(), text.size()}});
  fs::current_path(old_cwd);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto read = ReadFileToString(Path("rel.txt"));
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, text);
}

TEST_F(FileTest, WriteFileAtomicallyFailureNamesPathAndCall) {
  const std::string path = Path("no_such_dir/out.bin");
  const std::string text = "x";
  const Status st = WriteFileAtomically(path, {{text.data(), text.size()}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kIOError);
  EXPECT_NE(st.message().find(path), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("open"), std::string::npos) << st.ToString();

  // Renaming over a directory fails after the data was written: the tmp file must go.
  const std::string dir_target = Path("target_dir");
  fs::create_directory(dir_target);
  fs::create_directory(dir_target + "/child");  // non-empty, so rename(2) cannot replace it
  const Status st2 = WriteFileAtomically(dir_target, {{text.data(), text.size()}});
  ASSERT_FALSE(st2.ok());
  EXPECT_EQ(st2.code(), StatusCode::kIOError);
  EXPECT_NE(st2.message().find("rename"), std::string::npos) << st2.ToString();
  EXPECT_FALSE(fs::exists(dir_target + ".tmp"));
}

TEST_F(FileTest, ReadFileToString) {
  std::string bytes(300000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 13 + 1);
  const std::string path = Path("big.bin");
  WriteRaw(path, bytes);
  auto read = ReadFileToString(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, bytes);

  auto missing = ReadFileToString(Path("missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(Path("missing")), std::string::npos);
}

TEST(ReadFileToStringProcTest, ReadsFilesWithoutAStatSize) {
  // procfs reports size 0; the reader must still read to EOF.
  auto read = ReadFileToString("/proc/self/status");
  if (!read.ok()) GTEST_SKIP() << "/proc not available: " << read.status().ToString();
  EXPECT_NE(read->find("Name:"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Status / Result

TEST(StatusTest, Basics) {
  const Status ok = Status::OK();
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.code(), StatusCode::kOk);
  EXPECT_EQ(ok.ToString(), "ok");

  const Status st = Status::InvalidArgument("query has dimension 12, index has 784");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.ToString(), "invalid_argument: query has dimension 12, index has 784");
  EXPECT_EQ(Status::NotFound("x").ToString(), "not_found: x");
  EXPECT_EQ(Status::IOError("x").ToString(), "io_error: x");
  EXPECT_EQ(Status::Corruption("x").ToString(), "corruption: x");
  EXPECT_STREQ(StatusCodeName(StatusCode::kResourceExhausted), "resource_exhausted");
}

TEST(StatusTest, WithContext) {
  const Status st = Status::Corruption("bad checksum").WithContext("base.fvecs");
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_EQ(st.message(), "base.fvecs: bad checksum");
  EXPECT_TRUE(Status::OK().WithContext("ignored").ok());
  EXPECT_EQ(Status::OK().WithContext("ignored").message(), "");
}

Result<int> ParsePositive(int v) {
  if (v <= 0) return Status::OutOfRange("k must be > 0, got " + std::to_string(v));
  return v;
}

Result<int> DoubleIt(int v) {
  SEXTANT_ASSIGN_OR_RETURN(int parsed, ParsePositive(v));
  return parsed * 2;
}

Status CheckBoth(int a, int b) {
  SEXTANT_RETURN_IF_ERROR(ParsePositive(a).status());
  SEXTANT_RETURN_IF_ERROR(ParsePositive(b).status());
  return Status::OK();
}

TEST(ResultTest, ValueAndError) {
  Result<std::string> r = std::string("abc");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(*r, "abc");
  EXPECT_EQ(r->size(), 3u);
  const std::string moved = std::move(r).value();
  EXPECT_EQ(moved, "abc");

  Result<std::string> e = Status::NotFound("no such collection 'x'");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
}

TEST(ResultTest, Macros) {
  auto good = DoubleIt(21);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  auto bad = DoubleIt(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(bad.status().message(), "k must be > 0, got -1");

  EXPECT_TRUE(CheckBoth(1, 2).ok());
  const Status st = CheckBoth(1, 0);
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(st.message(), "k must be > 0, got 0");
}

}  // namespace
}  // namespace sextant
