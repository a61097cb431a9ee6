// Tests for src/dataset/vector_file: every reader format, every malformed-file error, writers,
// CheckFinite, GenerateClustered, and (when present) the shared Fashion-MNIST files.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dataset/vector_file.h"

#ifndef SEXTANT_SHARED_DATA
#define SEXTANT_SHARED_DATA "../shared/data"
#endif

namespace sextant::dataset {
namespace {

namespace fs = std::filesystem;

// Raw little-endian bytes of `values`.
template <typename T>
std::string Bytes(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// One TEXMEX row: the declared dimension, then the values (which may disagree with it).
template <typename T>
std::string TexmexRow(int32_t declared_dim, const std::vector<T>& values) {
  return Bytes(std::vector<int32_t>{declared_dim}) + Bytes(values);
}

// A .npy file as numpy writes it: magic, version, header length, the dict padded with spaces
// and ending in '\n' so the data starts on a 64-byte boundary, then the data.
std::string Npy(const std::string& dict, const std::string& data, int major = 1, int minor = 0) {
  const size_t preamble = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += static_cast<char>(minor);
  if (major == 1) {
    out += Bytes(std::vector<uint16_t>{static_cast<uint16_t>(header.size())});
  } else {
    out += Bytes(std::vector<uint32_t>{static_cast<uint32_t>(header.size())});
  }
  return out + header + data;
}

std::string NpyDict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

class VectorFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "sextant_dataset_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr) << std::strerror(errno);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  // Writes `bytes` to a file called `name` in the test directory; returns its path.
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string path = (fs::path(dir_) / name).string();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(out.good()) << path;
    return path;
  }

  // Expects reading `path` as vectors to fail with InvalidArgument and a message that starts
  // with the path and contains every word in `words`.
  void ExpectVectorsError(const std::string& path, const std::vector<std::string>& words) {
    auto r = ReadVectors(path);
    ASSERT_FALSE(r.ok()) << path << " read without error";
    ExpectMessage(r.status(), path, words);
  }
  void ExpectIdsError(const std::string& path, const std::vector<std::string>& words) {
    auto r = ReadIds(path);
    ASSERT_FALSE(r.ok()) << path << " read without error";
    ExpectMessage(r.status(), path, words);
  }
  static void ExpectMessage(const Status& st, const std::string& path,
                            const std::vector<std::string>& words) {
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_EQ(st.message().rfind(path, 0), 0u)
        << "message should start with the path: " << st.ToString();
    for (const std::string& w : words) {
      EXPECT_NE(st.message().find(w), std::string::npos)
          << "expected '" << w << "' in: " << st.ToString();
    }
  }

  std::string dir_;
};

// ---------------------------------------------------------------------------------------
// Round trips

TEST_F(VectorFileTest, FvecsRoundTrip) {
  FloatMatrix m;
  m.rows = 5;
  m.dim = 3;
  for (int i = 0; i < 15; ++i) m.data.push_back(0.5f * static_cast<float>(i) - 3.25f);
  const std::string path = (fs::path(dir_) / "a.fvecs").string();
  ASSERT_TRUE(WriteFvecs(path, m).ok());
  EXPECT_EQ(fs::file_size(path), 5u * (4 + 3 * 4));

  auto r = ReadVectors(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 5u);
  EXPECT_EQ(r->dim, 3u);
  EXPECT_EQ(r->source_type, ElementType::kFloat32);
  EXPECT_EQ(r->data, m.data);
  EXPECT_EQ(r->row(2)[1], m.data[7]);
}

TEST_F(VectorFileTest, FvecsHandWritten) {
  const std::string path =
      Write("h.fvecs", TexmexRow<float>(2, {1.5f, -2.0f}) + TexmexRow<float>(2, {3.0f, 4.25f}));
  auto r = ReadVectors(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 2u);
  EXPECT_EQ(r->dim, 2u);
  EXPECT_EQ(r->data, (std::vector<float>{1.5f, -2.0f, 3.0f, 4.25f}));
}

TEST_F(VectorFileTest, BvecsHandWritten) {
  std::string bytes;
  std::vector<float> expected;
  for (int r = 0; r < 4; ++r) {
    std::vector<uint8_t> row;
    for (int j = 0; j < 7; ++j) {
      row.push_back(static_cast<uint8_t>((r * 7 + j) * 9));  // covers 0..243
      expected.push_back(static_cast<float>(row.back()));
    }
    bytes += TexmexRow(7, row);
  }
  bytes += TexmexRow<uint8_t>(7, {255, 0, 1, 128, 127, 254, 2});
  for (float v : {255.f, 0.f, 1.f, 128.f, 127.f, 254.f, 2.f}) expected.push_back(v);
  const std::string path = Write("b.bvecs", bytes);
  auto r = ReadVectors(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 5u);
  EXPECT_EQ(r->dim, 7u);
  EXPECT_EQ(r->source_type, ElementType::kUint8);
  EXPECT_EQ(r->data, expected);
}

TEST_F(VectorFileTest, IvecsRoundTripAndHandWritten) {
  IdMatrix m;
  m.rows = 3;
  m.dim = 4;
  m.data = {0, 1, 2, 3, -1, 2147483647, -2147483647 - 1, 7, 100, 200, 300, 400};
  const std::string path = (fs::path(dir_) / "gt.ivecs").string();
  ASSERT_TRUE(WriteIvecs(path, m).ok());
  auto r = ReadIds(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 3u);
  EXPECT_EQ(r->dim, 4u);
  EXPECT_EQ(r->data, m.data);
  EXPECT_EQ(r->row(1)[1], 2147483647);

  const std::string hand =
      Write("hand.ivecs", TexmexRow<int32_t>(1, {42}) + TexmexRow<int32_t>(1, {-5}));
  auto h = ReadIds(hand);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->data, (std::vector<int32_t>{42, -5}));
}

TEST_F(VectorFileTest, ExtensionIsCaseInsensitive) {
  const std::string path = Write("UPPER.FVECS", TexmexRow<float>(1, {1.0f}));
  auto r = ReadVectors(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 1u);
}

TEST_F(VectorFileTest, NpyFloat32) {
  const std::vector<float> values = {1, 2, 3, 4, 5, 6.5f};
  const std::string path = Write("f32.npy", Npy(NpyDict("<f4", "(2, 3)"), Bytes(values)));
  auto r = ReadVectors(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 2u);
  EXPECT_EQ(r->dim, 3u);
  EXPECT_EQ(r->source_type, ElementType::kFloat32);
  EXPECT_EQ(r->data, values);
}

TEST_F(VectorFileTest, NpyFloat64) {
  const std::vector<double> values = {0.1, -2.5, 1e30, 3.0};
  const std::string path = Write("f64.npy", Npy(NpyDict("<f8", "(2, 2)"), Bytes(values)));
  auto r = ReadVectors(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source_type, ElementType::kFloat64);
  ASSERT_EQ(r->data.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(r->data[i], static_cast<float>(values[i]));
}

TEST_F(VectorFileTest, NpyFloat64BeyondFloatRangeBecomesInf) {
  const std::vector<double> values = {1e300, -1e300};
  const std::string path = Write("big.npy", Npy(NpyDict("<f8", "(1, 2)"), Bytes(values)));
  auto r = ReadVectors(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(std::isinf(r->data[0]) && r->data[0] > 0);
  EXPECT_TRUE(std::isinf(r->data[1]) && r->data[1] < 0);
  EXPECT_FALSE(CheckFinite(*r, "big").ok());
}

TEST_F(VectorFileTest, NpyUint8AndInt8AndInt32) {
  const std::vector<uint8_t> u8 = {0, 255, 7, 128};
  auto r = ReadVectors(Write("u8.npy", Npy(NpyDict("|u1", "(2, 2)"), Bytes(u8))));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source_type, ElementType::kUint8);
  EXPECT_EQ(r->data, (std::vector<float>{0, 255, 7, 128}));

  const std::vector<int8_t> i8 = {-128, 127, 0, -1};
  r = ReadVectors(Write("i8.npy", Npy(NpyDict("|i1", "(1, 4)"), Bytes(i8))));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source_type, ElementType::kInt8);
  EXPECT_EQ(r->data, (std::vector<float>{-128, 127, 0, -1}));

  const std::vector<int32_t> i32 = {-70000, 5, 123456};
  r = ReadVectors(Write("i32.npy", Npy(NpyDict("<i4", "(3, 1)"), Bytes(i32))));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source_type, ElementType::kInt32);
  EXPECT_EQ(r->rows, 3u);
  EXPECT_EQ(r->data, (std::vector<float>{-70000, 5, 123456}));
}

TEST_F(VectorFileTest, NpyInt64AsIdsAndVectors) {
  const std::vector<int64_t> ids = {0, 1, 59999, -1, 2147483647, -2147483648LL};
  const std::string path = Write("ids.npy", Npy(NpyDict("<i8", "(2, 3)"), Bytes(ids)));
  auto r = ReadIds(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 2u);
  EXPECT_EQ(r->dim, 3u);
  EXPECT_EQ(r->data, (std::vector<int32_t>{0, 1, 59999, -1, 2147483647, -2147483647 - 1}));

  auto v = ReadVectors(path);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->source_type, ElementType::kInt64);
  EXPECT_EQ(v->data[2], 59999.0f);
}

TEST_F(VectorFileTest, NpyInt32Ids) {
  const std::vector<int32_t> ids = {3, 1, 4, 1, 5, 9};
  auto r = ReadIds(Write("ids32.npy", Npy(NpyDict("<i4", "(3, 2)"), Bytes(ids))));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 3u);
  EXPECT_EQ(r->dim, 2u);
  EXPECT_EQ(r->data, ids);
}

TEST_F(VectorFileTest, NpyVersion2And3Headers) {
  const std::vector<float> values = {1, 2, 3, 4};
  for (int major : {2, 3}) {
    const std::string path = Write(std::to_string(major) + "_version.npy",
                                   Npy(NpyDict("<f4", "(2, 2)"), Bytes(values), major));
    auto r = ReadVectors(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->rows, 2u);
    EXPECT_EQ(r->data, values);
  }
}

TEST_F(VectorFileTest, NpyHeaderVariants) {
  // Keys in another order, double quotes, no trailing comma, Python 2 long suffixes, and a
  // header that is not padded to 64 bytes.
  const std::vector<float> values = {1, 2};
  const std::string dict = "{\"shape\": (1L, 2L), \"fortran_order\": False, \"descr\": \"<f4\"}";
  auto r = ReadVectors(Write("variant.npy", Npy(dict, Bytes(values))));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->dim, 2u);

  std::string raw = "\x93NUMPY";
  raw += '\x01';
  raw += '\x00';
  const std::string header = "{'descr':'<f4','fortran_order':False,'shape':(1,2)}";
  raw += Bytes(std::vector<uint16_t>{static_cast<uint16_t>(header.size())});
  raw += header + Bytes(values);
  r = ReadVectors(Write("unpadded.npy", raw));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, values);
}

TEST_F(VectorFileTest, MaxRows) {
  FloatMatrix m;
  m.rows = 10;
  m.dim = 2;
  for (int i = 0; i < 20; ++i) m.data.push_back(static_cast<float>(i));
  const std::string fvecs = (fs::path(dir_) / "m.fvecs").string();
  ASSERT_TRUE(WriteFvecs(fvecs, m).ok());
  const std::string npy = Write("m.npy", Npy(NpyDict("<f4", "(10, 2)"), Bytes(m.data)));
  std::string bvecs_bytes;
  for (int i = 0; i < 10; ++i) {
    bvecs_bytes +=
        TexmexRow<uint8_t>(2, {static_cast<uint8_t>(2 * i), static_cast<uint8_t>(2 * i + 1)});
  }
  const std::string bvecs = Write("m.bvecs", bvecs_bytes);

  for (const std::string& path : {fvecs, npy, bvecs}) {
    auto r = ReadVectors(path, 3);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->rows, 3u) << path;
    EXPECT_EQ(r->data, (std::vector<float>{0, 1, 2, 3, 4, 5})) << path;
    r = ReadVectors(path, 1000);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->rows, 10u) << path;
    EXPECT_EQ(r->data, m.data);
    EXPECT_FALSE(ReadVectors(path, 0).ok());
  }

  IdMatrix ids;
  ids.rows = 4;
  ids.dim = 1;
  ids.data = {9, 8, 7, 6};
  const std::string ivecs = (fs::path(dir_) / "m.ivecs").string();
  ASSERT_TRUE(WriteIvecs(ivecs, ids).ok());
  const std::string ids_npy =
      Write("mi.npy", Npy(NpyDict("<i8", "(4, 1)"), Bytes(std::vector<int64_t>{9, 8, 7, 6})));
  for (const std::string& path : {ivecs, ids_npy}) {
    auto r = ReadIds(path, 2);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->rows, 2u);
    EXPECT_EQ(r->data, (std::vector<int32_t>{9, 8}));
  }
}

TEST_F(VectorFileTest, MaxRowsStopsBeforeABadTail) {
  // Only the rows read are validated, so a prefix of a damaged file is still readable.
  const std::string path = Write(
      "tail.fvecs", TexmexRow<float>(1, {1}) + TexmexRow<float>(1, {2}) + TexmexRow<float>(5, {3}));
  auto r = ReadVectors(path, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, (std::vector<float>{1, 2}));
  ExpectVectorsError(path, {"row 2 has dimension 5, expected 1"});
}

TEST_F(VectorFileTest, ReadersKeepNanAndInf) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto r = ReadVectors(Write("nan.fvecs", TexmexRow<float>(3, {1, nan, -inf})));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(std::isnan(r->data[1]));
  EXPECT_EQ(r->data[2], -inf);
  r = ReadVectors(
      Write("nan.npy", Npy(NpyDict("<f8", "(1, 2)"), Bytes(std::vector<double>{NAN, INFINITY}))));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(std::isnan(r->data[0]));
  EXPECT_EQ(r->data[1], inf);
}

// ---------------------------------------------------------------------------------------
// Malformed files: TEXMEX and general

TEST_F(VectorFileTest, UnknownExtension) {
  ExpectVectorsError(Write("data.txt", "hello"),
                     {"unknown extension '.txt'", "expected .fvecs, .bvecs, .ivecs or .npy"});
  ExpectIdsError(Write("data.csv", "hello"), {"expected .fvecs, .bvecs, .ivecs or .npy"});
  ExpectVectorsError(Write("noext", "hello"), {"no extension"});
  // A dot in a directory name is not an extension.
  fs::create_directory(fs::path(dir_) / "d.fvecs");
  ExpectVectorsError(Write("d.fvecs/plain", "x"), {"no extension"});
}

TEST_F(VectorFileTest, WrongKindOfFile) {
  ExpectVectorsError(Write("ids.ivecs", TexmexRow<int32_t>(1, {1})), {".ivecs", "ReadIds"});
  ExpectIdsError(Write("v.fvecs", TexmexRow<float>(1, {1})), {".ivecs or .npy"});
  ExpectIdsError(Write("v.bvecs", TexmexRow<uint8_t>(1, {1})), {".ivecs or .npy"});
}

TEST_F(VectorFileTest, MissingFileIsNotFound) {
  const std::string path = (fs::path(dir_) / "missing.fvecs").string();
  auto r = ReadVectors(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message().rfind(path, 0), 0u) << r.status().ToString();
  auto ids = ReadIds((fs::path(dir_) / "missing.npy").string());
  EXPECT_EQ(ids.status().code(), StatusCode::kNotFound);
}

TEST_F(VectorFileTest, EmptyFile) {
  for (const char* name : {"e.fvecs", "e.bvecs", "e.npy"}) {
    ExpectVectorsError(Write(name, ""), {"file is empty"});
  }
  ExpectIdsError(Write("e.ivecs", ""), {"file is empty"});
}

TEST_F(VectorFileTest, InconsistentDimension) {
  std::string bytes;
  const std::vector<float> row(784, 0.5f);
  for (int r = 0; r < 17; ++r) bytes += TexmexRow(784, row);
  bytes += TexmexRow(12, std::vector<float>(12, 1.0f));
  bytes += TexmexRow(784, row);
  ExpectVectorsError(Write("mixed.fvecs", bytes), {"row 17 has dimension 12, expected 784"});

  ExpectIdsError(
      Write("mixed.ivecs", TexmexRow<int32_t>(2, {1, 2}) + TexmexRow<int32_t>(3, {1, 2, 3})),
      {"row 1 has dimension 3, expected 2"});
  ExpectVectorsError(
      Write("mixed.bvecs", TexmexRow<uint8_t>(2, {1, 2}) + TexmexRow<uint8_t>(1, {1})),
      {"row 1 has dimension 1, expected 2"});
}

TEST_F(VectorFileTest, TruncatedFinalRow) {
  const std::string full = TexmexRow<float>(4, {1, 2, 3, 4});
  const std::string bytes = full + full + TexmexRow<float>(4, {1, 2});  // 8 of 16 value bytes
  ExpectVectorsError(Write("trunc.fvecs", bytes), {"truncated", "row 2", "8 bytes", "16"});
  // Cut inside the dimension field of the last row.
  ExpectVectorsError(Write("trunc2.fvecs", full + std::string(2, '\x04')), {"truncated", "row 1"});
  ExpectVectorsError(Write("tiny.bvecs", std::string(3, '\x01')), {"truncated"});
  ExpectIdsError(Write("trunc.ivecs", TexmexRow<int32_t>(3, {1, 2})), {"truncated", "row 0"});
}

TEST_F(VectorFileTest, BadDimension) {
  ExpectVectorsError(Write("zero.fvecs", TexmexRow<float>(0, {})), {"dimension 0"});
  ExpectVectorsError(Write("neg.fvecs", TexmexRow<float>(-3, {1, 2, 3})), {"dimension -3"});
  const int32_t huge = static_cast<int32_t>(kMaxFileDim) + 1;
  ExpectVectorsError(Write("huge.bvecs", TexmexRow<uint8_t>(huge, {1})),
                     {"dimension " + std::to_string(huge), std::to_string(kMaxFileDim)});
  ExpectIdsError(Write("zero.ivecs", TexmexRow<int32_t>(0, {})), {"dimension 0"});
}

// ---------------------------------------------------------------------------------------
// Malformed files: .npy

TEST_F(VectorFileTest, NpyBadMagic) {
  ExpectVectorsError(Write("magic.npy", "PK\x03\x04 this is a zip file, not an array"),
                     {"bad magic", "not a .npy file"});
  ExpectVectorsError(Write("short.npy", "\x93NUM"), {"bad magic"});
}

TEST_F(VectorFileTest, NpyUnsupportedVersion) {
  std::string bytes = Npy(NpyDict("<f4", "(1, 1)"), Bytes(std::vector<float>{1}));
  bytes[6] = 4;
  bytes[7] = 1;
  ExpectVectorsError(Write("v4.npy", bytes), {"unsupported .npy version 4.1"});
}

TEST_F(VectorFileTest, NpyTruncatedPreambleOrHeader) {
  ExpectVectorsError(Write("pre.npy", std::string("\x93NUMPY\x01", 7)), {"truncated"});
  ExpectVectorsError(Write("pre2.npy", std::string("\x93NUMPY\x01\x00\x10", 9)), {"truncated"});
  std::string bytes = Npy(NpyDict("<f4", "(1, 1)"), "");
  ExpectVectorsError(Write("hdr.npy", bytes.substr(0, 40)), {"truncated .npy header"});
}

TEST_F(VectorFileTest, NpyFortranOrder) {
  ExpectVectorsError(
      Write("f.npy", Npy(NpyDict("<f4", "(2, 2)", true), Bytes(std::vector<float>(4, 1)))),
      {"Fortran", "fortran_order True", "C order"});
}

TEST_F(VectorFileTest, NpyNot2D) {
  ExpectVectorsError(Write("1d.npy", Npy(NpyDict("<f4", "(4,)"), Bytes(std::vector<float>(4)))),
                     {"1-D", "shape (4,)", "expected a 2-D array"});
  ExpectVectorsError(
      Write("3d.npy", Npy(NpyDict("<f4", "(2, 2, 2)"), Bytes(std::vector<float>(8)))),
      {"3-D", "shape (2, 2, 2)", "2-D"});
  ExpectVectorsError(Write("0d.npy", Npy(NpyDict("<f4", "()"), Bytes(std::vector<float>(1)))),
                     {"0-D", "2-D"});
}

TEST_F(VectorFileTest, NpyZeroRowsOrBadDim) {
  ExpectVectorsError(Write("rows0.npy", Npy(NpyDict("<f4", "(0, 3)"), "")), {"zero rows"});
  ExpectVectorsError(Write("dim0.npy", Npy(NpyDict("<f4", "(3, 0)"), "")), {"dimension 0"});
  ExpectVectorsError(Write("dimbig.npy", Npy(NpyDict("|u1", "(1, 2000000)"), "")),
                     {"dimension 2000000"});
}

TEST_F(VectorFileTest, NpyUnsupportedDtype) {
  const std::string data = Bytes(std::vector<uint16_t>{1, 2});
  ExpectVectorsError(Write("f2.npy", Npy(NpyDict("<f2", "(1, 2)"), data)),
                     {"unsupported dtype '<f2'"});
  ExpectVectorsError(Write("u2.npy", Npy(NpyDict("<u2", "(1, 2)"), data)),
                     {"unsupported dtype '<u2'"});
  ExpectVectorsError(Write("str.npy", Npy(NpyDict("<U1", "(1, 1)"), std::string(4, 'a'))),
                     {"unsupported dtype '<U1'"});
  ExpectVectorsError(Write("be.npy", Npy(NpyDict(">f4", "(1, 1)"), Bytes(std::vector<float>{1}))),
                     {"unsupported dtype '>f4'", "big-endian"});
  ExpectVectorsError(
      Write("rec.npy", Npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 1), }",
                           Bytes(std::vector<float>{1}))),
      {"structured"});
  // Big-endian marker on a one-byte type is harmless.
  auto r = ReadVectors(
      Write("be_u1.npy", Npy(NpyDict(">u1", "(1, 2)"), Bytes(std::vector<uint8_t>{3, 4}))));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, (std::vector<float>{3, 4}));
}

TEST_F(VectorFileTest, NpyIdsNeedIntegerDtype) {
  ExpectIdsError(Write("fid.npy", Npy(NpyDict("<f4", "(1, 1)"), Bytes(std::vector<float>{1}))),
                 {"unsupported dtype '<f4'", "float32", "for ids"});
  ExpectIdsError(Write("uid.npy", Npy(NpyDict("|u1", "(1, 1)"), Bytes(std::vector<uint8_t>{1}))),
                 {"unsupported dtype '|u1'", "for ids"});
}

TEST_F(VectorFileTest, NpyInt64IdsOutsideInt32Range) {
  ExpectIdsError(Write("big.npy", Npy(NpyDict("<i8", "(2, 2)"),
                                      Bytes(std::vector<int64_t>{1, 2, 3, 1LL << 31}))),
                 {"row 1 column 1", std::to_string(1LL << 31), "int32 range"});
  ExpectIdsError(Write("neg.npy", Npy(NpyDict("<i8", "(1, 2)"),
                                      Bytes(std::vector<int64_t>{-(1LL << 31) - 1, 0}))),
                 {"row 0 column 0", "int32 range"});
}

TEST_F(VectorFileTest, NpyHeaderParseErrors) {
  const std::string data = Bytes(std::vector<float>{1});
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)}", "expected '{'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)", "malformed .npy header"},
      {"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
      {"{'fortran_order': False, 'shape': (1, 1)}", "missing key 'descr'"},
      {"{'descr': '<f4', 'shape': (1, 1)}", "missing key 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1, 1)}", "True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [1, 1]}", "tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, -1)}", "non-negative integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1 1)}", "expected ',' or ')'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 1)}",
       "too large"},
      {"{'descr': <f4, 'fortran_order': False, 'shape': (1, 1)}", "quoted string"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (1, 1)}", "malformed .npy header"},
      {"{descr: '<f4', 'fortran_order': False, 'shape': (1, 1)}", "quoted key"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (1, 1)}", "expected ':'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), 'extra': 1}",
       "unexpected key 'extra'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)} junk", "after the closing"},
      {"", "expected '{'"},
  };
  int i = 0;
  for (const auto& [dict, words] : cases) {
    SCOPED_TRACE(dict);
    ExpectVectorsError(Write("parse" + std::to_string(i++) + ".npy", Npy(dict, data)), {words});
  }
}

TEST_F(VectorFileTest, NpyDataSizeMismatch) {
  ExpectVectorsError(
      Write("short.npy", Npy(NpyDict("<f4", "(3, 2)"), Bytes(std::vector<float>(5)))),
      {"data size mismatch", "shape (3, 2)", "24 bytes", "has 20"});
  ExpectVectorsError(Write("long.npy", Npy(NpyDict("<f4", "(1, 2)"), Bytes(std::vector<float>(3)))),
                     {"data size mismatch", "8 bytes", "has 12"});
  ExpectVectorsError(Write("overflow.npy", Npy(NpyDict("<f8", "(9223372036854775807, 1000)"),
                                               Bytes(std::vector<float>(3)))),
                     {"too large"});
}

// ---------------------------------------------------------------------------------------
// CheckFinite, writers, GenerateClustered, ElementTypeName

TEST(CheckFiniteTest, NamesRowAndColumn) {
  FloatMatrix m;
  m.rows = 3;
  m.dim = 4;
  m.data.assign(12, 1.0f);
  EXPECT_TRUE(CheckFinite(m, "base").ok());

  m.data[1 * 4 + 2] = std::numeric_limits<float>::quiet_NaN();
  Status st = CheckFinite(m, "base.fvecs");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message().rfind("base.fvecs", 0), 0u) << st.ToString();
  EXPECT_NE(st.message().find("row 1 column 2"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("NaN"), std::string::npos) << st.ToString();

  m.data[1 * 4 + 2] = 0.0f;
  m.data[2 * 4 + 3] = -std::numeric_limits<float>::infinity();
  st = CheckFinite(m, "queries");
  EXPECT_NE(st.message().find("row 2 column 3"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("-Inf"), std::string::npos) << st.ToString();

  m.data[0] = std::numeric_limits<float>::infinity();
  st = CheckFinite(m, "queries");  // the first bad value is reported
  EXPECT_NE(st.message().find("row 0 column 0 is +Inf"), std::string::npos) << st.ToString();

  m.data.pop_back();
  EXPECT_FALSE(CheckFinite(m, "queries").ok());
}

TEST_F(VectorFileTest, WritersRejectBadMatrices) {
  const std::string path = (fs::path(dir_) / "bad.fvecs").string();
  FloatMatrix m;
  m.rows = 2;
  m.dim = 3;
  m.data.assign(5, 0.0f);
  Status st = WriteFvecs(path, m);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("expected rows * dim = 6"), std::string::npos) << st.ToString();
  m.rows = 0;
  m.data.clear();
  EXPECT_FALSE(WriteFvecs(path, m).ok());
  m.rows = 1;
  m.dim = 0;
  EXPECT_FALSE(WriteFvecs(path, m).ok());
  IdMatrix ids;
  EXPECT_FALSE(WriteIvecs((fs::path(dir_) / "bad.ivecs").string(), ids).ok());
  EXPECT_FALSE(fs::exists(path));

  FloatMatrix ok;
  ok.rows = 1;
  ok.dim = 1;
  ok.data = {1};
  st = WriteFvecs((fs::path(dir_) / "no_dir" / "x.fvecs").string(), ok);
  EXPECT_EQ(st.code(), StatusCode::kIOError) << st.ToString();
}

TEST(GenerateClusteredTest, ShapeAndDeterminism) {
  const FloatMatrix a = GenerateClustered(500, 16, 8, 0.05f, 123);
  EXPECT_EQ(a.rows, 500u);
  EXPECT_EQ(a.dim, 16u);
  EXPECT_EQ(a.source_type, ElementType::kFloat32);
  ASSERT_EQ(a.data.size(), 500u * 16);
  EXPECT_TRUE(CheckFinite(a, "generated").ok());

  const FloatMatrix b = GenerateClustered(500, 16, 8, 0.05f, 123);
  EXPECT_EQ(a.data, b.data);
  const FloatMatrix c = GenerateClustered(500, 16, 8, 0.05f, 124);
  EXPECT_NE(a.data, c.data);

  for (float v : a.data) {
    EXPECT_GT(v, -1.5f);
    EXPECT_LT(v, 1.5f);
  }
}

TEST(GenerateClusteredTest, RowsSitOnClusterCentres) {
  // With no spread every row is exactly one of the centres, all inside [-1, 1].
  const FloatMatrix m = GenerateClustered(1000, 8, 5, 0.0f, 7);
  std::set<std::vector<float>> distinct;
  for (size_t i = 0; i < m.rows; ++i) distinct.emplace(m.row(i), m.row(i) + m.dim);
  EXPECT_LE(distinct.size(), 5u);
  EXPECT_GE(distinct.size(), 4u);  // 1000 draws miss one of 5 clusters with negligible chance
  for (float v : m.data) {
    EXPECT_GE(v, -1.0f);
    EXPECT_LE(v, 1.0f);
  }

  // Zero clusters is treated as one; zero rows gives an empty matrix.
  const FloatMatrix one = GenerateClustered(10, 3, 0, 0.0f, 1);
  std::set<std::vector<float>> single;
  for (size_t i = 0; i < one.rows; ++i) single.emplace(one.row(i), one.row(i) + one.dim);
  EXPECT_EQ(single.size(), 1u);
  EXPECT_TRUE(GenerateClustered(0, 3, 2, 1.0f, 1).data.empty());
}

TEST(ElementTypeNameTest, Names) {
  EXPECT_STREQ(ElementTypeName(ElementType::kFloat32), "float32");
  EXPECT_STREQ(ElementTypeName(ElementType::kFloat64), "float64");
  EXPECT_STREQ(ElementTypeName(ElementType::kUint8), "uint8");
  EXPECT_STREQ(ElementTypeName(ElementType::kInt8), "int8");
  EXPECT_STREQ(ElementTypeName(ElementType::kInt32), "int32");
  EXPECT_STREQ(ElementTypeName(ElementType::kInt64), "int64");
}

// ---------------------------------------------------------------------------------------
// Real data (../shared/data/fashion-mnist), when present.

TEST(FashionMnistTest, ShapesAndGroundTruth) {
  const std::string dir = std::string(SEXTANT_SHARED_DATA) + "/fashion-mnist";
  if (!fs::exists(dir + "/base.bvecs")) {
    GTEST_SKIP() << "Fashion-MNIST not found at " << dir
                 << " (shared data is optional; see ../shared/data/README.md)";
  }
  auto base = ReadVectors(dir + "/base.bvecs");
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  EXPECT_EQ(base->rows, 60000u);
  EXPECT_EQ(base->dim, 784u);
  EXPECT_EQ(base->source_type, ElementType::kUint8);
  float max_value = 0;
  for (float v : base->data) max_value = std::max(max_value, v);
  EXPECT_LE(max_value, 255.0f);
  EXPECT_GT(max_value, 200.0f);

  auto query = ReadVectors(dir + "/query.bvecs");
  ASSERT_TRUE(query.ok()) << query.status().ToString();
  EXPECT_EQ(query->rows, 10000u);
  EXPECT_EQ(query->dim, 784u);

  auto gt = ReadIds(dir + "/groundtruth_l2.ivecs");
  ASSERT_TRUE(gt.ok()) << gt.status().ToString();
  EXPECT_EQ(gt->rows, 10000u);
  EXPECT_EQ(gt->dim, 100u);
  for (int32_t id : gt->data) {
    ASSERT_GE(id, 0);
    ASSERT_LT(id, 60000);
  }

  auto head = ReadVectors(dir + "/base.bvecs", 1000);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->rows, 1000u);
  EXPECT_TRUE(std::equal(head->data.begin(), head->data.end(), base->data.begin()));

  // The files agree with each other: a query's listed nearest neighbour is at the minimum
  // exact L2 distance over the whole base set (ties allowed).
  for (size_t q : {size_t{0}, size_t{4321}, size_t{9999}}) {
    double best = std::numeric_limits<double>::max();
    for (size_t i = 0; i < base->rows; ++i) {
      double d = 0;
      for (size_t j = 0; j < base->dim; ++j) {
        const double diff = static_cast<double>(base->row(i)[j]) - query->row(q)[j];
        d += diff * diff;
      }
      best = std::min(best, d);
    }
    const size_t nn = static_cast<size_t>(gt->row(q)[0]);
    double d_nn = 0;
    for (size_t j = 0; j < base->dim; ++j) {
      const double diff = static_cast<double>(base->row(nn)[j]) - query->row(q)[j];
      d_nn += diff * diff;
    }
    EXPECT_EQ(d_nn, best) << "query " << q;
  }
}

}  // namespace
}  // namespace sextant::dataset
