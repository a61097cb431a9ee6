#include "engine/collection_settings.h"

#include <cmath>

#include "codec/collection_json.h"
#include "engine/segmented_index.h"
#include "storage/meta_file.h"
#include "text/analyzer.h"

namespace sextant::engine {
namespace {

// config.json holds the settings in the codec's stored form (every key); reading it back is
// strict, and anything the codec or the rules refuse is damage to the file.
nlohmann::json ConfigToJson(const CollectionConfig& c) {
  return codec::CollectionConfigToJson(c, codec::ConfigForm::kStored);
}

Result<CollectionConfig> ConfigFromJson(const nlohmann::json& j, const std::string& what) {
  auto c = codec::CollectionConfigFromStoredJson(j);
  if (!c.ok()) return Status::Corruption(what + ": " + c.status().message());
  // The same rules as at create: a value no create would accept is damage.
  Status valid = ValidateCollectionConfig(*c);
  if (!valid.ok()) return Status::Corruption(what + ": " + valid.message());
  return c;
}

constexpr char kConfigFormat[] = "sextant-collection-config";
constexpr int kConfigVersion = 1;

}  // namespace

Result<CollectionConfig> ReadConfigFile(storage::Env* env, const std::string& path) {
  auto file = storage::ReadMetaFile(env, path, kConfigFormat, kConfigVersion);
  if (!file.ok()) {
    if (file.status().code() == StatusCode::kNotFound) {
      return Status::Corruption(path + " is missing");
    }
    return file.status();
  }
  return ConfigFromJson(file->fields, path);
}

Status WriteConfigFile(storage::Env* env, const std::string& path, const CollectionConfig& config) {
  return storage::WriteMetaFile(env, path, kConfigFormat, kConfigVersion, ConfigToJson(config),
                                /*pretty=*/true);
}

Status RenameInConfigFile(storage::Env* env, const std::string& path, const std::string& name) {
  SEXTANT_ASSIGN_OR_RETURN(CollectionConfig config, ReadConfigFile(env, path));
  config.name = name;
  SEXTANT_RETURN_IF_ERROR(ValidateCollectionConfig(config));
  return WriteConfigFile(env, path, config);
}

size_t DefaultPqM(size_t dim) {
  // The divisor of the dimension closest to dim / 4 (sub-vectors of about 4 dimensions).
  size_t best = 1;
  for (size_t m = 1; m <= dim; ++m) {
    if (dim % m == 0 && std::abs(static_cast<double>(m) - dim / 4.0) < std::abs(static_cast<double>(best) - dim / 4.0)) {
      best = m;
    }
  }
  return best;
}

index::IndexSpec TrainedSpec(const CollectionConfig& c) {
  index::IndexSpec spec;
  spec.type = IndexTypeToString(c.index);
  spec.metric = ToIndexMetric(c.metric);
  spec.nlist = c.quantization.nlist;
  spec.m = c.quantization.m != 0 ? c.quantization.m : DefaultPqM(c.dimension);
  spec.nbits = c.quantization.nbits;
  spec.hnsw_M = c.hnsw.M;
  spec.ef_construction = c.hnsw.ef_construction;
  return spec;
}

Status ValidateCollectionConfig(const CollectionConfig& c) {
  if (!IsValidName(c.name)) {
    if (c.name.empty() || c.name.size() > 64) {
      return Status::InvalidArgument("collection name must have 1 to 64 characters");
    }
    return Status::InvalidArgument("collection name '" + c.name +
                                   "' may only contain letters, digits, '_' and '-'");
  }
  // The limits on every setting live in one place, shared with the JSON parsers.
  SEXTANT_RETURN_IF_ERROR(codec::CheckCollectionSettings(c));
  // What only the modules know: the analyzer exists, the quantized index can be built.
  if (c.text) SEXTANT_RETURN_IF_ERROR(text::MakeAnalyzer(c.analyzer).status());
  if (c.index != IndexType::kHnsw && c.index != IndexType::kFlat) {
    Status st = SegmentedIndex::CheckTrainedSpec(c.dimension, TrainedSpec(c));
    if (!st.ok()) return st.WithContext(std::string("index ") + IndexTypeToString(c.index));
  }
  return Status::OK();
}

}  // namespace sextant::engine
