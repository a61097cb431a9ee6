// Collections that embed (issue 12, item 6) over HTTP, against real server instances: a PUT
// that names a model (no dimension: the model's), points with documents only, text queries by
// meaning, keyword and both (explain shows the sides), the server's rules (a model is a name,
// never a path; a provider URL only under --embedding-provider-urls), a bad point refusing the
// whole batch; and Sextant as the embedding service for another Sextant at collection level:
// server B's collection embeds through server A's POST /v1/embeddings, exactly like the
// built-in model, and fails whole batches (naming the URL) once A is gone.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "embed/model.h"
#include "server/request_codec.h"
#include "server/server.h"
#include "test_server.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sextant::server::ServerOptions;

using sextant::server::testing::Resp;
using sextant::server::testing::TestServer;

// The classic four (issue 12): "Where is the cat?" shares no word with the feline.
const std::vector<std::pair<std::string, std::string>> kClassic = {
    {"dog", "The dog barked at the mailman."},
    {"feline", "The feline is sleeping on the sofa."},
    {"apples", "I love eating fresh apples."},
    {"js", "Javascript is a programming language."},
};

json DocumentsOnly() {
  json points = json::array();
  for (const auto& [id, doc] : kClassic) points.push_back({{"id", id}, {"document", doc}});
  return {{"points", points}};
}

std::vector<float> VectorOf(const json& v) {
  std::vector<float> out;
  for (const json& x : v) out.push_back(x.get<float>());
  return out;
}

// The built-in model's document embeddings of the classic four, in order.
std::vector<std::vector<float>> BuiltinDocumentEmbeddings() {
  auto model = sextant::embed::LoadModel("potion-base-4M");
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return {};
  std::vector<std::string_view> texts;
  for (const auto& [id, doc] : kClassic) texts.push_back(doc);
  auto rows = (*model)->EmbedAs(sextant::embed::TextKind::kDocument, texts, 1);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  std::vector<std::vector<float>> out;
  const size_t dim = (*model)->dimension();
  for (size_t i = 0; i < texts.size(); ++i) out.emplace_back(rows->begin() + i * dim, rows->begin() + (i + 1) * dim);
  return out;
}

class EmbeddingCollectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("sextant_server_embcol_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/models");
    ::setenv("SEXTANT_MODELS", (dir_ + "/models").c_str(), 1);  // no pulled model of the machine's
  }
  void TearDown() override {
    ::unsetenv("SEXTANT_MODELS");
    ::unsetenv("SEXTANT_TEST_PROVIDER_KEY");
    fs::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(EmbeddingCollectionTest, DocumentsInMeaningOut) {
  TestServer s(dir_ + "/s");
  const std::string col = "/v1/collections/docs";
  Resp created = s.Call("PUT", col, {{"embedding", "potion-base-4M"}, {"text", true}});
  ASSERT_EQ(created.status, 201) << created.raw;
  EXPECT_EQ(created.body["dimension"], 128) << created.raw;  // the model's
  EXPECT_EQ(created.body["embedding"]["model"], "potion-base-4M") << created.raw;
  EXPECT_TRUE(created.body["embedding"].contains("hybrid_alpha")) << created.raw;
  EXPECT_FALSE(created.body["embedding"].contains("url")) << created.raw;
  Resp info = s.Call("GET", col);
  EXPECT_EQ(info.body["dimension"], 128) << info.raw;
  EXPECT_EQ(info.body["embedding"], created.body["embedding"]) << info.raw;

  // The same definition again (still without a dimension) is the idempotent PUT.
  Resp again = s.Call("PUT", col, {{"embedding", "potion-base-4M"}, {"text", true}});
  EXPECT_EQ(again.status, 200) << again.raw;
  // The reply form read back as a request too.
  json reply = created.body;
  reply.erase("name");
  reply.erase("created");
  EXPECT_EQ(s.Call("PUT", col, reply).status, 200) << reply.dump();
  // A different model or dimension is a conflict.
  EXPECT_EQ(s.Call("PUT", col, {{"embedding", "potion-base-4M"}, {"text", true}, {"dimension", 64}}).status, 422);
  EXPECT_EQ(s.Call("PUT", col, {{"embedding", "potion-base-4M"}}).ErrorCode(), "already_exists");

  // Documents only: the vectors are the model's document embeddings.
  Resp acked = s.Call("POST", col + "/points", DocumentsOnly());
  ASSERT_EQ(acked.status, 200) << acked.raw;
  EXPECT_EQ(acked.body, json({{"acked", 4}}));
  const auto want = BuiltinDocumentEmbeddings();
  ASSERT_EQ(want.size(), kClassic.size());
  for (size_t i = 0; i < kClassic.size(); ++i) {
    Resp p = s.Call("GET", col + "/points/" + kClassic[i].first);
    ASSERT_EQ(p.status, 200) << p.raw;
    EXPECT_EQ(p.body["document"], kClassic[i].second);
    EXPECT_EQ(VectorOf(p.body["vector"]), want[i]) << kClassic[i].first;
  }

  // By meaning: no word of the query is in the best answer.
  Resp hits = s.Call("POST", col + "/query", {{"text", "Where is the cat?"}, {"mode", "semantic"}, {"k", 4},
                                              {"explain", true}, {"include", {"document"}}});
  ASSERT_EQ(hits.status, 200) << hits.raw;
  ASSERT_EQ(hits.body["results"].size(), 4u) << hits.raw;
  EXPECT_EQ(hits.body["results"][0]["id"], "feline") << hits.raw;
  EXPECT_EQ(hits.body["results"][0]["document"], "The feline is sleeping on the sofa.");
  const json& sem = hits.body["results"][0]["explain"];
  EXPECT_EQ(sem["mode"], "semantic") << hits.raw;
  EXPECT_EQ(sem["embedded_query"], true) << hits.raw;
  EXPECT_FALSE(sem.contains("bm25")) << hits.raw;

  // The default (auto) on a collection with a model and a keyword index: hybrid, both sides
  // shown, fused with the collection's weight.
  hits = s.Call("POST", col + "/query", {{"text", "Where is the cat?"}, {"k", 4}});
  ASSERT_EQ(hits.status, 200) << hits.raw;
  EXPECT_EQ(hits.body["results"][0]["id"], "feline") << hits.raw;
  hits = s.Call("POST", col + "/query", {{"text", "a sleeping cat"}, {"k", 4}, {"explain", true}});
  ASSERT_EQ(hits.status, 200) << hits.raw;
  ASSERT_FALSE(hits.body["results"].empty()) << hits.raw;
  EXPECT_EQ(hits.body["results"][0]["id"], "feline") << hits.raw;
  const json& both = hits.body["results"][0]["explain"];
  EXPECT_EQ(both["mode"], "hybrid") << hits.raw;
  EXPECT_EQ(both["embedded_query"], true) << hits.raw;
  EXPECT_TRUE(both["bm25"].is_number()) << hits.raw;               // the keyword side ("sleeping")
  EXPECT_TRUE(both["text_rank"].is_number()) << hits.raw;
  EXPECT_TRUE(both["vector_distance"].is_number()) << hits.raw;    // the meaning side
  EXPECT_TRUE(both["vector_rank"].is_number()) << hits.raw;
  EXPECT_TRUE(both["fused_score"].is_number()) << hits.raw;
  EXPECT_EQ(both["fusion"], "weighted") << hits.raw;
  EXPECT_EQ(both["alpha"], created.body["embedding"]["hybrid_alpha"]) << hits.raw;
  // "mode": "hybrid" says the same as auto here.
  Resp hybrid = s.Call("POST", col + "/query", {{"text", "a sleeping cat"}, {"k", 4}, {"explain", true},
                                                {"mode", "hybrid"}});
  ASSERT_EQ(hybrid.status, 200) << hybrid.raw;
  EXPECT_EQ(hybrid.body["results"], hits.body["results"]);

  // Keyword only: BM25 over the documents, no embedding; the cat is not a word of any of them.
  hits = s.Call("POST", col + "/query", {{"text", "sleeping"}, {"mode", "keyword"}, {"explain", true}});
  ASSERT_EQ(hits.status, 200) << hits.raw;
  ASSERT_EQ(hits.body["results"].size(), 1u) << hits.raw;
  EXPECT_EQ(hits.body["results"][0]["id"], "feline");
  EXPECT_EQ(hits.body["results"][0]["explain"]["mode"], "keyword") << hits.raw;
  EXPECT_FALSE(hits.body["results"][0]["explain"].contains("embedded_query")) << hits.raw;
  hits = s.Call("POST", col + "/query", {{"text", "Where is the cat?"}, {"mode", "keyword"}});
  ASSERT_EQ(hits.status, 200) << hits.raw;
  EXPECT_TRUE(hits.body["results"].empty()) << hits.raw;

  // A bad mode is the parser's 400, naming the field.
  Resp bad = s.Call("POST", col + "/query", {{"text", "cat"}, {"mode", "bogus"}});
  EXPECT_EQ(bad.status, 400) << bad.raw;
  EXPECT_NE(bad.ErrorMessage().find("field 'mode'"), std::string::npos) << bad.raw;

  // A point with a vector keeps it.
  std::vector<float> v(128, 0.0f);
  v[0] = 1;
  ASSERT_EQ(s.Call("POST", col + "/points", {{"points", {{{"id", "v"}, {"vector", v}, {"document", "a cat"}}}}}).status,
            200);
  Resp p = s.Call("GET", col + "/points/v");
  EXPECT_EQ(VectorOf(p.body["vector"]), v) << p.raw;
}

TEST_F(EmbeddingCollectionTest, ServerRules) {
  TestServer s(dir_ + "/s");
  // A model is a name (built-in or pulled into the server's folder), never a path.
  for (const char* path : {"/tmp/x", "../x", ".hidden", "a/../b", "./potion-base-4M", "owner/.x", "a/b/c", "x/",
                           "/", "~/models/x"}) {
    SCOPED_TRACE(path);
    Resp r = s.Call("PUT", "/v1/collections/p", {{"embedding", {{"model", path}}}});
    EXPECT_EQ(r.status, 400) << r.raw;
    EXPECT_EQ(r.ErrorCode(), "bad_request") << r.raw;
    EXPECT_NE(r.ErrorMessage().find("embedding.model"), std::string::npos) << r.raw;
    r = s.Call("PUT", "/v1/collections/p", {{"embedding", path}});  // the short form too
    EXPECT_EQ(r.status, 400) << r.raw;
  }
  // A real model directory is refused by name too (the server would otherwise read it).
  Resp dir = s.Call("PUT", "/v1/collections/p",
                    {{"embedding", std::string(SEXTANT_SOURCE_DIR) + "/models/potion-base-4M"}});
  EXPECT_EQ(dir.status, 400) << dir.raw;
  // A name that is not a model: not found, nothing created.
  Resp unknown = s.Call("PUT", "/v1/collections/p", {{"embedding", "no-such-model"}});
  EXPECT_EQ(unknown.status / 100, 4) << unknown.raw;
  EXPECT_NE(unknown.ErrorMessage().find("no-such-model"), std::string::npos) << unknown.raw;
  EXPECT_EQ(s.Call("GET", "/v1/collections/p").status, 404);

  // No provider URL unless the server was started with --embedding-provider-urls.
  Resp provider = s.Call("PUT", "/v1/collections/p", {{"embedding", {{"model", "m"}, {"url", "http://127.0.0.1:9/v1"}}}});
  EXPECT_EQ(provider.status, 400) << provider.raw;
  EXPECT_NE(provider.ErrorMessage().find("embedding.url"), std::string::npos) << provider.raw;
  EXPECT_NE(provider.ErrorMessage().find("--embedding-provider-urls"), std::string::npos) << provider.raw;
  // The codec's rules answer 400 naming the field too.
  Resp unknown_field = s.Call("PUT", "/v1/collections/p", {{"embedding", {{"model", "potion-base-4M"}, {"key", "x"}}}});
  EXPECT_EQ(unknown_field.status, 400) << unknown_field.raw;
  EXPECT_NE(unknown_field.ErrorMessage().find("unknown field 'key'"), std::string::npos) << unknown_field.raw;
  Resp alpha = s.Call("PUT", "/v1/collections/p", {{"embedding", {{"model", "potion-base-4M"}, {"hybrid_alpha", 1.5}}}});
  EXPECT_EQ(alpha.status / 100, 4) << alpha.raw;
  EXPECT_NE(alpha.ErrorMessage().find("embedding.hybrid_alpha"), std::string::npos) << alpha.raw;
  EXPECT_EQ(s.Call("GET", "/v1/collections/p").status, 404);

  // A point with neither vector nor document refuses the whole batch; nothing is applied.
  const std::string col = "/v1/collections/docs";
  ASSERT_EQ(s.Call("PUT", col, {{"embedding", "potion-base-4M"}}).status, 201);
  Resp r = s.Call("POST", col + "/points",
                  {{"points", {{{"id", "a"}, {"document", "The dog barked at the mailman."}}, {{"id", "b"}}}}});
  EXPECT_EQ(r.status, 422) << r.raw;
  EXPECT_EQ(r.ErrorCode(), "invalid_argument") << r.raw;
  EXPECT_NE(r.ErrorMessage().find("no vector and no document"), std::string::npos) << r.raw;
  EXPECT_NE(r.ErrorMessage().find("'b'"), std::string::npos) << r.raw;
  EXPECT_EQ(s.Call("GET", col + "/count").body["count"], 0);
  EXPECT_EQ(s.Call("GET", col + "/points/a").status, 404);
  // A wrong-dimension vector beside a document is refused too (the document does not stand in).
  r = s.Call("POST", col + "/points", {{"points", {{{"id", "a"}, {"vector", {1, 2}}, {"document", "x"}}}}});
  EXPECT_EQ(r.status, 422) << r.raw;
  EXPECT_NE(r.ErrorMessage().find("vector has dimension 2"), std::string::npos) << r.raw;
  EXPECT_EQ(s.Call("GET", col + "/count").body["count"], 0);
  // Without a keyword index, keyword and hybrid have nothing to search; semantic is the default.
  ASSERT_EQ(s.Call("POST", col + "/points", DocumentsOnly()).status, 200);
  Resp q = s.Call("POST", col + "/query", {{"text", "Where is the cat?"}, {"explain", true}});
  ASSERT_EQ(q.status, 200) << q.raw;
  EXPECT_EQ(q.body["results"][0]["id"], "feline") << q.raw;
  EXPECT_EQ(q.body["results"][0]["explain"]["mode"], "semantic") << q.raw;
  EXPECT_EQ(s.Call("POST", col + "/query", {{"text", "cat"}, {"mode", "hybrid"}}).status, 422);
  EXPECT_EQ(s.Call("POST", col + "/query", {{"text", "cat"}, {"mode", "keyword"}}).status / 100, 4);
}

// ParseCollectionSpec's embedding rules, without a server: names, not paths; provider URLs only
// under a prefix that ends where a path begins.
TEST(EmbeddingSpecTest, ModelNamesAndProviderPrefixes) {
  sextant::server::Limits limits;
  auto parse = [&](const json& embedding) {
    return sextant::server::ParseCollectionSpec(json{{"embedding", embedding}}, limits);
  };
  for (const char* name : {"potion-base-4M", "minishlab/potion-base-4M", "BAAI/bge-small-en-v1.5", "a_b-c.d"}) {
    auto r = parse(name);
    EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
  }
  for (const char* path : {"/tmp/x", "../x", ".hidden", "a/../b", "./m", "owner/.x", "a/b/c", "x/", "/", "~/m",
                           "a b", "m\\..\\x", ""}) {
    auto r = parse({{"model", path}});
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_NE(r.status().message().find("embedding.model"), std::string::npos) << r.status().ToString();
  }
  // No prefix: no provider at all.
  auto none = parse({{"model", "m"}, {"url", "http://127.0.0.1:8080/v1"}});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("embedding.url"), std::string::npos);
  // A prefix without a trailing slash still ends at the host and port it names.
  limits.embedding_provider_urls = {"http://127.0.0.1:80", "https://api.example.com/v1/"};
  for (const char* ok : {"http://127.0.0.1:80", "http://127.0.0.1:80/v1", "https://api.example.com/v1/",
                         "https://api.example.com/v1/x"}) {
    auto r = parse({{"model", "m"}, {"url", ok}});
    EXPECT_TRUE(r.ok()) << ok << ": " << r.status().ToString();
  }
  for (const char* refused : {"http://127.0.0.1:8080/v1", "http://127.0.0.1:80.evil.net/v1", "http://127.0.0.1:80@evil.net/v1",
                              "https://api.example.com/v1", "https://api.example.com/v2/", "http://api.example.com/v1/",
                              "https://api.example.com.evil.net/v1/"}) {
    auto r = parse({{"model", "m"}, {"url", refused}});
    ASSERT_FALSE(r.ok()) << refused;
    EXPECT_NE(r.status().message().find("embedding.url"), std::string::npos) << r.status().ToString();
  }
  // A provider's model is the provider's name for it: a slash or dots are its business.
  EXPECT_TRUE(parse({{"model", "org/../model"}, {"url", "http://127.0.0.1:80/v1"}}).ok());
}

// Sextant as the embedding service for another Sextant, at collection level.
TEST_F(EmbeddingCollectionTest, AnotherSextantAsTheProvider) {
  auto a = std::make_unique<TestServer>(dir_ + "/a");
  const std::string prefix = "http://127.0.0.1:" + std::to_string(a->port()) + "/";
  const std::string url = prefix + "v1";
  TestServer b(dir_ + "/b", [&](ServerOptions& o) { o.limits.embedding_provider_urls = {prefix}; });
  ::setenv("SEXTANT_TEST_PROVIDER_KEY", a->admin().c_str(), 1);  // A wants a key; B names its variable

  const std::string col = "/v1/collections/remote";
  const json settings = {{"text", true},
                         {"embedding",
                          {{"model", "potion-base-4M"},
                           {"url", url},
                           {"api_key_env", "SEXTANT_TEST_PROVIDER_KEY"},
                           {"max_retries", 0},
                           {"timeout_s", 10}}}};
  Resp created = b.Call("PUT", col, settings);
  ASSERT_EQ(created.status, 201) << created.raw;
  EXPECT_EQ(created.body["dimension"], 128) << created.raw;  // asked of A once
  EXPECT_EQ(created.body["embedding"]["url"], url) << created.raw;
  EXPECT_EQ(created.body["embedding"]["api_key_env"], "SEXTANT_TEST_PROVIDER_KEY") << created.raw;
  EXPECT_EQ(created.raw.find(a->admin()), std::string::npos) << "the key itself is never shown";
  // Another prefix is still refused on B.
  Resp elsewhere = b.Call("PUT", "/v1/collections/x", {{"embedding", {{"model", "m"}, {"url", "http://127.0.0.2:1/v1"}}}});
  EXPECT_EQ(elsewhere.status, 400) << elsewhere.raw;

  // Documents embedded by A: exactly the built-in model's document embeddings.
  Resp acked = b.Call("POST", col + "/points", DocumentsOnly());
  ASSERT_EQ(acked.status, 200) << acked.raw;
  const auto want = BuiltinDocumentEmbeddings();
  ASSERT_EQ(want.size(), kClassic.size());
  for (size_t i = 0; i < kClassic.size(); ++i) {
    Resp p = b.Call("GET", col + "/points/" + kClassic[i].first);
    ASSERT_EQ(p.status, 200) << p.raw;
    EXPECT_EQ(VectorOf(p.body["vector"]), want[i]) << kClassic[i].first;
  }
  // And the key never reached B's data directory.
  for (const auto& entry : fs::recursive_directory_iterator(dir_ + "/b/data")) {
    if (!entry.is_regular_file()) continue;
    std::ifstream f(entry.path(), std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_EQ(content.find(a->admin()), std::string::npos) << entry.path();
  }

  // Text queries are embedded by A too.
  Resp hits = b.Call("POST", col + "/query", {{"text", "Where is the cat?"}, {"mode", "semantic"}, {"explain", true}});
  ASSERT_EQ(hits.status, 200) << hits.raw;
  EXPECT_EQ(hits.body["results"][0]["id"], "feline") << hits.raw;
  EXPECT_EQ(hits.body["results"][0]["explain"]["embedded_query"], true) << hits.raw;
  hits = b.Call("POST", col + "/query", {{"text", "Where is the cat?"}});
  ASSERT_EQ(hits.status, 200) << hits.raw;
  EXPECT_EQ(hits.body["results"][0]["id"], "feline") << hits.raw;

  // A gone: a batch with documents to embed fails whole, naming the provider's URL.
  a->Stop();
  json more = {{"points",
                {{{"id", "n1"}, {"document", "A kitten naps in the sun."}},
                 {{"id", "n2"}, {"document", "Bananas are yellow."}}}}};
  Resp failed = b.Call("POST", col + "/points", more);
  EXPECT_GE(failed.status, 400) << failed.raw;
  EXPECT_NE(failed.status, 200) << failed.raw;
  EXPECT_NE(failed.ErrorMessage().find(url), std::string::npos) << failed.raw;
  EXPECT_EQ(b.Call("GET", col + "/count").body["count"], 4) << "nothing of the batch applied";
  EXPECT_EQ(b.Call("GET", col + "/points/n1").status, 404);
  // A batch mixing a vector and a document to embed fails whole too.
  std::vector<float> v(128, 0.0f);
  v[3] = 1;
  failed = b.Call("POST", col + "/points",
                  {{"points", {{{"id", "with_vector"}, {"vector", v}}, {{"id", "n3"}, {"document", "Cats purr."}}}}});
  EXPECT_NE(failed.status, 200) << failed.raw;
  EXPECT_EQ(b.Call("GET", col + "/count").body["count"], 4);
  // Points with vectors still go in; the stored points still answer vector queries.
  Resp ok = b.Call("POST", col + "/points", {{"points", {{{"id", "with_vector"}, {"vector", v}, {"document", "x"}}}}});
  ASSERT_EQ(ok.status, 200) << ok.raw;
  EXPECT_EQ(b.Call("GET", col + "/count").body["count"], 5);
  EXPECT_EQ(VectorOf(b.Call("GET", col + "/points/with_vector").body["vector"]), v);
  hits = b.Call("POST", col + "/query", {{"vector", want[1]}, {"k", 1}});
  ASSERT_EQ(hits.status, 200) << hits.raw;
  EXPECT_EQ(hits.body["results"][0]["id"], "feline") << hits.raw;
  // A text query by meaning fails naming the URL; by keyword it still answers.
  Resp sem = b.Call("POST", col + "/query", {{"text", "Where is the cat?"}, {"mode", "semantic"}});
  EXPECT_NE(sem.status, 200) << sem.raw;
  EXPECT_NE(sem.ErrorMessage().find(url), std::string::npos) << sem.raw;
  Resp kw = b.Call("POST", col + "/query", {{"text", "sleeping"}, {"mode", "keyword"}});
  ASSERT_EQ(kw.status, 200) << kw.raw;
  EXPECT_EQ(kw.body["results"][0]["id"], "feline") << kw.raw;
}

}  // namespace
