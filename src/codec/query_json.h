// The JSON form of a query (QueryRequest): one parser for the command line's query lines and
// the server's query bodies.
//
//   {"vector": [...], "text": "...", "k": 10, "ef": 64, "nprobe": 8, "rerank": 50,
//    "filter": {...}, "fusion": "rrf|weighted|dbsf", "alpha": 0.5, "rrf_k": 60,
//    "vector_weight": 1, "text_weight": 1, "explain": true,
//    "include": ["document", "metadata", "vector"], "timeout_ms": 500}
//
// Shapes, types and the per-query bounds below are checked here; what the collection judges
// (dimension, filter operators, fusion name, alpha, weights) is checked by the collection, as
// for the embedded API. "vector", "text" or both are required. "include" replaces the caller's default list;
// "timeout_ms" (1..3,600,000) sets QueryRequest::deadline, counted from the parse. Fields a
// query does not give take QueryDefaults (the command line's flags, the server's defaults).
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "sextant/database.h"

namespace sextant::codec {

// Per-query bounds (shape errors are InvalidArgument, values outside these OutOfRange):
// k in [1, max_k], at most max_dimension vector values, rerank at most kRerankPerK * max_k,
// ef at most kMaxEf, nprobe at most kMaxNprobe.
struct QueryLimits {
  size_t max_k = 10000;
  size_t max_dimension = 65536;
};
inline constexpr size_t kMaxEf = 100000;
inline constexpr size_t kMaxNprobe = size_t{1} << 20;
inline constexpr size_t kRerankPerK = 100;
inline constexpr size_t kMaxTimeoutMs = 3600 * 1000;

// What a query that does not say gets.
struct QueryDefaults {
  size_t k = 10;
  size_t ef = 0;      // 0: the collection's
  size_t nprobe = 0;  // 0: the collection's
  std::optional<size_t> rerank;
  bool include_document = false;
  bool include_metadata = false;
  bool include_vector = false;
};

Result<QueryRequest> QueryFromJson(const nlohmann::json& j, const QueryDefaults& defaults = {},
                                   const QueryLimits& limits = {});

// The checks QueryFromJson applies to the query vector (not empty; at most max_dimension
// values), for a caller that reads the vector by other means (the server's fast path).
Status CheckQueryVector(const std::vector<float>& vector, const QueryLimits& limits);

// TextStats as {"documents": N, "total_length": L, "document_frequency": {"term": df, ...}}
// (a cluster node sends the collection-wide statistics to its shards); the reader refuses
// any other shape.
nlohmann::json TextStatsToJson(const TextStats& stats);
Result<TextStats> TextStatsFromJson(const nlohmann::json& j);

}  // namespace sextant::codec
