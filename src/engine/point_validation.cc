// What a point and a query vector must be before they reach the log or an index: ids, documents,
// vectors and metadata checked with messages naming the point and the field. The one place these
// rules live (the CLI and the server call sextant::ValidatePoint, which is this).
#include "engine/point_validation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "index/vector_codec.h"

namespace sextant::engine {
namespace {

constexpr size_t kMaxIdBytes = 1024;

// Ids are UTF-8 text without control characters (U+0000..U+001F, U+007F): they appear in
// URLs, JSON lines and logs, where a NUL or a newline cannot be addressed or shown.
template <typename Where>
Status CheckId(std::string_view id, const Where& where) {
  if (const size_t at = InvalidUtf8At(id); at != std::string_view::npos) {
    return Status::InvalidArgument(where() + ": id is not valid UTF-8 at byte " + std::to_string(at));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    const auto c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02x", c);
      return Status::InvalidArgument(where() + ": id has control character " + std::string(buf) + " at byte " +
                                     std::to_string(i) + " (ids are UTF-8 text without control characters)");
    }
  }
  return Status::OK();
}

bool IsScalar(const nlohmann::json& v) { return v.is_string() || v.is_number() || v.is_boolean(); }

}  // namespace

size_t InvalidUtf8At(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size() || (n == 2 && c < 0xc2)) return i;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
      return i;
    }
    i += n;
  }
  return std::string_view::npos;
}

// Vectors the indexes can hold: finite values whose squared length stays at most 1e37, so that
// every distance between two stored vectors (|a-b|^2 <= 4 max(|a|^2, |b|^2)), every inner
// product and every norm is finite in float32; and for cosine a length of at least 1e-30, so
// that normalising does not divide by zero or a denormal. `what` names the vector.
constexpr double kMaxSquaredNorm = 1e37;
constexpr double kMinCosineNorm = 1e-30;

namespace {
// The squared length in double: NaN or Inf when a value is (a float's square cannot overflow a
// double, nor can 65,536 of them). Four sums, so the loop is not one long chain of additions.
double SquaredLength(std::span<const float> v) {
  double s[4] = {0, 0, 0, 0};
  size_t d = 0;
  for (; d + 4 <= v.size(); d += 4) {
    for (size_t k = 0; k < 4; ++k) s[k] += static_cast<double>(v[d + k]) * v[d + k];
  }
  for (; d < v.size(); ++d) s[0] += static_cast<double>(v[d]) * v[d];
  return (s[0] + s[1]) + (s[2] + s[3]);
}
}  // namespace

Status CheckVectorValues(std::span<const float> v, Metric metric, const std::string& what) {
  // The common case in one pass; a vector that fails is looked at again below for the message.
  if (const double sq = SquaredLength(v); std::isfinite(sq) && sq <= kMaxSquaredNorm &&
                                          (metric != Metric::kCosine || v.empty() || std::sqrt(sq) >= kMinCosineNorm)) {
    return Status::OK();
  }
  double squared = 0;
  size_t largest = 0;
  for (size_t d = 0; d < v.size(); ++d) {
    if (!std::isfinite(v[d])) {
      return Status::InvalidArgument(what + ": vector value " + index::DescribeValue(v[d]) + " at dimension " +
                                     std::to_string(d) + " (must be finite)");
    }
    squared += static_cast<double>(v[d]) * v[d];
    if (std::abs(v[d]) > std::abs(v[largest])) largest = d;
  }
  if (squared > kMaxSquaredNorm) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v[largest]));
    return Status::InvalidArgument(what + ": vector value " + buf + " at dimension " + std::to_string(largest) +
                                   " is too large (the squared length must stay below 1e37, or "
                                   "distances overflow float32)");
  }
  if (metric == Metric::kCosine && !v.empty() && std::sqrt(squared) < kMinCosineNorm) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", std::sqrt(squared));
    return Status::InvalidArgument(what + ": vector has length " + buf +
                                   "; a cosine collection needs a length of at least 1e-30 to normalise it");
  }
  return Status::OK();
}

Status ValidatePointAt(const PointRef& p, size_t dimension, Metric metric, size_t i, bool embeds) {
  // The names are built only for a message: this runs once per point of every batch.
  auto where = [i] { return "point " + std::to_string(i); };
  auto named = [&] { return where() + " (id '" + std::string(p.id) + "')"; };
  if (p.id.empty()) return Status::InvalidArgument(where() + ": id is empty");
  if (p.id.size() > kMaxIdBytes) {
    return Status::InvalidArgument(where() + ": id is longer than " + std::to_string(kMaxIdBytes) +
                                   " bytes");
  }
  SEXTANT_RETURN_IF_ERROR(CheckId(p.id, where));
  if (dimension == 0 && !p.vector.empty()) {
    return Status::InvalidArgument(named() + ": this collection is text-only (dimension 0); omit the vector");
  }
  if (p.document) {
    if (const size_t at = InvalidUtf8At(*p.document); at != std::string_view::npos) {
      return Status::InvalidArgument(named() + ": document is not valid UTF-8 at byte " + std::to_string(at));
    }
  }
  if (embeds && p.vector.empty()) {
    // The collection's model gives the vector, from the document.
    if (!p.document) return Status::InvalidArgument(named() + ": no vector and no document to embed");
  } else {
    if (p.vector.size() != dimension) {
      return Status::InvalidArgument(named() + ": vector has dimension " + std::to_string(p.vector.size()) +
                                     ", collection has " + std::to_string(dimension));
    }
    Status st = CheckVectorValues(p.vector, metric, "");
    if (!st.ok()) return Status::InvalidArgument(named() + st.message());
  }
  const nlohmann::json& metadata = *p.metadata;
  if (!metadata.is_object()) {
    return Status::InvalidArgument(named() + ": metadata must be a JSON object");
  }
  for (const auto& [key, value] : metadata.items()) {
    if (key.empty()) return Status::InvalidArgument(named() + ": metadata has an empty field name");
    bool ok = IsScalar(value);
    if (value.is_array()) {
      ok = std::all_of(value.begin(), value.end(), [](const auto& e) { return IsScalar(e); });
    }
    if (!ok) {
      return Status::InvalidArgument(named() + ": metadata field '" + key +
                                     "' must be a string, number, boolean or an array of these");
    }
  }
  return Status::OK();
}

}  // namespace sextant::engine

namespace sextant {
namespace {
// The engine's rules without the "point 0 (id '...'): " prefix: the caller names the point its
// own way.
Status ValidateUnnamed(const Point& point, size_t dimension, Metric metric, bool embeds) {
  Status st = engine::ValidatePointAt(point, dimension, metric, 0, embeds);
  if (st.ok()) return st;
  const std::string& m = st.message();
  const size_t colon = m.find(": ");
  return Status(st.code(), colon == std::string::npos ? m : m.substr(colon + 2));
}
}  // namespace

Status ValidatePoint(const Point& point, size_t dimension, Metric metric) {
  return ValidateUnnamed(point, dimension, metric, /*embeds=*/false);
}

Status ValidatePoint(const Point& point, const CollectionConfig& config) {
  return ValidateUnnamed(point, config.dimension, config.metric, config.embedding.has_value());
}

}  // namespace sextant
