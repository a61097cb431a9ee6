// The safetensors reader: well-formed files of every dtype, and every kind of damage (each a
// clear Status naming the file and tensor, never a crash).
#include "embed/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "embed_test_util.h"

namespace sextant::embed {
namespace {

using testing::BytesOf;
using testing::MakeSafetensors;
using testing::RawTensor;

std::string ValidFile() {
  return MakeSafetensors(
      {{"a", "F32", {2, 3}, BytesOf(std::vector<float>{1, 2, 3, 4, 5, -6.5f})},
       {"half", "F16", {4}, BytesOf(std::vector<uint16_t>{0x3C00, 0xC000, 0x3800, 0x0001})},
       {"bf", "BF16", {2}, BytesOf(std::vector<uint16_t>{0x3F80, 0xC0A0})},
       {"q", "I8", {2, 2}, BytesOf(std::vector<int8_t>{-128, 127, 0, -1})},
       {"ids", "I64", {3}, BytesOf(std::vector<int64_t>{0, 5, 1LL << 40})},
       {"empty", "F32", {0, 7}, ""}},
      {{"format", "pt"}});
}

TEST(SafeTensors, ReadsEveryDtype) {
  const std::string bytes = ValidFile();
  auto st = SafeTensors::Parse(bytes, "mem.safetensors");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->tensors().size(), 6u);
  EXPECT_EQ(st->metadata().at("format"), "pt");
  const TensorInfo* a = st->Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(a->elements, 6u);
  EXPECT_EQ(*st->ToFloat("a"), (std::vector<float>{1, 2, 3, 4, 5, -6.5f}));
  const std::vector<float> half = *st->ToFloat("half");
  EXPECT_EQ(half[0], 1.0f);
  EXPECT_EQ(half[1], -2.0f);
  EXPECT_EQ(half[2], 0.5f);
  EXPECT_EQ(half[3], std::ldexp(1.0f, -24));  // the smallest subnormal
  EXPECT_EQ(*st->ToFloat("bf"), (std::vector<float>{1.0f, -5.0f}));
  EXPECT_EQ(*st->ToFloat("q"), (std::vector<float>{-128, 127, 0, -1}));
  EXPECT_EQ(*st->ToInt64("ids"), (std::vector<int64_t>{0, 5, 1LL << 40}));
  EXPECT_EQ(st->ToFloat("empty")->size(), 0u);
  EXPECT_EQ(st->Bytes(*st->Find("q")).size(), 4u);
  // Integer conversion of a float tensor, and a missing tensor, name what they are.
  auto bad = st->ToInt64("a");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tensor 'a' has dtype F32"), std::string::npos);
  auto missing = st->ToFloat("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("mem.safetensors: no tensor 'nope' (it has: a, "), std::string::npos)
      << missing.status().message();
}

TEST(SafeTensors, HalfToFloatAllValues) {
  // Every half value against a slow twin: sign * 2^(e-15) * (1 + m/1024), subnormals, Inf, NaN.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const int sign = (h & 0x8000) ? -1 : 1;
    const int e = (h >> 10) & 0x1f;
    const int m = h & 0x3ff;
    const float got = HalfToFloat(static_cast<uint16_t>(h));
    if (e == 31) {
      if (m == 0) {
        EXPECT_EQ(got, sign * std::numeric_limits<float>::infinity());
      } else {
        EXPECT_TRUE(std::isnan(got)) << h;
      }
      continue;
    }
    const double want = e == 0 ? sign * std::ldexp(m, -24) : sign * std::ldexp(1024 + m, e - 25);
    ASSERT_EQ(static_cast<double>(got), want) << "half 0x" << std::hex << h;
    ASSERT_EQ(std::signbit(got), sign < 0) << h;
  }
}

TEST(SafeTensors, OpensFilesAndNamesThem) {
  const std::string path = ::testing::TempDir() + "/sextant_st_test.safetensors";
  testing::WriteFile(path, ValidFile());
  auto st = SafeTensors::Open(path);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->source(), path);
  EXPECT_EQ(st->ToFloat("a")->at(5), -6.5f);
  std::filesystem::remove(path);
  auto gone = SafeTensors::Open(path);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
}

TEST(SafeTensors, ReadsTheBuiltInModelFile) {
  auto st = SafeTensors::Open(testing::PotionDir() + "/model.safetensors");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  const TensorInfo* e = st->Find("embeddings");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dtype, DType::kI8);
  EXPECT_EQ(e->shape, (std::vector<uint64_t>{29528, 128}));
}

// A file with `header` as its JSON header and `data_bytes` bytes of data.
std::string WithHeader(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(data_bytes, '\x01');
}

void ExpectBad(const std::string& bytes, StatusCode code, const std::string& words) {
  auto st = SafeTensors::Parse(bytes, "bad.safetensors");
  ASSERT_FALSE(st.ok()) << "accepted: " << words;
  EXPECT_EQ(st.status().code(), code) << st.status().ToString();
  EXPECT_NE(st.status().message().find("bad.safetensors: "), std::string::npos) << st.status().message();
  EXPECT_NE(st.status().message().find(words), std::string::npos) << st.status().message();
}

TEST(SafeTensors, DamagedHeadersAreClearErrors) {
  const StatusCode kC = StatusCode::kCorruption;
  ExpectBad("", kC, "shorter than the 8-byte header length");
  ExpectBad(std::string("\x05\0\0\0", 4), kC, "shorter than the 8-byte header length");
  {
    std::string huge(8, '\xff');
    ExpectBad(huge + "{}", kC, "exceeds the limit");
    std::string past(8, '\0');
    past[0] = 100;
    ExpectBad(past + "{}", kC, "runs past the end of the file");
  }
  ExpectBad(WithHeader("[1,2]", 0), kC, "not a JSON object");
  ExpectBad(WithHeader("{\"a\":", 0), kC, "malformed JSON");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
            kC, "duplicate key 'a'");
  ExpectBad(WithHeader(R"({"a":[1]})", 0), kC, "tensor 'a' is not an object");
  ExpectBad(WithHeader(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4), kC, "tensor 'a' has no string dtype");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16), StatusCode::kInvalidArgument,
            "tensor 'a' has an unknown dtype 'F128'");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), kC, "not a non-negative integer");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4), kC, "not a non-negative integer");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,4]}})", 4), kC, "has no shape array");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", 4), kC,
            "shape overflows");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[1]}})", 4), kC, "has no data_offsets");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", 4), kC, "has no data_offsets");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4), kC, "is after end");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4), kC, "runs past the data (4 bytes)");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4), kC,
            "tensor 'a': 4 bytes of data, but dtype F32 and its shape need 8");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
            kC, "overlaps");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), kC, "bytes 0-4 of the data belong to no tensor");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 6), kC,
            "2 bytes after the last tensor belong to no tensor");
  ExpectBad(WithHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}})", 4), kC, "unknown field 'extra'");
  ExpectBad(WithHeader(R"({"__metadata__":{"k":1}})", 0), kC, "__metadata__ value 'k' is not a string");
  ExpectBad(WithHeader(R"({"__metadata__":[]})", 0), kC, "__metadata__ is not an object");
  // A dtype Sextant reads for layout but cannot turn into floats.
  const std::string b = MakeSafetensors({{"flags", "BOOL", {2}, std::string("\x01\x00", 2)}});
  auto st = SafeTensors::Parse(b, "b.safetensors");
  ASSERT_TRUE(st.ok());
  auto f = st->ToFloat("flags");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(f.status().message().find("tensor 'flags' has dtype BOOL"), std::string::npos);
}

TEST(SafeTensors, EveryTruncationAndByteFlipIsHandled) {
  const std::string good = ValidFile();
  for (size_t n = 0; n < good.size(); ++n) {
    auto st = SafeTensors::Parse(std::string_view(good).substr(0, n), "cut");
    EXPECT_FALSE(st.ok()) << "accepted a file cut at " << n;
  }
  // Flipped bytes in the length and header: parse (or not) without crashing; whatever parses
  // converts without reading out of bounds (ASan checks the reads).
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t x : {0x01, 0x20, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ x);
      auto st = SafeTensors::Parse(bad, "flip");
      if (!st.ok()) continue;
      for (const TensorInfo& t : st->tensors()) {
        std::vector<float> out(t.elements);
        (void)st->ToFloat(t, out.data());
      }
    }
  }
}

}  // namespace
}  // namespace sextant::embed
