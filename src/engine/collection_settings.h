// A collection's settings: the rules every CollectionConfig must meet, what they mean for the
// vector index (the quantized index spec), and config.json, the file that keeps them
// (storage/meta_file.h envelope "sextant-collection-config" v1, the codec's stored form).
#pragma once

#include <string>

#include "index/vector_index.h"
#include "sextant/database.h"
#include "storage/env.h"

namespace sextant::engine {

// The rules every collection config must meet, at create and again at every open
// (InvalidArgument naming the setting): the name, the limits on the settings
// (codec::CheckCollectionSettings, the one place they are written) and what only the modules
// know (the analyzer exists, the quantized index can be built for the dimension).
Status ValidateCollectionConfig(const CollectionConfig& config);

// The quantized index a collection's sealed segments use (IndexType kIvfFlat .. kHnswSq8).
index::IndexSpec TrainedSpec(const CollectionConfig& config);
// Sub-quantizers when QuantizationParams::m is 0: the divisor of `dim` closest to dim / 4.
size_t DefaultPqM(size_t dim);

// config.json. Reading is strict: a missing file, a bad envelope, an unknown key or a value
// ValidateCollectionConfig refuses is Corruption naming the file.
Result<CollectionConfig> ReadConfigFile(storage::Env* env, const std::string& path);
Status WriteConfigFile(storage::Env* env, const std::string& path, const CollectionConfig& config);
// Rewrites a collection directory's config.json (verified first) under another name: a
// snapshot restored under a new name.
Status RenameInConfigFile(storage::Env* env, const std::string& path, const std::string& name);

}  // namespace sextant::engine
