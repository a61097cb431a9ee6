// The two parts of `sextant demo` (what `make run` shows).
#pragma once

#include <cstdint>
#include <string>

#include "sextant/status.h"

namespace sextant::cli {

// Documents in, meaning out (demo_text.cc): the built-in embedding model, the classic example,
// then semantic / keyword / hybrid side by side on SciFact (`scifact_dir`, BEIR layout) when
// present, else on the corpus this repository ships (demo/).
Status RunTextTour(const std::string& scifact_dir);

// Vectors (demo.cc): HNSW over Fashion-MNIST from `data_dir` (or generated vectors), checked
// against exact search, saved and reopened.
Status RunVectorTour(const std::string& data_dir, int64_t limit);

}  // namespace sextant::cli
