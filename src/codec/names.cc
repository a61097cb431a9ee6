// The names of the public enums (include/sextant/database.h): part of every JSON form of a
// collection's settings, so they live with the codec that writes and reads those forms.
#include <string>
#include <utility>

#include "sextant/database.h"

namespace sextant {

const char* MetricToString(Metric m) {
  switch (m) {
    case Metric::kL2: return "l2";
    case Metric::kInnerProduct: return "ip";
    case Metric::kCosine: return "cosine";
  }
  return "unknown";
}

Result<Metric> MetricFromString(const std::string& s) {
  if (s == "l2" || s == "euclidean") return Metric::kL2;
  if (s == "ip" || s == "dot" || s == "inner_product") return Metric::kInnerProduct;
  if (s == "cosine") return Metric::kCosine;
  return Status::InvalidArgument("unknown metric '" + s + "' (expected l2, ip or cosine)");
}

namespace {
constexpr std::pair<IndexType, const char*> kIndexNames[] = {
    {IndexType::kHnsw, "hnsw"},     {IndexType::kFlat, "flat"}, {IndexType::kIvfFlat, "ivf-flat"},
    {IndexType::kIvfPq, "ivf-pq"},  {IndexType::kPq, "pq"},     {IndexType::kSq8, "sq8"},
    {IndexType::kHnswSq8, "hnsw-sq8"}};
}  // namespace

const char* IndexTypeToString(IndexType t) {
  for (const auto& [type, name] : kIndexNames) {
    if (type == t) return name;
  }
  return "hnsw";
}

Result<IndexType> IndexTypeFromString(const std::string& s) {
  std::string known;
  for (const auto& [type, name] : kIndexNames) {
    if (s == name) return type;
    known += known.empty() ? name : std::string(", ") + name;
  }
  return Status::InvalidArgument("unknown index '" + s + "' (expected one of " + known + ")");
}

const char* QueryModeToString(QueryMode m) {
  switch (m) {
    case QueryMode::kAuto: return "auto";
    case QueryMode::kSemantic: return "semantic";
    case QueryMode::kKeyword: return "keyword";
    case QueryMode::kHybrid: return "hybrid";
  }
  return "auto";
}

Result<QueryMode> QueryModeFromString(const std::string& s) {
  if (s == "auto") return QueryMode::kAuto;
  if (s == "semantic") return QueryMode::kSemantic;
  if (s == "keyword") return QueryMode::kKeyword;
  if (s == "hybrid") return QueryMode::kHybrid;
  return Status::InvalidArgument("unknown mode '" + s + "' (expected semantic, keyword, hybrid or auto)");
}

}  // namespace sextant
