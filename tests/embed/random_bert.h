// Writes a BERT sentence-transformers model directory with random weights (real weights cannot be
// downloaded here): config.json, model.safetensors, tokenizer.json, modules.json,
// 1_Pooling/config.json and, when asked, sentence_bert_config.json and
// config_sentence_transformers.json. Used by the BERT tests (a small model checked against a
// plain reference forward pass) and by sextant_bert_bench (an all-MiniLM-L6-v2-shaped one).
// The weights are returned too, as the floats the file holds (after rounding to F16/BF16), under
// their names without the "bert." prefix.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "embed_test_util.h"

namespace sextant::embed::testing {

struct RandomBertSpec {
  size_t hidden = 32;
  size_t layers = 2;
  size_t heads = 4;
  size_t intermediate = 64;
  size_t max_positions = 64;
  size_t type_vocab = 2;
  double layer_norm_eps = 1e-12;
  std::string tokenizer_json;    // the tokenizer.json to ship (its ids set the vocabulary size)
  size_t extra_vocab = 0;        // rows of the word embeddings beyond the tokenizer's
  std::string dtype = "F32";     // F32, F16 or BF16
  bool bert_prefix = false;      // tensor names "bert.embeddings...." as BertModel checkpoints
  bool gamma_beta = false;       // LayerNorm tensors named gamma/beta (older checkpoints)
  std::string pooling = "mean";  // mean or cls
  bool normalize = true;         // a Normalize module
  size_t max_seq_length = 0;     // >0: sentence_bert_config.json with it
  nlohmann::json prompts;        // an object: config_sentence_transformers.json with it
  std::string default_prompt;    // its default_prompt_name
  bool include_prompt = true;
  float scale = 0.1f;            // weights are uniform with this standard deviation
  uint64_t seed = 1;
};

struct RandomBert {
  RandomBertSpec spec;
  size_t vocab = 0;
  std::map<std::string, std::vector<float>> weights;  // name (no prefix) -> values
  const std::vector<float>& W(const std::string& name) const { return weights.at(name); }
};

// IEEE half / bfloat16, rounding to nearest even (finite, normal-range inputs).
inline uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const float a = std::fabs(f);
  if (a < 6.103515625e-05f) {  // subnormal half: a multiple of 2^-24
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  }
  uint32_t e = ((x >> 23) & 0xFF) - 127 + 15;
  uint32_t m = x & 0x7FFFFF;
  uint32_t h = (e << 10) | (m >> 13);
  const uint32_t rest = m & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}
inline float HalfBitsToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF;
  float v;
  if (e == 0) {
    v = std::ldexp(static_cast<float>(m), -24);
  } else {
    v = std::ldexp(static_cast<float>(m | 0x400), static_cast<int>(e) - 25);
  }
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits |= sign;
  std::memcpy(&v, &bits, 4);
  return v;
}
inline uint16_t FloatToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  x += 0x7FFF + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}
inline float Bf16BitsToFloat(uint16_t b) {
  const uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// One more than the largest id of tokenizer.json's vocabulary and added tokens.
inline size_t TokenizerVocabSize(const std::string& tokenizer_json) {
  const nlohmann::json t = nlohmann::json::parse(tokenizer_json);
  size_t n = 0;
  for (const auto& [tok, id] : t["model"]["vocab"].items()) n = std::max<size_t>(n, id.get<size_t>() + 1);
  if (t.contains("added_tokens")) {
    for (const auto& a : t["added_tokens"]) n = std::max<size_t>(n, a["id"].get<size_t>() + 1);
  }
  return n;
}

inline RandomBert WriteRandomBert(const std::string& dir, const RandomBertSpec& spec) {
  namespace fs = std::filesystem;
  using nlohmann::json;
  RandomBert m;
  m.spec = spec;
  m.vocab = TokenizerVocabSize(spec.tokenizer_json) + spec.extra_vocab;
  fs::create_directories(dir + "/1_Pooling");

  // Uniform on [-a, a] with standard deviation `scale` (a = scale * sqrt(3)), from a 64-bit LCG:
  // the same weights on every platform.
  uint64_t state = spec.seed * 6364136223846793005ull + 1442695040888963407ull;
  auto uniform = [&]() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(state >> 11) / 9007199254740992.0;  // [0, 1)
  };
  std::vector<RawTensor> raw;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float center) {
    size_t n = 1;
    for (uint64_t d : shape) n *= d;
    std::vector<float> v(n);
    const double a = spec.scale * std::sqrt(3.0);
    std::string bytes;
    if (spec.dtype == "F32") {
      for (float& x : v) x = static_cast<float>(center + (2 * uniform() - 1) * a);
      bytes = BytesOf(v);
    } else {
      std::vector<uint16_t> bits(n);
      for (size_t i = 0; i < n; ++i) {
        const float x = static_cast<float>(center + (2 * uniform() - 1) * a);
        if (spec.dtype == "F16") {
          bits[i] = FloatToHalf(x);
          v[i] = HalfBitsToFloat(bits[i]);
        } else {
          bits[i] = FloatToBf16(x);
          v[i] = Bf16BitsToFloat(bits[i]);
        }
      }
      bytes = BytesOf(bits);
    }
    std::string stored = name;
    if (spec.gamma_beta) {
      for (const char* ln : {"LayerNorm.weight", "LayerNorm.bias"}) {
        const size_t at = stored.find(ln);
        if (at != std::string::npos) {
          stored = stored.substr(0, at) + (std::string(ln) == "LayerNorm.weight" ? "LayerNorm.gamma" : "LayerNorm.beta");
        }
      }
    }
    raw.push_back({(spec.bert_prefix ? "bert." : "") + stored, spec.dtype, shape, std::move(bytes)});
    m.weights[name] = std::move(v);
  };
  const uint64_t h = spec.hidden, in = spec.intermediate;
  add("embeddings.word_embeddings.weight", {m.vocab, h}, 0);
  add("embeddings.position_embeddings.weight", {spec.max_positions, h}, 0);
  add("embeddings.token_type_embeddings.weight", {spec.type_vocab, h}, 0);
  add("embeddings.LayerNorm.weight", {h}, 1);
  add("embeddings.LayerNorm.bias", {h}, 0);
  for (size_t i = 0; i < spec.layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    for (const char* s : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
      add(p + s + ".weight", {h, h}, 0);
      add(p + s + ".bias", {h}, 0);
    }
    add(p + "attention.output.LayerNorm.weight", {h}, 1);
    add(p + "attention.output.LayerNorm.bias", {h}, 0);
    add(p + "intermediate.dense.weight", {in, h}, 0);
    add(p + "intermediate.dense.bias", {in}, 0);
    add(p + "output.dense.weight", {h, in}, 0);
    add(p + "output.dense.bias", {h}, 0);
    add(p + "output.LayerNorm.weight", {h}, 1);
    add(p + "output.LayerNorm.bias", {h}, 0);
  }
  WriteFile(dir + "/model.safetensors", MakeSafetensors(raw, json{{"format", "pt"}}));

  const json config = {{"architectures", {"BertModel"}},
                       {"model_type", "bert"},
                       {"hidden_act", "gelu"},
                       {"hidden_size", spec.hidden},
                       {"num_hidden_layers", spec.layers},
                       {"num_attention_heads", spec.heads},
                       {"intermediate_size", spec.intermediate},
                       {"max_position_embeddings", spec.max_positions},
                       {"type_vocab_size", spec.type_vocab},
                       {"vocab_size", m.vocab},
                       {"layer_norm_eps", spec.layer_norm_eps},
                       {"position_embedding_type", "absolute"},
                       {"hidden_dropout_prob", 0.1}};
  WriteFile(dir + "/config.json", config.dump(2));
  WriteFile(dir + "/tokenizer.json", spec.tokenizer_json);
  json modules = json::array({{{"idx", 0}, {"name", "0"}, {"path", ""}, {"type", "sentence_transformers.models.Transformer"}},
                              {{"idx", 1}, {"name", "1"}, {"path", "1_Pooling"}, {"type", "sentence_transformers.models.Pooling"}}});
  if (spec.normalize) {
    modules.push_back({{"idx", 2}, {"name", "2"}, {"path", "2_Normalize"}, {"type", "sentence_transformers.models.Normalize"}});
  }
  WriteFile(dir + "/modules.json", modules.dump(2));
  const json pooling = {{"word_embedding_dimension", spec.hidden},
                        {"pooling_mode_cls_token", spec.pooling == "cls"},
                        {"pooling_mode_mean_tokens", spec.pooling == "mean"},
                        {"pooling_mode_max_tokens", false},
                        {"pooling_mode_mean_sqrt_len_tokens", false},
                        {"pooling_mode_weightedmean_tokens", false},
                        {"pooling_mode_lasttoken", false},
                        {"include_prompt", spec.include_prompt}};
  WriteFile(dir + "/1_Pooling/config.json", pooling.dump(2));
  if (spec.max_seq_length > 0) {
    WriteFile(dir + "/sentence_bert_config.json",
              json{{"max_seq_length", spec.max_seq_length}, {"do_lower_case", false}}.dump(2));
  }
  if (spec.prompts.is_object()) {
    json st = {{"prompts", spec.prompts}, {"similarity_fn_name", "cosine"}};
    st["default_prompt_name"] = spec.default_prompt.empty() ? json(nullptr) : json(spec.default_prompt);
    WriteFile(dir + "/config_sentence_transformers.json", st.dump(2));
  }
  return m;
}

}  // namespace sextant::embed::testing
