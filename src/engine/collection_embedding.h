// The embedding model of a collection whose settings name one (CollectionConfig::embedding):
// opened from the settings, held once opened, and used by the write path (documents without a
// vector) and the query path (a query's text searched by meaning).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "embed/model.h"
#include "sextant/database.h"

namespace sextant::engine {

// The model the settings name: in-process (embed::LoadModel: a built-in name, a pulled model or
// a directory) or an OpenAI-compatible provider (embed::OpenProvider, which asks it for its
// dimension once when the settings do not say). With `dimensions` below the model's, an
// in-process model's embeddings are cut to that many and re-normalised (Matryoshka); a provider
// is asked for that many. Errors name the model ("embedding model 'x': ...").
Result<std::shared_ptr<const embed::EmbeddingModel>> OpenEmbedder(const EmbeddingSettings& settings);

// A model directory given as a relative path is kept as an absolute one, so the collection
// finds it again whatever the working directory of a later process; names are left as they are.
EmbeddingSettings WithAbsoluteModelPath(const EmbeddingSettings& settings);

// A collection's model, opened on first use and kept (a failed open is tried again at the next
// use: a provider may come back, a model directory may be restored). Thread-safe.
class CollectionEmbedder {
 public:
  CollectionEmbedder(EmbeddingSettings settings, size_t dimension)
      : settings_(std::move(settings)), dimension_(dimension) {}

  // Embeds the texts as `kind` (queries and documents differ for models with prompts), all or
  // nothing: n rows of the collection's dimension, or an error naming the model. A model that
  // answers with another dimension than the collection's is an error (the model was changed on
  // disk, or a provider changed its model).
  Result<std::vector<float>> Embed(embed::TextKind kind, std::span<const std::string_view> texts) const;
  const EmbeddingSettings& settings() const { return settings_; }

 private:
  Result<std::shared_ptr<const embed::EmbeddingModel>> Model() const;

  const EmbeddingSettings settings_;
  const size_t dimension_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const embed::EmbeddingModel> model_;
};

}  // namespace sextant::engine
