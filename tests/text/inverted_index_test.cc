// InvertedIndex: BM25 against hand-computed scores, MaxScore pruning against the exhaustive
// scorer on a random Zipf corpus, Remove, filters and errors; statistics of parts of a corpus
// injected into each part's search against an index of the whole.
#include "text/inverted_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace sextant::text {
namespace {

using Hits = InvertedIndex::Hits;

std::unique_ptr<InvertedIndex> MakeIndex(std::string_view analyzer = "standard",
                                         Bm25Params params = {}) {
  auto r = InvertedIndex::Create(analyzer, params);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

Hits Search(const InvertedIndex& index, std::string_view q, size_t k,
            const std::function<bool(uint32_t)>* filter = nullptr) {
  auto r = index.Search(q, k, filter);
  EXPECT_TRUE(r.ok()) << q << " -> " << r.status().ToString();
  return r.ok() ? std::move(r).value() : Hits{};
}

Hits Exhaustive(const InvertedIndex& index, std::string_view q, size_t k,
                const std::function<bool(uint32_t)>* filter = nullptr) {
  auto r = index.SearchExhaustive(q, k, filter);
  EXPECT_TRUE(r.ok()) << q << " -> " << r.status().ToString();
  return r.ok() ? std::move(r).value() : Hits{};
}

// The tiny corpus of the hand-computed example ("standard" analyzer: no stemming):
//   doc 1 "apple banana"               length 2
//   doc 2 "apple apple cherry"         length 3
//   doc 3 "banana cherry cherry date"  length 4
//   doc 4 "elder"                      length 1
// N = 4, total length 10, avgdl = 2.5; k1 = 0.9, b = 0.4, so k1 + 1 = 1.9.
// BM25(t, d) = idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)).
void AddTinyCorpus(InvertedIndex& index) {
  ASSERT_TRUE(index.Add(3, "banana cherry cherry date").ok());  // out of order on purpose
  ASSERT_TRUE(index.Add(1, "apple banana").ok());
  ASSERT_TRUE(index.Add(4, "elder").ok());
  ASSERT_TRUE(index.Add(2, "Apple APPLE cherry.").ok());
}

TEST(InvertedIndexTest, Bm25MatchesHandComputedScores) {
  auto index = MakeIndex();
  AddTinyCorpus(*index);
  // idf(apple): df = 2 -> ln(1 + (4 - 2 + 0.5) / (2 + 0.5)) = ln(2)        = 0.6931471806
  // idf(date):  df = 1 -> ln(1 + (4 - 1 + 0.5) / (1 + 0.5)) = ln(10 / 3)   = 1.2039728043
  // doc 1, apple: tf 1, dl 2: norm = 0.9 * (0.6 + 0.4 * 2 / 2.5) = 0.9 * 0.92 = 0.828
  //   score = 0.6931471806 * 1 * 1.9 / (1 + 0.828) = 0.6931471806 * 1.0393873085 = 0.7204483824
  // doc 2, apple: tf 2, dl 3: norm = 0.9 * (0.6 + 0.4 * 3 / 2.5) = 0.9 * 1.08 = 0.972
  //   score = 0.6931471806 * 2 * 1.9 / (2 + 0.972) = 0.6931471806 * 1.2786002692 = 0.8862581716
  // doc 3, date:  tf 1, dl 4: norm = 0.9 * (0.6 + 0.4 * 4 / 2.5) = 0.9 * 1.24 = 1.116
  //   score = 1.2039728043 * 1.9 / (1 + 1.116) = 1.2039728043 * 0.8979206049 = 1.0810719888
  // Query "apple date" ranks doc 3 (1.0810719888), doc 2 (0.8862581716), doc 1 (0.7204483824).
  for (bool pruned : {true, false}) {
    Hits hits = pruned ? Search(*index, "apple date", 10) : Exhaustive(*index, "apple date", 10);
    ASSERT_EQ(hits.size(), 3u);
    EXPECT_EQ(hits[0].first, 3u);
    EXPECT_NEAR(hits[0].second, 1.0810719888, 1e-5);
    EXPECT_EQ(hits[1].first, 2u);
    EXPECT_NEAR(hits[1].second, 0.8862581716, 1e-5);
    EXPECT_EQ(hits[2].first, 1u);
    EXPECT_NEAR(hits[2].second, 0.7204483824, 1e-5);
  }
  // A repeated query term counts once per occurrence: "apple apple" doubles apple's scores.
  Hits twice = Search(*index, "apple apple", 10);
  ASSERT_EQ(twice.size(), 2u);
  EXPECT_EQ(twice[0].first, 2u);
  EXPECT_NEAR(twice[0].second, 2 * 0.8862581716, 1e-5);
  EXPECT_NEAR(twice[1].second, 2 * 0.7204483824, 1e-5);
  // k truncates; unknown terms match nothing but are no error.
  Hits top1 = Search(*index, "apple date", 1);
  ASSERT_EQ(top1.size(), 1u);
  EXPECT_EQ(top1[0].first, 3u);
  EXPECT_TRUE(Search(*index, "zebra", 10).empty());
}

TEST(InvertedIndexTest, ParamsAreUsed) {
  // k1 = 1.2, b = 0.75 for doc 1 / apple: norm = 1.2 * (0.25 + 0.75 * 2 / 2.5) = 1.02;
  // score = ln 2 * 2.2 / 2.02 = 0.6931471806 * 1.0891089109 = 0.7549127  (doc 2: tf 2, dl 3:
  // norm = 1.2 * (0.25 + 0.9) = 1.38, score = ln 2 * 4.4 / 3.38 = 0.9023307)
  auto index = MakeIndex("standard", {1.2f, 0.75f});
  AddTinyCorpus(*index);
  Hits hits = Search(*index, "apple", 10);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].first, 2u);
  EXPECT_NEAR(hits[0].second, 0.6931471806 * 4.4 / 3.38, 1e-5);
  EXPECT_NEAR(hits[1].second, 0.6931471806 * 2.2 / 2.02, 1e-5);
  EXPECT_FALSE(InvertedIndex::Create("standard", {-1.0f, 0.4f}).ok());
  EXPECT_FALSE(InvertedIndex::Create("standard", {0.9f, 1.5f}).ok());
  EXPECT_FALSE(InvertedIndex::Create("nope").ok());
}

TEST(InvertedIndexTest, Errors) {
  auto index = MakeIndex("english");
  ASSERT_TRUE(index->Add(1, "running dogs").ok());
  for (const char* q : {"", "   \t\n", "?!", "the of and"}) {
    auto r = index->Search(q, 10);
    ASSERT_FALSE(r.ok()) << q;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << q;
    EXPECT_EQ(r.status().message(), "query has no searchable terms");
    EXPECT_EQ(index->SearchExhaustive(q, 10).status().code(), StatusCode::kInvalidArgument);
  }
  auto bad = index->Search("dog \xC3\x28", 10);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index->SearchExhaustive("\xff", 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Search("dog", 0).status().code(), StatusCode::kOutOfRange);

  EXPECT_EQ(index->Add(2, "bad \xC0\x80").code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(index->Contains(2));
  EXPECT_EQ(index->Add(1, "again").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(index->Remove(7).code(), StatusCode::kNotFound);
  // Stemming applies to queries too.
  Hits hits = Search(*index, "run dog", 10);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].first, 1u);
}

TEST(InvertedIndexTest, RemoveEqualsIndexWithoutTheDoc) {
  auto with = MakeIndex();
  AddTinyCorpus(*with);
  ASSERT_TRUE(with->Add(9, "apple apple apple date fig").ok());
  auto without = MakeIndex();
  AddTinyCorpus(*without);
  EXPECT_NE(Search(*with, "apple date", 10), Search(*without, "apple date", 10));
  ASSERT_TRUE(with->Remove(9).ok());
  EXPECT_FALSE(with->Contains(9));
  EXPECT_EQ(with->size(), 4u);
  for (const char* q : {"apple date", "apple", "fig", "banana cherry elder", "fig apple"}) {
    EXPECT_EQ(Search(*with, q, 10), Search(*without, q, 10)) << q;
    EXPECT_EQ(Exhaustive(*with, q, 10), Exhaustive(*without, q, 10)) << q;
  }
  // Removing everything leaves an empty, usable index; ids can be reused.
  for (uint32_t d : {1, 2, 3, 4}) ASSERT_TRUE(with->Remove(d).ok());
  EXPECT_TRUE(Search(*with, "apple", 10).empty());
  ASSERT_TRUE(with->Add(2, "fig").ok());
  Hits hits = Search(*with, "fig", 10);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].first, 2u);
}

TEST(InvertedIndexTest, FilterIsRespected) {
  auto index = MakeIndex();
  AddTinyCorpus(*index);
  std::function<bool(uint32_t)> odd = [](uint32_t d) { return d % 2 == 1; };
  for (bool pruned : {true, false}) {
    Hits hits = pruned ? Search(*index, "apple date", 10, &odd)
                       : Exhaustive(*index, "apple date", 10, &odd);
    ASSERT_EQ(hits.size(), 2u);
    EXPECT_EQ(hits[0].first, 3u);
    EXPECT_EQ(hits[1].first, 1u);
    // The filter selects; it does not change statistics (doc 2 still counts in df and N).
    EXPECT_NEAR(hits[1].second, 0.7204483824, 1e-5);
  }
}

// A random corpus over a small vocabulary with Zipf-like word frequencies.
class RandomCorpus {
 public:
  explicit RandomCorpus(uint32_t seed) : rng_(seed) {
    std::vector<double> weights(kVocab);
    for (int i = 0; i < kVocab; ++i) weights[i] = 1.0 / std::pow(i + 1, 1.1);
    zipf_ = std::discrete_distribution<int>(weights.begin(), weights.end());
  }
  std::string Text(int min_words, int max_words) {
    std::string s;
    const int n = std::uniform_int_distribution<int>(min_words, max_words)(rng_);
    for (int i = 0; i < n; ++i) s += Word(zipf_(rng_)) + " ";
    return s;
  }
  std::mt19937& rng() { return rng_; }

 private:
  static constexpr int kVocab = 300;
  static std::string Word(int i) {  // letters only: "standard" keeps them as they are
    std::string w = "w";
    do {
      w += static_cast<char>('a' + i % 26);
      i /= 26;
    } while (i > 0);
    return w;
  }
  std::mt19937 rng_;
  std::discrete_distribution<int> zipf_;
};

// Checks Search == SearchExhaustive (ids and bit-identical scores) on random queries.
void ExpectPrunedEqualsExhaustive(const InvertedIndex& index, RandomCorpus& corpus, int queries) {
  const size_t ks[] = {1, 3, 10, 100, 1000};
  std::function<bool(uint32_t)> filter = [](uint32_t d) { return d % 3 != 0; };
  int nonempty = 0;
  for (int q = 0; q < queries; ++q) {
    const std::string query = corpus.Text(1, 8);
    const size_t k = ks[corpus.rng()() % 5];
    const auto* f = q % 4 == 0 ? &filter : nullptr;
    Hits pruned = Search(index, query, k, f);
    Hits exhaustive = Exhaustive(index, query, k, f);
    ASSERT_EQ(pruned, exhaustive) << "query '" << query << "' k " << k;
    if (f != nullptr) {
      for (const auto& [doc, score] : pruned) ASSERT_NE(doc % 3, 0u);
    }
    nonempty += !pruned.empty();
  }
  EXPECT_GT(nonempty, queries * 9 / 10);
}

TEST(InvertedIndexTest, PrunedSearchEqualsExhaustiveOnRandomCorpus) {
  RandomCorpus corpus(42);
  auto index = MakeIndex();
  // 3000 documents with sparse ids added in random order.
  std::vector<uint32_t> ids(3000);
  for (uint32_t i = 0; i < ids.size(); ++i) ids[i] = i * 7 + 3;
  std::shuffle(ids.begin(), ids.end(), corpus.rng());
  std::vector<std::string> texts;
  for (uint32_t id : ids) {
    texts.push_back(corpus.Text(3, 80));
    ASSERT_TRUE(index->Add(id, texts.back()).ok());
  }
  ExpectPrunedEqualsExhaustive(*index, corpus, 3000);

  // Remove a third; the result must equal a fresh index of the remaining documents.
  auto fresh = MakeIndex();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i % 3 == 0) {
      ASSERT_TRUE(index->Remove(ids[i]).ok());
    } else {
      ASSERT_TRUE(fresh->Add(ids[i], texts[i]).ok());
    }
  }
  EXPECT_EQ(index->size(), fresh->size());
  ExpectPrunedEqualsExhaustive(*index, corpus, 1000);
  for (int q = 0; q < 300; ++q) {
    const std::string query = corpus.Text(1, 6);
    ASSERT_EQ(Search(*index, query, 20), Search(*fresh, query, 20)) << query;
  }
}

TEST(InvertedIndexTest, InjectedStatisticsFollowTheFormula) {
  auto index = MakeIndex();
  AddTinyCorpus(*index);
  auto own = index->Statistics("apple apple zebra");
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(own->documents, 4u);
  EXPECT_EQ(own->total_length, 10u);
  EXPECT_EQ(own->doc_freq, (std::map<std::string, uint64_t, std::less<>>{{"apple", 2}, {"zebra", 0}}));
  EXPECT_EQ(index->Statistics("?!").status().code(), StatusCode::kInvalidArgument);

  // Its own statistics injected: bit-identical results, pruned and exhaustive.
  for (const char* q : {"apple date", "banana cherry elder", "apple apple"}) {
    auto stats = index->Statistics(q);
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(index->Search(q, 10, nullptr, &*stats).value(), Search(*index, q, 10)) << q;
    EXPECT_EQ(index->SearchExhaustive(q, 10, nullptr, &*stats).value(), Exhaustive(*index, q, 10)) << q;
  }

  // Other statistics: N = 100, total length 400 (avgdl 4), df(apple) = 10.
  //   idf = ln(1 + (100 - 10 + 0.5) / 10.5) = ln(10.0952380952) = 2.3120376
  //   doc 2 (tf 2, dl 3): norm = 0.9 * (0.6 + 0.4 * 3 / 4) = 0.81; 2.3120376 * 3.8 / 2.81
  //   doc 1 (tf 1, dl 2): norm = 0.9 * (0.6 + 0.4 * 2 / 4) = 0.72; 2.3120376 * 1.9 / 1.72
  CorpusStats other;
  other.documents = 100;
  other.total_length = 400;
  other.doc_freq["apple"] = 10;
  const double idf = std::log(1.0 + 90.5 / 10.5);
  for (bool pruned : {true, false}) {
    auto hits = pruned ? index->Search("apple", 10, nullptr, &other) : index->SearchExhaustive("apple", 10, nullptr, &other);
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), 2u);
    EXPECT_EQ((*hits)[0].first, 2u);
    EXPECT_NEAR((*hits)[0].second, idf * 3.8 / 2.81, 1e-5);
    EXPECT_EQ((*hits)[1].first, 1u);
    EXPECT_NEAR((*hits)[1].second, idf * 1.9 / 1.72, 1e-5);
  }
  // Statistics that cannot be a whole's are mended, never a negative or NaN idf: df below the
  // index's own counts as its own (2), N below a df as that df.
  other.documents = 1;
  other.total_length = 10;
  other.doc_freq["apple"] = 1;
  auto mended = index->Search("apple", 10, nullptr, &other);
  ASSERT_TRUE(mended.ok());
  ASSERT_EQ(mended->size(), 2u);
  // N = 2, df = 2: idf = ln(1 + 0.5 / 2.5); avgdl = 10; doc 2: norm = 0.9 * (0.6 + 0.12)
  EXPECT_NEAR((*mended)[0].second, std::log(1.2) * 3.8 / (2 + 0.9 * 0.72), 1e-6);
}

TEST(InvertedIndexTest, PartsWithTheWholesStatisticsScoreAsTheWhole) {
  // One corpus split into three parts by doc id (like a cluster's shards). The parts' statistics
  // add up to the whole's; each part searched with them gives every document the whole's score
  // bit for bit, and the parts' hits merged are the whole's hits.
  RandomCorpus corpus(7);
  auto whole = MakeIndex();
  std::vector<std::unique_ptr<InvertedIndex>> parts;
  for (int p = 0; p < 3; ++p) parts.push_back(MakeIndex());
  for (uint32_t doc = 0; doc < 1500; ++doc) {
    const std::string text = corpus.Text(2, 60);
    ASSERT_TRUE(whole->Add(doc, text).ok());
    ASSERT_TRUE(parts[doc % 3]->Add(doc, text).ok());
  }
  std::function<bool(uint32_t)> filter = [](uint32_t d) { return d % 5 != 0; };
  for (int q = 0; q < 200; ++q) {
    const std::string query = corpus.Text(1, 6);
    const size_t k = q % 2 ? 10 : 100;
    const auto* f = q % 3 == 0 ? &filter : nullptr;
    CorpusStats sum;
    for (const auto& part : parts) {
      auto s = part->Statistics(query);
      ASSERT_TRUE(s.ok());
      sum.documents += s->documents;
      sum.total_length += s->total_length;
      for (const auto& [term, df] : s->doc_freq) sum.doc_freq[term] += df;
    }
    auto want = whole->Statistics(query);
    ASSERT_TRUE(want.ok());
    EXPECT_EQ(sum.documents, want->documents);
    EXPECT_EQ(sum.total_length, want->total_length);
    EXPECT_EQ(sum.doc_freq, want->doc_freq) << query;
    Hits merged;
    for (const auto& part : parts) {
      auto hits = part->Search(query, k, f, &sum);
      ASSERT_TRUE(hits.ok());
      EXPECT_EQ(*hits, part->SearchExhaustive(query, k, f, &sum).value()) << query;
      merged.insert(merged.end(), hits->begin(), hits->end());
    }
    std::sort(merged.begin(), merged.end(), [](const auto& a, const auto& b) {
      return a.second > b.second || (a.second == b.second && a.first < b.first);
    });
    if (merged.size() > k) merged.resize(k);
    ASSERT_EQ(merged, Search(*whole, query, k, f)) << "query '" << query << "' k " << k;
  }
}

}  // namespace
}  // namespace sextant::text
