// Embedding models: text in, vectors out. One interface for every kind of model (Model2Vec
// static embeddings, BERT-family sentence encoders), and the registry that turns a model name or
// a model directory into one.
//
// Thread-safety: an EmbeddingModel is immutable after loading; Embed may be called from many
// threads at once on one instance (LoadModel hands out shared instances for that reason).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sextant/status.h"

namespace sextant::embed {

// What the texts of one call are, for models that embed search queries and documents
// differently (sentence-transformers prompts, such as e5's "query: " and "passage: ").
enum class TextKind { kText, kQuery, kDocument };

class EmbeddingModel {
 public:
  virtual ~EmbeddingModel() = default;

  // "potion-base-4M" for a built-in model; the directory as given for one loaded from disk.
  virtual const std::string& name() const = 0;
  // Floats per embedding.
  virtual size_t dimension() const = 0;

  // Embeds each text (UTF-8) into dimension() floats; returns texts.size() rows, row-major, in
  // the order given. `threads` bounds the threads used (0: one per hardware thread; 1: only the
  // caller's). What a model does with empty text and text beyond its window is its own
  // contract (Model2Vec: a zero vector, and the first 512 tokens). Errors: InvalidArgument
  // "text I: ..." naming the first bad text (e.g. not valid UTF-8); then no output at all.
  virtual Result<std::vector<float>> Embed(std::span<const std::string_view> texts, int threads = 1) const = 0;
  Result<std::vector<float>> Embed(const std::vector<std::string>& texts, int threads = 1) const;

  // As Embed, for texts of the given kind: a model with prompts prepends its query or document
  // prompt (BertModel::EmbedAs says which); others embed every kind alike.
  virtual Result<std::vector<float>> EmbedAs(TextKind kind, std::span<const std::string_view> texts,
                                             int threads = 1) const {
    return Embed(texts, threads);
  }
  // The names of the model's prompts (none for most models).
  virtual std::vector<std::string> PromptNames() const { return {}; }
};

// The default model, built into the binary.
inline constexpr std::string_view kDefaultModel = "potion-base-4M";

// The names LoadModel accepts without a directory, default first.
std::vector<std::string> BuiltinModelNames();

// A built-in model by name (its files are compiled in: no file or network needed), or else the
// model in the directory `name_or_dir`, or else the model of that name in the models folder
// (ModelsDir()/name_or_dir, where `sextant model pull owner/name` puts it; model_store.h), in
// that order. A model directory holds a BERT sentence encoder when its config.json says
// "model_type": "bert" (a sentence-transformers directory, see bert.h), else a Model2Vec model
// (config.json, model.safetensors, tokenizer.json). A built-in name wins over a directory of the
// same name (write ./NAME for the directory). Built-in models are loaded once per process and
// shared; a directory is read again on each call, and a model from the models folder is named
// by its name ("owner/name"), one from a directory by the directory as given. Errors:
// InvalidArgument for a name that is none of these (the message lists the built-in names and
// the models folder), or for a directory holding a kind of model Sextant does not run;
// NotFound/Corruption/InvalidArgument naming the file for a damaged directory.
//
// `precision` kInt8 runs a BERT encoder's dense layers in int8 (BertPrecision::kInt8: fast where
// the CPU has AVX-512 VNNI; embeddings at cosine >= 0.9998 to float32 on the models measured,
// docs/benchmarks.md); models without such a mode (Model2Vec) ignore it.
enum class Precision { kFloat32, kInt8 };
Result<std::shared_ptr<const EmbeddingModel>> LoadModel(std::string_view name_or_dir = kDefaultModel,
                                                        Precision precision = Precision::kFloat32);

// As LoadModel, for names only: a built-in model or a model in the models folder
// (ModelsDir()/name, `name` being "owner/name" or "name" as CheckRepoName in model_store.h
// accepts), never an arbitrary path — what a server may load for a client, who must not make it
// read a directory of its choosing. Errors: NotFound for a name that is neither (the message
// lists the built-in names and the models folder), InvalidArgument for a name that is not a
// model name (a path, "..", ...); those of LoadModel for a damaged model. The NotFound message
// does not say where the models folder is.
Result<std::shared_ptr<const EmbeddingModel>> LoadNamedModel(std::string_view name);

// Cuts each row of `rows` (n rows of `dim` floats) to its first `dims` floats and rescales it
// to unit L2 length (a zero row stays zero): Matryoshka truncation. Errors: InvalidArgument
// if dims is 0 or more than dim.
Result<std::vector<float>> TruncateDimensions(const std::vector<float>& rows, size_t dim, size_t dims);

}  // namespace sextant::embed
