// InvertedIndex: an in-memory full-text index with BM25 ranking.
//
// Text goes through an Analyzer (analyzer.h); each term keeps a posting list of
// (doc id ascending, term frequency, doc length). Search ranks by Okapi BM25 with Lucene's
// idf, ln(1 + (N - df + 0.5) / (df + 0.5)), and skips documents that cannot enter the top k
// (MaxScore over per-term upper bounds); SearchExhaustive scores every matching document and
// is the reference twin that Search must equal.
//
// Scoring details (both searches):
//   * doc length = number of token positions (a compound and its first part share one, like
//     Lucene's discountOverlaps); exact, not Lucene's 1-byte quantised norm, so scores can
//     differ from Lucene/Anserini in the last digits;
//   * N and avgdl count every added document, including ones with no terms;
//   * a query term that occurs q times counts q times (as a Lucene BooleanQuery of SHOULD
//     clauses would);
//   * results are ordered by score descending, then doc id ascending.
// Corpus statistics (N, total length, document frequencies) may come from outside
// (CorpusStats): an index holding one part of a larger corpus (a shard) then scores each of its
// documents exactly as an index of the whole corpus would.
// Thread-safety: const methods may run concurrently; Add/Remove need exclusive access.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sextant/status.h"
#include "text/analyzer.h"

namespace sextant::text {

// BM25 free parameters; the defaults are Anserini's for BEIR.
struct Bm25Params {
  float k1 = 0.9f;  // term-frequency saturation, >= 0
  float b = 0.4f;   // length normalisation, in [0, 1]
};

// The statistics BM25 scores with: the corpus's document count N, the sum of its documents'
// lengths (avgdl = total_length / N) and, per analysed term, how many documents contain it.
// Statistics of disjoint parts of one corpus add up to the whole's.
struct CorpusStats {
  uint64_t documents = 0;
  uint64_t total_length = 0;
  std::map<std::string, uint64_t, std::less<>> doc_freq;
};

class InvertedIndex {
 public:
  using Hits = std::vector<std::pair<uint32_t, float>>;  // (doc, score), best first

  // Creates an empty index analysing with `analyzer` (must be non-null).
  // Errors: InvalidArgument if params are out of range (k1 < 0, b outside [0, 1], NaN).
  static Result<std::unique_ptr<InvertedIndex>> Create(std::unique_ptr<Analyzer> analyzer,
                                                       Bm25Params params = {});
  // Same, building the analyzer by name (MakeAnalyzer's errors pass through).
  static Result<std::unique_ptr<InvertedIndex>> Create(std::string_view analyzer_name,
                                                       Bm25Params params = {});

  // Indexes `text` as document `doc`. Documents may come in any order.
  // Errors: AlreadyExists if `doc` is indexed; the analyzer's errors (InvalidArgument for
  // invalid UTF-8, OutOfRange for oversize text). On error the index is unchanged.
  Status Add(uint32_t doc, std::string_view text);

  // Drops `doc`: its postings go and N, avgdl and df are updated, so scores equal those of an
  // index that never saw it. Errors: NotFound if `doc` is not indexed.
  Status Remove(uint32_t doc);

  // The top `k` documents for `query` by BM25, skipping documents for which `filter` (when
  // given) returns false. Fewer than k hits when fewer documents match a query term.
  // With `stats`, scores use them instead of this index's own statistics: N and avgdl from
  // them (this index's own when stats->documents or stats->total_length is 0), each term's df
  // from stats->doc_freq. Statistics that cannot be the whole's are mended rather than
  // refused, so that an idf is never negative or NaN: a df below this index's own (or a term
  // not listed) counts as this index's own, and N below a term's df as that df.
  // Errors: InvalidArgument for invalid UTF-8 or a query without searchable terms (empty,
  // whitespace, punctuation or only stop words); OutOfRange if k == 0.
  Result<Hits> Search(std::string_view query, size_t k,
                      const std::function<bool(uint32_t)>* filter = nullptr,
                      const CorpusStats* stats = nullptr) const;

  // Same contract and results as Search, by scoring every matching document.
  Result<Hits> SearchExhaustive(std::string_view query, size_t k,
                                const std::function<bool(uint32_t)>* filter = nullptr,
                                const CorpusStats* stats = nullptr) const;

  // This index's statistics for `query`: N, the total length, and the df of each distinct
  // query term (0 for a term no document holds). Errors as Search's for the query text.
  Result<CorpusStats> Statistics(std::string_view query) const;

  size_t size() const { return doc_terms_.size(); }  // number of indexed documents
  bool Contains(uint32_t doc) const { return doc_terms_.count(doc) != 0; }
  const Bm25Params& params() const { return params_; }

 private:
  struct Posting {
    uint32_t doc;
    uint32_t tf;
    uint32_t doc_len;  // copied here so scoring needs no per-doc lookup
  };
  struct PostingList {
    std::vector<Posting> postings;  // doc ascending
    // Bounds for the max-impact estimate: BM25's term part grows with tf and shrinks with
    // doc length, so (max_tf, min_len) bounds every posting whatever N and avgdl become.
    uint32_t max_tf = 0;
    uint32_t min_len = 0;
  };
  // A query term found in the index, with how often it occurs in the query.
  struct QueryTerm {
    const PostingList* list;
    double weight;  // query count * idf
  };

  InvertedIndex(std::unique_ptr<Analyzer> analyzer, Bm25Params params)
      : analyzer_(std::move(analyzer)), params_(params) {}

  // Analyses `query` into the distinct indexed terms (in first-occurrence order), weighted
  // with the idf from `stats` (or this index's own), and sets *avg_len.
  // Errors as for Search. An OK empty list means no query term is indexed.
  Result<std::vector<QueryTerm>> PrepareQuery(std::string_view query, size_t k,
                                              const CorpusStats* stats, double* avg_len) const;
  // The distinct terms of `query` with their counts, in first-occurrence order.
  Result<std::vector<std::pair<std::string, uint32_t>>> QueryTerms(std::string_view query) const;
  // The BM25 contribution of one posting, rounded to float. Both searches sum these floats
  // in double: a handful of floats of similar magnitude add exactly in double, so the sum
  // does not depend on term order and the two searches give bit-identical scores.
  float Contribution(const QueryTerm& term, const Posting& p, double avg_len) const;
  // An upper bound of Contribution over `term`'s list (slightly inflated for rounding).
  double MaxImpact(const QueryTerm& term, double avg_len) const;
  static void RecomputeBounds(PostingList& list);

  std::unique_ptr<Analyzer> analyzer_;
  Bm25Params params_;
  std::unordered_map<std::string, uint32_t> term_ids_;
  std::vector<PostingList> lists_;  // by term id; a list may become empty after Remove
  std::unordered_map<uint32_t, std::vector<uint32_t>> doc_terms_;  // doc -> its term ids
  std::unordered_map<uint32_t, uint32_t> doc_len_;
  uint64_t total_len_ = 0;
};

}  // namespace sextant::text
