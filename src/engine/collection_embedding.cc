#include "engine/collection_embedding.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "embed/provider.h"
#include "engine/collection_settings.h"
#include "engine/point_validation.h"

namespace sextant::engine {
namespace {

// Cuts an in-process model's embeddings to fewer dimensions and re-normalises them.
class TruncatedModel final : public embed::EmbeddingModel {
 public:
  TruncatedModel(std::shared_ptr<const embed::EmbeddingModel> base, size_t dims)
      : base_(std::move(base)), dims_(dims), name_(base_->name()) {}
  const std::string& name() const override { return name_; }
  size_t dimension() const override { return dims_; }
  Result<std::vector<float>> Embed(std::span<const std::string_view> texts, int threads) const override {
    return EmbedAs(embed::TextKind::kText, texts, threads);
  }
  Result<std::vector<float>> EmbedAs(embed::TextKind kind, std::span<const std::string_view> texts,
                                     int threads) const override {
    SEXTANT_ASSIGN_OR_RETURN(std::vector<float> rows, base_->EmbedAs(kind, texts, threads));
    return embed::TruncateDimensions(rows, base_->dimension(), dims_);
  }
  std::vector<std::string> PromptNames() const override { return base_->PromptNames(); }

 private:
  std::shared_ptr<const embed::EmbeddingModel> base_;
  size_t dims_;
  std::string name_;
};

}  // namespace

Result<std::shared_ptr<const embed::EmbeddingModel>> OpenEmbedder(const EmbeddingSettings& s) {
  auto named = [&](const Status& st) { return st.WithContext("embedding model '" + s.model + "'"); };
  if (!s.url.empty()) {
    embed::ProviderOptions o;
    o.url = s.url;
    o.model = s.model;
    o.api_key_env = s.api_key_env;
    o.dimensions = s.dimensions;
    o.batch_size = s.batch_size;
    o.timeout_s = s.timeout_s;
    o.max_retries = static_cast<int>(s.max_retries);
    auto provider = embed::OpenProvider(o);
    if (!provider.ok()) return named(provider.status());
    return provider;
  }
  auto model = embed::LoadModel(s.model);
  if (!model.ok()) return named(model.status());
  if (s.dimensions == 0 || s.dimensions == (*model)->dimension()) return model;
  if (s.dimensions > (*model)->dimension()) {
    return Status::InvalidArgument("embedding.dimensions is " + std::to_string(s.dimensions) + ", more than model '" +
                                   s.model + "' gives (" + std::to_string((*model)->dimension()) + ")");
  }
  return std::shared_ptr<const embed::EmbeddingModel>(std::make_shared<TruncatedModel>(*model, s.dimensions));
}

EmbeddingSettings WithAbsoluteModelPath(const EmbeddingSettings& settings) {
  EmbeddingSettings s = settings;
  if (!s.url.empty()) return s;
  for (const std::string& builtin : embed::BuiltinModelNames()) {
    if (s.model == builtin) return s;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(s.model, ec)) {
    auto abs = std::filesystem::absolute(s.model, ec);
    if (!ec) s.model = abs.lexically_normal().string();
  }
  return s;
}

Result<std::shared_ptr<const embed::EmbeddingModel>> CollectionEmbedder::Model() const {
  std::lock_guard<std::mutex> l(mu_);
  if (!model_) {
    SEXTANT_ASSIGN_OR_RETURN(model_, OpenEmbedder(settings_));
  }
  return model_;
}

Result<std::vector<float>> CollectionEmbedder::Embed(embed::TextKind kind,
                                                     std::span<const std::string_view> texts) const {
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<const embed::EmbeddingModel> model, Model());
  if (model->dimension() != dimension_) {
    return Status::FailedPrecondition("embedding model '" + settings_.model + "' now gives " +
                                      std::to_string(model->dimension()) + " dimensions, the collection has " +
                                      std::to_string(dimension_));
  }
  auto rows = model->EmbedAs(kind, texts, /*threads=*/0);
  if (!rows.ok()) return rows.status().WithContext("embedding model '" + settings_.model + "'");
  if (rows->size() != texts.size() * dimension_) {
    return Status::Internal("embedding model '" + settings_.model + "' returned " + std::to_string(rows->size()) +
                            " floats for " + std::to_string(texts.size()) + " texts of dimension " +
                            std::to_string(dimension_));
  }
  return rows;
}

Result<CollectionConfig> CompleteEmbeddingSettings(CollectionConfig config) {
  SEXTANT_RETURN_IF_ERROR(ValidateCollectionConfig(config));
  if (!config.embedding) return config;
  // The model fixes the dimension: opened now (a provider is asked once).
  config.embedding = WithAbsoluteModelPath(*config.embedding);
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<const embed::EmbeddingModel> model, OpenEmbedder(*config.embedding));
  if (config.dimension == 0) {
    config.dimension = model->dimension();
  } else if (config.dimension != model->dimension()) {
    return Status::InvalidArgument("dimension is " + std::to_string(config.dimension) + " but embedding model '" +
                                   config.embedding->model + "' gives " + std::to_string(model->dimension()) +
                                   " (leave the dimension out to take the model's)");
  }
  if (!config.embedding->hybrid_alpha) {
    // Measured: the built-in static model is weaker than BM25 on SciFact (database.h).
    config.embedding->hybrid_alpha =
        config.embedding->url.empty() && config.embedding->model == embed::kDefaultModel ? 0.3 : 0.5;
  }
  SEXTANT_RETURN_IF_ERROR(ValidateCollectionConfig(config));
  return config;
}

Status EmbedDocuments(const CollectionEmbedder& embedder, size_t dimension, Metric metric,
                      std::vector<PointRef>& points, std::vector<float>* rows) {
  std::vector<size_t> which;
  std::vector<std::string_view> texts;
  for (size_t i = 0; i < points.size(); ++i) {
    if (!points[i].vector.empty()) continue;  // validated first: every other point has a document
    which.push_back(i);
    texts.push_back(*points[i].document);
  }
  if (which.empty()) return Status::OK();
  SEXTANT_ASSIGN_OR_RETURN(*rows, embedder.Embed(embed::TextKind::kDocument, texts));
  for (size_t j = 0; j < which.size(); ++j) {
    PointRef& p = points[which[j]];
    p.vector = std::span<const float>(rows->data() + j * dimension, dimension);
    // A model's output is finite (a provider's is checked); what can fail is a zero vector
    // (no token the model knows) in a cosine collection, which has no direction.
    Status st = CheckVectorValues(p.vector, metric,
                                  "point " + std::to_string(which[j]) + " (id '" +
                                      std::string(p.id.substr(0, 64)) + "'): the document's embedding");
    if (!st.ok()) return st;
  }
  return Status::OK();
}

void QueryPlan::Explain(nlohmann::json& explain) const {
  explain["mode"] = mode;
  if (embedded) explain["embedded_query"] = true;
}

Result<QueryPlan> PlanQuery(const QueryRequest& request, const std::string& name, bool has_text_index,
                            const CollectionEmbedder* embedder) {
  const bool has_vector = !request.vector.empty();
  const bool has_text = request.text.has_value();
  bool embed_text = false;
  QueryPlan plan;
  plan.keyword = has_text;
  const std::string no_model = "collection '" + name + "' has no embedding model";
  switch (request.mode) {
    case QueryMode::kAuto:
      if (has_text && !has_vector && embedder) {
        embed_text = true;
        plan.keyword = has_text_index;
      }
      break;
    case QueryMode::kKeyword:
      if (!has_text) return Status::InvalidArgument("mode keyword needs a text");
      if (has_vector) return Status::InvalidArgument("mode keyword takes a text, not a vector");
      break;
    case QueryMode::kSemantic:
      if (has_text && has_vector) return Status::InvalidArgument("mode semantic takes a text or a vector, not both");
      if (has_text && !embedder) {
        return Status::InvalidArgument(no_model + ": mode semantic needs a vector (or a collection made with one)");
      }
      embed_text = has_text;
      plan.keyword = false;
      break;
    case QueryMode::kHybrid:
      if (!has_text) return Status::InvalidArgument("mode hybrid needs a text");
      if (!has_text_index) {
        return Status::InvalidArgument("collection '" + name +
                                       "' has no keyword index: mode hybrid needs one (create it with text enabled)");
      }
      if (!has_vector && !embedder) return Status::InvalidArgument(no_model + ": mode hybrid needs a vector beside the text");
      embed_text = !has_vector;
      break;
  }
  if (embed_text) {
    if (request.text->find_first_not_of(" \t\r\n") == std::string::npos) {
      return Status::InvalidArgument("text query is empty");
    }
    if (const size_t at = InvalidUtf8At(*request.text); at != std::string_view::npos) {
      return Status::InvalidArgument("text query is not valid UTF-8 at byte " + std::to_string(at));
    }
    const std::string_view text = *request.text;
    SEXTANT_ASSIGN_OR_RETURN(std::vector<float> v, embedder->Embed(embed::TextKind::kQuery, {&text, 1}));
    plan.rewritten = request;
    plan.rewritten->mode = QueryMode::kAuto;
    const bool zero = std::all_of(v.begin(), v.end(), [](float x) { return x == 0.0f; });
    if (zero && !plan.keyword) {
      return Status::InvalidArgument("the query text has no token embedding model '" + embedder->settings().model +
                                     "' knows: its embedding is zero, there is nothing to search by meaning");
    }
    if (!zero) {  // a zero embedding in a hybrid query: the keyword side alone answers
      plan.rewritten->vector = std::move(v);
      plan.embedded = true;
      if (plan.keyword && request.fusion.empty()) {  // the collection's way of fusing its two sides
        plan.rewritten->fusion = "weighted";
        if (!plan.rewritten->alpha) plan.rewritten->alpha = embedder->settings().hybrid_alpha.value_or(0.5);
      }
    }
  }
  if (!plan.keyword && has_text) {
    if (!plan.rewritten) plan.rewritten = request;
    plan.rewritten->text.reset();
  }
  const bool vector_side = !plan.Request(request).vector.empty();
  plan.mode = plan.keyword && vector_side ? "hybrid" : plan.keyword ? "keyword" : "semantic";
  plan.annotate = request.explain && (embedder || request.mode != QueryMode::kAuto);
  return plan;
}

}  // namespace sextant::engine
