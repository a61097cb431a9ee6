#include "index/metric.h"

namespace sextant::index {

const char* MetricName(Metric m) {
  switch (m) {
    case Metric::kL2: return "l2";
    case Metric::kInnerProduct: return "ip";
    case Metric::kCosine: return "cosine";
    case Metric::kL1: return "l1";
  }
  return "unknown";
}

Result<Metric> ParseMetric(std::string_view name) {
  if (name == "l2" || name == "euclidean") return Metric::kL2;
  if (name == "ip" || name == "inner_product" || name == "dot") return Metric::kInnerProduct;
  if (name == "cosine") return Metric::kCosine;
  if (name == "l1" || name == "manhattan") return Metric::kL1;
  return Status::InvalidArgument("unknown metric '" + std::string(name) +
                                 "' (expected l2, ip, cosine or l1)");
}

const char* StorageTypeName(StorageType s) {
  switch (s) {
    case StorageType::kFloat32: return "f32";
    case StorageType::kFloat16: return "f16";
    case StorageType::kUint8: return "u8";
    case StorageType::kSq8: return "sq8";
    case StorageType::kSq8F32: return "sq8-f32";
  }
  return "unknown";
}

Result<StorageType> ParseStorageType(std::string_view name) {
  if (name == "f32" || name == "float32") return StorageType::kFloat32;
  if (name == "f16" || name == "float16") return StorageType::kFloat16;
  if (name == "u8" || name == "uint8") return StorageType::kUint8;
  if (name == "sq8") return StorageType::kSq8;
  if (name == "sq8-f32") return StorageType::kSq8F32;
  return Status::InvalidArgument("unknown storage type '" + std::string(name) +
                                 "' (expected f32, f16, u8, sq8 or sq8-f32)");
}

}  // namespace sextant::index
