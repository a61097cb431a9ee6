#include "codec/query_json.h"

#include <chrono>
#include <string>

#include "codec/fields.h"
#include "codec/point_json.h"

namespace sextant::codec {

using nlohmann::json;

Status CheckQueryVector(const std::vector<float>& vector, const QueryLimits& limits) {
  if (vector.empty()) return Status::InvalidArgument("field 'vector' is empty");
  if (vector.size() > limits.max_dimension) {
    return Status::OutOfRange("field 'vector' has " + std::to_string(vector.size()) +
                              " dimensions, the limit is " + std::to_string(limits.max_dimension));
  }
  return Status::OK();
}

Result<QueryRequest> QueryFromJson(const json& j, const QueryDefaults& defaults, const QueryLimits& limits) {
  if (!j.is_object()) return Status::InvalidArgument("a query must be a JSON object");
  SEXTANT_RETURN_IF_ERROR(OnlyFields(j, {"vector", "text", "k", "ef", "nprobe", "rerank", "filter", "fusion",
                                         "alpha", "rrf_k", "vector_weight", "text_weight", "explain", "include",
                                         "timeout_ms", "mode"}));
  if (!j.contains("vector") && !j.contains("text")) {
    return Status::InvalidArgument("a query needs 'vector', 'text' or both");
  }
  QueryRequest q;
  q.k = defaults.k;
  q.ef = defaults.ef;
  q.nprobe = defaults.nprobe;
  q.rerank = defaults.rerank;
  q.include_document = defaults.include_document;
  q.include_metadata = defaults.include_metadata;
  q.include_vector = defaults.include_vector;
  if (auto it = j.find("vector"); it != j.end()) {
    SEXTANT_ASSIGN_OR_RETURN(q.vector, VectorFromJson(*it, "vector"));
    SEXTANT_RETURN_IF_ERROR(CheckQueryVector(q.vector, limits));
  }
  if (j.contains("text")) {
    std::string text;
    SEXTANT_RETURN_IF_ERROR(ReadString(j, "text", &text));
    q.text = std::move(text);
  }
  if (j.contains("mode")) {
    std::string mode;
    SEXTANT_RETURN_IF_ERROR(ReadString(j, "mode", &mode));
    auto m = QueryModeFromString(mode);
    if (!m.ok()) return m.status().WithContext("field 'mode'");
    q.mode = *m;
  }
  SEXTANT_RETURN_IF_ERROR(ReadUint(j, "k", 1, limits.max_k, &q.k));
  SEXTANT_RETURN_IF_ERROR(ReadUint(j, "ef", 1, kMaxEf, &q.ef));
  SEXTANT_RETURN_IF_ERROR(ReadUint(j, "nprobe", 1, kMaxNprobe, &q.nprobe));
  if (j.contains("rerank")) {
    size_t rerank = 0;
    SEXTANT_RETURN_IF_ERROR(ReadUint(j, "rerank", 0, limits.max_k * kRerankPerK, &rerank));
    q.rerank = rerank;
  }
  SEXTANT_RETURN_IF_ERROR(ReadFilter(j, &q.filter));
  SEXTANT_RETURN_IF_ERROR(ReadString(j, "fusion", &q.fusion));
  if (j.contains("alpha")) {
    double alpha = 0;
    SEXTANT_RETURN_IF_ERROR(ReadNumber(j, "alpha", &alpha));
    q.alpha = alpha;
  }
  SEXTANT_RETURN_IF_ERROR(ReadNumber(j, "rrf_k", &q.rrf_k));
  // Weights and alpha are judged by the collection (text::Fuse), as for the embedded API.
  SEXTANT_RETURN_IF_ERROR(ReadNumber(j, "vector_weight", &q.vector_weight));
  SEXTANT_RETURN_IF_ERROR(ReadNumber(j, "text_weight", &q.text_weight));
  SEXTANT_RETURN_IF_ERROR(ReadBool(j, "explain", &q.explain));
  if (j.contains("timeout_ms")) {
    size_t ms = 0;
    SEXTANT_RETURN_IF_ERROR(ReadUint(j, "timeout_ms", 1, kMaxTimeoutMs, &ms));
    q.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  }
  if (auto it = j.find("include"); it != j.end()) {
    if (!it->is_array()) {
      return Status::InvalidArgument("field 'include' must be an array of \"document\", \"metadata\", \"vector\"");
    }
    q.include_document = q.include_metadata = q.include_vector = false;
    for (const json& f : *it) {
      if (f == "document") q.include_document = true;
      else if (f == "metadata") q.include_metadata = true;
      else if (f == "vector") q.include_vector = true;
      else {
        return Status::InvalidArgument("field 'include': unknown entry " + f.dump().substr(0, 80) +
                                       " (expected document, metadata, vector)");
      }
    }
  }
  return q;
}

json TextStatsToJson(const TextStats& stats) {
  return {{"documents", stats.documents},
          {"total_length", stats.total_length},
          {"document_frequency", stats.document_frequency}};
}

Result<TextStats> TextStatsFromJson(const json& j) {
  const Status bad = Status::InvalidArgument(
      "text statistics must be {\"documents\": N, \"total_length\": N, \"document_frequency\": {term: N}}");
  if (!j.is_object() || j.size() != 3) return bad;
  auto documents = j.find("documents"), total = j.find("total_length"), df = j.find("document_frequency");
  if (documents == j.end() || !documents->is_number_unsigned() || total == j.end() || !total->is_number_unsigned() ||
      df == j.end() || !df->is_object()) {
    return bad;
  }
  TextStats stats;
  stats.documents = documents->get<uint64_t>();
  stats.total_length = total->get<uint64_t>();
  for (const auto& [term, n] : df->items()) {
    if (!n.is_number_unsigned()) return bad;
    stats.document_frequency[term] = n.get<uint64_t>();
  }
  return stats;
}

}  // namespace sextant::codec
