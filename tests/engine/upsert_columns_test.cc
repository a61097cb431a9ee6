// Collection::UpsertColumns (points as borrowed columns: the Python binding's bulk path) against
// its twin, Collection::Upsert of the same points: the same resulting collection (points,
// queries, after reopening), the same log bytes, and the same refusals of bad input with nothing
// applied or logged.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine_test_util.h"
#include "sextant/database.h"

namespace sextant {
namespace {

using nlohmann::json;
using testing::PointsFor;
using testing::TempDir;
using testing::VectorFor;

// The columns of `points` (all with vectors of one length, or none), borrowing from `points`.
struct Columns {
  explicit Columns(const std::vector<Point>& points, bool with_metadata = true) {
    for (const Point& p : points) {
      ids.push_back(p.id);
      rows.insert(rows.end(), p.vector.begin(), p.vector.end());
      documents.push_back(p.document ? std::optional<std::string_view>(*p.document) : std::nullopt);
      metadata.push_back(p.metadata);
    }
    c.ids = ids;
    if (!points.empty() && !points[0].vector.empty()) {
      c.vectors = rows.data();
      c.dimension = points[0].vector.size();
    }
    c.documents = documents;
    if (with_metadata) c.metadata = metadata;
  }
  std::vector<std::string_view> ids;
  std::vector<float> rows;
  std::vector<std::optional<std::string_view>> documents;
  std::vector<json> metadata;
  PointColumns c;
};

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every wal-*.log file of a collection, by name.
std::map<std::string, std::string> Logs(const std::string& db, const std::string& name) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(db + "/collections/" + name)) {
    const std::string f = e.path().filename().string();
    if (f.rfind("wal-", 0) == 0) out[f] = ReadFile(e.path());
  }
  return out;
}

std::vector<Point> All(Collection& c) {
  auto page = c.Scroll("", 1000000, std::nullopt, /*include_vector=*/true);
  EXPECT_TRUE(page.ok()) << page.status().ToString();
  return page.ok() ? page->points : std::vector<Point>{};
}

void ExpectSamePoints(Collection& a, Collection& b) {
  const std::vector<Point> pa = All(a), pb = All(b);
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].id, pb[i].id);
    EXPECT_EQ(pa[i].vector, pb[i].vector) << pa[i].id;
    EXPECT_EQ(pa[i].document, pb[i].document) << pa[i].id;
    EXPECT_EQ(pa[i].metadata, pb[i].metadata) << pa[i].id;
  }
}

void ExpectSameQueries(Collection& a, Collection& b, size_t dim) {
  for (size_t i : {0u, 17u, 333u}) {
    QueryRequest q;
    if (dim > 0) q.vector = VectorFor(i, dim);
    if (a.config().text) q.text = "document " + std::to_string(i);
    q.k = 7;
    q.include_metadata = true;
    auto ha = a.Query(q), hb = b.Query(q);
    ASSERT_TRUE(ha.ok()) << ha.status().ToString();
    ASSERT_TRUE(hb.ok()) << hb.status().ToString();
    ASSERT_EQ(ha->size(), hb->size());
    for (size_t j = 0; j < ha->size(); ++j) {
      EXPECT_EQ((*ha)[j].id, (*hb)[j].id);
      EXPECT_EQ((*ha)[j].score, (*hb)[j].score);
      EXPECT_EQ((*ha)[j].metadata, (*hb)[j].metadata);
    }
  }
}

struct Case {
  const char* label;
  size_t dim;
  Metric metric;
  IndexType index;
  bool text;
};

// Batches with replacements, points without documents and with empty metadata.
std::vector<std::vector<Point>> Batches(size_t dim) {
  std::vector<std::vector<Point>> out = {PointsFor(0, 400, dim), PointsFor(350, 200, dim)};
  for (Point& p : out[1]) {
    if (dim > 0) p.vector = VectorFor(1000 + std::stoul(p.id.substr(1)), dim);
    p.metadata["replaced"] = true;
  }
  std::vector<Point> sparse = PointsFor(600, 50, dim);
  for (size_t i = 0; i < sparse.size(); i += 2) {
    sparse[i].document.reset();
    sparse[i].metadata = json::object();
  }
  out.push_back(std::move(sparse));
  for (auto& batch : out) {
    if (dim == 0) {
      for (Point& p : batch) p.vector.clear();
    }
  }
  return out;
}

TEST(UpsertColumnsTest, SameCollectionAndLogAsUpsert) {
  const Case cases[] = {
      {"hnsw_l2", 8, Metric::kL2, IndexType::kHnsw, false},
      {"flat_cosine_text", 5, Metric::kCosine, IndexType::kFlat, true},
      {"sq8_ip", 16, Metric::kInnerProduct, IndexType::kSq8, false},
      {"text_only", 0, Metric::kL2, IndexType::kHnsw, true},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.label);
    TempDir tmp;
    const std::string db_a = tmp.sub("a"), db_b = tmp.sub("b");
    {
      auto a = Database::Open(db_a);
      auto b = Database::Open(db_b);
      ASSERT_TRUE(a.ok() && b.ok());
      CollectionConfig config;
      config.name = "c";
      config.dimension = tc.dim;
      config.metric = tc.metric;
      config.index = tc.index;
      config.text = tc.text;
      // No sealing while writing (600 points stay in the mutable segment, the automatic seal size
      // is 2,048 or more): a background seal would checkpoint and start a new log at a moment
      // that differs between the two.
      auto ca = (*a)->CreateCollection(config);
      auto cb = (*b)->CreateCollection(config);
      ASSERT_TRUE(ca.ok()) << ca.status().ToString();
      ASSERT_TRUE(cb.ok()) << cb.status().ToString();
      for (const auto& batch : Batches(tc.dim)) {
        auto na = (*ca)->Upsert(batch);
        ASSERT_TRUE(na.ok()) << na.status().ToString();
        Columns cols(batch);
        auto nb = (*cb)->UpsertColumns(cols.c);
        ASSERT_TRUE(nb.ok()) << nb.status().ToString();
        EXPECT_EQ(*na, *nb);
      }
      const auto logs = Logs(db_a, "c");
      ASSERT_EQ(logs.size(), 1u);
      EXPECT_GT(logs.begin()->second.size(), 600u * 20);
      EXPECT_EQ(logs, Logs(db_b, "c")) << "the two paths must log the same records";
      ExpectSamePoints(**ca, **cb);
      ExpectSameQueries(**ca, **cb, tc.dim);
    }
    // Recovery replays the columns' records as it replays Upsert's; then both are indexed.
    auto a = Database::Open(db_a);
    auto b = Database::Open(db_b);
    ASSERT_TRUE(a.ok() && b.ok());
    auto ca = (*a)->GetCollection("c");
    auto cb = (*b)->GetCollection("c");
    ASSERT_TRUE(ca.ok() && cb.ok());
    EXPECT_EQ(*(*cb)->Count(), 600u);
    ExpectSamePoints(**ca, **cb);
    ExpectSameQueries(**ca, **cb, tc.dim);
    // (Sealed graphs are built by several threads, so only the points are compared there.)
    ASSERT_TRUE((*ca)->Optimize().ok());
    ASSERT_TRUE((*cb)->Optimize().ok());
    ExpectSamePoints(**ca, **cb);
  }
}

TEST(UpsertColumnsTest, MetadataColumnLeftOutIsEmptyObjects) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  CollectionConfig config;
  config.name = "c";
  config.dimension = 4;
  auto col = *(*db)->CreateCollection(config);
  const auto points = PointsFor(0, 3, 4);
  Columns cols(points, /*with_metadata=*/false);
  cols.c.documents = {};
  ASSERT_TRUE(col->UpsertColumns(cols.c).ok());
  for (const Point& p : All(*col)) {
    EXPECT_EQ(p.metadata, json::object());
    EXPECT_FALSE(p.document.has_value());
  }
}

TEST(UpsertColumnsTest, BadInputAppliesAndLogsNothing) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  CollectionConfig config;
  config.name = "c";
  config.dimension = 8;
  config.metric = Metric::kCosine;
  auto col = *(*db)->CreateCollection(config);
  const auto logs_before = Logs(tmp.path(), "c");

  auto expect_rejected = [&](const PointColumns& c, const std::string& words) {
    auto r = col->UpsertColumns(c);
    ASSERT_FALSE(r.ok()) << words;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
    EXPECT_EQ(*col->Count(), 0u) << "a failing batch must apply nothing";
    EXPECT_EQ(Logs(tmp.path(), "c"), logs_before) << "a failing batch must log nothing";
  };
  const auto points = PointsFor(0, 5, 8);
  {
    Columns cols(points);
    cols.rows[3 * 8 + 4] = NAN;
    expect_rejected(cols.c, "point 3 (id 'p3'): vector value NaN at dimension 4");
  }
  {
    Columns cols(points);
    cols.rows[1 * 8 + 0] = INFINITY;
    expect_rejected(cols.c, "point 1 (id 'p1'): vector value Inf at dimension 0");
  }
  {
    Columns cols(points);
    std::fill(cols.rows.begin() + 16, cols.rows.begin() + 24, 0.0f);
    expect_rejected(cols.c, "point 2 (id 'p2'): vector has length 0");
  }
  {
    Columns cols(points);
    cols.rows[0] = 3e20f;
    expect_rejected(cols.c, "point 0 (id 'p0'): vector value 3e+20 at dimension 0 is too large");
  }
  {
    Columns cols(points);
    cols.c.dimension = 7;
    expect_rejected(cols.c, "vectors have dimension 7, collection has 8");
  }
  {
    Columns cols(points);
    cols.c.vectors = nullptr;
    expect_rejected(cols.c, "point 0 (id 'p0'): vector has dimension 0, collection has 8");
  }
  {
    Columns cols(points);
    cols.c.documents = std::span(cols.documents).first(4);
    expect_rejected(cols.c, "documents has 4 entries, ids has 5");
  }
  {
    Columns cols(points);
    cols.c.metadata = std::span(cols.metadata).first(2);
    expect_rejected(cols.c, "metadata has 2 entries, ids has 5");
  }
  {
    Columns cols(points);
    cols.ids[4] = "p1";
    expect_rejected(cols.c, "point 4: id 'p1' appears twice in the batch");
  }
  {
    Columns cols(points);
    cols.ids[2] = "";
    expect_rejected(cols.c, "point 2: id is empty");
  }
  {
    Columns cols(points);
    const std::string bad = "p\xff";
    cols.ids[2] = bad;
    expect_rejected(cols.c, "point 2: id is not valid UTF-8 at byte 1");
  }
  {
    Columns cols(points);
    const std::string bad = "caf\xc3";
    cols.documents[3] = bad;
    expect_rejected(cols.c, "point 3 (id 'p3'): document is not valid UTF-8 at byte 3");
  }
  {
    Columns cols(points);
    cols.metadata[4] = json::array({1, 2});
    expect_rejected(cols.c, "point 4 (id 'p4'): metadata must be a JSON object");
  }
  {
    Columns cols(points);
    cols.metadata[0] = {{"nested", {{"a", 1}}}};
    expect_rejected(cols.c, "point 0 (id 'p0'): metadata field 'nested'");
  }
  // The same messages as Upsert's for the same points.
  {
    auto twin = points;
    twin[3].vector[4] = NAN;
    Columns cols(twin);
    EXPECT_EQ(col->Upsert(twin).status().message(), col->UpsertColumns(cols.c).status().message());
  }
  // The collection keeps working; an empty batch writes nothing.
  Columns empty(std::vector<Point>{});
  EXPECT_EQ(*col->UpsertColumns(empty.c), 0u);
  EXPECT_EQ(Logs(tmp.path(), "c"), logs_before);
  Columns good(points);
  EXPECT_EQ(*col->UpsertColumns(good.c), 5u);
  EXPECT_EQ(*col->Count(), 5u);
}

TEST(UpsertColumnsTest, TextOnlyCollectionRefusesVectors) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  CollectionConfig config;
  config.name = "t";
  config.dimension = 0;
  config.text = true;
  auto col = *(*db)->CreateCollection(config);
  const auto points = PointsFor(0, 3, 4);
  Columns cols(points);
  auto r = col->UpsertColumns(cols.c);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("text-only (dimension 0)"), std::string::npos) << r.status().message();
  EXPECT_EQ(*col->Count(), 0u);
}

TEST(UpsertColumnsTest, EmbeddingCollectionEmbedsDocumentsAsUpsert) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  auto make = [&](const std::string& name) {
    CollectionConfig c;
    c.name = name;
    c.embedding = EmbeddingSettings{};  // potion-base-4M, built in
    auto col = (*db)->CreateCollection(c);
    EXPECT_TRUE(col.ok()) << col.status().ToString();
    return *col;
  };
  auto a = make("a"), b = make("b");
  std::vector<Point> points;
  for (const char* text : {"The dog barked at the mailman.", "The feline is sleeping on the sofa.",
                           "I love eating fresh apples."}) {
    Point p;
    p.id = std::to_string(points.size());
    p.document = text;
    p.metadata = {{"len", std::string(text).size()}};
    points.push_back(std::move(p));
  }
  ASSERT_TRUE(a->Upsert(points).ok());
  Columns cols(points);
  ASSERT_EQ(cols.c.vectors, nullptr);
  auto n = b->UpsertColumns(cols.c);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 3u);
  ExpectSamePoints(*a, *b);
  EXPECT_EQ(All(*b)[0].vector.size(), a->config().dimension);
  // A row with neither a vector nor a document is refused, naming it.
  cols.documents[1].reset();
  auto r = b->UpsertColumns(cols.c);
  EXPECT_NE(r.status().message().find("point 1 (id '1'): no vector and no document to embed"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace sextant
