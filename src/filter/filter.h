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

#include <compare>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sextant/status.h"

namespace sextant::filter {

// Nesting limit of filter objects ($and/$or/$not levels); deeper filters are rejected so
// that recursion over a parsed filter stays shallow.
inline constexpr int kMaxFilterDepth = 32;

// A JSON number compared by its exact value. Integers keep all their 64 bits (as the JSON
// parser holds them: int64 or uint64), so ids and nanosecond timestamps above 2^53 compare
// correctly; an integer and a double compare exactly (1 == 1.0, 2^53 + 1 > 9007199254740992.0).
// NaN (only from a json built in code) is unordered with everything.
class Number {
 public:
  Number() = default;
  static Number Int(int64_t v);
  static Number Uint(uint64_t v);
  static Number Double(double v);
  // Precondition: j.is_number().
  static Number FromJson(const nlohmann::json& j);

  bool is_nan() const;
  bool is_finite() const;
  // Integers as integers; an integral double below 2^53 also prints as an integer ("3").
  nlohmann::json ToJson() const;
  // less / equivalent / greater by exact value; unordered when either is NaN.
  std::partial_ordering Compare(const Number& other) const;
  // A strict weak order on non-NaN numbers (map keys never hold NaN).
  friend bool operator<(const Number& a, const Number& b) { return a.Compare(b) < 0; }
  friend bool operator==(const Number& a, const Number& b) { return a.Compare(b) == 0; }

 private:
  enum class Kind : uint8_t { kInt, kUint, kDouble };
  Kind kind_ = Kind::kInt;
  int64_t i_ = 0;
  uint64_t u_ = 0;
  double d_ = 0;
};

// A value a filter compares against: a boolean, a number (exact, see Number) or a string
// (compared bytewise).
using Scalar = std::variant<bool, Number, std::string>;

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
