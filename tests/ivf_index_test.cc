// HNSW, IVF-Flat, IVF-PQ, PQ, SQ8 and hnsw-sq8 (index::VectorIndex) against brute force: recall,
// filters, re-ranking, Matryoshka search, save/load and every bad input.
#include "index/ivf_index.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>

#include "common/crc32c.h"
#include "dataset/vector_file.h"
#include "index/hnsw_sq8_index.h"
#include "index/vector_index.h"
#include "test_util.h"

namespace sextant::index {
namespace ivf_index_test {  // named: the test programs are unity builds (tests/CMakeLists.txt)

using sextant::testing::BruteForceTopK;
using sextant::testing::Overlap;

using sextant::testing::Iota;

constexpr size_t kDim = 32, kN = 3000, kQueries = 40;

const std::vector<float>& Base() {
  static const auto* v = new std::vector<float>(dataset::GenerateClustered(kN, kDim, 24, 0.4f, 1).data);
  return *v;
}
const std::vector<float>& Queries() {
  static const auto* v = new std::vector<float>(dataset::GenerateClustered(kQueries, kDim, 24, 0.4f, 2).data);
  return *v;
}

IndexSpec Spec(const std::string& type, Metric metric = Metric::kL2) {
  IndexSpec s;
  s.type = type;
  s.metric = metric;
  s.nlist = 16;
  s.m = 16;
  s.nbits = 8;
  s.hnsw_M = 12;
  s.ef_construction = 80;
  s.kmeans.iterations = 8;
  return s;
}

std::unique_ptr<VectorIndex> Build(const IndexSpec& spec, const std::vector<float>& base = Base()) {
  auto ix = CreateVectorIndex(kDim, spec);
  EXPECT_TRUE(ix.ok()) << ix.status().ToString();
  Status st = (*ix)->Train(base);
  EXPECT_TRUE(st.ok()) << st.ToString();
  st = (*ix)->Add(base, Iota(base.size() / kDim));
  EXPECT_TRUE(st.ok()) << st.ToString();
  return std::move(ix).value();
}

template <typename Accept>
double Recall(const VectorIndex& ix, Metric metric, const SearchParams& p, Accept&& accept,
              const SearchFilter* filter = nullptr, size_t k = 10) {
  double total = 0;
  for (size_t q = 0; q < kQueries; ++q) {
    const float* qv = &Queries()[q * kDim];
    auto got = ix.Search({qv, kDim}, k, p, filter);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (!got.ok()) return 0;
    EXPECT_LE(got->size(), k);
    for (size_t i = 1; i < got->size(); ++i) EXPECT_LE((*got)[i - 1].distance, (*got)[i].distance);
    for (const auto& h : *got) EXPECT_TRUE(accept(h.label)) << "returned a filtered label";
    total += Overlap(*got, BruteForceTopK(metric, Base(), kDim, qv, k, accept));
  }
  return total / kQueries;
}
constexpr auto kAll = [](uint64_t) { return true; };

struct Case {
  std::string type;
  Metric metric;
  size_t nbits;
  size_t rerank;
  double min_recall;  // at nprobe 4 of 16 (or ef 64)
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.type << " " << MetricName(c.metric) << " nbits " << c.nbits << " rerank " << c.rerank;
}

std::string Name(const ::testing::TestParamInfo<Case>& info) {
  std::string s = info.param.type + "_" + MetricName(info.param.metric) + "_b" +
                  std::to_string(info.param.nbits) + "_r" + std::to_string(info.param.rerank);
  for (char& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s;
}

class VectorIndexTest : public ::testing::TestWithParam<Case> {
 protected:
  IndexSpec MakeSpec() const {
    IndexSpec s = Spec(GetParam().type, GetParam().metric);
    s.nbits = GetParam().nbits;
    s.keep_originals = GetParam().rerank > 0;
    return s;
  }
  SearchParams Params() const {
    SearchParams p;
    p.nprobe = 4;
    p.ef = 64;
    p.rerank = GetParam().rerank;
    return p;
  }
};

TEST_P(VectorIndexTest, RecallAgainstBruteForce) {
  auto ix = Build(MakeSpec());
  EXPECT_EQ(ix->size(), kN);
  EXPECT_EQ(ix->type(), GetParam().type);
  EXPECT_GE(Recall(*ix, GetParam().metric, Params(), kAll), GetParam().min_recall);
  if (GetParam().type.rfind("ivf-", 0) == 0) {  // probing every list is a full scan
    SearchParams all = Params();
    all.nprobe = 16;
    EXPECT_GE(Recall(*ix, GetParam().metric, all, kAll), GetParam().min_recall);
  }
}

TEST_P(VectorIndexTest, FilterIsHonoured) {
  auto ix = Build(MakeSpec());
  BitsetFilter even(kN);
  for (uint64_t i = 0; i < kN; i += 2) even.Set(i);
  auto accept = [](uint64_t l) { return l % 2 == 0; };
  EXPECT_GE(Recall(*ix, GetParam().metric, Params(), accept, &even), GetParam().min_recall - 0.1);
  // A filter that passes one label returns exactly it (when its list is probed).
  PredicateFilter one([](uint64_t l) { return l == 17; });
  SearchParams p = Params();
  p.nprobe = 16;
  p.ef = 400;
  auto got = ix->Search({&Base()[17 * kDim], kDim}, 5, p, &one);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].label, 17u);
}

TEST_P(VectorIndexTest, SaveLoadRoundTripAndCorruption) {
  auto ix = Build(MakeSpec());
  const std::string path = ::testing::TempDir() + "/ivf_" + Name({GetParam(), 0});
  ASSERT_TRUE(ix->Save(path).ok());
  auto loaded = LoadVectorIndex(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->type(), ix->type());
  EXPECT_EQ((*loaded)->size(), ix->size());
  for (size_t q = 0; q < 5; ++q) {
    std::span<const float> qv(&Queries()[q * kDim], kDim);
    auto a = ix->Search(qv, 10, Params());
    auto b = (*loaded)->Search(qv, 10, Params());
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b);
  }
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    bytes = ss.str();
  }
  auto write = [&](const std::string& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(b.data(), static_cast<std::streamsize>(b.size()));
  };
  for (size_t pos : {size_t{20}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 5}) {
    std::string bad = bytes;
    bad[pos] ^= 0x20;
    write(bad);
    EXPECT_EQ(LoadVectorIndex(path).status().code(), StatusCode::kCorruption) << "flip at " << pos;
  }
  write(bytes.substr(0, bytes.size() / 2));
  EXPECT_EQ(LoadVectorIndex(path).status().code(), StatusCode::kCorruption);
  std::string future = bytes;
  future[8] = 99;
  write(future);
  EXPECT_EQ(LoadVectorIndex(path).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadVectorIndex(path + ".missing").status().code(), StatusCode::kNotFound);
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".rerank");
}

INSTANTIATE_TEST_SUITE_P(
    AllIndexes, VectorIndexTest,
    ::testing::Values(Case{"ivf-flat", Metric::kL2, 8, 0, 0.85},
                      Case{"ivf-flat", Metric::kInnerProduct, 8, 0, 0.75},
                      Case{"ivf-flat", Metric::kCosine, 8, 0, 0.8},
                      Case{"ivf-sq8", Metric::kL2, 8, 0, 0.85},
                      Case{"sq8", Metric::kL2, 8, 0, 0.9},
                      Case{"sq8", Metric::kCosine, 8, 40, 0.97},
                      Case{"pq", Metric::kL2, 8, 0, 0.5},
                      Case{"pq", Metric::kL2, 4, 0, 0.3},
                      Case{"pq", Metric::kInnerProduct, 8, 50, 0.9},
                      Case{"ivf-pq", Metric::kL2, 8, 0, 0.5},
                      Case{"ivf-pq", Metric::kL2, 4, 0, 0.3},
                      Case{"ivf-pq", Metric::kL2, 4, 60, 0.85},
                      Case{"ivf-pq", Metric::kInnerProduct, 8, 0, 0.45},
                      Case{"ivf-pq", Metric::kCosine, 8, 60, 0.8},
                      Case{"hnsw", Metric::kL2, 8, 0, 0.95},
                      Case{"hnsw", Metric::kCosine, 8, 0, 0.9},
                      Case{"hnsw", Metric::kInnerProduct, 8, 0, 0.85},
                      Case{"hnsw-sq8", Metric::kL2, 8, 0, 0.9},
                      Case{"hnsw-sq8", Metric::kL2, 8, 30, 0.95}),
    Name);

// With every list probed, IVF-Flat (f32) is exact: it returns brute force's distances.
TEST(IvfIndexTest, AllListsProbedIsExact) {
  auto ix = Build(Spec("ivf-flat"));
  SearchParams p;
  p.nprobe = 16;
  EXPECT_EQ(Recall(*ix, Metric::kL2, p, kAll), 1.0);
}

// 4-bit fast scan is a filter in front of exact ADC: it must return what ADC on the decoded
// PQ codes returns (the twin), for the plain PQ index.
TEST(IvfIndexTest, FastScanEqualsPlainAdc) {
  IvfOptions o;
  o.coarse = false;
  o.codes = CodeKind::kPq;
  o.pq_m = 16;
  o.pq_nbits = 4;
  o.kmeans.iterations = 6;
  auto ix = IvfIndex::Create(kDim, o);
  ASSERT_TRUE(ix.ok());
  ASSERT_TRUE((*ix)->Train(Base()).ok());
  ASSERT_TRUE((*ix)->Add(Base(), Iota(kN)).ok());
  const ProductQuantizer* pq = (*ix)->pq();
  std::vector<uint8_t> codes(kN * pq->m());
  pq->Encode(Base().data(), kN, codes.data());
  std::vector<float> decoded(kN * kDim);
  for (size_t i = 0; i < kN; ++i) pq->Decode(&codes[i * pq->m()], &decoded[i * kDim]);
  for (size_t q = 0; q < 10; ++q) {
    const float* qv = &Queries()[q * kDim];
    auto got = (*ix)->Search({qv, kDim}, 10, {});
    ASSERT_TRUE(got.ok());
    auto want = BruteForceTopK(Metric::kL2, decoded, kDim, qv, 10, kAll);
    EXPECT_GE(Overlap(*got, want), 0.9);  // equal up to float ties
  }
}

// Matryoshka: index the first 16 of 32 dimensions, re-rank on all 32. The data look like
// Matryoshka embeddings: the later dimensions carry less (here: a quarter of the scale).
TEST(IvfIndexTest, MatryoshkaSearchReranksOnAllDimensions) {
  std::vector<float> base = Base(), queries = Queries();
  for (auto* v : {&base, &queries}) {
    for (size_t i = 0; i < v->size(); ++i) {
      if (i % kDim >= 16) (*v)[i] *= 0.25f;
    }
  }
  for (const char* type : {"ivf-flat", "ivf-pq", "sq8"}) {
    IndexSpec s = Spec(type);
    s.search_dims = 16;
    s.m = 8;
    s.keep_originals = true;
    auto ix = Build(s, base);
    SearchParams p;
    p.nprobe = 8;
    p.rerank = 100;
    double total = 0;
    for (size_t q = 0; q < kQueries; ++q) {
      const float* qv = &queries[q * kDim];
      auto got = ix->Search({qv, kDim}, 10, p);
      ASSERT_TRUE(got.ok());
      total += Overlap(*got, BruteForceTopK(Metric::kL2, base, kDim, qv, 10, kAll));
      // Distances are exact full-dimension distances after re-ranking.
      const uint64_t l = (*got)[0].label;
      EXPECT_NEAR((*got)[0].distance,
                  sextant::testing::ReferenceDistance(Metric::kL2, qv, &base[l * kDim], kDim), 1e-3);
    }
    EXPECT_GE(total / kQueries, 0.9) << type;
  }
}

TEST(IvfIndexTest, ByteDataWithU8Storage) {
  const auto base = sextant::testing::RandomByteVectors(2000, kDim, 3);
  IndexSpec s = Spec("ivf-flat");
  s.storage = StorageType::kUint8;
  auto ix = Build(s, base);
  SearchParams p;
  p.nprobe = 16;
  const auto q = sextant::testing::RandomByteVectors(1, kDim, 4);
  auto got = ix->Search(q, 5, p);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Overlap(*got, BruteForceTopK(Metric::kL2, base, kDim, q.data(), 5, kAll)), 1.0);
  // A non-integer query is re-scored exactly.
  std::vector<float> qf(q.begin(), q.end());
  qf[0] += 0.25f;
  got = ix->Search(qf, 5, p);
  ASSERT_TRUE(got.ok());
  EXPECT_NEAR((*got)[0].distance,
              sextant::testing::ReferenceDistance(Metric::kL2, qf.data(), &base[(*got)[0].label * kDim], kDim),
              1e-2);
  // Values a u8 code cannot hold are an error, and nothing is added.
  std::vector<float> bad(kDim, 1.5f);
  EXPECT_EQ(ix->Add(bad, std::vector<uint64_t>{99999}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ix->size(), 2000u);
}

TEST(IvfIndexTest, BadInput) {
  auto err = [](const Result<std::unique_ptr<VectorIndex>>& r, const std::string& text) {
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
  };
  IndexSpec s = Spec("ivf-pq");
  s.m = 5;
  err(CreateVectorIndex(kDim, s), "divide the dimension 32");
  s.m = 8;
  s.nbits = 6;
  err(CreateVectorIndex(kDim, s), "nbits must be 4 or 8");
  err(CreateVectorIndex(kDim, Spec("lsh")), "unknown index type 'lsh'");
  IndexSpec d = Spec("ivf-flat");
  d.search_dims = 16;
  err(CreateVectorIndex(kDim, d), "keep_originals");
  d.search_dims = 40;
  err(CreateVectorIndex(kDim, d), "exceed the dimension");
  IndexSpec l1 = Spec("ivf-flat", Metric::kL1);
  err(CreateVectorIndex(kDim, l1), "not l1");
  IndexSpec h = Spec("hnsw");
  h.keep_originals = true;
  err(CreateVectorIndex(kDim, h), "keeps its vectors already");
  h.keep_originals = false;
  h.search_dims = 16;
  err(CreateVectorIndex(kDim, h), "search_dims");
  // A graph needs no training, but Train on a graph that holds points is refused as for the
  // quantized indexes.
  auto graph = Build(Spec("hnsw"));
  EXPECT_TRUE(graph->is_trained());
  EXPECT_EQ(graph->Train(Base()).code(), StatusCode::kFailedPrecondition);

  // nlist larger than the training set; too few vectors for PQ.
  auto ivf = CreateVectorIndex(kDim, Spec("ivf-flat"));
  ASSERT_TRUE(ivf.ok());
  const std::vector<float> few(10 * kDim, 1.0f);
  Status st = (*ivf)->Train(few);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("nlist 16 is larger than the training set (10 vectors)"), std::string::npos)
      << st.message();
  IndexSpec pqs = Spec("pq");
  auto pq = CreateVectorIndex(kDim, pqs);
  ASSERT_TRUE(pq.ok());
  st = (*pq)->Train(std::vector<float>(100 * kDim, 1.0f));
  EXPECT_NE(st.message().find("needs at least 256 training vectors, got 100"), std::string::npos)
      << st.message();
  auto sq = CreateVectorIndex(kDim, Spec("sq8"));
  ASSERT_TRUE(sq.ok());
  EXPECT_EQ((*sq)->Train({}).code(), StatusCode::kInvalidArgument);
  std::vector<float> nan(20 * kDim, 0.5f);
  nan[5] = NAN;
  EXPECT_EQ((*sq)->Train(nan).code(), StatusCode::kInvalidArgument);

  // Untrained: search and add fail clearly.
  for (const char* type : {"ivf-flat", "ivf-pq", "pq", "sq8", "hnsw-sq8"}) {
    auto ix = CreateVectorIndex(kDim, Spec(type));
    ASSERT_TRUE(ix.ok());
    EXPECT_FALSE((*ix)->is_trained());
    auto r = (*ix)->Search(std::vector<float>(kDim, 0.0f), 5, {});
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << type;
    EXPECT_NE(r.status().message().find("untrained"), std::string::npos);
    EXPECT_EQ((*ix)->Add(std::vector<float>(kDim, 0.0f), std::vector<uint64_t>{1}).code(), StatusCode::kFailedPrecondition);
  }

  // Trained: bad queries, duplicate labels, bad rows.
  auto ix = Build(Spec("ivf-flat"));
  EXPECT_EQ(ix->Search(std::vector<float>(kDim - 1, 0.0f), 5, {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ix->Search(std::vector<float>(kDim, 0.0f), 0, {}).status().code(), StatusCode::kInvalidArgument);
  SearchParams zero;
  zero.nprobe = 0;
  EXPECT_EQ(ix->Search(std::vector<float>(kDim, 0.0f), 5, zero).status().code(),
            StatusCode::kInvalidArgument);
  std::vector<float> qnan(kDim, 0.0f);
  qnan[3] = NAN;
  EXPECT_EQ(ix->Search(qnan, 5, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ix->Add(std::vector<float>(kDim, 0.0f), std::vector<uint64_t>{5}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ix->Add(std::vector<float>(2 * kDim, 0.0f), std::vector<uint64_t>{kN + 1, kN + 1}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ix->Add(std::vector<float>(kDim + 1, 0.0f), std::vector<uint64_t>{kN + 1}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ix->Train(Base()).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ix->size(), kN);
}

TEST(IvfIndexTest, EmptyAndUntrainedSaveLoad) {
  const std::string path = ::testing::TempDir() + "/ivf_empty";
  auto ix = CreateVectorIndex(kDim, Spec("ivf-pq"));
  ASSERT_TRUE(ix.ok());
  ASSERT_TRUE((*ix)->Save(path).ok());
  auto loaded = LoadVectorIndex(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_FALSE((*loaded)->is_trained());
  // Trained on 600 of the rows (enough for 256 PQ centroids): the training is not under test
  // here, and on all 3,000 it took 8-10 s under the sanitizers.
  ASSERT_TRUE((*loaded)->Train(std::span<const float>(Base()).first(600 * kDim)).ok());
  ASSERT_TRUE((*loaded)->Save(path).ok());
  loaded = LoadVectorIndex(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE((*loaded)->is_trained());
  EXPECT_EQ((*loaded)->size(), 0u);
  auto r = (*loaded)->Search(std::vector<float>(kDim, 0.0f), 3, {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  std::filesystem::remove(path);
}

TEST(IvfIndexTest, MemoryOfCompressedCodes) {
  const size_t dim = 128, n = 2000;
  const auto base = sextant::testing::RandomVectors(n, dim, 8);
  auto build = [&](const std::string& type) {
    IndexSpec s = Spec(type);
    s.m = 16;
    auto ix = CreateVectorIndex(dim, s);
    EXPECT_TRUE(ix.ok());
    EXPECT_TRUE((*ix)->Train(base).ok());
    EXPECT_TRUE((*ix)->Add(base, Iota(n)).ok());
    return std::move(ix).value();
  };
  const size_t flat = build("ivf-flat")->MemoryUsage();
  const size_t sq8 = build("sq8")->MemoryUsage();
  const size_t pq = build("pq")->MemoryUsage();
  EXPECT_GT(flat, n * dim * sizeof(float));
  EXPECT_LT(sq8, flat * 2 / 5);  // 128 + 4 code bytes, a label and the label map vs 512 + ...
  EXPECT_LT(pq, flat / 2);  // 16 code bytes; the codebooks weigh more than the codes at n = 2000
  EXPECT_EQ(build("sq8")->RerankMemoryUsage(), 0u);
}

// HNSW files of format version 1 (before the sq8 section) still load: rewrite a version 2 file
// as version 1 (a 248-byte header with seven sections) and compare searches.
TEST(HnswFormatTest, Version1FilesStillLoad) {
  HnswOptions opt;
  opt.M = 8;
  opt.ef_construction = 40;
  auto ix = HnswIndex::Create(kDim, opt);
  ASSERT_TRUE(ix.ok());
  ASSERT_TRUE((*ix)->AddBatch(std::span<const float>(Base().data(), 500 * kDim), Iota(500)).ok());
  const std::string path = ::testing::TempDir() + "/hnsw_v1";
  ASSERT_TRUE((*ix)->Save(path).ok());
  std::string v2;
  {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    v2 = ss.str();
  }
  constexpr size_t kSectionsAt = 72, kSection = 24, kV2Header = 272, kV1Header = 248;
  ASSERT_EQ(v2.substr(0, 6), "SXHNSW");
  uint64_t first_offset;
  std::memcpy(&first_offset, v2.data() + kSectionsAt, 8);
  ASSERT_GE(first_offset, kV2Header);
  std::string v1 = v2.substr(0, kSectionsAt + 7 * kSection) + std::string(8, '\0');
  const uint32_t version = 1, header_size = kV1Header;
  std::memcpy(v1.data() + 8, &version, 4);
  std::memcpy(v1.data() + 12, &header_size, 4);
  const uint32_t crc = Crc32c(v1.data(), kV1Header - 4);
  std::memcpy(v1.data() + kV1Header - 4, &crc, 4);
  v1 += std::string(first_offset - kV1Header, '\0') + v2.substr(first_offset);
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(v1.data(), static_cast<std::streamsize>(v1.size()));
  }
  auto loaded = HnswIndex::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (size_t q = 0; q < 5; ++q) {
    std::span<const float> qv(&Queries()[q * kDim], kDim);
    auto a = (*ix)->Search(qv, 10, 32);
    auto b = (*loaded)->Search(qv, 10, 32);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b);
  }
  std::filesystem::remove(path);
}

// Real data: a slice of Fashion-MNIST (byte data) with IVF-Flat u8 and IVF-PQ.
TEST(IvfIndexRealDataTest, FashionMnistSlice) {
  const std::string dir = std::string(SEXTANT_SHARED_DATA) + "/fashion-mnist";
  if (!std::filesystem::exists(dir + "/base.bvecs")) {
    GTEST_SKIP() << dir << " not found (the shared data sets are not beside this checkout)";
  }
  auto base = dataset::ReadVectors(dir + "/base.bvecs", 4000);
  auto queries = dataset::ReadVectors(dir + "/query.bvecs", 20);
  ASSERT_TRUE(base.ok() && queries.ok());
  const size_t dim = base->dim;
  for (const char* type : {"ivf-flat", "ivf-pq"}) {
    IndexSpec s;
    s.type = type;
    s.nlist = 32;
    s.m = 56;
    s.storage = StorageType::kUint8;
    s.keep_originals = true;
    s.original_storage = StorageType::kUint8;
    auto ix = CreateVectorIndex(dim, s);
    ASSERT_TRUE(ix.ok());
    ASSERT_TRUE((*ix)->Train(base->data).ok());
    ASSERT_TRUE((*ix)->Add(base->data, Iota(base->rows)).ok());
    SearchParams p;
    p.nprobe = 8;
    p.rerank = 50;
    double total = 0;
    for (size_t q = 0; q < queries->rows; ++q) {
      auto got = (*ix)->Search({queries->row(q), dim}, 10, p);
      ASSERT_TRUE(got.ok());
      total += Overlap(*got, BruteForceTopK(Metric::kL2, base->data, dim, queries->row(q), 10, kAll));
    }
    EXPECT_GE(total / queries->rows, 0.9) << type;
  }
}

}  // namespace ivf_index_test
}  // namespace sextant::index
