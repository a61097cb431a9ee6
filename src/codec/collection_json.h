// The JSON form of a collection's settings (CollectionConfig) and stats, and the one set of
// limits on those settings. Used by the engine for config.json, by the server (PUT and GET of
// a collection) and by the command line (`collection create` flags, `collection list`).
//
//   {"name": "docs", "dimension": 384, "metric": "cosine", "index": "hnsw",
//    "hnsw": {"M": 16, "ef_construction": 200, "ef_search": 128},
//    "quantization": {"nlist": 256, "nprobe": 8, "m": 0, "nbits": 8, "rerank": 0},
//    "segments": {"seal_points": 0, "merge_factor": 4, "compact_deleted_fraction": 0.2},
//    "text": true, "analyzer": "english", "bm25": {"k1": 0.9, "b": 0.4},
//    "embedding": {"model": "potion-base-4M"}, "metadata": {"owner": "docs-team"}}
//
// "metadata" (optional, both forms only when not empty): the collection's own metadata, an
// object of strings, finite numbers and booleans (CollectionConfig::metadata).
//
// "embedding" (optional): {"model", "url", "api_key_env", "dimensions", "batch_size",
// "timeout_s", "max_retries", "hybrid_alpha"} (EmbeddingSettings); a client may give just the model's name as a
// string. With it, "dimension" may be left out (0): the model's dimension is taken at create.
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include "sextant/database.h"

namespace sextant::codec {

// The limits every collection's settings must meet, wherever they come from (a create call,
// a request body, command-line flags, config.json at open): dimension in [1, 65536] (0 only
// with text, or with an embedding model before create fills it in), embedding settings sane
// (an http(s) url, batch_size in [1, 4096], timeout_s in (0, 3600], max_retries <= 10), hnsw.M in [2, 512], ef_construction and ef_search at least 1, quantization.rerank
// at most 1,000,000, and so on.
// InvalidArgument naming the setting ("hnsw.M must be in [2, 512], got 600"). The name is not
// a setting (IsValidName judges it), and what only the engine's modules know — whether the
// analyzer exists, whether a quantized index can be built for this dimension — is checked by
// the engine on top (engine::ValidateCollectionConfig).
Status CheckCollectionSettings(const CollectionConfig& config);
// The rules on CollectionConfig::metadata (part of CheckCollectionSettings; also for
// Collection::SetMetadata): an object of strings, finite numbers and booleans under non-empty
// keys, at most 64 KiB as JSON.
Status CheckCollectionMetadata(const nlohmann::json& metadata);

enum class ConfigForm {
  // config.json: every key, each value exactly as held (bm25 floats as their double values).
  kStored,
  // Replies of the server and the command line: name, dimension, metric, index, hnsw, text;
  // "quantization" only for the quantized indexes, "segments" only when not the defaults,
  // "analyzer" and "bm25" (rounded to 6 decimals: 0.4, not 0.4000000059) only with text.
  kReply,
};
nlohmann::json CollectionConfigToJson(const CollectionConfig& config, ConfigForm form);

// A collection's settings as a client gives them (a PUT body; the command line turns its
// flags into the same object): every member of the form above but "name", all optional but
// "dimension" (optional too with "embedding"); absent ones keep CollectionConfig's defaults, unknown ones are refused.
// InvalidArgument naming the field for a wrong shape or type ("field 'hnsw.M' must be a
// non-negative integer", "field 'metric': unknown metric 'l7' ..."). The values are judged
// where every config is, at create (Database::CreateCollection runs CheckCollectionSettings),
// so a refused value reads and codes the same from the server, the command line and the
// embedded API. The returned config has no name.
Result<CollectionConfig> CollectionSettingsFromJson(const nlohmann::json& body);

// config.json's fields (ConfigForm::kStored) read strictly: each key present with its type, no
// unknown key anywhere (a renamed key is damage, not a setting to ignore: "text" -> "teyt"
// would switch keyword search off), then CheckCollectionSettings. "quantization", "segments"
// and the text group ("text", "analyzer", "bm25" together) may be absent: files written before
// those existed. InvalidArgument naming the key; the engine reports it as Corruption of the file.
Result<CollectionConfig> CollectionConfigFromStoredJson(const nlohmann::json& fields);

// {"points", "memory_bytes", "disk_bytes", "segments", "unindexed_points", "deleted_pending",
//  "wal_bytes", "wal_records", "checkpoints", "segments_sealed", "segments_merged",
//  "index_errors", "last_index_error", "write_stalls"}: every CollectionStats member.
nlohmann::json StatsToJson(const CollectionStats& stats);

}  // namespace sextant::codec
