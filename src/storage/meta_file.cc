#include "storage/meta_file.h"

#include "common/json.h"

namespace sextant::storage {

Status WriteMetaFile(Env* env, const std::string& path, const std::string& format, int version,
                     const nlohmann::json& fields, bool pretty) {
  if (!fields.is_object()) return Status::Internal(path + ": metadata must be a JSON object");
  nlohmann::json j = fields;
  j["format"] = format;
  j["version"] = version;
  j["crc32c"] = JsonChecksum(j);
  return env->WriteFileAtomically(path, (pretty ? j.dump(2) : j.dump()) + "\n");
}

Result<MetaFile> ReadMetaFile(Env* env, const std::string& path, const std::string& format,
                              int max_version) {
  Result<std::string> text = env->ReadFile(path);
  if (!text.ok()) return text.status();
  auto parsed = ParseJson(*text);
  if (!parsed.ok()) return Status::Corruption(path + ": " + parsed.status().message());
  nlohmann::json j = std::move(parsed).value();
  auto bad = [&](const std::string& why) { return Status::Corruption(path + ": " + why); };
  if (!j.is_object()) return bad("not a JSON object");
  MetaFile out;
  const bool has_envelope = j.contains("format") || j.contains("version") || j.contains("crc32c");
  if (!has_envelope) {
    out.fields = std::move(j);
    return out;
  }
  if (!j.contains("crc32c") || !j["crc32c"].is_string()) return bad("no checksum (\"crc32c\")");
  const std::string stored = j["crc32c"].get<std::string>();
  j.erase("crc32c");
  if (JsonChecksum(j) != stored) return bad("checksum mismatch (the file was changed or damaged)");
  if (!j.contains("format") || !j["format"].is_string() || j["format"].get<std::string>() != format) {
    return bad("not a " + format + " file");
  }
  if (!j.contains("version") || !j["version"].is_number_unsigned()) return bad("no version");
  const uint64_t version = j["version"].get<uint64_t>();
  if (version < 1 || version > static_cast<uint64_t>(max_version)) {
    return bad("version " + std::to_string(version) + " is not supported (this build reads up to " +
               std::to_string(max_version) + "; written by a newer Sextant?)");
  }
  j.erase("format");
  j.erase("version");
  out.version = static_cast<int>(version);
  out.fields = std::move(j);
  return out;
}

}  // namespace sextant::storage
