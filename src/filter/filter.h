// Filter: a parsed metadata filter (Mongo/Chroma style) and its brute-force evaluator.
//
// A filter is a JSON object such as
//   {"genre": "jazz", "year": {"$gte": 1950, "$lt": 1970}, "$or": [{"tags": "live"}, ...]}
// Parse() validates it once and turns it into a small tree (FilterNode); Matches() walks
// the tree over one point's metadata. Matches is deliberately plain code: it is the
// reference that PayloadIndex::Evaluate is tested against. The language and its semantics
// are described in docs/filters.md.
// Thread-safety: a Filter is an immutable value after Parse; share it freely between threads.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sextant/status.h"

namespace sextant::filter {

// Nesting limit of filter objects ($and/$or/$not levels); deeper filters are rejected so
// that recursion over a parsed filter stays shallow.
inline constexpr int kMaxFilterDepth = 32;

// A value a filter compares against: a boolean, a number (every JSON number is compared
// as a double, so 1 == 1.0) or a string (compared bytewise).
using Scalar = std::variant<bool, double, std::string>;

// Field operators. $ne and $nin are kept (not rewritten as $not) so that ToString shows
// what the user wrote; their meaning is exactly "not $eq" / "not $in".
enum class FieldOp { kEq, kNe, kGt, kGte, kLt, kLte, kIn, kNin, kExists, kContains };

// Returns the operator's spelling in the filter language ("$gte").
const char* FieldOpName(FieldOp op);

// One node of a parsed filter. Read-only view for planners and indexes (PayloadIndex).
struct FilterNode {
  enum class Kind {
    kAll,    // matches every point: the empty filter {}
    kAnd,    // all children match (at least one child)
    kOr,     // some child matches (at least one child)
    kNot,    // the single child does not match
    kField,  // a comparison on one field path
  };
  Kind kind = Kind::kAll;
  std::vector<FilterNode> children;  // kAnd, kOr: >= 1; kNot: exactly 1; else empty.

  // kField only.
  std::string path;                   // as written: "price" or "a.b"
  std::vector<std::string> segments;  // path split at '.', none empty
  FieldOp op = FieldOp::kEq;
  std::vector<Scalar> values;  // $in/$nin: the list (maybe empty); $exists: none; else one
  bool exists = true;          // $exists: whether the field must be present
};

class Filter {
 public:
  // A filter that matches everything (same as Parse({})).
  Filter() = default;

  // Validates `j` and builds the filter. Never throws.
  // Errors: InvalidArgument naming the problem and where it is, e.g.
  //   "unknown filter operator '$foo' at 'price'",
  //   "$gt at 'price' needs a number or string, got boolean".
  static Result<Filter> Parse(const nlohmann::json& j);

  // Whether a point with this metadata passes. Metadata that is not a JSON object has no
  // fields. Total: never throws or fails, whatever the metadata holds.
  bool Matches(const nlohmann::json& metadata) const;

  // A canonical JSON rendering; Parse(json::parse(ToString())) gives an equivalent filter.
  // Field-level {"f": {"$not": {...}}} is shown as {"$not": {"f": {...}}}, several keys as
  // an explicit $and.
  std::string ToString() const;

  // The distinct field paths the filter names, sorted ("a.b", "price").
  std::vector<std::string> Fields() const;

  // The parsed tree.
  const FilterNode& root() const { return root_; }

 private:
  explicit Filter(FilterNode root) : root_(std::move(root)) {}

  FilterNode root_;
};

}  // namespace sextant::filter
