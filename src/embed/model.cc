#include "embed/model.h"

#include <sys/stat.h>

#include <cmath>
#include <mutex>
#include <optional>

#include "common/json.h"
#include "common/mapped_file.h"
#include "embed/bert.h"
#include "embed/builtin_data.h"
#include "embed/model2vec.h"
#include "embed/model_store.h"

namespace sextant::embed {

Result<std::vector<float>> EmbeddingModel::Embed(const std::vector<std::string>& texts, int threads) const {
  std::vector<std::string_view> views(texts.begin(), texts.end());
  return Embed(std::span<const std::string_view>(views), threads);
}

std::vector<std::string> BuiltinModelNames() {
  std::vector<std::string> names;
  for (const auto& m : BuiltinModelData()) names.emplace_back(m.name);
  return names;
}

namespace {

std::string KnownNames() {
  std::string s;
  for (const auto& n : BuiltinModelNames()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::shared_ptr<const EmbeddingModel>> LoadBuiltin(const BuiltinModelFiles& files) {
  // Loaded once per process: parsing the tokenizer costs tens of milliseconds.
  static std::mutex mu;
  static std::vector<std::pair<std::string_view, std::shared_ptr<const EmbeddingModel>>> loaded;
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& [name, model] : loaded) {
    if (name == files.name) return model;
  }
  auto m = Model2Vec::FromMemory({files.config_json, files.safetensors, files.tokenizer_json}, std::string(files.name));
  if (!m.ok()) return Status::Internal("the built-in model " + std::string(files.name) + " does not load: " + m.status().ToString());
  std::shared_ptr<const EmbeddingModel> shared = std::move(m).value();
  loaded.emplace_back(files.name, shared);
  return shared;
}

}  // namespace

namespace {

// The model in directory `dir`, named `name` (the directory when empty).
Result<std::shared_ptr<const EmbeddingModel>> LoadDirectory(const std::string& dir, const std::string& name,
                                                            Precision precision = Precision::kFloat32) {
  // The directory's kind, from config.json's model_type: "bert" is a sentence-transformers BERT
  // encoder; "model2vec" (or none: model2vec's own test models say nothing) is Model2Vec. A
  // directory whose config.json is missing or unreadable but whose modules.json has a
  // Transformer module is a sentence-transformers one: the BERT loader then names the problem.
  bool bert = false;
  auto config = ReadFileToString(dir + "/config.json");
  auto j = config.ok() ? ParseJson(*config) : Result<nlohmann::json>(config.status());
  if (j.ok() && j->is_object()) {
    const auto type = j->find("model_type");
    if (type != j->end() && type->is_string() && type->get<std::string>() == "bert") {
      bert = true;
    } else if (type != j->end() && type->is_string() && type->get<std::string>() != "model2vec") {
      return Status::InvalidArgument(dir + ": a '" + type->get<std::string>() +
                                     "' model; Sextant runs Model2Vec (model_type 'model2vec') and BERT "
                                     "sentence encoders (model_type 'bert')");
    }
  } else if (auto modules = ReadFileToString(dir + "/modules.json");
             modules.ok() && modules->find("sentence_transformers.models.Transformer") != std::string::npos) {
    bert = true;
  }
  if (bert) {
    BertOptions options;
    options.precision = precision == Precision::kInt8 ? BertPrecision::kInt8 : BertPrecision::kFloat32;
    SEXTANT_ASSIGN_OR_RETURN(auto m, BertModel::Load(dir, name, options));
    return std::shared_ptr<const EmbeddingModel>(std::move(m));
  }
  SEXTANT_ASSIGN_OR_RETURN(auto m, Model2Vec::Load(dir, name));
  return std::shared_ptr<const EmbeddingModel>(std::move(m));
}

// The directory of model `name` in the models folder, if `name` is a model name and the
// directory exists.
std::optional<std::string> InstalledModelDir(std::string_view name) {
  if (!CheckRepoName(name).ok()) return std::nullopt;
  std::string dir = ModelsDir() + "/" + std::string(name);
  if (!IsDirectory(dir)) return std::nullopt;
  return dir;
}

// `with_paths`: for LoadModel, which also takes directories, and may say where the folder is
// (LoadNamedModel's callers are a server's clients: they are not told the server's paths).
std::string UnknownModel(std::string_view name, bool with_paths) {
  std::string s = "unknown model '";
  s.append(name.substr(0, 200)).append("': not a built-in model (").append(KnownNames());
  if (with_paths) {
    s.append(") nor a model directory nor a model in the models folder ").append(ModelsDir());
  } else {
    s.append(") nor a model in the models folder");
  }
  return s.append(" ('sextant model list' lists them)");
}

}  // namespace

Result<std::shared_ptr<const EmbeddingModel>> LoadModel(std::string_view name_or_dir, Precision precision) {
  for (const auto& m : BuiltinModelData()) {
    if (m.name == name_or_dir) return LoadBuiltin(m);
  }
  const std::string dir(name_or_dir);
  if (!dir.empty() && IsDirectory(dir)) return LoadDirectory(dir, "", precision);
  if (auto installed = InstalledModelDir(name_or_dir)) return LoadDirectory(*installed, dir, precision);
  return Status::InvalidArgument(UnknownModel(name_or_dir, true));
}

Result<std::shared_ptr<const EmbeddingModel>> LoadNamedModel(std::string_view name) {
  for (const auto& m : BuiltinModelData()) {
    if (m.name == name) return LoadBuiltin(m);
  }
  SEXTANT_RETURN_IF_ERROR(CheckRepoName(name));  // a path is not a name
  if (auto installed = InstalledModelDir(name)) return LoadDirectory(*installed, std::string(name));
  return Status::NotFound(UnknownModel(name, false));
}

Result<std::vector<float>> TruncateDimensions(const std::vector<float>& rows, size_t dim, size_t dims) {
  if (dims == 0 || dims > dim) {
    return Status::InvalidArgument("dimensions " + std::to_string(dims) + " must be from 1 to the model's " +
                                   std::to_string(dim));
  }
  const size_t n = dim == 0 ? 0 : rows.size() / dim;
  std::vector<float> out(n * dims);
  for (size_t i = 0; i < n; ++i) {
    const float* r = &rows[i * dim];
    double ss = 0;
    for (size_t j = 0; j < dims; ++j) ss += static_cast<double>(r[j]) * r[j];
    const double scale = ss > 0 ? 1.0 / std::sqrt(ss) : 0.0;
    for (size_t j = 0; j < dims; ++j) out[i * dims + j] = static_cast<float>(r[j] * scale);
  }
  return out;
}

}  // namespace sextant::embed
