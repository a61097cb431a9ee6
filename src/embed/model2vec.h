// Model2Vec static embeddings (https://github.com/MinishLab/model2vec): a text's embedding is
// the mean of its tokens' rows of one embedding matrix, L2-normalised when the model says so.
// Computes what model2vec's StaticModel.encode computes (max_length 512):
//   1. the text is cut to its first 512 × m characters (code points), m being the median length
//      of the vocabulary's tokens in characters (model2vec's guard against huge inputs);
//   2. tokenized without special tokens; unknown tokens ([UNK]) are left out; the first 512
//      tokens that remain are kept;
//   3. the mean of their rows (int8 rows summed exactly, then divided; a "mapping" tensor maps
//      tokens to rows and a "weights" tensor scales each token's row when the model has them);
//   4. divided by its L2 norm (+1e-32) when config.json has "normalize": true.
// A text with no known token (empty, whitespace, or only unknown tokens) embeds as the zero
// vector. Text must be valid UTF-8 (else InvalidArgument naming the text and byte).
//
// Thread-safety: immutable after loading; Embed may run on many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "embed/model.h"
#include "embed/tokenizer.h"

namespace sextant::embed {

class SafeTensors;

class Model2Vec final : public EmbeddingModel {
 public:
  // Tokens averaged per text at most (model2vec's default max_length).
  static constexpr size_t kMaxTokens = 512;

  // The three files a Model2Vec model needs, as bytes.
  struct Files {
    std::string_view config_json;
    std::string_view safetensors;
    std::string_view tokenizer_json;
  };

  // Loads `dir`/{config.json, model.safetensors, tokenizer.json}; `name` defaults to `dir`.
  // Errors: NotFound naming a missing file; Corruption for a damaged safetensors file;
  // InvalidArgument naming the file for a bad config.json or tokenizer.json, an unsupported
  // tokenizer, no tensor 'embeddings', a dtype other than F32/F16/BF16/F64/I8, a shape that is
  // not [vocabulary size, dimension], or a bad 'mapping'/'weights' tensor. Every check happens
  // here: a loaded model never reads out of bounds.
  static Result<std::unique_ptr<Model2Vec>> Load(const std::string& dir, std::string name = "");
  // The same from bytes in memory (copied; they need not outlive the model).
  static Result<std::unique_ptr<Model2Vec>> FromMemory(const Files& files, std::string name);

  const std::string& name() const override { return name_; }
  size_t dimension() const override { return dim_; }
  Result<std::vector<float>> Embed(std::span<const std::string_view> texts, int threads = 1) const override;
  using EmbeddingModel::Embed;

  // The ids step 2 above averages for `text` (after the character cut, unknowns dropped, at
  // most kMaxTokens).
  Status TokenIds(std::string_view text, std::vector<int32_t>* ids) const;
  // Embeds one text into out[0, dimension()).
  Status EmbedOne(std::string_view text, float* out) const;

  const Tokenizer& tokenizer() const { return tokenizer_; }
  bool normalize() const { return normalize_; }
  // The character cut of step 1.
  size_t max_chars() const { return max_chars_; }

 private:
  Model2Vec(Tokenizer tokenizer) : tokenizer_(std::move(tokenizer)) {}
  static Result<std::unique_ptr<Model2Vec>> Build(std::string_view config_json, const std::string& config_name,
                                                  const SafeTensors& tensors, Tokenizer tokenizer,
                                                  std::string name);

  std::string name_;
  Tokenizer tokenizer_;
  bool normalize_ = false;
  size_t dim_ = 0;
  size_t rows_ = 0;
  size_t max_chars_ = 0;
  std::vector<int8_t> i8_;         // rows_ x dim_ when the tensor is I8
  std::vector<float> f32_;         // rows_ x dim_ otherwise
  std::vector<int32_t> mapping_;   // token id -> row (empty: identity)
  std::vector<float> weights_;     // token id -> weight (empty: 1)
};

}  // namespace sextant::embed
