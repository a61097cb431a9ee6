// Keyword (BM25) and hybrid queries through the collection API: text-only collections,
// recovery of the keyword index from the log and checkpoints, fusion, explain, bad input.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sextant
