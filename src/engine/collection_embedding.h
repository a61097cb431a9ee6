// The embedding model of a collection whose settings name one (CollectionConfig::embedding):
// opened from the settings, held once opened, and used by the write path (documents without a
// vector) and the query path (a query's text searched by meaning).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "embed/model.h"
#include "engine/point_ref.h"
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

// The settings of a new collection completed from its model, when they name one (opened now: a
// provider is asked once for its dimension): a model directory's path made absolute, the
// dimension the model's (another one given is InvalidArgument), hybrid_alpha's default; then
// validated whole (ValidateCollectionConfig). Settings without a model are only validated.
// Database::CreateCollection and a cluster's coordinator create collections with these.
Result<CollectionConfig> CompleteEmbeddingSettings(CollectionConfig config);

// Gives every point of a validated batch (ValidatePointAt with `embeds`: a point without a vector
// has a document) that has no vector its document's embedding: the rows are kept in `rows` and
// the points' vectors point into them. All or nothing; a zero embedding in a cosine collection
// (no token the model knows: no direction) is InvalidArgument naming the point.
Status EmbedDocuments(const CollectionEmbedder& embedder, size_t dimension, Metric metric,
                      std::vector<PointRef>& points, std::vector<float>* rows);

// A query with its mode resolved (QueryRequest::mode) against a collection's keyword index and
// model, and its text embedded when it is searched by meaning: what Collection::Query searches,
// and what a cluster's coordinator sends its shards (which then never embed).
struct QueryPlan {
  bool keyword = false;   // the text has a keyword side
  bool embedded = false;  // the vector side is the text's embedding
  // The request to search when it differs from the caller's: the embedding as its vector (and
  // the collection's fusion when the query names none), the text dropped when it has no keyword
  // side, mode kAuto (which answers it alike on a collection without a model).
  std::optional<QueryRequest> rewritten;
  const QueryRequest& Request(const QueryRequest& original) const { return rewritten ? *rewritten : original; }
  // Whether hits' explains get Explain's fields (a collection with a model, or a mode given).
  bool annotate = false;
  const char* mode = "semantic";  // "semantic" | "keyword" | "hybrid"
  // Adds {"mode", "embedded_query"} (the latter when embedded) to a hit's explain.
  void Explain(nlohmann::json& explain) const;
};

// The plan of `request` on collection `name` (for messages), with or without a keyword index and
// a model (`embedder`, null: none). InvalidArgument for a mode the request or the collection
// cannot answer, an empty or non-UTF-8 text to embed, a text whose embedding is zero searched
// by meaning alone; the model's errors as CollectionEmbedder::Embed gives them.
Result<QueryPlan> PlanQuery(const QueryRequest& request, const std::string& name, bool has_text_index,
                            const CollectionEmbedder* embedder);

}  // namespace sextant::engine
