#include "filter/filter.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <utility>

namespace sextant::filter {
namespace {

using nlohmann::json;

// Error locations are written like the filter itself: "price", "$or[1].price", "price.$not".
std::string Join(const std::string& loc, const std::string& key) {
  return loc.empty() ? key : loc + "." + key;
}

std::string Where(const std::string& loc) {
  return loc.empty() ? std::string("top level") : "'" + loc + "'";
}

bool IsFieldOperator(const std::string& key) {
  static const char* const kOps[] = {"$eq", "$ne",  "$gt",     "$gte",     "$lt",
                                     "$lte", "$in", "$nin", "$exists", "$contains"};
  for (const char* op : kOps) {
    if (key == op) return true;
  }
  return false;
}

// Converts a filter operand to a Scalar. `what` names the operand in messages ("$gt at
// 'price'"); `ordered` restricts to the types that have an order (numbers, strings).
Result<Scalar> ToScalar(const json& j, bool ordered, const std::string& what) {
  if (j.is_number()) {
    const Number n = Number::FromJson(j);
    // JSON text cannot hold NaN/Inf, but a json built in code can; they would not survive
    // ToString (dumped as null), so they are refused here.
    if (!n.is_finite()) return Status::InvalidArgument(what + " needs a finite number");
    return Scalar(std::in_place_type<Number>, n);
  }
  if (j.is_string()) {
    return Scalar(std::in_place_type<std::string>, j.get_ref<const std::string&>());
  }
  if (j.is_boolean() && !ordered) return Scalar(std::in_place_type<bool>, j.get<bool>());
  std::string msg = what + " needs a " +
                    (ordered ? "number or string" : "string, number or boolean") + ", got " +
                    j.type_name();
  return Status::InvalidArgument(std::move(msg));
}

FilterNode MakeAnd(std::vector<FilterNode> parts) {
  if (parts.size() == 1) return std::move(parts[0]);
  FilterNode node;
  node.kind = parts.empty() ? FilterNode::Kind::kAll : FilterNode::Kind::kAnd;
  node.children = std::move(parts);
  return node;
}

FilterNode MakeNot(FilterNode child) {
  FilterNode node;
  node.kind = FilterNode::Kind::kNot;
  node.children.push_back(std::move(child));
  return node;
}

Status DepthError(const std::string& loc) {
  return Status::InvalidArgument("filter at " + Where(loc) + " is nested deeper than " +
                                 std::to_string(kMaxFilterDepth) + " levels");
}

// Parses the operator object of one field: {"$gt": 3, "$lt": 9} (several = AND).
Result<FilterNode> ParseFieldOps(const std::string& path, const std::vector<std::string>& segments,
                                 const json& ops, const std::string& loc, int depth) {
  if (depth > kMaxFilterDepth) return DepthError(loc);
  if (ops.empty()) return Status::InvalidArgument("empty operator object at '" + loc + "'");
  std::string first_op, first_plain;
  for (auto it = ops.begin(); it != ops.end(); ++it) {
    const std::string& key = it.key();
    std::string& first = (!key.empty() && key[0] == '$') ? first_op : first_plain;
    if (first.empty()) first = key.empty() ? std::string("\"\"") : key;
  }
  if (!first_op.empty() && !first_plain.empty()) {
    return Status::InvalidArgument("operator object at '" + loc +
                                   "' mixes operators and plain keys ('" + first_op + "' and '" +
                                   first_plain + "')");
  }
  if (first_op.empty()) {
    // Mongo would compare whole sub-documents here; we ask for the dotted path instead,
    // which is what users almost always mean.
    return Status::InvalidArgument("value at '" + loc +
                                   "' is an object without operators; use a dotted path such "
                                   "as '" + path + "." + first_plain + "' for nested fields");
  }

  std::vector<FilterNode> parts;
  for (auto it = ops.begin(); it != ops.end(); ++it) {
    const std::string& op = it.key();
    const json& arg = it.value();
    const std::string what = op + " at '" + loc + "'";
    FilterNode node;
    node.kind = FilterNode::Kind::kField;
    node.path = path;
    node.segments = segments;
    if (op == "$not") {
      if (!arg.is_object()) {
        return Status::InvalidArgument(what + " needs an operator object such as {\"$gt\": 5}, got " +
                                       arg.type_name());
      }
      SEXTANT_ASSIGN_OR_RETURN(FilterNode inner,
                               ParseFieldOps(path, segments, arg, Join(loc, "$not"), depth + 1));
      parts.push_back(MakeNot(std::move(inner)));
      continue;
    }
    if (op == "$eq" || op == "$ne" || op == "$contains") {
      node.op = op == "$eq" ? FieldOp::kEq : op == "$ne" ? FieldOp::kNe : FieldOp::kContains;
      SEXTANT_ASSIGN_OR_RETURN(Scalar s, ToScalar(arg, /*ordered=*/false, what));
      node.values.push_back(std::move(s));
    } else if (op == "$gt" || op == "$gte" || op == "$lt" || op == "$lte") {
      node.op = op == "$gt"    ? FieldOp::kGt
                : op == "$gte" ? FieldOp::kGte
                : op == "$lt"  ? FieldOp::kLt
                               : FieldOp::kLte;
      SEXTANT_ASSIGN_OR_RETURN(Scalar s, ToScalar(arg, /*ordered=*/true, what));
      node.values.push_back(std::move(s));
    } else if (op == "$in" || op == "$nin") {
      node.op = op == "$in" ? FieldOp::kIn : FieldOp::kNin;
      if (!arg.is_array()) {
        return Status::InvalidArgument(what + " needs an array, got " + arg.type_name());
      }
      for (size_t i = 0; i < arg.size(); ++i) {
        SEXTANT_ASSIGN_OR_RETURN(
            Scalar s, ToScalar(arg[i], /*ordered=*/false, what + " element " + std::to_string(i)));
        node.values.push_back(std::move(s));
      }
    } else if (op == "$exists") {
      if (!arg.is_boolean()) {
        return Status::InvalidArgument(what + " needs a boolean, got " + arg.type_name());
      }
      node.op = FieldOp::kExists;
      node.exists = arg.get<bool>();
    } else if (op == "$and" || op == "$or") {
      return Status::InvalidArgument("logical operator '" + op + "' at '" + loc +
                                     "' must be used at filter level, not inside a field");
    } else {
      return Status::InvalidArgument("unknown filter operator '" + op + "' at '" + loc + "'");
    }
    parts.push_back(std::move(node));
  }
  return MakeAnd(std::move(parts));
}

// Parses `"key": value` of a filter object, where key is a field path.
Result<FilterNode> ParseField(const std::string& key, const json& value, const std::string& loc,
                              int depth) {
  std::vector<std::string> segments;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    segments.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (segments.back().empty()) {
      return Status::InvalidArgument("field path '" + key + "' has an empty segment" +
                                     (loc == key ? std::string() : " at '" + loc + "'"));
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (value.is_object()) return ParseFieldOps(key, segments, value, loc, depth);

  std::string what = "value at '" + loc + "'";
  auto scalar = ToScalar(value, /*ordered=*/false, what);
  if (!scalar.ok()) {
    std::string msg = scalar.status().message();
    if (value.is_array()) msg += " (use $in to match any of several values)";
    if (value.is_null()) msg += " (use $exists to test for a missing field)";
    return Status::InvalidArgument(std::move(msg));
  }
  FilterNode node;
  node.kind = FilterNode::Kind::kField;
  node.path = key;
  node.segments = std::move(segments);
  node.op = FieldOp::kEq;
  node.values.push_back(std::move(scalar).value());
  return node;
}

// Parses a filter object; `loc` is where it sits in the whole filter ("" for the root).
Result<FilterNode> ParseFilter(const json& j, const std::string& loc, int depth) {
  if (depth > kMaxFilterDepth) return DepthError(loc);
  if (!j.is_object()) {
    return Status::InvalidArgument(
        (loc.empty() ? std::string("filter") : "filter at '" + loc + "'") +
        " must be a JSON object, got " + j.type_name());
  }
  std::vector<FilterNode> parts;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const json& value = it.value();
    if (key.empty()) return Status::InvalidArgument("empty field name at " + Where(loc));
    if (key[0] != '$') {
      SEXTANT_ASSIGN_OR_RETURN(FilterNode field, ParseField(key, value, Join(loc, key), depth));
      parts.push_back(std::move(field));
    } else if (key == "$and" || key == "$or") {
      if (!value.is_array() || value.empty()) {
        return Status::InvalidArgument(key + " at " + Where(loc) +
                                       " needs a non-empty array of filter objects, got " +
                                       (value.is_array() ? "an empty array" : value.type_name()));
      }
      FilterNode node;
      node.kind = key == "$and" ? FilterNode::Kind::kAnd : FilterNode::Kind::kOr;
      for (size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_object()) {
          return Status::InvalidArgument(key + " at " + Where(loc) +
                                         " needs a non-empty array of filter objects, element " +
                                         std::to_string(i) + " is " + value[i].type_name());
        }
        SEXTANT_ASSIGN_OR_RETURN(
            FilterNode child,
            ParseFilter(value[i], Join(loc, key + "[" + std::to_string(i) + "]"), depth + 1));
        node.children.push_back(std::move(child));
      }
      parts.push_back(std::move(node));
    } else if (key == "$not") {
      if (!value.is_object()) {
        return Status::InvalidArgument("$not at " + Where(loc) + " needs a filter object, got " +
                                       value.type_name());
      }
      SEXTANT_ASSIGN_OR_RETURN(FilterNode child, ParseFilter(value, Join(loc, "$not"), depth + 1));
      parts.push_back(MakeNot(std::move(child)));
    } else if (IsFieldOperator(key)) {
      return Status::InvalidArgument("operator '" + key + "' at " + Where(loc) +
                                     " needs a field, as in {\"price\": {\"" + key + "\": ...}}");
    } else {
      return Status::InvalidArgument("unknown filter operator '" + key + "' at " + Where(loc));
    }
  }
  return MakeAnd(std::move(parts));
}

// ---- Matching (the brute-force reference) ----

// The value at a dotted path, or nullptr when some step is missing or not an object.
const json* Resolve(const json& metadata, const std::vector<std::string>& segments) {
  const json* cur = &metadata;
  for (const std::string& segment : segments) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(segment);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

// Orders a metadata value against an operand: -1/0/1 when both are numbers, both strings
// or both booleans; nullopt for any other pairing (and for NaN), which then never matches.
std::optional<int> CompareScalar(const json& v, const Scalar& s) {
  if (const Number* n = std::get_if<Number>(&s)) {
    if (!v.is_number()) return std::nullopt;
    const std::partial_ordering c = Number::FromJson(v).Compare(*n);
    if (c < 0) return -1;
    if (c > 0) return 1;
    if (c == 0) return 0;
    return std::nullopt;
  }
  if (const std::string* str = std::get_if<std::string>(&s)) {
    if (!v.is_string()) return std::nullopt;
    const int c = v.get_ref<const std::string&>().compare(*str);  // bytewise
    return (c > 0) - (c < 0);
  }
  if (!v.is_boolean()) return std::nullopt;
  return static_cast<int>(v.get<bool>()) - static_cast<int>(std::get<bool>(s));
}

// Mongo's rule: a predicate holds for an array field if it holds for some element.
template <typename Pred>
bool AnyValue(const json* v, Pred pred) {
  if (v == nullptr) return false;
  if (!v->is_array()) return pred(*v);
  for (const json& e : *v) {
    if (pred(e)) return true;
  }
  return false;
}

bool MatchField(const FilterNode& n, const json& metadata) {
  const json* v = Resolve(metadata, n.segments);
  auto equals_first = [&](const json& e) { return CompareScalar(e, n.values[0]) == 0; };
  auto equals_any = [&](const json& e) {
    for (const Scalar& s : n.values) {
      if (CompareScalar(e, s) == 0) return true;
    }
    return false;
  };
  auto ordered = [&](auto accept) {
    return AnyValue(v, [&](const json& e) {
      std::optional<int> c = CompareScalar(e, n.values[0]);
      return c.has_value() && accept(*c);
    });
  };
  switch (n.op) {
    case FieldOp::kExists: return (v != nullptr) == n.exists;
    case FieldOp::kEq: return AnyValue(v, equals_first);
    case FieldOp::kNe: return !AnyValue(v, equals_first);
    case FieldOp::kIn: return AnyValue(v, equals_any);
    case FieldOp::kNin: return !AnyValue(v, equals_any);
    case FieldOp::kGt: return ordered([](int c) { return c > 0; });
    case FieldOp::kGte: return ordered([](int c) { return c >= 0; });
    case FieldOp::kLt: return ordered([](int c) { return c < 0; });
    case FieldOp::kLte: return ordered([](int c) { return c <= 0; });
    case FieldOp::kContains: {
      if (v == nullptr) return false;
      if (v->is_array()) return AnyValue(v, equals_first);
      const std::string* needle = std::get_if<std::string>(&n.values[0]);
      if (v->is_string() && needle != nullptr) {
        return v->get_ref<const std::string&>().find(*needle) != std::string::npos;
      }
      return equals_first(*v);
    }
  }
  return false;
}

bool MatchNode(const FilterNode& n, const json& metadata) {
  switch (n.kind) {
    case FilterNode::Kind::kAll: return true;
    case FilterNode::Kind::kAnd:
      for (const FilterNode& c : n.children) {
        if (!MatchNode(c, metadata)) return false;
      }
      return true;
    case FilterNode::Kind::kOr:
      for (const FilterNode& c : n.children) {
        if (MatchNode(c, metadata)) return true;
      }
      return false;
    case FilterNode::Kind::kNot: return !MatchNode(n.children[0], metadata);
    case FilterNode::Kind::kField: return MatchField(n, metadata);
  }
  return false;
}

// ---- Rendering ----

json ScalarToJson(const Scalar& s) {
  if (const bool* b = std::get_if<bool>(&s)) return json(*b);
  if (const std::string* str = std::get_if<std::string>(&s)) return json(*str);
  return std::get<Number>(s).ToJson();
}

json NodeToJson(const FilterNode& n) {
  switch (n.kind) {
    case FilterNode::Kind::kAll: return json::object();
    case FilterNode::Kind::kAnd:
    case FilterNode::Kind::kOr: {
      json list = json::array();
      for (const FilterNode& c : n.children) list.push_back(NodeToJson(c));
      json out = json::object();
      out[n.kind == FilterNode::Kind::kAnd ? "$and" : "$or"] = std::move(list);
      return out;
    }
    case FilterNode::Kind::kNot: {
      json out = json::object();
      out["$not"] = NodeToJson(n.children[0]);
      return out;
    }
    case FilterNode::Kind::kField: {
      json operand;
      if (n.op == FieldOp::kExists) {
        operand = n.exists;
      } else if (n.op == FieldOp::kIn || n.op == FieldOp::kNin) {
        operand = json::array();
        for (const Scalar& s : n.values) operand.push_back(ScalarToJson(s));
      } else {
        operand = ScalarToJson(n.values[0]);
      }
      json ops = json::object();
      ops[FieldOpName(n.op)] = std::move(operand);
      json out = json::object();
      out[n.path] = std::move(ops);
      return out;
    }
  }
  return json::object();
}

void CollectFields(const FilterNode& n, std::set<std::string>* out) {
  if (n.kind == FilterNode::Kind::kField) out->insert(n.path);
  for (const FilterNode& c : n.children) CollectFields(c, out);
}

}  // namespace

const char* FieldOpName(FieldOp op) {
  switch (op) {
    case FieldOp::kEq: return "$eq";
    case FieldOp::kNe: return "$ne";
    case FieldOp::kGt: return "$gt";
    case FieldOp::kGte: return "$gte";
    case FieldOp::kLt: return "$lt";
    case FieldOp::kLte: return "$lte";
    case FieldOp::kIn: return "$in";
    case FieldOp::kNin: return "$nin";
    case FieldOp::kExists: return "$exists";
    case FieldOp::kContains: return "$contains";
  }
  return "$?";
}

Result<Filter> Filter::Parse(const nlohmann::json& j) {
  SEXTANT_ASSIGN_OR_RETURN(FilterNode root, ParseFilter(j, "", 1));
  return Filter(std::move(root));
}

bool Filter::Matches(const nlohmann::json& metadata) const { return MatchNode(root_, metadata); }

std::string Filter::ToString() const {
  // `replace` keeps dump() from throwing on invalid UTF-8 in a json built in code.
  return NodeToJson(root_).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<std::string> Filter::Fields() const {
  std::set<std::string> fields;
  CollectFields(root_, &fields);
  return {fields.begin(), fields.end()};
}

// ---- Number ----

Number Number::Int(int64_t v) {
  Number n;
  n.kind_ = Kind::kInt;
  n.i_ = v;
  return n;
}

Number Number::Uint(uint64_t v) {
  Number n;
  n.kind_ = Kind::kUint;
  n.u_ = v;
  return n;
}

Number Number::Double(double v) {
  Number n;
  n.kind_ = Kind::kDouble;
  n.d_ = v;
  return n;
}

Number Number::FromJson(const json& j) {
  if (j.is_number_unsigned()) return Uint(j.get<uint64_t>());
  if (j.is_number_integer()) return Int(j.get<int64_t>());
  return Double(j.get<double>());
}

bool Number::is_nan() const { return kind_ == Kind::kDouble && std::isnan(d_); }
bool Number::is_finite() const { return kind_ != Kind::kDouble || std::isfinite(d_); }

json Number::ToJson() const {
  switch (kind_) {
    case Kind::kInt: return json(i_);
    case Kind::kUint: return json(u_);
    case Kind::kDouble: break;
  }
  // Integral values print as integers ("3", not "3.0") where the double is exact.
  if (std::trunc(d_) == d_ && std::fabs(d_) < 9007199254740992.0) return json(static_cast<int64_t>(d_));
  return json(d_);
}

namespace {

using Int128 = __int128;

// An integer against a double, exactly: the double's integral part is compared as an
// integer (every double below 2^64 in magnitude has one that fits 128 bits), then its
// fraction breaks the tie.
std::partial_ordering CompareIntDouble(Int128 x, double d) {
  if (std::isnan(d)) return std::partial_ordering::unordered;
  if (d < -0x1p64) return std::partial_ordering::greater;  // every integer here is >= -2^63
  if (d >= 0x1p64) return std::partial_ordering::less;     // and < 2^64
  const double t = std::trunc(d);
  const auto ti = static_cast<Int128>(t);
  if (x < ti) return std::partial_ordering::less;
  if (x > ti) return std::partial_ordering::greater;
  if (d > t) return std::partial_ordering::less;
  if (d < t) return std::partial_ordering::greater;
  return std::partial_ordering::equivalent;
}

std::partial_ordering Reverse(std::partial_ordering o) {
  if (o < 0) return std::partial_ordering::greater;
  if (o > 0) return std::partial_ordering::less;
  return o;
}

}  // namespace

std::partial_ordering Number::Compare(const Number& other) const {
  const bool int_a = kind_ != Kind::kDouble, int_b = other.kind_ != Kind::kDouble;
  auto as_int = [](const Number& n) -> Int128 {
    return n.kind_ == Kind::kInt ? static_cast<Int128>(n.i_) : static_cast<Int128>(n.u_);
  };
  if (int_a && int_b) {
    const Int128 a = as_int(*this), b = as_int(other);
    return a < b ? std::partial_ordering::less
                 : a > b ? std::partial_ordering::greater : std::partial_ordering::equivalent;
  }
  if (!int_a && !int_b) return d_ <=> other.d_;
  if (int_a) return CompareIntDouble(as_int(*this), other.d_);
  return Reverse(CompareIntDouble(as_int(other), d_));
}

}  // namespace sextant::filter
