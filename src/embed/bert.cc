#include "embed/bert.h"

#include <cblas.h>
#include <sys/stat.h>
#include <unicode/locid.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <thread>

#include "common/json.h"
#include "common/mapped_file.h"
#include "embed/bert_kernels.h"
#include "embed/safetensors.h"
#include "simd/blas.h"

namespace sextant::embed {

struct BertModel::Weights {
  struct Layer {
    std::vector<float> qkv_w;  // [3H, H]: query, key, value rows stacked
    std::vector<float> qkv_b;  // [3H]
    std::vector<float> out_w, out_b, ln1_g, ln1_b;
    std::vector<float> ffn1_w, ffn1_b;  // [I, H], [I]
    std::vector<float> ffn2_w, ffn2_b;  // [H, I], [H]
    std::vector<float> ln2_g, ln2_b;
    // kInt8: the four dense layers quantized (their float weights above are then freed).
    kernels::Int8Pack qkv8, out8, ffn1_8, ffn2_8;
  };
  std::vector<float> word;      // [V, H]
  std::vector<float> position;  // [P, H]
  std::vector<float> type0;     // token type 0's row, [H]
  std::vector<float> emb_ln_g, emb_ln_b;
  std::vector<Layer> layers;
};

namespace {

using nlohmann::json;

Result<json> ReadJsonObject(const std::string& path) {
  SEXTANT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  auto j = ParseJson(text);
  if (!j.ok()) return Status::InvalidArgument(path + ": " + j.status().message());
  if (!j->is_object()) return Status::InvalidArgument(path + ": not a JSON object");
  return std::move(j).value();
}

// Whether an optional file is there (anything at the path counts: reading it reports the rest).
bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string Join(const std::string& dir, const std::string& rel) {
  if (rel.empty() || rel == ".") return dir;
  return dir + "/" + rel;
}

// A positive integer key of config.json in [1, max] (or `fallback` when absent, if given).
Result<size_t> SizeKey(const json& j, const std::string& file, const char* key, size_t max, size_t fallback = 0) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback != 0) return fallback;
    return Status::InvalidArgument(file + ": missing \"" + key + "\"");
  }
  if (!it->is_number_integer() || it->get<int64_t>() < 1 || static_cast<uint64_t>(it->get<int64_t>()) > max) {
    return Status::InvalidArgument(file + ": \"" + key + "\" must be an integer from 1 to " + std::to_string(max) +
                                   " (it is " + it->dump().substr(0, 40) + ")");
  }
  return static_cast<size_t>(it->get<int64_t>());
}

Result<bool> BoolKey(const json& j, const std::string& file, const char* key, bool fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return Status::InvalidArgument(file + ": \"" + key + "\" must be true or false");
  return it->get<bool>();
}

std::string ShapeText(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Reads the tensor `prefix + name` of exactly `shape` as float (checked finite).
class TensorReader {
 public:
  TensorReader(const SafeTensors& st, std::string prefix) : st_(st), prefix_(std::move(prefix)) {}

  Status Read(const std::string& name, std::vector<uint64_t> shape, std::vector<float>* out) const {
    const std::string full = prefix_ + name;
    SEXTANT_ASSIGN_OR_RETURN(const TensorInfo* t, st_.Get(full));
    if (t->shape != shape) {
      return Status::InvalidArgument(st_.source() + ": tensor '" + full + "' has shape " + ShapeText(t->shape) +
                                     ", expected " + ShapeText(shape));
    }
    switch (t->dtype) {
      case DType::kF32: case DType::kF16: case DType::kBF16: case DType::kF64: break;
      default:
        return Status::InvalidArgument(st_.source() + ": tensor '" + full + "' has dtype " + DTypeName(t->dtype) +
                                       "; BERT weights must be F32, F16, BF16 or F64");
    }
    out->resize(t->elements);
    SEXTANT_RETURN_IF_ERROR(st_.ToFloat(*t, out->data()));
    for (float x : *out) {
      if (!std::isfinite(x)) {
        return Status::InvalidArgument(st_.source() + ": tensor '" + full + "' holds NaN or infinity");
      }
    }
    return Status::OK();
  }

  // LayerNorm parameters: "weight"/"bias", or the "gamma"/"beta" of older checkpoints.
  Status ReadLayerNorm(const std::string& name, size_t h, std::vector<float>* g, std::vector<float>* b) const {
    if (st_.Find(prefix_ + name + ".weight") == nullptr && st_.Find(prefix_ + name + ".gamma") != nullptr) {
      SEXTANT_RETURN_IF_ERROR(Read(name + ".gamma", {h}, g));
      return Read(name + ".beta", {h}, b);
    }
    SEXTANT_RETURN_IF_ERROR(Read(name + ".weight", {h}, g));
    return Read(name + ".bias", {h}, b);
  }

 private:
  const SafeTensors& st_;
  std::string prefix_;
};

// y[m, n] = x[m, k] . w[n, k]^T (a torch Linear without its bias).
inline void Linear(const float* x, size_t m, size_t k, const float* w, size_t n, float* y) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, x, static_cast<int>(k), w, static_cast<int>(k), 0.0f, y,
              static_cast<int>(n));
}

// One sequence of a batch: its ids, its first pooled position and where its row goes.
struct Seq {
  std::span<const int32_t> ids;
  uint32_t pool_start = 0;
  float* out = nullptr;
};

// Rows of the feed-forward's intermediate activations computed at once: the whole batch (a
// smaller chunk kept the GELU buffer in cache but made OpenBLAS pack the weights more often: 256
// rows took 7-15 % more CPU time on all-MiniLM shapes); bounds the buffer for long windows.
constexpr size_t kFfnRows = BertModel::kMaxBatchTokens;
// Query rows of one head's attention scored at once: bounds the score buffer to
// kAttentionRows x the text's length however long the model's window.
constexpr size_t kAttentionRows = 128;

// Buffers of one thread, grown to the largest batch it meets, reused for every batch.
struct Workspace {
  std::vector<float> x, qkv, ctx, tmp, inter, scores;
  std::vector<uint8_t> q;            // kInt8: a dense layer's quantized input
  std::vector<float> q_scale, q_zero;
  void Reserve(size_t tokens, size_t longest, const BertConfig& c, bool int8) {
    const size_t h = c.hidden_size;
    auto grow = [](std::vector<float>& v, size_t n) {
      if (v.size() < n) v.resize(n);
    };
    grow(x, tokens * h);
    grow(qkv, tokens * 3 * h);
    grow(ctx, tokens * h);
    grow(tmp, tokens * h);
    grow(inter, std::min(tokens, kFfnRows) * c.intermediate_size);
    grow(scores, std::min(longest, kAttentionRows) * longest);
    if (int8) {
      const size_t k = (std::max(h, c.intermediate_size) + 3) / 4 * 4;
      if (q.size() < tokens * k) q.resize(tokens * k);
      grow(q_scale, tokens);
      grow(q_zero, tokens);
    }
  }
};

// y[m, w.n] = x[m, k] . W^T + bias (then GELU if asked) through the int8 kernels.
void Int8Linear(const kernels::Int8Kernels& k8, const float* x, size_t m, size_t k, const kernels::Int8Pack& w,
                const float* bias, bool gelu, float* y, Workspace& ws) {
  const size_t ldq = (k + 3) / 4 * 4;
  k8.quantize_rows(x, m, k, ws.q.data(), ldq, ws.q_scale.data(), ws.q_zero.data());
  k8.linear(ws.q.data(), ldq, ws.q_scale.data(), ws.q_zero.data(), m, w.view(), bias, gelu, y, w.n);
}

// The encoder, steps 2-5, on one batch.
void Forward(const BertConfig& c, const BertModel::Weights& w, BertPooling pooling, bool normalize, bool int8,
             std::span<const Seq> seqs, Workspace& ws) {
  const kernels::BertKernels& k = kernels::Best();
  const kernels::Int8Kernels& k8 = kernels::Int8Best();
  const size_t h = c.hidden_size, h3 = 3 * h, inter = c.intermediate_size;
  const size_t dh = h / c.num_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  size_t m = 0, longest = 0;
  for (const Seq& s : seqs) {
    m += s.ids.size();
    longest = std::max(longest, s.ids.size());
  }
  ws.Reserve(m, longest, c, int8);
  float* x = ws.x.data();
  float* qkv = ws.qkv.data();
  float* ctx = ws.ctx.data();
  float* tmp = ws.tmp.data();

  // Embeddings: word + position + type 0, LayerNorm.
  size_t row = 0;
  for (const Seq& s : seqs) {
    for (size_t p = 0; p < s.ids.size(); ++p, ++row) {
      k.add_layer_norm(x + row * h, &w.word[static_cast<size_t>(s.ids[p]) * h], &w.position[p * h], w.type0.data(),
                       w.emb_ln_g.data(), w.emb_ln_b.data(), 1, h, c.layer_norm_eps);
    }
  }

  for (const BertModel::Weights::Layer& l : w.layers) {
    // Self-attention: one product for Q, K and V of every token.
    if (int8) {
      Int8Linear(k8, x, m, h, l.qkv8, l.qkv_b.data(), false, qkv, ws);
    } else {
      Linear(x, m, h, l.qkv_w.data(), h3, qkv);
      k.add_bias(qkv, l.qkv_b.data(), m, h3, h3);
    }
    size_t off = 0;
    for (const Seq& s : seqs) {
      const size_t t = s.ids.size();
      for (size_t head = 0; head < c.num_heads; ++head) {
        const float* keys = qkv + off * h3 + h + head * dh;
        const float* values = keys + h;
        float* scores = ws.scores.data();
        for (size_t i0 = 0; i0 < t; i0 += kAttentionRows) {
          const size_t rows = std::min(kAttentionRows, t - i0);
          const float* q = qkv + (off + i0) * h3 + head * dh;
          // scores[i][j] = q_i . k_j / sqrt(dh), over this text's tokens only.
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(t),
                      static_cast<int>(dh), scale, q, static_cast<int>(h3), keys, static_cast<int>(h3), 0.0f,
                      scores, static_cast<int>(t));
          k.softmax(scores, rows, t, t, 1.0f);
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(dh),
                      static_cast<int>(t), 1.0f, scores, static_cast<int>(t), values, static_cast<int>(h3), 0.0f,
                      ctx + (off + i0) * h + head * dh, static_cast<int>(h));
        }
      }
      off += t;
    }
    if (int8) {
      Int8Linear(k8, ctx, m, h, l.out8, l.out_b.data(), false, tmp, ws);
      k.add_layer_norm(x, x, tmp, nullptr, l.ln1_g.data(), l.ln1_b.data(), m, h, c.layer_norm_eps);
    } else {
      Linear(ctx, m, h, l.out_w.data(), h, tmp);
      k.add_layer_norm(x, x, tmp, l.out_b.data(), l.ln1_g.data(), l.ln1_b.data(), m, h, c.layer_norm_eps);
    }

    // Feed-forward, kFfnRows rows at a time.
    for (size_t r0 = 0; r0 < m; r0 += kFfnRows) {
      const size_t rows = std::min(kFfnRows, m - r0);
      if (int8) {
        Int8Linear(k8, x + r0 * h, rows, h, l.ffn1_8, l.ffn1_b.data(), true, ws.inter.data(), ws);
        Int8Linear(k8, ws.inter.data(), rows, inter, l.ffn2_8, l.ffn2_b.data(), false, tmp + r0 * h, ws);
        k.add_layer_norm(x + r0 * h, x + r0 * h, tmp + r0 * h, nullptr, l.ln2_g.data(), l.ln2_b.data(), rows, h,
                         c.layer_norm_eps);
        continue;
      }
      Linear(x + r0 * h, rows, h, l.ffn1_w.data(), inter, ws.inter.data());
      k.bias_gelu(ws.inter.data(), l.ffn1_b.data(), rows, inter, inter);
      Linear(ws.inter.data(), rows, inter, l.ffn2_w.data(), h, tmp + r0 * h);
      k.add_layer_norm(x + r0 * h, x + r0 * h, tmp + r0 * h, l.ffn2_b.data(), l.ln2_g.data(), l.ln2_b.data(), rows, h,
                       c.layer_norm_eps);
    }
  }

  // Pooling and normalisation.
  row = 0;
  for (const Seq& s : seqs) {
    const size_t t = s.ids.size();
    float* out = s.out;
    if (pooling == BertPooling::kCls) {
      std::copy(x + row * h, x + row * h + h, out);
    } else {
      std::fill(out, out + h, 0.0f);
      const size_t from = std::min<size_t>(s.pool_start, t);
      for (size_t p = from; p < t; ++p) {
        const float* r = x + (row + p) * h;
        for (size_t j = 0; j < h; ++j) out[j] += r[j];
      }
      // No pooled token (a prompt that fills the window): the zero vector, as
      // sentence-transformers' clamped division gives.
      const float inv = t > from ? 1.0f / static_cast<float>(t - from) : 0.0f;
      for (size_t j = 0; j < h; ++j) out[j] *= inv;
    }
    if (normalize) {
      double ss = 0;
      for (size_t j = 0; j < h; ++j) ss += static_cast<double>(out[j]) * out[j];
      const double inv = 1.0 / std::max(std::sqrt(ss), 1e-12);
      for (size_t j = 0; j < h; ++j) out[j] = static_cast<float>(out[j] * inv);
    }
    row += t;
  }
}

// Python's str.lower() (full Unicode lowercase mapping), for do_lower_case.
std::string Lowercase(std::string_view text) {
  std::string out;
  icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())))
      .toLower(icu::Locale::getRoot())
      .toUTF8String(out);
  return out;
}

}  // namespace

BertModel::BertModel(Tokenizer tokenizer) : tokenizer_(std::move(tokenizer)), weights_(std::make_unique<Weights>()) {}
BertModel::~BertModel() = default;

Result<std::unique_ptr<BertModel>> BertModel::Load(const std::string& dir, std::string name,
                                                   const BertOptions& options) {
  // modules.json: Transformer, Pooling, optional Normalize, in that order.
  const std::string modules_path = dir + "/modules.json";
  SEXTANT_ASSIGN_OR_RETURN(std::string modules_text, ReadFileToString(modules_path));
  auto modules = ParseJson(modules_text);
  if (!modules.ok()) return Status::InvalidArgument(modules_path + ": " + modules.status().message());
  if (!modules->is_array()) return Status::InvalidArgument(modules_path + ": not a JSON array of modules");
  std::string transformer_dir, pooling_dir;
  bool have_transformer = false, have_pooling = false, normalize = false;
  for (const json& mod : *modules) {
    if (!mod.is_object() || !mod.contains("type") || !mod["type"].is_string()) {
      return Status::InvalidArgument(modules_path + ": each module must be an object with a \"type\" string");
    }
    const std::string type = mod["type"].get<std::string>();
    std::string path;
    if (mod.contains("path")) {
      if (!mod["path"].is_string()) return Status::InvalidArgument(modules_path + ": \"path\" must be a string");
      path = mod["path"].get<std::string>();
      if (path.find("..") != std::string::npos || (!path.empty() && path[0] == '/')) {
        return Status::InvalidArgument(modules_path + ": module path '" + path + "' leaves the model directory");
      }
    }
    const std::string short_type = type.substr(type.rfind('.') == std::string::npos ? 0 : type.rfind('.') + 1);
    if (short_type == "Transformer" && !have_transformer && !have_pooling) {
      have_transformer = true;
      transformer_dir = Join(dir, path);
    } else if (short_type == "Pooling" && have_transformer && !have_pooling) {
      have_pooling = true;
      pooling_dir = Join(dir, path);
    } else if (short_type == "Normalize" && have_pooling && !normalize) {
      normalize = true;
    } else if (short_type == "Transformer" || short_type == "Pooling" || short_type == "Normalize") {
      return Status::InvalidArgument(modules_path + ": module '" + type +
                                     "' out of place; expected Transformer, Pooling, then optionally Normalize");
    } else {
      return Status::InvalidArgument(modules_path + ": module type '" + type +
                                     "' is not supported (Sextant runs Transformer, Pooling and Normalize)");
    }
  }
  if (!have_transformer || !have_pooling) {
    return Status::InvalidArgument(modules_path + ": needs a Transformer and a Pooling module");
  }

  // config.json: a BERT encoder with exact GELU and absolute positions.
  const std::string config_path = transformer_dir + "/config.json";
  SEXTANT_ASSIGN_OR_RETURN(json cfg, ReadJsonObject(config_path));
  {
    const auto mt = cfg.find("model_type");
    const std::string type = mt != cfg.end() && mt->is_string() ? mt->get<std::string>() : "";
    if (type != "bert") {
      return Status::InvalidArgument(config_path + ": model_type '" + type +
                                     "' is not supported (Sextant runs BERT encoders: model_type 'bert')");
    }
    const auto act = cfg.find("hidden_act");
    const std::string a = act != cfg.end() && act->is_string() ? act->get<std::string>() : "";
    if (a != "gelu") {
      return Status::InvalidArgument(config_path + ": hidden_act '" + (a.empty() ? std::string("(none)") : a) +
                                     "' is not supported (only 'gelu', the exact erf GELU)");
    }
    const auto pos = cfg.find("position_embedding_type");
    if (pos != cfg.end() && !pos->is_null() && (!pos->is_string() || pos->get<std::string>() != "absolute")) {
      return Status::InvalidArgument(config_path + ": position_embedding_type " + pos->dump().substr(0, 40) +
                                     " is not supported (only 'absolute')");
    }
  }
  BertConfig c;
  SEXTANT_ASSIGN_OR_RETURN(c.hidden_size, SizeKey(cfg, config_path, "hidden_size", kMaxHidden));
  SEXTANT_ASSIGN_OR_RETURN(c.num_layers, SizeKey(cfg, config_path, "num_hidden_layers", kMaxLayers));
  SEXTANT_ASSIGN_OR_RETURN(c.num_heads, SizeKey(cfg, config_path, "num_attention_heads", kMaxHidden));
  SEXTANT_ASSIGN_OR_RETURN(c.intermediate_size, SizeKey(cfg, config_path, "intermediate_size", 4 * kMaxHidden));
  SEXTANT_ASSIGN_OR_RETURN(c.max_position_embeddings,
                           SizeKey(cfg, config_path, "max_position_embeddings", kMaxPositions));
  SEXTANT_ASSIGN_OR_RETURN(c.type_vocab_size, SizeKey(cfg, config_path, "type_vocab_size", 1024, 2));
  SEXTANT_ASSIGN_OR_RETURN(c.vocab_size, SizeKey(cfg, config_path, "vocab_size", size_t{1} << 24));
  if (c.hidden_size % c.num_heads != 0) {
    return Status::InvalidArgument(config_path + ": num_attention_heads " + std::to_string(c.num_heads) +
                                   " does not divide hidden_size " + std::to_string(c.hidden_size));
  }
  if (const auto eps = cfg.find("layer_norm_eps"); eps != cfg.end() && !eps->is_null()) {
    if (!eps->is_number() || !(eps->get<double>() > 0) || !(eps->get<double>() < 1)) {
      return Status::InvalidArgument(config_path + ": layer_norm_eps must be a number in (0, 1)");
    }
    c.layer_norm_eps = static_cast<float>(eps->get<double>());
  }

  // The tokenizer, then the sentence-transformers settings around it.
  SEXTANT_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::FromJsonFile(transformer_dir + "/tokenizer.json"));
  std::unique_ptr<BertModel> m(new BertModel(std::move(tokenizer)));
  m->name_ = name.empty() ? dir : std::move(name);
  m->config_ = c;
  m->normalize_ = normalize;
  if (m->tokenizer_.vocab_size() > c.vocab_size) {
    return Status::InvalidArgument(transformer_dir + "/tokenizer.json: " + std::to_string(m->tokenizer_.vocab_size()) +
                                   " tokens, more than the " + std::to_string(c.vocab_size) +
                                   " rows of the word embeddings (config.json vocab_size)");
  }
  m->max_seq_length_ = m->tokenizer_.truncation_max_length() != 0 ? m->tokenizer_.truncation_max_length()
                                                                   : c.max_position_embeddings;
  const std::string sbert_path = transformer_dir + "/sentence_bert_config.json";
  if (Exists(sbert_path)) {
    SEXTANT_ASSIGN_OR_RETURN(json sb, ReadJsonObject(sbert_path));
    SEXTANT_ASSIGN_OR_RETURN(m->max_seq_length_, SizeKey(sb, sbert_path, "max_seq_length", kMaxPositions, m->max_seq_length_));
    SEXTANT_ASSIGN_OR_RETURN(m->lowercase_, BoolKey(sb, sbert_path, "do_lower_case", false));
  }
  m->max_seq_length_ = std::min(m->max_seq_length_, c.max_position_embeddings);
  if (m->max_seq_length_ <= m->tokenizer_.num_special_tokens()) {
    return Status::InvalidArgument(sbert_path + ": max_seq_length " + std::to_string(m->max_seq_length_) +
                                   " leaves no room for text after the special tokens");
  }

  // Pooling.
  const std::string pooling_path = pooling_dir + "/config.json";
  SEXTANT_ASSIGN_OR_RETURN(json pool, ReadJsonObject(pooling_path));
  {
    SEXTANT_ASSIGN_OR_RETURN(const bool cls, BoolKey(pool, pooling_path, "pooling_mode_cls_token", false));
    SEXTANT_ASSIGN_OR_RETURN(const bool mean, BoolKey(pool, pooling_path, "pooling_mode_mean_tokens", false));
    for (const char* other : {"pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                              "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"}) {
      SEXTANT_ASSIGN_OR_RETURN(const bool on, BoolKey(pool, pooling_path, other, false));
      if (on) {
        return Status::InvalidArgument(pooling_path + ": " + other +
                                       " is not supported (Sextant pools by mean or by the CLS token)");
      }
    }
    if (const auto mode = pool.find("pooling_mode"); mode != pool.end() && !mode->is_null()) {
      if (!mode->is_string() || (mode->get<std::string>() != "mean" && mode->get<std::string>() != "cls")) {
        return Status::InvalidArgument(pooling_path + ": pooling_mode " + mode->dump().substr(0, 40) +
                                       " is not supported (Sextant pools by mean or by the CLS token)");
      }
    }
    if (cls == mean) {
      return Status::InvalidArgument(pooling_path + (cls ? ": both pooling_mode_cls_token and pooling_mode_mean_tokens"
                                                         : ": no pooling mode") +
                                     " (Sextant pools by exactly one: mean or CLS)");
    }
    m->pooling_ = cls ? BertPooling::kCls : BertPooling::kMean;
    SEXTANT_ASSIGN_OR_RETURN(m->include_prompt_, BoolKey(pool, pooling_path, "include_prompt", true));
    if (const auto dim = pool.find("word_embedding_dimension"); dim != pool.end() && !dim->is_null()) {
      if (!dim->is_number_integer() || dim->get<int64_t>() != static_cast<int64_t>(c.hidden_size)) {
        return Status::InvalidArgument(pooling_path + ": word_embedding_dimension " + dim->dump().substr(0, 40) +
                                       " differs from config.json's hidden_size " + std::to_string(c.hidden_size));
      }
    }
  }

  // Prompts.
  const std::string st_path = dir + "/config_sentence_transformers.json";
  if (Exists(st_path)) {
    SEXTANT_ASSIGN_OR_RETURN(json st, ReadJsonObject(st_path));
    if (const auto p = st.find("prompts"); p != st.end() && !p->is_null()) {
      if (!p->is_object()) return Status::InvalidArgument(st_path + ": \"prompts\" must be an object of strings");
      for (const auto& [key, value] : p->items()) {
        if (!value.is_string()) return Status::InvalidArgument(st_path + ": prompt '" + key + "' must be a string");
        m->prompts_.emplace_back(key, value.get<std::string>());
      }
    }
    if (const auto d = st.find("default_prompt_name"); d != st.end() && !d->is_null()) {
      if (!d->is_string() || m->Prompt(d->get<std::string>()) == nullptr) {
        return Status::InvalidArgument(st_path + ": default_prompt_name " + d->dump().substr(0, 60) +
                                       " names no prompt of \"prompts\"");
      }
      m->default_prompt_name_ = d->get<std::string>();
    }
  }
  for (const auto& [pname, text] : m->prompts_) {
    // sentence-transformers: the prompt's tokens with special tokens, less the final [SEP].
    std::vector<int32_t> ids;
    EncodeOptions opt;
    opt.add_special_tokens = true;
    Status st = m->tokenizer_.Encode(m->lowercase_ ? Lowercase(text) : text, opt, &ids);
    if (!st.ok()) return st.WithContext(st_path + ": prompt '" + pname + "'");
    m->prompt_tokens_.push_back(static_cast<uint32_t>(ids.empty() ? 0 : ids.size() - 1));
  }

  // Weights: names with or without the "bert." of BertModel checkpoints.
  SEXTANT_ASSIGN_OR_RETURN(SafeTensors st, SafeTensors::Open(transformer_dir + "/model.safetensors"));
  const std::string prefix = st.Find("embeddings.word_embeddings.weight") == nullptr &&
                                     st.Find("bert.embeddings.word_embeddings.weight") != nullptr
                                 ? "bert."
                                 : "";
  const TensorReader r(st, prefix);
  Weights& w = *m->weights_;
  const uint64_t h = c.hidden_size, inter = c.intermediate_size;
  SEXTANT_RETURN_IF_ERROR(r.Read("embeddings.word_embeddings.weight", {c.vocab_size, h}, &w.word));
  SEXTANT_RETURN_IF_ERROR(r.Read("embeddings.position_embeddings.weight", {c.max_position_embeddings, h}, &w.position));
  SEXTANT_RETURN_IF_ERROR(r.Read("embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}, &w.type0));
  w.type0.resize(h);
  SEXTANT_RETURN_IF_ERROR(r.ReadLayerNorm("embeddings.LayerNorm", h, &w.emb_ln_g, &w.emb_ln_b));
  w.layers.resize(c.num_layers);
  std::vector<float> q, k, v;
  for (size_t i = 0; i < c.num_layers; ++i) {
    Weights::Layer& l = w.layers[i];
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    for (const char* part : {"query", "key", "value"}) {
      SEXTANT_RETURN_IF_ERROR(r.Read(p + "attention.self." + part + ".weight", {h, h}, &q));
      SEXTANT_RETURN_IF_ERROR(r.Read(p + "attention.self." + part + ".bias", {h}, &k));
      l.qkv_w.insert(l.qkv_w.end(), q.begin(), q.end());
      l.qkv_b.insert(l.qkv_b.end(), k.begin(), k.end());
    }
    SEXTANT_RETURN_IF_ERROR(r.Read(p + "attention.output.dense.weight", {h, h}, &l.out_w));
    SEXTANT_RETURN_IF_ERROR(r.Read(p + "attention.output.dense.bias", {h}, &l.out_b));
    SEXTANT_RETURN_IF_ERROR(r.ReadLayerNorm(p + "attention.output.LayerNorm", h, &l.ln1_g, &l.ln1_b));
    SEXTANT_RETURN_IF_ERROR(r.Read(p + "intermediate.dense.weight", {inter, h}, &l.ffn1_w));
    SEXTANT_RETURN_IF_ERROR(r.Read(p + "intermediate.dense.bias", {inter}, &l.ffn1_b));
    SEXTANT_RETURN_IF_ERROR(r.Read(p + "output.dense.weight", {h, inter}, &l.ffn2_w));
    SEXTANT_RETURN_IF_ERROR(r.Read(p + "output.dense.bias", {h}, &l.ffn2_b));
    SEXTANT_RETURN_IF_ERROR(r.ReadLayerNorm(p + "output.LayerNorm", h, &l.ln2_g, &l.ln2_b));
    if (options.precision == BertPrecision::kInt8) {
      l.qkv8 = kernels::PackInt8(l.qkv_w.data(), 3 * h, h);
      l.out8 = kernels::PackInt8(l.out_w.data(), h, h);
      l.ffn1_8 = kernels::PackInt8(l.ffn1_w.data(), inter, h);
      l.ffn2_8 = kernels::PackInt8(l.ffn2_w.data(), h, inter);
      for (auto* v : {&l.qkv_w, &l.out_w, &l.ffn1_w, &l.ffn2_w}) std::vector<float>().swap(*v);
    }
  }
  m->precision_ = options.precision;
  return m;
}

const std::string* BertModel::Prompt(std::string_view name) const {
  for (const auto& [n, text] : prompts_) {
    if (n == name) return &text;
  }
  return nullptr;
}

std::vector<std::string> BertModel::PromptNames() const {
  std::vector<std::string> names;
  for (const auto& p : prompts_) names.push_back(p.first);
  return names;
}

Status BertModel::TokenIds(std::string_view text, std::string_view prompt_name, std::vector<int32_t>* ids,
                           uint32_t* pool_start) const {
  if (const size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos) {
    return Status::InvalidArgument("text is not valid UTF-8 at byte " + std::to_string(bad));
  }
  std::string joined;
  std::string_view input = text;
  uint32_t skip = 0;
  if (!prompt_name.empty()) {
    size_t index = 0;
    while (index < prompts_.size() && prompts_[index].first != prompt_name) ++index;
    if (index == prompts_.size()) {
      std::string have;
      for (const auto& p : prompts_) have += (have.empty() ? "" : ", ") + p.first;
      return Status::InvalidArgument("model " + name_ + " has no prompt '" + std::string(prompt_name) +
                                     "' (it has: " + (have.empty() ? "none" : have) + ")");
    }
    joined = prompts_[index].second;
    joined.append(text);
    input = joined;
    if (!include_prompt_) skip = prompt_tokens_[index];
  }
  EncodeOptions opt;
  opt.add_special_tokens = true;
  opt.max_length = max_seq_length_;
  if (lowercase_) {
    SEXTANT_RETURN_IF_ERROR(tokenizer_.Encode(Lowercase(input), opt, ids));
  } else {
    SEXTANT_RETURN_IF_ERROR(tokenizer_.Encode(input, opt, ids));
  }
  if (pool_start != nullptr) *pool_start = skip;
  return Status::OK();
}

Result<std::vector<float>> BertModel::Embed(std::span<const std::string_view> texts, int threads) const {
  return EmbedTexts(texts, default_prompt_name_, threads);
}

Result<std::vector<float>> BertModel::EmbedAs(TextKind kind, std::span<const std::string_view> texts,
                                              int threads) const {
  std::string prompt = default_prompt_name_;
  if (kind == TextKind::kQuery && Prompt("query") != nullptr) {
    prompt = "query";
  } else if (kind == TextKind::kDocument) {
    for (const char* n : {"document", "passage", "corpus"}) {
      if (Prompt(n) != nullptr) {
        prompt = n;
        break;
      }
    }
  }
  return EmbedTexts(texts, prompt, threads);
}

Result<std::vector<float>> BertModel::EmbedWithPrompt(std::span<const std::string_view> texts,
                                                      std::string_view prompt_name, int threads) const {
  return EmbedTexts(texts, std::string(prompt_name), threads);
}

Result<std::vector<float>> BertModel::EmbedTexts(std::span<const std::string_view> texts,
                                                 const std::string& prompt_name, int threads) const {
  std::vector<std::vector<int32_t>> ids(texts.size());
  std::vector<uint32_t> starts(texts.size(), 0);
  for (size_t i = 0; i < texts.size(); ++i) {
    Status st = TokenIds(texts[i], prompt_name, &ids[i], &starts[i]);
    if (!st.ok()) return st.WithContext("text " + std::to_string(i));
  }
  // No token at all (only with a tokenizer that adds no [CLS]/[SEP], for empty text): the zero
  // vector, as Model2Vec gives, rather than an error.
  std::vector<size_t> kept;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].empty()) kept.push_back(i);
  }
  if (kept.size() == ids.size()) return EmbedTokenIds(ids, threads, starts);
  std::vector<std::vector<int32_t>> some(kept.size());
  std::vector<uint32_t> some_starts(kept.size());
  for (size_t k = 0; k < kept.size(); ++k) {
    some[k] = std::move(ids[kept[k]]);
    some_starts[k] = starts[kept[k]];
  }
  SEXTANT_ASSIGN_OR_RETURN(std::vector<float> rows, EmbedTokenIds(some, threads, some_starts));
  const size_t h = config_.hidden_size;
  std::vector<float> out(texts.size() * h, 0.0f);
  for (size_t k = 0; k < kept.size(); ++k) std::copy_n(&rows[k * h], h, &out[kept[k] * h]);
  return out;
}

Result<std::vector<float>> BertModel::EmbedTokenIds(std::span<const std::vector<int32_t>> ids, int threads,
                                                    std::span<const uint32_t> pool_start) const {
  const size_t n = ids.size();
  const size_t h = config_.hidden_size;
  if (!pool_start.empty() && pool_start.size() != n) {
    return Status::InvalidArgument("pool_start has " + std::to_string(pool_start.size()) + " entries for " +
                                   std::to_string(n) + " sequences");
  }
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto& s = ids[i];
    if (s.empty() || s.size() > config_.max_position_embeddings) {
      return Status::InvalidArgument("sequence " + std::to_string(i) + " has " + std::to_string(s.size()) +
                                     " tokens; the model takes 1 to " +
                                     std::to_string(config_.max_position_embeddings));
    }
    for (int32_t id : s) {
      if (id < 0 || static_cast<size_t>(id) >= config_.vocab_size) {
        return Status::InvalidArgument("sequence " + std::to_string(i) + " has token id " + std::to_string(id) +
                                       ", outside the vocabulary of " + std::to_string(config_.vocab_size));
      }
    }
    total += s.size();
  }
  std::vector<float> out(n * h);
  if (n == 0) return out;

  // Longest first (the slowest batches start first), then cut into batches of similar lengths.
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return ids[a].size() > ids[b].size(); });
  size_t workers = threads > 0 ? static_cast<size_t>(threads) : std::max(1u, std::thread::hardware_concurrency());
  // Batches of up to kMaxBatchTokens tokens; with several threads, a batch holds at most a
  // (2 x threads)-th of the tokens still to cut, but no fewer than 256 (or a threads-th of the
  // input when that is smaller): the last batches, taken when the others are nearly done, are
  // short, and a small input still gives every thread a batch.
  std::vector<Seq> seqs(n);
  std::vector<size_t> batch_begin;
  const size_t least = std::min<size_t>(256, (total + workers - 1) / workers);
  size_t tokens = 0, budget = 0, remaining = total;
  for (size_t i = 0; i < n; ++i) {
    const size_t j = order[i];
    seqs[i] = Seq{ids[j], pool_start.empty() ? 0u : pool_start[j], &out[j * h]};
    if (batch_begin.empty() || tokens + ids[j].size() > budget) {
      batch_begin.push_back(i);
      tokens = 0;
      budget = workers == 1 ? kMaxBatchTokens
                            : std::clamp<size_t>(remaining / (2 * workers), least, kMaxBatchTokens);
    }
    tokens += ids[j].size();
    remaining -= ids[j].size();
  }
  batch_begin.push_back(n);
  const size_t batches = batch_begin.size() - 1;
  workers = std::min(workers, batches);

  simd::BlasSingleThreaded blas;  // the encoder's own threads each call sgemm on their batch
  std::atomic<size_t> next{0};
  auto work = [&] {
    Workspace ws;
    for (;;) {
      const size_t b = next.fetch_add(1);
      if (b >= batches) return;
      Forward(config_, *weights_, pooling_, normalize_, precision_ == BertPrecision::kInt8,
              std::span<const Seq>(seqs.data() + batch_begin[b], batch_begin[b + 1] - batch_begin[b]), ws);
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (size_t t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return out;
}

}  // namespace sextant::embed
