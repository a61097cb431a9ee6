// Request bodies of the HTTP API -> API types, and the small text parsers around them
// (bearer tokens, request ids, resource names). Everything here is pure: no I/O, no HTTP
// library, no database, so the parsers can be fuzzed (tests/fuzz/server_request_fuzz.cc).
//
// Error codes of the returned Status, which the server maps to HTTP statuses:
//   kInvalidArgument   the body is not what the route expects (malformed JSON, wrong type,
//                      unknown field)                                              -> 400
//   kResourceExhausted a size limit was exceeded (batch size, number of ids)       -> 413
//   kOutOfRange        a value outside its limit (k, dimension)                     -> 422
// Values that only the collection can judge (vector dimension, filter operators) are checked
// by the database, not here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sextant/database.h"

namespace sextant::server {

struct Limits {
  size_t max_body_bytes = 64ull << 20;
  size_t max_batch = 10000;       // points per upsert, ids per get/delete
  size_t max_k = 10000;
  size_t max_dimension = 65536;
  size_t max_scroll_limit = 10000;
  int max_json_depth = 64;
  // URL prefixes a collection's embedding provider may have ("embedding": {"url": ...}); none
  // by default: the server would otherwise send requests wherever a client names
  // (`sextant serve --embedding-provider-urls`).
  std::vector<std::string> embedding_provider_urls;
};

// Parses a request body. An empty (or all-whitespace) body is an empty object. Nesting deeper
// than `max_depth` is rejected before parsing (the parser and the printer recurse).
Result<nlohmann::json> ParseJsonBody(std::string_view body, int max_depth);

// Tenant, database, collection, snapshot and key-id names must pass sextant::IsValidName
// (include/sextant/database.h); a 400-style error naming `what` otherwise.
Status CheckName(std::string_view name, const char* what);

// "Bearer <token>" (scheme case-insensitive, surrounding blanks ignored) -> token.
std::optional<std::string> ParseBearer(std::string_view header);

// A client's X-Request-Id when it is 1..128 characters of [A-Za-z0-9._:-]; nullopt otherwise
// (the server then makes its own).
std::optional<std::string> SanitizeRequestId(std::string_view header);

// PUT collection: the settings in their one JSON form (codec/collection_json.h:
// codec::CollectionSettingsFromJson, with the limits every collection meets), and a dimension
// at most limits.max_dimension. `name` is filled from the path by the caller. An embedding
// model must be a model's name (built-in, or pulled into the server's models folder), never a
// path: a client must not make the server read a directory it names; a provider's URL must
// start with one of limits.embedding_provider_urls.
struct CollectionSpec {
  CollectionConfig config;
};
Result<CollectionSpec> ParseCollectionSpec(const nlohmann::json& body, const Limits& limits);

// POST points: {"points": [{"id", "vector", "document", "metadata"}, ...]} (1..max_batch).
// Duplicate ids in one batch are rejected here, naming both positions.
Result<std::vector<Point>> ParseUpsert(const nlohmann::json& body, const Limits& limits);

// POST query: the one JSON form of a query (codec/query_json.h, shared with the command line's
// query lines) with limits.max_k and limits.max_dimension; "include" defaults to document and
// metadata; "timeout_ms" sets the deadline, counted from the parse (the server's own limit
// still applies).
Result<QueryRequest> ParseQuery(const nlohmann::json& body, const Limits& limits);

// The same two parsers straight from the body text, with a fast path for the vectors: the
// numbers of a query's top-level "vector" and of each points[i].vector are read with
// std::from_chars while the rest of the body goes through the JSON parser. Anything the fast
// path does not recognise as plain JSON numbers falls back to ParseJsonBody + the parsers
// above, so the results (and errors) are those of the slow path; the fuzz target checks it.
Result<QueryRequest> ParseQueryBody(std::string_view body, const Limits& limits);
Result<std::vector<Point>> ParseUpsertBody(std::string_view body, const Limits& limits);

// DELETE points: exactly one of {"ids": [...]} or {"filter": {...}}.
struct DeleteSpec {
  std::vector<std::string> ids;
  std::optional<nlohmann::json> filter;
};
Result<DeleteSpec> ParseDelete(const nlohmann::json& body, const Limits& limits);

// POST points/get: {"ids": [...] (at most max_batch), "vectors": true (default)}.
struct GetPointsSpec {
  std::vector<std::string> ids;
  bool vectors = true;
};
Result<GetPointsSpec> ParseGetPoints(const nlohmann::json& body, const Limits& limits);

// PATCH collection: {"metadata": {...}}, the collection's new metadata (replaces the old;
// its values are judged by Collection::SetMetadata).
Result<nlohmann::json> ParseCollectionPatch(const nlohmann::json& body);

// POST scroll: {"limit": 100, "after": "id", "filter": {...}, "vectors": false}.
struct ScrollSpec {
  size_t limit = 100;
  std::string after;
  std::optional<nlohmann::json> filter;
  bool vectors = false;
};
Result<ScrollSpec> ParseScroll(const nlohmann::json& body, const Limits& limits);

// POST count: {"filter": {...}} (optional).
Result<std::optional<nlohmann::json>> ParseCount(const nlohmann::json& body);

// PATCH point: {"metadata": {...}, "merge": false}.
struct MetadataPatch {
  nlohmann::json metadata;
  bool merge = false;
};
Result<MetadataPatch> ParseMetadataPatch(const nlohmann::json& body);

// POST keys: {"role": "admin|writer|reader", "tenant": "t" (optional), "database": "d"
// (optional, needs tenant)}.
struct KeySpec {
  std::string role;
  std::optional<std::string> tenant;
  std::optional<std::string> database;
};
Result<KeySpec> ParseKeySpec(const nlohmann::json& body);

// Snapshot create {"snapshot": "name"} (optional name) and restore {"collection": "name"}.
Result<std::optional<std::string>> ParseSnapshotCreate(const nlohmann::json& body);
Result<std::string> ParseSnapshotRestore(const nlohmann::json& body);

}  // namespace sextant::server
