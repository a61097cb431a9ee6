// Distance metrics and storage types understood by every vector index.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sextant/status.h"

namespace sextant::index {

// Every index ranks by a distance where smaller is closer:
//   kL2:           squared Euclidean distance.
//   kInnerProduct: 1 - a.b (for maximum inner product search; may be negative).
//   kCosine:       1 - cos(a, b); vectors are normalised when they are stored.
//   kL1:           sum of absolute differences (flat index only).
enum class Metric : uint32_t { kL2 = 0, kInnerProduct = 1, kCosine = 2, kL1 = 3 };

// How an index stores vectors.
//   kFloat32: exact.
//   kFloat16: half precision (2 bytes/dim); distances are approximate, exact re-ranking
//             is not possible without the float32 originals.
//   kUint8:   for vectors whose every value is an integer in [0, 255] (uint8 embeddings,
//             image descriptors such as .bvecs files): stored losslessly in one byte per
//             dimension and compared with exact integer arithmetic. Inserting any other
//             value is an error.
//   kSq8:     scalar quantization: one byte per dimension, value = lower[d] + step[d] * byte,
//             with lower/step trained per dimension from the data's min/max
//             (VectorCodec::TrainSq8 / CreateSq8). Lossy; values outside the trained range are
//             clamped.
//   kSq8F32:  HNSW only, the default for float vectors: both an SQ8 code (the graph is built
//             and walked on it) and the exact float32 vector, held losslessly in three bytes
//             per value beside the code (ExactStore; the final candidates are ranked by exact
//             distances from it, and it is what GetVector returns). The SQ8
//             parameters are learned from the first points added (again while the index is
//             small and doubles), so no training step is needed.
enum class StorageType : uint32_t { kFloat32 = 0, kFloat16 = 1, kUint8 = 2, kSq8 = 3, kSq8F32 = 4 };

// "l2", "ip", "cosine", "l1". Parse accepts these and "euclidean", "inner_product", "dot".
const char* MetricName(Metric m);
Result<Metric> ParseMetric(std::string_view name);

// "f32", "f16", "u8", "sq8", "sq8-f32". Parse also accepts "float32", "float16", "uint8".
const char* StorageTypeName(StorageType s);
Result<StorageType> ParseStorageType(std::string_view name);

}  // namespace sextant::index
