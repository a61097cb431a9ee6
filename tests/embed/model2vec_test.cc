// Model2Vec and the model registry: the built-in model against its golden outputs (no
// ../shared needed), upstream model2vec's own fixtures (F32/F16/I8; skipped without
// ../shared), threads, bad text, and damaged model directories (each a clear error).
#include "embed/model2vec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "embed/model.h"
#include "embed/safetensors.h"
#include "embed_test_util.h"

namespace sextant::embed {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::BytesOf;
using testing::HaveShared;
using testing::MakeSafetensors;
using testing::PotionDir;
using testing::SharedData;
using testing::Slurp;
using testing::WriteFile;

double MaxAbsDiff(const float* a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < b.size(); ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}
double Cosine(const float* a, const float* b, size_t d) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < d; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

std::shared_ptr<const EmbeddingModel> Builtin() {
  auto m = LoadModel();
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : nullptr;
}

TEST(Model2Vec, BuiltInModelMatchesGoldenOutputs) {
  auto model = Builtin();
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->name(), "potion-base-4M");
  EXPECT_EQ(model->dimension(), 128u);
  const json ref = json::parse(Slurp(PotionDir() + "/reference_embeddings_numpy.json"));
  std::vector<std::string> texts;
  for (const json& c : ref["cases"]) texts.push_back(c["text"]);
  auto out = model->Embed(texts);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), texts.size() * 128);
  double worst = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto want = ref["cases"][i]["embedding"].get<std::vector<float>>();
    const double diff = MaxAbsDiff(&(*out)[i * 128], want);
    EXPECT_LE(diff, 1e-5) << texts[i];
    worst = std::max(worst, diff);
  }
  std::printf("potion-base-4M vs reference_embeddings_numpy.json: max abs error %.3g over %zu texts\n", worst,
              texts.size());
  // The empty text is the zero vector.
  for (size_t j = 0; j < 128; ++j) EXPECT_EQ((*out)[6 * 128 + j], 0.0f);
}

TEST(Model2Vec, ClassicExampleFindsTheFeline) {
  auto model = Builtin();
  ASSERT_NE(model, nullptr);
  const std::vector<std::string> texts = {"Where is the cat?", "The dog barked at the mailman.",
                                          "The feline is sleeping on the sofa.", "I love eating fresh apples.",
                                          "Javascript is a programming language."};
  auto out = model->Embed(texts);
  ASSERT_TRUE(out.ok());
  std::vector<double> sim;
  for (size_t i = 1; i < texts.size(); ++i) sim.push_back(Cosine(&(*out)[0], &(*out)[i * 128], 128));
  EXPECT_EQ(std::max_element(sim.begin(), sim.end()) - sim.begin(), 1) << sim[0] << " " << sim[1];
  EXPECT_NEAR(sim[1], 0.296, 0.001);
  EXPECT_NEAR(sim[2], -0.043, 0.001);
}

TEST(Model2Vec, DirectoryAndMemoryLoadsEqualTheBuiltIn) {
  auto dir = Model2Vec::Load(PotionDir());
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ((*dir)->name(), PotionDir());
  EXPECT_TRUE((*dir)->normalize());
  EXPECT_EQ((*dir)->max_chars(), 512u * 6);  // median token length 6
  auto via_registry = LoadModel(PotionDir());
  ASSERT_TRUE(via_registry.ok()) << via_registry.status().ToString();
  const std::vector<std::string> texts = {"hello world", "Numbers 123 456", ""};
  auto a = (*dir)->Embed(texts);
  auto b = Builtin()->Embed(texts);
  auto c = (*via_registry)->Embed(texts);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*a, *c);
  // Built-ins are loaded once and shared.
  EXPECT_EQ(Builtin().get(), Builtin().get());
}

TEST(Model2Vec, UpstreamFixtures) {
  const std::string base = "models/model2vec-fixtures";
  if (!HaveShared(base)) GTEST_SKIP() << "no ../shared/data/models/model2vec-fixtures";
  const std::string root = SharedData() + "/" + base;
  const auto short_want = json::parse(Slurp(root + "/embeddings_short.json"))[0].get<std::vector<float>>();
  const auto long_want = json::parse(Slurp(root + "/embeddings_long.json"))[0].get<std::vector<float>>();
  std::string long_text = "hello";
  for (int i = 1; i < 1000; ++i) long_text += " hello";
  std::vector<float> f32;
  for (const char* dtype : {"float32", "float16", "int8"}) {
    auto m = Model2Vec::Load(root + "/test-model-" + dtype);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ASSERT_EQ((*m)->dimension(), 2u);  // the config says hidden_dim 64; the tensor rules
    auto out = (*m)->Embed(std::vector<std::string>{"hello world", long_text});
    ASSERT_TRUE(out.ok());
    std::vector<int32_t> ids;
    ASSERT_TRUE((*m)->TokenIds(long_text, &ids).ok());
    EXPECT_EQ(ids.size(), 512u);
    if (std::string(dtype) == "float32") {
      // model2vec (Python) outputs: exact to float rounding.
      const double e1 = MaxAbsDiff(&(*out)[0], short_want), e2 = MaxAbsDiff(&(*out)[2], long_want);
      EXPECT_LE(e1, 1e-6);
      EXPECT_LE(e2, 1e-6);
      std::printf("model2vec fixtures (float32): max abs error %.3g (short), %.3g (long)\n", e1, e2);
      f32 = *out;
    } else {
      // The quantized copies of the same model: close to the float32 outputs.
      EXPECT_GT(Cosine(&(*out)[0], &f32[0], 2), 0.999) << dtype;
      EXPECT_GT(Cosine(&(*out)[2], &f32[2], 2), 0.999) << dtype;
      if (std::string(dtype) == "float16") {
        EXPECT_LE(MaxAbsDiff(&(*out)[0], short_want), 2e-3);
      }
    }
  }
}

TEST(Model2Vec, TextsWithoutKnownTokensAreZeroAndLongTextIsCut) {
  auto model = Builtin();
  ASSERT_NE(model, nullptr);
  std::string llamas;
  for (int i = 0; i < 4000; ++i) llamas += "\xf0\x9f\xa6\x99";  // unknown tokens only
  // model2vec reads at most 512 * 6 characters: "hello" after 4000 unknown characters is past it.
  const std::vector<std::string> texts = {"", "   \t\n", "[UNK]", "\xf0\x9f\xa6\x99", llamas + " hello", "hello"};
  auto out = model->Embed(texts);
  ASSERT_TRUE(out.ok());
  for (size_t i = 0; i < 5; ++i) {
    for (size_t j = 0; j < 128; ++j) ASSERT_EQ((*out)[i * 128 + j], 0.0f) << "text " << i;
  }
  double norm = 0;
  for (size_t j = 0; j < 128; ++j) norm += double((*out)[5 * 128 + j]) * (*out)[5 * 128 + j];
  EXPECT_NEAR(norm, 1.0, 1e-6);
  // A very long text keeps its first 512 known tokens.
  std::string many;
  for (int i = 0; i < 5000; ++i) many += i < 600 ? "apple " : "javascript ";
  auto m = Model2Vec::Load(PotionDir());
  ASSERT_TRUE(m.ok());
  std::vector<int32_t> ids;
  ASSERT_TRUE((*m)->TokenIds(many, &ids).ok());
  EXPECT_EQ(ids.size(), 512u);
  auto apple = model->Embed(std::vector<std::string>{"apple", many});
  ASSERT_TRUE(apple.ok());
  EXPECT_GT(Cosine(&(*apple)[0], &(*apple)[128], 128), 0.99999);
}

TEST(Model2Vec, ThreadsGiveTheSameRowsAndNameTheBadText) {
  auto model = Builtin();
  ASSERT_NE(model, nullptr);
  std::vector<std::string> texts;
  for (int i = 0; i < 1000; ++i) texts.push_back("text number " + std::to_string(i) + " about cats and dogs");
  auto one = model->Embed(texts, 1);
  auto four = model->Embed(texts, 4);
  auto all = model->Embed(texts, 0);
  ASSERT_TRUE(one.ok() && four.ok() && all.ok());
  EXPECT_EQ(*one, *four);
  EXPECT_EQ(*one, *all);
  texts[37] = "bad \xff byte";
  texts[800] = "\xc0";
  for (int threads : {1, 3}) {
    auto bad = model->Embed(texts, threads);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(bad.status().message(), "text 37: text is not valid UTF-8 at byte 4");
  }
  EXPECT_EQ(model->Embed(std::vector<std::string>{})->size(), 0u);
}

TEST(Model2Vec, MappingAndWeights) {
  // A 6-token vocabulary over 3 rows: mapping token -> row, weights per token.
  const std::string dir = ::testing::TempDir() + "/sextant_m2v_vq";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const json tok = {{"model",
                     {{"type", "WordPiece"},
                      {"unk_token", "[UNK]"},
                      {"continuing_subword_prefix", "##"},
                      {"max_input_chars_per_word", 100},
                      {"vocab", {{"[UNK]", 0}, {"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}, {"e", 5}}}}},
                    {"normalizer", {{"type", "BertNormalizer"}}},
                    {"pre_tokenizer", {{"type", "BertPreTokenizer"}}}};
  WriteFile(dir + "/tokenizer.json", tok.dump());
  WriteFile(dir + "/config.json", R"({"normalize": false})");
  const std::vector<float> rows = {1, 0, 0, 2, 4, 4};
  const std::vector<int64_t> mapping = {0, 0, 1, 2, 2, 1};
  const std::vector<float> weights = {1, 2, 1, 0.5f, 1, 3};
  WriteFile(dir + "/model.safetensors",
            MakeSafetensors({{"embeddings", "F32", {3, 2}, BytesOf(rows)},
                             {"mapping", "I64", {6}, BytesOf(mapping)},
                             {"weights", "F32", {6}, BytesOf(weights)}}));
  auto m = Model2Vec::Load(dir);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto out = (*m)->Embed(std::vector<std::string>{"a c e", "zzz b"});
  ASSERT_TRUE(out.ok());
  // a: 2*[1,0]; c: 0.5*[4,4]; e: 3*[0,2] -> mean [4/3, 8/3]. "zzz" unknown: b alone = [0,2].
  EXPECT_NEAR((*out)[0], 4.0 / 3, 1e-6);
  EXPECT_NEAR((*out)[1], 8.0 / 3, 1e-6);
  EXPECT_NEAR((*out)[2], 0.0, 1e-6);
  EXPECT_NEAR((*out)[3], 2.0, 1e-6);
  fs::remove_all(dir);
}

// A copy of the built-in model's directory to damage.
class DamagedModel : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/sextant_m2v_damaged_" + std::to_string(::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"}) {
      fs::copy_file(PotionDir() + "/" + f, dir_ + "/" + f);
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  void ExpectError(StatusCode code, const std::string& words) {
    auto m = LoadModel(dir_);
    ASSERT_FALSE(m.ok()) << words;
    EXPECT_EQ(m.status().code(), code) << m.status().ToString();
    EXPECT_NE(m.status().message().find(words), std::string::npos) << m.status().message();
  }
  void Tensors(const std::vector<testing::RawTensor>& t) { WriteFile(dir_ + "/model.safetensors", MakeSafetensors(t)); }
  std::string dir_;
};

TEST_F(DamagedModel, MissingFiles) {
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"}) {
    SetUp();
    fs::remove(dir_ + "/" + f);
    ExpectError(StatusCode::kNotFound, std::string(f));
  }
}

TEST_F(DamagedModel, WrongShapesAndDtypes) {
  Tensors({{"embeddings", "F32", {100, 4}, std::string(1600, '\0')}});
  ExpectError(StatusCode::kInvalidArgument, "tensor 'embeddings' has 100 rows, but the tokenizer has 29528 tokens");
  Tensors({{"embeddings", "F32", {29528}, std::string(29528 * 4, '\0')}});
  ExpectError(StatusCode::kInvalidArgument, "tensor 'embeddings' has shape [29528], expected [vocabulary size, dimension]");
  Tensors({{"embeddings", "F32", {29528, 0}, ""}});
  ExpectError(StatusCode::kInvalidArgument, "has shape [29528, 0]");
  Tensors({{"embeddings", "I32", {29528, 2}, std::string(29528 * 8, '\0')}});
  ExpectError(StatusCode::kInvalidArgument, "tensor 'embeddings' has dtype I32; Model2Vec models are F32, F16, BF16, F64 or I8");
  Tensors({{"weights", "F32", {29528, 2}, std::string(29528 * 8, '\0')}});
  ExpectError(StatusCode::kNotFound, "no tensor 'embeddings' (it has: weights)");
  std::vector<float> nan(29528 * 2, 0.0f);
  nan[77] = std::nanf("");
  Tensors({{"embeddings", "F32", {29528, 2}, BytesOf(nan)}});
  ExpectError(StatusCode::kInvalidArgument, "holds NaN or infinity");
  const std::vector<int64_t> bad_map(29528, 5);
  Tensors({{"embeddings", "F32", {3, 2}, std::string(24, '\0')}, {"mapping", "I64", {29528}, BytesOf(bad_map)}});
  ExpectError(StatusCode::kInvalidArgument, "tensor 'mapping' maps token 0 to row 5, outside the 3 rows");
  Tensors({{"embeddings", "F32", {3, 2}, std::string(24, '\0')}, {"mapping", "F32", {29528}, std::string(29528 * 4, '\0')}});
  ExpectError(StatusCode::kInvalidArgument, "tensor 'mapping' has dtype F32, expected an integer type");
}

TEST_F(DamagedModel, DamagedFiles) {
  const std::string model = Slurp(dir_ + "/model.safetensors");
  WriteFile(dir_ + "/model.safetensors", model.substr(0, model.size() - 1));
  ExpectError(StatusCode::kCorruption, "model.safetensors: tensor 'embeddings': data_offsets end 3779584 runs past the data");
  WriteFile(dir_ + "/model.safetensors", model);
  WriteFile(dir_ + "/config.json", "{\"normalize\": ");
  ExpectError(StatusCode::kInvalidArgument, "config.json: malformed JSON");
  WriteFile(dir_ + "/config.json", R"({"normalize": "yes"})");
  ExpectError(StatusCode::kInvalidArgument, "config.json: \"normalize\" must be true or false");
  WriteFile(dir_ + "/config.json", R"({"model_type": "xlm-roberta"})");
  ExpectError(StatusCode::kInvalidArgument, "a 'xlm-roberta' model; Sextant runs Model2Vec (model_type 'model2vec') and BERT");
  // A config that says BERT goes to the BERT loader, which wants a sentence-transformers
  // directory.
  WriteFile(dir_ + "/config.json", R"({"model_type": "bert"})");
  ExpectError(StatusCode::kNotFound, "modules.json");
  WriteFile(dir_ + "/config.json", R"({"normalize": true})");
  json tok = json::parse(Slurp(dir_ + "/tokenizer.json"));
  tok["model"]["type"] = "Unigram";
  WriteFile(dir_ + "/tokenizer.json", tok.dump());
  ExpectError(StatusCode::kInvalidArgument, "tokenizer.json: model type 'Unigram' is not supported");
}

TEST(ModelRegistry, UnknownNamesListTheKnownOnes) {
  auto m = LoadModel("potion-base-8M");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(m.status().message().rfind(
                "unknown model 'potion-base-8M': not a built-in model (potion-base-4M) nor a model directory nor a "
                "model in the models folder ",
                0),
            0u)
      << m.status().message();
  EXPECT_EQ(BuiltinModelNames(), (std::vector<std::string>{"potion-base-4M"}));
  EXPECT_FALSE(LoadModel("").ok());
}

TEST(ModelRegistry, TruncateDimensions) {
  const std::vector<float> rows = {3, 4, 12, 0, 0, 0, 0, 5};
  auto t = TruncateDimensions(rows, 4, 2);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (std::vector<float>{0.6f, 0.8f, 0, 0}));
  EXPECT_FALSE(TruncateDimensions(rows, 4, 5).ok());
  EXPECT_FALSE(TruncateDimensions(rows, 4, 0).ok());
  const std::vector<float> want = {3 / 13.f, 4 / 13.f, 12 / 13.f, 0, 0, 0, 0, 1};
  const auto all = *TruncateDimensions(rows, 4, 4);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(all[i], want[i], 1e-7);
}

}  // namespace
}  // namespace sextant::embed
