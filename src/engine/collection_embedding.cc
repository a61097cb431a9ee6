#include "engine/collection_embedding.h"

#include <filesystem>
#include <system_error>

#include "embed/provider.h"

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

}  // namespace sextant::engine
