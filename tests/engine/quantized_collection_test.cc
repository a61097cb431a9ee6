// Collections whose sealed segments use the quantized indexes (IVF-Flat, IVF-PQ, PQ, SQ8,
// HNSW over SQ8): recall against brute force with and without filters, exact re-ranking from
// the segment's full vectors, Get, deletes, and reopening.
#include <gtest/gtest.h>

#include <algorithm>
#include <unordered_set>

#include "dataset/vector_file.h"
#include "engine_test_util.h"
#include "sextant/database.h"

namespace sextant {
namespace quantized_collection_test {  // named: the test programs are unity builds (tests/CMakeLists.txt)

using nlohmann::json;

constexpr size_t kN = 6000, kDim = 16, kNq = 30, kK = 10;

class QuantizedCollectionTest : public ::testing::TestWithParam<IndexType> {
 protected:
  void SetUp() override {
    data_ = dataset::GenerateClustered(kN, kDim, 40, 0.3f, 11);
    queries_ = dataset::GenerateClustered(kNq, kDim, 40, 0.3f, 12);
  }
  CollectionConfig Config() const {
    CollectionConfig c;
    c.name = "q";
    c.dimension = kDim;
    c.index = GetParam();
    c.quantization.nlist = 16;
    c.quantization.nprobe = 6;
    c.quantization.m = 8;
    c.quantization.nbits = 8;
    c.segments.seal_points = 2000;
    return c;
  }
  std::vector<Point> Points() const {
    std::vector<Point> out;
    for (size_t i = 0; i < kN; ++i) {
      Point p;
      p.id = std::to_string(i);
      p.vector.assign(data_.row(i), data_.row(i) + kDim);
      p.metadata = {{"b10", i % 10}};
      out.push_back(std::move(p));
    }
    return out;
  }
  // recall@10 against brute force over the points passing `accept` and not in `gone`.
  double Recall(Collection& col, const std::optional<json>& filter,
                const std::function<bool(size_t)>& accept, size_t rerank,
                const std::unordered_set<size_t>& gone = {}) const {
    double total = 0;
    for (size_t q = 0; q < kNq; ++q) {
      std::vector<std::pair<float, size_t>> all;
      for (size_t i = 0; i < kN; ++i) {
        if (!accept(i) || gone.count(i)) continue;
        float d = 0;
        for (size_t j = 0; j < kDim; ++j) d += (queries_.row(q)[j] - data_.row(i)[j]) * (queries_.row(q)[j] - data_.row(i)[j]);
        all.push_back({d, i});
      }
      std::partial_sort(all.begin(), all.begin() + kK, all.end());
      std::unordered_set<std::string> truth;
      for (size_t j = 0; j < kK; ++j) truth.insert(std::to_string(all[j].second));
      QueryRequest req;
      req.vector.assign(queries_.row(q), queries_.row(q) + kDim);
      req.k = kK;
      req.filter = filter;
      req.rerank = rerank;
      auto hits = col.Query(req);
      EXPECT_TRUE(hits.ok()) << hits.status().ToString();
      if (!hits.ok()) return 0;
      size_t found = 0;
      for (const auto& h : *hits) {
        const size_t i = std::stoul(h.id);
        EXPECT_TRUE(accept(i)) << "hit " << h.id << " fails the filter";
        EXPECT_FALSE(gone.count(i)) << "hit " << h.id << " was deleted";
        found += truth.count(h.id);
      }
      total += static_cast<double>(found) / kK;
    }
    return total / kNq;
  }

  dataset::FloatMatrix data_, queries_;
};

TEST_P(QuantizedCollectionTest, RecallFiltersGetDeleteAndReopen) {
  testing::TempDir tmp;
  const std::string name = IndexTypeToString(GetParam());
  auto all = [](size_t) { return true; };
  auto tenth = [](size_t i) { return i % 10 == 3; };
  std::unordered_set<size_t> gone;
  {
    auto db = std::move(Database::Open(tmp.path())).value();
    auto col = *db->CreateCollection(Config());
    auto points = Points();
    for (size_t b = 0; b < kN; b += 1000) ASSERT_TRUE(col->Upsert(std::span(points).subspan(b, 1000)).ok());
    ASSERT_TRUE(col->Optimize().ok());
    const CollectionStats st = col->Stats();
    EXPECT_EQ(st.unindexed_points, 0u);
    EXPECT_GE(st.segments, 1u);
    const double plain = Recall(*col, std::nullopt, all, 0);
    const double reranked = Recall(*col, std::nullopt, all, 50);
    const double filtered = Recall(*col, json{{"b10", 3}}, tenth, 50);
    std::printf("[ %-9s] %zu segments  recall@10 %.3f, re-ranked %.3f, filtered 10%% %.3f\n",
                name.c_str(), st.segments, plain, reranked, filtered);
    EXPECT_GE(plain, GetParam() == IndexType::kIvfPq || GetParam() == IndexType::kPq ? 0.6 : 0.85);
    EXPECT_GE(reranked, 0.9);
    EXPECT_GE(filtered, 0.9);
    // Get serves the full vectors, not the codes.
    auto got = *col->Get(std::vector<std::string>{"17", "4242"});
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].vector, std::vector<float>(data_.row(17), data_.row(17) + kDim));
    EXPECT_EQ(got[1].vector, std::vector<float>(data_.row(4242), data_.row(4242) + kDim));
    // Deleted points are never returned.
    std::vector<std::string> ids;
    for (size_t i = 0; i < kN; i += 5) {
      ids.push_back(std::to_string(i));
      gone.insert(i);
    }
    ASSERT_EQ(*col->Delete(ids), ids.size());
    EXPECT_GE(Recall(*col, std::nullopt, all, 50, gone), 0.9);
  }
  auto db = std::move(Database::Open(tmp.path())).value();
  auto col = *db->GetCollection("q");
  EXPECT_EQ(col->config().index, GetParam());
  EXPECT_EQ(*col->Count(), kN - gone.size());
  EXPECT_GE(Recall(*col, std::nullopt, all, 50, gone), 0.9);
  EXPECT_GE(Recall(*col, json{{"b10", 3}}, tenth, 50, gone), 0.9);
  auto got = *col->Get(std::vector<std::string>{"17"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].vector, std::vector<float>(data_.row(17), data_.row(17) + kDim));
}

INSTANTIATE_TEST_SUITE_P(Indexes, QuantizedCollectionTest,
                         ::testing::Values(IndexType::kIvfFlat, IndexType::kIvfPq, IndexType::kPq,
                                           IndexType::kSq8, IndexType::kHnswSq8),
                         [](const auto& info) {
                           std::string n = IndexTypeToString(info.param);
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(QuantizedCollectionConfigTest, BadParametersAreRejected) {
  testing::TempDir tmp;
  auto db = std::move(Database::Open(tmp.path())).value();
  CollectionConfig c;
  c.name = "bad";
  c.dimension = 10;
  c.index = IndexType::kIvfPq;
  c.quantization.m = 3;  // does not divide 10
  auto r = db->CreateCollection(c);
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("divide"), std::string::npos) << r.status().message();
  c.quantization.m = 5;
  c.quantization.nbits = 5;
  r = db->CreateCollection(c);
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("nbits"), std::string::npos) << r.status().message();
  c.quantization.nbits = 8;
  c.quantization.nprobe = 0;
  EXPECT_EQ(db->CreateCollection(c).status().code(), StatusCode::kInvalidArgument);
  c.quantization.nprobe = 4;
  EXPECT_TRUE(db->CreateCollection(c).ok());
  EXPECT_EQ(IndexTypeFromString("ivf-hnsw").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace quantized_collection_test
}  // namespace sextant
