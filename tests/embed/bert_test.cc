// The BERT sentence encoder on random weights (real ones cannot be downloaded here): a small model
// of the all-MiniLM-L6-v2 architecture written as a real sentence-transformers directory, run by
// BertModel and by a slow, obviously right forward pass written below with plain loops in
// double, compared to 1e-5. Then batching (a text alone == in a batch), truncation, F16/BF16
// weights, prompts, threads, and damaged or hostile directories (each a clear error).
#include "embed/bert.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "embed/model.h"
#include "embed/safetensors.h"
#include "embed_test_util.h"
#include "random_bert.h"

namespace sextant::embed {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::HaveShared;
using testing::MakeSafetensors;
using testing::RandomBert;
using testing::RandomBertSpec;
using testing::SharedData;
using testing::Slurp;
using testing::WriteFile;
using testing::WriteRandomBert;

// all-MiniLM-L6-v2's tokenizer when ../shared is there, else the built-in model's (also a BERT
// WordPiece tokenizer.json with [CLS] ... [SEP]), which the repository ships.
std::string TestTokenizer() {
  if (HaveShared("tokenizers/all-MiniLM-L6-v2/tokenizer.json")) {
    return Slurp(SharedData() + "/tokenizers/all-MiniLM-L6-v2/tokenizer.json");
  }
  return Slurp(testing::PotionDir() + "/tokenizer.json");
}

// ---- The reference: the forward pass of Hugging Face's BertModel + sentence-transformers'
// pooling, one text at a time, every sum in double. ----

using Mat = std::vector<std::vector<double>>;

Mat Linear(const Mat& x, const std::vector<float>& w, const std::vector<float>& b, size_t out) {
  const size_t in = x[0].size();
  Mat y(x.size(), std::vector<double>(out));
  for (size_t t = 0; t < x.size(); ++t) {
    for (size_t o = 0; o < out; ++o) {
      double s = b[o];
      for (size_t i = 0; i < in; ++i) s += x[t][i] * w[o * in + i];
      y[t][o] = s;
    }
  }
  return y;
}

void LayerNorm(Mat& x, const std::vector<float>& g, const std::vector<float>& b, double eps) {
  for (auto& row : x) {
    double mean = 0, var = 0;
    for (double v : row) mean += v;
    mean /= row.size();
    for (double v : row) var += (v - mean) * (v - mean);
    var /= row.size();
    for (size_t i = 0; i < row.size(); ++i) row[i] = (row[i] - mean) / std::sqrt(var + eps) * g[i] + b[i];
  }
}

std::vector<double> ReferenceEmbed(const RandomBert& m, const std::vector<int32_t>& ids, size_t pool_start = 0) {
  const RandomBertSpec& s = m.spec;
  const size_t h = s.hidden, nh = s.heads, dh = h / nh, t = ids.size();
  Mat x(t, std::vector<double>(h));
  for (size_t p = 0; p < t; ++p) {
    for (size_t i = 0; i < h; ++i) {
      x[p][i] = double(m.W("embeddings.word_embeddings.weight")[ids[p] * h + i]) +
                m.W("embeddings.position_embeddings.weight")[p * h + i] +
                m.W("embeddings.token_type_embeddings.weight")[i];
    }
  }
  LayerNorm(x, m.W("embeddings.LayerNorm.weight"), m.W("embeddings.LayerNorm.bias"), s.layer_norm_eps);
  for (size_t l = 0; l < s.layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    const Mat q = Linear(x, m.W(p + "attention.self.query.weight"), m.W(p + "attention.self.query.bias"), h);
    const Mat k = Linear(x, m.W(p + "attention.self.key.weight"), m.W(p + "attention.self.key.bias"), h);
    const Mat v = Linear(x, m.W(p + "attention.self.value.weight"), m.W(p + "attention.self.value.bias"), h);
    Mat ctx(t, std::vector<double>(h, 0.0));
    for (size_t head = 0; head < nh; ++head) {
      for (size_t i = 0; i < t; ++i) {
        std::vector<double> a(t);
        double mx = -1e300;
        for (size_t j = 0; j < t; ++j) {
          double dot = 0;
          for (size_t d = 0; d < dh; ++d) dot += q[i][head * dh + d] * k[j][head * dh + d];
          a[j] = dot / std::sqrt(double(dh));
          mx = std::max(mx, a[j]);
        }
        double sum = 0;
        for (double& e : a) sum += (e = std::exp(e - mx));
        for (size_t j = 0; j < t; ++j) {
          for (size_t d = 0; d < dh; ++d) ctx[i][head * dh + d] += a[j] / sum * v[j][head * dh + d];
        }
      }
    }
    Mat attn = Linear(ctx, m.W(p + "attention.output.dense.weight"), m.W(p + "attention.output.dense.bias"), h);
    for (size_t i = 0; i < t; ++i) {
      for (size_t j = 0; j < h; ++j) attn[i][j] += x[i][j];
    }
    LayerNorm(attn, m.W(p + "attention.output.LayerNorm.weight"), m.W(p + "attention.output.LayerNorm.bias"),
              s.layer_norm_eps);
    x = attn;
    Mat inter = Linear(x, m.W(p + "intermediate.dense.weight"), m.W(p + "intermediate.dense.bias"), s.intermediate);
    for (auto& row : inter) {
      for (double& u : row) u = 0.5 * u * (1 + std::erf(u / std::sqrt(2.0)));
    }
    Mat out = Linear(inter, m.W(p + "output.dense.weight"), m.W(p + "output.dense.bias"), h);
    for (size_t i = 0; i < t; ++i) {
      for (size_t j = 0; j < h; ++j) out[i][j] += x[i][j];
    }
    LayerNorm(out, m.W(p + "output.LayerNorm.weight"), m.W(p + "output.LayerNorm.bias"), s.layer_norm_eps);
    x = out;
  }
  std::vector<double> e(h, 0.0);
  if (s.pooling == "cls") {
    e = x[0];
  } else {
    for (size_t p = pool_start; p < t; ++p) {
      for (size_t i = 0; i < h; ++i) e[i] += x[p][i];
    }
    for (double& v : e) v /= std::max<double>(1e-9, double(t) - double(std::min(pool_start, t)));
  }
  if (s.normalize) {
    double n = 0;
    for (double v : e) n += v * v;
    n = std::max(std::sqrt(n), 1e-12);
    for (double& v : e) v /= n;
  }
  return e;
}

double MaxAbsDiff(const float* a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

const std::vector<std::string>& Texts() {
  static const std::vector<std::string> texts = {
      "Where is the cat?",
      "",
      "The feline is sleeping on the sofa, dreaming of mice and sunlight; nobody dares to wake it up.",
      "Ünïcödé, 中文字符 and emoji 🙂 mixed with ASCII.",
      "a",
      "Gene expression in 0-dimensional biomaterials: inductive properties, osteogenesis and bone "
      "formation were measured in vivo and in vitro over twelve weeks in rats and rabbits.",
      "   spaces   around   ",
      "I love eating fresh apples."};
  return texts;
}

class BertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/sextant_bert_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  RandomBertSpec Spec() {
    RandomBertSpec s;
    s.tokenizer_json = TestTokenizer();
    return s;
  }
  std::unique_ptr<BertModel> Load() {
    auto m = BertModel::Load(dir_);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }

  // Embeds Texts() in one batch and each alone, on `threads` threads, and checks every row
  // against the reference; returns the largest difference seen.
  double CheckAgainstReference(const RandomBert& ref, BertModel& model, int threads, const std::string& prompt = "") {
    const auto& texts = Texts();
    std::vector<std::string_view> views(texts.begin(), texts.end());
    auto batch = model.EmbedWithPrompt(views, prompt, threads);
    EXPECT_TRUE(batch.ok()) << batch.status().ToString();
    if (!batch.ok()) return 1e9;
    const size_t d = model.dimension();
    EXPECT_EQ(batch->size(), texts.size() * d);
    double worst = 0, worst_alone = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      std::vector<int32_t> ids;
      uint32_t start = 0;
      EXPECT_TRUE(model.TokenIds(texts[i], prompt, &ids, &start).ok());
      const std::vector<double> want = ReferenceEmbed(ref, ids, start);
      const double err = MaxAbsDiff(&(*batch)[i * d], want);
      EXPECT_LT(err, 1e-5) << "text " << i << ": " << texts[i];
      worst = std::max(worst, err);
      // Alone, it is the same text: padding and batch neighbours change nothing.
      auto alone = model.EmbedWithPrompt(std::span<const std::string_view>(&views[i], 1), prompt, 1);
      EXPECT_TRUE(alone.ok());
      for (size_t j = 0; j < d; ++j) worst_alone = std::max(worst_alone, double(std::fabs((*alone)[j] - (*batch)[i * d + j])));
    }
    EXPECT_LT(worst_alone, 1e-6);
    std::printf("[ max abs error vs reference %.3g; alone vs batch %.3g ]\n", worst, worst_alone);
    return worst;
  }

  std::string dir_;
};

TEST_F(BertTest, MeanPoolingNormalizedMatchesReference) {
  const RandomBert ref = WriteRandomBert(dir_, Spec());
  auto model = Load();
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->dimension(), 32u);
  EXPECT_EQ(model->pooling(), BertPooling::kMean);
  EXPECT_TRUE(model->normalize());
  for (int threads : {1, 2, 3}) CheckAgainstReference(ref, *model, threads);
}

TEST_F(BertTest, ClsPoolingWithoutNormalizeMatchesReference) {
  RandomBertSpec s = Spec();
  s.pooling = "cls";
  s.normalize = false;
  s.layers = 3;
  s.heads = 8;
  s.intermediate = 96;
  s.seed = 7;
  const RandomBert ref = WriteRandomBert(dir_, s);
  auto model = Load();
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->pooling(), BertPooling::kCls);
  EXPECT_FALSE(model->normalize());
  CheckAgainstReference(ref, *model, 2);
}

TEST_F(BertTest, MeanPoolingWithoutNormalizeMatchesReference) {
  RandomBertSpec s = Spec();
  s.normalize = false;
  s.hidden = 48;
  s.heads = 3;  // head dimension 16
  s.intermediate = 80;
  s.layer_norm_eps = 1e-5;
  const RandomBert ref = WriteRandomBert(dir_, s);
  auto model = Load();
  ASSERT_NE(model, nullptr);
  CheckAgainstReference(ref, *model, 1);
}

TEST_F(BertTest, HalfAndBfloat16WeightsAreWidenedAtLoad) {
  for (const char* dtype : {"F16", "BF16"}) {
    RandomBertSpec s = Spec();
    s.dtype = dtype;
    const RandomBert ref = WriteRandomBert(dir_, s);
    auto model = Load();
    ASSERT_NE(model, nullptr) << dtype;
    CheckAgainstReference(ref, *model, 2);
    fs::remove_all(dir_);
  }
}

TEST_F(BertTest, BertPrefixAndGammaBetaNames) {
  RandomBertSpec s = Spec();
  s.bert_prefix = true;
  s.gamma_beta = true;
  const RandomBert ref = WriteRandomBert(dir_, s);
  auto model = Load();
  ASSERT_NE(model, nullptr);
  CheckAgainstReference(ref, *model, 1);
}

TEST_F(BertTest, TruncatesAtMaxSeqLength) {
  RandomBertSpec s = Spec();
  s.max_seq_length = 12;
  const RandomBert ref = WriteRandomBert(dir_, s);
  auto model = Load();
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->max_seq_length(), 12u);
  const std::string long_text = Texts()[5];
  std::vector<int32_t> ids;
  ASSERT_TRUE(model->TokenIds(long_text, "", &ids).ok());
  ASSERT_EQ(ids.size(), 12u);
  // The window keeps the tokenizer's own first and last special tokens: the ids its
  // post-processor adds to a short text (potion-base-4M's template names ids 101/102, which its
  // vocabulary gives other tokens; a tokenizer's template is what Hugging Face follows).
  std::vector<int32_t> short_ids;
  ASSERT_TRUE(model->TokenIds("apples", "", &short_ids).ok());
  ASSERT_GE(short_ids.size(), 3u);
  EXPECT_EQ(ids.front(), short_ids.front());
  EXPECT_EQ(ids.back(), short_ids.back());
  EXPECT_NE(ids[1], short_ids.front());  // the text's own tokens follow, not a second [CLS]
  // What is past the window changes nothing.
  auto out = model->Embed(std::vector<std::string>{long_text, long_text + " and much more text after it"});
  ASSERT_TRUE(out.ok());
  const std::vector<double> want = ReferenceEmbed(ref, ids);
  EXPECT_LT(MaxAbsDiff(out->data(), want), 1e-5);
  EXPECT_LT(MaxAbsDiff(out->data() + 32, want), 1e-5);
  CheckAgainstReference(ref, *model, 2);
}

TEST_F(BertTest, WindowDefaultsToTheTokenizerThenThePositions) {
  RandomBertSpec s = Spec();
  s.max_positions = 40;
  WriteRandomBert(dir_, s);
  auto model = Load();
  ASSERT_NE(model, nullptr);
  // No sentence_bert_config.json: tokenizer.json's truncation (256 for all-MiniLM; none for
  // the built-in's), bounded by max_position_embeddings.
  EXPECT_EQ(model->max_seq_length(), 40u);
  std::string text;
  for (int i = 0; i < 100; ++i) text += "word ";
  auto out = model->Embed(std::vector<std::string>{text});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  WriteFile(dir_ + "/sentence_bert_config.json", R"({"max_seq_length": 500})");
  model = Load();
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->max_seq_length(), 40u);
}

TEST_F(BertTest, PromptsForQueriesAndDocuments) {
  RandomBertSpec s = Spec();
  s.prompts = {{"query", "query: "}, {"passage", "passage: "}, {"classify", "Classify the text: "}};
  s.default_prompt = "classify";
  const RandomBert ref = WriteRandomBert(dir_, s);
  auto model = Load();
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->PromptNames(), (std::vector<std::string>{"classify", "passage", "query"}));
  EXPECT_EQ(model->default_prompt_name(), "classify");
  const std::vector<std::string_view> texts = {"Where is the cat?"};
  const std::vector<std::string_view> prefixed = {"query: Where is the cat?", "passage: Where is the cat?",
                                                  "Classify the text: Where is the cat?"};
  auto plain = model->EmbedWithPrompt(prefixed, "");
  auto q = model->EmbedAs(TextKind::kQuery, texts);
  auto d = model->EmbedAs(TextKind::kDocument, texts);
  auto dflt = model->Embed(texts);
  auto t = model->EmbedAs(TextKind::kText, texts);
  ASSERT_TRUE(plain.ok() && q.ok() && d.ok() && dflt.ok() && t.ok());
  // (Alone or three in a batch: OpenBLAS may block the sums differently, so "equal" is to 1e-6.)
  for (size_t j = 0; j < 32; ++j) {
    EXPECT_NEAR((*q)[j], (*plain)[j], 1e-6);
    EXPECT_NEAR((*d)[j], (*plain)[32 + j], 1e-6);
    EXPECT_NEAR((*dflt)[j], (*plain)[64 + j], 1e-6);
  }
  EXPECT_EQ(*t, *dflt);
  CheckAgainstReference(ref, *model, 2, "query");
  auto bad = model->EmbedWithPrompt(texts, "document");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "text 0: model " + dir_ + " has no prompt 'document' (it has: classify, passage, query)");
}

TEST_F(BertTest, IncludePromptFalsePoolsOnlyTheText) {
  RandomBertSpec s = Spec();
  s.prompts = {{"query", "search query: "}};
  s.include_prompt = false;
  const RandomBert ref = WriteRandomBert(dir_, s);
  auto model = Load();
  ASSERT_NE(model, nullptr);
  std::vector<int32_t> ids;
  uint32_t start = 0;
  ASSERT_TRUE(model->TokenIds("cats", "query", &ids, &start).ok());
  EXPECT_EQ(start, 4u);  // [CLS] search query :
  EXPECT_GT(ids.size(), 5u);
  CheckAgainstReference(ref, *model, 1, "query");
}

TEST_F(BertTest, LoadModelDetectsABertDirectory) {
  const RandomBert ref = WriteRandomBert(dir_, Spec());
  auto m = LoadModel(dir_);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->name(), dir_);
  EXPECT_EQ((*m)->dimension(), 32u);
  EXPECT_NE(dynamic_cast<const BertModel*>(m->get()), nullptr);
  auto out = (*m)->Embed(std::vector<std::string>{"Where is the cat?"}, 0);
  ASSERT_TRUE(out.ok());
  std::vector<int32_t> ids;
  ASSERT_TRUE(dynamic_cast<const BertModel*>(m->get())->TokenIds("Where is the cat?", "", &ids).ok());
  EXPECT_LT(MaxAbsDiff(out->data(), ReferenceEmbed(ref, ids)), 1e-5);
}

TEST_F(BertTest, ManyTextsOnManyThreadsKeepTheirOrder) {
  RandomBertSpec s = Spec();
  s.max_seq_length = 24;
  const RandomBert ref = WriteRandomBert(dir_, s);
  auto model = Load();
  ASSERT_NE(model, nullptr);
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i) {
    std::string t;
    for (int w = 0; w < i % 37; ++w) t += Texts()[(i + w) % Texts().size()].substr(0, 9) + " ";
    texts.push_back(t);
  }
  auto one = model->Embed(texts, 1);
  auto four = model->Embed(texts, 4);
  ASSERT_TRUE(one.ok() && four.ok());
  double diff = 0;
  for (size_t i = 0; i < one->size(); ++i) diff = std::max(diff, double(std::fabs((*one)[i] - (*four)[i])));
  EXPECT_LT(diff, 1e-6);
  for (size_t i : {0, 1, 36, 150, 299}) {
    std::vector<int32_t> ids;
    ASSERT_TRUE(model->TokenIds(texts[i], "", &ids).ok());
    EXPECT_LT(MaxAbsDiff(&(*four)[i * 32], ReferenceEmbed(ref, ids)), 1e-5) << i;
  }
}

TEST_F(BertTest, BadTextAndBadIds) {
  WriteRandomBert(dir_, Spec());
  auto model = Load();
  ASSERT_NE(model, nullptr);
  auto bad = model->Embed(std::vector<std::string>{"fine", "bad \xff byte"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "text 1: text is not valid UTF-8 at byte 4");
  auto empty = model->Embed(std::vector<std::string>{});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  const std::vector<std::vector<int32_t>> too_long = {std::vector<int32_t>(65, 1)};
  auto r = model->EmbedTokenIds(too_long);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "sequence 0 has 65 tokens; the model takes 1 to 64");
  const std::vector<std::vector<int32_t>> none = {{101, 102}, {}};
  EXPECT_EQ(model->EmbedTokenIds(none).status().message(), "sequence 1 has 0 tokens; the model takes 1 to 64");
  const std::vector<std::vector<int32_t>> out_of_range = {{101, -3}};
  EXPECT_NE(model->EmbedTokenIds(out_of_range).status().message().find("token id -3, outside the vocabulary"),
            std::string::npos);
  const std::vector<uint32_t> starts = {0, 0};
  const std::vector<std::vector<int32_t>> one = {{101, 102}};
  EXPECT_FALSE(model->EmbedTokenIds(one, 1, starts).ok());
}

// The quantized mode against the float reference: int8 weights and activations lose a little
// precision, nothing more.
TEST_F(BertTest, Int8ModeStaysCloseToTheReference) {
  RandomBertSpec s = Spec();
  s.hidden = 64;
  s.heads = 4;
  s.intermediate = 128;
  s.max_seq_length = 40;
  const RandomBert ref = WriteRandomBert(dir_, s);
  BertOptions o;
  o.precision = BertPrecision::kInt8;
  auto model = BertModel::Load(dir_, "", o);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->precision(), BertPrecision::kInt8);
  const auto& texts = Texts();
  auto out = (*model)->Embed(texts, 2);
  ASSERT_TRUE(out.ok());
  double worst = 1;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int32_t> ids;
    ASSERT_TRUE((*model)->TokenIds(texts[i], "", &ids).ok());
    const std::vector<double> want = ReferenceEmbed(ref, ids);
    double dot = 0, nn = 0, ww = 0;
    for (size_t j = 0; j < want.size(); ++j) {
      dot += (*out)[i * 64 + j] * want[j];
      nn += double((*out)[i * 64 + j]) * (*out)[i * 64 + j];
      ww += want[j] * want[j];
    }
    worst = std::min(worst, dot / std::sqrt(nn * ww));
  }
  EXPECT_GT(worst, 0.999);
  std::printf("[ int8: min cosine to the reference %.6f ]\n", worst);
  // Alone or in a batch: the same (quantization is per token row).
  auto alone = (*model)->Embed(std::vector<std::string>{texts[2]}, 1);
  ASSERT_TRUE(alone.ok());
  for (size_t j = 0; j < 64; ++j) EXPECT_NEAR((*alone)[j], (*out)[2 * 64 + j], 1e-6);
  // LoadModel's precision reaches the encoder: the same vectors as BertModel::Load's int8.
  auto loaded = LoadModel(dir_, Precision::kInt8);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const auto* bert = dynamic_cast<const BertModel*>(loaded->get());
  ASSERT_NE(bert, nullptr);
  EXPECT_EQ(bert->precision(), BertPrecision::kInt8);
  auto again = (*loaded)->Embed(texts, 2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *out);
  auto fp32 = LoadModel(dir_);
  ASSERT_TRUE(fp32.ok());
  EXPECT_EQ(dynamic_cast<const BertModel*>(fp32->get())->precision(), BertPrecision::kFloat32);
}

// A tokenizer without a post-processor adds no [CLS]/[SEP]: empty text then has no token at all
// and embeds as the zero vector (not an error); the other texts are unaffected.
TEST_F(BertTest, NoTokensAtAllIsTheZeroVector) {
  RandomBertSpec s = Spec();
  json tok = json::parse(s.tokenizer_json);
  tok["post_processor"] = nullptr;
  s.tokenizer_json = tok.dump();
  const RandomBert ref = WriteRandomBert(dir_, s);
  auto model = Load();
  ASSERT_NE(model, nullptr);
  auto out = model->Embed(std::vector<std::string>{"cats", "", "dogs"}, 2);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  for (size_t j = 0; j < 32; ++j) EXPECT_EQ((*out)[32 + j], 0.0f);
  std::vector<int32_t> ids;
  ASSERT_TRUE(model->TokenIds("dogs", "", &ids).ok());
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_LT(MaxAbsDiff(out->data() + 64, ReferenceEmbed(ref, ids)), 1e-5);
}

// ---- Damaged directories: each missing or wrong piece is an error naming it. ----

class BertDamaged : public BertTest {
 protected:
  void SetUp() override {
    BertTest::SetUp();
    WriteRandomBert(dir_, Spec());
  }
  void ExpectError(StatusCode code, const std::string& words) {
    auto m = LoadModel(dir_);
    ASSERT_FALSE(m.ok()) << words;
    EXPECT_EQ(m.status().code(), code) << m.status().ToString();
    EXPECT_NE(m.status().message().find(words), std::string::npos) << m.status().message();
  }
  json Read(const std::string& rel) { return json::parse(Slurp(dir_ + "/" + rel)); }
  void Write(const std::string& rel, const json& j) { WriteFile(dir_ + "/" + rel, j.dump()); }
  // Rewrites model.safetensors with `edit` applied to its tensors.
  template <typename Edit>
  void EditTensors(Edit edit) {
    std::vector<testing::RawTensor> raw;
    {
      auto st = SafeTensors::Open(dir_ + "/model.safetensors");
      ASSERT_TRUE(st.ok());
      for (const TensorInfo& t : st->tensors()) {
        const auto bytes = st->Bytes(t);
        raw.push_back({t.name, DTypeName(t.dtype), t.shape,
                       std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size())});
      }
    }  // the mapping is released before the file is rewritten
    edit(raw);
    WriteFile(dir_ + "/model.safetensors", MakeSafetensors(raw));
  }
};

TEST_F(BertDamaged, MissingFilesAreNamed) {
  for (const char* f : {"modules.json", "1_Pooling/config.json", "tokenizer.json", "model.safetensors"}) {
    const std::string keep = Slurp(dir_ + "/" + f);
    fs::remove(dir_ + "/" + f);
    ExpectError(StatusCode::kNotFound, std::string(f));
    WriteFile(dir_ + "/" + f, keep);
  }
  // Without config.json the directory is still recognised by its modules.json.
  fs::remove(dir_ + "/config.json");
  ExpectError(StatusCode::kNotFound, "config.json");
}

TEST_F(BertDamaged, MissingAndMisshapenTensorsAreNamed) {
  EditTensors([](auto& raw) {
    raw.erase(std::remove_if(raw.begin(), raw.end(),
                             [](const auto& t) { return t.name == "encoder.layer.1.attention.self.key.bias"; }),
              raw.end());
  });
  ExpectError(StatusCode::kNotFound, "no tensor 'encoder.layer.1.attention.self.key.bias'");
  WriteRandomBert(dir_, Spec());
  EditTensors([](auto& raw) {
    for (auto& t : raw) {
      if (t.name == "encoder.layer.0.intermediate.dense.weight") t.shape = {32, 64};
    }
  });
  ExpectError(StatusCode::kInvalidArgument,
              "tensor 'encoder.layer.0.intermediate.dense.weight' has shape [32, 64], expected [64, 32]");
  WriteRandomBert(dir_, Spec());
  EditTensors([](auto& raw) {
    for (auto& t : raw) {
      if (t.name == "embeddings.LayerNorm.bias") {
        t.dtype = "I32";
      }
    }
  });
  ExpectError(StatusCode::kInvalidArgument, "tensor 'embeddings.LayerNorm.bias' has dtype I32; BERT weights must be");
  WriteRandomBert(dir_, Spec());
  EditTensors([](auto& raw) {
    for (auto& t : raw) {
      if (t.name == "encoder.layer.1.output.dense.bias") {
        const float nan = std::nanf("");
        std::memcpy(t.bytes.data() + 8, &nan, 4);
      }
    }
  });
  ExpectError(StatusCode::kInvalidArgument, "tensor 'encoder.layer.1.output.dense.bias' holds NaN or infinity");
  // A third layer the weights do not have.
  WriteRandomBert(dir_, Spec());
  json c = Read("config.json");
  c["num_hidden_layers"] = 3;
  Write("config.json", c);
  ExpectError(StatusCode::kNotFound, "no tensor 'encoder.layer.2.attention.self.query.weight'");
  // More tokens in the tokenizer than rows in the embeddings.
  c["num_hidden_layers"] = 2;
  c["vocab_size"] = 1000;
  Write("config.json", c);
  ExpectError(StatusCode::kInvalidArgument, "more than the 1000 rows of the word embeddings");
  // A truncated file.
  WriteRandomBert(dir_, Spec());
  const std::string st = Slurp(dir_ + "/model.safetensors");
  WriteFile(dir_ + "/model.safetensors", st.substr(0, st.size() - 4));
  ExpectError(StatusCode::kCorruption, "model.safetensors");
}

TEST_F(BertDamaged, UnsupportedArchitecturesAreNamed) {
  json c = Read("config.json");
  c["hidden_act"] = "gelu_new";
  Write("config.json", c);
  ExpectError(StatusCode::kInvalidArgument, "config.json: hidden_act 'gelu_new' is not supported (only 'gelu'");
  c["hidden_act"] = "relu";
  Write("config.json", c);
  ExpectError(StatusCode::kInvalidArgument, "hidden_act 'relu' is not supported");
  c["hidden_act"] = "gelu";
  c["position_embedding_type"] = "relative_key";
  Write("config.json", c);
  ExpectError(StatusCode::kInvalidArgument, "position_embedding_type \"relative_key\" is not supported");
  c["position_embedding_type"] = "absolute";
  c["model_type"] = "roberta";
  Write("config.json", c);
  ExpectError(StatusCode::kInvalidArgument, "a 'roberta' model; Sextant runs Model2Vec");
  EXPECT_EQ(BertModel::Load(dir_).status().message(),
            dir_ + "/config.json: model_type 'roberta' is not supported (Sextant runs BERT encoders: model_type 'bert')");
}

TEST_F(BertDamaged, UnsupportedPoolingAndModulesAreNamed) {
  json p = Read("1_Pooling/config.json");
  p["pooling_mode_max_tokens"] = true;
  Write("1_Pooling/config.json", p);
  ExpectError(StatusCode::kInvalidArgument, "1_Pooling/config.json: pooling_mode_max_tokens is not supported");
  p["pooling_mode_max_tokens"] = false;
  p["pooling_mode_cls_token"] = true;
  Write("1_Pooling/config.json", p);
  ExpectError(StatusCode::kInvalidArgument, "both pooling_mode_cls_token and pooling_mode_mean_tokens");
  p["pooling_mode_cls_token"] = false;
  p["pooling_mode_mean_tokens"] = false;
  Write("1_Pooling/config.json", p);
  ExpectError(StatusCode::kInvalidArgument, "1_Pooling/config.json: no pooling mode");
  p["pooling_mode_mean_tokens"] = true;
  p["word_embedding_dimension"] = 384;
  Write("1_Pooling/config.json", p);
  ExpectError(StatusCode::kInvalidArgument, "word_embedding_dimension 384 differs from config.json's hidden_size 32");
  p["word_embedding_dimension"] = 32;
  Write("1_Pooling/config.json", p);

  json m = Read("modules.json");
  m.push_back({{"idx", 3}, {"name", "3"}, {"path", "3_Dense"}, {"type", "sentence_transformers.models.Dense"}});
  Write("modules.json", m);
  ExpectError(StatusCode::kInvalidArgument, "module type 'sentence_transformers.models.Dense' is not supported");
  m.erase(m.size() - 1);
  std::swap(m[0], m[1]);
  Write("modules.json", m);
  ExpectError(StatusCode::kInvalidArgument, "out of place");
  Write("modules.json", json::array({m[1]}));
  ExpectError(StatusCode::kInvalidArgument, "needs a Transformer and a Pooling module");
  Write("modules.json", json{{"not", "a list"}});
  ExpectError(StatusCode::kInvalidArgument, "modules.json: not a JSON array");
  m = Read("modules.json");
  Write("modules.json", json::array({{{"type", "sentence_transformers.models.Transformer"}, {"path", "../elsewhere"}}}));
  ExpectError(StatusCode::kInvalidArgument, "leaves the model directory");

  WriteRandomBert(dir_, Spec());
  WriteFile(dir_ + "/config_sentence_transformers.json", R"({"prompts": {"query": "q: "}, "default_prompt_name": "doc"})");
  ExpectError(StatusCode::kInvalidArgument, "default_prompt_name \"doc\" names no prompt");
  WriteFile(dir_ + "/config_sentence_transformers.json", R"({"prompts": ["q: "]})");
  ExpectError(StatusCode::kInvalidArgument, "\"prompts\" must be an object");
  WriteFile(dir_ + "/sentence_bert_config.json", R"({"max_seq_length": 2})");
  ExpectError(StatusCode::kInvalidArgument, "max_seq_length 2 leaves no room for text");
  WriteFile(dir_ + "/sentence_bert_config.json", R"({"max_seq_length": "long"})");
  ExpectError(StatusCode::kInvalidArgument, "sentence_bert_config.json: \"max_seq_length\" must be an integer");
  WriteFile(dir_ + "/sentence_bert_config.json", "{");
  ExpectError(StatusCode::kInvalidArgument, "sentence_bert_config.json: malformed JSON");
}

// Hostile configs: sizes that do not fit together, are huge, negative or not integers. Each is
// refused before anything is allocated from it.
TEST_F(BertDamaged, HostileConfigsAreRefused) {
  const json good = Read("config.json");
  struct Case {
    const char* key;
    json value;
    const char* words;
  };
  const std::vector<Case> cases = {
      {"num_attention_heads", 5, "num_attention_heads 5 does not divide hidden_size 32"},
      {"num_attention_heads", 64, "num_attention_heads 64 does not divide hidden_size 32"},
      {"num_attention_heads", 0, "\"num_attention_heads\" must be an integer from 1"},
      {"hidden_size", -32, "\"hidden_size\" must be an integer from 1 to 16384"},
      {"hidden_size", 1ull << 62, "\"hidden_size\" must be an integer from 1 to 16384"},
      {"hidden_size", 18446744073709551615ull, "\"hidden_size\" must be an integer"},
      {"hidden_size", 32.5, "\"hidden_size\" must be an integer"},
      {"hidden_size", "32", "\"hidden_size\" must be an integer"},
      {"hidden_size", nullptr, "missing \"hidden_size\""},
      {"hidden_size", 16384, "word_embedding_dimension 32 differs from config.json's hidden_size 16384"},
      {"num_hidden_layers", 1000000000, "\"num_hidden_layers\" must be an integer from 1 to 256"},
      {"intermediate_size", 0, "\"intermediate_size\" must be an integer from 1"},
      {"intermediate_size", 65536, "expected [65536, 32]"},
      {"max_position_embeddings", 1ll << 40, "\"max_position_embeddings\" must be an integer from 1 to 65536"},
      {"max_position_embeddings", 65536, "expected [65536, 32]"},
      {"vocab_size", 1ll << 30, "\"vocab_size\" must be an integer from 1 to 16777216"},
      {"type_vocab_size", 0, "\"type_vocab_size\" must be an integer"},
      {"type_vocab_size", 3, "has shape [2, 32], expected [3, 32]"},
      {"layer_norm_eps", -1, "layer_norm_eps must be a number in (0, 1)"},
      {"layer_norm_eps", "tiny", "layer_norm_eps must be a number in (0, 1)"},
      {"model_type", 7, "model_type '' is not supported"},
      {"hidden_act", json::array({"gelu"}), "hidden_act '(none)' is not supported"},
  };
  const std::string vocab = std::to_string(testing::TokenizerVocabSize(TestTokenizer()));
  for (const Case& c : cases) {
    json cfg = good;
    if (c.value.is_null()) {
      cfg.erase(c.key);
    } else {
      cfg[c.key] = c.value;
    }
    Write("config.json", cfg);
    std::string words = c.words;
    if (size_t at = words.find("30522"); at != std::string::npos) words.replace(at, 5, vocab);
    auto m = BertModel::Load(dir_);
    ASSERT_FALSE(m.ok()) << c.key;
    EXPECT_NE(m.status().message().find(words), std::string::npos) << c.key << ": " << m.status().message();
  }
  Write("config.json", json::array());
  ExpectError(StatusCode::kInvalidArgument, "config.json: not a JSON object");
  // Not JSON at all: modules.json still says it is a sentence-transformers directory.
  WriteFile(dir_ + "/config.json", std::string(100000, '['));
  ExpectError(StatusCode::kInvalidArgument, "config.json: JSON nests deeper than");
}

}  // namespace
}  // namespace sextant::embed
