// The rules a point and a query must meet before they reach the log or an index, with messages
// that name the point and the field. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/point_ref.h"
#include "sextant/database.h"

namespace sextant::engine {

// Offset of the first byte that breaks UTF-8, or npos.
size_t InvalidUtf8At(std::string_view s);

// Vectors the indexes can hold: finite values whose squared length stays at most 1e37, so that
// every distance, inner product and norm between stored vectors is finite in float32; and for
// cosine a length of at least 1e-30, so that normalising does not divide by (almost) zero.
// InvalidArgument prefixed with `what`, which names the vector.
Status CheckVectorValues(std::span<const float> v, Metric metric, const std::string& what);

// A whole point for a collection of `dimension` and `metric`: id (1..1024 bytes of UTF-8 text
// without control characters), document (UTF-8), vector (CheckVectorValues; empty for a text-only
// collection) and flat metadata (scalars or arrays of scalars). Messages start with
// "point I (id '...')". With `embeds` (a collection with an embedding model) a point may leave
// the vector out if it has a document, which the model embeds.
Status ValidatePointAt(const PointRef& p, size_t dimension, Metric metric, size_t i, bool embeds = false);
inline Status ValidatePointAt(const Point& p, size_t dimension, Metric metric, size_t i, bool embeds = false) {
  return ValidatePointAt(RefOf(p), dimension, metric, i, embeds);
}

}  // namespace sextant::engine
