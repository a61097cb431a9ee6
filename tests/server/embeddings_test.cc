// The server's OpenAI-compatible embedding routes against a real server instance:
// POST /v1/embeddings gives exactly what embed::LoadModel(...)->Embed gives (one text, a list,
// dimensions, base64), with the built-in model and with models in the models folder; GET
// /v1/models lists them; keys are required; every bad input is a 4xx in OpenAI's error shape.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "embed/bert.h"
#include "embed/model.h"
#include "embed/model2vec.h"
#include "random_bert.h"  // tests/embed: a BERT sentence-transformers directory with random weights
#include "server/server.h"
#include "test_server.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using sextant::server::testing::Resp;
using sextant::server::testing::Send;
using sextant::server::testing::TestServer;

class EmbeddingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("sextant_server_embeddings_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/models");
    ::setenv("SEXTANT_MODELS", (dir_ + "/models").c_str(), 1);
    server_ = std::make_unique<TestServer>(dir_);
    port_ = server_->port();
    admin_ = server_->admin();
  }
  void TearDown() override {
    server_.reset();
    ::unsetenv("SEXTANT_MODELS");
    fs::remove_all(dir_);
  }

  Resp Call(const std::string& method, const std::string& path, const std::string& body, const std::string& key) {
    return Send(port_, method, path, body, key, {}, 60);
  }
  Resp Embed(const json& body, const std::string& key = "<admin>") {
    return Call("POST", "/v1/embeddings", body.dump(), key == "<admin>" ? admin_ : key);
  }
  // A 4xx/5xx in OpenAI's shape (with Sextant's code).
  // Errors found before the handler (keys, a body that is not JSON) keep Sextant's shape alone.
  void ExpectError(const Resp& r, int status, const std::string& code, const std::string& words = "",
                   bool openai_shape = true) {
    EXPECT_EQ(r.status, status) << r.raw;
    ASSERT_TRUE(r.body.is_object() && r.body.contains("error")) << r.raw;
    const json& e = r.body["error"];
    EXPECT_EQ(e.value("code", ""), code) << r.raw;
    EXPECT_FALSE(e.value("message", "").empty()) << r.raw;
    EXPECT_NE(e.value("message", "").find(words), std::string::npos) << r.raw;
    if (openai_shape) {
      EXPECT_EQ(e.value("type", ""), status >= 500 ? "server_error" : "invalid_request_error") << r.raw;
      EXPECT_TRUE(e.contains("param")) << r.raw;
    }
  }

  std::string dir_, admin_;
  std::unique_ptr<TestServer> server_;
  int port_ = 0;
};

std::vector<float> Rows(const sextant::embed::EmbeddingModel& model, const std::vector<std::string>& texts) {
  auto rows = model.Embed(texts);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  return rows.ok() ? *rows : std::vector<float>{};
}

std::vector<float> RowOf(const json& data_item) {
  std::vector<float> v;
  for (const json& x : data_item["embedding"]) v.push_back(x.get<float>());  // shortest form: exact
  return v;
}

TEST_F(EmbeddingsTest, EmbeddingsEqualTheModelsOwn) {
  auto model = sextant::embed::LoadModel("potion-base-4M");
  ASSERT_TRUE(model.ok());
  const std::vector<std::string> texts = {"Where is the cat?", "The feline is sleeping on the sofa.", "",
                                          "I love eating fresh apples."};
  const std::vector<float> want = Rows(**model, texts);
  const size_t dim = 128;

  // One string.
  Resp one = Embed({{"model", "potion-base-4M"}, {"input", texts[0]}});
  ASSERT_EQ(one.status, 200) << one.raw;
  EXPECT_EQ(one.body["object"], "list");
  EXPECT_EQ(one.body["model"], "potion-base-4M");
  ASSERT_EQ(one.body["data"].size(), 1u);
  EXPECT_EQ(one.body["data"][0]["object"], "embedding");
  EXPECT_EQ(one.body["data"][0]["index"], 0);
  EXPECT_EQ(RowOf(one.body["data"][0]), std::vector<float>(want.begin(), want.begin() + dim));
  std::vector<int32_t> ids;
  ASSERT_TRUE(dynamic_cast<const sextant::embed::Model2Vec&>(**model).TokenIds(texts[0], &ids).ok());
  EXPECT_EQ(one.body["usage"]["prompt_tokens"], ids.size());
  EXPECT_EQ(one.body["usage"]["total_tokens"], ids.size());

  // A list, in order.
  Resp many = Embed({{"model", "potion-base-4M"}, {"input", texts}, {"encoding_format", "float"}});
  ASSERT_EQ(many.status, 200) << many.raw;
  ASSERT_EQ(many.body["data"].size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(many.body["data"][i]["index"], i);
    EXPECT_EQ(RowOf(many.body["data"][i]), std::vector<float>(want.begin() + i * dim, want.begin() + (i + 1) * dim));
  }

  // dimensions: truncated and re-normalised, as TruncateDimensions.
  auto cut = sextant::embed::TruncateDimensions(want, dim, 32);
  ASSERT_TRUE(cut.ok());
  Resp small = Embed({{"model", "potion-base-4M"}, {"input", texts}, {"dimensions", 32}});
  ASSERT_EQ(small.status, 200) << small.raw;
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(RowOf(small.body["data"][i]), std::vector<float>(cut->begin() + i * 32, cut->begin() + (i + 1) * 32));
  }
  EXPECT_EQ(Embed({{"model", "potion-base-4M"}, {"input", "a"}, {"dimensions", 128}}).status, 200);

  // base64: the float32 bytes, little-endian (what OpenAI's client asks for by default).
  Resp b64 = Embed({{"model", "potion-base-4M"}, {"input", texts[1]}, {"encoding_format", "base64"}});
  ASSERT_EQ(b64.status, 200) << b64.raw;
  const std::string encoded = b64.body["data"][0]["embedding"].get<std::string>();
  std::string bytes;
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i + 3 < encoded.size() + 3 && i < encoded.size(); i += 4) {
    uint32_t w = 0;
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = encoded[i + k];
      w = (w << 6) | (c == '=' ? 0 : static_cast<uint32_t>(alphabet.find(c)));
      pad += c == '=';
    }
    bytes += static_cast<char>(w >> 16);
    if (pad < 2) bytes += static_cast<char>((w >> 8) & 255);
    if (pad < 1) bytes += static_cast<char>(w & 255);
  }
  ASSERT_EQ(bytes.size(), dim * sizeof(float));
  std::vector<float> decoded(dim);
  std::memcpy(decoded.data(), bytes.data(), bytes.size());
  EXPECT_EQ(decoded, std::vector<float>(want.begin() + dim, want.begin() + 2 * dim));

  // 2048 inputs, the most a request takes.
  Resp full = Embed({{"model", "potion-base-4M"}, {"input", std::vector<std::string>(2048, "cat")}});
  ASSERT_EQ(full.status, 200);
  EXPECT_EQ(full.body["data"].size(), 2048u);
  EXPECT_EQ(full.body["data"][2047]["index"], 2047);
}

TEST_F(EmbeddingsTest, ModelsFromTheModelsFolder) {
  // A BERT sentence-transformers model and a Model2Vec one, as `sextant model pull` leaves them.
  namespace et = sextant::embed::testing;
  et::RandomBertSpec spec;
  spec.tokenizer_json = et::Slurp(et::PotionDir() + "/tokenizer.json");
  et::WriteRandomBert(dir_ + "/models/test/tiny-bert", spec);
  fs::create_directories(dir_ + "/models/minishlab");
  fs::copy(et::PotionDir(), dir_ + "/models/minishlab/potion", fs::copy_options::recursive);

  Resp models = Call("GET", "/v1/models", "", admin_);
  ASSERT_EQ(models.status, 200) << models.raw;
  EXPECT_EQ(models.body["object"], "list");
  std::vector<std::string> ids;
  for (const json& m : models.body["data"]) {
    ids.push_back(m["id"]);
    EXPECT_EQ(m["object"], "model");
    EXPECT_EQ(m["created"], 0);
    EXPECT_EQ(m["owned_by"], "sextant");
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"potion-base-4M", "minishlab/potion", "test/tiny-bert"}));

  const std::vector<std::string> texts = {"Where is the cat?", "a much longer text about dogs and cats and mailmen"};
  auto bert = sextant::embed::LoadModel(dir_ + "/models/test/tiny-bert");
  ASSERT_TRUE(bert.ok()) << bert.status().ToString();
  const std::vector<float> want = Rows(**bert, texts);
  Resp r = Embed({{"model", "test/tiny-bert"}, {"input", texts}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["model"], "test/tiny-bert");
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(RowOf(r.body["data"][i]), std::vector<float>(want.begin() + i * 32, want.begin() + (i + 1) * 32));
  }
  // BERT's token count: [CLS] ... [SEP] per text.
  auto* b = dynamic_cast<const sextant::embed::BertModel*>(bert->get());
  ASSERT_NE(b, nullptr);
  size_t tokens = 0;
  for (const auto& t : texts) {
    std::vector<int32_t> tid;
    ASSERT_TRUE(b->TokenIds(t, "", &tid).ok());
    tokens += tid.size();
  }
  EXPECT_EQ(r.body["usage"]["prompt_tokens"], tokens);
  Resp m2v = Embed({{"model", "minishlab/potion"}, {"input", texts[0]}});
  ASSERT_EQ(m2v.status, 200) << m2v.raw;
  Resp builtin = Embed({{"model", "potion-base-4M"}, {"input", texts[0]}});
  EXPECT_EQ(m2v.body["data"], builtin.body["data"]);

  // A damaged model: the server says so, keeps serving the others.
  fs::resize_file(dir_ + "/models/test/tiny-bert/model.safetensors", 64);
  fs::create_directories(dir_ + "/models/test/broken");
  fs::copy(dir_ + "/models/test/tiny-bert", dir_ + "/models/test/broken", fs::copy_options::recursive);
  Resp broken = Embed({{"model", "test/broken"}, {"input", "a"}});
  ExpectError(broken, 500, "model_unavailable", "$SEXTANT_MODELS/test/broken/model.safetensors");
  EXPECT_EQ(broken.raw.find(dir_), std::string::npos) << broken.raw;  // no server path
  EXPECT_EQ(Embed({{"model", "test/tiny-bert"}, {"input", "a"}}).status, 200);  // loaded before: cached
}

TEST_F(EmbeddingsTest, KeysAreRequiredAndAnyKeyWillDo) {
  const json body = {{"model", "potion-base-4M"}, {"input", "hello"}};
  ExpectError(Embed(body, ""), 401, "unauthenticated", "", false);
  ExpectError(Embed(body, "sxt_not_a_key"), 401, "unauthenticated", "", false);
  ExpectError(Call("GET", "/v1/models", "", ""), 401, "unauthenticated", "", false);
  // A reader scoped to one tenant's database may embed and list models.
  ASSERT_EQ(Call("POST", "/v1/keys", R"({"role":"reader","tenant":"default","database":"default"})", admin_).status, 201);
  Resp key = Call("POST", "/v1/keys", R"({"role":"reader","tenant":"default"})", admin_);
  ASSERT_EQ(key.status, 201) << key.raw;
  const std::string reader = key.body["key"];
  EXPECT_EQ(Embed(body, reader).status, 200);
  EXPECT_EQ(Call("GET", "/v1/models", "", reader).status, 200);
}

TEST_F(EmbeddingsTest, BadInputIsA400InOpenAisShape) {
  auto bad = [&](const json& body, const std::string& words, int status = 400, const std::string& code = "bad_request") {
    SCOPED_TRACE(body.dump().substr(0, 200));
    ExpectError(Embed(body), status, code, words);
  };
  Resp unknown = Embed({{"model", "potion-base-8M"}, {"input", "a"}});
  ExpectError(unknown, 404, "model_not_found", "unknown model 'potion-base-8M'");
  EXPECT_EQ(unknown.body["error"]["param"], "model");
  bad({{"model", "nobody/nothing"}, {"input", "a"}}, "unknown model", 404, "model_not_found");
  // A path is not a model name: the server reads no directory a client names.
  bad({{"model", sextant::embed::testing::PotionDir()}, {"input", "a"}}, "not a model name");
  bad({{"model", "../models/x"}, {"input", "a"}}, "not a model name");
  bad({{"input", "a"}}, "\"model\"");
  bad({{"model", 5}, {"input", "a"}}, "\"model\"");
  bad({{"model", "potion-base-4M"}}, "\"input\" is required");
  bad({{"model", "potion-base-4M"}, {"input", 5}}, "must be a string or an array of strings");
  bad({{"model", "potion-base-4M"}, {"input", json::array()}}, "empty array");
  bad({{"model", "potion-base-4M"}, {"input", {1, 2, 3}}}, "token ids");
  bad({{"model", "potion-base-4M"}, {"input", json::array({json::array({1, 2})})}}, "token ids");
  bad({{"model", "potion-base-4M"}, {"input", {"a", nullptr}}}, "\"input\"[1] must be a string, not null");
  bad({{"model", "potion-base-4M"}, {"input", std::vector<std::string>(2049, "a")}}, "at most 2048");
  bad({{"model", "potion-base-4M"}, {"input", "a"}, {"dimensions", 129}},
      "\"dimensions\" 129 is larger than the 128 dimensions of model potion-base-4M");
  bad({{"model", "potion-base-4M"}, {"input", "a"}, {"dimensions", 0}}, "positive integer");
  bad({{"model", "potion-base-4M"}, {"input", "a"}, {"dimensions", "8"}}, "positive integer");
  bad({{"model", "potion-base-4M"}, {"input", "a"}, {"encoding_format", "int8"}}, "encoding_format");
  ExpectError(Call("POST", "/v1/embeddings", "[1,2]", admin_), 400, "bad_request", "JSON object");
  ExpectError(Call("POST", "/v1/embeddings", "{\"model\":", admin_), 400, "bad_request", "", false);
  // The server still serves.
  EXPECT_EQ(Embed({{"model", "potion-base-4M"}, {"input", "a"}}).status, 200);
}

}  // namespace
