// Typed readers for the members of a JSON object, shared by every parser of request bodies,
// command-line input and settings, so that a field is named and judged the same way
// everywhere.
//
// Each reader leaves *out unchanged when the member is absent and names the field in its
// error; `prefix` is the enclosing object's name, so a nested member reads "field 'hnsw.M'".
// A member of the wrong type is InvalidArgument; an integer outside [lo, hi] is OutOfRange.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "sextant/status.h"

namespace sextant::codec {

inline constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();

// "hnsw" + "M" -> "hnsw.M"; "" + "k" -> "k".
std::string FieldName(std::string_view prefix, std::string_view key);

// `obj` must be an object whose members are all in `allowed` (a typo is an error, never a
// setting silently ignored): "unknown field 'dim' (expected dimension, metric, ...)". With a
// prefix, the message starts "field 'hnsw': ".
Status OnlyFields(const nlohmann::json& obj, std::initializer_list<const char*> allowed,
                  std::string_view prefix = {});

// Every member of the object `j` must be one of `allowed`, for files Sextant wrote itself
// (config.json, MANIFEST), where an unknown key is damage: "unknown key 'teyt' in `where`".
Status CheckKeys(const nlohmann::json& j, std::initializer_list<const char*> allowed, std::string_view where);

// A non-negative integer within [lo, hi].
Status ReadUint(const nlohmann::json& obj, const char* key, size_t lo, size_t hi, size_t* out,
                std::string_view prefix = {});
// Any JSON number.
Status ReadNumber(const nlohmann::json& obj, const char* key, double* out, std::string_view prefix = {});
Status ReadBool(const nlohmann::json& obj, const char* key, bool* out, std::string_view prefix = {});
Status ReadString(const nlohmann::json& obj, const char* key, std::string* out,
                  std::string_view prefix = {});
// "filter": an object (judged later by the collection) or null/absent (no filter).
Status ReadFilter(const nlohmann::json& obj, std::optional<nlohmann::json>* out);

}  // namespace sextant::codec
