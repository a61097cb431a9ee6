// Keyword (BM25) and hybrid queries through the collection API: text-only collections,
// recovery of the keyword index from the log and checkpoints, fusion, explain, bad input;
// BM25 statistics injected (TextStatistics, QueryRequest::text_stats) and a collection split in
// parts whose sides (SearchSides) fused (FuseSides) equal the whole's query.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine_test_util.h"
#include "sextant/database.h"

namespace sextant {
namespace {

using nlohmann::json;
using testing::TempDir;

Point Doc(const std::string& id, const std::string& text, std::vector<float> v = {},
          json metadata = json::object()) {
  Point p;
  p.id = id;
  p.document = text;
  p.vector = std::move(v);
  p.metadata = std::move(metadata);
  return p;
}

std::vector<std::string> Ids(const Result<std::vector<QueryHit>>& hits) {
  EXPECT_TRUE(hits.ok()) << hits.status().ToString();
  std::vector<std::string> out;
  if (hits.ok()) {
    for (const auto& h : *hits) out.push_back(h.id);
  }
  return out;
}

QueryRequest Text(const std::string& text, size_t k = 10) {
  QueryRequest q;
  q.text = text;
  q.k = k;
  return q;
}

TEST(TextQueryTest, TextOnlyCollectionSurvivesReopenAndCheckpoint) {
  TempDir tmp;
  CollectionConfig c;
  c.name = "notes";
  c.dimension = 0;
  c.text = true;
  {
    auto db = Database::Open(tmp.path());
    auto col = (*db)->CreateCollection(c);
    ASSERT_TRUE(col.ok()) << col.status().ToString();
    std::vector<Point> docs = {
        Doc("e1", "Error 0x800403 when the printer overheats", {}, {{"team", "ops"}}),
        Doc("e2", "Resolve thermal faults in Project X-Alpha", {}, {{"team", "dev"}}),
        Doc("e3", "The printers were running hot all week", {}, {{"team", "ops"}}),
        Doc("zh", "我爱北京天安门", {}, {{"team", "cn"}})};
    ASSERT_TRUE((*col)->Upsert(docs).ok());
    EXPECT_EQ(Ids((*col)->Query(Text("0x800403"))), std::vector<std::string>{"e1"});
    EXPECT_EQ(Ids((*col)->Query(Text("X-Alpha"))), std::vector<std::string>{"e2"});
    EXPECT_EQ(Ids((*col)->Query(Text("北京"))), std::vector<std::string>{"zh"});
    auto run = Ids((*col)->Query(Text("printer run")));  // stems: printer(s), run(ning)
    ASSERT_EQ(run.size(), 2u);
    EXPECT_EQ(run[0], "e3");
    QueryRequest filtered = Text("printer");
    filtered.filter = json{{"team", "ops"}};
    EXPECT_EQ(Ids((*col)->Query(filtered)).size(), 2u);
    ASSERT_EQ(*(*col)->Delete(std::vector<std::string>{"e1"}), 1u);
    EXPECT_TRUE(Ids((*col)->Query(Text("0x800403"))).empty());
  }
  for (int pass = 0; pass < 2; ++pass) {  // recovery from the log, then from a checkpoint
    auto db = Database::Open(tmp.path());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    auto col = *(*db)->GetCollection("notes");
    EXPECT_TRUE(Ids(col->Query(Text("0x800403"))).empty());
    EXPECT_EQ(Ids(col->Query(Text("thermal"))), std::vector<std::string>{"e2"});
    EXPECT_EQ(Ids(col->Query(Text("北京"))), std::vector<std::string>{"zh"});
    if (pass == 0) {
      ASSERT_TRUE(col->Checkpoint().ok());
    }
  }
}

TEST(TextQueryTest, HybridFindsWhatKeywordAndVectorEachMiss) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  CollectionConfig c;
  c.name = "h";
  c.dimension = 2;
  c.text = true;
  auto col = *(*db)->CreateCollection(c);
  // The query: vector (1, 0), text "thermal fault".
  // "near" is the nearest vector but shares no word; "words" matches both words but points
  // the other way; "answer" is second on both sides; "weak" matches one word.
  ASSERT_TRUE(col->Upsert(std::vector<Point>{
                              Doc("near", "quarterly sales report", {1.0f, 0.0f}),
                              Doc("words", "thermal fault thermal fault log", {-1.0f, 0.0f}),
                              Doc("answer", "fixing a thermal fault", {0.9f, 0.2f}),
                              Doc("other", "garden party", {0.0f, 1.0f}),
                              Doc("weak", "fault tolerance in databases", {0.0f, -1.0f})})
                  .ok());
  QueryRequest q;
  q.vector = {1.0f, 0.0f};
  q.k = 1;
  EXPECT_EQ(Ids(col->Query(q)), std::vector<std::string>{"near"});
  EXPECT_EQ(Ids(col->Query(Text("thermal fault", 1))), std::vector<std::string>{"words"});
  q.text = "thermal fault";
  for (const char* fusion : {"rrf", "weighted", "dbsf"}) {
    q.fusion = fusion;
    EXPECT_EQ(Ids(col->Query(q)), std::vector<std::string>{"answer"}) << fusion;
  }
  q.fusion = "rrf";
  q.explain = true;
  auto hits = col->Query(q);
  ASSERT_TRUE(hits.ok());
  const json& e = *(*hits)[0].explain;
  EXPECT_EQ(e["text_rank"], 2);
  EXPECT_EQ(e["vector_rank"], 2);
  EXPECT_EQ(e["matched_terms"], (json{"thermal", "fault"}));
  EXPECT_GT(e["bm25"].get<double>(), 0);
  EXPECT_NEAR(e["fused_score"].get<double>(), 2.0 / 62, 1e-6);  // RRF, k = 60: 1/62 + 1/62
  EXPECT_EQ(e["fusion"], "rrf");
  // A weight per list: a heavy text side makes the keyword winner the hybrid winner.
  q.explain = false;
  q.text_weight = 5;
  EXPECT_EQ(Ids(col->Query(q)), std::vector<std::string>{"words"});
}

TEST(TextQueryTest, BadInput) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  CollectionConfig c;
  c.name = "t";
  c.dimension = 0;
  EXPECT_EQ((*db)->CreateCollection(c).status().code(), StatusCode::kInvalidArgument);  // 0 needs text
  c.text = true;
  c.analyzer = "klingon";
  auto bad = (*db)->CreateCollection(c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("klingon"), std::string::npos);
  c.analyzer = "standard";
  auto col = *(*db)->CreateCollection(c);
  ASSERT_TRUE(col->Upsert(std::vector<Point>{Doc("a", "hello world")}).ok());
  auto expect = [&](QueryRequest q, const std::string& words) {
    auto r = col->Query(q);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
  };
  expect(Text(""), "text query is empty");
  expect(Text("  \t "), "text query is empty");
  expect(Text("bad \xff\xfe bytes"), "not valid UTF-8 at byte 4");
  QueryRequest q = Text("hello");
  q.fusion = "borda";
  expect(q, "unknown fusion 'borda'");
  q = Text("hello");
  q.alpha = 1.5;
  expect(q, "alpha must be in [0, 1]");
  q = Text("hello");
  q.vector = {1.0f};
  expect(q, "text-only");
  expect(QueryRequest{}, "needs a vector, a text, or both");
  Point with_vector = Doc("b", "x", {1.0f});
  EXPECT_NE(col->Upsert(std::vector<Point>{with_vector}).status().message().find("omit the vector"),
            std::string::npos);
  Point bad_doc = Doc("c", "bad \xc3 utf8");
  EXPECT_NE(col->Upsert(std::vector<Point>{bad_doc}).status().message().find("not valid UTF-8"),
            std::string::npos);
  // A collection without a keyword index refuses text queries.
  CollectionConfig v;
  v.name = "v";
  v.dimension = 2;
  auto vcol = *(*db)->CreateCollection(v);
  auto r = vcol->Query(Text("hello"));
  EXPECT_NE(r.status().message().find("no keyword index"), std::string::npos);
  EXPECT_EQ(*col->Count(), 1u);  // nothing from the failed batches
}

TEST(TextQueryTest, InjectedStatisticsScoreByTheBm25Formula) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  CollectionConfig c;
  c.name = "s";
  c.dimension = 2;
  c.text = true;
  c.analyzer = "standard";
  auto col = *(*db)->CreateCollection(c);
  ASSERT_TRUE(col->Upsert(std::vector<Point>{Doc("a", "apple banana", {1, 0}), Doc("b", "apple apple cherry", {0, 1}),
                                             Doc("c", "banana cherry cherry date", {1, 1}), Doc("d", "elder", {-1, 0})})
                  .ok());
  auto own = col->TextStatistics("apple zebra apple");
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(own->documents, 4u);
  EXPECT_EQ(own->total_length, 10u);
  EXPECT_EQ(own->document_frequency, (std::map<std::string, uint64_t>{{"apple", 2}, {"zebra", 0}}));

  // Its own statistics injected: the same hits, scores and explain, keyword and hybrid.
  for (const char* text : {"apple", "banana cherry date", "apple elder"}) {
    for (bool hybrid : {false, true}) {
      QueryRequest q = Text(text);
      q.explain = true;
      q.include_document = true;
      if (hybrid) q.vector = {1, 0.5f};
      auto want = col->Query(q);
      q.text_stats = *col->TextStatistics(text);
      auto got = col->Query(q);
      ASSERT_TRUE(want.ok() && got.ok());
      ASSERT_EQ(got->size(), want->size());
      for (size_t i = 0; i < got->size(); ++i) {
        EXPECT_EQ((*got)[i].id, (*want)[i].id) << text;
        EXPECT_EQ((*got)[i].score, (*want)[i].score) << text;
        EXPECT_EQ(*(*got)[i].explain, *(*want)[i].explain) << text;
      }
    }
  }
  // Other statistics: N = 40, total length 200 (avgdl 5), df(apple) = 5, so for "b" (tf 2,
  // length 3): idf = ln(1 + 35.5 / 5.5), norm = 0.9 * (0.6 + 0.4 * 3 / 5).
  QueryRequest q = Text("apple");
  q.text_stats = TextStats{40, 200, {{"apple", 5}}};
  auto hits = col->Query(q);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(Ids(hits), (std::vector<std::string>{"b", "a"}));
  const double idf = std::log(1 + 35.5 / 5.5);
  EXPECT_NEAR((*hits)[0].score, idf * 2 * 1.9 / (2 + 0.9 * (0.6 + 0.4 * 3 / 5.0)), 1e-5);
  EXPECT_NEAR((*hits)[1].score, idf * 1 * 1.9 / (1 + 0.9 * (0.6 + 0.4 * 2 / 5.0)), 1e-5);

  // Statistics and sides need a keyword side.
  EXPECT_EQ(col->TextStatistics("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(col->TextStatistics("?!").status().code(), StatusCode::kInvalidArgument);
  QueryRequest vector_only;
  vector_only.vector = {1, 0};
  auto no_sides = col->SearchSides(vector_only);
  ASSERT_FALSE(no_sides.ok());
  EXPECT_NE(no_sides.status().message().find("no sides"), std::string::npos);
  CollectionConfig v;
  v.name = "v";
  v.dimension = 2;
  auto vcol = *(*db)->CreateCollection(v);
  EXPECT_NE(vcol->TextStatistics("apple").status().message().find("no keyword index"), std::string::npos);
}

// A collection split in three parts (like a cluster's shards), points added in id order
// everywhere: each part's sides searched with the summed statistics and fused together equal
// the whole collection's query — ids, scores bit for bit, documents and explain.
TEST(TextQueryTest, PartsSidesFusedEqualTheWholesQuery) {
  TempDir tmp;
  auto db = Database::Open(tmp.path());
  CollectionConfig c;
  c.dimension = 4;
  c.index = IndexType::kFlat;
  c.text = true;
  c.name = "whole";
  auto whole = *(*db)->CreateCollection(c);
  std::vector<std::shared_ptr<Collection>> parts;
  for (int i = 0; i < 3; ++i) {
    c.name = "part" + std::to_string(i);
    parts.push_back(*(*db)->CreateCollection(c));
  }
  const std::vector<std::string> words = {"solar", "wind", "power", "grid", "storage", "battery", "cell",
                                          "panel", "turbine", "energy", "cost", "market", "price", "heat"};
  std::mt19937 rng(5);
  std::vector<Point> all;
  std::vector<std::vector<Point>> by_part(3);
  for (int i = 0; i < 400; ++i) {
    char id[8];
    std::snprintf(id, sizeof(id), "p%04d", i);
    std::string text;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int w = 0; w < n; ++w) text += words[rng() % words.size()] + " ";
    std::vector<float> v(4);
    for (float& x : v) x = static_cast<float>(rng() % 1000) / 500.0f - 1.0f;
    Point p = Doc(id, text, v, json{{"n", i}, {"tag", i % 3 ? "a" : "b"}});
    by_part[rng() % 3].push_back(p);
    all.push_back(std::move(p));
  }
  ASSERT_TRUE(whole->Upsert(all).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(parts[i]->Upsert(by_part[i]).ok());

  int compared = 0;
  for (int i = 0; i < 24; ++i) {
    QueryRequest q = Text(words[i % words.size()] + " " + words[(i * 5 + 3) % words.size()], i % 2 ? 10 : 25);
    if (i % 3 != 0) q.vector = {0.5f, -0.2f, static_cast<float>(i % 5) / 5, 0.1f};
    q.fusion = std::vector<std::string>{"", "rrf", "weighted", "dbsf"}[i % 4];
    if (i % 8 == 2) q.alpha = 0.3;
    if (i % 4 == 1) q.filter = json{{"tag", "a"}};
    if (i % 6 == 5) q.mode = q.vector.empty() ? QueryMode::kKeyword : QueryMode::kHybrid;
    q.explain = i % 2 == 0;
    q.include_document = true;
    q.include_metadata = i % 3 == 1;
    auto want = whole->Query(q);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    TextStats sum;
    for (const auto& part : parts) {
      auto s = part->TextStatistics(*q.text);
      ASSERT_TRUE(s.ok());
      sum.documents += s->documents;
      sum.total_length += s->total_length;
      for (const auto& [term, df] : s->document_frequency) sum.document_frequency[term] += df;
    }
    EXPECT_EQ(sum.document_frequency, whole->TextStatistics(*q.text)->document_frequency);
    q.text_stats = sum;
    QuerySides sides;
    for (const auto& part : parts) {
      auto s = part->SearchSides(q);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      sides.vector.insert(sides.vector.end(), s->vector.begin(), s->vector.end());
      sides.text.insert(sides.text.end(), s->text.begin(), s->text.end());
    }
    auto got = FuseSides(q, std::move(sides));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), want->size()) << "query " << i;
    for (size_t h = 0; h < got->size(); ++h) {
      const QueryHit &g = (*got)[h], &w = (*want)[h];
      EXPECT_EQ(g.id, w.id) << "query " << i << " hit " << h;
      EXPECT_EQ(g.score, w.score) << "query " << i << " hit " << h;
      EXPECT_EQ(g.document, w.document);
      EXPECT_EQ(g.metadata, w.metadata);
      EXPECT_EQ(g.explain, w.explain) << "query " << i << " hit " << h;
      ++compared;
    }
  }
  EXPECT_GT(compared, 200);
}

}  // namespace
}  // namespace sextant
