// The `sextant` program end to end: bench ann and the database commands, including every
// kind of bad input the issues list (clear message, non-zero exit, never a crash).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataset/vector_file.h"
#include "local_hub.h"    // tests/embed: python3 -m http.server laid out like the Hugging Face hub
#include "random_bert.h"  // tests/embed: a BERT sentence-transformers directory with random weights

namespace {

struct RunResult {
  int code;
  std::string out, err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / ("sextant_cli_" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(Path(name), std::ios::binary) << text;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  RunResult Run(const std::string& args, const std::string& input = "") const {
    Write("stdin.txt", input);
    const std::string cmd = std::string(SEXTANT_CLI) + " " + args + " <" + Path("stdin.txt") + " >" +
                            Path("stdout.txt") + " 2>" + Path("stderr.txt");
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), Slurp(Path("stdout.txt")),
            Slurp(Path("stderr.txt"))};
  }
  // A small data set: base, queries and exact ground truth.
  void MakeBenchFiles() {
    auto base = sextant::dataset::GenerateClustered(500, 12, 5, 0.3f, 1);
    auto query = sextant::dataset::GenerateClustered(20, 12, 5, 0.3f, 2);
    ASSERT_TRUE(sextant::dataset::WriteFvecs(Path("base.fvecs"), base).ok());
    ASSERT_TRUE(sextant::dataset::WriteFvecs(Path("query.fvecs"), query).ok());
    sextant::dataset::IdMatrix gt;
    gt.rows = query.rows;
    gt.dim = 10;
    for (size_t q = 0; q < query.rows; ++q) {
      std::vector<std::pair<float, int>> d;
      for (size_t i = 0; i < base.rows; ++i) {
        float s = 0;
        for (size_t j = 0; j < 12; ++j) s += (query.row(q)[j] - base.row(i)[j]) * (query.row(q)[j] - base.row(i)[j]);
        d.push_back({s, static_cast<int>(i)});
      }
      std::sort(d.begin(), d.end());
      for (size_t j = 0; j < 10; ++j) gt.data.push_back(d[j].second);
    }
    ASSERT_TRUE(sextant::dataset::WriteIvecs(Path("gt.ivecs"), gt).ok());
  }
  std::string BenchArgs() const {
    return "bench ann --base " + Path("base.fvecs") + " --query " + Path("query.fvecs") +
           " --groundtruth " + Path("gt.ivecs");
  }

  std::string dir_;
};

TEST_F(CliTest, BenchAnnPrintsBuildAndSearchLines) {
  MakeBenchFiles();
  for (const char* index : {"hnsw", "flat"}) {
    auto r = Run(BenchArgs() + " --metric l2 --index " + index + " --ef 10,32 --k 10 --threads 1 --build-threads 2");
    ASSERT_EQ(r.code, 0) << r.err;
    std::istringstream lines(r.out);
    std::string line;
    std::vector<std::string> all;
    while (std::getline(lines, line)) all.push_back(line);
    ASSERT_EQ(all.size(), 3u) << r.out;
    EXPECT_NE(all[0].find("\"event\":\"build\""), std::string::npos);
    EXPECT_NE(all[0].find("\"n\":500,\"dim\":12"), std::string::npos);
    EXPECT_NE(all[0].find("\"memory_bytes\":"), std::string::npos);
    EXPECT_NE(all[1].find("\"event\":\"search\",\"ef\":10,\"recall\":"), std::string::npos);
    EXPECT_NE(all[2].find("\"ef\":32,\"recall\":"), std::string::npos);
    EXPECT_NE(all[2].find("\"qps\":"), std::string::npos);
    if (std::string(index) == "flat") {
      EXPECT_NE(all[1].find("\"recall\":1.0000"), std::string::npos);
    }
  }
}

TEST_F(CliTest, BenchAnnBadInput) {
  MakeBenchFiles();
  auto expect_error = [&](const std::string& args, const std::string& words) {
    auto r = Run(args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_LT(r.code, 128) << "crashed: " << args;
    EXPECT_NE(r.err.find(words), std::string::npos) << args << "\nstderr: " << r.err;
  };
  expect_error(BenchArgs() + " --metric hamming", "unknown metric 'hamming'");
  expect_error(BenchArgs() + " --index lsh", "unknown index 'lsh'");
  expect_error(BenchArgs() + " --k 0", "--k must be a positive integer");
  expect_error(BenchArgs() + " --k -3", "--k must be a positive integer");
  expect_error(BenchArgs() + " --ef 10,x", "--ef must be a positive integer");
  expect_error(BenchArgs() + " --k 50", "fewer than k=50");
  expect_error(BenchArgs() + " --bogus 1", "unknown flag --bogus");
  // Wrong format, inconsistent dimensions, query dimension, NaN.
  Write("bad.txt", "hello");
  expect_error("bench ann --base " + Path("bad.txt") + " --query " + Path("query.fvecs") +
                   " --groundtruth " + Path("gt.ivecs"),
               "expected .fvecs, .bvecs, .ivecs or .npy");
  auto two = sextant::dataset::GenerateClustered(3, 4, 1, 0.1f, 1);
  std::string bytes;
  for (int row = 0; row < 3; ++row) {
    const int d = row == 2 ? 5 : 4;  // the third row declares another dimension
    bytes.append(reinterpret_cast<const char*>(&d), 4);
    for (int j = 0; j < d; ++j) bytes.append(reinterpret_cast<const char*>(&two.data[0]), 4);
  }
  Write("ragged.fvecs", bytes);
  expect_error("bench ann --base " + Path("ragged.fvecs") + " --query " + Path("query.fvecs") +
                   " --groundtruth " + Path("gt.ivecs"),
               "dimension");
  auto small = sextant::dataset::GenerateClustered(20, 7, 2, 0.1f, 3);
  ASSERT_TRUE(sextant::dataset::WriteFvecs(Path("q7.fvecs"), small).ok());
  expect_error("bench ann --base " + Path("base.fvecs") + " --query " + Path("q7.fvecs") +
                   " --groundtruth " + Path("gt.ivecs"),
               "has dimension 7, base file has 12");
  auto nan = sextant::dataset::GenerateClustered(500, 12, 5, 0.3f, 1);
  nan.data[5 * 12 + 3] = NAN;
  ASSERT_TRUE(sextant::dataset::WriteFvecs(Path("nan.fvecs"), nan).ok());
  expect_error("bench ann --base " + Path("nan.fvecs") + " --query " + Path("query.fvecs") +
                   " --groundtruth " + Path("gt.ivecs"),
               "NaN");
  expect_error("bench ann --base " + Path("missing.fvecs") + " --query " + Path("query.fvecs") +
                   " --groundtruth " + Path("gt.ivecs"),
               "missing.fvecs");
}

TEST_F(CliTest, DatabaseCommandsRoundTrip) {
  const std::string db = " --db " + Path("db");
  auto r = Run("collection create" + db + " docs --dim 3 --metric cosine");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"created\""), std::string::npos);
  const std::string points =
      R"({"id":"a","vector":[1,0,0],"document":"hello","metadata":{"lang":"en","n":1}})" "\n"
      R"({"id":"b","vector":[0,1,0],"metadata":{"lang":"fr","n":2}})" "\n"
      R"({"id":"c","vector":[0.9,0.1,0],"metadata":{"lang":"en","n":3}})" "\n";
  r = Run("upsert" + db + " docs --batch 2", points);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"acked\":2}\n{\"acked\":3}\n");
  r = Run("query" + db + " docs --include document,metadata",
          R"({"vector":[1,0,0],"k":2,"filter":{"lang":"en"}})" "\n" R"({"vector":[0,1,0],"k":1})" "\n");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_EQ(first.rfind("{\"results\":[{\"document\":\"hello\",\"id\":\"a\"", 0), 0u) << first;
  EXPECT_NE(first.find("\"id\":\"c\""), std::string::npos);
  EXPECT_NE(second.find("\"id\":\"b\""), std::string::npos);
  r = Run("count" + db + " docs");
  EXPECT_EQ(r.out, "{\"count\":3}\n");
  r = Run("count" + db + " docs --filter '{\"n\":{\"$gte\":2}}'");
  EXPECT_EQ(r.out, "{\"count\":2}\n");
  r = Run("get" + db + " docs --ids a,zz");
  EXPECT_NE(r.out.find("\"id\":\"a\""), std::string::npos);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
  r = Run("snapshot create" + db + " docs --out " + Path("snap"));
  ASSERT_EQ(r.code, 0) << r.err;
  r = Run("delete" + db + " docs --filter '{\"lang\":\"fr\"}'");
  EXPECT_EQ(r.out, "{\"deleted\":1}\n");
  r = Run("delete" + db + " docs --ids a");
  EXPECT_EQ(r.out, "{\"deleted\":1}\n");
  r = Run("snapshot restore" + db + " --from " + Path("snap") + " copy");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"count\":3"), std::string::npos);
  r = Run("collection list" + db);
  EXPECT_NE(r.out.find("\"name\":\"docs\""), std::string::npos);
  EXPECT_NE(r.out.find("\"name\":\"copy\""), std::string::npos);
  r = Run("collection drop" + db + " copy");
  EXPECT_EQ(r.code, 0);
}

TEST_F(CliTest, DatabaseBadInputNamesLineAndField) {
  const std::string db = " --db " + Path("db");
  ASSERT_EQ(Run("collection create" + db + " c --dim 2").code, 0);
  auto expect = [&](const std::string& args, const std::string& input, const std::string& words) {
    auto r = Run(args, input);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_LT(r.code, 128) << "crashed";
    EXPECT_NE(r.err.find(words), std::string::npos) << "stderr: " << r.err;
  };
  const std::string ok = R"({"id":"x","vector":[1,2]})" "\n";
  expect("upsert" + db + " c", ok + R"({"id":"y","vector":[1]})", "line 2 (batch not applied): vector has dimension 1");
  expect("upsert" + db + " c", ok + R"({"id":"y","vector":[1,"a"]})", "line 2 (batch not applied): field 'vector': element 1");
  expect("upsert" + db + " c", ok + R"({"id":"","vector":[1,2]})", "line 2 (batch not applied): id is empty");
  expect("upsert" + db + " c", ok + ok, "id 'x' appears twice in the batch (also on line 1)");
  expect("upsert" + db + " c", ok + "{not json", "line 2 (batch not applied): malformed JSON");
  expect("upsert" + db + " c", R"({"id":"x","vector":[1,2],"metadata":{"a":{"b":1}}})", "metadata field 'a'");
  expect("upsert" + db + " c", R"({"id":"x","vector":[1e999,2]})", "line 1");
  EXPECT_EQ(Run("count" + db + " c").out, "{\"count\":0}\n") << "nothing from a failing batch is applied";
  expect("query" + db + " c", R"({"vector":[1,2],"filter":{"a":{"$regex":"x"}}})", "unknown filter operator '$regex' at 'a'");
  expect("query" + db + " c", R"({"vector":[1,2],"filter":{"a":{"$gt":true}}})", "$gt");
  expect("query" + db + " c", R"({"vector":[1,2,3]})", "line 1: query vector has dimension 3");
  expect("query" + db + " c", R"({"vector":[1,2],"k":0})", "'k' must be a positive integer");
  expect("collection create" + db + " d --dim 2 --metric manhattan", "", "unknown metric 'manhattan'");
  expect("count" + db + " nope", "", "collection 'nope' not found");
  // The database keeps working.
  auto r = Run("upsert" + db + " c", ok);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Run("count" + db + " c").out, "{\"count\":1}\n");
}

}  // namespace

namespace {

TEST_F(CliTest, TextAndHybridQueries) {
  const std::string db = " --db " + Path("db");
  ASSERT_EQ(Run("collection create" + db + " notes --dim 0 --text --analyzer english").code, 0);
  auto r = Run("upsert" + db + " notes",
               R"({"id":"a","document":"Error 0x800403 when the printer overheats"})" "\n"
               R"({"id":"b","document":"Resolve thermal faults in Project X-Alpha"})" "\n");
  ASSERT_EQ(r.code, 0) << r.err;
  r = Run("query" + db + " notes", R"({"text":"0x800403","k":5})" "\n" R"({"text":"x-alpha","k":5,"explain":true})" "\n");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_EQ(first.find("\"id\":\"a\""), first.rfind("\"id\":")) << first;  // only a
  EXPECT_NE(second.find("\"matched_terms\":[\"x-alpha\""), std::string::npos) << second;
  auto expect = [&](const std::string& input, const std::string& words) {
    auto res = Run("query" + db + " notes", input);
    EXPECT_NE(res.code, 0);
    EXPECT_NE(res.err.find(words), std::string::npos) << res.err;
  };
  expect(R"({"text":"   "})", "text query is empty");
  expect(R"({"text":"a","fusion":"borda"})", "unknown fusion 'borda'");
  expect(R"({"text":"a","alpha":2})", "alpha must be in [0, 1]");
  expect(R"({"vector":[1,2],"text":"a"})", "text-only");
  r = Run("collection create" + db + " bad --dim 2 --text --analyzer klingon");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("klingon"), std::string::npos) << r.err;
  r = Run("eval beir" + db + " notes --queries " + Path("missing.jsonl") + " --qrels " + Path("missing.tsv"));
  EXPECT_NE(r.code, 0);
}

}  // namespace

namespace {

// The flags of `collection create` are read by the same parser, with the same limits, as a
// server PUT body and config.json (src/codec): M up to 512, the error names the setting.
TEST_F(CliTest, CollectionSettingsShareTheCodecsLimits) {
  const std::string db = " --db " + Path("db");
  auto r = Run("collection create" + db + " big --dim 4 --M 513");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("hnsw.M must be in [2, 512], got 513"), std::string::npos) << r.err;
  r = Run("collection create" + db + " wide --dim 4 --M 300");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"M\":300"), std::string::npos) << r.out;
  r = Run("collection create" + db + " t --dim 2 --text --k1 1e300");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("bm25"), std::string::npos) << r.err;
  r = Run("collection create" + db + " q --dim 4 --index ivf-flat --nlist 4 --seal-points 8");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("segments.seal_points"), std::string::npos) << r.err;
}

// Query lines are read by the server's query parser: "include" and "timeout_ms" work the same.
TEST_F(CliTest, QueryLinesTakeIncludeAndTimeout) {
  const std::string db = " --db " + Path("db");
  ASSERT_EQ(Run("collection create" + db + " c --dim 2").code, 0);
  ASSERT_EQ(Run("upsert" + db + " c", R"({"id":"a","vector":[1,0],"document":"d","metadata":{"n":1}})" "\n").code, 0);
  auto r = Run("query" + db + " c", R"({"vector":[1,0],"k":1,"include":["document"],"timeout_ms":60000})" "\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(R"({"results":[{"document":"d","id":"a","score":)", 0), 0u) << r.out;
  r = Run("query" + db + " c --include metadata", R"({"vector":[1,0],"k":1,"include":[]})" "\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(R"({"results":[{"id":"a","score":)", 0), 0u) << r.out;
  r = Run("query" + db + " c", R"({"vector":[1,0],"timeout_ms":0})" "\n");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("field 'timeout_ms'"), std::string::npos) << r.err;
}

// `sextant embed` with the built-in model: ids echoed, one line per text in order, the classic
// example (no word of the query is in the best answer).
TEST_F(CliTest, EmbedFindsTheFelineAndEchoesIds) {
  const std::string input =
      "{\"id\":\"q\",\"text\":\"Where is the cat?\"}\n"
      "{\"id\":1,\"text\":\"The dog barked at the mailman.\"}\n"
      "\n"
      "{\"text\":\"The feline is sleeping on the sofa.\",\"id\":\"feline\"}\n"
      "{\"id\":[3],\"text\":\"I love eating fresh apples.\"}\n"
      "{\"text\":\"Javascript is a programming language.\"}\n"
      "{\"text\":\"\"}\n";
  for (const char* flags : {"embed", "embed --model potion-base-4M --threads 2 --batch 2"}) {
    auto r = Run(flags, input);
    ASSERT_EQ(r.code, 0) << r.err;
    std::istringstream lines(r.out);
    std::vector<nlohmann::json> out;
    for (std::string line; std::getline(lines, line);) out.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(out.size(), 6u) << r.out;
    EXPECT_EQ(out[0]["id"], "q");
    EXPECT_EQ(out[1]["id"], 1);
    EXPECT_EQ(out[2]["id"], "feline");
    EXPECT_EQ(out[3]["id"], nlohmann::json::array({3}));
    EXPECT_FALSE(out[4].contains("id"));
    std::vector<std::vector<float>> v;
    for (const auto& j : out) v.push_back(j["embedding"].get<std::vector<float>>());
    for (const auto& e : v) ASSERT_EQ(e.size(), 128u);
    auto cosine = [](const std::vector<float>& a, const std::vector<float>& b) {
      double ab = 0, aa = 0, bb = 0;
      for (size_t i = 0; i < a.size(); ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
      return aa == 0 || bb == 0 ? 0.0 : ab / std::sqrt(aa * bb);
    };
    const double dog = cosine(v[0], v[1]), feline = cosine(v[0], v[2]), apples = cosine(v[0], v[3]),
                 js = cosine(v[0], v[4]);
    EXPECT_GT(feline, dog);
    EXPECT_GT(feline, apples);
    EXPECT_GT(feline, js);
    EXPECT_NEAR(feline, 0.296, 0.001);
    for (float x : v[5]) EXPECT_EQ(x, 0.0f);  // empty text: the zero vector
  }
  // --dimensions: the first D dimensions, re-normalised.
  auto r = Run("embed --dimensions 32", input);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto first = nlohmann::json::parse(r.out.substr(0, r.out.find('\n')))["embedding"].get<std::vector<float>>();
  ASSERT_EQ(first.size(), 32u);
  double norm = 0;
  for (float x : first) norm += double(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
}

// `sextant embed --model DIR` with a BERT sentence-transformers directory (random weights):
// recognised by its config.json, rows of the model's dimension at unit length, in order, the
// same text alike in different batches; a directory missing its tokenizer is named.
TEST_F(CliTest, EmbedRunsABertDirectory) {
  namespace et = sextant::embed::testing;
  et::RandomBertSpec spec;
  spec.tokenizer_json = et::Slurp(et::PotionDir() + "/tokenizer.json");
  et::WriteRandomBert(Path("bert"), spec);
  const std::string input =
      "{\"id\":\"a\",\"text\":\"Where is the cat?\"}\n{\"text\":\"\"}\n{\"id\":3,\"text\":\"Where is the cat?\"}\n";
  auto r = Run("embed --model " + Path("bert") + " --threads 2 --batch 2", input);
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(lines, line);) out.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(out.size(), 3u) << r.out;
  EXPECT_EQ(out[0]["id"], "a");
  EXPECT_FALSE(out[1].contains("id"));
  EXPECT_EQ(out[2]["id"], 3);
  std::vector<std::vector<float>> v;
  for (const auto& j : out) v.push_back(j["embedding"].get<std::vector<float>>());
  for (const auto& e : v) {
    ASSERT_EQ(e.size(), 32u);
    double norm = 0;
    for (float x : e) norm += double(x) * x;
    EXPECT_NEAR(norm, 1.0, 1e-5);  // the directory has a Normalize module
  }
  for (size_t i = 0; i < 32; ++i) EXPECT_NEAR(v[0][i], v[2][i], 1e-6);
  std::filesystem::remove(Path("bert/tokenizer.json"));
  r = Run("embed --model " + Path("bert"), input);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("bert/tokenizer.json"), std::string::npos) << r.err;
}

TEST_F(CliTest, EmbedBadInputNamesTheLine) {
  auto expect_error = [&](const std::string& args, const std::string& input, const std::string& words,
                          size_t lines_out = 0) {
    auto r = Run(args, input);
    EXPECT_EQ(r.code, 2) << args << " " << input;
    EXPECT_NE(r.err.find("sextant embed: error: " + words), std::string::npos) << r.err;
    EXPECT_EQ(static_cast<size_t>(std::count(r.out.begin(), r.out.end(), '\n')), lines_out) << r.out;
  };
  // The lines before a bad one are embedded and printed (whatever the batch size).
  expect_error("embed --batch 1", "{\"text\":\"a\"}\n{\"text\":\"b\"}\nnot json\n", "line 3: malformed JSON", 2);
  expect_error("embed", "{\"text\":\"a\"}\n{\"text\":\"b\"}\nnot json\n", "line 3: malformed JSON", 2);
  expect_error("embed", "{\"id\":1}\n", "line 1: no \"text\" field");
  expect_error("embed", "{\"text\":[\"a\"]}\n", "line 1: \"text\" must be a string");
  expect_error("embed", "[\"a\"]\n", "line 1: expected an object");
  expect_error("embed", "{\"text\":\"\xff\"}\n", "line 1: malformed JSON");
  expect_error("embed --dimensions 129", "{\"text\":\"a\"}\n",
               "--dimensions 129 is larger than the 128 dimensions of model potion-base-4M");
  expect_error("embed --dimensions 0", "", "--dimensions");
  expect_error("embed --threads x", "", "--threads");
  expect_error("embed --model potion-base-9M", "",
               "unknown model 'potion-base-9M': not a built-in model (potion-base-4M) nor a model directory");
  expect_error("embed extra", "", "unexpected argument 'extra'");
  // A model directory missing its files.
  std::filesystem::create_directories(Path("model"));
  Write("model/config.json", "{\"normalize\":true}");
  auto r = Run("embed --model " + Path("model"), "{\"text\":\"a\"}\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;
}

// `sextant model list | info | pull` against a local stand-in for the Hugging Face hub
// (HF_ENDPOINT), into a models folder named by SEXTANT_MODELS; the pulled model then works by
// name in `sextant embed`.
TEST_F(CliTest, ModelListInfoAndPull) {
  namespace et = sextant::embed::testing;
  et::LocalHub hub(Path("hub"));
  hub.Publish("minishlab/potion-base-4M", et::PotionDir());
  et::RandomBertSpec spec;
  spec.tokenizer_json = et::Slurp(et::PotionDir() + "/tokenizer.json");
  et::WriteRandomBert(Path("bert"), spec);
  hub.Publish("test/tiny-bert", Path("bert"));
  ASSERT_TRUE(hub.Start());
  ::setenv("HF_ENDPOINT", hub.endpoint().c_str(), 1);
  ::setenv("SEXTANT_MODELS", Path("models").c_str(), 1);
  auto lines = [](const std::string& out) {
    std::vector<nlohmann::json> v;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
    return v;
  };

  auto r = Run("model list");
  ASSERT_EQ(r.code, 0) << r.err;
  auto listed = lines(r.out);
  ASSERT_EQ(listed.size(), 1u) << r.out;
  EXPECT_EQ(listed[0]["name"], "potion-base-4M");
  EXPECT_EQ(listed[0]["builtin"], true);
  EXPECT_EQ(listed[0]["dimension"], 128);

  r = Run("model pull minishlab/potion-base-4M");
  ASSERT_EQ(r.code, 0) << r.err;
  auto pulled = nlohmann::json::parse(r.out);
  EXPECT_EQ(pulled["name"], "minishlab/potion-base-4M");
  EXPECT_EQ(pulled["kind"], "model2vec");
  EXPECT_EQ(pulled["dimension"], 128);
  EXPECT_EQ(pulled["path"], Path("models") + "/minishlab/potion-base-4M");
  EXPECT_EQ(pulled["license"], "MIT License");
  EXPECT_NE(r.err.find(R"({"bytes":)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(R"("event":"downloaded","file":"model.safetensors")"), std::string::npos) << r.err;
  r = Run("model pull test/tiny-bert --revision main");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["kind"], "bert");

  r = Run("model list");
  ASSERT_EQ(r.code, 0) << r.err;
  listed = lines(r.out);
  ASSERT_EQ(listed.size(), 3u) << r.out;
  EXPECT_EQ(listed[1]["name"], "minishlab/potion-base-4M");
  EXPECT_EQ(listed[2]["name"], "test/tiny-bert");
  EXPECT_EQ(listed[2]["kind"], "bert");
  EXPECT_EQ(listed[2]["dimension"], 32);

  r = Run("model info test/tiny-bert");
  ASSERT_EQ(r.code, 0) << r.err;
  auto info = nlohmann::json::parse(r.out);
  EXPECT_EQ(info["pooling"], "mean");
  EXPECT_EQ(info["source"]["repo"], "test/tiny-bert");
  r = Run("model info potion-base-4M");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["builtin"], true);
  r = Run("model info " + Path("bert"));  // a directory
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["dimension"], 32);

  // The pulled model by name embeds as the built-in one.
  const std::string input = "{\"text\":\"Where is the cat?\"}\n";
  auto by_name = Run("embed --model minishlab/potion-base-4M", input);
  ASSERT_EQ(by_name.code, 0) << by_name.err;
  EXPECT_EQ(by_name.out, Run("embed", input).out);

  // --models-dir: elsewhere than the models folder.
  r = Run("model pull minishlab/potion-base-4M --models-dir " + Path("other"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["path"], Path("other") + "/minishlab/potion-base-4M");
  EXPECT_TRUE(std::filesystem::exists(Path("other/minishlab/potion-base-4M/model.safetensors")));

  // Errors.
  r = Run("model pull nobody/nothing");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("sextant model pull: error: GET " + hub.endpoint() +
                       "/nobody/nothing/resolve/main/config.json: HTTP 404"),
            std::string::npos)
      << r.err;
  r = Run("model pull ../etc");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("model repository '../etc'"), std::string::npos) << r.err;
  r = Run("model pull");
  EXPECT_EQ(r.code, 2);
  r = Run("model info nobody/nothing");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown model 'nobody/nothing'"), std::string::npos) << r.err;
  EXPECT_EQ(Run("model frob").code, 2);
  EXPECT_EQ(Run("model").code, 2);
  hub.Stop();
  r = Run("model pull test/tiny-bert");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(hub.endpoint()), std::string::npos) << r.err;
  ::unsetenv("HF_ENDPOINT");
  ::unsetenv("SEXTANT_MODELS");
}

}  // namespace

namespace {

// Collections that embed (issue 12, item 6) through the command line: `collection create
// --embedding`, points with documents only, text queries by meaning, the modes in `eval beir`.
TEST_F(CliTest, CollectionWithAnEmbeddingModel) {
  ::setenv("SEXTANT_MODELS", Path("models").c_str(), 1);  // no pulled model of the machine's
  const std::string db = " --db " + Path("db");
  auto r = Run("collection create" + db + " docs --embedding potion-base-4M --text");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto created = nlohmann::json::parse(r.out);
  EXPECT_EQ(created["created"]["dimension"], 128) << r.out;
  EXPECT_EQ(created["created"]["embedding"]["model"], "potion-base-4M") << r.out;
  r = Run("upsert" + db + " docs",
          R"({"id":"dog","document":"The dog barked at the mailman."})" "\n"
          R"({"id":"feline","document":"The feline is sleeping on the sofa."})" "\n"
          R"({"id":"apples","document":"I love eating fresh apples."})" "\n"
          R"({"id":"js","document":"Javascript is a programming language."})" "\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"acked\":4}\n");
  r = Run("query" + db + " docs",
          R"({"text":"Where is the cat?"})" "\n"
          R"({"text":"Where is the cat?","mode":"semantic","explain":true})" "\n"
          R"({"text":"sleeping","mode":"keyword"})" "\n");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(lines, line);) out.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(out.size(), 3u) << r.out;
  EXPECT_EQ(out[0]["results"][0]["id"], "feline") << r.out;
  EXPECT_EQ(out[1]["results"][0]["id"], "feline") << r.out;
  EXPECT_EQ(out[1]["results"][0]["explain"]["mode"], "semantic") << r.out;
  ASSERT_EQ(out[2]["results"].size(), 1u) << r.out;
  EXPECT_EQ(out[2]["results"][0]["id"], "feline") << r.out;
  // The stored vector is the model's (the same as `sextant embed` gives the document).
  r = Run("get" + db + " docs --ids feline");
  ASSERT_EQ(r.code, 0) << r.err;
  auto embedded = Run("embed", R"({"text":"The feline is sleeping on the sofa."})" "\n");
  ASSERT_EQ(embedded.code, 0) << embedded.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["vector"].get<std::vector<float>>(),
            nlohmann::json::parse(embedded.out)["embedding"].get<std::vector<float>>());
  // A line with neither vector nor document: the batch is refused, naming the line.
  r = Run("upsert" + db + " docs", R"({"id":"x","document":"A cat."})" "\n" R"({"id":"y"})" "\n");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("line 2 (batch not applied): no vector and no document"), std::string::npos) << r.err;
  EXPECT_EQ(Run("count" + db + " docs").out, "{\"count\":4}\n");
  // A bad mode names the field.
  r = Run("query" + db + " docs", R"({"text":"cat","mode":"bogus"})" "\n");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("field 'mode'"), std::string::npos) << r.err;

  // An unknown model: nothing created, the name in the message.
  r = Run("collection create" + db + " nope --embedding no-such-model --text");
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.code, 128) << "crashed";
  EXPECT_NE(r.err.find("no-such-model"), std::string::npos) << r.err;
  EXPECT_EQ(Run("count" + db + " nope").code != 0, true);
  // Provider flags need --embedding.
  for (const char* flag : {"--embedding-url http://127.0.0.1:9/v1", "--embedding-key-env K", "--embedding-dimensions 8"}) {
    r = Run("collection create" + db + " e --dim 4 " + flag);
    EXPECT_NE(r.code, 0) << flag;
    EXPECT_LT(r.code, 128) << "crashed";
    EXPECT_NE(r.err.find("needs --embedding"), std::string::npos) << flag << ": " << r.err;
  }
  // The codec's limits: a URL that is not http(s), a key variable without a URL.
  r = Run("collection create" + db + " e --embedding m --embedding-url ftp://x/v1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("embedding.url"), std::string::npos) << r.err;
  r = Run("collection create" + db + " e --embedding potion-base-4M --embedding-key-env K");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("embedding.api_key_env"), std::string::npos) << r.err;
  // --embedding-dimensions cuts the built-in model; --dim must then agree.
  r = Run("collection create" + db + " small --embedding potion-base-4M --embedding-dimensions 32");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["created"]["dimension"], 32) << r.out;
  r = Run("collection create" + db + " wrong --embedding potion-base-4M --dim 64");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("dimension is 64"), std::string::npos) << r.err;
  ::unsetenv("SEXTANT_MODELS");
}

TEST_F(CliTest, EvalBeirModes) {
  ::setenv("SEXTANT_MODELS", Path("models").c_str(), 1);
  const std::string db = " --db " + Path("db");
  ASSERT_EQ(Run("collection create" + db + " corpus --embedding potion-base-4M --text").code, 0);
  auto r = Run("upsert" + db + " corpus",
               R"({"id":"d1","document":"The feline is sleeping on the sofa."})" "\n"
               R"({"id":"d2","document":"The dog barked at the mailman."})" "\n"
               R"({"id":"d3","document":"I love eating fresh apples and ripe pears."})" "\n"
               R"({"id":"d4","document":"Javascript is a programming language for the web."})" "\n"
               R"({"id":"d5","document":"Kittens and cats nap in the afternoon sun."})" "\n");
  ASSERT_EQ(r.code, 0) << r.err;
  Write("queries.jsonl", R"({"_id":"q1","text":"Where is the cat?"})" "\n"
                         R"({"_id":"q2","text":"fruit to eat"})" "\n"
                         R"({"_id":"q3","text":"programming language"})" "\n");
  Write("qrels.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td5\t1\nq2\td3\t1\nq3\td4\t1\n");
  const std::string eval = "eval beir" + db + " corpus --queries " + Path("queries.jsonl") + " --qrels " + Path("qrels.tsv");
  for (const char* mode : {"semantic", "keyword", "hybrid"}) {
    SCOPED_TRACE(mode);
    r = Run(eval + " --mode " + mode);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto report = nlohmann::json::parse(r.out);
    EXPECT_EQ(report["mode"], mode) << r.out;
    EXPECT_EQ(report["queries"], 3) << r.out;
    const double ndcg = report["ndcg@10"].get<double>();
    EXPECT_GE(ndcg, 0.0) << r.out;
    EXPECT_LE(ndcg, 1.0) << r.out;
    EXPECT_GT(ndcg, 0.3) << r.out;  // every query has a relevant document that shares words or meaning
  }
  // Without --mode: auto (hybrid here), and no "mode" in the report.
  r = Run(eval);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(nlohmann::json::parse(r.out).contains("mode")) << r.out;
  // Fusion settings are reported too.
  r = Run(eval + " --mode hybrid --fusion rrf");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["fusion"], "rrf") << r.out;
  r = Run(eval + " --mode bogus");
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.code, 128) << "crashed";
  EXPECT_NE(r.err.find("unknown mode 'bogus'"), std::string::npos) << r.err;
  // Judged even when no query is measured.
  Write("empty.tsv", "query-id\tcorpus-id\tscore\n");
  r = Run("eval beir" + db + " corpus --queries " + Path("queries.jsonl") + " --qrels " + Path("empty.tsv") +
          " --mode bogus");
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.err.find("unknown mode 'bogus'"), std::string::npos) << r.err;
  r = Run(eval + " --alpha x");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--alpha must be a number"), std::string::npos) << r.err;
  ::unsetenv("SEXTANT_MODELS");
}

// `sextant serve --embedding-provider-urls` takes http(s) prefixes only.
TEST_F(CliTest, ServeProviderUrlsMustBeHttp) {
  auto r = Run("serve --data " + Path("data") + " --port 0 --embedding-provider-urls ftp://x/");
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.code, 128) << "crashed";
  EXPECT_NE(r.err.find("--embedding-provider-urls: 'ftp://x/' is not an http(s) URL prefix"), std::string::npos)
      << r.err;
  r = Run("serve --data " + Path("data") + " --port 0 --embedding-provider-urls http://127.0.0.1:1/,");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--embedding-provider-urls"), std::string::npos) << r.err;
}

// make run's first part: documents in, meaning out. Without SciFact it searches the corpus the
// repository ships (demo/), so the check holds on any machine.
TEST_F(CliTest, DemoShowsDocumentsInAndMeaningOut) {
  auto r = Run("demo --only text --scifact /nonexistent-scifact");
  ASSERT_EQ(r.code, 0) << r.err;
  // The classic example: the feline first although no word matches "Where is the cat?".
  const size_t query = r.out.find("query {\"text\": \"Where is the cat?\"}");
  ASSERT_NE(query, std::string::npos) << r.out;
  const size_t first = r.out.find("1. similarity", query);
  ASSERT_NE(first, std::string::npos) << r.out;
  const std::string first_line = r.out.substr(first, r.out.find('\n', first) - first);
  EXPECT_NE(first_line.find("The feline is sleeping on the sofa."), std::string::npos) << r.out;
  // The three modes side by side on demo/, and an nDCG@10 line for each, in [0, 1].
  EXPECT_NE(r.out.find("the demo corpus"), std::string::npos) << r.out;
  for (const char* mode : {"semantic", "keyword", "hybrid"}) {
    const size_t at = r.out.find(std::string("    ") + mode + " ", r.out.find("nDCG@10 over"));
    ASSERT_NE(at, std::string::npos) << mode << "\n" << r.out;
    const double ndcg = std::stod(r.out.substr(at + 4 + std::string(mode).size()));
    EXPECT_GE(ndcg, 0.0);
    EXPECT_LE(ndcg, 1.0);
  }
  // The question phrased unlike its answer is found by meaning: "Litter training a kitten" is
  // the semantic column's first hit, marked relevant.
  const size_t kitty = r.out.find("my kitty pees next to the tray");
  ASSERT_NE(kitty, std::string::npos) << r.out;
  const size_t row = r.out.find("\xe2\x9c\x93 1. Litter training a kitten", kitty);
  EXPECT_NE(row, std::string::npos) << r.out;
  EXPECT_EQ(Run("demo --only nothing").code, 2);
}

}  // namespace
