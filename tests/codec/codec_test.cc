// The one JSON codec (src/codec): collection settings in their stored and reply forms and from
// request bodies, the one set of limits, points, queries, hits and stats.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "codec/collection_json.h"
#include "codec/fields.h"
#include "codec/point_json.h"
#include "codec/query_json.h"

namespace sextant::codec {
namespace {

using nlohmann::json;

constexpr IndexType kAllIndexes[] = {IndexType::kHnsw, IndexType::kFlat,  IndexType::kIvfFlat, IndexType::kIvfPq,
                                     IndexType::kPq,   IndexType::kSq8,   IndexType::kHnswSq8};

// Every setting away from its default (values a float holds exactly, so that the reply
// form's rounding changes nothing).
CollectionConfig Unusual(IndexType index) {
  CollectionConfig c;
  c.name = "docs_1";
  c.dimension = 96;
  c.metric = Metric::kCosine;
  c.index = index;
  c.hnsw = {24, 150, 77};
  c.quantization = {.nlist = 64, .nprobe = 5, .m = 12, .nbits = 4, .rerank = 40};
  c.segments = {.seal_points = 5000, .merge_factor = 6, .compact_deleted_fraction = 0.375};
  c.text = true;
  c.analyzer = "cjk";
  c.bm25_k1 = 1.25f;
  c.bm25_b = 0.5f;
  return c;
}

void ExpectSame(const CollectionConfig& a, const CollectionConfig& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.dimension, b.dimension);
  EXPECT_EQ(a.metric, b.metric);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.hnsw.M, b.hnsw.M);
  EXPECT_EQ(a.hnsw.ef_construction, b.hnsw.ef_construction);
  EXPECT_EQ(a.hnsw.ef_search, b.hnsw.ef_search);
  EXPECT_EQ(a.quantization.nlist, b.quantization.nlist);
  EXPECT_EQ(a.quantization.nprobe, b.quantization.nprobe);
  EXPECT_EQ(a.quantization.m, b.quantization.m);
  EXPECT_EQ(a.quantization.nbits, b.quantization.nbits);
  EXPECT_EQ(a.quantization.rerank, b.quantization.rerank);
  EXPECT_EQ(a.segments.seal_points, b.segments.seal_points);
  EXPECT_EQ(a.segments.merge_factor, b.segments.merge_factor);
  EXPECT_EQ(a.segments.compact_deleted_fraction, b.segments.compact_deleted_fraction);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.analyzer, b.analyzer);
  EXPECT_EQ(a.bm25_k1, b.bm25_k1);
  EXPECT_EQ(a.bm25_b, b.bm25_b);
}

// --- Collection settings: round trips ---------------------------------------------------

TEST(CollectionJsonTest, StoredFormRoundTripsEveryFieldForEveryIndex) {
  for (IndexType index : kAllIndexes) {
    SCOPED_TRACE(IndexTypeToString(index));
    const CollectionConfig c = Unusual(index);
    const json stored = CollectionConfigToJson(c, ConfigForm::kStored);
    auto back = CollectionConfigFromStoredJson(stored);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ExpectSame(c, *back);
    // Also through text, as config.json is.
    auto reparsed = CollectionConfigFromStoredJson(json::parse(stored.dump(2)));
    ASSERT_TRUE(reparsed.ok());
    ExpectSame(c, *reparsed);
  }
  // The defaults too, with floats that are not exact (bm25 0.9 and 0.4).
  CollectionConfig d;
  d.name = "d";
  d.dimension = 3;
  auto back = CollectionConfigFromStoredJson(json::parse(CollectionConfigToJson(d, ConfigForm::kStored).dump()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSame(d, *back);
}

TEST(CollectionJsonTest, ReplyFormReadsBackAsARequestForEveryIndex) {
  for (IndexType index : kAllIndexes) {
    SCOPED_TRACE(IndexTypeToString(index));
    CollectionConfig c = Unusual(index);
    if (index == IndexType::kHnsw || index == IndexType::kFlat) c.quantization = {};  // not shown, not settable
    json reply = CollectionConfigToJson(c, ConfigForm::kReply);
    EXPECT_EQ(reply.contains("quantization"), index != IndexType::kHnsw && index != IndexType::kFlat);
    reply.erase("name");  // the name comes from the path or the command line
    auto back = CollectionSettingsFromJson(reply);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    back->name = c.name;
    ExpectSame(c, *back);
  }
}

TEST(CollectionJsonTest, StoredFormIsByteCompatibleWithEarlierConfigFiles) {
  // config.json as the engine wrote it before the codec existed (the same keys and values).
  CollectionConfig c = Unusual(IndexType::kIvfPq);
  c.bm25_k1 = 0.9f;  // not exact in binary: stored as the float's double value
  const json earlier = {
      {"name", c.name}, {"dimension", c.dimension}, {"metric", "cosine"}, {"index", "ivf-pq"},
      {"hnsw", {{"M", c.hnsw.M}, {"ef_construction", c.hnsw.ef_construction}, {"ef_search", c.hnsw.ef_search}}},
      {"quantization", {{"nlist", c.quantization.nlist}, {"nprobe", c.quantization.nprobe}, {"m", c.quantization.m},
                        {"nbits", c.quantization.nbits}, {"rerank", c.quantization.rerank}}},
      {"segments", {{"seal_points", c.segments.seal_points}, {"merge_factor", c.segments.merge_factor},
                    {"compact_deleted_fraction", c.segments.compact_deleted_fraction}}},
      {"text", c.text}, {"analyzer", c.analyzer}, {"bm25", {{"k1", c.bm25_k1}, {"b", c.bm25_b}}}};
  EXPECT_EQ(CollectionConfigToJson(c, ConfigForm::kStored).dump(2), earlier.dump(2));
  EXPECT_NE(earlier.dump().find("\"k1\":0.8999999761581421"), std::string::npos) << earlier.dump();
}

TEST(CollectionJsonTest, ReplyFormShowsWhatApplies) {
  CollectionConfig c;
  c.name = "notes";
  c.dimension = 2;
  EXPECT_EQ(CollectionConfigToJson(c, ConfigForm::kReply).dump(),
            R"({"dimension":2,"hnsw":{"M":16,"ef_construction":200,"ef_search":128},"index":"hnsw",)"
            R"("metric":"l2","name":"notes","text":false})");
  c.text = true;
  c.segments.merge_factor = 8;
  const json j = CollectionConfigToJson(c, ConfigForm::kReply);
  EXPECT_EQ(j["bm25"].dump(), R"({"b":0.4,"k1":0.9})");  // rounded, not 0.4000000059604645
  EXPECT_EQ(j["analyzer"], "english");
  EXPECT_EQ(j["segments"]["merge_factor"], 8);
  EXPECT_FALSE(j.contains("quantization"));
}

// Legacy config files: quantization, segments and the text group may be absent.
TEST(CollectionJsonTest, StoredFormWithoutLaterSections) {
  auto c = CollectionConfigFromStoredJson(json::parse(
      R"({"name":"old","dimension":4,"metric":"l2","index":"hnsw","hnsw":{"M":16,"ef_construction":200,"ef_search":64}})"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->hnsw.ef_search, 64u);
  EXPECT_FALSE(c->text);
}

// --- Collection settings: every bad field named ----------------------------------------

struct BadCase {
  const char* body;
  StatusCode code;
  const char* words;
};

TEST(CollectionJsonTest, RequestErrorsNameTheField) {
  const BadCase cases[] = {
      {R"([1])", StatusCode::kInvalidArgument, "must be a JSON object"},
      {R"({"metric":"l2"})", StatusCode::kInvalidArgument, "field 'dimension' is required"},
      {R"({"dimension":"3"})", StatusCode::kInvalidArgument, "field 'dimension' must be a non-negative integer"},
      {R"({"dimension":-1})", StatusCode::kInvalidArgument, "field 'dimension' must be a non-negative integer"},
      {R"({"dimension":3,"dim":3})", StatusCode::kInvalidArgument, "unknown field 'dim'"},
      {R"({"dimension":3,"name":"x"})", StatusCode::kInvalidArgument, "unknown field 'name'"},
      {R"({"dimension":3,"metric":7})", StatusCode::kInvalidArgument, "field 'metric' must be a string"},
      {R"({"dimension":3,"metric":"l7"})", StatusCode::kInvalidArgument, "field 'metric': unknown metric 'l7'"},
      {R"({"dimension":3,"index":"lsh"})", StatusCode::kInvalidArgument, "field 'index': unknown index 'lsh'"},
      {R"({"dimension":3,"text":"yes"})", StatusCode::kInvalidArgument, "field 'text' must be true or false"},
      {R"({"dimension":3,"analyzer":"cjk"})", StatusCode::kInvalidArgument, "field 'analyzer' needs \"text\": true"},
      {R"({"dimension":3,"text":true,"analyzer":1})", StatusCode::kInvalidArgument, "field 'analyzer' must be a string"},
      {R"({"dimension":3,"hnsw":[]})", StatusCode::kInvalidArgument, "field 'hnsw' must be an object"},
      {R"({"dimension":3,"hnsw":{"m":8}})", StatusCode::kInvalidArgument, "field 'hnsw': unknown field 'm'"},
      {R"({"dimension":3,"hnsw":{"M":"8"}})", StatusCode::kInvalidArgument, "field 'hnsw.M' must be a non-negative integer"},
      {R"({"dimension":3,"hnsw":{"ef_construction":1.5}})", StatusCode::kInvalidArgument, "field 'hnsw.ef_construction'"},
      {R"({"dimension":3,"hnsw":{"ef_search":-2}})", StatusCode::kInvalidArgument, "field 'hnsw.ef_search'"},
      {R"({"dimension":3,"quantization":{"nlist":"a"}})", StatusCode::kInvalidArgument, "field 'quantization.nlist'"},
      {R"({"dimension":3,"quantization":{"nprobe":true}})", StatusCode::kInvalidArgument, "field 'quantization.nprobe'"},
      {R"({"dimension":3,"quantization":{"m":[]}})", StatusCode::kInvalidArgument, "field 'quantization.m'"},
      {R"({"dimension":3,"quantization":{"nbits":null}})", StatusCode::kInvalidArgument, "field 'quantization.nbits'"},
      {R"({"dimension":3,"quantization":{"rerank":-1}})", StatusCode::kInvalidArgument, "field 'quantization.rerank'"},
      {R"({"dimension":3,"quantization":{"bits":4}})", StatusCode::kInvalidArgument, "field 'quantization': unknown field 'bits'"},
      {R"({"dimension":3,"segments":{"seal_points":"x"}})", StatusCode::kInvalidArgument, "field 'segments.seal_points'"},
      {R"({"dimension":3,"segments":{"merge_factor":2.5}})", StatusCode::kInvalidArgument, "field 'segments.merge_factor'"},
      {R"({"dimension":3,"segments":{"compact_deleted_fraction":"x"}})", StatusCode::kInvalidArgument,
       "field 'segments.compact_deleted_fraction' must be a number"},
      {R"({"dimension":3,"bm25":{"k1":"x"}})", StatusCode::kInvalidArgument, "field 'bm25.k1' must be a number"},
      {R"({"dimension":3,"bm25":{"b":[]}})", StatusCode::kInvalidArgument, "field 'bm25.b' must be a number"},
      {R"({"dimension":3,"bm25":{"k":1}})", StatusCode::kInvalidArgument, "field 'bm25': unknown field 'k'"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = CollectionSettingsFromJson(json::parse(c.body));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.words), std::string::npos) << r.status().ToString();
  }
  // Values are not judged by the parser but by CheckCollectionSettings, which every create runs
  // (so the server, the command line and the embedded API give the same error and code).
  const std::pair<const char*, const char*> refused[] = {
      {R"({"dimension":70000})", "dimension must be in [1, 65536]"},
      {R"({"dimension":0})", "0 only for a text-only collection"},
      {R"({"dimension":3,"hnsw":{"M":1}})", "hnsw.M must be in [2, 512], got 1"},
      {R"({"dimension":3,"hnsw":{"M":513}})", "hnsw.M must be in [2, 512], got 513"},
      {R"({"dimension":3,"hnsw":{"ef_construction":0}})", "hnsw.ef_construction"},
      {R"({"dimension":3,"hnsw":{"ef_search":0}})", "hnsw.ef_search"},
      {R"({"dimension":3,"segments":{"seal_points":15}})", "segments.seal_points"},
      {R"({"dimension":3,"segments":{"merge_factor":1}})", "segments.merge_factor"},
      {R"({"dimension":3,"segments":{"compact_deleted_fraction":0}})", "segments.compact_deleted_fraction"},
      {R"({"dimension":3,"segments":{"compact_deleted_fraction":1.5}})", "segments.compact_deleted_fraction"},
      {R"({"dimension":3,"index":"ivf-flat","quantization":{"nprobe":0}})", "quantization.nprobe"},
      {R"({"dimension":3,"index":"sq8","quantization":{"rerank":1000001}})", "quantization.rerank must be at most 1000000"},
      {R"({"dimension":0,"text":true,"index":"pq"})", "text-only collection has no vector index"},
      {R"({"dimension":3,"text":true,"bm25":{"b":1.5}})", "bm25"},
      {R"({"dimension":3,"text":true,"bm25":{"k1":-1}})", "bm25"},
      {R"({"dimension":3,"text":true,"bm25":{"k1":1e300}})", "finite"},
  };
  for (auto [body, words] : refused) {
    SCOPED_TRACE(body);
    auto r = CollectionSettingsFromJson(json::parse(body));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const Status st = CheckCollectionSettings(*r);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find(words), std::string::npos) << st.ToString();
  }
  // The limits are the engine's: M up to 512 (the server once stopped at 256), no cap on ef.
  auto wide = CollectionSettingsFromJson(json::parse(R"({"dimension":3,"hnsw":{"M":512,"ef_construction":500000}})"));
  ASSERT_TRUE(wide.ok()) << wide.status().ToString();
  EXPECT_EQ(wide->hnsw.M, 512u);
  EXPECT_TRUE(CheckCollectionSettings(*wide).ok());
}

TEST(CollectionJsonTest, StoredErrorsNameTheKey) {
  CollectionConfig base;
  base.name = "c";
  base.dimension = 3;
  const json good = CollectionConfigToJson(base, ConfigForm::kStored);
  struct Damage {
    const char* pointer;  // "" = remove `key` from the top level
    json value;
    const char* words;
  };
  const Damage cases[] = {
      {"/teyt", true, "unknown key 'teyt' in the config"},
      {"/hnsw/N", 1, "unknown key 'N' in \"hnsw\""},
      {"/quantization/bits", 1, "unknown key 'bits' in \"quantization\""},
      {"/segments/x", 1, "unknown key 'x' in \"segments\""},
      {"/bm25/c", 1, "unknown key 'c' in \"bm25\""},
      {"/name", 5, "'name' has the wrong type"},
      {"/dimension", -3, "'dimension' has the wrong type"},
      {"/metric", "l7", "unknown metric 'l7'"},
      {"/index", "lsh", "unknown index 'lsh'"},
      {"/hnsw/M", "16", "'M' has the wrong type"},
      {"/hnsw", 16, "'hnsw' has the wrong type"},
      {"/quantization", 1, "'quantization' is not an object"},
      {"/quantization/nbits", 4.5, "'nbits' has the wrong type"},
      {"/segments", json::array(), "'segments' is not an object"},
      {"/segments/compact_deleted_fraction", "x", "'compact_deleted_fraction' has the wrong type"},
      {"/text", "yes", "'text' has the wrong type"},
      {"/analyzer", json(), "'analyzer' has the wrong type"},
      {"/bm25/k1", json(), "'k1' has the wrong type"},
      // The limits apply to config.json too.
      {"/hnsw/M", 513u, "hnsw.M must be in [2, 512], got 513"},  // unsigned, as parsed from a file
      {"/segments/merge_factor", 1u, "segments.merge_factor"},
      {"/dimension", 70000u, "dimension must be in [1, 65536]"},
  };
  for (const Damage& d : cases) {
    SCOPED_TRACE(d.pointer);
    json j = good;
    j[json::json_pointer(d.pointer)] = d.value;
    auto r = CollectionConfigFromStoredJson(j);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(d.words), std::string::npos) << r.status().ToString();
  }
  for (const char* key : {"name", "dimension", "metric", "index", "hnsw"}) {
    json j = good;
    j.erase(key);
    auto r = CollectionConfigFromStoredJson(j);
    EXPECT_NE(r.status().message().find(std::string("no '") + key + "'"), std::string::npos) << r.status().ToString();
  }
  for (const char* key : {"nlist", "nprobe", "m", "nbits", "rerank"}) {
    json j = good;
    j["quantization"].erase(key);
    EXPECT_NE(CollectionConfigFromStoredJson(j).status().message().find(std::string("no '") + key + "'"),
              std::string::npos);
  }
  // The text group is all or nothing.
  json j = good;
  j.erase("analyzer");
  EXPECT_NE(CollectionConfigFromStoredJson(j).status().message().find("no 'analyzer'"), std::string::npos);
  EXPECT_FALSE(CollectionConfigFromStoredJson(json::array()).ok());
}

// One limit wherever the settings come from: a request body (the server's PUT, and the
// command line, which turns its flags into the same body; the create judges it), config.json
// (judged as it is read), or a config given to the embedded API (the engine's create calls
// CheckCollectionSettings). Same rule, same words.
TEST(CollectionJsonTest, OneLimitForEverySource) {
  CollectionConfig c;
  c.name = "c";
  c.dimension = 3;
  for (size_t M : {1, 513, 100000}) {
    c.hnsw.M = M;
    const std::string rule = "hnsw.M must be in [2, 512], got " + std::to_string(M);
    const Status direct = CheckCollectionSettings(c);
    auto request = CollectionSettingsFromJson(json{{"dimension", 3}, {"hnsw", {{"M", M}}}});
    ASSERT_TRUE(request.ok());
    auto stored = CollectionConfigFromStoredJson(CollectionConfigToJson(c, ConfigForm::kStored));
    EXPECT_EQ(direct.message(), rule);
    EXPECT_EQ(CheckCollectionSettings(*request).message(), rule);  // what the create then says
    EXPECT_EQ(stored.status().message(), rule);
  }
  for (size_t M : {2, 256, 300, 512}) {
    c.hnsw.M = M;
    EXPECT_TRUE(CheckCollectionSettings(c).ok());
    auto request = CollectionSettingsFromJson(json{{"dimension", 3}, {"hnsw", {{"M", M}}}});
    ASSERT_TRUE(request.ok());
    EXPECT_TRUE(CheckCollectionSettings(*request).ok());
    EXPECT_TRUE(CollectionConfigFromStoredJson(CollectionConfigToJson(c, ConfigForm::kStored)).ok());
  }
  // The name is not a setting: the engine judges it (IsValidName).
  c.hnsw.M = 16;
  c.name = "not a name";
  EXPECT_TRUE(CheckCollectionSettings(c).ok());
}

TEST(CollectionJsonTest, StatsHaveEveryMember) {
  CollectionStats s;
  s.points = 1;
  s.memory_bytes = 2;
  s.disk_bytes = 3;
  s.segments = 4;
  s.unindexed_points = 5;
  s.deleted_pending = 6;
  s.wal_bytes = 7;
  s.wal_records = 8;
  s.checkpoints = 9;
  s.segments_sealed = 10;
  s.segments_merged = 11;
  s.index_errors = 12;
  s.last_index_error = "disk full";
  s.write_stalls = 13;
  EXPECT_EQ(StatsToJson(s).dump(),
            R"({"checkpoints":9,"deleted_pending":6,"disk_bytes":3,"index_errors":12,"last_index_error":"disk full",)"
            R"("memory_bytes":2,"points":1,"segments":4,"segments_merged":11,"segments_sealed":10,)"
            R"("unindexed_points":5,"wal_bytes":7,"wal_records":8,"write_stalls":13})");
}

TEST(NamesTest, EnumsRoundTrip) {
  for (IndexType t : kAllIndexes) EXPECT_EQ(*IndexTypeFromString(IndexTypeToString(t)), t);
  for (Metric m : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
    EXPECT_EQ(*MetricFromString(MetricToString(m)), m);
  }
  EXPECT_EQ(*MetricFromString("dot"), Metric::kInnerProduct);
  EXPECT_FALSE(IndexTypeFromString("ivf").ok());
}

// --- Points and hits --------------------------------------------------------------------

TEST(PointJsonTest, RoundTripAndErrors) {
  auto p = PointFromJson(json::parse(R"({"id":"a","vector":[1,0.5],"document":"hi","metadata":{"n":1}})"));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(PointToJson(*p, true).dump(), R"({"document":"hi","id":"a","metadata":{"n":1},"vector":[1.0,0.5]})");
  EXPECT_EQ(PointToJson(*p, false).dump(), R"({"document":"hi","id":"a","metadata":{"n":1}})");
  auto text_only = PointFromJson(json::parse(R"({"id":"t","document":null,"metadata":null})"));
  ASSERT_TRUE(text_only.ok());
  EXPECT_TRUE(text_only->vector.empty());
  EXPECT_FALSE(text_only->document);
  const std::pair<const char*, const char*> bad[] = {
      {R"([])", "a point must be a JSON object"},
      {R"({"vector":[1]})", "field 'id' must be a string"},
      {R"({"id":7})", "field 'id' must be a string"},
      {R"({"id":"a","meta":{}})", "unknown field 'meta'"},
      {R"({"id":"a","vector":"x"})", "field 'vector' must be an array of numbers"},
      {R"({"id":"a","vector":[1,"x"]})", "field 'vector': element 1 is not a number"},
      {R"({"id":"a","vector":[1,1e39]})", "field 'vector': element 1 is not a finite float32"},
      {R"({"id":"a","document":3})", "field 'document' must be a string"},
      {R"({"id":"a","metadata":[1]})", "field 'metadata' must be an object"},
  };
  for (auto [body, words] : bad) {
    auto r = PointFromJson(json::parse(body));
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().ToString();
  }
  EXPECT_TRUE(IsVectorValue(3.4e38));
  EXPECT_FALSE(IsVectorValue(3.5e38));
  EXPECT_FALSE(IsVectorValue(std::numeric_limits<double>::infinity()));
}

TEST(PointJsonTest, HitsShowWhatIsSet) {
  QueryHit h;
  h.id = "a";
  h.score = 0.5f;
  EXPECT_EQ(HitToJson(h).dump(), R"({"id":"a","score":0.5})");
  h.document = "d";
  h.metadata = json{{"k", 1}};
  h.vector = std::vector<float>{1, 2};
  h.explain = json{{"vector_rank", 1}};
  EXPECT_EQ(HitToJson(h).dump(),
            R"({"document":"d","explain":{"vector_rank":1},"id":"a","metadata":{"k":1},"score":0.5,"vector":[1.0,2.0]})");
}

// --- Queries ------------------------------------------------------------------------------

TEST(QueryJsonTest, EveryField) {
  auto q = QueryFromJson(json::parse(
      R"({"vector":[1,0],"text":"hi","k":5,"ef":64,"nprobe":4,"rerank":50,"filter":{"a":1},"fusion":"weighted",
          "alpha":0.25,"rrf_k":30,"vector_weight":2,"text_weight":0.5,"explain":true,"include":["vector"],
          "timeout_ms":1000})"));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->vector, (std::vector<float>{1, 0}));
  EXPECT_EQ(q->text, "hi");
  EXPECT_EQ(q->k, 5u);
  EXPECT_EQ(q->ef, 64u);
  EXPECT_EQ(q->nprobe, 4u);
  EXPECT_EQ(q->rerank, 50u);
  EXPECT_EQ(q->filter, json({{"a", 1}}));
  EXPECT_EQ(q->fusion, "weighted");
  EXPECT_EQ(q->alpha, 0.25);
  EXPECT_EQ(q->rrf_k, 30);
  EXPECT_EQ(q->vector_weight, 2);
  EXPECT_EQ(q->text_weight, 0.5);
  EXPECT_TRUE(q->explain);
  EXPECT_TRUE(q->include_vector);
  EXPECT_FALSE(q->include_document || q->include_metadata);
  ASSERT_TRUE(q->deadline);
  const auto left = *q->deadline - std::chrono::steady_clock::now();
  EXPECT_GT(left, std::chrono::milliseconds(500));
  EXPECT_LE(left, std::chrono::milliseconds(1000));
}

// The defaults (the command line's flags, the server's include list) apply where the query
// is silent; "include" replaces the default list in both.
TEST(QueryJsonTest, DefaultsAndInclude) {
  QueryDefaults d;
  d.k = 7;
  d.ef = 32;
  d.nprobe = 3;
  d.rerank = 9;
  d.include_metadata = true;
  auto q = QueryFromJson(json::parse(R"({"text":"x"})"), d);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->k, 7u);
  EXPECT_EQ(q->ef, 32u);
  EXPECT_EQ(q->nprobe, 3u);
  EXPECT_EQ(q->rerank, 9u);
  EXPECT_TRUE(q->include_metadata);
  EXPECT_FALSE(q->include_document);
  EXPECT_FALSE(q->deadline);
  q = QueryFromJson(json::parse(R"({"text":"x","k":2,"include":["document"]})"), d);
  EXPECT_EQ(q->k, 2u);
  EXPECT_TRUE(q->include_document);
  EXPECT_FALSE(q->include_metadata);
  q = QueryFromJson(json::parse(R"({"text":"x","include":[]})"), d);
  EXPECT_FALSE(q->include_document || q->include_metadata || q->include_vector);
}

TEST(QueryJsonTest, ErrorsNameTheField) {
  QueryLimits limits;
  limits.max_k = 100;
  limits.max_dimension = 4;
  const BadCase cases[] = {
      {R"([1])", StatusCode::kInvalidArgument, "a query must be a JSON object"},
      {R"({"k":1})", StatusCode::kInvalidArgument, "a query needs 'vector', 'text' or both"},
      {R"({"text":"x","top_k":1})", StatusCode::kInvalidArgument, "unknown field 'top_k'"},
      {R"({"vector":"x"})", StatusCode::kInvalidArgument, "field 'vector' must be an array"},
      {R"({"vector":[]})", StatusCode::kInvalidArgument, "field 'vector' is empty"},
      {R"({"vector":[1,2,3,4,5]})", StatusCode::kOutOfRange, "field 'vector' has 5 dimensions, the limit is 4"},
      {R"({"text":3})", StatusCode::kInvalidArgument, "field 'text' must be a string"},
      {R"({"text":"x","k":"5"})", StatusCode::kInvalidArgument, "field 'k' must be a positive integer"},
      {R"({"text":"x","k":1.5})", StatusCode::kInvalidArgument, "field 'k' must be a positive integer"},
      {R"({"text":"x","k":0})", StatusCode::kOutOfRange, "field 'k' must be a positive integer no larger than 100, got 0"},
      {R"({"text":"x","k":101})", StatusCode::kOutOfRange, "field 'k'"},
      {R"({"text":"x","ef":0})", StatusCode::kOutOfRange, "field 'ef'"},
      {R"({"text":"x","ef":100001})", StatusCode::kOutOfRange, "field 'ef'"},
      {R"({"text":"x","nprobe":0})", StatusCode::kOutOfRange, "field 'nprobe'"},
      {R"({"text":"x","rerank":-1})", StatusCode::kInvalidArgument, "field 'rerank' must be a non-negative integer"},
      {R"({"text":"x","rerank":10001})", StatusCode::kOutOfRange, "field 'rerank'"},
      {R"({"text":"x","filter":[1]})", StatusCode::kInvalidArgument, "field 'filter' must be an object"},
      {R"({"text":"x","fusion":1})", StatusCode::kInvalidArgument, "field 'fusion' must be a string"},
      {R"({"text":"x","alpha":"a"})", StatusCode::kInvalidArgument, "field 'alpha' must be a number"},
      {R"({"text":"x","rrf_k":null})", StatusCode::kInvalidArgument, "field 'rrf_k' must be a number"},
      {R"({"text":"x","vector_weight":"1"})", StatusCode::kInvalidArgument, "field 'vector_weight' must be a number"},
      {R"({"text":"x","text_weight":"1"})", StatusCode::kInvalidArgument, "field 'text_weight' must be a number"},
      {R"({"text":"x","explain":1})", StatusCode::kInvalidArgument, "field 'explain' must be true or false"},
      {R"({"text":"x","include":"document"})", StatusCode::kInvalidArgument, "field 'include' must be an array"},
      {R"({"text":"x","include":["doc"]})", StatusCode::kInvalidArgument, "field 'include': unknown entry \"doc\""},
      {R"({"text":"x","timeout_ms":0})", StatusCode::kOutOfRange, "field 'timeout_ms'"},
      {R"({"text":"x","timeout_ms":"soon"})", StatusCode::kInvalidArgument, "field 'timeout_ms'"},
      {R"({"text":"x","timeout_ms":3600001})", StatusCode::kOutOfRange, "field 'timeout_ms'"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = QueryFromJson(json::parse(c.body), {}, limits);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.words), std::string::npos) << r.status().ToString();
  }
  EXPECT_TRUE(QueryFromJson(json::parse(R"({"vector":[1,2,3,4],"filter":null})"), {}, limits).ok());
  EXPECT_EQ(CheckQueryVector({}, limits).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckQueryVector({1, 2, 3, 4, 5}, limits).code(), StatusCode::kOutOfRange);
}

// --- Field readers --------------------------------------------------------------------------

TEST(FieldsTest, ReadersLeaveAbsentFieldsAlone) {
  const json j = json::parse(R"({"n":5,"s":"x","b":true,"d":1.5})");
  size_t n = 9;
  EXPECT_TRUE(ReadUint(j, "missing", 0, 10, &n).ok());
  EXPECT_EQ(n, 9u);
  EXPECT_TRUE(ReadUint(j, "n", 0, 10, &n).ok());
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(ReadUint(j, "n", 6, 10, &n).message(), "field 'n' must be between 6 and 10, got 5");
  EXPECT_EQ(ReadUint(j, "n", 0, 4, &n, "sec").message(), "field 'sec.n' must be a non-negative integer no larger than 4, got 5");
  EXPECT_EQ(OnlyFields(j, {"n"}).message(), "unknown field 'b' (expected n)");  // members in key order
  EXPECT_TRUE(OnlyFields(j, {"n", "s", "b", "d"}).ok());
}

}  // namespace
}  // namespace sextant::codec
