#include "codec/fields.h"

namespace sextant::codec {

using nlohmann::json;

std::string FieldName(std::string_view prefix, std::string_view key) {
  std::string name(prefix);
  if (!name.empty()) name += '.';
  name += key;
  return name;
}

Status CheckKeys(const json& j, std::initializer_list<const char*> allowed, std::string_view where) {
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) return Status::InvalidArgument("unknown key '" + key.substr(0, 80) + "' in " + std::string(where));
  }
  return Status::OK();
}

Status OnlyFields(const json& obj, std::initializer_list<const char*> allowed, std::string_view prefix) {
  if (!obj.is_object()) {
    return Status::InvalidArgument(prefix.empty() ? "the request body must be a JSON object"
                                                  : "field '" + std::string(prefix) + "' must be an object");
  }
  for (const auto& [key, value] : obj.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (known) continue;
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    Status st = Status::InvalidArgument("unknown field '" + key.substr(0, 80) + "' (expected " + list + ")");
    return prefix.empty() ? st : st.WithContext("field '" + std::string(prefix) + "'");
  }
  return Status::OK();
}

Status ReadUint(const json& obj, const char* key, size_t lo, size_t hi, size_t* out, std::string_view prefix) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::OK();
  const std::string name = "field '" + FieldName(prefix, key) + "' must be ";
  const char* kind = lo == 0 ? "a non-negative integer" : lo == 1 ? "a positive integer" : "an integer";
  if (!it->is_number_integer() || (!it->is_number_unsigned() && it->get<int64_t>() < 0)) {
    return Status::InvalidArgument(name + kind);
  }
  const uint64_t x = it->get<uint64_t>();
  if (x < lo || x > hi) {
    std::string range = lo > 1 ? "between " + std::to_string(lo) + " and " + std::to_string(hi)
                               : std::string(kind) + " no larger than " + std::to_string(hi);
    if (hi == kNoLimit) range = "at least " + std::to_string(lo);
    return Status::OutOfRange(name + range + ", got " + std::to_string(x));
  }
  *out = static_cast<size_t>(x);
  return Status::OK();
}

Status ReadNumber(const json& obj, const char* key, double* out, std::string_view prefix) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::OK();
  if (!it->is_number()) return Status::InvalidArgument("field '" + FieldName(prefix, key) + "' must be a number");
  *out = it->get<double>();
  return Status::OK();
}

Status ReadBool(const json& obj, const char* key, bool* out, std::string_view prefix) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::OK();
  if (!it->is_boolean()) {
    return Status::InvalidArgument("field '" + FieldName(prefix, key) + "' must be true or false");
  }
  *out = it->get<bool>();
  return Status::OK();
}

Status ReadString(const json& obj, const char* key, std::string* out, std::string_view prefix) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::OK();
  if (!it->is_string()) return Status::InvalidArgument("field '" + FieldName(prefix, key) + "' must be a string");
  *out = it->get<std::string>();
  return Status::OK();
}

Status ReadFilter(const json& obj, std::optional<json>* out) {
  auto it = obj.find("filter");
  if (it == obj.end() || it->is_null()) return Status::OK();
  if (!it->is_object()) return Status::InvalidArgument("field 'filter' must be an object");
  *out = *it;
  return Status::OK();
}

}  // namespace sextant::codec
