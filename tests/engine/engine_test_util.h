// Helpers for the database tests: temporary directories and deterministic points.
#pragma once

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "sextant/database.h"

namespace sextant::testing {

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("sextant_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++)))
                .string();
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The vector of point number i: a deterministic function, so a reader can check any point.
inline std::vector<float> VectorFor(size_t i, size_t dim) {
  std::vector<float> v(dim);
  for (size_t d = 0; d < dim; ++d) v[d] = static_cast<float>(std::sin(0.37 * i + 1.3 * d) + 0.01 * d);
  return v;
}

inline Point PointFor(size_t i, size_t dim) {
  Point p;
  p.id = "p" + std::to_string(i);
  p.vector = VectorFor(i, dim);
  p.document = "document " + std::to_string(i);
  p.metadata = {{"n", static_cast<int64_t>(i)}, {"even", i % 2 == 0},
                {"tag", "t" + std::to_string(i % 7)}};
  return p;
}

inline std::vector<Point> PointsFor(size_t from, size_t count, size_t dim) {
  std::vector<Point> out;
  for (size_t i = from; i < from + count; ++i) out.push_back(PointFor(i, dim));
  return out;
}

}  // namespace sextant::testing
