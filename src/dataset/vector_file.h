// Readers and writers for the vector file formats ANN benchmarks use:
//   .fvecs / .bvecs / .ivecs (TEXMEX: per row an int32 dimension, then that many
//   float32 / uint8 / int32 values) and .npy (NumPy v1/v2/v3, C order, 2-D;
//   dtypes float32, float64, uint8, int8, int32, int64).
// Every error names the file and what is wrong with it (bad extension, truncated row,
// inconsistent dimension at row i, unsupported dtype, ...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "sextant/status.h"

namespace sextant::dataset {

// The element type the file stored (before conversion to float).
enum class ElementType { kFloat32, kFloat64, kUint8, kInt8, kInt32, kInt64 };
const char* ElementTypeName(ElementType t);

// A dense row-major float32 matrix read from a file.
struct FloatMatrix {
  size_t rows = 0;
  size_t dim = 0;
  ElementType source_type = ElementType::kFloat32;
  std::vector<float> data;  // rows * dim values
  const float* row(size_t i) const { return data.data() + i * dim; }
};

// A dense row-major int32 matrix (ground-truth neighbour ids).
struct IdMatrix {
  size_t rows = 0;
  size_t dim = 0;
  std::vector<int32_t> data;
  const int32_t* row(size_t i) const { return data.data() + i * dim; }
};

inline constexpr size_t kAllRows = std::numeric_limits<size_t>::max();
// Largest dimension a file may declare; anything above is reported as a malformed file.
inline constexpr size_t kMaxFileDim = 1 << 20;

// Reads vectors from .fvecs, .bvecs or .npy (any supported numeric dtype), converting to
// float32. Reads at most `max_rows` rows. Errors: NotFound, InvalidArgument (unknown
// extension, malformed or truncated file, inconsistent dimensions, zero rows).
Result<FloatMatrix> ReadVectors(const std::string& path, size_t max_rows = kAllRows);

// Reads ids from .ivecs or .npy (int32 or int64 that fit in int32). Same errors.
Result<IdMatrix> ReadIds(const std::string& path, size_t max_rows = kAllRows);

// Returns InvalidArgument naming the first row and column holding NaN or +-Inf.
Status CheckFinite(const FloatMatrix& m, const std::string& what);

// Writers, for tests and generated data sets.
Status WriteFvecs(const std::string& path, const FloatMatrix& m);
Status WriteIvecs(const std::string& path, const IdMatrix& m);

// Generates `n` vectors of dimension `dim` from `clusters` Gaussian clusters (centres uniform
// in [-1,1]^dim, spread `sigma`), deterministic for a given seed. Used by the demo and the
// scaling benchmark when real data is absent.
FloatMatrix GenerateClustered(size_t n, size_t dim, size_t clusters, float sigma, uint64_t seed);

}  // namespace sextant::dataset
