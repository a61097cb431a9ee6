// PayloadIndex: worked examples, and a randomized comparison of Evaluate with the brute-force
// Filter::Matches over thousands of random points and filters, across erase/insert cycles.
#include "filter/payload_index.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../sanitized.h"

namespace sextant::filter {
namespace {

using nlohmann::json;

using sextant::testing::kSanitized;

Filter MustParse(const json& j) {
  auto f = Filter::Parse(j);
  EXPECT_TRUE(f.ok()) << j.dump() << " -> " << f.status().ToString();
  return f.ok() ? *f : Filter();
}

std::vector<uint32_t> Ids(const Bitmap& b) {
  std::vector<uint32_t> out;
  for (uint32_t id : b) out.push_back(id);
  return out;
}

Bitmap Range(uint32_t begin, uint32_t end) {
  Bitmap b;
  b.addRange(begin, end);
  return b;
}

// A small collection used by the worked examples.
class PayloadIndexExampleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    docs_ = {
        json::parse(R"({"genre": "jazz", "year": 1959, "tags": ["live", "mono"], "ok": true})"),
        json::parse(R"({"genre": "rock", "year": 1971.5, "tags": "live", "ok": false})"),
        json::parse(R"({"genre": "jazz", "year": "1960s", "tags": [], "nested": {"x": 1}})"),
        json::parse(R"({"year": 2001, "tags": ["studio", 3], "ok": null, "a.b": 1})"),
        json::parse(R"(["not", "an", "object"])"),
    };
    for (uint32_t id = 0; id < docs_.size(); ++id) index_.Insert(id, docs_[id]);
  }

  // Evaluate over ids 0..5 (5 was never inserted), checked against Matches.
  std::vector<uint32_t> Eval(const std::string& text) {
    Filter f = MustParse(json::parse(text));
    auto got = index_.Evaluate(f, Range(0, 6));
    EXPECT_TRUE(got.has_value()) << text;
    if (!got) return {};
    std::vector<uint32_t> want;
    for (uint32_t id = 0; id < 6; ++id) {
      if (f.Matches(id < docs_.size() ? docs_[id] : json::object())) want.push_back(id);
    }
    EXPECT_EQ(Ids(*got), want) << text;
    return Ids(*got);
  }

  std::vector<json> docs_;
  PayloadIndex index_;
};

using V = std::vector<uint32_t>;

TEST_F(PayloadIndexExampleTest, EqualityAndIn) {
  EXPECT_EQ(Eval(R"({"genre": "jazz"})"), (V{0, 2}));
  EXPECT_EQ(Eval(R"({"year": 1959.0})"), (V{0}));
  EXPECT_EQ(Eval(R"({"tags": "live"})"), (V{0, 1}));
  EXPECT_EQ(Eval(R"({"tags": 3})"), (V{3}));
  EXPECT_EQ(Eval(R"({"ok": true})"), (V{0}));
  EXPECT_EQ(Eval(R"({"ok": false})"), (V{1}));
  EXPECT_EQ(Eval(R"({"genre": {"$in": ["rock", "pop", 1959]}})"), (V{1}));
  EXPECT_EQ(Eval(R"({"genre": {"$in": []}})"), (V{}));
  EXPECT_EQ(Eval(R"({"nothere": 1})"), (V{}));
}

TEST_F(PayloadIndexExampleTest, NegationsIncludeMissingFields) {
  EXPECT_EQ(Eval(R"({"genre": {"$ne": "jazz"}})"), (V{1, 3, 4, 5}));
  EXPECT_EQ(Eval(R"({"tags": {"$ne": "live"}})"), (V{2, 3, 4, 5}));
  EXPECT_EQ(Eval(R"({"tags": {"$nin": ["mono", 3]}})"), (V{1, 2, 4, 5}));
  EXPECT_EQ(Eval(R"({"nothere": {"$ne": 1}})"), (V{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(Eval(R"({"ok": {"$exists": true}})"), (V{0, 1, 3}));
  EXPECT_EQ(Eval(R"({"ok": {"$exists": false}})"), (V{2, 4, 5}));
  EXPECT_EQ(Eval(R"({"nested": {"$exists": true}})"), (V{2}));
  EXPECT_EQ(Eval(R"({"year": {"$not": {"$gte": 1960}}})"), (V{0, 2, 4, 5}));
  EXPECT_EQ(Eval(R"({"$not": {"genre": "jazz"}})"), (V{1, 3, 4, 5}));
}

TEST_F(PayloadIndexExampleTest, Ranges) {
  EXPECT_EQ(Eval(R"({"year": {"$gt": 1959}})"), (V{1, 3}));
  EXPECT_EQ(Eval(R"({"year": {"$gte": 1959, "$lt": 2000}})"), (V{0, 1}));
  EXPECT_EQ(Eval(R"({"year": {"$lte": 1971.5}})"), (V{0, 1}));
  EXPECT_EQ(Eval(R"({"year": {"$gte": "1"}})"), (V{2}));  // strings only
  EXPECT_EQ(Eval(R"({"genre": {"$lt": "k"}})"), (V{0, 2}));
  EXPECT_EQ(Eval(R"({"tags": {"$gt": "m"}})"), (V{0, 3}));
}

TEST_F(PayloadIndexExampleTest, Contains) {
  EXPECT_EQ(Eval(R"({"tags": {"$contains": "live"}})"), (V{0, 1}));
  EXPECT_EQ(Eval(R"({"tags": {"$contains": "iv"}})"), (V{1}));  // substring of a string only
  EXPECT_EQ(Eval(R"({"genre": {"$contains": "z"}})"), (V{0, 2}));
  EXPECT_EQ(Eval(R"({"tags": {"$contains": 3}})"), (V{3}));
  EXPECT_EQ(Eval(R"({"year": {"$contains": 2001}})"), (V{3}));
  EXPECT_EQ(Eval(R"({"genre": {"$contains": ""}})"), (V{0, 1, 2}));
}

TEST_F(PayloadIndexExampleTest, LogicalAndUniverse) {
  EXPECT_EQ(Eval("{}"), (V{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(Eval(R"({"$or": [{"genre": "rock"}, {"year": {"$gt": 2000}}]})"), (V{1, 3}));
  EXPECT_EQ(Eval(R"({"genre": "jazz", "tags": "mono"})"), (V{0}));
  EXPECT_EQ(Eval(R"({"$and": [{"tags": {"$exists": true}}, {"$not": {"tags": "live"}}]})"),
            (V{2, 3}));
  // Only ids of the universe come back, negations included.
  Filter f = MustParse(json::parse(R"({"genre": {"$ne": "jazz"}})"));
  Bitmap universe;
  universe.add(0);
  universe.add(3);
  universe.add(100);
  EXPECT_EQ(Ids(*index_.Evaluate(f, universe)), (V{3, 100}));
  EXPECT_EQ(Ids(*index_.Evaluate(MustParse(json::object()), Bitmap())), (V{}));
}

TEST_F(PayloadIndexExampleTest, DottedPathsAreLeftToTheCaller) {
  Filter f = MustParse(json::parse(R"({"$or": [{"genre": "jazz"}, {"nested.x": 1}]})"));
  EXPECT_FALSE(PayloadIndex::CanAnswer(f));
  EXPECT_FALSE(index_.Evaluate(f, Range(0, 6)).has_value());
  EXPECT_FALSE(index_.EstimateCount(f, 6).has_value());
  // A top-level key spelled with a dot is not indexed and not reachable by a filter path.
  EXPECT_EQ(index_.FieldCount("a.b"), 0u);
  EXPECT_TRUE(PayloadIndex::CanAnswer(MustParse(json::parse(R"({"genre": 1})"))));
}

TEST_F(PayloadIndexExampleTest, EstimatesAndCounts) {
  auto est = [&](const char* text) {
    return *index_.EstimateCount(MustParse(json::parse(text)), 5);
  };
  EXPECT_EQ(est(R"({"genre": "jazz"})"), 2u);
  EXPECT_EQ(est(R"({"genre": {"$ne": "jazz"}})"), 3u);
  EXPECT_EQ(est(R"({"ok": {"$exists": true}})"), 3u);
  EXPECT_EQ(est(R"({"year": {"$gt": 1959}})"), 2u);
  EXPECT_EQ(est(R"({"genre": "jazz", "ok": true})"), 1u);
  EXPECT_EQ(est("{}"), 5u);
  EXPECT_LE(est(R"({"$or": [{"tags": "live"}, {"tags": "live"}, {"tags": "live"}]})"), 5u);
  EXPECT_EQ(index_.FieldCount("tags"), 4u);
  EXPECT_EQ(index_.FieldCount("missing"), 0u);
  EXPECT_EQ(index_.NumFields(), 5u);  // genre year tags ok nested
}

TEST_F(PayloadIndexExampleTest, EraseFreesEverything) {
  EXPECT_GT(index_.MemoryUsage(), 0u);
  index_.Erase(1, docs_[1]);
  EXPECT_EQ(Ids(*index_.Evaluate(MustParse(json::parse(R"({"genre": "rock"})")), Range(0, 6))),
            (V{}));
  for (uint32_t id = 0; id < docs_.size(); ++id) {
    if (id != 1) index_.Erase(id, docs_[id]);
  }
  EXPECT_EQ(index_.NumFields(), 0u);
  EXPECT_EQ(index_.MemoryUsage(), 0u);
}

TEST(PayloadIndexTest, ValueEntriesAreFreedWhileTheFieldLives) {
  PayloadIndex index;
  index.Insert(0, json{{"k", "keep"}, {"n", 0}});
  const size_t one_point = index.MemoryUsage();
  // Point 1 takes 1000 distinct values in turn; each replaced value must vanish.
  json previous;
  for (int i = 0; i < 1000; ++i) {
    json m = {{"k", "value number " + std::to_string(i)}, {"n", i + 0.5}, {"b", i % 2 == 0}};
    if (i > 0) index.Erase(1, previous);
    index.Insert(1, m);
    previous = m;
  }
  index.Erase(1, previous);
  EXPECT_EQ(index.MemoryUsage(), one_point);
  EXPECT_EQ(index.NumFields(), 2u);
  EXPECT_EQ(index.FieldCount("b"), 0u);
  index.Erase(0, json{{"k", "keep"}, {"n", 0}});
  EXPECT_EQ(index.MemoryUsage(), 0u);
}

// ---- Randomized comparison with the brute-force Matches. ----

class RandomGen {
 public:
  explicit RandomGen(uint64_t seed) : rng_(seed) {}

  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Int(0, static_cast<int>(v.size()) - 1))];
  }

  // Values from small pools so that equalities and ranges hit often.
  json Scalar() {
    static const std::vector<std::string> kWords = {"", "a", "ab", "abc", "b", "ba", "B", "zz"};
    static const std::vector<double> kFloats = {-1.5, -0.0, 0.5, 2.0, 2.5, 1e9};
    // Integers beyond 2^53 (ids, nanosecond timestamps) next to doubles that round to them.
    static const std::vector<json> kBig = {
        json(int64_t{9007199254740992}), json(int64_t{9007199254740993}), json(9007199254740992.0),
        json(int64_t{9223372036854775807}), json(uint64_t{9223372036854775808u}), json(9223372036854775808.0),
        json(uint64_t{18446744073709551615u}), json(int64_t{-9223372036854775807} - 1)};
    switch (Int(0, 4)) {
      case 0: return Pick(kWords);
      case 1: return Int(-3, 3);
      case 2: return Pick(kFloats);
      case 3: return Chance(0.3) ? Pick(kBig) : json(Chance(0.5));
      default: return Chance(0.5);
    }
  }

  json Value(int depth = 0) {
    const int r = Int(0, 99);
    if (r < 55) return Scalar();
    if (r < 80) {
      json arr = json::array();
      const int n = Int(0, 4);
      for (int i = 0; i < n; ++i) {
        const int k = Int(0, 19);
        if (k == 0) {
          arr.push_back(nullptr);
        } else if (k == 1 && depth < 2) {
          arr.push_back(json::array({Scalar()}));
        } else if (k == 2 && depth < 2) {
          arr.push_back(json{{"x", Scalar()}});
        } else {
          arr.push_back(Scalar());
        }
      }
      return arr;
    }
    if (r < 85) return nullptr;
    if (r < 87) return std::nan("");
    if (depth < 2) return json{{"x", Value(depth + 1)}, {"y", json{{"z", Scalar()}}}};
    return Scalar();
  }

  json Metadata() {
    if (Chance(0.02)) return Chance(0.5) ? json(5) : json::array({1, 2});
    static const std::vector<std::string> kKeys = {"a", "b", "c", "tags", "o"};
    json m = json::object();
    for (const std::string& key : kKeys) {
      if (Chance(0.25)) continue;  // missing
      m[key] = (key == "o" && Chance(0.6)) ? json{{"x", Value(1)}, {"y", json{{"z", Scalar()}}}}
                                           : Value();
    }
    if (Chance(0.05)) m["a.x"] = Scalar();  // a literal dotted key, never a filter path
    if (Chance(0.05)) m["$a"] = Scalar();
    return m;
  }

  std::string FieldPath() {
    static const std::vector<std::string> kPaths = {"a", "b", "c", "tags", "o", "zz"};
    static const std::vector<std::string> kDotted = {"o.x", "o.y.z", "a.x", "o.x.x"};
    return Chance(0.06) ? Pick(kDotted) : Pick(kPaths);
  }

  json Ops(int depth) {
    static const std::vector<std::string> kOps = {"$eq", "$ne",  "$gt",     "$gte",      "$lt",
                                                  "$lte", "$in", "$nin", "$exists", "$contains",
                                                  "$not"};
    json ops = json::object();
    const int n = Int(1, 2);
    for (int i = 0; i < n; ++i) {
      const std::string& op = Pick(kOps);
      if (op == "$gt" || op == "$gte" || op == "$lt" || op == "$lte") {
        json s = Scalar();
        ops[op] = s.is_boolean() ? json(Int(-3, 3)) : s;
      } else if (op == "$in" || op == "$nin") {
        json list = json::array();
        const int k = Int(0, 3);
        for (int j = 0; j < k; ++j) list.push_back(Scalar());
        ops[op] = list;
      } else if (op == "$exists") {
        ops[op] = Chance(0.5);
      } else if (op == "$not") {
        if (depth >= 4) {
          ops["$eq"] = Scalar();
        } else {
          ops[op] = Ops(depth + 1);
        }
      } else {
        ops[op] = Scalar();
      }
    }
    return ops;
  }

  json Filter(int depth = 0) {
    json f = json::object();
    const int keys = depth == 0 ? Int(0, 3) : Int(1, 2);
    for (int i = 0; i < keys; ++i) {
      const int r = Int(0, 99);
      if (depth >= 4 || r < 55) {
        f[FieldPath()] = Chance(0.3) ? Scalar() : Ops(depth);
      } else if (r < 75) {
        json list = json::array();
        const int n = Int(1, 3);
        for (int j = 0; j < n; ++j) list.push_back(Filter(depth + 1));
        f[Chance(0.5) ? "$and" : "$or"] = list;
      } else if (r < 90) {
        f["$not"] = Filter(depth + 1);
      } else {
        // An empty filter nested somewhere.
        f["$or"] = json::array({json::object(), Filter(depth + 1)});
      }
    }
    return f;
  }

 private:
  std::mt19937_64 rng_;
};

// Evaluate must equal the brute-force set for `filters` random filters over the current
// contents; adds to *answered how many filters the index answered.
void CompareRandomFilters(RandomGen& gen, const PayloadIndex& index,
                          const std::map<uint32_t, json>& docs, uint32_t id_limit, int filters,
                          int* answered) {
  // The metadata of the smallest id in `ids`, to show in a failure.
  auto example = [&](const Bitmap& ids) {
    if (ids.isEmpty()) return std::string("-");
    auto it = docs.find(ids.minimum());
    return it == docs.end() ? std::string("(not inserted)") : it->second.dump();
  };
  for (int i = 0; i < filters; ++i) {
    const json j = gen.Filter();
    auto parsed = Filter::Parse(j);
    if (!parsed.ok()) {
      FAIL() << j.dump() << " -> " << parsed.status().ToString();
    }
    const Filter& f = *parsed;
    // Universe: everything (including ids never inserted), or a random part of it.
    Bitmap universe;
    const bool full = gen.Chance(0.5);
    for (uint32_t id = 0; id < id_limit; ++id) {
      if (full || gen.Chance(0.4)) universe.add(id);
    }
    Bitmap want;
    static const json kNoMetadata = json::object();
    for (uint32_t id : universe) {
      auto it = docs.find(id);
      if (f.Matches(it == docs.end() ? kNoMetadata : it->second)) want.add(id);
    }
    auto got = index.Evaluate(f, universe);
    bool dotted = false;
    for (const std::string& path : f.Fields()) dotted |= path.find('.') != std::string::npos;
    ASSERT_EQ(got.has_value(), !dotted) << j.dump();
    if (got) {
      ++*answered;
      if (!(*got == want)) {
        const Bitmap extra = *got - want;
        const Bitmap missing = want - *got;
        FAIL() << "filter " << j.dump() << "\n canonical " << f.ToString() << "\n extra "
               << extra.toString() << " e.g. " << example(extra) << "\n missing "
               << missing.toString() << " e.g. " << example(missing);
      }
      auto est = index.EstimateCount(f, universe.cardinality());
      ASSERT_TRUE(est.has_value());
      EXPECT_LE(*est, universe.cardinality());
    }
    // The canonical form means the same thing.
    if (i % 8 == 0) {
      auto again = Filter::Parse(json::parse(f.ToString()));
      ASSERT_TRUE(again.ok()) << f.ToString();
      EXPECT_EQ(again->ToString(), f.ToString());
      for (const auto& [id, doc] : docs) {
        if (id % 16 == 0) {
          ASSERT_EQ(again->Matches(doc), f.Matches(doc)) << f.ToString();
        }
      }
    }
  }
}

TEST(PayloadIndexRandomTest, EvaluateEqualsBruteForceAcrossEraseInsertCycles) {
  const uint64_t seed = std::getenv("SEXTANT_FILTER_SEED") != nullptr
                            ? std::strtoull(std::getenv("SEXTANT_FILTER_SEED"), nullptr, 10)
                            : 20240611;
  SCOPED_TRACE("seed " + std::to_string(seed));
  RandomGen gen(seed);
  const uint32_t kPoints = kSanitized ? 2000 : 3000;
  const int kFiltersPerRound = kSanitized ? 500 : 1500;
  const uint32_t kIdLimit = kPoints + 50;  // the last 50 ids are never inserted at first

  PayloadIndex index;
  std::map<uint32_t, json> docs;
  for (uint32_t id = 0; id < kPoints; ++id) {
    docs[id] = gen.Metadata();
    index.Insert(id, docs[id]);
  }
  const auto start = std::chrono::steady_clock::now();
  int answered = 0;
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    CompareRandomFilters(gen, index, docs, kIdLimit, kFiltersPerRound, &answered);
    if (::testing::Test::HasFatalFailure()) return;
    // Erase ~30%, re-insert half of those with new metadata, and add a few new ids.
    std::vector<uint32_t> erased;
    for (auto it = docs.begin(); it != docs.end();) {
      if (gen.Chance(0.3)) {
        index.Erase(it->first, it->second);
        erased.push_back(it->first);
        it = docs.erase(it);
      } else {
        ++it;
      }
    }
    for (uint32_t id : erased) {
      if (gen.Chance(0.5)) {
        docs[id] = gen.Metadata();
        index.Insert(id, docs[id]);
      }
    }
    for (int i = 0; i < 10; ++i) {
      const uint32_t id = static_cast<uint32_t>(gen.Int(0, static_cast<int>(kIdLimit) - 1));
      if (docs.count(id) == 0) {
        docs[id] = gen.Metadata();
        index.Insert(id, docs[id]);
      }
    }
  }
  EXPECT_GT(answered, 4 * kFiltersPerRound * 3 / 4);  // most filters avoid dotted paths

  for (const auto& [id, doc] : docs) index.Erase(id, doc);
  EXPECT_EQ(index.NumFields(), 0u);
  EXPECT_EQ(index.MemoryUsage(), 0u);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("randomized: %d filters answered by the index, %.2f s\n", answered, secs);
}

// Bytes in use in glibc's heap. Work is run on a helper thread and measured after it ends:
// a thread's tcache keeps freed chunks that mallinfo2 reports as in use, and they go back
// to the arena when the thread exits. With one arena, every thread allocates from the heap
// that mallinfo2 reports.
size_t HeapInUseAfter(const std::function<void()>& work) {
  std::thread(work).join();
  return mallinfo2().uordblks;
}

// Real heap, not just MemoryUsage(): erasing everything gives back every byte, and
// add/delete churn does not grow the heap.
TEST(PayloadIndexMemoryTest, EraseReturnsHeapToBaseline) {
  if (kSanitized) GTEST_SKIP() << "mallinfo2 does not see the sanitizer's allocator";
  mallopt(M_ARENA_MAX, 1);
  RandomGen gen(7);
  std::vector<json> docs, other;
  for (int i = 0; i < 3000; ++i) docs.push_back(gen.Metadata());
  for (int i = 0; i < 3000; ++i) other.push_back(gen.Metadata());

  PayloadIndex index;
  std::vector<size_t> full(6), empty(6), level(30);
  std::vector<const json*> current(docs.size());
  // Thread start-up leaves a little noise (glibc's thread bookkeeping), far below one point.
  constexpr size_t kSlack = 2048;
  const size_t baseline = HeapInUseAfter([] {});
  for (int cycle = 0; cycle < 6; ++cycle) {
    const std::vector<json>& d = cycle % 2 == 0 ? docs : other;
    full[cycle] = HeapInUseAfter([&] {
      for (uint32_t id = 0; id < d.size(); ++id) index.Insert(id * 7, d[id]);
    });
    empty[cycle] = HeapInUseAfter([&] {
      for (uint32_t id = 0; id < d.size(); ++id) index.Erase(id * 7, d[id]);
    });
    EXPECT_EQ(index.NumFields(), 0u);
    EXPECT_EQ(index.MemoryUsage(), 0u);
  }
  for (int cycle = 0; cycle < 6; ++cycle) {
    EXPECT_GT(full[cycle], baseline + 20000) << "cycle " << cycle;
    EXPECT_LE(empty[cycle], baseline + kSlack)
        << "cycle " << cycle << ": " << empty[cycle] - baseline << " bytes not given back";
  }

  // Churn on a full index: a third of the points swap metadata each round.
  for (size_t i = 0; i < docs.size(); ++i) current[i] = &docs[i];
  HeapInUseAfter([&] {
    for (uint32_t id = 0; id < docs.size(); ++id) index.Insert(id, docs[id]);
  });
  for (int round = 0; round < 30; ++round) {
    level[round] = HeapInUseAfter([&] {
      for (uint32_t id = round % 3; id < current.size(); id += 3) {
        index.Erase(id, *current[id]);
        current[id] = (current[id] == &docs[id]) ? &other[id] : &docs[id];
        index.Insert(id, *current[id]);
      }
    });
  }
  // The same contents recur every 6 rounds; the heap must not creep upwards.
  EXPECT_LE(level[29], level[5] + level[5] / 50) << level[5] << " -> " << level[29];
  const size_t after_churn = HeapInUseAfter([&] {
    for (uint32_t id = 0; id < current.size(); ++id) index.Erase(id, *current[id]);
  });
  EXPECT_EQ(index.NumFields(), 0u);
  EXPECT_LE(after_churn, baseline + kSlack) << after_churn - baseline << " bytes not given back";
}

}  // namespace
}  // namespace sextant::filter
