// The one JSON reader for everything Sextant reads: request bodies, command-line input,
// metadata files and metadata stored in the log. nlohmann's own parse() accepts any nesting
// (a line nested a million deep exhausted the stack in later recursive code) and keeps the
// last of duplicate keys silently; this parser bounds the depth and refuses duplicates, so a
// value means one thing everywhere.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "sextant/status.h"

namespace sextant {

struct JsonParseOptions {
  // Objects and arrays nested deeper than this are refused (the top level is depth 1).
  int max_depth = 64;
  // {"a":1,"a":2} is refused with a message naming the key.
  bool reject_duplicate_keys = true;
};

// Parses one JSON text (surrounding whitespace allowed). Errors are InvalidArgument with a
// message that says what was wrong and where ("malformed JSON at byte 12: ...", "JSON nests
// deeper than 64 levels", "duplicate key 'k' in a JSON object"); callers add what they read.
Result<nlohmann::json> ParseJson(std::string_view text, const JsonParseOptions& options = {});

// The checksum metadata files carry: CRC-32C, as 8 hex digits, of `j.dump()` (compact, keys
// sorted), so it covers every key and value and no whitespace.
std::string JsonChecksum(const nlohmann::json& j);

}  // namespace sextant
