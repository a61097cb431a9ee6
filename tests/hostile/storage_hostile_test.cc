// The red team's storage cases (issue 10): damaged metadata files must be reported, never
// acted on (nothing deleted, nothing served wrongly); extreme floats are refused at the door;
// a log cut short or damaged after a clean close is corruption; deep or ambiguous JSON is an
// error, not a crash; a directory that is not a database is left alone.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/json.h"
#include "server/key_store.h"
#include "engine/engine_test_util.h"
#include "sextant/database.h"
#include "storage/env.h"
#include "storage/meta_file.h"

namespace sextant {
namespace {

namespace fs = std::filesystem;
using testing::PointFor;
using testing::PointsFor;
using testing::TempDir;

constexpr size_t kDim = 3;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Every file of a directory tree and its bytes: "nothing was deleted or rewritten".
std::map<std::string, std::string> Files(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename() != "LOCK") {
      out[fs::relative(e.path(), dir).string()] = ReadAll(e.path().string());
    }
  }
  return out;
}

std::string Find(const std::string& dir, const std::string& prefix) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) return e.path().string();
  }
  return "";
}

// The command-line program on hostile input: an error and a non-zero exit, never a crash.
struct CliRun {
  int exit_code = -1;
  bool signaled = false;
  std::string out, err;
};

CliRun RunCli(const std::string& args, const std::string& stdin_text, const std::string& scratch) {
  WriteAll(scratch + ".in", stdin_text);
  const std::string cmd = std::string(SEXTANT_CLI) + " " + args + " < " + scratch + ".in > " + scratch +
                          ".out 2> " + scratch + ".err";
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.signaled = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) >= 128);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadAll(scratch + ".out");
  r.err = ReadAll(scratch + ".err");
  return r;
}

class StorageHostileTest : public ::testing::Test {
 protected:
  // Collection "c": `sealed` points checkpointed into sealed segments, then `logged` more that
  // live only in the log; collection "other" beside it. Closed cleanly.
  void Build(size_t sealed = 1000, size_t logged = 50) {
    auto db = std::move(Database::Open(dir_)).value();
    CollectionConfig c;
    c.name = "c";
    c.dimension = kDim;
    c.text = true;
    c.segments.seal_points = 64;
    std::shared_ptr<Collection> col = *db->CreateCollection(c);
    for (size_t i = 0; i < sealed; i += 100) {
      ASSERT_TRUE(col->Upsert(PointsFor(i, std::min<size_t>(100, sealed - i), kDim)).ok());
    }
    ASSERT_TRUE(col->Optimize().ok());
    ASSERT_TRUE(col->Checkpoint().ok());
    for (size_t i = sealed; i < sealed + logged; i += 10) {
      ASSERT_TRUE(col->Upsert(PointsFor(i, 10, kDim)).ok());
      wal_sizes_.push_back(fs::file_size(Find(cdir(), "wal-")));
    }
    c.name = "other";
    c.text = false;
    std::shared_ptr<Collection> other = *db->CreateCollection(c);
    ASSERT_TRUE(other->Upsert(PointsFor(0, 10, kDim)).ok());
    total_ = sealed + logged;
  }
  std::string cdir() const { return dir_ + "/collections/c"; }

  // Opens the database; "c" must be refused as Corruption naming `file`, "other" served, and
  // no file touched by the open.
  void ExpectRefused(const std::string& file) {
    const auto before = Files(dir_);
    {
      auto db = Database::Open(dir_);
      ASSERT_TRUE(db.ok()) << db.status().ToString();
      auto col = (*db)->GetCollection("c");
      ASSERT_FALSE(col.ok()) << "a damaged collection was served";
      EXPECT_EQ(col.status().code(), StatusCode::kCorruption) << col.status().ToString();
      EXPECT_NE(col.status().message().find(file), std::string::npos) << col.status().ToString();
      EXPECT_EQ((*db)->BrokenCollections().count("c"), 1u);
      auto other = (*db)->GetCollection("other");
      ASSERT_TRUE(other.ok());
      EXPECT_EQ(*(*other)->Count(), 10u);
      // Its name cannot be taken over by a create.
      CollectionConfig again;
      again.name = "c";
      again.dimension = kDim;
      EXPECT_EQ((*db)->CreateCollection(again).status().code(), StatusCode::kAlreadyExists);
    }
    EXPECT_EQ(Files(dir_), before) << "opening a damaged collection changed or removed files";
  }

  void ExpectIntact() {
    auto db = Database::Open(dir_);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    auto col = (*db)->GetCollection("c");
    ASSERT_TRUE(col.ok()) << col.status().ToString();
    EXPECT_EQ(*(*col)->Count(), total_);
    for (size_t i : {size_t{0}, total_ / 2, total_ - 1}) {
      auto got = *(*col)->Get(std::vector<std::string>{"p" + std::to_string(i)});
      ASSERT_EQ(got.size(), 1u) << "p" << i;
      EXPECT_EQ(got[0].vector, PointFor(i, kDim).vector);
    }
  }

  TempDir tmp_;
  std::string dir_ = tmp_.path();
  std::vector<uint64_t> wal_sizes_;
  size_t total_ = 0;
};

void Replace(const std::string& path, const std::string& from, const std::string& to) {
  std::string s = ReadAll(path);
  const size_t at = s.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in " << s;
  s.replace(at, from.size(), to);
  WriteAll(path, s);
}

TEST_F(StorageHostileTest, RenamedManifestKeyIsCorruptionAndDeletesNothing) {
  Build();
  Replace(cdir() + "/MANIFEST", "\"points\":", "\"poinus\":");
  ExpectRefused("MANIFEST");
}

TEST_F(StorageHostileTest, ChangedLogNameInManifestIsCorruption) {
  Build();
  std::string m = ReadAll(cdir() + "/MANIFEST");
  const size_t at = m.find("\"wal-");
  ASSERT_NE(at, std::string::npos);
  m[at + 16] = m[at + 16] == '9' ? '8' : static_cast<char>(m[at + 16] + 1);  // a digit of the sequence
  WriteAll(cdir() + "/MANIFEST", m);
  ExpectRefused("MANIFEST");
}

TEST_F(StorageHostileTest, MissingManifestIsCorruptionAndCreateKeepsTheFiles) {
  Build();
  fs::remove(cdir() + "/MANIFEST");
  ExpectRefused("MANIFEST");
  // Dropping is the one way to remove it, and it is explicit.
  auto db = std::move(Database::Open(dir_)).value();
  ASSERT_TRUE(db->DropCollection("c").ok());
  EXPECT_FALSE(fs::exists(cdir()));
}

TEST_F(StorageHostileTest, ChangedConfigIsCorruption) {
  Build(200, 20);
  const std::string config = cdir() + "/config.json";
  const std::string original = ReadAll(config);
  for (auto [from, to] : {std::pair<std::string, std::string>{"\"text\"", "\"teyt\""},
                          {"\"M\": 16", "\"M\": 17"},
                          {"\"seal_points\": 64", "\"seal_points\": 65"},
                          {"\"merge_factor\": 4", "\"merge_factor\": 5"}}) {
    WriteAll(config, original);
    Replace(config, from, to);
    ExpectRefused("config.json");
  }
  // A checksum that matches but a value no create accepts (a buggy writer): still refused,
  // by the same rules as create.
  WriteAll(config, original);
  auto file = storage::ReadMetaFile(storage::Env::Default(), config, "sextant-collection-config", 1);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  nlohmann::json bad = file->fields;
  bad["quantization"]["nbits"] = 9;
  bad["index"] = "pq";
  ASSERT_TRUE(storage::WriteMetaFile(storage::Env::Default(), config, "sextant-collection-config", 1, bad, true).ok());
  ExpectRefused("config.json");
  // Written before configs had checksums, an unknown key is still damage.
  nlohmann::json legacy = file->fields;
  legacy["teyt"] = legacy["text"];
  legacy.erase("text");
  WriteAll(config, legacy.dump(2));
  ExpectRefused("config.json");
  WriteAll(config, original);
  total_ = 220;
  ExpectIntact();
}

// Metadata written before checksums existed (collection format 2) still opens.
TEST_F(StorageHostileTest, MetadataWithoutChecksumsFromOlderVersionsStillOpens) {
  Build(200, 20);
  for (const char* name : {"/MANIFEST", "/config.json"}) {
    auto parsed = ParseJson(ReadAll(cdir() + name));
    ASSERT_TRUE(parsed.ok());
    nlohmann::json j = *parsed;
    j.erase("format");
    j.erase("version");
    j.erase("crc32c");
    j.erase("wal_bytes");
    WriteAll(cdir() + name, j.dump());
  }
  total_ = 220;
  ExpectIntact();
}

// Each byte of the manifest and the config flipped in turn: the collection is refused with the
// file named, or (a flip that leaves the same JSON, e.g. in whitespace) served unchanged.
TEST_F(StorageHostileTest, EveryFlippedMetadataByteIsCaught) {
  Build(100, 10);
  total_ = 110;
  for (const char* name : {"MANIFEST", "config.json"}) {
    const std::string path = cdir() + "/" + name;
    const std::string original = ReadAll(path);
    size_t refused = 0, served = 0;
    for (size_t i = 0; i < original.size(); i += 3) {
      std::string damaged = original;
      damaged[i] = static_cast<char>(damaged[i] ^ (i % 2 ? 0x01 : 0x20));
      WriteAll(path, damaged);
      const auto before = Files(dir_);
      auto db = Database::Open(dir_);
      ASSERT_TRUE(db.ok()) << db.status().ToString();
      auto col = (*db)->GetCollection("c");
      if (col.ok()) {
        ++served;
        EXPECT_EQ(*(*col)->Count(), total_) << name << " byte " << i;
        EXPECT_EQ((*(*col)->Get(std::vector<std::string>{"p7"}))[0].vector, PointFor(7, kDim).vector);
      } else {
        ++refused;
        EXPECT_EQ(col.status().code(), StatusCode::kCorruption);
        EXPECT_NE(col.status().message().find(name), std::string::npos) << col.status().ToString();
        db->reset();
        EXPECT_EQ(Files(dir_), before) << name << " byte " << i << ": files changed";
      }
      db->reset();
      WriteAll(path, original);
    }
    EXPECT_GT(refused, served) << name;
  }
}

TEST_F(StorageHostileTest, LogDamagedOrCutAfterACleanCloseIsCorruption) {
  Build(200, 50);
  const std::string wal = Find(cdir(), "wal-");
  const std::string original = ReadAll(wal);
  ASSERT_EQ(original.size(), wal_sizes_.back());
  // A flipped byte inside the last record (which a crash can tear, but a clean close synced).
  std::string damaged = original;
  damaged[wal_sizes_[wal_sizes_.size() - 2] + 40] ^= 0x04;
  WriteAll(wal, damaged);
  ExpectRefused("wal-");
  // Cut exactly at a record boundary: whole records lost, no torn record to see.
  WriteAll(wal, original.substr(0, wal_sizes_[2]));
  ExpectRefused("wal-");
  // Gone altogether.
  fs::remove(wal);
  ExpectRefused("wal-");
  WriteAll(wal, original);
  total_ = 250;
  ExpectIntact();
}

TEST_F(StorageHostileTest, BrokenCollectionsAreListedByTheCommandLine) {
  Build(100, 10);
  Replace(cdir() + "/MANIFEST", "\"points\":", "\"poinus\":");
  auto list = RunCli("collection list --db " + dir_, "", dir_ + "/run");
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("\"name\":\"other\""), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("{\"broken\":\"corruption: "), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("MANIFEST: checksum mismatch"), std::string::npos) << list.out;
  auto count = RunCli("count --db " + dir_ + " c", "", dir_ + "/run");
  EXPECT_NE(count.exit_code, 0);
  EXPECT_NE(count.err.find("cannot be served"), std::string::npos) << count.err;
}

// The server's key file: a role changed by hand (reader -> admin) must not grant anything.
TEST_F(StorageHostileTest, ChangedKeyFileIsCorruption) {
  fs::create_directories(dir_);
  const std::string path = dir_ + "/keys.json";
  {
    auto store = server::KeyStore::Open(path, std::nullopt);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Create(server::Role::kReader, std::nullopt, std::nullopt).ok());
  }
  ASSERT_TRUE(server::KeyStore::Open(path, std::nullopt).ok());
  Replace(path, "\"reader\"", "\"admin\"");
  auto store = server::KeyStore::Open(path, std::nullopt);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kCorruption);
  EXPECT_NE(store.status().message().find("keys.json"), std::string::npos) << store.status().ToString();
}

TEST_F(StorageHostileTest, ExtremeFloatsAreRefusedAtTheDoor) {
  auto db = std::move(Database::Open(dir_)).value();
  for (Metric metric : {Metric::kL2, Metric::kCosine, Metric::kInnerProduct}) {
    CollectionConfig c;
    c.name = std::string("m") + MetricToString(metric);
    c.dimension = 3;
    c.metric = metric;
    c.segments.seal_points = 16;
    std::shared_ptr<Collection> col = *db->CreateCollection(c);
    auto upsert = [&](std::vector<float> v) {
      Point p;
      p.id = "x";
      p.vector = std::move(v);
      return col->Upsert(std::vector<Point>{p});
    };
    auto huge = upsert({3e38f, 3e38f, 0});
    ASSERT_FALSE(huge.ok());
    EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(huge.status().message().find("dimension 0"), std::string::npos) << huge.status().ToString();
    EXPECT_NE(huge.status().message().find("'x'"), std::string::npos) << huge.status().ToString();
    if (metric == Metric::kCosine) {
      EXPECT_EQ(upsert({1e-45f, 0, 0}).status().code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(upsert({0, 0, 0}).status().code(), StatusCode::kInvalidArgument);
    }
    // The largest accepted values still give finite distances against each other.
    for (size_t i = 0; i < 40; ++i) {
      Point p;
      p.id = "p" + std::to_string(i);
      const float s = (i % 2 ? 1.0f : -1.0f) * 1.5e18f;
      p.vector = {s, i % 3 == 0 ? -s : s, (i % 5) * 1e17f};
      ASSERT_TRUE(col->Upsert(std::vector<Point>{p}).ok()) << MetricToString(metric) << " " << i;
    }
    ASSERT_TRUE(col->Optimize().ok());  // sealed and indexed, not stuck
    EXPECT_EQ(col->Stats().unindexed_points, 0u);
    QueryRequest q;
    q.vector = {1.5e18f, -1.5e18f, 0};
    q.k = 40;
    auto hits = col->Query(q);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    ASSERT_EQ(hits->size(), 40u);
    for (const auto& h : *hits) EXPECT_TRUE(std::isfinite(h.score)) << MetricToString(metric) << " " << h.id;
    auto got = *col->Get(std::vector<std::string>{"p3"}, true);
    ASSERT_EQ(got.size(), 1u);
    for (float x : got[0].vector) EXPECT_TRUE(std::isfinite(x));
    q.vector = {3e38f, 0, 3e38f};
    EXPECT_EQ(col->Query(q).status().code(), StatusCode::kInvalidArgument);
  }
}

// The embedded API takes any size_t: a rerank or ef far beyond the collection is answered,
// not an abort (a rerank of 10^12 made every quantized query throw bad_alloc).
TEST_F(StorageHostileTest, HugeQueryParametersAreAnswered) {
  auto db = std::move(Database::Open(dir_)).value();
  CollectionConfig c;
  c.name = "q";
  c.dimension = kDim;
  c.index = IndexType::kSq8;
  c.segments.seal_points = 16;
  std::shared_ptr<Collection> col = *db->CreateCollection(c);
  ASSERT_TRUE(col->Upsert(PointsFor(0, 100, kDim)).ok());
  ASSERT_TRUE(col->Optimize().ok());
  QueryRequest q;
  q.vector = PointFor(5, kDim).vector;
  q.k = 3;
  q.rerank = size_t{1} << 40;
  q.ef = size_t{1} << 40;
  auto hits = col->Query(q);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits->size(), 3u);
  EXPECT_EQ((*hits)[0].id, "p5");
}

TEST_F(StorageHostileTest, IdsWithControlCharactersAreRefused) {
  auto db = std::move(Database::Open(dir_)).value();
  CollectionConfig c;
  c.name = "ids";
  c.dimension = 2;
  std::shared_ptr<Collection> col = *db->CreateCollection(c);
  for (std::string id : {std::string("\0", 1), std::string("a\nb"), std::string("tab\there"),
                         std::string("del\x7f"), std::string("\xff\xfe")}) {
    Point p;
    p.id = id;
    p.vector = {1, 2};
    auto r = col->Upsert(std::vector<Point>{p});
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << "id of " << id.size() << " bytes";
  }
  Point p;
  p.id = "naïve/ü?#%20 ok";  // any other UTF-8 text is an id
  p.vector = {1, 2};
  EXPECT_TRUE(col->Upsert(std::vector<Point>{p}).ok());
}

TEST(JsonHostileTest, DepthAndDuplicateKeysAreErrors) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto r = ParseJson(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nests deeper than 64"), std::string::npos) << r.status().message();
  auto dup = ParseJson(R"({"a": 1, "b": {"k": 1, "k": 2}})");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("duplicate key 'k'"), std::string::npos) << dup.status().message();
  // The same key in different objects is fine; so is nesting up to the limit.
  EXPECT_TRUE(ParseJson(R"([{"k": 1}, {"k": 2}, {"a": {"k": 3}}])").ok());
  EXPECT_TRUE(ParseJson(std::string(64, '[') + std::string(64, ']')).ok());
  EXPECT_FALSE(ParseJson(std::string(65, '[') + std::string(65, ']')).ok());
  auto bad = ParseJson("{\"a\": tru}");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("malformed JSON at byte"), std::string::npos) << bad.status().message();
  // The parser builds the same document as nlohmann's own.
  const std::string text = R"({"s":"x\u00e9","n":-3,"u":18446744073709551615,"f":0.25,"a":[1,[2,{}],null,true]})";
  EXPECT_EQ(*ParseJson(text), nlohmann::json::parse(text));
}

TEST_F(StorageHostileTest, DeepJsonOnTheCommandLineIsAnError) {
  fs::create_directories(dir_);
  const std::string db = dir_ + "/db";
  auto made = RunCli("collection create --db " + db + " c --dim 2", "", dir_ + "/run");
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::string line = "{\"id\":\"a\",\"vector\":[1,2],\"metadata\":{\"m\":";
  line += std::string(300000, '[') + std::string(300000, ']') + "}}\n";
  auto up = RunCli("upsert --db " + db + " c", line, dir_ + "/run");
  EXPECT_FALSE(up.signaled) << up.err;
  EXPECT_NE(up.exit_code, 0);
  EXPECT_NE(up.err.find("nests deeper"), std::string::npos) << up.err.substr(0, 300);
  auto deep_filter = [](int levels) {
    std::string f;
    for (int i = 0; i < levels; ++i) f += "{\"$not\":";
    return f + "{\"a\":1}" + std::string(levels, '}');
  };
  // As a flag (an argument is limited to 128 KiB) and in a query line a million deep.
  WriteAll(dir_ + "/filter.json", deep_filter(14000));
  auto count = RunCli("count --db " + db + " c --filter \"$(cat " + dir_ + "/filter.json)\"", "", dir_ + "/run");
  EXPECT_FALSE(count.signaled) << count.err.substr(0, 300);
  EXPECT_NE(count.exit_code, 0);
  EXPECT_NE(count.err.find("nests deeper"), std::string::npos) << count.err.substr(0, 300);
  auto query = RunCli("query --db " + db + " c", "{\"vector\":[1,2],\"filter\":" + deep_filter(1000000) + "}\n",
                      dir_ + "/run");
  EXPECT_FALSE(query.signaled) << query.err.substr(0, 300);
  EXPECT_NE((query.out + query.err).find("nests deeper"), std::string::npos) << query.out.substr(0, 300);
  auto dup = RunCli("upsert --db " + db + " c", "{\"id\":\"a\",\"vector\":[1,2],\"id\":\"b\"}\n", dir_ + "/run");
  EXPECT_NE(dup.exit_code, 0);
  EXPECT_NE(dup.err.find("duplicate key 'id'"), std::string::npos) << dup.err;
}

TEST_F(StorageHostileTest, ADirectoryThatIsNotADatabaseIsLeftAlone) {
  const std::string foreign = dir_ + "/server-root";
  fs::create_directories(foreign + "/tenants/default");
  WriteAll(foreign + "/keys.json", "{}");
  const auto before = Files(foreign);
  auto db = Database::Open(foreign);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(db.status().message().find("not a Sextant database"), std::string::npos) << db.status().ToString();
  auto list = RunCli("collection list --db " + foreign, "", dir_ + "/run");
  EXPECT_NE(list.exit_code, 0);
  EXPECT_NE(list.err.find("not a Sextant database"), std::string::npos) << list.err;
  EXPECT_EQ(Files(foreign), before);
  EXPECT_FALSE(fs::exists(foreign + "/LOCK"));
  EXPECT_FALSE(fs::exists(foreign + "/collections"));
  // An empty directory becomes a database; so does a missing one.
  fs::create_directories(dir_ + "/empty");
  EXPECT_TRUE(Database::Open(dir_ + "/empty").ok());
  EXPECT_TRUE(Database::Open(dir_ + "/fresh").ok());
}

}  // namespace
}  // namespace sextant
