// A BERT-family sentence encoder (all-MiniLM-L6-v2, bge-small/base, e5, gte, ...) loaded from a
// sentence-transformers model directory, computing what sentence-transformers' encode computes
// in float32:
//
//   1. text -> ids: the prompt (if any) is prepended to the text (lowercased first when
//      sentence_bert_config.json says do_lower_case), WordPiece from tokenizer.json with the
//      post-processor's [CLS] ... [SEP], cut to max_seq_length tokens (the last kept is [SEP]);
//   2. embeddings: word + absolute position + token type 0, LayerNorm;
//   3. each layer: self-attention (softmax(Q K^T / sqrt(d_head)) V per head, over the text's
//      own tokens only) + dense + residual + LayerNorm; dense + exact erf GELU + dense +
//      residual + LayerNorm;
//   4. pooling (1_Pooling/config.json): the mean of the token vectors (without the prompt's
//      tokens when include_prompt is false) or the [CLS] vector;
//   5. L2 normalisation (x / max(|x|, 1e-12)) when modules.json has a Normalize module.
//
// Batching: the texts of a call are sorted by token count and cut into batches of similar
// lengths (at most kMaxBatchTokens tokens, fewer when that leaves a thread without a batch). A
// batch's tokens are packed back to back, without padding rows: the dense layers run on exactly
// the real tokens and attention runs per text over its own length, which is what padding plus an
// attention mask computes, without the padded work. A text's embedding is therefore the same
// whatever else is in its batch. Results come back in the order given.
//
// Matrix products go to OpenBLAS (cblas_sgemm); the rest are the vector kernels of
// bert_kernels.h. Threads: Embed(texts, threads) runs `threads` threads of its own (0: one per
// hardware thread), each taking whole batches, and OpenBLAS runs single-threaded inside each
// of them. OpenBLAS's thread count is process-wide, so while any BERT call is running it is set
// to 1 and the previous value is restored when the last call ends: other sgemm users in the
// process (FlatIndex batches, k-means) run single-threaded for that time instead of fighting
// the encoder's threads for the cores.
//
// Thread-safety: immutable after loading; Embed may run on many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "embed/model.h"
#include "embed/tokenizer.h"

namespace sextant::embed {

// The parts of config.json the encoder uses.
struct BertConfig {
  size_t vocab_size = 0;
  size_t hidden_size = 0;
  size_t num_layers = 0;
  size_t num_heads = 0;
  size_t intermediate_size = 0;
  size_t max_position_embeddings = 0;
  size_t type_vocab_size = 0;
  float layer_norm_eps = 1e-12f;
};

enum class BertPooling { kMean, kCls };

// How the dense layers compute. kInt8: weights quantized per output row to int8 at load,
// activations per token row to uint8 (asymmetric: the row's minimum and range) before each
// dense layer, exact integer sums, float32 everywhere else (embeddings, attention, LayerNorm,
// GELU, pooling). About 4x fewer bytes of dense weights; fast where the CPU has AVX-512 VNNI,
// exact but no faster than float32 with AVX2 alone.
enum class BertPrecision { kFloat32, kInt8 };

struct BertOptions {
  BertPrecision precision = BertPrecision::kFloat32;
};

class BertModel final : public EmbeddingModel {
 public:
  // Tokens packed into one batch at most (a longer text is a batch of its own).
  static constexpr size_t kMaxBatchTokens = 2048;
  // Bounds on config.json values, so that no size computed from them can overflow.
  static constexpr size_t kMaxHidden = 16384;
  static constexpr size_t kMaxLayers = 256;
  static constexpr size_t kMaxPositions = 65536;

  // Loads a sentence-transformers directory:
  //   modules.json            Transformer (path "" or a subfolder), Pooling, optional Normalize
  //   config.json             model_type "bert", hidden_act "gelu", absolute positions
  //   model.safetensors       F32/F16/BF16/F64 weights, names with or without "bert."
  //   tokenizer.json          WordPiece (see tokenizer.h)
  //   <Pooling path>/config.json   mean or CLS pooling
  //   sentence_bert_config.json    optional: max_seq_length (default: tokenizer.json's
  //                                truncation, else max_position_embeddings), do_lower_case
  //   config_sentence_transformers.json   optional: prompts, default_prompt_name
  // Errors: NotFound naming a missing file or tensor; Corruption for a damaged safetensors
  // file; InvalidArgument naming the file and key or tensor for anything unsupported (model
  // type, activation, pooling mode, module type) or inconsistent (shapes, sizes, a head count
  // that does not divide the hidden size, NaN weights, a tokenizer larger than the embedding
  // table). A loaded model never reads out of bounds.
  static Result<std::unique_ptr<BertModel>> Load(const std::string& dir, std::string name = "",
                                                 const BertOptions& options = {});

  const std::string& name() const override { return name_; }
  size_t dimension() const override { return config_.hidden_size; }

  // With the default prompt (default_prompt_name), if the model names one.
  Result<std::vector<float>> Embed(std::span<const std::string_view> texts, int threads = 1) const override;
  using EmbeddingModel::Embed;
  // Queries with the prompt "query", documents with "document", "passage" or "corpus" (the
  // first the model has), as sentence-transformers' encode_query / encode_document; else the
  // default prompt.
  Result<std::vector<float>> EmbedAs(TextKind kind, std::span<const std::string_view> texts,
                                     int threads = 1) const override;
  std::vector<std::string> PromptNames() const override;
  // With the prompt called `prompt_name` ("" = none at all). Errors: InvalidArgument for a
  // name the model does not have (the message lists those it has).
  Result<std::vector<float>> EmbedWithPrompt(std::span<const std::string_view> texts, std::string_view prompt_name,
                                             int threads = 1) const;

  // The ids step 1 gives for `text` with the prompt called `prompt_name` ("" = none), and in
  // *pool_start the first position the mean pools (past the prompt when include_prompt is
  // false, else 0). Errors: InvalidArgument for invalid UTF-8 (naming the byte of `text`) or
  // an unknown prompt name.
  Status TokenIds(std::string_view text, std::string_view prompt_name, std::vector<int32_t>* ids,
                  uint32_t* pool_start = nullptr) const;
  // Steps 2-5 on token ids directly: one row per sequence, in order. pool_start, if not empty,
  // holds each sequence's first pooled position. Errors: InvalidArgument naming the sequence
  // for an empty one, one longer than max_position_embeddings, or an id outside the
  // vocabulary.
  Result<std::vector<float>> EmbedTokenIds(std::span<const std::vector<int32_t>> ids, int threads = 1,
                                           std::span<const uint32_t> pool_start = {}) const;

  const BertConfig& config() const { return config_; }
  BertPrecision precision() const { return precision_; }
  BertPooling pooling() const { return pooling_; }
  bool normalize() const { return normalize_; }
  bool include_prompt() const { return include_prompt_; }
  // Tokens per text at most, [CLS] and [SEP] included.
  size_t max_seq_length() const { return max_seq_length_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  // The prompt's text for a name (nullptr if none), and the default prompt's name ("" if none).
  const std::string* Prompt(std::string_view name) const;
  const std::string& default_prompt_name() const { return default_prompt_name_; }

  struct Weights;
  ~BertModel() override;

 private:
  BertModel(Tokenizer tokenizer);
  Result<std::vector<float>> EmbedTexts(std::span<const std::string_view> texts, const std::string& prompt_name,
                                        int threads) const;

  std::string name_;
  Tokenizer tokenizer_;
  BertConfig config_;
  BertPooling pooling_ = BertPooling::kMean;
  BertPrecision precision_ = BertPrecision::kFloat32;
  bool normalize_ = false;
  bool include_prompt_ = true;
  bool lowercase_ = false;
  size_t max_seq_length_ = 0;
  std::vector<std::pair<std::string, std::string>> prompts_;  // name -> text, as in the file
  std::vector<uint32_t> prompt_tokens_;                       // [CLS] + the prompt's tokens, per prompt
  std::string default_prompt_name_;
  std::unique_ptr<Weights> weights_;
};

}  // namespace sextant::embed
