// Collections that embed (issue 12, item 6): the model fixes the dimension, documents without a
// vector get the model's embedding before the write is logged, a query's text is searched by
// meaning (semantic), by keywords, or both (hybrid), and recovery never needs the model.
// Every vector is checked against the model itself (embed::LoadModel), its twin.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "embed/model.h"
#include "engine_test_util.h"
#include "sextant/database.h"

namespace sextant {
namespace {

using nlohmann::json;

const std::vector<std::pair<std::string, std::string>> kClassic = {
    {"dog", "The dog barked at the mailman."},
    {"cat", "The feline is sleeping on the sofa."},
    {"apple", "I love eating fresh apples."},
    {"js", "Javascript is a programming language."},
};

std::vector<Point> ClassicPoints() {
  std::vector<Point> out;
  for (const auto& [id, text] : kClassic) {
    Point p;
    p.id = id;
    p.document = text;
    out.push_back(std::move(p));
  }
  return out;
}

// The model's embeddings of `texts` as documents, row by row.
std::vector<std::vector<float>> ModelRows(const std::vector<std::string>& texts, embed::TextKind kind,
                                          const std::string& model = "potion-base-4M") {
  auto m = embed::LoadModel(model);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  std::vector<std::string_view> views(texts.begin(), texts.end());
  auto rows = (*m)->EmbedAs(kind, views);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  std::vector<std::vector<float>> out;
  const size_t dim = (*m)->dimension();
  for (size_t i = 0; i < texts.size(); ++i) {
    out.emplace_back(rows->begin() + static_cast<std::ptrdiff_t>(i * dim),
                     rows->begin() + static_cast<std::ptrdiff_t>((i + 1) * dim));
  }
  return out;
}

CollectionConfig EmbeddingConfig(const std::string& name, bool text = false) {
  CollectionConfig c;
  c.name = name;
  c.embedding = EmbeddingSettings{};  // potion-base-4M, built in
  c.text = text;
  return c;
}

TEST(EmbeddingCollectionTest, TheModelFixesTheDimension) {
  testing::TempDir tmp;
  {
    auto db = Database::Open(tmp.path());
    ASSERT_TRUE(db.ok());
    auto col = (*db)->CreateCollection(EmbeddingConfig("docs"));
    ASSERT_TRUE(col.ok()) << col.status().ToString();
    EXPECT_EQ((*col)->config().dimension, 128u);
    ASSERT_TRUE((*col)->config().embedding.has_value());
    EXPECT_EQ((*col)->config().embedding->model, "potion-base-4M");

    CollectionConfig wrong = EmbeddingConfig("wrong");
    wrong.dimension = 384;
    auto refused = (*db)->CreateCollection(wrong);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("gives 128"), std::string::npos) << refused.status().ToString();

    CollectionConfig unknown = EmbeddingConfig("unknown");
    unknown.embedding->model = "no-such-model-anywhere";
    auto bad = (*db)->CreateCollection(unknown);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("no-such-model-anywhere"), std::string::npos) << bad.status().ToString();

    CollectionConfig too_wide = EmbeddingConfig("wide");
    too_wide.embedding->dimensions = 256;
    EXPECT_EQ((*db)->CreateCollection(too_wide).status().code(), StatusCode::kInvalidArgument);

    CollectionConfig cut = EmbeddingConfig("cut");
    cut.embedding->dimensions = 64;
    auto cut_col = (*db)->CreateCollection(cut);
    ASSERT_TRUE(cut_col.ok()) << cut_col.status().ToString();
    EXPECT_EQ((*cut_col)->config().dimension, 64u);
    ASSERT_TRUE((*cut_col)->Upsert(ClassicPoints()).ok());
    const std::vector<std::string> ids = {"cat"};
    auto got = (*cut_col)->Get(ids);
    ASSERT_TRUE(got.ok());
    // Matryoshka: the first 64 of the model's 128 values, re-normalised.
    auto full = ModelRows({kClassic[1].second}, embed::TextKind::kDocument)[0];
    auto expected = embed::TruncateDimensions(full, 128, 64);
    ASSERT_TRUE(expected.ok());
    ASSERT_EQ((*got)[0].vector.size(), 64u);
    for (size_t d = 0; d < 64; ++d) EXPECT_FLOAT_EQ((*got)[0].vector[d], (*expected)[d]) << d;
    ASSERT_EQ((*db)->ListCollections().size(), 2u);  // nothing of the refused ones
  }
  auto db = Database::Open(tmp.path());  // the settings are kept
  ASSERT_TRUE(db.ok());
  auto col = (*db)->GetCollection("docs");
  ASSERT_TRUE(col.ok()) << col.status().ToString();
  EXPECT_EQ((*col)->config().dimension, 128u);
  ASSERT_TRUE((*col)->config().embedding.has_value());
  EXPECT_EQ((*col)->config().embedding->model, "potion-base-4M");
}

TEST(EmbeddingCollectionTest, DocumentsWithoutAVectorAreEmbedded) {
  testing::TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  auto col = *(*db)->CreateCollection(EmbeddingConfig("docs"));
  std::vector<Point> points = ClassicPoints();
  Point own;  // a point with its own vector keeps it
  own.id = "own";
  own.document = "The feline is sleeping on the sofa.";
  own.vector.assign(128, 0.0f);
  own.vector[5] = 1.0f;
  points.push_back(own);
  ASSERT_TRUE(col->Upsert(points).ok());

  std::vector<std::string> texts;
  for (const auto& [id, text] : kClassic) texts.push_back(text);
  const auto expected = ModelRows(texts, embed::TextKind::kDocument);
  std::vector<std::string> ids;
  for (const auto& [id, text] : kClassic) ids.push_back(id);
  ids.push_back("own");
  auto got = col->Get(ids);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 5u);
  for (size_t i = 0; i < kClassic.size(); ++i) EXPECT_EQ((*got)[i].vector, expected[i]) << ids[i];
  EXPECT_EQ((*got)[4].vector, own.vector);

  // A point with neither a vector nor a document fails the whole batch.
  std::vector<Point> bad = {testing::PointFor(1, 128), Point{}};
  bad[0].vector.clear();
  bad[1].id = "empty";
  auto refused = col->Upsert(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("point 1 (id 'empty'): no vector and no document"), std::string::npos)
      << refused.status().ToString();
  std::vector<Point> invalid = {Point{}};
  invalid[0].id = "bytes";
  invalid[0].document = std::string("caf\xc3", 4);
  auto not_utf8 = col->Upsert(invalid);
  EXPECT_NE(not_utf8.status().message().find("not valid UTF-8"), std::string::npos) << not_utf8.status().ToString();
  EXPECT_EQ(*col->Count(), 5u);
}

TEST(EmbeddingCollectionTest, ATextQueryIsSearchedByMeaning) {
  testing::TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  auto col = *(*db)->CreateCollection(EmbeddingConfig("docs"));
  ASSERT_TRUE(col->Upsert(ClassicPoints()).ok());
  QueryRequest q;
  q.text = "Where is the cat?";  // no word in common with the feline's sentence
  q.k = 4;
  q.explain = true;
  auto hits = col->Query(q);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits->size(), 4u);
  EXPECT_EQ((*hits)[0].id, "cat");
  ASSERT_TRUE((*hits)[0].explain.has_value());
  EXPECT_EQ((*(*hits)[0].explain)["mode"], "semantic");
  EXPECT_EQ((*(*hits)[0].explain)["embedded_query"], true);
  // The same as searching the model's query embedding by vector.
  QueryRequest by_vector;
  by_vector.vector = ModelRows({"Where is the cat?"}, embed::TextKind::kQuery)[0];
  by_vector.k = 4;
  auto twin = col->Query(by_vector);
  ASSERT_TRUE(twin.ok());
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*hits)[i].id, (*twin)[i].id);
    EXPECT_FLOAT_EQ((*hits)[i].score, (*twin)[i].score);
  }
  // Modes this collection cannot serve say why.
  q.mode = QueryMode::kKeyword;
  EXPECT_NE(col->Query(q).status().message().find("no keyword index"), std::string::npos);
  q.mode = QueryMode::kHybrid;
  EXPECT_NE(col->Query(q).status().message().find("no keyword index"), std::string::npos);
  q.mode = QueryMode::kSemantic;
  q.text = "   ";
  EXPECT_EQ(col->Query(q).status().code(), StatusCode::kInvalidArgument);
  q.text = "\u16a0\u16a2\u16a6 \u16a8\u16b1";  // runes: no token the model knows, a zero embedding
  auto nothing = col->Query(q);
  ASSERT_FALSE(nothing.ok());
  EXPECT_NE(nothing.status().message().find("embedding is zero"), std::string::npos) << nothing.status().ToString();
}

TEST(EmbeddingCollectionTest, HybridIsTheDefaultWithAKeywordIndex) {
  testing::TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  auto col = *(*db)->CreateCollection(EmbeddingConfig("docs", /*text=*/true));
  ASSERT_TRUE(col->Upsert(ClassicPoints()).ok());
  QueryRequest q;
  q.text = "the feline on the sofa";
  q.k = 4;
  q.explain = true;
  auto hybrid = col->Query(q);
  ASSERT_TRUE(hybrid.ok()) << hybrid.status().ToString();
  ASSERT_FALSE(hybrid->empty());
  EXPECT_EQ((*hybrid)[0].id, "cat");
  const json& e = *(*hybrid)[0].explain;
  EXPECT_EQ(e["mode"], "hybrid");
  EXPECT_TRUE(e.contains("bm25")) << e.dump();
  EXPECT_TRUE(e.contains("vector_distance")) << e.dump();
  EXPECT_EQ(e["text_rank"], 1);
  EXPECT_EQ(e["vector_rank"], 1);

  // Keyword: BM25 only, the same as a collection without a model would answer.
  q.mode = QueryMode::kKeyword;
  auto keyword = col->Query(q);
  ASSERT_TRUE(keyword.ok()) << keyword.status().ToString();
  EXPECT_EQ((*(*keyword)[0].explain)["mode"], "keyword");
  EXPECT_FALSE((*keyword)[0].explain->contains("vector_distance"));
  // Only documents holding a query word: the dog's sentence shares "the" (a stop word), so
  // the keyword side finds the feline alone.
  EXPECT_EQ(keyword->size(), 1u);

  // Semantic: all four, by distance.
  q.mode = QueryMode::kSemantic;
  auto semantic = col->Query(q);
  ASSERT_TRUE(semantic.ok());
  EXPECT_EQ(semantic->size(), 4u);
  EXPECT_EQ((*(*semantic)[0].explain)["mode"], "semantic");

  // Hybrid with a vector of one's own: the vector side is that vector, nothing is embedded.
  q.mode = QueryMode::kHybrid;
  q.vector = ModelRows({"I like apples"}, embed::TextKind::kQuery)[0];
  q.text = "apples";
  auto own = col->Query(q);
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ((*own)[0].id, "apple");
  EXPECT_FALSE((*own)[0].explain->contains("embedded_query"));
  q.mode = QueryMode::kKeyword;
  EXPECT_EQ(col->Query(q).status().code(), StatusCode::kInvalidArgument);  // keyword takes no vector
  q.mode = QueryMode::kSemantic;
  EXPECT_EQ(col->Query(q).status().code(), StatusCode::kInvalidArgument);  // a text or a vector, not both
}

TEST(EmbeddingCollectionTest, ModesOnACollectionWithoutAModel) {
  testing::TempDir tmp;
  auto db = Database::Open(tmp.path());
  ASSERT_TRUE(db.ok());
  CollectionConfig c;
  c.name = "plain";
  c.dimension = 4;
  c.text = true;
  auto col = *(*db)->CreateCollection(c);
  Point p;
  p.id = "a";
  p.vector = {1, 0, 0, 0};
  p.document = "apples and pears";
  ASSERT_TRUE(col->Upsert(std::vector<Point>{p}).ok());
  QueryRequest q;
  q.text = "apples";
  EXPECT_TRUE(col->Query(q).ok());  // auto: keyword, as before
  q.mode = QueryMode::kSemantic;
  auto semantic = col->Query(q);
  ASSERT_FALSE(semantic.ok());
  EXPECT_NE(semantic.status().message().find("has no embedding model"), std::string::npos);
  q.mode = QueryMode::kHybrid;
  EXPECT_NE(col->Query(q).status().message().find("has no embedding model"), std::string::npos);
  // A point without a vector is still refused by a collection without a model.
  Point no_vector;
  no_vector.id = "b";
  no_vector.document = "text only";
  EXPECT_EQ(col->Upsert(std::vector<Point>{no_vector}).status().code(), StatusCode::kInvalidArgument);
}

// The log holds the vectors: reopening never runs the model. A collection whose model
// directory is gone still opens and answers everything but embedding, which names the model.
TEST(EmbeddingCollectionTest, RecoveryNeverEmbedsAgain) {
  testing::TempDir tmp;
  const std::string model_dir = tmp.sub("model");
  std::filesystem::create_directories(model_dir);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"}) {
    std::filesystem::copy_file(std::string(SEXTANT_MODELS_DIR) + "/potion-base-4M/" + f, model_dir + "/" + f);
  }
  std::vector<float> cat_vector;
  {
    auto db = Database::Open(tmp.sub("db"));
    ASSERT_TRUE(db.ok());
    CollectionConfig c = EmbeddingConfig("docs");
    c.embedding->model = model_dir;
    auto col = (*db)->CreateCollection(c);
    ASSERT_TRUE(col.ok()) << col.status().ToString();
    ASSERT_TRUE((*col)->Upsert(ClassicPoints()).ok());
    const std::vector<std::string> ids = {"cat"};
    cat_vector = (*(*col)->Get(ids))[0].vector;
    EXPECT_EQ(cat_vector, ModelRows({kClassic[1].second}, embed::TextKind::kDocument, model_dir)[0]);
  }
  std::filesystem::remove_all(model_dir);
  auto db = Database::Open(tmp.sub("db"));
  ASSERT_TRUE(db.ok());
  auto col = (*db)->GetCollection("docs");
  ASSERT_TRUE(col.ok()) << col.status().ToString();
  EXPECT_EQ(*(*col)->Count(), 4u);
  const std::vector<std::string> ids = {"cat"};
  EXPECT_EQ((*(*col)->Get(ids))[0].vector, cat_vector);
  QueryRequest by_vector;
  by_vector.vector = cat_vector;
  auto hits = (*col)->Query(by_vector);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ((*hits)[0].id, "cat");
  QueryRequest by_text;
  by_text.text = "Where is the cat?";
  auto no_model = (*col)->Query(by_text);
  ASSERT_FALSE(no_model.ok());
  EXPECT_NE(no_model.status().message().find(model_dir), std::string::npos) << no_model.status().ToString();
  // Upserting documents now fails whole; points with vectors still go in.
  std::vector<Point> mixed = ClassicPoints();
  mixed[0].id = "dog2";
  Point with_vector;
  with_vector.id = "v";
  with_vector.vector = cat_vector;
  mixed.push_back(with_vector);
  EXPECT_FALSE((*col)->Upsert(mixed).ok());
  EXPECT_EQ(*(*col)->Count(), 4u);
  EXPECT_TRUE((*col)->Upsert(std::vector<Point>{with_vector}).ok());
  EXPECT_EQ(*(*col)->Count(), 5u);
}

}  // namespace
}  // namespace sextant
