// PayloadIndex: inverted indexes over the top-level metadata fields of a collection, used to
// answer a Filter with bitmap algebra instead of scanning every point.
//
// Every top-level field is indexed (no schema to declare): per field, a bitmap of the ids that
// have it at all, a bitmap of the ids whose value is an array, string values -> ids (sorted,
// so string ranges work), numbers -> ids (std::map<Number, ...>: exact equality and ranges), and a
// bitmap for each boolean. Array values index each scalar element. Evaluate() gives exactly
// the ids Filter::Matches would accept, or nullopt for a filter that names a dotted path
// ("a.b"), which the caller then answers by scanning with Matches. docs/filters.md has the
// operator-by-operator plan.
// Thread-safety: const methods may run concurrently; Insert/Erase need exclusive access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include "filter/filter.h"
#include "filter/roaring.h"

// Declaring the namespace (a no-op where it exists) and importing it makes plain `Roaring`
// name whichever class this CRoaring version has, even without the CMake definition.
namespace roaring {}
namespace sextant::filter {
namespace roaring_compat {
using namespace ::roaring;  // NOLINT(build/namespaces): version-independent lookup
using Bitmap = Roaring;
}  // namespace roaring_compat

// A compressed set of point ids: roaring::Roaring (::Roaring in CRoaring 0.2.x).
using Bitmap = roaring_compat::Bitmap;

class PayloadIndex {
 public:
  // An empty index. Movable; not copyable (it can be large, copies would be accidental).
  PayloadIndex() = default;
  PayloadIndex(PayloadIndex&&) = default;
  PayloadIndex& operator=(PayloadIndex&&) = default;
  PayloadIndex(const PayloadIndex&) = delete;
  PayloadIndex& operator=(const PayloadIndex&) = delete;

  // Indexes the top-level fields of `metadata` for point `id`. Metadata that is not an
  // object indexes nothing (the point has no fields). Keys containing '.' are skipped: a
  // filter path "a.b" means a nested field, never a key with a dot. Precondition: `id` is
  // not currently indexed (Erase it first to replace its metadata).
  void Insert(uint32_t id, const nlohmann::json& metadata);

  // Removes point `id`, whose indexed metadata was `metadata` (the same value given to
  // Insert). Bitmaps and fields left empty are freed, so insert/erase cycles do not grow
  // memory. Erasing an id that was not inserted with this metadata is a no-op for the parts
  // that do not match.
  void Erase(uint32_t id, const nlohmann::json& metadata);

  // The ids in `universe` whose metadata matches `filter` (exactly those for which
  // filter.Matches(metadata) is true; ids never inserted count as having no fields), or
  // nullopt when the filter names a field path the index cannot answer (a dotted path into
  // nested objects); the caller then scans with Filter::Matches.
  std::optional<Bitmap> Evaluate(const Filter& filter, const Bitmap& universe) const;

  // Whether Evaluate can answer `filter` (no dotted paths). Cheap.
  static bool CanAnswer(const Filter& filter);

  // A cheap estimate of how many of `universe_size` points match, from bitmap
  // cardinalities only (nothing materialized), for choosing a query plan. Exact for a single
  // $eq or $exists when the universe is all indexed points; $in, ranges and $contains sum
  // per-value counts (capped by the points having the field); And = min, Or = capped sum,
  // Not and $ne/$nin = complement. Never above `universe_size`. nullopt where Evaluate would
  // return nullopt.
  std::optional<uint64_t> EstimateCount(const Filter& filter, uint64_t universe_size) const;

  // Number of points having top-level field `field` (0 if none).
  uint64_t FieldCount(std::string_view field) const;

  // Number of distinct top-level fields currently indexed.
  size_t NumFields() const { return fields_.size(); }

  // Approximate heap bytes held: map nodes, keys and the bitmaps' compressed contents.
  // 0 for an empty index.
  size_t MemoryUsage() const;

 private:
  struct FieldIndex {
    Bitmap present;  // ids having the field, whatever its type (null and objects too)
    Bitmap arrays;   // ids whose value is an array (for $contains)
    std::map<std::string, Bitmap, std::less<>> strings;
    std::map<Number, Bitmap> numbers;  // exact values (1 and 1.0 share a key); never NaN
    Bitmap trues;
    Bitmap falses;
  };

  // The ids whose field value (or some array element) satisfies the positive form of the
  // leaf: $eq/$ne -> equality, $in/$nin -> membership, ranges, $contains.
  Bitmap Positive(const FieldIndex& field, const FilterNode& leaf) const;
  Bitmap EvalNode(const FilterNode& node, const Bitmap& universe) const;
  Bitmap EvalField(const FilterNode& leaf, const Bitmap& universe) const;
  uint64_t EstimateNode(const FilterNode& node, uint64_t universe_size) const;

  std::map<std::string, FieldIndex, std::less<>> fields_;
};

}  // namespace sextant::filter
