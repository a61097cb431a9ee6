// The one JSON codec (src/codec): collection settings in their stored and reply forms and from
// request bodies, the one set of limits, points, queries, hits and stats.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <optional>
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
  EXPECT_EQ(a.segments.quiet_seconds, b.segments.quiet_seconds);
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

// segments.quiet_seconds: written only when not the default (10), read back when present,
// the default when absent (config files from before it); 0 (off) survives the round trip.
TEST(CollectionJsonTest, QuietSecondsOnlyWhenNotTheDefault) {
  CollectionConfig c = Unusual(IndexType::kHnsw);
  EXPECT_FALSE(CollectionConfigToJson(c, ConfigForm::kStored)["segments"].contains("quiet_seconds"));
  auto back = CollectionConfigFromStoredJson(CollectionConfigToJson(c, ConfigForm::kStored));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->segments.quiet_seconds, 10.0);
  for (double quiet : {0.0, 2.5}) {
    c.segments.quiet_seconds = quiet;
    const json stored = CollectionConfigToJson(c, ConfigForm::kStored);
    EXPECT_EQ(stored["segments"]["quiet_seconds"], quiet);
    back = CollectionConfigFromStoredJson(json::parse(stored.dump()));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ExpectSame(c, *back);
    EXPECT_EQ(CollectionConfigToJson(c, ConfigForm::kReply)["segments"]["quiet_seconds"], quiet);
  }
  auto request = CollectionSettingsFromJson(json::parse(R"({"dimension":3,"segments":{"quiet_seconds":0.5}})"));
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(request->segments.quiet_seconds, 0.5);
  json bad = CollectionConfigToJson(c, ConfigForm::kStored);
  bad["segments"]["quiet_seconds"] = "soon";
  back = CollectionConfigFromStoredJson(bad);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find("quiet_seconds"), std::string::npos) << back.status().ToString();
}

// Legacy config files: quantization, segments and the text group may be absent.
TEST(CollectionJsonTest, StoredFormWithoutLaterSections) {
  auto c = CollectionConfigFromStoredJson(json::parse(
      R"({"name":"old","dimension":4,"metric":"l2","index":"hnsw","hnsw":{"M":16,"ef_construction":200,"ef_search":64}})"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->hnsw.ef_search, 64u);
  EXPECT_FALSE(c->text);
}

// A collection's own metadata: in both forms only when not empty (so config.json files of
// collections without it are unchanged), read back strictly, judged by one rule.
TEST(CollectionJsonTest, MetadataInEveryFormAndItsRules) {
  CollectionConfig c = Unusual(IndexType::kHnsw);
  EXPECT_FALSE(CollectionConfigToJson(c, ConfigForm::kStored).contains("metadata"));
  EXPECT_FALSE(CollectionConfigToJson(c, ConfigForm::kReply).contains("metadata"));
  c.metadata = {{"owner", "docs"}, {"n", 3}, {"x", -1.5}, {"on", true}, {"hnsw:space", "cosine"}};
  const json stored = CollectionConfigToJson(c, ConfigForm::kStored);
  EXPECT_EQ(stored["metadata"], c.metadata);
  auto back = CollectionConfigFromStoredJson(json::parse(stored.dump(2)));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->metadata, c.metadata);
  // The reply form reads back as a request (a PUT body), metadata included.
  json reply = CollectionConfigToJson(c, ConfigForm::kReply);
  EXPECT_EQ(reply["metadata"], c.metadata);
  reply.erase("name");
  auto request = CollectionSettingsFromJson(reply);
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(request->metadata, c.metadata);
  // Files written before the key existed read as no metadata.
  json earlier = stored;
  earlier.erase("metadata");
  auto old = CollectionConfigFromStoredJson(earlier);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->metadata, json::object());
  // The strict reader: the wrong type, or values no create would accept, are damage.
  for (const auto& [bad, words] : std::vector<std::pair<json, std::string>>{
           {json::array({1}), "'metadata' is not an object"},
           {"text", "'metadata' is not an object"},
           {{{"a", {1, 2}}}, "metadata 'a' must be a string, a finite number or a boolean"},
           {{{"a", nullptr}}, "metadata 'a' must be"},
           {{{"", 1}}, "metadata has an empty key"}}) {
    json damaged = stored;
    damaged["metadata"] = bad;
    auto r = CollectionConfigFromStoredJson(damaged);
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
  }
  // A request: not an object is named as a field; values are judged with every setting.
  auto r = CollectionSettingsFromJson(json{{"dimension", 2}, {"metadata", "x"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "field 'metadata' must be an object");
  auto nulled = CollectionSettingsFromJson(json{{"dimension", 2}, {"metadata", nullptr}});
  ASSERT_TRUE(nulled.ok());
  EXPECT_EQ(nulled->metadata, json::object());
  CollectionConfig limits;
  limits.dimension = 2;
  limits.metadata = {{"big", std::string(65536, 'x')}};
  Status st = CheckCollectionSettings(limits);
  EXPECT_NE(st.message().find("metadata must be at most 65536 bytes as JSON"), std::string::npos) << st.message();
  limits.metadata = {{"f", std::nan("")}};
  EXPECT_NE(CheckCollectionSettings(limits).message().find("metadata 'f' must be"), std::string::npos);
  limits.metadata = {{"f", 1e308}, {"s", ""}, {"b", false}};
  EXPECT_TRUE(CheckCollectionSettings(limits).ok());
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
      {R"({"dimension":3,"segments":{"quiet_seconds":-1}})", "segments.quiet_seconds must be in [0, 86400]"},
      {R"({"dimension":3,"segments":{"quiet_seconds":86401}})", "segments.quiet_seconds must be in [0, 86400]"},
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

// --- Collection settings: "embedding" -------------------------------------------------------

void ExpectSameEmbedding(const std::optional<EmbeddingSettings>& a, const std::optional<EmbeddingSettings>& b) {
  ASSERT_EQ(a.has_value(), b.has_value());
  if (!a) return;
  EXPECT_EQ(a->model, b->model);
  EXPECT_EQ(a->url, b->url);
  EXPECT_EQ(a->api_key_env, b->api_key_env);
  EXPECT_EQ(a->dimensions, b->dimensions);
  EXPECT_EQ(a->batch_size, b->batch_size);
  EXPECT_EQ(a->timeout_s, b->timeout_s);
  EXPECT_EQ(a->max_retries, b->max_retries);
  EXPECT_EQ(a->hybrid_alpha, b->hybrid_alpha);
}

TEST(CollectionJsonTest, EmbeddingAsAnObjectWithEveryField) {
  auto c = CollectionSettingsFromJson(json::parse(
      R"({"text":true,"embedding":{"model":"text-embedding-3-small","url":"https://api.example.com/v1",
          "api_key_env":"EXAMPLE_KEY","dimensions":256,"batch_size":16,"timeout_s":2.5,"max_retries":5,
          "hybrid_alpha":0.25}})"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dimension, 0u);  // left out: the model's, filled in at create
  EXPECT_TRUE(c->text);
  ASSERT_TRUE(c->embedding);
  const EmbeddingSettings& e = *c->embedding;
  EXPECT_EQ(e.model, "text-embedding-3-small");
  EXPECT_EQ(e.url, "https://api.example.com/v1");
  EXPECT_EQ(e.api_key_env, "EXAMPLE_KEY");
  EXPECT_EQ(e.dimensions, 256u);
  EXPECT_EQ(e.batch_size, 16u);
  EXPECT_EQ(e.timeout_s, 2.5);
  EXPECT_EQ(e.max_retries, 5u);
  EXPECT_EQ(e.hybrid_alpha, 0.25);
  EXPECT_TRUE(CheckCollectionSettings(*c).ok()) << CheckCollectionSettings(*c).ToString();

  // Absent members keep EmbeddingSettings' defaults; a dimension may still be given.
  auto d = CollectionSettingsFromJson(json::parse(R"({"dimension":128,"embedding":{}})"));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_TRUE(d->embedding);
  const EmbeddingSettings defaults;
  EXPECT_EQ(d->dimension, 128u);
  EXPECT_EQ(d->embedding->model, "potion-base-4M");
  EXPECT_EQ(d->embedding->url, "");
  EXPECT_EQ(d->embedding->api_key_env, "");
  EXPECT_EQ(d->embedding->dimensions, 0u);
  EXPECT_EQ(d->embedding->batch_size, defaults.batch_size);
  EXPECT_EQ(d->embedding->timeout_s, defaults.timeout_s);
  EXPECT_EQ(d->embedding->max_retries, defaults.max_retries);
  EXPECT_FALSE(d->embedding->hybrid_alpha);  // chosen at create from the model
  EXPECT_TRUE(CheckCollectionSettings(*d).ok());

  // null is no embedding at all; then the dimension is required again.
  auto none = CollectionSettingsFromJson(json::parse(R"({"dimension":3,"embedding":null})"));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->embedding);
  auto no_dim = CollectionSettingsFromJson(json::parse(R"({"embedding":null})"));
  ASSERT_FALSE(no_dim.ok());
  EXPECT_NE(no_dim.status().message().find("field 'dimension' is required"), std::string::npos);
}

TEST(CollectionJsonTest, EmbeddingAsAPlainString) {
  auto c = CollectionSettingsFromJson(json::parse(R"({"embedding":"potion-base-4M","text":true})"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->embedding);
  EXPECT_EQ(c->embedding->model, "potion-base-4M");
  EXPECT_EQ(c->embedding->url, "");
  EXPECT_EQ(c->dimension, 0u);
  EXPECT_TRUE(CheckCollectionSettings(*c).ok());
  // The same as the object with only a model.
  auto o = CollectionSettingsFromJson(json::parse(R"({"embedding":{"model":"potion-base-4M"},"text":true})"));
  ASSERT_TRUE(o.ok());
  ExpectSameEmbedding(c->embedding, o->embedding);
  // An empty name is parsed, then refused by the limits.
  auto empty = CollectionSettingsFromJson(json::parse(R"({"embedding":""})"));
  ASSERT_TRUE(empty.ok());
  EXPECT_NE(CheckCollectionSettings(*empty).message().find("embedding.model must not be empty"), std::string::npos);
}

TEST(CollectionJsonTest, EmbeddingErrorsNameTheField) {
  const BadCase cases[] = {
      {R"({"embedding":{"modle":"x"}})", StatusCode::kInvalidArgument, "field 'embedding': unknown field 'modle'"},
      {R"({"embedding":{"model":"x","key":"sk-1"}})", StatusCode::kInvalidArgument, "unknown field 'key'"},
      {R"({"embedding":{"api_key":"sk-1"}})", StatusCode::kInvalidArgument, "unknown field 'api_key'"},
      {R"({"embedding":7})", StatusCode::kInvalidArgument, "field 'embedding' must be an object"},
      {R"({"embedding":true})", StatusCode::kInvalidArgument, "field 'embedding' must be an object"},
      {R"({"embedding":["potion-base-4M"]})", StatusCode::kInvalidArgument, "field 'embedding' must be an object"},
      {R"({"embedding":{"model":7}})", StatusCode::kInvalidArgument, "field 'embedding.model' must be a string"},
      {R"({"embedding":{"model":null}})", StatusCode::kInvalidArgument, "field 'embedding.model' must be a string"},
      {R"({"embedding":{"url":1}})", StatusCode::kInvalidArgument, "field 'embedding.url' must be a string"},
      {R"({"embedding":{"api_key_env":[]}})", StatusCode::kInvalidArgument, "field 'embedding.api_key_env' must be a string"},
      {R"({"embedding":{"dimensions":"64"}})", StatusCode::kInvalidArgument,
       "field 'embedding.dimensions' must be a non-negative integer"},
      {R"({"embedding":{"dimensions":-1}})", StatusCode::kInvalidArgument, "field 'embedding.dimensions'"},
      {R"({"embedding":{"dimensions":1.5}})", StatusCode::kInvalidArgument, "field 'embedding.dimensions'"},
      {R"({"embedding":{"batch_size":"8"}})", StatusCode::kInvalidArgument, "field 'embedding.batch_size'"},
      {R"({"embedding":{"batch_size":-8}})", StatusCode::kInvalidArgument, "field 'embedding.batch_size'"},
      {R"({"embedding":{"timeout_s":"10"}})", StatusCode::kInvalidArgument, "field 'embedding.timeout_s' must be a number"},
      {R"({"embedding":{"timeout_s":null}})", StatusCode::kInvalidArgument, "field 'embedding.timeout_s' must be a number"},
      {R"({"embedding":{"max_retries":true}})", StatusCode::kInvalidArgument, "field 'embedding.max_retries'"},
      {R"({"embedding":{"hybrid_alpha":"0.5"}})", StatusCode::kInvalidArgument,
       "field 'embedding.hybrid_alpha' must be a number"},
      {R"({"embedding":{"hybrid_alpha":null}})", StatusCode::kInvalidArgument, "field 'embedding.hybrid_alpha'"},
      {R"({"dimension":"3","embedding":"potion-base-4M"})", StatusCode::kInvalidArgument,
       "field 'dimension' must be a non-negative integer"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = CollectionSettingsFromJson(json::parse(c.body));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.words), std::string::npos) << r.status().ToString();
  }
  // The unknown field's message lists what is known.
  auto r = CollectionSettingsFromJson(json::parse(R"({"embedding":{"modle":"x"}})"));
  for (const char* known : {"model", "url", "api_key_env", "dimensions", "batch_size", "timeout_s", "max_retries",
                            "hybrid_alpha"}) {
    EXPECT_NE(r.status().message().find(known), std::string::npos) << known << ": " << r.status().ToString();
  }
}

TEST(CollectionJsonTest, EmbeddingLimits) {
  const std::pair<const char*, const char*> refused[] = {
      {R"({"embedding":{"batch_size":0}})", "embedding.batch_size must be in [1, 4096], got 0"},
      {R"({"embedding":{"batch_size":4097}})", "embedding.batch_size must be in [1, 4096], got 4097"},
      {R"({"embedding":{"timeout_s":0}})", "embedding.timeout_s must be in (0, 3600]"},
      {R"({"embedding":{"timeout_s":-1}})", "embedding.timeout_s must be in (0, 3600]"},
      {R"({"embedding":{"timeout_s":3601}})", "embedding.timeout_s must be in (0, 3600]"},
      {R"({"embedding":{"hybrid_alpha":1.5}})", "embedding.hybrid_alpha must be in [0, 1]"},
      {R"({"embedding":{"hybrid_alpha":-0.1}})", "embedding.hybrid_alpha must be in [0, 1]"},
      {R"({"embedding":{"max_retries":11}})", "embedding.max_retries must be at most 10, got 11"},
      {R"({"embedding":{"dimensions":70000}})", "embedding.dimensions must be at most 65536"},
      {R"({"embedding":{"model":"m","url":"ftp://example.com/v1"}})", "embedding.url must start with http:// or https://"},
      {R"({"embedding":{"model":"m","url":"example.com/v1"}})", "embedding.url must start with http:// or https://"},
      {R"({"embedding":{"model":"m","url":"HTTP://x"}})", "embedding.url must start with http:// or https://"},
      {R"({"embedding":{"model":"m","api_key_env":"OPENAI_API_KEY"}})", "embedding.api_key_env needs embedding.url"},
      {R"({"embedding":{"model":""}})", "embedding.model must not be empty"},
      {R"({"dimension":70000,"embedding":"potion-base-4M"})", "dimension must be in [1, 65536]"},
  };
  for (auto [body, words] : refused) {
    SCOPED_TRACE(body);
    auto r = CollectionSettingsFromJson(json::parse(body));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const Status st = CheckCollectionSettings(*r);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find(words), std::string::npos) << st.ToString();
  }
  // Strings are bounded too.
  json long_model = {{"embedding", {{"model", std::string(4097, 'm')}}}};
  auto r = CollectionSettingsFromJson(long_model);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(CheckCollectionSettings(*r).message().find("at most 4096 bytes"), std::string::npos);
  // The edges that are allowed.
  const char* allowed[] = {
      R"({"embedding":{"batch_size":1,"timeout_s":0.001,"max_retries":0,"hybrid_alpha":0}})",
      R"({"embedding":{"batch_size":4096,"timeout_s":3600,"max_retries":10,"hybrid_alpha":1}})",
      R"({"embedding":{"model":"m","url":"http://127.0.0.1:8080/v1","api_key_env":"K"}})",
      R"({"embedding":{"model":"m","url":"https://api.openai.com/v1","dimensions":65536}})",
  };
  for (const char* body : allowed) {
    SCOPED_TRACE(body);
    auto ok = CollectionSettingsFromJson(json::parse(body));
    ASSERT_TRUE(ok.ok()) << ok.status().ToString();
    EXPECT_TRUE(CheckCollectionSettings(*ok).ok()) << CheckCollectionSettings(*ok).ToString();
  }
  // A config given to the embedded API is judged the same way.
  CollectionConfig c;
  c.name = "c";
  c.embedding = EmbeddingSettings{};
  EXPECT_TRUE(CheckCollectionSettings(c).ok());  // dimension 0: the model's, at create
  c.embedding->batch_size = 0;
  EXPECT_EQ(CheckCollectionSettings(c).message(), "embedding.batch_size must be in [1, 4096], got 0");
}

// A provider collection with every member away from its default (stored as config.json is).
CollectionConfig WithProvider() {
  CollectionConfig c = Unusual(IndexType::kHnsw);
  c.dimension = 256;
  EmbeddingSettings e;
  e.model = "text-embedding-3-small";
  e.url = "http://127.0.0.1:9/v1";
  e.api_key_env = "SEXTANT_TEST_EMBEDDING_KEY";
  e.dimensions = 256;
  e.batch_size = 7;
  e.timeout_s = 0.75;
  e.max_retries = 9;
  e.hybrid_alpha = 0.625;
  c.embedding = e;
  return c;
}

TEST(CollectionJsonTest, EmbeddingStoredFormRoundTrips) {
  CollectionConfig in_process = Unusual(IndexType::kHnswSq8);
  in_process.dimension = 128;
  in_process.embedding = EmbeddingSettings{};
  in_process.embedding->hybrid_alpha = 0.3;
  CollectionConfig no_alpha = in_process;
  no_alpha.embedding->hybrid_alpha.reset();  // made before hybrid_alpha existed
  for (const CollectionConfig& c : {WithProvider(), in_process, no_alpha}) {
    SCOPED_TRACE(c.embedding->model);
    const json stored = CollectionConfigToJson(c, ConfigForm::kStored);
    // Every member is stored (but hybrid_alpha when unset).
    for (const char* key : {"model", "url", "api_key_env", "dimensions", "batch_size", "timeout_s", "max_retries"}) {
      EXPECT_TRUE(stored["embedding"].contains(key)) << key << ": " << stored.dump();
    }
    EXPECT_EQ(stored["embedding"].contains("hybrid_alpha"), c.embedding->hybrid_alpha.has_value());
    auto back = CollectionConfigFromStoredJson(json::parse(stored.dump(2)));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ExpectSame(c, *back);
    ExpectSameEmbedding(c.embedding, back->embedding);
    EXPECT_EQ(CollectionConfigToJson(*back, ConfigForm::kStored), stored);
  }
  // Without an embedding the stored form has no "embedding" key (earlier config files).
  CollectionConfig plain = Unusual(IndexType::kHnsw);
  EXPECT_FALSE(CollectionConfigToJson(plain, ConfigForm::kStored).contains("embedding"));
  EXPECT_FALSE(CollectionConfigFromStoredJson(CollectionConfigToJson(plain, ConfigForm::kStored))->embedding);
}

TEST(CollectionJsonTest, EmbeddingStoredFormErrors) {
  const json good = CollectionConfigToJson(WithProvider(), ConfigForm::kStored);
  ASSERT_TRUE(CollectionConfigFromStoredJson(good).ok());
  struct Damage {
    const char* pointer;
    json value;
    const char* words;
  };
  const Damage cases[] = {
      // A collection with a model has its dimension fixed at create: 0 is a damaged file.
      {"/dimension", 0u, "a collection with an embedding model has dimension 0"},
      {"/embedding", "potion-base-4M", "'embedding' is not an object"},
      {"/embedding/key", "sk-1", "unknown key 'key' in \"embedding\""},
      {"/embedding/model", 5, "'model' has the wrong type"},
      {"/embedding/url", json(), "'url' has the wrong type"},
      {"/embedding/api_key_env", 1, "'api_key_env' has the wrong type"},
      {"/embedding/dimensions", -1, "'dimensions' has the wrong type"},
      {"/embedding/batch_size", "7", "'batch_size' has the wrong type"},
      {"/embedding/timeout_s", "1", "'timeout_s' has the wrong type"},
      {"/embedding/max_retries", 1.5, "'max_retries' has the wrong type"},
      {"/embedding/hybrid_alpha", "0.5", "'hybrid_alpha' has the wrong type"},
      // The limits apply to config.json too.
      {"/embedding/batch_size", 0u, "embedding.batch_size must be in [1, 4096], got 0"},
      {"/embedding/timeout_s", 0, "embedding.timeout_s must be in (0, 3600]"},
      {"/embedding/hybrid_alpha", 1.5, "embedding.hybrid_alpha must be in [0, 1]"},
      {"/embedding/url", "file:///etc", "embedding.url must start with http:// or https://"},
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
  // api_key_env without a url.
  json j = good;
  j["embedding"]["url"] = "";
  EXPECT_NE(CollectionConfigFromStoredJson(j).status().message().find("embedding.api_key_env needs embedding.url"),
            std::string::npos);
  // Every member but hybrid_alpha must be there.
  for (const char* key : {"model", "url", "api_key_env", "dimensions", "batch_size", "timeout_s", "max_retries"}) {
    json k = good;
    k["embedding"].erase(key);
    EXPECT_NE(CollectionConfigFromStoredJson(k).status().message().find(std::string("no '") + key + "'"),
              std::string::npos)
        << key;
  }
  json no_alpha = good;
  no_alpha["embedding"].erase("hybrid_alpha");
  EXPECT_TRUE(CollectionConfigFromStoredJson(no_alpha).ok());
}

TEST(CollectionJsonTest, EmbeddingReplyFormNamesTheKeysVariableNeverItsValue) {
  const char* secret = "sk-test-0123456789-never-shown";
  ::setenv("SEXTANT_TEST_EMBEDDING_KEY", secret, 1);
  const CollectionConfig c = WithProvider();
  for (ConfigForm form : {ConfigForm::kReply, ConfigForm::kStored}) {
    const json j = CollectionConfigToJson(c, form);
    const std::string text = j.dump();
    EXPECT_EQ(text.find(secret), std::string::npos) << text;
    EXPECT_EQ(text.find("sk-"), std::string::npos) << text;
    EXPECT_EQ(j["embedding"]["api_key_env"], "SEXTANT_TEST_EMBEDDING_KEY");
    EXPECT_FALSE(j["embedding"].contains("api_key"));
    EXPECT_FALSE(j["embedding"].contains("key"));
  }
  ::unsetenv("SEXTANT_TEST_EMBEDDING_KEY");
  // The reply form shows the model, what is not the default, and reads back as a request.
  json reply = CollectionConfigToJson(c, ConfigForm::kReply);
  EXPECT_EQ(reply["embedding"],
            json::parse(R"({"model":"text-embedding-3-small","url":"http://127.0.0.1:9/v1",
                            "api_key_env":"SEXTANT_TEST_EMBEDDING_KEY","dimensions":256,"batch_size":7,
                            "timeout_s":0.75,"max_retries":9,"hybrid_alpha":0.625})"));
  reply.erase("name");
  auto back = CollectionSettingsFromJson(reply);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSameEmbedding(c.embedding, back->embedding);
  EXPECT_EQ(back->dimension, c.dimension);
  // An in-process model: only the model (and the fusion weight), no provider settings.
  CollectionConfig local;
  local.name = "docs";
  local.dimension = 128;
  local.text = true;
  local.embedding = EmbeddingSettings{};
  local.embedding->hybrid_alpha = 0.3;
  EXPECT_EQ(CollectionConfigToJson(local, ConfigForm::kReply)["embedding"],
            json::parse(R"({"model":"potion-base-4M","hybrid_alpha":0.3})"));
  local.embedding->batch_size = 8;  // provider-only settings are not shown without a url
  local.embedding->dimensions = 64;
  EXPECT_EQ(CollectionConfigToJson(local, ConfigForm::kReply)["embedding"],
            json::parse(R"({"model":"potion-base-4M","dimensions":64,"hybrid_alpha":0.3})"));
  // No embedding, no key.
  local.embedding.reset();
  EXPECT_FALSE(CollectionConfigToJson(local, ConfigForm::kReply).contains("embedding"));
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

TEST(QueryJsonTest, ModeEachValue) {
  auto q = QueryFromJson(json::parse(R"({"text":"x"})"));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->mode, QueryMode::kAuto);  // absent: auto
  EXPECT_TRUE(q->fusion.empty());        // absent: the collection's way (rrf without a model)
  const std::pair<const char*, QueryMode> modes[] = {{"auto", QueryMode::kAuto},
                                                     {"semantic", QueryMode::kSemantic},
                                                     {"keyword", QueryMode::kKeyword},
                                                     {"hybrid", QueryMode::kHybrid}};
  for (auto [name, mode] : modes) {
    SCOPED_TRACE(name);
    auto r = QueryFromJson(json{{"text", "Where is the cat?"}, {"mode", name}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->mode, mode);
    EXPECT_STREQ(QueryModeToString(mode), name);
    EXPECT_EQ(*QueryModeFromString(name), mode);
    // With a vector too: the parser takes it, the collection judges the combination.
    auto v = QueryFromJson(json{{"vector", {1, 0}}, {"text", "x"}, {"mode", name}});
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v->mode, mode);
  }
}

TEST(QueryJsonTest, ModeErrorsNameTheField) {
  const BadCase cases[] = {
      {R"({"text":"x","mode":"bogus"})", StatusCode::kInvalidArgument, "field 'mode': unknown mode 'bogus'"},
      {R"({"text":"x","mode":"Semantic"})", StatusCode::kInvalidArgument, "field 'mode': unknown mode 'Semantic'"},
      {R"({"text":"x","mode":""})", StatusCode::kInvalidArgument, "field 'mode': unknown mode ''"},
      {R"({"text":"x","mode":1})", StatusCode::kInvalidArgument, "field 'mode' must be a string"},
      {R"({"text":"x","mode":null})", StatusCode::kInvalidArgument, "field 'mode' must be a string"},
      {R"({"text":"x","mode":["semantic"]})", StatusCode::kInvalidArgument, "field 'mode' must be a string"},
      {R"({"mode":"semantic"})", StatusCode::kInvalidArgument, "a query needs 'vector', 'text' or both"},
      {R"({"text":"x","modes":"semantic"})", StatusCode::kInvalidArgument, "unknown field 'modes'"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = QueryFromJson(json::parse(c.body));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.words), std::string::npos) << r.status().ToString();
  }
  // The message lists the modes there are.
  auto r = QueryFromJson(json::parse(R"({"text":"x","mode":"bogus"})"));
  for (const char* m : {"semantic", "keyword", "hybrid", "auto"}) {
    EXPECT_NE(r.status().message().find(m), std::string::npos) << r.status().ToString();
  }
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

TEST(PointJsonTest, HitsAndTextStatsRoundTripExactly) {
  QueryHit h;
  h.id = "a";
  h.score = 0.1f + 1e-7f;  // float bits survive the double in JSON
  h.document = "doc";
  h.metadata = nlohmann::json{{"n", 1}};
  h.vector = std::vector<float>{1.0f / 3, -2.5e-8f};
  h.explain = nlohmann::json{{"bm25", 1.5}, {"matched_terms", {"x"}}};
  auto back = HitFromJson(nlohmann::json::parse(HitToJson(h).dump()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->id, h.id);
  EXPECT_EQ(back->score, h.score);
  EXPECT_EQ(back->document, h.document);
  EXPECT_EQ(back->metadata, h.metadata);
  EXPECT_EQ(back->vector, h.vector);
  EXPECT_EQ(back->explain, h.explain);
  EXPECT_FALSE(HitFromJson(nlohmann::json{{"id", "a"}}).ok());
  EXPECT_FALSE(HitFromJson(nlohmann::json{{"id", "a"}, {"score", 1}, {"extra", 1}}).ok());
  EXPECT_FALSE(HitFromJson(nlohmann::json{{"id", 1}, {"score", 1}}).ok());

  TextStats stats{10, 57, {{"solar", 3}, {"wind", 0}}};
  auto stats_back = TextStatsFromJson(nlohmann::json::parse(TextStatsToJson(stats).dump()));
  ASSERT_TRUE(stats_back.ok());
  EXPECT_EQ(stats_back->documents, 10u);
  EXPECT_EQ(stats_back->total_length, 57u);
  EXPECT_EQ(stats_back->document_frequency, stats.document_frequency);
  for (const char* bad : {R"([])", R"({"documents":1,"total_length":2})",
                          R"({"documents":-1,"total_length":2,"document_frequency":{}})",
                          R"({"documents":1,"total_length":2,"document_frequency":{"a":"b"}})"}) {
    EXPECT_FALSE(TextStatsFromJson(nlohmann::json::parse(bad)).ok()) << bad;
  }
}

}  // namespace
}  // namespace sextant::codec
