// The server's pure parts: routing, request-body parsers, bearer tokens, request ids.
#include <gtest/gtest.h>

#include <string>

#include "server/request_codec.h"
#include "server/router.h"

namespace sextant::server {
namespace {

using nlohmann::json;

TEST(RouterTest, LiteralsBeatParametersAndParamsAreDecoded) {
  Router r;
  const int get_point = r.Add("GET", "/v1/collections/{collection}/points/{id}");
  const int del = r.Add("POST", "/v1/collections/{collection}/points/delete");
  const int upsert = r.Add("POST", "/v1/collections/{collection}/points");
  auto m = r.Match("GET", "/v1/collections/docs/points/a%2Fb%20c");
  ASSERT_EQ(m.route, get_point);
  EXPECT_EQ(m.params["collection"], "docs");
  EXPECT_EQ(m.params["id"], "a/b c");
  EXPECT_EQ(r.Match("POST", "/v1/collections/docs/points/delete").route, del);
  EXPECT_EQ(r.Match("POST", "/v1/collections/docs/points").route, upsert);
  EXPECT_EQ(r.Match("POST", "//v1//collections/docs/points/").route, upsert);  // empty segments ignored
}

TEST(RouterTest, UnknownPathsAndWrongMethods) {
  Router r;
  r.Add("GET", "/v1/tenants/{tenant}");
  r.Add("PUT", "/v1/tenants/{tenant}");
  auto m = r.Match("POST", "/v1/tenants/acme");
  EXPECT_EQ(m.route, -1);
  EXPECT_EQ(m.allowed_methods, (std::vector<std::string>{"GET", "PUT"}));
  m = r.Match("GET", "/v1/nope");
  EXPECT_EQ(m.route, -1);
  EXPECT_TRUE(m.allowed_methods.empty());
  EXPECT_EQ(r.Match("GET", "/v1/tenants/%zz").route, -1);  // bad escape
  EXPECT_EQ(r.Match("GET", "/v1/tenants/a%00b").route, -1);  // NUL
  EXPECT_EQ(r.Match("GET", "/v1/tenants/%4").route, -1);
}

TEST(RouterTest, QueryString) {
  auto q = ParseQueryString("vector=false&x=a%20b+c&&=skip&bad=%zz&flag");
  EXPECT_EQ(q["vector"], "false");
  EXPECT_EQ(q["x"], "a b c");
  EXPECT_EQ(q.count("bad"), 0u);
  EXPECT_EQ(q["flag"], "");
}

TEST(CodecTest, JsonBodyDepthAndMalformed) {
  EXPECT_TRUE(ParseJsonBody("", 8).ok());
  EXPECT_TRUE(ParseJsonBody("  \n", 8)->is_object());
  EXPECT_EQ(ParseJsonBody("{\"a\":", 8).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseJsonBody("{\"a\": NaN}", 8).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ParseJsonBody("[[[[]]]]", 4).ok());
  EXPECT_FALSE(ParseJsonBody("[[[[[]]]]]", 4).ok());
  EXPECT_TRUE(ParseJsonBody("[\"[[[[[[[[\"]", 4).ok());  // brackets inside strings do not count
  EXPECT_TRUE(ParseJsonBody("[\"\\\"[[[[[[[\"]", 4).ok());
}

TEST(CodecTest, BearerAndRequestId) {
  EXPECT_EQ(ParseBearer("Bearer abc"), "abc");
  EXPECT_EQ(ParseBearer("  bearer \tabc  "), "abc");
  EXPECT_FALSE(ParseBearer("Basic abc"));
  EXPECT_FALSE(ParseBearer("Bearer"));
  EXPECT_FALSE(ParseBearer("Bearer a b"));
  EXPECT_FALSE(ParseBearer("Bearerabc"));
  EXPECT_EQ(SanitizeRequestId("req-1.2:3_x"), "req-1.2:3_x");
  EXPECT_FALSE(SanitizeRequestId("a b"));
  EXPECT_FALSE(SanitizeRequestId(std::string(129, 'a')));
  EXPECT_FALSE(SanitizeRequestId(""));
}

TEST(CodecTest, CollectionSpec) {
  Limits limits;
  auto spec = ParseCollectionSpec(json::parse(R"({"dimension": 3, "metric": "cosine", "text": true,
      "analyzer": "standard", "hnsw": {"M": 8}, "bm25": {"k1": 1.2}})"), limits);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->config.dimension, 3u);
  EXPECT_EQ(spec->config.metric, Metric::kCosine);
  EXPECT_EQ(spec->config.hnsw.M, 8u);
  EXPECT_FLOAT_EQ(spec->config.bm25_k1, 1.2f);
  EXPECT_EQ(ParseCollectionSpec(json::parse(R"({"metric": "l2"})"), limits).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCollectionSpec(json::parse(R"({"dimension": "3"})"), limits).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCollectionSpec(json::parse(R"({"dimension": -1})"), limits).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCollectionSpec(json::parse(R"({"dimension": 70000})"), limits).status().code(),
            StatusCode::kOutOfRange);
  auto unknown = ParseCollectionSpec(json::parse(R"({"dimension": 3, "dim": 3})"), limits);
  EXPECT_NE(unknown.status().message().find("unknown field 'dim'"), std::string::npos);
  // The engine's limits (codec::CheckCollectionSettings), not a server copy of them: M up to 512 ...
  EXPECT_EQ(ParseCollectionSpec(json::parse(R"({"dimension": 3, "hnsw": {"M": 300}})"), limits)->config.hnsw.M, 300u);
  // ... judged at create, like a config given to the embedded API (422 invalid_argument).
  EXPECT_TRUE(ParseCollectionSpec(json::parse(R"({"dimension": 3, "hnsw": {"M": 513}})"), limits).ok());
  auto metric = ParseCollectionSpec(json::parse(R"({"dimension": 3, "metric": "l7"})"), limits);
  EXPECT_EQ(metric.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(metric.status().message().find("field 'metric'"), std::string::npos);
}

TEST(CodecTest, UpsertBatches) {
  Limits limits;
  limits.max_batch = 2;
  auto ok = ParseUpsert(json::parse(R"({"points": [{"id": "a", "vector": [1, 2]}, {"id": "b", "document": "x"}]})"),
                        limits);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->size(), 2u);
  EXPECT_EQ(ParseUpsert(json::parse(R"({"points": [{"id": "a"}, {"id": "b"}, {"id": "c"}]})"), limits)
                .status().code(), StatusCode::kResourceExhausted);
  auto dup = ParseUpsert(json::parse(R"({"points": [{"id": "a"}, {"id": "a"}]})"), limits);
  EXPECT_NE(dup.status().message().find("appears twice"), std::string::npos);
  auto bad = ParseUpsert(json::parse(R"({"points": [{"id": "a", "vector": [1, "x"]}]})"), limits);
  EXPECT_NE(bad.status().message().find("points[0]"), std::string::npos);
  EXPECT_FALSE(ParseUpsert(json::parse(R"({"points": []})"), limits).ok());
  EXPECT_FALSE(ParseUpsert(json::parse(R"({"points": {}})"), limits).ok());
  EXPECT_FALSE(ParseUpsert(json::parse(R"([1])"), limits).ok());
  EXPECT_FALSE(ParseUpsert(json::parse(R"({"points": [{"id": "a", "vector": [1e39]}]})"), limits).ok());
}

TEST(CodecTest, Query) {
  Limits limits;
  limits.max_k = 100;
  auto q = ParseQuery(json::parse(R"({"vector": [1, 0], "k": 5, "filter": {"a": 1}, "include": ["vector"]})"), limits);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->k, 5u);
  EXPECT_TRUE(q->include_vector);
  EXPECT_FALSE(q->include_document);
  auto d = ParseQuery(json::parse(R"({"text": "hello"})"), limits);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->include_document && d->include_metadata);  // the defaults
  EXPECT_EQ(ParseQuery(json::parse(R"({"vector": [1], "k": 101})"), limits).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(ParseQuery(json::parse(R"({"vector": [1], "k": 0})"), limits).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(ParseQuery(json::parse(R"({"vector": [1], "k": 1.5})"), limits).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseQuery(json::parse(R"({"k": 1})"), limits).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseQuery(json::parse(R"({"vector": [1], "filter": [1]})"), limits).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseQuery(json::parse(R"({"vector": "x"})"), limits).status().code(), StatusCode::kInvalidArgument);
}

TEST(CodecTest, DeleteScrollKeysSnapshots) {
  Limits limits;
  EXPECT_EQ(ParseDelete(json::parse(R"({"ids": ["a", "b"]})"), limits)->ids.size(), 2u);
  EXPECT_TRUE(ParseDelete(json::parse(R"({"filter": {"a": 1}})"), limits)->filter.has_value());
  EXPECT_FALSE(ParseDelete(json::parse(R"({})"), limits).ok());
  EXPECT_FALSE(ParseDelete(json::parse(R"({"ids": ["a"], "filter": {}})"), limits).ok());
  EXPECT_FALSE(ParseDelete(json::parse(R"({"ids": [1]})"), limits).ok());
  EXPECT_EQ(ParseScroll(json::parse(R"({"limit": 5, "after": "x"})"), limits)->limit, 5u);
  EXPECT_EQ(ParseScroll(json::parse(R"({"limit": 0})"), limits).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(ParseKeySpec(json::parse(R"({"role": "reader", "tenant": "t"})"))->tenant, "t");
  EXPECT_FALSE(ParseKeySpec(json::parse(R"({"role": "root"})")).ok());
  EXPECT_FALSE(ParseKeySpec(json::parse(R"({"role": "reader", "database": "d"})")).ok());
  EXPECT_FALSE(ParseKeySpec(json::parse(R"({"role": "reader", "tenant": "../x"})")).ok());
  EXPECT_FALSE(ParseSnapshotCreate(json::parse(R"({"snapshot": "a/b"})")).ok());
  EXPECT_FALSE(ParseSnapshotCreate(json::parse(R"({"snapshot": ".."})")).ok());
  EXPECT_EQ(*ParseSnapshotRestore(json::parse(R"({"collection": "c2"})")), "c2");
  EXPECT_TRUE(IsValidName("a-b_C9"));
  EXPECT_FALSE(IsValidName(".."));
  EXPECT_FALSE(IsValidName(std::string(65, 'a')));
}

}  // namespace
}  // namespace sextant::server
