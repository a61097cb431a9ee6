// Filter: parsing, every operator's semantics on worked examples, and every parse error.
#include "filter/filter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <compare>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace sextant::filter {
namespace {

using nlohmann::json;

Filter MustParse(const std::string& text) {
  auto f = Filter::Parse(json::parse(text));
  EXPECT_TRUE(f.ok()) << text << " -> " << f.status().ToString();
  return f.ok() ? *f : Filter();
}

// Whether filter `filter` accepts metadata `metadata` (both JSON text).
bool M(const std::string& filter, const std::string& metadata) {
  return MustParse(filter).Matches(json::parse(metadata));
}

// The message of the InvalidArgument that parsing `text` must give.
std::string ParseError(const json& j) {
  auto f = Filter::Parse(j);
  EXPECT_FALSE(f.ok()) << j.dump() << " parsed as " << (f.ok() ? f->ToString() : "");
  if (f.ok()) return "";
  EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
  return f.status().message();
}
std::string ParseError(const char* text) { return ParseError(json::parse(text)); }

TEST(FilterTest, EmptyFilterMatchesEverything) {
  EXPECT_TRUE(M("{}", "{}"));
  EXPECT_TRUE(M("{}", R"({"a": 1})"));
  EXPECT_TRUE(M("{}", "5"));  // not even an object
  EXPECT_TRUE(Filter().Matches(json::object()));
  EXPECT_EQ(MustParse("{}").ToString(), "{}");
}

TEST(FilterTest, EqualityOnScalars) {
  EXPECT_TRUE(M(R"({"genre": "jazz"})", R"({"genre": "jazz", "year": 1959})"));
  EXPECT_FALSE(M(R"({"genre": "jazz"})", R"({"genre": "rock"})"));
  EXPECT_FALSE(M(R"({"genre": "jazz"})", R"({"year": 1959})"));  // missing
  EXPECT_FALSE(M(R"({"genre": "jazz"})", R"({"genre": "Jazz"})"));
  // Numbers compare numerically, whatever their JSON spelling.
  EXPECT_TRUE(M(R"({"n": 1})", R"({"n": 1.0})"));
  EXPECT_TRUE(M(R"({"n": 1.0})", R"({"n": 1})"));
  EXPECT_TRUE(M(R"({"n": -0.0})", R"({"n": 0})"));
  EXPECT_TRUE(M(R"({"n": 1e2})", R"({"n": 100})"));
  // Types never mix: "1" is not 1, true is not 1.
  EXPECT_FALSE(M(R"({"n": 1})", R"({"n": "1"})"));
  EXPECT_FALSE(M(R"({"n": 1})", R"({"n": true})"));
  EXPECT_FALSE(M(R"({"b": true})", R"({"b": 1})"));
  EXPECT_TRUE(M(R"({"b": true})", R"({"b": true})"));
  EXPECT_TRUE(M(R"({"b": false})", R"({"b": false})"));
  EXPECT_FALSE(M(R"({"b": false})", R"({"b": null})"));
  // $eq is the explicit form.
  EXPECT_TRUE(M(R"({"genre": {"$eq": "jazz"}})", R"({"genre": "jazz"})"));
  EXPECT_FALSE(M(R"({"genre": {"$eq": "jazz"}})", R"({})"));
}

TEST(FilterTest, EqualityOnArraysMatchesAnyElement) {
  EXPECT_TRUE(M(R"({"tags": "a"})", R"({"tags": ["b", "a"]})"));
  EXPECT_FALSE(M(R"({"tags": "a"})", R"({"tags": ["b", "c"]})"));
  EXPECT_FALSE(M(R"({"tags": "a"})", R"({"tags": []})"));
  EXPECT_TRUE(M(R"({"tags": 2})", R"({"tags": ["2", 2.0]})"));
  // Nested arrays and objects inside arrays are not looked into.
  EXPECT_FALSE(M(R"({"tags": "a"})", R"({"tags": [["a"], {"x": "a"}]})"));
}

TEST(FilterTest, NotEqualFollowsMongo) {
  const std::string f = R"({"tags": {"$ne": "a"}})";
  EXPECT_FALSE(M(f, R"({"tags": "a"})"));
  EXPECT_TRUE(M(f, R"({"tags": "b"})"));
  EXPECT_TRUE(M(f, R"({})"));                   // missing: nothing equals
  EXPECT_TRUE(M(f, R"({"tags": null})"));
  EXPECT_TRUE(M(f, R"({"tags": 5})"));          // other type
  EXPECT_FALSE(M(f, R"({"tags": ["b", "a"]})"));  // some element equals
  EXPECT_TRUE(M(f, R"({"tags": ["b", "c"]})"));
  EXPECT_TRUE(M(f, R"({"tags": []})"));
}

TEST(FilterTest, RangesOnNumbers) {
  EXPECT_TRUE(M(R"({"p": {"$gt": 3}})", R"({"p": 3.5})"));
  EXPECT_FALSE(M(R"({"p": {"$gt": 3}})", R"({"p": 3})"));
  EXPECT_TRUE(M(R"({"p": {"$gte": 3}})", R"({"p": 3.0})"));
  EXPECT_TRUE(M(R"({"p": {"$lt": 3}})", R"({"p": -10})"));
  EXPECT_FALSE(M(R"({"p": {"$lt": 3}})", R"({"p": 3})"));
  EXPECT_TRUE(M(R"({"p": {"$lte": 3}})", R"({"p": 3})"));
  EXPECT_TRUE(M(R"({"p": {"$gt": 3, "$lt": 9}})", R"({"p": 5})"));
  EXPECT_FALSE(M(R"({"p": {"$gt": 3, "$lt": 9}})", R"({"p": 9})"));
  EXPECT_TRUE(M(R"({"p": {"$gt": 18446744073709551614}})", R"({"p": 1e20})"));
  // Another type never matches a range, and is no error.
  EXPECT_FALSE(M(R"({"p": {"$gt": 3}})", R"({"p": "10"})"));
  EXPECT_FALSE(M(R"({"p": {"$gt": 3}})", R"({"p": true})"));
  EXPECT_FALSE(M(R"({"p": {"$lt": 3}})", R"({"p": null})"));
  EXPECT_FALSE(M(R"({"p": {"$lt": 3}})", R"({})"));
  // Arrays: some element in range. Each condition may be met by a different element.
  EXPECT_TRUE(M(R"({"p": {"$gt": 5}})", R"({"p": [1, 10]})"));
  EXPECT_FALSE(M(R"({"p": {"$gt": 50}})", R"({"p": [1, 10]})"));
  EXPECT_TRUE(M(R"({"p": {"$gt": 3, "$lt": 5}})", R"({"p": [1, 10]})"));
}

TEST(FilterTest, LargeIntegersCompareExactly) {
  // 2^53 + 1 is not a double: compared as doubles it would equal 2^53.
  EXPECT_TRUE(M(R"({"id": 9007199254740993})", R"({"id": 9007199254740993})"));
  EXPECT_FALSE(M(R"({"id": 9007199254740993})", R"({"id": 9007199254740992})"));
  EXPECT_FALSE(M(R"({"id": 9007199254740992})", R"({"id": 9007199254740993})"));
  EXPECT_TRUE(M(R"({"id": {"$gt": 9007199254740992}})", R"({"id": 9007199254740993})"));
  EXPECT_FALSE(M(R"({"id": {"$in": [1, 9007199254740992]}})", R"({"id": 9007199254740993})"));
  // Snowflake-like ids and nanosecond timestamps near 2^63, and unsigned ones above it.
  EXPECT_TRUE(M(R"({"t": {"$lt": 9223372036854775807}})", R"({"t": 9223372036854775806})"));
  EXPECT_FALSE(M(R"({"t": {"$lt": 9223372036854775806}})", R"({"t": 9223372036854775807})"));
  EXPECT_TRUE(M(R"({"t": {"$gt": 9223372036854775807}})", R"({"t": 9223372036854775808})"));
  EXPECT_TRUE(M(R"({"t": 18446744073709551615})", R"({"t": 18446744073709551615})"));
  EXPECT_FALSE(M(R"({"t": 18446744073709551615})", R"({"t": 18446744073709551614})"));
  EXPECT_TRUE(M(R"({"t": {"$lt": -9223372036854775807}})", R"({"t": -9223372036854775808})"));
  // Integers against doubles: by exact value.
  EXPECT_TRUE(M(R"({"p": 3})", R"({"p": 3.0})"));
  EXPECT_TRUE(M(R"({"p": {"$gt": 9007199254740992.0}})", R"({"p": 9007199254740993})"));
  EXPECT_FALSE(M(R"({"p": {"$gt": 9007199254740993}})", R"({"p": 9007199254740992.0})"));
  EXPECT_TRUE(M(R"({"p": {"$lt": 2.5}})", R"({"p": 2})"));
  EXPECT_FALSE(M(R"({"p": {"$lt": -2.5}})", R"({"p": -2})"));
  EXPECT_TRUE(M(R"({"p": {"$gt": 1e19}})", R"({"p": 18446744073709551615})"));
  EXPECT_FALSE(M(R"({"p": {"$gt": 1.8446744073709552e19}})", R"({"p": 18446744073709551615})"));
  // ToString keeps every digit.
  EXPECT_EQ(MustParse(R"({"id": 9007199254740993})").ToString(), R"({"id":{"$eq":9007199254740993}})");
  EXPECT_EQ(MustParse(R"({"id": 18446744073709551615})").ToString(), R"({"id":{"$eq":18446744073709551615}})");
}

// Number::Compare against a slow, obviously right twin: both sides converted to long double,
// whose 64-bit significand (x86-64) holds every int64, uint64 and double exactly.
TEST(NumberTest, CompareMatchesExactLongDoubleTwin) {
  if (std::numeric_limits<long double>::digits < 64) GTEST_SKIP() << "long double cannot hold 64-bit integers";
  struct V {
    Number n;
    long double exact;
    bool nan;
  };
  std::vector<V> pool;
  auto add_int = [&](int64_t x) { pool.push_back({Number::Int(x), static_cast<long double>(x), false}); };
  auto add_uint = [&](uint64_t x) { pool.push_back({Number::Uint(x), static_cast<long double>(x), false}); };
  auto add_double = [&](double x) { pool.push_back({Number::Double(x), static_cast<long double>(x), std::isnan(x)}); };
  for (int64_t x : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{2}, int64_t{3}, int64_t{-3},
                    (int64_t{1} << 53) - 1, int64_t{1} << 53, (int64_t{1} << 53) + 1, -(int64_t{1} << 53) - 1,
                    std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max() - 1,
                    std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::min() + 1}) {
    add_int(x);
  }
  for (uint64_t x : {uint64_t{0}, uint64_t{5}, (uint64_t{1} << 63) - 1, uint64_t{1} << 63, (uint64_t{1} << 63) + 1,
                     std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint64_t>::max() - 1}) {
    add_uint(x);
  }
  for (double x : {0.0, -0.0, 0.5, -0.5, 2.5, -2.5, 3.0, 1e-300, 0x1p53, 0x1p53 + 2, -0x1p53, 0x1p63, -0x1p63,
                   0x1p64, -0x1p64, 0x1p64 * 2, 0x1.fffffffffffffp62, 9223372036854774784.0, 1e19, -1e19, 1e300,
                   -1e300, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::quiet_NaN()}) {
    add_double(x);
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) {
    const uint64_t bits = rng();
    add_int(static_cast<int64_t>(bits >> (rng() % 64)) * (rng() % 2 ? 1 : -1));
    add_uint(bits >> (rng() % 64));
    add_double(static_cast<double>(static_cast<int64_t>(bits >> (rng() % 64))) + (rng() % 4) * 0.25);
  }
  for (const V& a : pool) {
    for (const V& b : pool) {
      const std::partial_ordering got = a.n.Compare(b.n);
      if (a.nan || b.nan) {
        EXPECT_TRUE(got == std::partial_ordering::unordered);
        continue;
      }
      const std::partial_ordering want = a.exact < b.exact   ? std::partial_ordering::less
                                         : a.exact > b.exact ? std::partial_ordering::greater
                                                             : std::partial_ordering::equivalent;
      ASSERT_TRUE(got == want) << a.n.ToJson().dump() << " vs " << b.n.ToJson().dump();
    }
  }
}

TEST(FilterTest, RangesOnStringsAreBytewise) {
  EXPECT_TRUE(M(R"({"s": {"$lt": "banana"}})", R"({"s": "apple"})"));
  EXPECT_TRUE(M(R"({"s": {"$gt": "a"}})", R"({"s": "ab"})"));
  EXPECT_TRUE(M(R"({"s": {"$gte": "ab"}})", R"({"s": "ab"})"));
  EXPECT_TRUE(M(R"({"s": {"$lt": "a"}})", R"({"s": "Z"})"));        // 'Z' (0x5A) < 'a'
  EXPECT_TRUE(M(R"({"s": {"$gt": "z"}})", R"({"s": "\u00e9"})"));   // UTF-8 0xC3 > 'z'
  EXPECT_TRUE(M(R"({"s": {"$lt": "a"}})", R"({"s": ""})"));
  EXPECT_FALSE(M(R"({"s": {"$lt": "a"}})", R"({"s": 1})"));
}

TEST(FilterTest, InAndNotIn) {
  const std::string in = R"({"c": {"$in": ["red", 2, true]}})";
  EXPECT_TRUE(M(in, R"({"c": "red"})"));
  EXPECT_TRUE(M(in, R"({"c": 2.0})"));
  EXPECT_TRUE(M(in, R"({"c": true})"));
  EXPECT_FALSE(M(in, R"({"c": "blue"})"));
  EXPECT_FALSE(M(in, R"({"c": 1})"));  // true is not 1
  EXPECT_FALSE(M(in, R"({})"));
  EXPECT_TRUE(M(in, R"({"c": ["blue", "red"]})"));
  EXPECT_FALSE(M(in, R"({"c": []})"));
  const std::string nin = R"({"c": {"$nin": ["red", 2]}})";
  EXPECT_FALSE(M(nin, R"({"c": "red"})"));
  EXPECT_TRUE(M(nin, R"({"c": "blue"})"));
  EXPECT_TRUE(M(nin, R"({})"));
  EXPECT_FALSE(M(nin, R"({"c": ["blue", 2]})"));
  EXPECT_TRUE(M(nin, R"({"c": ["blue", 3]})"));
  // Empty lists: $in matches nothing, $nin everything.
  EXPECT_FALSE(M(R"({"c": {"$in": []}})", R"({"c": 1})"));
  EXPECT_TRUE(M(R"({"c": {"$nin": []}})", R"({"c": 1})"));
  EXPECT_TRUE(M(R"({"c": {"$nin": []}})", R"({})"));
}

TEST(FilterTest, Exists) {
  EXPECT_TRUE(M(R"({"a": {"$exists": true}})", R"({"a": 0})"));
  EXPECT_TRUE(M(R"({"a": {"$exists": true}})", R"({"a": null})"));
  EXPECT_TRUE(M(R"({"a": {"$exists": true}})", R"({"a": []})"));
  EXPECT_TRUE(M(R"({"a": {"$exists": true}})", R"({"a": {"b": 1}})"));
  EXPECT_FALSE(M(R"({"a": {"$exists": true}})", R"({"b": 0})"));
  EXPECT_TRUE(M(R"({"a": {"$exists": false}})", R"({"b": 0})"));
  EXPECT_FALSE(M(R"({"a": {"$exists": false}})", R"({"a": false})"));
  EXPECT_TRUE(M(R"({"a": {"$exists": false}})", "[1, 2]"));  // non-object metadata
}

TEST(FilterTest, Contains) {
  const std::string f = R"({"tags": {"$contains": "ab"}})";
  EXPECT_TRUE(M(f, R"({"tags": ["x", "ab"]})"));   // array membership
  EXPECT_FALSE(M(f, R"({"tags": ["x", "abc"]})"));  // no substring search inside arrays
  EXPECT_TRUE(M(f, R"({"tags": "xaby"})"));        // substring of a string field
  EXPECT_TRUE(M(f, R"({"tags": "ab"})"));
  EXPECT_FALSE(M(f, R"({"tags": "a-b"})"));
  EXPECT_FALSE(M(f, R"({})"));
  EXPECT_TRUE(M(R"({"s": {"$contains": ""}})", R"({"s": "anything"})"));
  EXPECT_FALSE(M(R"({"s": {"$contains": ""}})", R"({"s": []})"));
  // Non-string operands: array membership, or equality with a scalar field.
  EXPECT_TRUE(M(R"({"n": {"$contains": 2}})", R"({"n": [1, 2.0]})"));
  EXPECT_TRUE(M(R"({"n": {"$contains": 2}})", R"({"n": 2})"));
  EXPECT_FALSE(M(R"({"n": {"$contains": 2}})", R"({"n": "12"})"));
  EXPECT_TRUE(M(R"({"n": {"$contains": true}})", R"({"n": [false, true]})"));
}

TEST(FilterTest, LogicalOperators) {
  const std::string doc = R"({"a": 1, "b": "x", "t": ["p", "q"]})";
  EXPECT_TRUE(M(R"({"$and": [{"a": 1}, {"b": "x"}]})", doc));
  EXPECT_FALSE(M(R"({"$and": [{"a": 1}, {"b": "y"}]})", doc));
  EXPECT_TRUE(M(R"({"$or": [{"a": 2}, {"b": "x"}]})", doc));
  EXPECT_FALSE(M(R"({"$or": [{"a": 2}, {"b": "y"}]})", doc));
  EXPECT_TRUE(M(R"({"$or": [{}]})", doc));
  EXPECT_FALSE(M(R"({"$not": {}})", doc));
  EXPECT_FALSE(M(R"({"$not": {"a": 1}})", doc));
  EXPECT_TRUE(M(R"({"$not": {"a": 2}})", doc));
  EXPECT_TRUE(M(R"({"$not": {"$not": {"a": 1}}})", doc));
  // Several keys in one object: all must hold, including logical keys.
  EXPECT_TRUE(M(R"({"a": 1, "b": "x", "$or": [{"t": "q"}, {"z": 1}]})", doc));
  EXPECT_FALSE(M(R"({"a": 1, "b": "x", "$or": [{"t": "r"}, {"z": 1}]})", doc));
  EXPECT_TRUE(M(R"({"$and": [{"$or": [{"a": 5}, {"t": {"$in": ["q"]}}]}, {"$not": {"b": "y"}}]})",
                doc));
}

TEST(FilterTest, FieldLevelNot) {
  const std::string f = R"({"p": {"$not": {"$gt": 5}}})";
  EXPECT_FALSE(M(f, R"({"p": 6})"));
  EXPECT_TRUE(M(f, R"({"p": 5})"));
  EXPECT_TRUE(M(f, R"({})"));          // missing: "p > 5" is false
  EXPECT_TRUE(M(f, R"({"p": "x"})"));  // other type
  EXPECT_FALSE(M(f, R"({"p": [1, 9]})"));
  // Combined with other operators on the same field.
  const std::string g = R"({"p": {"$gte": 0, "$not": {"$in": [1, 2]}}})";
  EXPECT_TRUE(M(g, R"({"p": 3})"));
  EXPECT_FALSE(M(g, R"({"p": 2})"));
  EXPECT_FALSE(M(g, R"({"p": -1})"));
  EXPECT_TRUE(M(R"({"p": {"$not": {"$not": {"$eq": 1}}}})", R"({"p": 1})"));
}

TEST(FilterTest, DottedPathsStepIntoObjects) {
  EXPECT_TRUE(M(R"({"a.b": 1})", R"({"a": {"b": 1}})"));
  EXPECT_TRUE(M(R"({"a.b.c": "x"})", R"({"a": {"b": {"c": "x"}}})"));
  EXPECT_TRUE(M(R"({"a.b": 1})", R"({"a": {"b": [0, 1]}})"));
  EXPECT_FALSE(M(R"({"a.b": 1})", R"({"a": 1})"));
  EXPECT_FALSE(M(R"({"a.b": 1})", R"({"a.b": 1})"));          // a key with a dot is not a path
  EXPECT_FALSE(M(R"({"a.b": 1})", R"({"a": [{"b": 1}]})"));   // no stepping through arrays
  EXPECT_TRUE(M(R"({"a.b": {"$exists": false}})", R"({"a": [{"b": 1}]})"));
  EXPECT_TRUE(M(R"({"a.b": {"$ne": 1}})", R"({"a": 7})"));
  EXPECT_TRUE(M(R"({"a": {"$exists": true}})", R"({"a": {"b": 1}})"));
}

TEST(FilterTest, NaNInMetadataMatchesNoComparison) {
  json m = {{"x", std::nan("")}};
  EXPECT_FALSE(MustParse(R"({"x": {"$gt": 0}})").Matches(m));
  EXPECT_FALSE(MustParse(R"({"x": {"$lte": 0}})").Matches(m));
  EXPECT_TRUE(MustParse(R"({"x": {"$ne": 0}})").Matches(m));
  EXPECT_TRUE(MustParse(R"({"x": {"$exists": true}})").Matches(m));
}

TEST(FilterTest, ToStringIsCanonicalAndReparses) {
  EXPECT_EQ(MustParse(R"({"b": 1, "a": {"$gt": 2, "$lt": 5.5}})").ToString(),
            R"({"$and":[{"$and":[{"a":{"$gt":2}},{"a":{"$lt":5.5}}]},{"b":{"$eq":1}}]})");
  EXPECT_EQ(MustParse(R"({"p": {"$not": {"$in": ["x", true, 1.0]}}})").ToString(),
            R"({"$not":{"p":{"$in":["x",true,1]}}})");
  EXPECT_EQ(MustParse(R"({"$or": [{"a.b": {"$exists": false}}, {"s": {"$contains": "q"}}]})")
                .ToString(),
            R"({"$or":[{"a.b":{"$exists":false}},{"s":{"$contains":"q"}}]})");
  for (const char* text : {
           R"({"a": {"$nin": []}, "$not": {"b": {"$lte": "zz"}}})",
           R"({"$and": [{"x": {"$ne": false}}, {"$or": [{"y": -0.25}, {}]}]})",
           R"({"n": {"$gte": 1e300, "$lt": 123456789012}})",
       }) {
    Filter f = MustParse(text);
    Filter g = MustParse(f.ToString());
    EXPECT_EQ(f.ToString(), g.ToString()) << text;
  }
}

TEST(FilterTest, FieldsListsDistinctPathsSorted) {
  Filter f = MustParse(R"({"$or": [{"x.y": 1}, {"a": 2}], "a": {"$exists": true},
                           "$not": {"m": {"$not": {"$gt": 1}}}})");
  EXPECT_EQ(f.Fields(), (std::vector<std::string>{"a", "m", "x.y"}));
  EXPECT_TRUE(MustParse("{}").Fields().empty());
}

TEST(FilterTest, RootAccessorExposesTree) {
  Filter f = MustParse(R"({"p": {"$gt": 3, "$lt": 9}})");
  ASSERT_EQ(f.root().kind, FilterNode::Kind::kAnd);
  ASSERT_EQ(f.root().children.size(), 2u);
  const FilterNode& gt = f.root().children[0];
  EXPECT_EQ(gt.kind, FilterNode::Kind::kField);
  EXPECT_EQ(gt.op, FieldOp::kGt);
  EXPECT_EQ(gt.path, "p");
  EXPECT_TRUE(std::get<Number>(gt.values.at(0)) == Number::Double(3.0));
  EXPECT_EQ(std::get<Number>(gt.values.at(0)).ToJson(), json(3));
  EXPECT_STREQ(FieldOpName(FieldOp::kContains), "$contains");
}

// ---- Parse errors: each names the problem and where it is. ----

TEST(FilterParseErrorTest, UnknownOperator) {
  EXPECT_EQ(ParseError(R"({"price": {"$foo": 1}})"), "unknown filter operator '$foo' at 'price'");
  EXPECT_EQ(ParseError(R"({"$foo": 1})"), "unknown filter operator '$foo' at top level");
  EXPECT_EQ(ParseError(R"({"$and": [{"a": 1}, {"price": {"$gt": 1, "$bar": 2}}]})"),
            "unknown filter operator '$bar' at '$and[1].price'");
  EXPECT_EQ(ParseError(R"({"price": {"$not": {"$foo": 1}}})"),
            "unknown filter operator '$foo' at 'price.$not'");
  EXPECT_EQ(ParseError(R"({"$gt": 1})"),
            "operator '$gt' at top level needs a field, as in {\"price\": {\"$gt\": ...}}");
  EXPECT_EQ(ParseError(R"({"p": {"$or": [{"a": 1}]}})"),
            "logical operator '$or' at 'p' must be used at filter level, not inside a field");
}

TEST(FilterParseErrorTest, InAndNinOperands) {
  EXPECT_EQ(ParseError(R"({"tags": {"$in": "a"}})"), "$in at 'tags' needs an array, got string");
  EXPECT_EQ(ParseError(R"({"tags": {"$nin": {"a": 1}}})"),
            "$nin at 'tags' needs an array, got object");
  EXPECT_EQ(ParseError(R"({"tags": {"$in": ["a", ["b"]]}})"),
            "$in at 'tags' element 1 needs a string, number or boolean, got array");
  EXPECT_EQ(ParseError(R"({"tags": {"$nin": [1, {"a": 1}]}})"),
            "$nin at 'tags' element 1 needs a string, number or boolean, got object");
  EXPECT_EQ(ParseError(R"({"tags": {"$in": [null]}})"),
            "$in at 'tags' element 0 needs a string, number or boolean, got null");
}

TEST(FilterParseErrorTest, RangeOperands) {
  EXPECT_EQ(ParseError(R"({"price": {"$gt": true}})"),
            "$gt at 'price' needs a number or string, got boolean");
  EXPECT_EQ(ParseError(R"({"price": {"$gte": [1]}})"),
            "$gte at 'price' needs a number or string, got array");
  EXPECT_EQ(ParseError(R"({"price": {"$lt": {"a": 1}}})"),
            "$lt at 'price' needs a number or string, got object");
  EXPECT_EQ(ParseError(R"({"price": {"$lte": null}})"),
            "$lte at 'price' needs a number or string, got null");
  // NaN cannot come from JSON text, but a json built in code can hold it.
  json nan_filter = {{"x", {{"$gt", std::nan("")}}}};
  EXPECT_EQ(ParseError(nan_filter), "$gt at 'x' needs a finite number");
  json inf_filter = {{"x", {{"$eq", HUGE_VAL}}}};
  EXPECT_EQ(ParseError(inf_filter), "$eq at 'x' needs a finite number");
}

TEST(FilterParseErrorTest, EqualityOperands) {
  EXPECT_EQ(ParseError(R"({"a": {"$eq": null}})"),
            "$eq at 'a' needs a string, number or boolean, got null");
  EXPECT_EQ(ParseError(R"({"a": {"$ne": [1]}})"),
            "$ne at 'a' needs a string, number or boolean, got array");
  EXPECT_EQ(ParseError(R"({"a": {"$contains": {"b": 1}}})"),
            "$contains at 'a' needs a string, number or boolean, got object");
  EXPECT_EQ(ParseError(R"({"tags": ["a", "b"]})"),
            "value at 'tags' needs a string, number or boolean, got array (use $in to match "
            "any of several values)");
  EXPECT_EQ(ParseError(R"({"a": null})"),
            "value at 'a' needs a string, number or boolean, got null (use $exists to test for "
            "a missing field)");
}

TEST(FilterParseErrorTest, ExistsNeedsBoolean) {
  EXPECT_EQ(ParseError(R"({"price": {"$exists": 1}})"),
            "$exists at 'price' needs a boolean, got number");
  EXPECT_EQ(ParseError(R"({"price": {"$exists": "yes"}})"),
            "$exists at 'price' needs a boolean, got string");
}

TEST(FilterParseErrorTest, LogicalOperands) {
  EXPECT_EQ(ParseError(R"({"$and": {"a": 1}})"),
            "$and at top level needs a non-empty array of filter objects, got object");
  EXPECT_EQ(ParseError(R"({"$or": []})"),
            "$or at top level needs a non-empty array of filter objects, got an empty array");
  EXPECT_EQ(ParseError(R"({"$or": [{"a": 1}, 3]})"),
            "$or at top level needs a non-empty array of filter objects, element 1 is number");
  EXPECT_EQ(ParseError(R"({"$and": [{"$or": "x"}]})"),
            "$or at '$and[0]' needs a non-empty array of filter objects, got string");
  EXPECT_EQ(ParseError(R"({"$not": [{"a": 1}]})"), "$not at top level needs a filter object, got array");
  EXPECT_EQ(ParseError(R"({"a": {"$not": 5}})"),
            "$not at 'a' needs an operator object such as {\"$gt\": 5}, got number");
}

TEST(FilterParseErrorTest, OperatorObjectShape) {
  EXPECT_EQ(ParseError(R"({"price": {"$gt": 1, "foo": 2}})"),
            "operator object at 'price' mixes operators and plain keys ('$gt' and 'foo')");
  EXPECT_EQ(ParseError(R"({"a": {"b": 1}})"),
            "value at 'a' is an object without operators; use a dotted path such as 'a.b' for "
            "nested fields");
  EXPECT_EQ(ParseError(R"({"a": {}})"), "empty operator object at 'a'");
  EXPECT_EQ(ParseError(R"({"a": {"$not": {}}})"), "empty operator object at 'a.$not'");
}

TEST(FilterParseErrorTest, NonObjectFilter) {
  EXPECT_EQ(ParseError("[1]"), "filter must be a JSON object, got array");
  EXPECT_EQ(ParseError("\"a\""), "filter must be a JSON object, got string");
  EXPECT_EQ(ParseError("null"), "filter must be a JSON object, got null");
  EXPECT_EQ(ParseError(json()), "filter must be a JSON object, got null");
}

TEST(FilterParseErrorTest, FieldNames) {
  EXPECT_EQ(ParseError(R"({"": 1})"), "empty field name at top level");
  EXPECT_EQ(ParseError(R"({"$or": [{"": 1}]})"), "empty field name at '$or[0]'");
  EXPECT_EQ(ParseError(R"({"a..b": 1})"), "field path 'a..b' has an empty segment");
  EXPECT_EQ(ParseError(R"({".a": 1})"), "field path '.a' has an empty segment");
  EXPECT_EQ(ParseError(R"({"$not": {"a.": 1}})"),
            "field path 'a.' has an empty segment at '$not.a.'");
}

TEST(FilterParseErrorTest, DepthLimit) {
  // kMaxFilterDepth nested filter objects are fine, one more is not.
  auto nest_not = [](int levels) {
    json j = json::object();
    for (int i = 1; i < levels; ++i) j = json{{"$not", j}};
    return j;
  };
  EXPECT_TRUE(Filter::Parse(nest_not(kMaxFilterDepth)).ok());
  EXPECT_NE(ParseError(nest_not(kMaxFilterDepth + 1)).find("is nested deeper than 32 levels"),
            std::string::npos);
  json deep_and = json::object();
  for (int i = 0; i < 40; ++i) deep_and = json{{"$and", json::array({deep_and})}};
  const std::string msg = ParseError(deep_and);
  EXPECT_EQ(msg.rfind("filter at '$and[0].$and[0].", 0), 0u) << msg;
  // Field-level $not counts too.
  json ops = json{{"$gt", 1}};
  for (int i = 0; i < 40; ++i) ops = json{{"$not", ops}};
  EXPECT_NE(ParseError(json{{"p", ops}}).find("nested deeper than 32"), std::string::npos);
  // Very deep input (beyond any stack worry) is rejected quickly, without recursion trouble.
  json huge = json::object();
  for (int i = 0; i < 100000; ++i) huge = json{{"$not", std::move(huge)}};
  EXPECT_NE(ParseError(huge).find("nested deeper"), std::string::npos);
}

}  // namespace
}  // namespace sextant::filter
