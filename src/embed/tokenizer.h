// A WordPiece tokenizer loaded from a Hugging Face `tokenizer.json` (or a plain BERT
// `vocab.txt`), producing the ids the Hugging Face `tokenizers` library produces for BERT-family
// models (all-MiniLM, bge, e5, gte, Model2Vec's potion models).
//
// Pipeline (each step as in `tokenizers`):
//   1. added tokens ("[CLS]", "[MASK]", ...) are split out of the raw text first (leftmost,
//      longest match; `lstrip`/`rstrip`/`single_word` honoured); those marked `normalized` are
//      matched on the normalized text instead;
//   2. normalizer: BertNormalizer (clean_text: drop U+0000, U+FFFD and control/format/unassigned
//      characters, map whitespace to ' '; handle_chinese_chars: a space either side of each CJK
//      ideograph; strip_accents (null = follow lowercase): NFD, then drop nonspacing marks;
//      lowercase: full per-character lowercase mapping) or a Sequence of BertNormalizer, NFD,
//      NFKD, Lowercase, StripAccents. Unicode data (categories, decompositions, case) is ICU's;
//   3. pre-tokenizer: BertPreTokenizer (split on whitespace, each punctuation character —
//      ASCII punctuation or Unicode P* — its own word), WhitespaceSplit, Punctuation (Isolated),
//      or a Sequence of them;
//   4. WordPiece: greedy longest match from the start of each word, continuations carry the
//      prefix ("##"); a word with more than max_input_chars_per_word characters, or one that
//      cannot be matched to the end, is one unknown token;
//   5. post-processor (only when asked): TemplateProcessing or BertProcessing, [CLS] ... [SEP].
// Any other component type is refused at load with InvalidArgument naming it.
//
// Text must be valid UTF-8: anything else is refused with InvalidArgument naming the byte
// offset (the same rule as the keyword analyzers). Canonical reordering of combining marks is
// not done by the NFD step (each character is decomposed on its own); this differs from
// `tokenizers` only for sequences of several combining marks of different classes that are
// then kept (strip_accents drops nonspacing marks anyway).
//
// Thread-safety: immutable after loading; Encode may be called from many threads at once (each
// thread reuses its own scratch buffers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sextant/status.h"

namespace sextant::embed {

// A token's source in the input text: text.substr(start, end - start). Special tokens added by
// the post-processor have {0, 0}.
struct TokenSpan {
  uint32_t start = 0;
  uint32_t end = 0;
  bool operator==(const TokenSpan&) const = default;
};

struct EncodeOptions {
  // Add the post-processor's special tokens ([CLS] ... [SEP]). A tokenizer without a
  // post-processor adds none.
  bool add_special_tokens = false;
  // Leave the unknown token out of the result (what Model2Vec does); max_length then counts the
  // tokens kept.
  bool drop_unknown = false;
  // Keep at most this many ids, special tokens included (0: no limit); tokenization stops once
  // the limit is reached, so a long text costs only what is kept. Errors: InvalidArgument if it
  // is smaller than the number of special tokens to add.
  size_t max_length = 0;
};

// Defaults of a BERT tokenizer built from a bare vocab.txt (those of bert-base-uncased).
struct VocabTxtOptions {
  bool lowercase = true;
  std::optional<bool> strip_accents;  // unset: follow lowercase
  bool handle_chinese_chars = true;
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
};

// The byte offset of the first ill-formed UTF-8 sequence in `text` (overlong forms, surrogates
// and code points above U+10FFFF are ill-formed), or std::string_view::npos.
size_t FirstInvalidUtf8(std::string_view text);

class Tokenizer {
 public:
  // Parses a tokenizer.json document. `source` names it in messages. Errors: InvalidArgument
  // naming the file and what is wrong or unsupported ("model type 'Unigram' is not supported").
  static Result<Tokenizer> FromJson(std::string_view json, const std::string& source = "tokenizer.json");
  static Result<Tokenizer> FromJsonFile(const std::string& path);
  // A BERT tokenizer over a vocab.txt (one token per line, id = line number from 0): the
  // BertNormalizer, BertPreTokenizer, WordPiece, [CLS] ... [SEP] post-processing, and the
  // [PAD]/[UNK]/[CLS]/[SEP]/[MASK] tokens that the vocabulary holds as added tokens.
  static Result<Tokenizer> FromVocabTxt(std::string_view text, const VocabTxtOptions& options = {},
                                        const std::string& source = "vocab.txt");
  static Result<Tokenizer> FromVocabFile(const std::string& path, const VocabTxtOptions& options = {});

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Tokenizes `text` into `ids` (replaced) and, when `spans` is not null, each id's source
  // range. Errors: InvalidArgument "text is not valid UTF-8 at byte N"; InvalidArgument when
  // options.max_length cannot hold the special tokens; OutOfRange for text of 4 GiB or more.
  Status Encode(std::string_view text, const EncodeOptions& options, std::vector<int32_t>* ids,
                std::vector<TokenSpan>* spans = nullptr) const;
  Result<std::vector<int32_t>> Encode(std::string_view text, const EncodeOptions& options = {}) const;

  // One more than the largest id of the vocabulary and the added tokens.
  size_t vocab_size() const;
  int32_t unk_id() const;
  std::optional<int32_t> TokenToId(std::string_view token) const;
  // The token with this id ("" if none).
  std::string_view IdToToken(int32_t id) const;
  // The lengths, in characters, of the vocabulary's tokens by id (added tokens included), as
  // model2vec measures them to bound the characters it tokenizes.
  std::vector<size_t> TokenCharLengths() const;
  // The special tokens the post-processor adds around one text (0 without one).
  size_t num_special_tokens() const;
  // max_length of the file's "truncation" section (0 if none). Encode does not apply it by
  // itself: callers pass the limit they want in EncodeOptions.
  size_t truncation_max_length() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sextant::embed
